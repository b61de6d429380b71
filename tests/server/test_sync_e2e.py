"""The sync engine end to end: real client profiles (replica + signed-in ServerClient +
SyncEngine) against the real server process over HTTP, on SQLite and on PostgreSQL.

Each device signs in on its own (its own device token). "Offline" edits are simply edits
made between syncs. After every scenario the replicas are compared field by field (and by
version) with the server's database.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from server import accounts
from server.accounts import Role
from server.db import write_transaction
from sync.conflicts import (
    ConflictError,
    list_conflicts,
    resolve_delete,
    resolve_fields,
    resolve_keep,
)
from sync.engine import RESYNC_KEY, SyncState, SyncStatus
from tests.helpers.sync_devices import (
    Device,
    assert_agree,
    audit_counts,
    server_record,
)
from tests.server.conftest import LiveServer, MakeDevice


def _customer(device: Device, name: str, **values: Any) -> str:
    """A new customer made on ``device`` (queued, not yet synced)."""
    return device.replica.customers.create({"name": name, "status": "lead", **values}).record_id


def _both_synced(a: Device, b: Device, customer_id: str) -> None:
    a.sync()
    b.sync()
    assert a.record("customer", customer_id) == b.record("customer", customer_id) is not None


# --- merging ---------------------------------------------------------------------------


def test_offline_edits_of_different_fields_merge_without_conflict(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """Two devices edit different fields of one customer while offline; after both sync
    twice, both replicas and the server hold both edits, and nobody has a conflict."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    cid = _customer(a, "合并客户", city="杭州", phone="0571-1000001")
    _both_synced(a, b, cid)

    a.replica.customers.update(cid, {"city": "苏州", "tags": ["重点"]})
    b.replica.customers.update(cid, {"level": "A", "phone": "0571-1000002"})
    for _ in range(2):
        a.sync()
        b.sync()

    assert_agree(server.engine, [a, b], [("customer", cid)])
    merged = server_record(server.engine, "customer", cid)
    assert merged is not None
    assert (merged["city"], merged["tags"], merged["level"], merged["phone"]) == (
        "苏州", ["重点"], "A", "0571-1000002",
    )  # fmt: skip
    assert merged["version"] == 3  # the create and one update from each device
    assert a.engine.status.conflicts == b.engine.status.conflicts == 0


@pytest.mark.parametrize("choice", ["mine", "theirs", "value"])
def test_same_field_conflicts_once_on_the_later_pusher_and_resolves(
    server: LiveServer, make_device: MakeDevice, choice: str
) -> None:
    """Both devices change the phone while offline. The first to push wins; the later
    pusher gets exactly one conflict (mine / base / theirs, who changed theirs) while its
    other edited field merges. Resolved with mine, theirs or a typed value, every replica
    and the server end with the chosen value."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    cid = _customer(a, "冲突客户", phone="0571-2000000", city="杭州")
    _both_synced(a, b, cid)

    a.replica.customers.update(cid, {"phone": "0571-2000001"})
    b.replica.customers.update(cid, {"phone": "0571-2000002", "city": "宁波"})
    assert a.sync().applied == 1
    report = b.sync()
    assert (report.applied, report.conflicts) == (0, 1)

    assert list_conflicts(a.replica) == []
    (conflict,) = list_conflicts(b.replica)
    assert (conflict.kind, conflict.entity, conflict.record_id) == ("field", "customer", cid)
    (field,) = conflict.fields
    assert (field.field, field.mine, field.base, field.theirs, field.changed_by) == (
        "phone", "0571-2000002", "0571-2000000", "0571-2000001", "s1",
    )  # fmt: skip
    assert field.changed_at
    assert b.engine.status.conflicts == 1
    # The field nobody fought over merged; the conflicting one shows mine until decided.
    assert server_record(server.engine, "customer", cid)["city"] == "宁波"  # type: ignore[index]
    held = b.record("customer", cid)
    assert held is not None and (held["phone"], held["city"]) == ("0571-2000002", "宁波")
    with pytest.raises(ConflictError):
        resolve_keep(b.replica, conflict.id)  # a field conflict is decided per field

    chosen: Any = {"mine": "mine", "theirs": "theirs", "value": ("value", " 0571-2000003 ")}
    mutation_id = resolve_fields(b.replica, conflict.id, {"phone": chosen[choice]})
    assert (mutation_id is None) == (choice == "theirs")  # theirs: nothing left to send
    expected = {"mine": "0571-2000002", "theirs": "0571-2000001", "value": "0571-2000003"}
    b.sync()
    a.sync()

    assert_agree(server.engine, [a, b], [("customer", cid)])
    final = server_record(server.engine, "customer", cid)
    assert final is not None and (final["phone"], final["city"]) == (expected[choice], "宁波")
    assert b.engine.status.conflicts == 0


# --- delete against edit -----------------------------------------------------------------


@pytest.mark.parametrize("decision", ["keep", "delete"])
def test_edit_of_a_customer_deleted_elsewhere(
    server: LiveServer, make_device: MakeDevice, decision: str
) -> None:
    """A deletes the customer and syncs first; B's later edit of it becomes a ``deleted``
    conflict. Keep restores it everywhere with B's values; delete lets it go everywhere."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    cid = _customer(a, "删改客户", city="杭州")
    _both_synced(a, b, cid)

    a.replica.customers.delete(cid)
    b.replica.customers.update(cid, {"notes": "客户又回来了"})
    assert a.sync().applied == 1
    assert b.sync().conflicts == 1

    (conflict,) = list_conflicts(b.replica)
    assert (conflict.kind, conflict.record_id) == ("deleted", cid)
    (field,) = conflict.fields
    assert (field.field, field.mine, field.theirs, field.changed_by) == (
        "notes", "客户又回来了", None, "s1",
    )  # fmt: skip
    assert conflict.server_record is not None and conflict.server_record["deleted"] is True
    assert b.engine.status.conflicts == 1
    with pytest.raises(ConflictError):
        resolve_fields(b.replica, conflict.id, {})
    if decision == "keep":
        assert resolve_keep(b.replica, conflict.id) is not None  # a restore is queued
    else:
        assert resolve_delete(b.replica, conflict.id) is None
    b.sync()
    a.sync()

    assert_agree(server.engine, [a, b], [("customer", cid)])
    final = server_record(server.engine, "customer", cid)
    if decision == "keep":
        assert final is not None and final["notes"] == "客户又回来了"
        assert a.record("customer", cid) == final
    else:
        assert final is None and a.record("customer", cid) is None


@pytest.mark.parametrize("decision", ["keep", "delete"])
def test_delete_of_a_customer_changed_elsewhere(
    server: LiveServer, make_device: MakeDevice, decision: str
) -> None:
    """B edits the customer and syncs first; A's delete (based on the older version) is a
    ``delete_vs_change`` conflict. Keep gives A the record back with B's change; delete
    removes it everywhere."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    cid = _customer(a, "改删客户", city="杭州")
    _both_synced(a, b, cid)

    b.replica.customers.update(cid, {"city": "温州"})
    a.replica.customers.delete(cid)
    assert b.sync().applied == 1
    assert a.sync().conflicts == 1

    (conflict,) = list_conflicts(a.replica)
    assert (conflict.kind, conflict.record_id) == ("delete_vs_change", cid)
    assert [f.field for f in conflict.fields] == ["city"]  # what changed since my version
    if decision == "keep":
        assert resolve_keep(a.replica, conflict.id) is None  # nothing to tell the server
        held = a.record("customer", cid)
        assert held is not None and held["city"] == "温州"
    else:
        assert resolve_delete(a.replica, conflict.id) is not None
    a.sync()
    b.sync()

    assert_agree(server.engine, [a, b], [("customer", cid)])
    final = server_record(server.engine, "customer", cid)
    if decision == "keep":
        assert final is not None and final["city"] == "温州"
        assert a.record("customer", cid) == final
    else:
        assert final is None and b.record("customer", cid) is None


# --- children, rejections, cost, status --------------------------------------------------


def test_new_customer_with_children_syncs_in_one_go(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """A customer with a contact, a follow-up and a deal, all made offline, reach the
    server in one push (children after their customer) and the other device in one pull;
    a sync with nothing to do afterwards is a single request."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    b.sync()
    cid = _customer(a, "带子记录的客户", city="上海")
    contact = a.replica.contacts.create({"customer_id": cid, "name": "李四", "is_primary": True})
    follow_up = a.replica.follow_ups.create(
        {
            "customer_id": cid,
            "contact_id": contact.record_id,
            "kind": "visit",
            "content": "上门拜访,谈了报价",
            "happened_at": "2026-03-02T09:30:00+08:00",
        }
    )
    deal = a.replica.deals.create(
        {"customer_id": cid, "title": "年度框架协议", "amount": "12000.50"}
    )

    report = a.sync()
    assert (report.pushed, report.applied, report.conflicts, report.rejected) == (4, 4, 0, 0)
    assert report.requests == 2  # one push, one pull
    assert b.sync().pulled >= 4

    records = [
        ("customer", cid),
        ("contact", contact.record_id),
        ("follow_up", follow_up.record_id),
        ("deal", deal.record_id),
    ]
    assert_agree(server.engine, [a, b], records)
    for entity, record_id in records:
        assert server_record(server.engine, entity, record_id) is not None, entity

    nothing = a.sync()
    assert (nothing.requests, nothing.pushed, nothing.pulled, nothing.pages) == (1, 0, 0, 1)
    assert b.sync().requests == 1


def test_rejected_edit_stays_failed_and_blocks_only_its_record(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """A salesperson hands a customer to a colleague, which the server refuses. The edit
    stays in the queue marked failed with the server's reason; later edits of the same
    customer wait behind it (never sent), while other customers keep syncing."""
    a = make_device("a", "s1")
    refused = _customer(a, "转手客户", city="杭州")
    other = _customer(a, "照常客户", city="杭州")
    a.sync()

    a.replica.customers.update(refused, {"owner_id": "s2"})
    report = a.sync()
    assert (report.pushed, report.applied, report.rejected) == (1, 0, 1)
    (failed,) = a.outbox()
    assert (failed.record_id, failed.status) == (refused, "failed")
    assert failed.last_error is not None and failed.last_error.startswith("forbidden:")
    assert "s2" in failed.last_error
    assert a.replica.customers.get(refused).sync_state == "failed"  # type: ignore[union-attr]

    a.replica.customers.update(refused, {"city": "无锡"})
    a.replica.customers.update(other, {"city": "常州"})
    report = a.sync()
    assert (report.pushed, report.applied, report.rejected) == (1, 1, 0)
    assert report.requests == 2  # the other customer's edit and the pull; nothing else
    failed_again, waiting = a.outbox()
    assert failed_again == failed
    assert (waiting.record_id, waiting.status, set(waiting.fields)) == (
        refused,
        "pending",
        {"city"},
    )
    status = a.engine.status
    assert (status.state, status.failed, status.pending) == (SyncState.ONLINE, 1, 1)

    on_server = server_record(server.engine, "customer", refused)
    assert on_server is not None and (on_server["owner_id"], on_server["city"]) == ("s1", "杭州")
    assert a.record("customer", other) == server_record(server.engine, "customer", other)
    assert a.sync().requests == 1  # the blocked edits are not retried on their own


def test_edit_behind_a_rejected_one_in_the_same_batch_waits(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """Two edits of one customer queued before a sync, the first refused by the server:
    the second must wait behind the failed one rather than be applied on its own."""
    a = make_device("a", "s1")
    refused = _customer(a, "同批转手客户", city="杭州")
    a.sync()
    a.replica.customers.update(refused, {"owner_id": "s2"})
    a.replica.customers.update(refused, {"city": "无锡"})
    a.sync()
    assert [m.status for m in a.outbox()] == ["failed", "pending"]
    on_server = server_record(server.engine, "customer", refused)
    assert on_server is not None and on_server["city"] == "杭州"
    # The server did not decide the held-back edit: the same id may come again later.
    blocked = a.outbox()[1].mutation_id
    assert audit_counts(server.engine, [blocked]) == {blocked: 0}
    with server.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM pushed_mutations WHERE mutation_id = :m"), {"m": blocked}
        ).scalar_one()
    assert stored == 0


def test_status_listener_sees_syncing_then_online_with_counts(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """The status callbacks announce ``syncing`` while a sync runs and ``online`` at the
    end, with pending edits counted down to zero, conflicts counted, and the time of the
    last successful sync."""
    a = make_device("a", "s1")
    b = make_device("b", "m_east")
    cid = _customer(a, "状态客户", phone="0571-3000000")
    _customer(a, "状态客户二")
    seen: list[SyncStatus] = []
    a.engine.add_listener(seen.append)
    a.sync()

    states = [s.state for s in seen]
    assert states[0] == SyncState.SYNCING and states[-1] == SyncState.ONLINE
    assert set(states[:-1]) == {SyncState.SYNCING}
    assert seen[0].pending == 2
    final = seen[-1]
    assert (final.pending, final.failed, final.conflicts) == (0, 0, 0)
    assert final.last_success is not None and final.done >= 2

    b.sync()
    b.replica.customers.update(cid, {"phone": "0571-3000002"})
    a.replica.customers.update(cid, {"phone": "0571-3000001"})
    b.sync()
    seen.clear()
    a.sync()
    assert seen[-1].state == SyncState.ONLINE and seen[-1].conflicts == 1
    assert a.engine.status == seen[-1]
    (conflict,) = list_conflicts(a.replica)
    resolve_fields(a.replica, conflict.id, {"phone": "theirs"})
    a.sync()
    assert (seen[-1].conflicts, seen[-1].pending) == (0, 0)


# --- full resync ---------------------------------------------------------------------------


def test_team_change_forces_full_resync_that_drops_what_is_no_longer_visible(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """A manager moves to another team (the admin's ``set_role``): their cursor is refused
    with 410, the engine pulls everything from scratch, and the team's customers they can
    no longer see leave the replica — except one with a local edit, which stays."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="rs")
    manager = server.add_user(Role.MANAGER, team, prefix="rm")
    api = server.login(seller)
    gone, _ = api.new_customer("将被收回的客户")
    edited, _ = api.new_customer("经理改过的客户")
    parent, _ = api.new_customer("联系人被改过的客户")
    m = make_device("m", manager)
    own = _customer(m, "经理自己的客户")
    m.sync()
    contact = m.replica.contacts.create({"customer_id": parent, "name": "王经理"}).record_id
    m.sync()
    assert m.record("customer", gone) is not None and m.record("customer", edited) is not None

    m.replica.customers.update(edited, {"notes": "经理的备注"})
    m.replica.contacts.update(contact, {"title": "采购总监"})
    write_transaction(
        server.engine, lambda conn: accounts.set_role(conn, manager, Role.MANAGER, f"{team}-new")
    )
    m.sync()

    assert m.record("customer", gone) is None
    kept = m.record("customer", edited)
    assert kept is not None and kept["notes"] == "经理的备注"
    # A customer whose contact carries an edit stays too, with the contact.
    assert m.record("customer", parent) is not None
    assert m.record("contact", contact)["title"] == "采购总监"  # type: ignore[index]
    assert [mu.record_id for mu in m.outbox()] == [edited, contact]
    assert m.record("customer", own) == server_record(server.engine, "customer", own)
    assert m.replica.get_meta(RESYNC_KEY) == "0"
    assert m.replica.check_integrity() == []
    assert m.sync().requests == 1  # the new cursor works: back to incremental pulls
