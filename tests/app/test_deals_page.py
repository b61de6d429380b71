"""The Deals page: its lazy model, the pipeline chart, quick stage changes, and one stage
change synced to a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QToolButton
from pytestqt.qtbot import QtBot

from app.deal_table_model import DealTableModel
from app.deals_page import DealsPage, next_stage
from app.events import DataEvents
from sync import outbox
from sync.account import sign_in
from sync.engine import SyncEngine
from sync.replica import Replica
from sync.transport import ServerClient
from tests.helpers.fixed_port_server import FixedPortServer, running_server
from tests.helpers.sync_devices import server_record
from tests.server.conftest import PASSWORD

WAIT_MS = 5_000


@pytest.fixture
def events() -> DataEvents:
    return DataEvents()


@pytest.fixture
def book(replica: Replica) -> dict[str, str]:
    """u1 (the signed-in user) owns 张三 and 李四, u2 owns 王五; seven live deals."""
    replica.set_meta("user_id", "u1")
    zhang = replica.customers.create({"name": "张三", "owner_id": "u1"}).record_id
    li = replica.customers.create({"name": "李四", "owner_id": "u1"}).record_id
    wang = replica.customers.create({"name": "王五", "owner_id": "u2"}).record_id

    def deal(customer: str, title: str, stage: str, amount: str | None, **more: object) -> str:
        values = {"customer_id": customer, "title": title, "stage": stage, "amount": amount}
        values.update({"owner_id": None, **more})
        return replica.deals.create(values).record_id

    return {
        "zhang": zhang,
        "li": li,
        "wang": wang,
        "a": deal(zhang, "服务器扩容", "initial", "120000.00", probability=30),
        "b": deal(zhang, "软件许可", "qualified", "80000.50"),
        "c": deal(li, "Pilot", "proposal", "5000.00", currency="USD"),
        "d": deal(li, "年度框架", "negotiation", "300000.00"),
        "e": deal(li, "售后服务", "won", "45000.00"),
        "f": deal(wang, "扩容二期", "lost", "9000.00"),
        "g": deal(wang, "新项目", "initial", None),
    }


def _outbox_stages(replica: Replica, deal_id: str) -> list[str]:
    """The stage each queued edit of the deal sets (creates included)."""
    with replica.read() as conn:
        return [
            m.fields["stage"].new
            for m in outbox.list_mutations(conn)
            if m.record_id == deal_id and "stage" in m.fields
        ]


# --- the model ---------------------------------------------------------------------------


def test_model_reads_windows_lazily(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1", window_size=3, max_windows=2)
    assert model.rowCount() == 7
    assert model.window_fetches == 0  # counting reads no rows
    assert model.data(model.index(0, DealTableModel.TITLE)) is not None
    assert model.window_fetches == 1
    model.data(model.index(6, DealTableModel.TITLE))  # the third window
    model.data(model.index(4, DealTableModel.TITLE))  # the second
    assert model.window_fetches == 3
    model.data(model.index(0, DealTableModel.TITLE))  # evicted: read again
    assert model.window_fetches == 4
    ids = [model.record_id(r) for r in range(7)]
    assert len(set(ids)) == 7


def test_model_shows_translated_stage_money_and_owner(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1")
    model.sort(DealTableModel.STAGE, Qt.SortOrder.AscendingOrder)
    row = model.row_of(book["c"])
    assert row is not None

    def text(column: int) -> str:
        return str(model.data(model.index(row, column)))

    assert text(DealTableModel.TITLE) == "Pilot"
    assert text(DealTableModel.CUSTOMER) == "李四"
    assert text(DealTableModel.STAGE) == "Proposal"
    assert "5" in text(DealTableModel.AMOUNT) and text(DealTableModel.AMOUNT).endswith("USD")
    assert text(DealTableModel.OWNER) == "u1"  # the customer's owner
    assert text(DealTableModel.SYNC) == "Pending"
    index = model.index(row, DealTableModel.STAGE)
    assert model.data(index, Qt.ItemDataRole.EditRole) == "proposal"
    assert model.flags(index) & Qt.ItemFlag.ItemIsEditable
    assert not model.flags(model.index(row, DealTableModel.TITLE)) & Qt.ItemFlag.ItemIsEditable
    assert (
        model.data(model.index(row, DealTableModel.CUSTOMER), DealTableModel.CustomerIdRole)
        == (book["li"])
    )
    no_amount = model.row_of(book["g"])
    assert no_amount is not None
    assert model.data(model.index(no_amount, DealTableModel.AMOUNT)) == ""


def test_model_sorts_in_sql(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1")

    def column_keys(column: int) -> list[object]:
        return [
            model.data(model.index(r, column), DealTableModel.SortKeyRole)
            for r in range(model.rowCount())
        ]

    model.sort(DealTableModel.STAGE, Qt.SortOrder.AscendingOrder)
    assert column_keys(DealTableModel.STAGE) == [
        "initial",
        "initial",
        "qualified",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    model.sort(DealTableModel.CUSTOMER, Qt.SortOrder.DescendingOrder)  # pinyin: Zhang first
    assert column_keys(DealTableModel.CUSTOMER)[0] == "张三"
    model.sort(DealTableModel.SYNC, Qt.SortOrder.AscendingOrder)  # not sortable: ignored
    assert model.sort_column == DealTableModel.CUSTOMER


def test_model_filters_stage_mine_and_open(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1")
    counts: list[int] = []
    model.sig_count_changed.connect(counts.append)
    model.set_filters(stage="initial")
    assert model.rowCount() == 2
    model.set_scope("mine")
    assert model.rowCount() == 1 and model.record_id(0) == book["a"]
    model.set_filters(open_only=True)
    assert {model.record_id(r) for r in range(model.rowCount())} == {book[k] for k in "abcd"}
    model.set_scope("team")
    assert model.rowCount() == 5
    model.set_user_id(None)
    model.set_scope("mine")
    assert model.rowCount() == 0  # nobody signed in: nothing is mine
    assert counts == [2, 1, 4, 5, 0]


def test_model_follows_announcements(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1", refresh_delay_ms=0)
    model.set_scope("mine")
    assert model.rowCount() == 5
    # 王五 passes to u1: his deals become "mine".
    replica.customers.update(book["wang"], {"owner_id": "u1"})
    with qtbot.waitSignal(model.sig_count_changed, timeout=WAIT_MS) as blocker:
        events.announce("customer", {book["wang"]}, from_sync=True)
    assert blocker.args == [7]
    # A renamed customer changes the rows in place.
    row = model.row_of(book["a"])
    assert row is not None
    assert model.data(model.index(row, DealTableModel.CUSTOMER)) == "张三"  # a window held
    replica.customers.update(book["zhang"], {"name": "张三丰"})
    with qtbot.waitSignal(model.dataChanged, timeout=WAIT_MS):
        events.announce("customer", {book["zhang"]}, from_sync=True)
    assert model.data(model.index(row, DealTableModel.CUSTOMER)) == "张三丰"


def test_set_data_on_stage_writes_and_announces(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1")
    row = model.row_of(book["d"])
    assert row is not None
    with qtbot.waitSignal(events.sig_records_changed, timeout=WAIT_MS) as changed:
        assert model.setData(model.index(row, DealTableModel.STAGE), "won")
    assert changed.args == ["deal", frozenset({book["d"]})]
    deal = replica.deals.get(book["d"])
    assert deal is not None and deal["stage"] == "won"
    assert _outbox_stages(replica, book["d"]) == ["negotiation", "won"]
    # Other columns are not edited in the list.
    assert not model.setData(model.index(row, DealTableModel.TITLE), "x")


def test_refused_stage_change_says_why(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    model = DealTableModel(replica, events, "u1")
    with qtbot.waitSignal(model.sig_write_failed, timeout=WAIT_MS) as refused:
        assert not model.move_to_stage(book["a"], "closed")  # not a stage
    assert refused.args[0]
    replica.deals.delete(book["b"])
    with qtbot.waitSignal(model.sig_write_failed, timeout=WAIT_MS) as gone:
        assert not model.move_to_stage(book["b"], "won")
    assert "deleted" in gone.args[0]


# --- the page ----------------------------------------------------------------------------


@pytest.fixture
def page(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> Iterator[DealsPage]:
    shown = DealsPage(replica, events, "u1", refresh_delay_ms=0)
    qtbot.addWidget(shown)
    shown.resize(1100, 700)
    shown.show()
    qtbot.waitExposed(shown)
    yield shown


def test_page_starts_with_my_deals_and_switches_to_team(
    qtbot: QtBot, page: DealsPage, book: dict[str, str]
) -> None:
    assert page.scope == "mine"
    summary = page.chart.summary
    assert summary is not None and summary.total_count == 5
    assert page.model.rowCount() == 5
    assert "CNY" in page.headline
    qtbot.mouseClick(page.findChild(QToolButton, "teamScope"), Qt.MouseButton.LeftButton)
    assert page.scope == "team"
    summary = page.chart.summary
    assert summary is not None and summary.total_count == 7
    assert page.model.rowCount() == 7
    assert summary.main_currency == "CNY" and summary.other_currencies == ("USD",)
    assert "USD" in page.chart.footnote_text()


def test_signed_out_page_shows_the_team(
    qtbot: QtBot, replica: Replica, events: DataEvents, book: dict[str, str]
) -> None:
    page = DealsPage(replica, events, None)
    qtbot.addWidget(page)
    assert page.scope == "team" and page.model.rowCount() == 7
    page.set_scope("mine")  # not signed in: refused
    assert page.scope == "team"
    page.set_user_id("u1")  # the first sign-in: "my deals" becomes the view
    assert page.scope == "mine" and page.model.rowCount() == 5


def test_chart_bar_click_filters_the_list(
    qtbot: QtBot, page: DealsPage, book: dict[str, str]
) -> None:
    chart = page.chart
    chart_text = chart.bar_text("initial")
    assert chart_text.startswith("1 deal")
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=chart.stage_rect("proposal").center())
    assert page.stage_filter == "proposal"
    assert chart.selected_stage == "proposal"
    assert page.model.rowCount() == 1 and page.model.record_id(0) == book["c"]
    assert "Proposal" in chart.tooltip_text("proposal")
    # The same bar again: every stage.
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=chart.stage_rect("proposal").center())
    assert page.stage_filter is None and chart.selected_stage is None
    assert page.model.rowCount() == 5
    # Won and lost sit below the rule, apart from the open stages.
    assert chart.stage_rect("won").top() > chart.stage_rect("negotiation").bottom() + 1


def test_context_menu_moves_the_deal_and_the_chart_follows(
    qtbot: QtBot, page: DealsPage, replica: Replica, book: dict[str, str]
) -> None:
    summary = page.chart.summary
    assert summary is not None
    won_before = summary.stage("won").count
    assert page.select_deal(book["d"])
    row = page.model.row_of(book["d"])
    assert row is not None
    menu = page.context_menu(row)
    assert menu is not None
    stages = next(a.menu() for a in menu.actions() if a.menu() is not None)
    won = next(a for a in stages.actions() if a.data() == "won")
    assert not won.isChecked()
    won.trigger()
    assert _outbox_stages(replica, book["d"]) == ["negotiation", "won"]

    def chart_updated() -> bool:
        current = page.chart.summary
        return current is not None and current.stage("won").count == won_before + 1

    qtbot.waitUntil(chart_updated, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: page.model.data(page.model.index(page.model.row_of(book["d"]) or 0, 2)) == "Won",
        timeout=WAIT_MS,
    )
    assert page.current_deal_id() == book["d"]  # the selection follows the deal


def test_keyboard_moves_to_next_and_previous_stage(
    qtbot: QtBot, page: DealsPage, replica: Replica, book: dict[str, str]
) -> None:
    assert page.select_deal(book["a"])
    page.table.setFocus()
    page.activateWindow()
    qtbot.waitUntil(page.table.hasFocus, timeout=WAIT_MS)
    qtbot.keyClick(page.table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    deal = replica.deals.get(book["a"])
    assert deal is not None and deal["stage"] == "qualified"
    qtbot.waitUntil(lambda: page.current_deal_id() == book["a"], timeout=WAIT_MS)
    qtbot.keyClick(page.table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(page.table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # at the start
    deal = replica.deals.get(book["a"])
    assert deal is not None and deal["stage"] == "initial"
    assert _outbox_stages(replica, book["a"]) == ["initial", "qualified", "initial"]


def test_next_stage_walks_the_pipeline() -> None:
    assert next_stage("initial", 1) == "qualified"
    assert next_stage("negotiation", 1) == "won"
    assert next_stage("won", 1) is None
    assert next_stage("initial", -1) is None
    assert next_stage("lost", 1) is None
    assert next_stage("lost", -1) == "negotiation"
    assert next_stage("won", -1) == "negotiation"


def test_stage_drop_down_writes_the_choice(
    qtbot: QtBot, page: DealsPage, replica: Replica, book: dict[str, str]
) -> None:
    row = page.model.row_of(book["b"])
    assert row is not None
    index = page.model.index(row, DealTableModel.STAGE)
    page.table.setCurrentIndex(index)
    page.table.edit(index)
    combo = page.table.findChild(QComboBox, "stageEditor")
    assert combo is not None and combo.currentData() == "qualified"
    at = combo.findData("proposal")
    combo.setCurrentIndex(at)
    combo.activated.emit(at)
    deal = replica.deals.get(book["b"])
    assert deal is not None and deal["stage"] == "proposal"


def test_double_click_opens_the_customer(
    qtbot: QtBot, page: DealsPage, book: dict[str, str]
) -> None:
    row = page.model.row_of(book["e"])
    assert row is not None
    index = page.model.index(row, DealTableModel.TITLE)
    rect = page.table.visualRect(index)
    viewport = page.table.viewport()
    # A real double-click starts with a press: the view opens only the row pressed.
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(page.sig_open_customer, timeout=WAIT_MS) as opened:
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [book["li"]]
    page.table.setFocus()
    with qtbot.waitSignal(page.sig_open_customer, timeout=WAIT_MS) as entered:
        qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert entered.args == [book["li"]]


def test_edit_deal_opens_its_dialog(qtbot: QtBot, page: DealsPage, book: dict[str, str]) -> None:
    dialog = page.edit_deal(book["a"])
    assert dialog is not None and dialog.isVisible()
    dialog.reject()
    assert page.edit_deal("no-such-deal") is None


def test_empty_chart_says_so(qtbot: QtBot, replica: Replica, events: DataEvents) -> None:
    page = DealsPage(replica, events, "u1")
    qtbot.addWidget(page)
    summary = page.chart.summary
    assert summary is not None and summary.total_count == 0
    assert page.headline == "" and page.chart.footnote_text() == ""
    page.chart.grab()  # paints the empty state without error
    assert page.model.rowCount() == 0


# --- end to end --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixedPortServer]:
    tmp = tmp_path_factory.mktemp("deals-page-server")
    with running_server(tmp) as server:
        yield server


def _sync(replica: Replica, url: str, user: str) -> None:
    signed = sign_in(replica, url, user, PASSWORD, device=f"pytest-{user}", remember=False)
    with ServerClient(signed.profile.config(), signed.token) as client:
        SyncEngine(replica, client).sync_once()


def test_stage_change_on_the_page_reaches_the_server_and_the_manager(
    qtbot: QtBot, own_server: FixedPortServer, tmp_path: Path
) -> None:
    seller = Replica.open(tmp_path / "s1")
    manager = Replica.open(tmp_path / "m_east")
    try:
        _sync(seller, own_server.url, "s1")
        customer = seller.customers.create({"name": "杭州云帆科技"}).record_id
        deal = seller.deals.create(
            {"customer_id": customer, "title": "服务器扩容", "amount": "250000.00"}
        ).record_id
        _sync(seller, own_server.url, "s1")
        events = DataEvents()
        page = DealsPage(seller, events, "s1", refresh_delay_ms=0)
        qtbot.addWidget(page)
        assert page.scope == "mine" and page.model.rowCount() == 1
        assert page.move_to_stage(deal, "negotiation")
        _sync(seller, own_server.url, "s1")
        on_server = server_record(own_server.engine, "deal", deal)
        assert on_server is not None and on_server["stage"] == "negotiation"
        assert seller.deals.get(deal) is not None
        assert _outbox_stages(seller, deal) == []  # nothing left to send

        # The team's manager sees it in the team pipeline after a sync.
        _sync(manager, own_server.url, "m_east")
        manager_page = DealsPage(manager, DataEvents(), "m_east")
        qtbot.addWidget(manager_page)
        assert manager_page.scope == "mine"  # m_east owns no customer
        summary = manager_page.chart.summary
        assert summary is not None and summary.total_count == 0
        manager_page.set_scope("team")
        summary = manager_page.chart.summary
        assert summary is not None and summary.stage("negotiation").count == 1
        assert str(summary.stage("negotiation").amount("CNY")) == "250000.00"
    finally:
        seller.close()
        manager.close()
