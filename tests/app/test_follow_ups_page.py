"""The Follow-ups page and its lazy model: windows, filters, SQL sorting, refreshes, and
opening the customer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from app.events import DataEvents
from app.follow_up_table_model import FollowUpTableModel
from app.follow_ups_page import FollowUpsPage
from sync.replica import Replica

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KINDS = ("call", "visit", "email", "wechat", "meeting")


@pytest.fixture
def events() -> DataEvents:
    return DataEvents()


@pytest.fixture
def filled(replica: Replica) -> dict[str, Any]:
    """Two customers; 25 follow-ups of 张伟 (one a day), 5 of 李娜."""
    zhang = replica.customers.create({"name": "张伟", "company": "华为技术"}).record_id
    li = replica.customers.create({"name": "李娜", "company": "阿里巴巴"}).record_id
    ids: list[str] = []
    for n in range(30):
        customer = zhang if n < 25 else li
        ids.append(
            replica.follow_ups.create(
                {
                    "customer_id": customer,
                    "kind": KINDS[n % 5],
                    "content": f"第{n}次沟通\n详细记录",
                    "happened_at": T0 + timedelta(days=n),
                    "next_action": "发报价单" if n % 2 else None,
                    "next_action_at": T0 + timedelta(days=40 - n) if n % 2 else None,
                    "done": n % 3 == 0,
                }
            ).record_id
        )
    return {"zhang": zhang, "li": li, "ids": ids}


def column_texts(model: FollowUpTableModel, column: int) -> list[str]:
    return [model.data(model.index(r, column)) for r in range(model.rowCount())]


def test_model_reads_windows_lazily(replica: Replica, events: DataEvents, filled: Any) -> None:
    model = FollowUpTableModel(replica, events, window_size=10, max_windows=2)
    assert model.rowCount() == 30
    assert model.window_fetches == 0
    first = model.index(0, FollowUpTableModel.CONTENT)
    assert model.data(first) == "第29次沟通 …"  # newest first, first line
    assert model.window_fetches == 1
    assert model.data(model.index(25, FollowUpTableModel.CUSTOMER)) == "张伟"
    assert model.data(model.index(0, FollowUpTableModel.CUSTOMER)) == "李娜"
    assert model.window_fetches == 2
    model.data(model.index(15, 0))  # a third window: the least recently used one goes
    assert model.window_fetches == 3
    model.data(model.index(0, 0))  # still held
    assert model.window_fetches == 3
    model.data(model.index(25, 0))  # was dropped: read again
    assert model.window_fetches == 4
    row = model.index(0, FollowUpTableModel.KIND)
    assert model.data(row) == "Meeting"  # 29 % 5 == 4
    assert model.data(model.index(0, FollowUpTableModel.SYNC)) == "Pending"
    assert model.data(row, FollowUpTableModel.CustomerIdRole) == filled["li"]
    assert model.data(row, FollowUpTableModel.RecordIdRole) == filled["ids"][29]
    assert model.data(model.index(30, 0)) is None


def test_model_sorts_in_sql(replica: Replica, events: DataEvents, filled: Any) -> None:
    model = FollowUpTableModel(replica, events)
    model.sort(FollowUpTableModel.HAPPENED_AT, Qt.SortOrder.AscendingOrder)
    assert model.data(model.index(0, FollowUpTableModel.CONTENT)) == "第0次沟通 …"
    model.sort(FollowUpTableModel.NEXT_ACTION_AT, Qt.SortOrder.AscendingOrder)
    ids = [model.record_id(r) for r in range(model.rowCount())]
    # Earliest next action first (the latest follow-up), those without one last.
    assert ids[0] == filled["ids"][29]
    assert ids[14] == filled["ids"][1]
    assert model.data(model.index(29, FollowUpTableModel.NEXT_ACTION_AT)) == ""
    model.sort(FollowUpTableModel.KIND, Qt.SortOrder.AscendingOrder)  # not sortable: ignored
    assert model.sort_column == FollowUpTableModel.NEXT_ACTION_AT
    assert model.row_of(filled["ids"][1]) == 14


def test_model_filters(replica: Replica, events: DataEvents, filled: Any) -> None:
    model = FollowUpTableModel(replica, events)
    counts: list[int] = []
    model.sig_count_changed.connect(counts.append)
    model.set_filters(kind="visit")
    assert model.rowCount() == 6
    assert set(column_texts(model, FollowUpTableModel.KIND)) == {"Visit"}
    model.set_filters(done=True)
    assert model.rowCount() == 10
    assert set(column_texts(model, FollowUpTableModel.DONE)) == {"✓"}
    model.set_filters(customer_id=filled["li"])
    assert model.rowCount() == 5
    model.set_filters(customer_search="zw")
    assert model.rowCount() == 25
    model.set_filters(happened_from=T0 + timedelta(days=5), happened_until=T0 + timedelta(days=8))
    assert model.rowCount() == 3
    assert counts == [6, 10, 5, 25, 3]


def test_model_follows_announcements(
    qtbot: QtBot, replica: Replica, events: DataEvents, filled: Any
) -> None:
    model = FollowUpTableModel(replica, events)
    model.set_filters(done=False)
    assert model.rowCount() == 20
    newest = model.record_id(0)
    assert newest is not None
    replica.follow_ups.update(newest, {"done": True})
    with qtbot.waitSignal(model.rowsRemoved):
        events.announce("follow_up", {newest})
    assert model.rowCount() == 19
    assert model.record_id(0) != newest
    replica.customers.update(filled["li"], {"name": "李娜娜"})
    with qtbot.waitSignal(model.sig_refreshed):
        events.announce("customer", {filled["li"]})
    assert model.data(model.index(0, FollowUpTableModel.CUSTOMER)) == "李娜娜"


def test_page_filters_and_opens_customer(
    qtbot: QtBot, replica: Replica, events: DataEvents, filled: Any, shanghai_time: None
) -> None:
    page = FollowUpsPage(replica, events, "s1")
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    assert page.count_label.text() == "30 follow-ups"

    page.kind.setCurrentIndex(page.kind.findData("call"))
    assert page.model.rowCount() == 6
    page.state.setCurrentIndex(page.state.findData(False))  # open
    assert page.model.rowCount() == 4
    page.kind.setCurrentIndex(0)
    page.state.setCurrentIndex(0)

    qtbot.keyClicks(page.search, "lina")  # pinyin (keyClicks types ASCII only)
    qtbot.waitUntil(lambda: page.model.rowCount() == 5)
    assert page.count_label.text() == "5 follow-ups"
    page.search.clear()
    page.apply_filters()
    assert page.model.rowCount() == 30

    # Local days in Shanghai: 2026-05-03 .. 2026-05-05 (inclusive) hold follow-ups 2, 3, 4.
    page.set_dates(date(2026, 5, 3), date(2026, 5, 5))
    assert page.model.rowCount() == 3
    page.set_dates(None, None)
    assert page.date_from.text() == "Any"

    page.set_customer(filled["li"])
    assert page.search.text() == "李娜" and page.model.rowCount() == 5
    with qtbot.waitSignal(page.sig_open_customer) as opened:
        index = page.model.index(0, FollowUpTableModel.CONTENT)
        page.table.doubleClicked.emit(index)
    assert opened.args == [filled["li"]]
    page.set_customer(None)
    assert page.model.rowCount() == 30
    page._open_index(QModelIndex())  # nothing selected: nothing happens
