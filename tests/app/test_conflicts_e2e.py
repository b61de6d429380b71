"""Conflicts end to end: two devices and a real server process; the user settles each
conflict through the real dialog (clicks on its radio buttons and buttons), both devices
sync, and both replicas end up equal to the server's record.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.conflict_dialog import ConflictDialog
from app.conflicts_page import ConflictsPage
from app.events import DataEvents
from app.sync_worker import SyncController
from sync.conflicts import list_conflicts
from sync.engine import SyncState
from tests.app import test_conflicts_page as shared
from tests.app.test_conflicts_page import (
    NOTES_MINE,
    NOTES_THEIRS,
    Pair,
    delete_vs_change_conflict,
    deleted_conflict,
    field_conflict,
    make_page,
    shared_customer,
)
from tests.helpers.sync_devices import server_record

WAIT_MS = 15_000

# The server, the two devices and the data events of the page tests.
conflict_server = shared.conflict_server
pair = shared.pair
events = shared.events


def open_dialog(page: ConflictsPage) -> ConflictDialog:
    page.refresh()
    assert page.conflict_count() == 1
    dialog = page.open_row(0)
    assert dialog is not None
    return dialog


def click(qtbot: QtBot, widget: object) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


@pytest.fixture
def controller(qtbot: QtBot, pair: Pair, events: DataEvents) -> Iterator[SyncController]:
    """The app's sync controller over s1's replica, wired to the page as the main window
    wires it: a resolution recounts at once and asks for a sync."""
    sync = SyncController(pair.mine.replica, events, edit_debounce_ms=50)
    try:
        yield sync
    finally:
        sync.stop()


def test_conflict_shows_in_page_and_status_and_theirs_wins(
    qtbot: QtBot, pair: Pair, events: DataEvents, controller: SyncController
) -> None:
    customer = shared_customer(pair, phone="021-5555 0101")
    pair.theirs.replica.customers.update(customer, {"phone": "021-5555 0202"})
    pair.theirs.sync()
    pair.mine.replica.customers.update(customer, {"phone": "021-5555 0303"})  # offline edit

    page = make_page(qtbot, pair, events)
    page.sig_resolved.connect(controller.refresh_counts)
    page.sig_resolved.connect(controller.request_sync)
    assert page.conflict_count() == 0
    with qtbot.waitSignal(controller.sig_finished, timeout=WAIT_MS):
        controller.start(pair.profile, pair.token, interval_s=0)
    # The second to sync sees the conflict: in the status and, once announced, the page.
    assert controller.status.conflicts == 1
    qtbot.waitUntil(lambda: page.conflict_count() == 1, timeout=WAIT_MS)

    dialog = page.open_row(0)
    assert dialog is not None
    phone = dialog.choice_for("phone")
    assert (phone.mine_box.text, phone.theirs_box.text) == ("021-5555 0303", "021-5555 0202")
    click(qtbot, phone.theirs_radio)
    with qtbot.waitSignal(controller.sig_finished, timeout=WAIT_MS):
        click(qtbot, dialog.resolve_button)
        assert controller.status.conflicts == 0  # at once, before the sync
    qtbot.waitUntil(lambda: controller.status.state is SyncState.ONLINE, timeout=WAIT_MS)
    controller.stop()
    pair.sync_both()
    expected = pair.assert_equal("customer", customer)
    assert expected is not None and expected["phone"] == "021-5555 0202"
    assert page.conflict_count() == 0


@pytest.mark.parametrize("how", ["mine", "merged"])
def test_mine_or_merged_value_reaches_server_and_other_device(
    qtbot: QtBot, pair: Pair, events: DataEvents, how: str
) -> None:
    customer = shared_customer(pair, level="B")
    field_conflict(
        pair, customer, {"notes": NOTES_MINE, "level": "A"}, {"notes": NOTES_THEIRS, "level": "C"}
    )
    page = make_page(qtbot, pair, events)
    dialog = open_dialog(page)
    click(qtbot, dialog.keep_mine_button)
    merged = "Demo on Thursday; 预算约 50 万，需先报价。"
    if how == "merged":
        notes = dialog.choice_for("notes")
        click(qtbot, notes.merged_radio)
        editor = notes.merged_editor
        editor.selectAll()
        editor.clear()
        qtbot.keyClicks(editor, "Demo on Thursday; ")
        editor.insertPlainText("预算约 50 万，需先报价。")  # QTest types ASCII only
    with qtbot.waitSignal(page.sig_resolved):
        click(qtbot, dialog.resolve_button)
    pair.mine.sync()
    pair.theirs.sync()
    expected = pair.assert_equal("customer", customer)
    assert expected is not None
    assert expected["level"] == "A"
    assert expected["notes"] == (NOTES_MINE if how == "mine" else merged)


@pytest.mark.parametrize("choice", ["keep", "delete"])
def test_changed_here_deleted_there(
    qtbot: QtBot, pair: Pair, events: DataEvents, choice: str
) -> None:
    customer = shared_customer(pair, city="上海")
    deleted_conflict(pair, customer, {"city": "南京"})
    page = make_page(qtbot, pair, events)
    dialog = open_dialog(page)
    assert "m_east deleted it" in dialog.explanation.text()
    with qtbot.waitSignal(page.sig_resolved):
        click(qtbot, dialog.keep_button if choice == "keep" else dialog.delete_button)
    pair.mine.sync()
    pair.theirs.sync()
    expected = pair.assert_equal("customer", customer)
    if choice == "keep":
        assert expected is not None and expected["city"] == "南京"  # restored, with my change
    else:
        assert expected is None


@pytest.mark.parametrize("choice", ["keep", "delete"])
def test_deleted_here_changed_there(
    qtbot: QtBot, pair: Pair, events: DataEvents, choice: str
) -> None:
    customer = shared_customer(pair, city="上海")
    contact = pair.mine.replica.contacts.create({"customer_id": customer, "name": "王伟"}).record_id
    pair.sync_both()
    delete_vs_change_conflict(pair, customer, {"city": "杭州"})
    page = make_page(qtbot, pair, events)
    dialog = open_dialog(page)
    assert dialog.explanation.text().startswith("You deleted this customer; m_east changed it")
    with qtbot.waitSignal(page.sig_resolved):
        click(qtbot, dialog.keep_button if choice == "keep" else dialog.delete_button)
    pair.mine.sync()
    pair.theirs.sync()
    expected = pair.assert_equal("customer", customer)
    child = pair.assert_equal("contact", contact)
    if choice == "keep":
        assert expected is not None and expected["city"] == "杭州"  # their change, kept
        assert child is not None and child["name"] == "王伟"  # the contact came back too
    else:
        assert expected is None and child is None


def test_decide_later_keeps_the_conflict_and_other_edits_sync(
    qtbot: QtBot, pair: Pair, events: DataEvents
) -> None:
    customer = shared_customer(pair)
    other = shared_customer(pair, name="苏州新锐电子")
    field_conflict(pair, customer, {"city": "苏州"}, {"city": "杭州"})
    page = make_page(qtbot, pair, events)
    dialog = open_dialog(page)
    click(qtbot, dialog.choice_for("city").mine_radio)
    click(qtbot, dialog.later_button)
    assert dialog.outcome is None
    qtbot.waitUntil(lambda: page.dialog is None)
    assert page.conflict_count() == 1
    (waiting,) = list_conflicts(pair.mine.replica)
    mine_now = pair.mine.replica.customers.get(customer)
    assert mine_now is not None and mine_now.values["city"] == "苏州"  # my value kept here

    # An unrelated edit syncs while the conflict waits.
    pair.mine.replica.customers.update(other, {"city": "无锡"})
    pair.mine.sync()
    pair.theirs.sync()
    server_other = server_record(pair.server.engine, "customer", other)
    assert server_other is not None and server_other["city"] == "无锡"
    assert pair.theirs.record("customer", other) == server_other
    assert pair.mine.record("customer", other) == server_other
    assert [c.id for c in list_conflicts(pair.mine.replica)] == [waiting.id]
    server_customer = server_record(pair.server.engine, "customer", customer)
    assert server_customer is not None and server_customer["city"] == "杭州"  # not sent
    assert page.conflict_count() == 1
