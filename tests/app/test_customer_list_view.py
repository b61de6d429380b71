"""The customer list view: debounced search, filters, opening a customer, first paint."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel
from pytestqt.qtbot import QtBot

from app.customer_list_view import CustomerListView
from app.customer_table_model import CustomerTableModel as M
from app.events import DataEvents
from sync.demo_data import CustomerFactory
from sync.replica import Replica


@pytest.fixture
def view(replica: Replica, qtbot: QtBot) -> CustomerListView:
    records = list(CustomerFactory(11).server_customers(300, owner_id="u2"))
    replica.store_server_records("customer", records)
    replica.customers.create({"name": "张三丰", "mobile": "139 1234 5678", "owner_id": "u1"})
    widget = CustomerListView(replica, DataEvents(), "u1")
    qtbot.addWidget(widget)
    widget.resize(1000, 500)
    return widget


def test_typing_fast_runs_one_search(view: CustomerListView, qtbot: QtBot) -> None:
    model = view.model
    assert model.rowCount() == 301
    assert view.search_field.placeholderText() and view.search_field.isClearButtonEnabled()
    before = model.frame_fetches
    qtbot.keyClicks(view.search_field, "zsf")  # three keystrokes, well within the pause
    assert model.frame_fetches == before  # nothing searched yet
    qtbot.waitUntil(lambda: model.frame_fetches > before, timeout=2000)
    qtbot.wait(200)  # longer than the pause: no second search comes
    assert model.frame_fetches == before + 1
    assert model.search_text == "zsf"
    found = [model.data(model.index(r, M.NAME)) for r in range(model.rowCount())]
    assert "张三丰" in found
    assert view.findChild(QLabel, "customerCount").text() == "1 customer"
    view.search_field.clear()
    view.flush_search()
    assert view.findChild(QLabel, "customerCount").text() == "301 customers"


def test_filters_reach_the_model(view: CustomerListView) -> None:
    model = view.model
    level = view.findChild(QComboBox, "levelFilter")
    status = view.findChild(QComboBox, "statusFilter")
    owner = view.findChild(QComboBox, "ownerFilter")
    mine = view.findChild(QCheckBox, "mineFilter")
    assert level.itemText(0) == "All levels" and status.itemText(0) == "All statuses"
    level.setCurrentIndex(level.findData("B"))
    levels = {model.data(model.index(r, M.LEVEL), M.SortKeyRole) for r in range(model.rowCount())}
    assert levels == {"B"}
    level.setCurrentIndex(0)
    status.setCurrentIndex(status.findData("lost"))
    assert 0 < model.rowCount() < 301
    status.setCurrentIndex(0)
    mine.setChecked(True)
    assert model.rowCount() == 1 and model.data(model.index(0, M.NAME)) == "张三丰"
    mine.setChecked(False)
    owner.showPopup()  # reads the owners as it opens
    owner.hidePopup()
    assert [owner.itemData(i) for i in range(owner.count())] == [None, "u1", "u2"]
    assert owner.itemText(1) == "u1 (me)"
    owner.setCurrentIndex(owner.findData("u2"))
    assert model.rowCount() == 300


def test_header_click_sorts_in_sql_and_unsortable_columns_stay_put(
    view: CustomerListView, qtbot: QtBot
) -> None:
    view.show()
    qtbot.waitExposed(view)
    header = view.table.horizontalHeader()
    city = QPoint(header.sectionViewportPosition(M.CITY) + 5, 5)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=city)
    assert view.model.sort_column == M.CITY
    header.setSortIndicator(M.SYNC, Qt.SortOrder.AscendingOrder)  # not sortable
    assert header.sortIndicatorSection() == M.CITY and view.model.sort_column == M.CITY


def test_double_click_and_enter_open_the_customer(view: CustomerListView, qtbot: QtBot) -> None:
    view.show()
    qtbot.waitExposed(view)
    table = view.table
    rect = table.visualRect(view.model.index(2, M.NAME))
    expected = view.model.record_id(2)
    # A real double-click starts with a press: the view opens only the row pressed.
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(view.sig_open_customer, timeout=1000) as opened:
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [expected]

    table.setFocus()
    view.select_customer(view.model.record_id(5) or "")
    assert view.current_record_id() == view.model.record_id(5)
    with qtbot.waitSignal(view.sig_open_customer, timeout=1000) as opened:
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert opened.args == [view.model.record_id(5)]


def test_first_paint_is_announced_once(view: CustomerListView, qtbot: QtBot) -> None:
    seen: list[bool] = []
    view.sig_first_paint.connect(lambda: seen.append(True))
    with qtbot.waitSignal(view.sig_first_paint, timeout=2000):
        view.show()
        qtbot.waitExposed(view)
    view.table.viewport().repaint()
    view.resize(900, 450)
    qtbot.wait(50)
    assert seen == [True]


def test_layout_round_trip(view: CustomerListView, replica: Replica, qtbot: QtBot) -> None:
    header = view.table.horizontalHeader()
    header.resizeSection(M.COMPANY, 311)
    header.moveSection(header.visualIndex(M.CITY), 0)
    view.model.sort(M.NEXT_FOLLOW_UP, Qt.SortOrder.DescendingOrder)
    header.setSortIndicator(M.NEXT_FOLLOW_UP, Qt.SortOrder.DescendingOrder)
    saved = view.save_layout()
    assert isinstance(saved, bytes) and saved

    other = CustomerListView(replica, DataEvents(), "u1")
    qtbot.addWidget(other)
    other.restore_layout(saved)
    restored = other.table.horizontalHeader()
    assert restored.sectionSize(M.COMPANY) == 311
    assert restored.visualIndex(M.CITY) == 0
    assert other.model.sort_column == M.NEXT_FOLLOW_UP
    assert other.model.sort_order == Qt.SortOrder.DescendingOrder
    other.restore_layout(b"not a layout")  # ignored
    assert other.model.sort_column == M.NEXT_FOLLOW_UP


def test_focus_search_selects_the_text(view: CustomerListView, qtbot: QtBot) -> None:
    view.show()
    qtbot.waitExposed(view)
    view.search_field.setText("wang")
    view.table.setFocus()
    view.focus_search()
    qtbot.waitUntil(view.search_field.hasFocus, timeout=1000)
    assert view.search_field.selectedText() == "wang"


def test_selection_follows_the_customer_when_rows_move(view: CustomerListView) -> None:
    model = view.model
    target = model.record_id(150)
    assert target is not None
    assert view.select_customer(target)
    view.search_field.setText(model.data(model.index(150, M.NAME)))
    view.flush_search()  # the list changes under the selection
    assert view.current_record_id() == target
    assert not view.select_customer("00000000-0000-7000-8000-000000000000")
