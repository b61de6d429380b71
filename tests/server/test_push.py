"""Push over real HTTP on SQLite and PostgreSQL: exactly-once, field-level merge, conflicts."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from server.models import AuditEntry, PushedMutation, table_of
from tests.server.conftest import ApiClient, LiveServer

_audit = table_of(AuditEntry)
_pushed = table_of(PushedMutation)


def _record(client: ApiClient, entity: str, record_id: str) -> dict[str, Any]:
    """The record as the client's feed delivers it now."""
    return client.current(entity, record_id)


def _audit_count(server: LiveServer, record_id: str) -> int:
    with server.engine.connect() as conn:
        count: int = conn.execute(
            select(func.count()).select_from(_audit).where(_audit.c.record_id == record_id)
        ).scalar_one()
    return count


def _batch(client: ApiClient) -> tuple[str, list[dict[str, Any]]]:
    cid, _ = client.new_customer("幂等客户", city="杭州")
    contact = client.create("contact", {"customer_id": cid, "name": "王五"})
    batch = [
        client.update("customer", cid, 1, {"city": ("苏州", "杭州"), "level": ("A", None)}),
        contact,
        client.create("follow_up", {
            "customer_id": cid, "kind": "call", "content": "电话沟通",
            "happened_at": "2026-11-20T02:00:00Z",
        }),
    ]  # fmt: skip
    return cid, batch


def test_same_batch_pushed_three_times_in_a_row_applies_once(server: LiveServer) -> None:
    """A retried push (response lost) gets the first results back and changes nothing."""
    s1 = server.login("s1")
    cid, batch = _batch(s1)
    first = s1.push(batch)
    assert [r["status"] for r in first] == ["applied", "applied", "applied"]
    assert first[0]["version"] == 2
    assert s1.push(batch) == first
    assert s1.push(batch) == first
    assert _record(s1, "customer", cid)["version"] == 2
    assert _audit_count(server, cid) == 2  # the create and one update
    with server.engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(_pushed).where(_pushed.c.client_id == s1.client_id)
        ).scalar_one()
    assert stored == 1 + len(batch)


def test_same_batch_pushed_three_times_concurrently_applies_once(server: LiveServer) -> None:
    """Three copies of one batch racing each other: one application, three equal answers."""
    s1 = server.login("s1")
    cid, batch = _batch(s1)
    clients = [server.http(s1.token) for _ in range(3)]
    barrier = threading.Barrier(3)
    answers: list[Any] = [None] * 3

    def push(i: int) -> None:
        barrier.wait()
        response = clients[i].post(
            "/api/v1/sync/push", json={"client_id": s1.client_id, "mutations": batch}
        )
        answers[i] = (response.status_code, response.json())

    threads = [threading.Thread(target=push, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None and a[0] == 200 for a in answers), answers
    assert answers[0][1] == answers[1][1] == answers[2][1]
    assert [r["status"] for r in answers[0][1]["results"]] == ["applied"] * 3
    assert _record(s1, "customer", cid)["version"] == 2
    assert _audit_count(server, cid) == 2
    changes, _ = s1.pull_all(s1.cursor_after(_record(s1, "customer", cid)["seq"] - 1))
    contact_id = batch[1]["record_id"]
    assert sum(1 for c in changes if c["id"] == contact_id) == 1


def test_mutation_id_repeated_inside_one_batch_counts_once(server: LiveServer) -> None:
    s1 = server.login("s1")
    cid, _ = s1.new_customer("重复", notes="a")
    mutation = s1.update("customer", cid, 1, {"notes": ("b", "a")})
    results = s1.push([mutation, mutation])
    assert results[0] == results[1]
    assert results[0]["status"] == "applied"
    assert _record(s1, "customer", cid)["version"] == 2


def test_another_user_cannot_replay_someone_elses_mutation_id(server: LiveServer) -> None:
    s1, s2 = server.login("s1"), server.login("s2")
    cid, _ = s1.new_customer("别人的")
    mutation = s1.update("customer", cid, 1, {"notes": ("mine", None)})
    assert s1.push_one(mutation)["status"] == "applied"
    s2.client_id = s1.client_id
    result = s2.push_one(mutation)
    assert result["status"] == "rejected"
    assert result["code"] == "forbidden"


def test_changes_to_different_fields_merge_without_conflict(server: LiveServer) -> None:
    """Two people edit different fields from the same version: both edits apply."""
    s1, m = server.login("s1"), server.login("m_east")
    cid, _ = s1.new_customer("合并", city="北京", level="C")
    assert s1.push_one(s1.update("customer", cid, 1, {"city": ("上海", "北京")}))["version"] == 2
    result = m.push_one(m.update("customer", cid, 1, {"level": ("A", "C")}))
    assert result == {"mutation_id": result["mutation_id"], "status": "applied", "version": 3}
    record = _record(s1, "customer", cid)["record"]
    assert (record["city"], record["level"]) == ("上海", "A")


def test_same_field_changed_on_both_sides_is_a_conflict_others_still_apply(
    server: LiveServer,
) -> None:
    s1, m = server.login("s1"), server.login("m_east")
    cid, _ = s1.new_customer("冲突", phone="021-1111111", notes="old")
    first = s1.push_one(s1.update("customer", cid, 1, {"phone": ("021-2222222", "021-1111111")}))
    assert first["status"] == "applied"
    result = m.push_one(
        m.update("customer", cid, 1, {
            "phone": ("021-3333333", "021-1111111"), "notes": ("new notes", "old"),
        })
    )  # fmt: skip
    assert result["status"] == "conflict"
    assert result["kind"] == "field"
    assert result["version"] == 3  # the notes change was applied
    (conflict,) = result["conflicts"]
    assert conflict["field"] == "phone"
    assert conflict["mine"] == "021-3333333"
    assert conflict["base"] == "021-1111111"
    assert conflict["theirs"] == "021-2222222"
    assert conflict["changed_by"] == "s1"
    assert conflict["changed_at"].endswith("Z")
    assert result["record"]["notes"] == "new notes"
    assert result["record"]["phone"] == "021-2222222"
    # The server keeps s1's phone until someone resolves the conflict.
    assert _record(m, "customer", cid)["record"]["phone"] == "021-2222222"


def test_same_new_value_on_both_sides_is_no_conflict(server: LiveServer) -> None:
    s1, s2 = server.login("s1"), server.login("m_east")
    cid, _ = s1.new_customer("同值", city="广州")
    s1.push_one(s1.update("customer", cid, 1, {"city": ("深圳", "广州")}))
    result = s2.push_one(s2.update("customer", cid, 1, {"city": ("深圳", "广州")}))
    assert result["status"] == "applied"
    assert result["version"] == 2  # nothing left to change


def test_equal_values_in_other_spellings_are_not_conflicts(server: LiveServer) -> None:
    """Base values compare by meaning: 1000.0 is 1000.00, +08:00 is the same instant in Z."""
    s1 = server.login("s1")
    cid, _ = s1.new_customer("拼写", next_follow_up_at="2026-12-01T02:00:00Z")
    deal = s1.create("deal", {"customer_id": cid, "title": "服务器扩容", "amount": "1000.00"})
    assert s1.push_one(deal)["status"] == "applied"
    result = s1.push_one(s1.update("deal", deal["record_id"], 1, {"amount": ("2000.50", "1000.0")}))
    assert result["status"] == "applied", result
    result = s1.push_one(
        s1.update("customer", cid, 1, {
            "next_follow_up_at": ("2026-12-02T10:00:00+08:00", "2026-12-01T10:00:00+08:00"),
        })
    )  # fmt: skip
    assert result["status"] == "applied", result
    assert _record(s1, "customer", cid)["record"]["next_follow_up_at"] == (
        "2026-12-02T02:00:00.000000Z"
    )


def test_delete_conflicts_with_a_change_the_deleter_had_not_seen(server: LiveServer) -> None:
    s1, m = server.login("s1"), server.login("m_east")
    cid, _ = s1.new_customer("删除冲突", city="成都")
    contact = s1.create("contact", {"customer_id": cid, "name": "赵六"})
    assert s1.push_one(contact)["status"] == "applied"
    assert m.push_one(m.update("customer", cid, 1, {"city": ("重庆", "成都")}))["version"] == 2
    result = s1.push_one(s1.delete("customer", cid, 1))
    assert result["status"] == "conflict"
    assert result["kind"] == "delete_vs_change"
    assert [c["field"] for c in result["conflicts"]] == ["city"]
    assert result["conflicts"][0]["changed_by"] == "m_east"
    assert result["record"]["deleted"] is False
    # Having seen version 2, the delete goes through and takes the contact along.
    start = s1.cursor_at_end()
    assert s1.push_one(s1.delete("customer", cid, 2)) == {
        "mutation_id": f"{s1.client_id}:{s1._counter}", "status": "applied", "version": 3,
    }  # fmt: skip
    changes, _ = s1.pull_all(start)
    assert [(c["entity"], c["op"]) for c in changes] == [
        ("contact", "delete"),
        ("customer", "delete"),
    ]
    assert all(c["record"]["deleted"] for c in changes)
    # Deleting what is already deleted is fulfilled, not an error.
    assert s1.push_one(s1.delete("customer", cid, 1))["status"] == "applied"


def test_change_of_a_record_deleted_on_the_server_is_a_conflict_then_restore(
    server: LiveServer,
) -> None:
    s1, m = server.login("s1"), server.login("m_east")
    cid, _ = s1.new_customer("被删", city="西安")
    assert m.push_one(m.delete("customer", cid, 1))["status"] == "applied"
    result = s1.push_one(s1.update("customer", cid, 1, {"city": ("兰州", "西安")}))
    assert result["status"] == "conflict"
    assert result["kind"] == "deleted"
    assert result["record"]["deleted"] is True
    assert result["conflicts"][0]["field"] == "city"
    tombstone_version = result["version"]
    # "Keep the record": re-create it on top of the tombstone's version.
    restore = s1.create("customer", {"name": "被删", "status": "lead", "city": "兰州"}, cid)
    restore["base_version"] = tombstone_version
    restored = s1.push_one(restore)
    assert restored["status"] == "applied"
    record = _record(s1, "customer", cid)
    assert record["op"] == "upsert"
    assert record["record"]["city"] == "兰州"
    assert record["version"] == tombstone_version + 1


def test_creates_are_checked(server: LiveServer) -> None:
    s1 = server.login("s1")
    cid, _ = s1.new_customer("父")
    results = s1.push(
        [
            s1.create("customer", {"name": "重复", "status": "lead"}, cid),
            s1.create("contact", {"customer_id": "0190f7a0-0000-7000-8000-000000000000",
                                  "name": "孤儿"}),
            s1.update("customer", "0190f7a0-0000-7000-8000-000000000001", 1,
                      {"city": ("x", None)}),
            s1.create("customer", {"status": "lead"}),
        ]
    )  # fmt: skip
    assert [(r["status"], r.get("code")) for r in results] == [
        ("rejected", "duplicate_id"),
        ("rejected", "parent_missing"),
        ("rejected", "not_found"),
        ("rejected", "invalid"),
    ]
    assert results[3]["fields"] == {"name": "required"}
    assert s1.push_one(s1.delete("customer", cid, 1))["status"] == "applied"
    late = s1.push_one(s1.create("follow_up", {
        "customer_id": cid, "kind": "visit", "content": "拜访",
        "happened_at": "2026-11-01T01:00:00Z",
    }))  # fmt: skip
    assert (late["status"], late["code"]) == ("rejected", "parent_deleted")


def test_a_new_customer_belongs_to_its_creator(server: LiveServer) -> None:
    s2 = server.login("s2")
    cid, _ = s2.new_customer("我的")
    assert _record(s2, "customer", cid)["record"]["owner_id"] == "s2"


def test_audit_log_records_old_and_new_values(server: LiveServer) -> None:
    s1 = server.login("s1")
    cid, _ = s1.new_customer("审计", city="南京")
    s1.push_one(s1.update("customer", cid, 1, {"city": ("无锡", "南京"), "level": ("B", None)}))
    with server.engine.connect() as conn:
        rows = conn.execute(
            select(_audit.c.op, _audit.c.username, _audit.c.version, _audit.c.changes)
            .where(_audit.c.record_id == cid)
            .order_by(_audit.c.id)
        ).all()
    assert [(r.op, r.username, r.version) for r in rows] == [
        ("create", "s1", 1),
        ("update", "s1", 2),
    ]
    assert rows[0].changes["city"] == [None, "南京"]
    assert rows[1].changes == {"city": ["南京", "无锡"], "level": [None, "B"]}


def test_an_edit_behind_a_rejected_one_in_the_batch_is_held_back_not_decided(
    server: LiveServer,
) -> None:
    """The second edit of a record whose first edit was refused is answered ``blocked`` and
    not remembered: pushed again on its own later, it is applied."""
    s1 = server.login("s1")
    cid, _ = s1.new_customer("被拦", city="杭州")
    refused = s1.update("customer", cid, 1, {"status": ("nonsense", "lead")})
    held = s1.update("customer", cid, 1, {"city": ("无锡", "杭州")})
    other_id, _ = s1.new_customer("无关")
    other = s1.update("customer", other_id, 1, {"city": ("宁波", None)})
    results = s1.push([refused, held, other])
    assert [(r["status"], r.get("code")) for r in results] == [
        ("rejected", "invalid"),
        ("rejected", "blocked"),
        ("applied", None),
    ]
    assert _record(s1, "customer", cid)["record"]["city"] == "杭州"
    assert s1.push_one(held)["status"] == "applied"
    assert _record(s1, "customer", cid)["record"]["city"] == "无锡"
