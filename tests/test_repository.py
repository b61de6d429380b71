"""Repository writes: one outbox row per edit, in the same transaction as the edit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from sync import outbox, repository, wire
from sync.outbox import list_mutations
from sync.replica import PendingEditsError, Replica
from sync.repository import (
    Filter,
    HasChildrenError,
    ListFrame,
    ListQuery,
    RecordNotFoundError,
    Sort,
)
from sync.schema import new_record_id
from sync.validation import ValidationError


def outbox_rows(replica: Replica) -> list[outbox.Mutation]:
    with replica.read() as conn:
        return list_mutations(conn)


def raw_customer(replica: Replica, record_id: str) -> dict[str, Any] | None:
    with replica.read() as conn:
        row = (
            conn.execute(text("SELECT * FROM customers WHERE id = :id"), {"id": record_id})
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def test_create_writes_record_and_exactly_one_outbox_row(replica: Replica) -> None:
    change = replica.customers.create({"name": "张三", "mobile": "138 1234 5678"})

    rows = outbox_rows(replica)
    assert len(rows) == 1
    row = rows[0]
    assert (row.op, row.entity, row.record_id) == ("create", "customer", change.record_id)
    assert row.mutation_id == change.mutation_id == f"{replica.client_id}:1"
    assert row.base_version == 0
    assert row.fields["name"].new == "张三" and row.fields["name"].base is None
    assert row.fields["status"].new == "lead"  # defaults travel too
    record = replica.customers.get(change.record_id)
    assert record is not None and record["mobile"] == "138 1234 5678"
    assert record.sync_state == "pending" and record.version == 0


def test_update_writes_only_changed_fields_with_their_base(replica: Replica) -> None:
    rid = replica.customers.create({"name": "李四", "city": "上海"}).record_id
    change = replica.customers.update(rid, {"city": "北京", "name": "李四"})

    assert change.fields == ("city",)
    update_row = outbox_rows(replica)[-1]
    assert update_row.op == "update"
    assert dict(update_row.fields) == {"city": outbox.FieldChange("北京", "上海")}
    assert len(outbox_rows(replica)) == 2


def test_update_that_changes_nothing_writes_nothing(replica: Replica) -> None:
    rid = replica.customers.create({"name": "王五"}).record_id
    change = replica.customers.update(rid, {"name": "  王五  "})  # stripped: same value
    assert change.mutation_id is None and change.fields == ()
    assert len(outbox_rows(replica)) == 1


def test_delete_writes_a_tombstone_and_one_outbox_row(replica: Replica) -> None:
    rid = replica.customers.create({"name": "赵六"}).record_id
    replica.customers.delete(rid)

    assert replica.customers.get(rid) is None
    assert replica.customers.get(rid, include_deleted=True) is not None
    assert [m.op for m in outbox_rows(replica)] == ["create", "delete"]
    with pytest.raises(RecordNotFoundError):
        replica.customers.update(rid, {"name": "x"})


@pytest.mark.parametrize("when", ["before_outbox_row", "after_outbox_row"])
@pytest.mark.parametrize("op", ["create", "update", "delete"])
def test_failure_between_the_writes_leaves_neither(
    replica: Replica, monkeypatch: pytest.MonkeyPatch, op: str, when: str
) -> None:
    rid = replica.customers.create({"name": "钱七", "company": "华通科技"}).record_id
    before_outbox = outbox_rows(replica)
    before_record = raw_customer(replica, rid)
    real_append = outbox.append

    def failing_append(*args: Any, **kwargs: Any) -> str:
        if when == "after_outbox_row":
            real_append(*args, **kwargs)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(outbox, "append", failing_append)
    new_id = new_record_id()
    with pytest.raises(OSError, match="injected"):
        if op == "create":
            replica.customers.create({"name": "孙八", "company": "鼎新"}, record_id=new_id)
        elif op == "update":
            replica.customers.update(rid, {"name": "钱七七", "company": "恒泰"})
        else:
            replica.customers.delete(rid)
    monkeypatch.setattr(outbox, "append", real_append)

    assert outbox_rows(replica) == before_outbox
    assert raw_customer(replica, rid) == before_record
    assert raw_customer(replica, new_id) is None
    # the search index was rolled back with the row
    assert replica.check_integrity() == []
    assert [r["name"] for r in replica.customers.query(search="qqq")] == []
    assert [r["name"] for r in replica.customers.query(search="htkj")] == ["钱七"]
    # and the mutation counter too: the next id follows the last committed one
    assert replica.customers.update(rid, {"city": "上海"}).mutation_id == f"{replica.client_id}:2"


def test_child_records_need_a_live_customer(replica: Replica) -> None:
    with pytest.raises(ValidationError) as err:
        replica.contacts.create({"customer_id": new_record_id(), "name": "小王"})
    assert err.value.codes() == {"customer_id": "unknown_parent"}
    assert outbox_rows(replica) == []


def test_customer_delete_refuses_children_unless_cascade(replica: Replica) -> None:
    cid = replica.customers.create({"name": "周九"}).record_id
    contact = replica.contacts.create({"customer_id": cid, "name": "前台"}).record_id
    deal = replica.deals.create({"customer_id": cid, "title": "年度采购", "amount": "10000"})
    follow = replica.follow_ups.create(
        {"customer_id": cid, "kind": "call", "content": "电话", "happened_at": datetime.now(UTC)}
    )
    with pytest.raises(HasChildrenError) as err:
        replica.customers.delete(cid)
    assert err.value.counts == {"contact": 1, "follow_up": 1, "deal": 1}

    change = replica.customers.delete(cid, cascade=True)
    assert {c.record_id for c in change.children} == {contact, deal.record_id, follow.record_id}
    deletes = [m for m in outbox_rows(replica) if m.op == "delete"]
    assert [m.record_id for m in deletes][-1] == cid  # children first, then the customer
    assert len(deletes) == 4
    assert replica.contacts.count() == 0 and replica.customers.count() == 0


def test_values_round_trip_with_their_python_types(replica: Replica) -> None:
    cid = replica.customers.create({"name": "吴十", "tags": ["VIP", "华东", "VIP"]}).record_id
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    did = replica.deals.create(
        {
            "customer_id": cid,
            "title": "服务器",
            "amount": Decimal("1234567.89"),
            "expected_close": "2026-12-31",
            "probability": 60,
        }
    ).record_id
    replica.customers.update(cid, {"next_follow_up_at": when})

    deal = replica.deals.get(did)
    assert deal is not None
    assert deal["amount"] == Decimal("1234567.89")
    assert str(deal["expected_close"]) == "2026-12-31"
    assert deal["currency"] == "CNY" and deal["stage"] == "initial"
    customer = replica.customers.get(cid)
    assert customer is not None
    assert customer["tags"] == ["VIP", "华东"]
    assert customer["next_follow_up_at"] == when
    assert outbox_rows(replica)[-1].fields["next_follow_up_at"].new == "2026-12-01T09:30:00.000000Z"


def test_query_filters_sorts_and_pages_in_sql(replica: Replica) -> None:
    names = ["张三", "李四", "王五", "Alice", "zoe", "赵六", "钱七"]
    for i, name in enumerate(names):
        replica.customers.create(
            {"name": name, "level": "ABCD"[i % 4], "tags": ["VIP"] if i % 2 else []}
        )
    in_order = [r["name"] for r in replica.customers.query(sort=[Sort("name")])]
    assert in_order == ["Alice", "李四", "钱七", "王五", "张三", "赵六", "zoe"]
    first = replica.customers.query(sort=[Sort("name")], limit=3)
    second = replica.customers.query(sort=[Sort("name")], limit=3, offset=3)
    assert [r["name"] for r in first + second] == in_order[:6]
    assert replica.customers.count(filters=[Filter("level", "eq", "A")]) == 2
    vip = replica.customers.query(filters=[Filter("tags", "has_tag", "VIP")])
    assert sorted(r["name"] for r in vip) == sorted(names[1::2])
    assert replica.customers.count(filters=[Filter("level", "in", ["B", "C"])]) == 4
    assert replica.customers.count(filters=[Filter("name", "contains", "li")]) == 1
    assert replica.customers.count(filters=[Filter("sync_state", "eq", "pending")]) == 7
    with pytest.raises(ValueError):
        replica.customers.query(filters=[Filter("no_such_field", "eq", 1)])
    with pytest.raises(ValueError):
        replica.customers.query(sort=[Sort("row_id; DROP TABLE customers")])


def server_customer(**values: Any) -> dict[str, Any]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    base = {
        "id": new_record_id(),
        "version": 3,
        "created_at": now,
        "updated_at": now,
        "updated_by": "u1",
        "deleted": False,
        "owner_id": "u1",
        "status": "active",
        "tags": [],
    }
    return base | values


def test_server_records_are_stored_clean_and_searchable(replica: Replica) -> None:
    record = server_customer(name="欧阳娜娜", company="深圳星辰电子有限公司", mobile="13900001111")
    replica.store_server_records("customer", [record])

    stored = replica.customers.get(record["id"])
    assert stored is not None and stored.version == 3 and stored.sync_state == "synced"
    assert raw_customer(replica, record["id"])["base"] is None  # type: ignore[index]
    assert [r["name"] for r in replica.customers.query(search="oynn")] == ["欧阳娜娜"]
    assert outbox_rows(replica) == []

    # a local edit of a synced record remembers the server values it started from
    replica.customers.update(record["id"], {"company": "深圳星辰科技有限公司"})
    base = wire.loads(raw_customer(replica, record["id"])["base"])  # type: ignore[index]
    assert base["company"] == "深圳星辰电子有限公司"
    assert outbox_rows(replica)[0].base_version == 3

    # and a server page may not overwrite it while the edit is queued
    with pytest.raises(PendingEditsError) as err:
        replica.store_server_records("customer", [record | {"version": 4}])
    assert err.value.record_ids == [record["id"]]
    assert replica.customers.get(record["id"])["company"] == "深圳星辰科技有限公司"  # type: ignore[index]


def test_server_record_overwrite_reindexes(replica: Replica) -> None:
    record = server_customer(name="陈一", company="杭州博远软件有限公司")
    replica.store_server_records("customer", [record])
    replica.store_server_records("customer", [record | {"name": "陈二", "version": 4}])
    assert [r["name"] for r in replica.customers.query(search="陈二")] == ["陈二"]
    assert replica.customers.query(search="陈一") == []
    assert replica.check_integrity() == []


def test_bulk_path_stores_the_same_bytes_as_the_orm_path(replica: Replica) -> None:
    """The bulk insert bypasses SQLAlchemy's per-row types; both must agree exactly."""
    values = {
        "name": "孔明",
        "tags": ["VIP", "大客户"],
        "next_follow_up_at": datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC),
    }
    local_id = replica.customers.create(values).record_id
    replica.store_server_records("customer", [server_customer(**values, status="lead")])
    with replica.read() as conn:
        rows = conn.execute(
            text("SELECT tags, next_follow_up_at, deleted FROM customers ORDER BY id = :id"),
            {"id": local_id},
        ).all()
    assert rows[0] == rows[1]
    deal_cid = local_id
    deal = {
        "id": new_record_id(),
        "customer_id": deal_cid,
        "title": "t",
        "amount": Decimal("10.50"),
        "currency": "CNY",
        "stage": "won",
        "expected_close": datetime(2026, 1, 2).date(),
        "version": 1,
        "deleted": False,
    }
    replica.store_server_records("deal", [deal])
    stored = replica.deals.get(deal["id"])
    assert stored is not None and stored["amount"] == Decimal("10.50")
    assert stored["expected_close"] == deal["expected_close"]


def test_two_threads_write_at_once_without_database_locked(replica: Replica) -> None:
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(40):
                rid = replica.customers.create({"name": f"{prefix}{i}"}).record_id
                replica.customers.update(rid, {"city": "上海"})
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("甲", "乙")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = outbox_rows(replica)
    assert len(rows) == 160
    counters = [int(m.mutation_id.rsplit(":", 1)[1]) for m in rows]
    assert counters == list(range(1, 161))  # gap-free and in commit order


# --- sync state and long lists ------------------------------------------------------------


def open_conflict(replica: Replica, record_id: str) -> None:
    with replica.write() as conn:
        conn.execute(
            text(
                "INSERT INTO conflicts (entity, record_id, kind, fields, created_at) "
                "VALUES ('customer', :id, 'field', '[]', '2026-11-01 00:00:00.000000')"
            ),
            {"id": record_id},
        )


def fail_edits(replica: Replica, record_id: str, reason: str = "refused") -> None:
    with replica.write() as conn:
        conn.execute(
            text("UPDATE outbox SET status = 'failed', last_error = :e WHERE record_id = :id"),
            {"id": record_id, "e": reason},
        )


def test_sync_state_conflict_before_failed_before_pending(replica: Replica) -> None:
    synced, pending, failed, conflicted, both = (server_customer(name=n) for n in "ABCDE")
    replica.store_server_records("customer", [synced, pending, failed, conflicted, both])
    for r in (pending, failed, conflicted, both):
        replica.customers.update(r["id"], {"city": "上海"})
    fail_edits(replica, failed["id"])
    fail_edits(replica, both["id"])
    open_conflict(replica, conflicted["id"])
    open_conflict(replica, both["id"])

    states = {r["name"]: r.sync_state for r in replica.customers.query()}
    assert states == {
        "A": "synced",
        "B": "pending",
        "C": "failed",
        "D": "conflict",
        "E": "conflict",
    }
    for state, names in {"conflict": {"D", "E"}, "failed": {"C"}, "synced": {"A"}}.items():
        found = replica.customers.query(filters=[Filter("sync_state", "eq", state)])
        assert {r["name"] for r in found} == names
    assert (
        replica.customers.count(filters=[Filter("sync_state", "in", ["conflict", "failed"])]) == 3
    )


def list_customers(replica: Replica, count: int) -> list[dict[str, Any]]:
    """``count`` server customers with repeated names, missing values, and a few tombstones."""
    when = datetime(2026, 12, 1, tzinfo=UTC)
    records = [
        server_customer(
            name=["张三", "李四", "王五", "Alice", "赵六"][i % 5],
            company=None if i % 4 == 0 else f"公司{i % 7}",
            level=None if i % 3 == 0 else "ABCD"[i % 4],
            owner_id=["u1", "u2", None][i % 3],
            next_follow_up_at=None if i % 2 else when.replace(day=1 + i % 28),
        )
        for i in range(count)
    ]
    replica.store_server_records("customer", records)
    return records


@pytest.mark.parametrize(
    "sort",
    [
        None,
        Sort("name", descending=True),
        Sort("company"),
        Sort("level"),
        Sort("level", descending=True),
        Sort("next_follow_up_at"),
        Sort("next_follow_up_at", descending=True),
        Sort("owner_id"),
    ],
)
def test_list_windows_page_the_whole_list_in_order(replica: Replica, sort: Sort | None) -> None:
    records = list_customers(replica, 60)
    for r in records[5:60:9]:  # deleted here, not yet confirmed: tombstones
        replica.customers.delete(r["id"])
    frame = replica.customers.list_frame(ListQuery(sort=sort))
    assert frame.tombstones is not None and len(frame.tombstones) == 7  # read by index
    assert frame.count == replica.customers.count() == 53

    pages = [replica.customers.list_window(frame, ("name",), o, 7) for o in range(0, 60, 7)]
    listed = [row.id for page in pages for row in page]
    ordered = replica.customers.query(sort=[sort or Sort("name")], limit=100)
    assert len(listed) == 53 and sorted(listed) == sorted(r.id for r in ordered)
    key = (sort or Sort("name")).field
    values = {r.id: r[key] for r in ordered}
    shown = [values[i] for i in listed]
    present = [v for v in shown if v is not None]
    if key in ("name", "company"):  # pinyin order (no company: first), as query() sorts
        assert shown == [r[key] for r in ordered]
    else:
        assert present == sorted(present, reverse=bool(sort and sort.descending))
        assert shown[len(present) :] == [None] * (len(shown) - len(present))  # nulls last
    for i, rid in enumerate(listed):
        assert replica.customers.list_position(frame, rid) == i
    assert replica.customers.list_position(frame, records[5]["id"]) is None  # deleted


@pytest.mark.parametrize(
    "sort",
    [None, Sort("name", descending=True), Sort("company"), Sort("level", descending=True)],
)
def test_searched_list_windows_are_the_same_walked_or_looked_up(
    replica: Replica, sort: Sort | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = list_customers(replica, 60)
    for r in records[3:60:8]:  # tombstones among the matches
        replica.customers.delete(r["id"])
    for text_ in ("z", "zs", "李", "gs", "公司3", "alice", "w 6"):
        frame = replica.customers.list_frame(ListQuery(search=text_, sort=sort))
        # Counted in the full-text index, less the deleted rows: as count() counts.
        assert frame.count == replica.customers.count(search=text_), text_
        pages: dict[bool, list[str]] = {}
        for walk in (True, False):
            monkeypatch.setattr(repository, "_walks_sort_index", lambda *_a, w=walk: w)
            rows = [
                row.id
                for offset in range(0, 60, 7)
                for row in replica.customers.list_window(frame, ("name",), offset, 7)
            ]
            pages[walk] = rows
        assert pages[True] == pages[False], text_  # same rows, same order
        found = replica.customers.query(search=text_, limit=100)
        assert sorted(pages[True]) == sorted(r.id for r in found), text_
        monkeypatch.undo()


def test_a_window_of_many_matches_walks_the_sort_index() -> None:
    many = ListFrame(ListQuery(search="13"), count=12_000, table_rows=100_000)
    few = ListFrame(ListQuery(search="zhang"), count=1_600, table_rows=100_000)
    assert repository._walks_sort_index(many, 150)
    assert not repository._walks_sort_index(few, 150)
    # Names starting with one letter sit together in name order: looked up instead...
    assert not repository._walks_sort_index(
        ListFrame(ListQuery(search="w"), 6_000, None, 100_000), 150
    )
    # ...unless the list is sorted by something else.
    spread = ListFrame(ListQuery(search="w", sort=Sort("city")), 6_000, None, 100_000)
    assert repository._walks_sort_index(spread, 150)
    filtered = ListQuery(filters=(Filter("level", "eq", "A"),), search="13")
    assert not repository._walks_sort_index(ListFrame(filtered, 12_000, None, 100_000), 150)


def test_list_filters_search_and_row_values(replica: Replica) -> None:
    list_customers(replica, 30)
    mine = replica.customers.create({"name": "张三丰", "mobile": "139 0000 1111", "level": "A"})
    query = ListQuery(filters=(Filter("level", "eq", "A"),), sort=Sort("name"))
    frame = replica.customers.list_frame(query)
    assert frame.tombstones is None  # filtered: paged over the matching rows
    assert frame.count == replica.customers.count(filters=[Filter("level", "eq", "A")]) == 6
    rows = replica.customers.list_window(frame, ("name", "level", "mobile"), 0, 100)
    assert len(rows) == 6 and {r.values[1] for r in rows} == {"A"}
    by_query = replica.customers.query(filters=[Filter("level", "eq", "A")])
    assert [r.values[0] for r in rows] == [r["name"] for r in by_query]  # pinyin order
    found = replica.customers.list_frame(ListQuery(search="zsf"))
    assert found.count == 1
    (row,) = replica.customers.list_window(found, ("name", "mobile"), 0, 10)
    assert row.id == mine.record_id and row.values == ("张三丰", "139 0000 1111")
    assert row.sync_state == "pending" and row.sync_error is None
    fail_edits(replica, mine.record_id, "name taken")
    (row,) = replica.customers.list_window(found, ("name",), 0, 10)
    assert (row.sync_state, row.sync_error) == ("failed", "name taken")
    assert replica.customers.list_position(found, mine.record_id) == 0
    assert replica.customers.list_position(frame, mine.record_id) is not None
    assert replica.customers.list_window(found, ("name",), 1, 10) == []
    with pytest.raises(ValueError):
        replica.customers.list_window(found, ("no_such_field",), 0, 10)
    with pytest.raises(ValueError):
        replica.follow_ups.list_frame(ListQuery())


def test_distinct_values_lists_owners(replica: Replica) -> None:
    list_customers(replica, 9)
    assert replica.customers.distinct_values("owner_id") == ["u1", "u2"]
