"""The customer list's lazy table model, over a real replica (no widget needed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from app.customer_table_model import CustomerTableModel, format_local_time
from app.events import DataEvents
from sync.demo_data import CustomerFactory
from sync.replica import Replica

M = CustomerTableModel
DISPLAY = Qt.ItemDataRole.DisplayRole


def server_records(count: int, seed: int = 5, **overrides: Any) -> list[dict[str, Any]]:
    records = list(CustomerFactory(seed).server_customers(count, owner_id="u1"))
    for r in records:
        r.update(overrides)
    return records


@pytest.fixture
def events(qtbot: QtBot) -> DataEvents:
    return DataEvents()


@pytest.fixture
def make_model(replica: Replica, events: DataEvents) -> Iterator[Any]:
    made: list[CustomerTableModel] = []

    def make(**kwargs: Any) -> CustomerTableModel:
        kwargs.setdefault("refresh_delay_ms", 0)
        model = CustomerTableModel(replica, events, "u1", **kwargs)
        made.append(model)
        return model

    yield make
    for model in made:
        model.deleteLater()


def names(model: CustomerTableModel) -> list[str]:
    return [model.data(model.index(r, M.NAME)) for r in range(model.rowCount())]


def test_counts_in_sql_and_reads_only_the_windows_touched(
    replica: Replica, make_model: Any
) -> None:
    replica.store_server_records("customer", server_records(1000))
    model = make_model(window_size=50, max_windows=3)

    assert model.rowCount() == 1000 and model.columnCount() == 9
    assert model.window_fetches == 0  # counting reads no rows
    assert model.data(model.index(0, M.NAME))
    assert model.data(model.index(49, M.CITY)) is not None
    assert list(model.fetched_windows) == [0]
    model.data(model.index(975, M.NAME))  # the user dragged the scroll bar to the end
    model.data(model.index(510, M.NAME))
    assert list(model.fetched_windows) == [0, 19, 10]
    model.data(model.index(999, M.PHONE))  # still cached
    model.data(model.index(120, M.NAME))  # a fourth window: the oldest one goes
    model.data(model.index(0, M.NAME))
    assert list(model.fetched_windows) == [0, 19, 10, 2, 0]
    assert model.data(model.index(1000, M.NAME)) is None
    assert model.frame_fetches == 1


def test_display_roles_and_headers(replica: Replica, make_model: Any) -> None:
    when = datetime(2031, 3, 4, 5, 6, tzinfo=UTC)
    rid = replica.customers.create(
        {
            "name": "张三丰",
            "company": "武当山太极有限公司",
            "level": "A",
            "status": "active",
            "phone": "027-12345678",
            "mobile": "139 0000 1111",
            "city": "十堰",
            "next_follow_up_at": when,
            "owner_id": "u1",
        }
    ).record_id
    model = make_model()
    row = [model.data(model.index(0, c)) for c in range(M.COLUMN_COUNT)]
    assert row == [
        "张三丰",
        "武当山太极有限公司",
        "A",
        "Active",
        "u1",
        "139 0000 1111",
        "十堰",
        format_local_time(when),
        "Pending",
    ]
    assert model.data(model.index(0, M.NAME), M.RecordIdRole) == rid
    assert model.data(model.index(0, M.STATUS), M.SortKeyRole) == "active"
    assert model.data(model.index(0, M.NEXT_FOLLOW_UP), M.SortKeyRole) == when
    assert "027-12345678" in model.data(model.index(0, M.PHONE), Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(0, M.SYNC), Qt.ItemDataRole.DecorationRole) is not None
    assert model.data(model.index(0, M.SYNC), Qt.ItemDataRole.ForegroundRole) is not None
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(M.COLUMN_COUNT)]
    assert headers == [
        "Name",
        "Company",
        "Level",
        "Status",
        "Owner",
        "Phone",
        "City",
        "Next follow-up",
        "Sync",
    ]
    assert model.record_id(0) == rid and model.record_id(1) is None
    assert model.rowCount(model.index(0, 0)) == 0  # a table, not a tree
    assert not model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsEditable


def test_local_times_follow_the_time_zone(shanghai_time: None) -> None:
    when = datetime(2026, 11, 30, 20, 30, tzinfo=UTC)  # 04:30 next day in Shanghai
    shown = format_local_time(when).replace("\u202f", " ")  # LANG=en: the short US format
    assert shown == "12/1/26 4:30 AM"


def test_sorts_in_sql(replica: Replica, make_model: Any) -> None:
    for name, city, days in [("王五", "上海", 3), ("Alice", "北京", None), ("李四", "杭州", 1)]:
        due = None if days is None else datetime(2030, 1, days, tzinfo=UTC)
        replica.customers.create({"name": name, "city": city, "next_follow_up_at": due})
    model = make_model()
    assert names(model) == ["Alice", "李四", "王五"]  # pinyin order: li < wang
    model.sort(M.NAME, Qt.SortOrder.DescendingOrder)
    assert names(model) == ["王五", "李四", "Alice"]
    model.sort(M.NEXT_FOLLOW_UP, Qt.SortOrder.AscendingOrder)
    assert names(model) == ["李四", "王五", "Alice"]  # no follow-up: last
    model.sort(M.CITY, Qt.SortOrder.DescendingOrder)
    assert [model.data(model.index(r, M.CITY)) for r in range(3)] == ["杭州", "北京", "上海"]
    fetched = model.frame_fetches
    model.sort(M.PHONE, Qt.SortOrder.AscendingOrder)  # not sortable: nothing happens
    model.sort(M.SYNC, Qt.SortOrder.AscendingOrder)
    assert (model.sort_column, model.frame_fetches) == (M.CITY, fetched)


def test_filters_and_mine(replica: Replica, make_model: Any) -> None:
    records = server_records(40)
    for i, r in enumerate(records):
        r.update(
            level="ABCD"[i % 4], status=["lead", "active"][i % 2], owner_id=["u1", "u2"][i % 3 == 0]
        )
    replica.store_server_records("customer", records)
    model = make_model()
    assert model.rowCount() == 40
    with_signal: list[int] = []
    model.sig_count_changed.connect(with_signal.append)

    model.set_filters(level="A")
    assert model.rowCount() == 10
    assert {model.data(model.index(r, M.LEVEL), M.SortKeyRole) for r in range(10)} == {"A"}
    model.set_filters(level="A", status="lead")
    assert model.rowCount() == 10  # level A rows are the even ones: all leads
    model.set_filters(status="active", owner="u2")
    expected = sum(1 for i in range(40) if i % 2 and i % 3 == 0)
    assert model.rowCount() == expected
    model.set_filters(mine=True)
    assert model.rowCount() == sum(1 for i in range(40) if i % 3)
    owners = {model.data(model.index(r, M.OWNER)) for r in range(model.rowCount())}
    assert owners == {"u1"}
    model.set_filters()
    assert model.rowCount() == 40
    assert with_signal == [10, expected, 26, 40]
    assert model.owners() == ["u1", "u2"]


def test_search_finds_a_chinese_name_by_its_initials(replica: Replica, make_model: Any) -> None:
    replica.store_server_records("customer", server_records(200))
    rid = replica.customers.create({"name": "张三丰", "mobile": "13912345678"}).record_id
    model = make_model()
    model.set_search("zsf")
    assert model.rowCount() >= 1
    assert rid in [model.record_id(r) for r in range(model.rowCount())]
    model.set_search("张三丰")
    assert [model.record_id(r) for r in range(model.rowCount())] == [rid]
    model.set_search("1391234")  # phone digits
    assert [model.record_id(r) for r in range(model.rowCount())] == [rid]
    model.set_search("  ")
    assert model.rowCount() == 201


def test_sync_state_column_pending_conflict_failed(replica: Replica, make_model: Any) -> None:
    records = server_records(4)
    for r, name in zip(records, ["a-synced", "b-pending", "c-conflict", "d-failed"], strict=True):
        r["name"] = name
    replica.store_server_records("customer", records)
    for r in records[1:]:
        replica.customers.update(r["id"], {"city": "上海"})
    with replica.write() as conn:
        conn.execute(
            text(
                "INSERT INTO conflicts (entity, record_id, kind, fields, created_at) "
                "VALUES ('customer', :id, 'field', '[]', '2026-11-01 00:00:00.000000')"
            ),
            {"id": records[2]["id"]},
        )
        conn.execute(
            text(
                "UPDATE outbox SET status = 'failed', last_error = 'city is locked' "
                "WHERE record_id = :id"
            ),
            {"id": records[3]["id"]},
        )
    model = make_model()
    states = [model.data(model.index(r, M.SYNC), M.SyncStateRole) for r in range(4)]
    assert states == ["synced", "pending", "conflict", "failed"]
    shown = [model.data(model.index(r, M.SYNC)) for r in range(4)]
    assert shown == ["Synced", "Pending", "Conflict", "Failed"]
    tip = model.data(model.index(3, M.SYNC), Qt.ItemDataRole.ToolTipRole)
    assert "refused" in tip and "city is locked" in tip
    assert model.data(model.index(0, M.SYNC), Qt.ItemDataRole.DecorationRole) is None
    colors = {
        model.data(model.index(r, M.SYNC), Qt.ItemDataRole.ForegroundRole).color().name()
        for r in range(1, 4)
    }
    assert len(colors) == 3  # pending, conflict and failed each look different


def test_an_update_repaints_only_its_row(
    replica: Replica, events: DataEvents, make_model: Any, qtbot: QtBot
) -> None:
    records = server_records(30)
    replica.store_server_records("customer", records)
    model = make_model(window_size=10)
    names(model)  # the view showed every row
    target = model.record_id(7)
    assert target is not None
    resets: list[bool] = []
    changed: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(True))
    model.rowsInserted.connect(lambda *_: resets.append(True))
    model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), b.row())))

    replica.customers.update(target, {"city": "拉萨"})  # not a sorted or filtered field
    with qtbot.waitSignal(model.sig_refreshed, timeout=2000):
        events.announce("customer", [target])
    assert changed == [(7, 7)] and resets == []
    assert model.data(model.index(7, M.CITY)) == "拉萨"
    assert model.data(model.index(7, M.SYNC)) == "Pending"


def test_a_rename_that_moves_the_row_refreshes_in_place(
    replica: Replica, events: DataEvents, make_model: Any, qtbot: QtBot
) -> None:
    replica.store_server_records("customer", server_records(20))
    model = make_model()
    last = model.record_id(19)
    assert last is not None
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    replica.customers.update(last, {"name": "AAA 第一"})
    with qtbot.waitSignal(model.sig_refreshed, timeout=2000):
        events.announce("customer", [last])
    assert model.record_id(0) == last and resets == []
    assert model.row_of(last) == 0


def test_create_and_delete_change_the_count(
    replica: Replica, events: DataEvents, make_model: Any, qtbot: QtBot
) -> None:
    replica.store_server_records("customer", server_records(5))
    model = make_model()
    assert model.rowCount() == 5
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    rid = replica.customers.create({"name": "新客户"}).record_id
    with qtbot.waitSignal(model.sig_count_changed, timeout=2000) as blocker:
        events.announce("customer", [rid])
    assert blocker.args == [6] and model.rowCount() == 6 and inserted == [(5, 5)]
    assert rid in [model.record_id(r) for r in range(6)]

    replica.customers.delete(rid)
    with qtbot.waitSignal(model.sig_count_changed, timeout=2000):
        events.announce("customer", None)  # "maybe all of them": same outcome
    assert model.rowCount() == 5 and model.row_of(rid) is None


def test_announcements_are_gathered_and_others_ignored(
    replica: Replica, events: DataEvents, make_model: Any, qtbot: QtBot
) -> None:
    replica.store_server_records("customer", server_records(5))
    model = make_model(refresh_delay_ms=20)
    model.rowCount()
    before = model.frame_fetches
    for _ in range(5):  # a sync applying page after page
        events.announce("customer", None)
    events.announce("deal", None)
    with qtbot.waitSignal(model.sig_refreshed, timeout=2000):
        pass
    assert model.frame_fetches == before + 1
    events.announce("contact", ["x"])
    qtbot.wait(40)
    assert model.frame_fetches == before + 1


def test_follow_up_changes_check_the_rows_shown(
    replica: Replica, events: DataEvents, make_model: Any, qtbot: QtBot
) -> None:
    rid = replica.customers.create({"name": "跟进客户"}).record_id
    model = make_model()
    assert model.data(model.index(0, M.NEXT_FOLLOW_UP)) == ""
    when = datetime(2031, 1, 2, 3, 4, tzinfo=UTC)
    replica.follow_ups.create(
        {"customer_id": rid, "kind": "call", "content": "x", "happened_at": when}
    )
    replica.customers.update(rid, {"next_follow_up_at": when})
    changed: list[int] = []
    model.dataChanged.connect(lambda a, *_: changed.append(a.row()))
    with qtbot.waitSignal(model.sig_refreshed, timeout=2000):
        events.announce("follow_up", None)  # the writer announced only the follow-up
    assert changed == [0]
    assert model.data(model.index(0, M.NEXT_FOLLOW_UP)) == format_local_time(when)


def test_row_of_asks_sql_beyond_the_cached_windows(replica: Replica, make_model: Any) -> None:
    records = server_records(300)
    replica.store_server_records("customer", records)
    model = make_model(window_size=20)
    model.data(model.index(0, 0))
    somewhere = next(r["id"] for r in records if model.row_of(r["id"]) not in range(20))
    row = model.row_of(somewhere)
    assert row is not None and model.record_id(row) == somewhere
    assert model.row_of("00000000-0000-7000-8000-000000000000") is None
    assert model.index(0, 0, QModelIndex()).isValid()
