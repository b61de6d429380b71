"""The Conflicts page and the conflict dialog over conflicts made for real: two devices
(s1, and their manager m_east) sync against a real server process, edit the same records
while apart, and the second to sync gets the conflict.

The helpers here (server, devices, ways to make each kind of conflict) are shared with
``test_conflicts_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.conflict_dialog import ConflictDialog, ValueBox
from app.conflicts_page import ConflictsPage, ConflictTableModel
from app.events import DataEvents
from sync.account import ServerProfile, sign_in
from sync.conflict_view import MERGE_SEPARATOR, conflict_summaries
from sync.conflicts import list_conflicts
from sync.engine import SyncEngine
from sync.replica import Replica
from sync.transport import ServerClient
from tests.helpers.fixed_port_server import FixedPortServer, running_server
from tests.helpers.sync_devices import Device, server_record
from tests.server.conftest import PASSWORD

ME, OTHER = "s1", "m_east"


# --- a server and two devices ---------------------------------------------------------------


@pytest.fixture(scope="module")
def conflict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixedPortServer]:
    tmp = tmp_path_factory.mktemp("conflicts-server")
    with running_server(tmp) as server:
        yield server


def open_app_device(root: Path, name: str, url: str, user: str) -> Device:
    """A profile signed in the way the app signs in (``sync.account.sign_in``)."""
    replica = Replica.open(root / name)
    signed = sign_in(replica, url, user, PASSWORD, device=f"pytest-{name}", remember=False)
    client = ServerClient(signed.profile.config(), signed.token)
    return Device(name, user, replica, client, SyncEngine(replica, client))


@dataclass
class Pair:
    server: FixedPortServer
    mine: Device  # s1's laptop: the one that gets the conflicts
    theirs: Device  # m_east's laptop
    profile: ServerProfile  # mine's profile and device token (for a SyncController)
    token: str

    def sync_both(self) -> None:
        self.mine.sync()
        self.theirs.sync()

    def assert_equal(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """Both replicas hold the record exactly as the server does; nothing left queued."""
        expected = server_record(self.server.engine, entity, record_id)
        assert self.mine.record(entity, record_id) == expected
        assert self.theirs.record(entity, record_id) == expected
        for device in (self.mine, self.theirs):
            assert device.outbox() == [], device.name
            assert list_conflicts(device.replica) == [], device.name
        return expected


@pytest.fixture
def pair(conflict_server: FixedPortServer, tmp_path: Path) -> Iterator[Pair]:
    if not conflict_server.running():
        conflict_server.start()
    replica = Replica.open(tmp_path / "mine")
    signed = sign_in(
        replica, conflict_server.url, ME, PASSWORD, device="pytest-mine", remember=False
    )
    client = ServerClient(signed.profile.config(), signed.token)
    mine = Device("mine", ME, replica, client, SyncEngine(replica, client))
    theirs = open_app_device(tmp_path, "theirs", conflict_server.url, OTHER)
    try:
        yield Pair(conflict_server, mine, theirs, signed.profile, signed.token)
    finally:
        mine.close()
        theirs.close()


@pytest.fixture
def events() -> DataEvents:
    return DataEvents()


# --- making conflicts -------------------------------------------------------------------------

NOTES_MINE = "客户希望下周二上门演示。\n预算约 50 万，需先报价。"
NOTES_THEIRS = "经理已电话确认：演示改到周四下午。\n对方采购负责人：李娜。"


def shared_customer(pair: Pair, **values: Any) -> str:
    """A customer of s1 that both devices hold (synced)."""
    fields = {"name": "华东精密机械有限公司", "city": "上海", "notes": "初次拜访，有意向。"}
    fields.update(values)
    record_id = pair.mine.replica.customers.create(fields).record_id
    pair.sync_both()
    assert pair.theirs.replica.customers.get(record_id) is not None
    return record_id


def field_conflict(
    pair: Pair,
    record_id: str,
    mine: dict[str, Any],
    theirs: dict[str, Any],
    entity: str = "customer",
) -> None:
    """The same fields edited on both devices while apart: theirs syncs first."""
    pair.theirs.replica.repository(entity).update(record_id, theirs)
    pair.theirs.sync()
    pair.mine.replica.repository(entity).update(record_id, mine)
    pair.mine.sync()
    found = [(c.entity, c.record_id, c.kind) for c in list_conflicts(pair.mine.replica)]
    assert (entity, record_id, "field") in found


def deleted_conflict(pair: Pair, record_id: str, mine: dict[str, Any]) -> None:
    """I changed it; they deleted it."""
    pair.theirs.replica.customers.delete(record_id, cascade=True)
    pair.theirs.sync()
    pair.mine.replica.customers.update(record_id, mine)
    pair.mine.sync()
    assert [c.kind for c in list_conflicts(pair.mine.replica)] == ["deleted"]


def delete_vs_change_conflict(pair: Pair, record_id: str, theirs: dict[str, Any]) -> None:
    """I deleted it; they changed it."""
    pair.theirs.replica.customers.update(record_id, theirs)
    pair.theirs.sync()
    pair.mine.replica.customers.delete(record_id, cascade=True)
    pair.mine.sync()
    assert [c.kind for c in list_conflicts(pair.mine.replica)] == ["delete_vs_change"]


def make_page(qtbot: QtBot, pair: Pair, events: DataEvents) -> ConflictsPage:
    page = ConflictsPage(pair.mine.replica, events, ME)
    qtbot.addWidget(page)
    page.resize(1100, 600)
    page.show()
    return page


def cell(page: ConflictsPage, row: int, column: int) -> str:
    return str(page.model.data(page.model.index(row, column)))


# --- the page ---------------------------------------------------------------------------------


def test_empty_page_says_there_is_nothing_to_decide(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    page = make_page(qtbot, pair, events)
    assert page.conflict_count() == 0
    assert page.stack.currentWidget() is page.empty
    assert page.empty_text.text().startswith("No conflicts:")
    assert not page.resolve_button.isEnabled()
    assert page.open_conflict_for("customer", "nope") is None


def test_page_lists_each_conflict_with_fields_who_and_when(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    customer = shared_customer(pair, phone="021-5555 0101")
    contact = pair.mine.replica.contacts.create({"customer_id": customer, "name": "王伟"}).record_id
    pair.sync_both()
    page = make_page(qtbot, pair, events)
    assert page.conflict_count() == 0

    field_conflict(
        pair,
        customer,
        {"notes": NOTES_MINE, "city": "苏州"},
        {"notes": NOTES_THEIRS, "city": "杭州"},
    )
    field_conflict(pair, contact, {"title": "采购经理"}, {"title": "总经理"}, entity="contact")
    # The sync announces what it changed; the page refreshes by itself.
    events.announce("customer", None, from_sync=True)
    qtbot.waitUntil(lambda: page.conflict_count() == 2)
    assert page.stack.currentWidget() is page.table
    assert "2 record(s) need your decision" in page.summary.text()

    assert cell(page, 0, ConflictTableModel.RECORD) == "华东精密机械有限公司"
    assert cell(page, 0, ConflictTableModel.TYPE) == "Customer"
    assert set(cell(page, 0, ConflictTableModel.FIELDS).split(", ")) == {"Notes", "City"}
    assert cell(page, 0, ConflictTableModel.WHAT) == "Changed on both sides"
    assert cell(page, 0, ConflictTableModel.BY) == OTHER
    assert cell(page, 0, ConflictTableModel.WHEN)  # a local time
    assert cell(page, 1, ConflictTableModel.RECORD) == "王伟 of customer 华东精密机械有限公司"
    assert cell(page, 1, ConflictTableModel.TYPE) == "Contact"
    assert cell(page, 1, ConflictTableModel.FIELDS) == "Title"

    # "Open customer" opens the contact's customer.
    page.table.selectRow(1)
    with qtbot.waitSignal(page.sig_open_customer) as opened:
        page.open_customer_button.click()
    assert opened.args == [customer]

    # Enter opens the selected conflict; so does the workspace's "Resolve…".
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert page.dialog is not None and page.dialog.info.record_id == contact
    page.dialog.later_button.click()
    qtbot.waitUntil(lambda: page.dialog is None)
    dialog = page.open_conflict_for("customer", customer)
    assert dialog is not None and dialog.info.record_id == customer
    dialog.reject()
    assert page.conflict_count() == 2  # "decide later" changed nothing


def test_field_dialog_shows_both_sides_and_merges_long_text(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    customer = shared_customer(pair, level="B")
    field_conflict(
        pair, customer, {"notes": NOTES_MINE, "level": "A"}, {"notes": NOTES_THEIRS, "level": "C"}
    )
    page = make_page(qtbot, pair, events)
    dialog = page.open_row(0)
    assert isinstance(dialog, ConflictDialog)
    assert "m_east" in dialog.explanation.text()

    level = dialog.choice_for("level")
    assert (level.base_box.text, level.mine_box.text, level.theirs_box.text) == ("B", "A", "C")
    assert level.changed_label.text().startswith("Changed by m_east at ")
    notes = dialog.choice_for("notes")
    assert notes.base_box.text == "初次拜访，有意向。"
    assert notes.mine_box.text == NOTES_MINE and notes.theirs_box.text == NOTES_THEIRS
    # The merge editor holds both texts, for the user to edit; enabled once chosen.
    editor = notes.merged_editor
    assert editor.toPlainText() == f"{NOTES_MINE}\n{MERGE_SEPARATOR}\n{NOTES_THEIRS}"
    assert not notes.form.isEnabled()

    # Nothing chosen: Resolve says what is missing and writes nothing.
    dialog.resolve_button.click()
    assert dialog.message.isVisible() and "Level" in dialog.message.text()
    assert dialog.isVisible()

    dialog.keep_theirs_button.click()
    assert level.choice() == notes.choice() == "theirs"
    dialog.keep_mine_button.click()
    assert level.choice() == notes.choice() == "mine"
    assert level.mine_box.property("chosen") is True
    qtbot.mouseClick(level.theirs_box, Qt.MouseButton.LeftButton)  # a click on the value
    assert level.choice() == "theirs"

    # A merged value goes through the form's validation: empty notes are allowed...
    qtbot.mouseClick(notes.merged_radio, Qt.MouseButton.LeftButton)
    assert notes.form.isEnabled()
    editor.setPlainText("演示改到周四下午；预算约 50 万。")
    with (
        qtbot.waitSignal(page.sig_resolved),
        qtbot.waitSignal(events.sig_records_changed) as announced,
    ):
        dialog.resolve_button.click()
    assert announced.args == ["customer", frozenset({customer})]
    assert dialog.outcome == "fields"
    assert list_conflicts(pair.mine.replica) == []
    record = pair.mine.replica.customers.get(customer)
    assert record is not None
    assert record.values["notes"] == "演示改到周四下午；预算约 50 万。"
    assert record.values["level"] == "C"
    qtbot.waitUntil(lambda: page.conflict_count() == 0)


def test_invalid_merged_value_is_refused_inline(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    customer = shared_customer(pair, email="old@example.com")
    field_conflict(pair, customer, {"email": "mine@example.com"}, {"email": "their@example.com"})
    page = make_page(qtbot, pair, events)
    dialog = page.open_row(0)
    assert dialog is not None
    email = dialog.choice_for("email")
    assert email.merged_editor.text() == "mine@example.com"  # a short field starts from mine
    qtbot.mouseClick(email.merged_radio, Qt.MouseButton.LeftButton)
    email.merged_editor.setText("not an address")
    dialog.resolve_button.click()
    assert email.form.shown_errors() == {
        "email": "Enter an email address such as name@example.com."
    }
    assert dialog.isVisible() and dialog.outcome is None
    assert len(list_conflicts(pair.mine.replica)) == 1  # nothing written


def test_deleted_dialog_explains_and_offers_keep_or_delete(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    customer = shared_customer(pair)
    deleted_conflict(pair, customer, {"city": "南京"})
    page = make_page(qtbot, pair, events)
    assert cell(page, 0, ConflictTableModel.WHAT) == "You changed it; deleted elsewhere"
    dialog = page.open_row(0)
    assert dialog is not None
    assert "m_east deleted it on" in dialog.explanation.text()
    assert dialog.keep_button.text() == "Keep the record (with my changes)"
    assert dialog.delete_button.text() == "Delete it"
    assert dialog.keep_button.isEnabled()
    with qtbot.waitSignal(page.sig_resolved):
        dialog.delete_button.click()
    assert dialog.outcome == "delete"
    assert pair.mine.replica.customers.get(customer) is None


def test_delete_vs_change_dialog_shows_what_they_changed(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    customer = shared_customer(pair, city="上海")
    delete_vs_change_conflict(pair, customer, {"city": "杭州", "level": "A"})
    page = make_page(qtbot, pair, events)
    assert cell(page, 0, ConflictTableModel.WHAT) == "You deleted it; changed elsewhere"
    assert cell(page, 0, ConflictTableModel.RECORD) == "华东精密机械有限公司"
    dialog = page.open_row(0)
    assert dialog is not None
    assert dialog.explanation.text().startswith("You deleted this customer; m_east changed it")
    assert dialog.keep_button.text() == "Keep the record (with their changes)"
    assert dialog.delete_button.text() == "Delete it anyway"
    shown = [box.text for box in dialog.findChildren(ValueBox)]
    assert {"上海", "杭州", "A"} <= set(shown)
    with qtbot.waitSignal(page.sig_resolved):
        dialog.keep_button.click()
    assert dialog.outcome == "keep"
    record = pair.mine.replica.customers.get(customer)
    assert record is not None and record.values["city"] == "杭州"


def test_summaries_name_children_by_their_customer(pair: Pair) -> None:
    customer = shared_customer(pair)
    deal = pair.mine.replica.deals.create(
        {"customer_id": customer, "title": "数控机床 3 台", "amount": "125000"}
    ).record_id
    pair.sync_both()
    field_conflict(pair, deal, {"amount": "118000"}, {"amount": "130000"}, entity="deal")
    (summary,) = conflict_summaries(pair.mine.replica)
    assert (summary.entity, summary.name, summary.customer_id, summary.customer_name) == (
        "deal",
        "数控机床 3 台",
        customer,
        "华东精密机械有限公司",
    )
    assert summary.fields == ("amount",) and summary.changed_by == (OTHER,)
