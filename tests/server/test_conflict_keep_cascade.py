"""A customer deleted with its children (``cascade=True``) on one device while another
device changes it: the delete meets the change as a ``delete_vs_change`` conflict, and the
children must follow the customer's fate — against the real server process, on SQLite
and on PostgreSQL.

The repository queues one delete per child right before the customer's. The engine holds
the children's deletes back until the customer's delete is decided by the server: applied,
the server takes the children along; in conflict, the children's deletes never reach the
server, so "keep" brings back the customer *and* its children as the server has them, and
"delete" deletes them all. A child deleted on its own before (a decision of its own) is
not part of the cascade: its delete goes to the server whatever the user decides.
"""

from __future__ import annotations

import pytest

from sync.conflicts import list_conflicts, resolve_delete, resolve_keep
from tests.helpers.sync_devices import Device, assert_agree, server_record
from tests.server.conftest import LiveServer, MakeDevice


def _family(device: Device) -> list[tuple[str, str]]:
    """A customer with a contact, a follow-up and a deal, made on ``device``."""
    replica = device.replica
    cid = replica.customers.create({"name": "级联客户", "status": "active", "city": "杭州"})
    customer = cid.record_id
    contact = replica.contacts.create({"customer_id": customer, "name": "王五", "title": "经理"})
    follow_up = replica.follow_ups.create(
        {
            "customer_id": customer,
            "contact_id": contact.record_id,
            "kind": "call",
            "content": "电话沟通",
            "happened_at": "2026-03-05T10:00:00+08:00",
        }
    )
    deal = replica.deals.create({"customer_id": customer, "title": "续约", "amount": "800.00"})
    return [
        ("customer", customer),
        ("contact", contact.record_id),
        ("follow_up", follow_up.record_id),
        ("deal", deal.record_id),
    ]


@pytest.mark.parametrize("decision", ["keep", "delete"])
def test_cascade_delete_against_a_change(
    server: LiveServer, make_device: MakeDevice, decision: str
) -> None:
    """A deletes the customer with its children; meanwhile B changes the customer and one
    of its contacts. A's sync: the customer's delete is a conflict, and none of the
    children's deletes reached the server (they waited behind it). Then B changes the
    customer once more, and A pulls that too. "keep": A holds the customer with B's latest
    values and all its children again (the contact with B's change), nothing queued.
    "delete": the customer and all its children are deleted everywhere."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    records = _family(a)
    (_, customer), (_, contact), *_ = records
    a.sync()
    b.sync()
    assert_agree(server.engine, [a, b], records)

    change = a.replica.customers.delete(customer, cascade=True)
    assert len(change.children) == 3
    b.replica.customers.update(customer, {"city": "温州"})
    b.replica.contacts.update(contact, {"title": "总监"})
    assert b.sync().applied == 2

    report = a.sync()
    assert (report.pushed, report.applied, report.conflicts, report.rejected) == (1, 0, 1, 0)
    for entity, record_id in records:  # the server still has every one of them
        assert server_record(server.engine, entity, record_id) is not None, entity
    (conflict,) = list_conflicts(a.replica)
    assert (conflict.kind, conflict.record_id) == ("delete_vs_change", customer)
    assert a.outbox() == []  # the children's deletes went into the customer's conflict
    assert a.replica.customers.get(customer) is None  # still deleted here until decided

    b.replica.customers.update(customer, {"notes": "还在谈"})
    b.sync()
    a.sync()  # pulls B's second change: "keep" takes back the latest
    (conflict,) = list_conflicts(a.replica)

    if decision == "keep":
        assert resolve_keep(a.replica, conflict.id) is None  # nothing to tell the server
        for entity, record_id in records:
            assert a.record(entity, record_id) == server_record(server.engine, entity, record_id)
        kept = a.record("customer", customer)
        assert kept is not None and (kept["city"], kept["notes"]) == ("温州", "还在谈")
        assert a.record("contact", contact)["title"] == "总监"  # type: ignore[index]
    else:
        assert resolve_delete(a.replica, conflict.id) is not None
    a.sync()
    b.sync()

    assert_agree(server.engine, [a, b], records)
    for entity, record_id in records:
        gone = server_record(server.engine, entity, record_id) is None
        assert gone == (decision == "delete"), (entity, decision)
    assert a.replica.check_integrity() == []
    assert a.sync().requests == 1  # settled: nothing left to send


def test_cascade_delete_without_a_conflict_takes_every_child(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """No one else changed the customer: its delete is applied first, the server takes the
    children along, the children's own deletes follow (already done there) and everything
    leaves both replicas."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    records = _family(a)
    a.sync()
    b.sync()

    a.replica.customers.delete(records[0][1], cascade=True)
    report = a.sync()
    assert (report.pushed, report.applied, report.conflicts, report.rejected) == (4, 4, 0, 0)
    b.sync()
    assert_agree(server.engine, [a, b], records)
    for entity, record_id in records:
        assert server_record(server.engine, entity, record_id) is None, entity
    assert a.replica.check_integrity() == []


def test_a_child_deleted_on_its_own_stays_deleted_when_the_customer_is_kept(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """A deletes one contact on its own, edits another customer, and then deletes the
    customer with its remaining children; B changes the customer. The contact's delete
    waits until the customer's is decided by the server (a conflict), then goes. "keep"
    brings back the customer and the children of the cascade — but not the contact A
    deleted by itself: that was a decision of its own."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    records = _family(a)
    customer = records[0][1]
    alone = a.replica.contacts.create({"customer_id": customer, "name": "单删联系人"}).record_id
    other = a.replica.customers.create({"name": "旁边的客户", "status": "lead"}).record_id
    a.sync()
    b.sync()

    a.replica.contacts.delete(alone)
    a.replica.customers.update(other, {"city": "嘉兴"})
    a.replica.customers.delete(customer, cascade=True)
    b.replica.customers.update(customer, {"level": "A"})
    b.sync()
    report = a.sync()
    # The contact's own delete waited behind the customer's, and went once that was
    # decided (a conflict): it is not part of the customer's delete.
    assert (report.pushed, report.applied, report.conflicts) == (3, 2, 1)
    assert a.outbox() == []
    assert server_record(server.engine, "contact", alone) is None

    (conflict,) = list_conflicts(a.replica)
    resolve_keep(a.replica, conflict.id)
    a.sync()
    b.sync()

    everything = [*records, ("contact", alone), ("customer", other)]
    assert_agree(server.engine, [a, b], everything)
    assert server_record(server.engine, "contact", alone) is None
    for entity, record_id in records:
        assert server_record(server.engine, entity, record_id) is not None, entity
    assert a.record("customer", customer)["level"] == "A"  # type: ignore[index]
