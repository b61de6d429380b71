"""Failed edits end to end: the real server refuses an edit (a permission it does not
grant), the user discards it (or retries it once the permission is there), and after the
next sync the replica equals the server and later edits of the record went through — on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid

from server import accounts
from server.accounts import Role
from server.db import write_transaction
from sync.conflicts import discard_failed, list_failed, retry_failed
from tests.helpers.sync_devices import assert_agree, server_record
from tests.server.conftest import LiveServer, MakeDevice


def test_discard_a_refused_edit_then_later_edits_go_through(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """A salesperson hands a customer to a colleague and changes its city in the same
    edit: refused (forbidden). Two later edits wait behind it (the city again, the phone)
    while a manager changes the notes on the server. Discarding the refused edit: the
    owner is the server's again, the later edits stay queued; the next sync sends them
    (applied, no conflict) and every replica and the server agree."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    cid = a.replica.customers.create({"name": "丢弃客户", "city": "杭州", "phone": "0571-1"})
    a.sync()
    b.sync()

    refused = a.replica.customers.update(cid.record_id, {"owner_id": "s2", "city": "苏州"})
    a.replica.customers.update(cid.record_id, {"city": "无锡"})
    a.replica.customers.update(cid.record_id, {"phone": "0571-2"})
    a.sync()  # one batch: the server refuses the first and holds the others back
    (failed,) = list_failed(a.replica)
    assert failed.mutation_id == refused.mutation_id
    assert failed.last_error is not None and failed.last_error.startswith("forbidden:")
    b.replica.customers.update(cid.record_id, {"notes": "经理的备注"})
    b.sync()
    a.sync()  # the notes arrive; the queue stays as it is
    assert [m.status for m in a.outbox()] == ["failed", "pending", "pending"]

    result = discard_failed(a.replica, failed.seq)
    assert len(result.kept) == 2 and result.discarded == (refused.mutation_id,)
    report = a.sync()
    assert (report.pushed, report.applied, report.conflicts, report.rejected) == (2, 2, 0, 0)
    b.sync()

    assert_agree(server.engine, [a, b], [("customer", cid.record_id)])
    final = server_record(server.engine, "customer", cid.record_id)
    assert final is not None
    assert (final["owner_id"], final["city"], final["phone"], final["notes"]) == (
        "s1", "无锡", "0571-2", "经理的备注",
    )  # fmt: skip
    assert a.engine.status.failed == 0


def test_discard_a_refused_create_with_its_children(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """A new customer given to someone of another team (refused) with a contact and a deal
    made under it (refused too: their customer is not on the server). Discarding the
    customer's create removes all three from the replica with their queued edits; the
    next sync has nothing to send and nobody has them."""
    a = make_device("a", "s1")
    cid = a.replica.customers.create({"name": "越权客户", "owner_id": "s3"}).record_id
    contact = a.replica.contacts.create({"customer_id": cid, "name": "钱七"}).record_id
    deal = a.replica.deals.create({"customer_id": cid, "title": "大单"}).record_id
    report = a.sync()
    assert report.rejected == 3
    assert [m.last_error.split(":")[0] for m in a.outbox()] == [  # type: ignore[union-attr]
        "forbidden", "parent_missing", "parent_missing",
    ]  # fmt: skip

    result = discard_failed(a.replica, a.outbox()[0].mutation_id)
    assert len(result.discarded) == 3
    assert result.removed == {
        "customer": frozenset({cid}),
        "contact": frozenset({contact}),
        "deal": frozenset({deal}),
    }
    report = a.sync()
    assert (report.pushed, report.requests) == (0, 1)
    records = [("customer", cid), ("contact", contact), ("deal", deal)]
    assert_agree(server.engine, [a], records)
    for entity, record_id in records:
        assert server_record(server.engine, entity, record_id) is None
    assert a.replica.check_integrity() == []


def test_retry_once_the_permission_is_granted(server: LiveServer, make_device: MakeDevice) -> None:
    """A salesperson may not hand a customer to a teammate: refused. Promoted to the
    team's manager (who may), they retry the edit: it goes again under a new mutation id
    (the server remembers its answer to the old one), is applied, and the replica and the
    server agree."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="rt")
    colleague = server.add_user(Role.SALES, team, prefix="rc")
    a = make_device("a", seller)
    cid = a.replica.customers.create({"name": "重试客户"}).record_id
    a.sync()
    a.replica.customers.update(cid, {"owner_id": colleague})
    assert a.sync().rejected == 1
    (failed,) = list_failed(a.replica)

    write_transaction(
        server.engine, lambda conn: accounts.set_role(conn, seller, Role.MANAGER, team)
    )
    result = retry_failed(a.replica, failed.seq)
    assert result.old_mutation_id == failed.mutation_id != result.mutation_id
    report = a.sync()
    assert (report.applied, report.rejected) == (1, 0)

    assert_agree(server.engine, [a], [("customer", cid)])
    final = server_record(server.engine, "customer", cid)
    assert final is not None and final["owner_id"] == colleague
