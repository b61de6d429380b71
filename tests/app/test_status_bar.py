"""The sync status bar, driven by synthetic statuses from a stand-in controller (a QObject
with the controller's four signals, ``status`` and ``work_offline``): no thread, no
server, only what the bar shows and the signals it sends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QDateTime, QLocale, QObject, Qt, QTime, Signal
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.status_bar import CLOCK_REFRESH_MS, SyncStatusBar
from sync.engine import SyncReport, SyncState, SyncStatus

# Noon today in local time: "same day" and "minutes ago" do not depend on the time zone.
NOW = datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0)


class FakeController(QObject):
    sig_status = Signal(object)
    sig_progress = Signal(int, object)
    sig_finished = Signal(object)
    sig_failed = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.status = SyncStatus(SyncState.OFFLINE)
        self.work_offline = False

    def show(self, state: SyncState, **values: object) -> None:
        self.status = SyncStatus(state, **values)  # type: ignore[arg-type]
        self.sig_status.emit(self.status)


class Clock:
    def __init__(self) -> None:
        self.now = NOW.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> FakeController:
    return FakeController()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bar(qtbot: QtBot, fake: FakeController, clock: Clock) -> Iterator[SyncStatusBar]:
    widget = SyncStatusBar(fake, clock=clock)  # type: ignore[arg-type]
    qtbot.addWidget(widget)
    widget.resize(1100, 30)
    widget.show()
    yield widget
    if widget.details_box is not None:
        widget.details_box.close()


def test_online_with_nothing_pending(bar: SyncStatusBar, fake: FakeController) -> None:
    fake.show(SyncState.ONLINE, last_success=NOW - timedelta(minutes=5))
    assert bar.state.label.text() == "Online"
    assert bar.state.dot.colour.name() == "#2e9d4f" and not bar.state.dot.hollow
    assert bar.pending_label.text() == "All edits sent"
    assert bar.last_sync_label.text() == "Last sync: 5 min ago"
    for hidden in (
        bar.conflicts_button,
        bar.progress,
        bar.progress_label,
        bar.message_label,
        bar.details_button,
        bar.sign_in_button,
    ):
        assert not hidden.isVisible()


def test_states_have_their_words_and_colours(bar: SyncStatusBar, fake: FakeController) -> None:
    expected = {
        SyncState.SYNCING: ("Syncing…", "#2f7fd8"),
        SyncState.OFFLINE: ("Offline", "#8a8f98"),
        SyncState.NEEDS_SIGN_IN: ("Sign in needed", "#e08a00"),
        SyncState.ERROR: ("Sync error", "#d64541"),
    }
    for state, (text, colour) in expected.items():
        fake.show(state)
        assert (bar.state.label.text(), bar.state.dot.colour.name()) == (text, colour)


def test_working_offline_is_told_apart_and_clears_an_old_problem(
    bar: SyncStatusBar, fake: FakeController
) -> None:
    fake.sig_failed.emit("The server cannot be reached.", "OfflineError: refused")
    assert bar.message_label.isVisible()
    fake.work_offline = True
    fake.show(SyncState.OFFLINE, pending=2)
    assert bar.state.label.text() == "Working offline"
    assert bar.state.dot.hollow
    assert "Work offline is on" in bar.state.toolTip()
    assert not bar.message_label.isVisible() and not bar.details_button.isVisible()
    assert bar.pending_label.text() == "2 pending"


def test_pending_and_refused_counts(bar: SyncStatusBar, fake: FakeController) -> None:
    fake.show(SyncState.ONLINE, pending=1234)
    assert bar.pending_label.text() == "1,234 pending"
    fake.show(SyncState.ONLINE, pending=3, failed=1)
    assert bar.pending_label.text() == "3 pending, 1 refused"
    tip = bar.pending_label.toolTip()
    assert "waiting to be sent: 3" in tip and "Refused by the server: 1" in tip


def test_conflicts_link_shows_the_count_and_asks_for_the_conflicts_page(
    qtbot: QtBot, bar: SyncStatusBar, fake: FakeController
) -> None:
    fake.show(SyncState.ONLINE, conflicts=1)
    assert bar.conflicts_button.isVisible() and bar.conflicts_button.text() == "1 conflict"
    fake.show(SyncState.ONLINE, conflicts=2)
    assert bar.conflicts_button.text() == "2 conflicts"
    with qtbot.waitSignal(bar.sig_show_conflicts, timeout=1000):
        qtbot.mouseClick(bar.conflicts_button, Qt.MouseButton.LeftButton)
    fake.show(SyncState.ONLINE, conflicts=0)
    assert not bar.conflicts_button.isVisible()


def test_progress_bar_only_while_a_sync_applies_records(
    bar: SyncStatusBar, fake: FakeController
) -> None:
    fake.show(SyncState.SYNCING)  # a sync started: nothing applied yet
    assert not bar.progress.isVisible()

    fake.show(SyncState.SYNCING, done=1200, total=5000)
    fake.sig_progress.emit(1200, 5000)
    assert bar.progress.isVisible() and bar.progress_label.isVisible()
    assert (bar.progress.minimum(), bar.progress.maximum(), bar.progress.value()) == (
        0,
        5000,
        1200,
    )
    assert bar.progress_label.text() == "1,200 of 5,000 records"

    fake.show(SyncState.SYNCING, done=12500)
    fake.sig_progress.emit(12500, None)  # total unknown: a busy bar and the count
    assert bar.progress.isVisible() and bar.progress.maximum() == 0
    assert bar.progress_label.text() == "12,500 records"

    fake.show(SyncState.ONLINE, last_success=NOW)
    fake.sig_finished.emit(SyncReport(pulled=12500))
    assert not bar.progress.isVisible() and not bar.progress_label.isVisible()


def test_a_problem_in_plain_words_with_details_on_request(
    qtbot: QtBot, bar: SyncStatusBar, fake: FakeController
) -> None:
    text = "The server sent a reply Outpost does not understand."
    details = "Server: https://crm.example.com\nProtocolError: bad <record> at changes.0"
    fake.show(SyncState.ERROR)
    fake.sig_failed.emit(text, details)
    assert bar.message_label.isVisible() and bar.message_label.toolTip() == text
    assert bar.message_label.text() == text
    assert "ProtocolError" not in bar.message_label.text()
    assert bar.details_button.isVisible()

    qtbot.mouseClick(bar.details_button, Qt.MouseButton.LeftButton)
    box = bar.details_box
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible, timeout=2000)
    assert box.text() == text and box.textFormat() == Qt.TextFormat.PlainText
    informative = box.informativeText()
    assert informative == details  # shown as plain text: "<record>" stays as it is
    assert "Traceback" not in box.text() + informative
    box.close()

    fake.show(SyncState.SYNCING)  # retrying: the problem stays until a sync succeeds
    assert bar.message_label.isVisible()
    fake.sig_finished.emit(SyncReport())
    assert not bar.message_label.isVisible() and not bar.details_button.isVisible()


def test_a_long_problem_is_shortened_with_the_whole_text_in_the_tooltip(
    bar: SyncStatusBar, fake: FakeController
) -> None:
    text = "The server cannot be reached. " * 10
    fake.sig_failed.emit(text, "")
    assert bar.message_label.text().endswith("…") and len(bar.message_label.text()) < len(text)
    assert bar.message_label.toolTip() == text
    assert not bar.details_button.isVisible()  # no details to show


def test_sign_in_needed_offers_to_sign_in(
    qtbot: QtBot, bar: SyncStatusBar, fake: FakeController
) -> None:
    fake.show(SyncState.NEEDS_SIGN_IN, pending=2)
    fake.sig_failed.emit("Sign in again to sync (your edits are kept).", "")
    assert bar.sign_in_button.isVisible()
    assert bar.message_label.text() == "Sign in again to sync (your edits are kept)."
    with qtbot.waitSignal(bar.sig_sign_in_requested, timeout=1000):
        qtbot.mouseClick(bar.sign_in_button, Qt.MouseButton.LeftButton)
    fake.show(SyncState.ONLINE)
    assert not bar.sign_in_button.isVisible() and not bar.message_label.isVisible()


def test_last_sync_time_stays_true_as_time_passes(
    bar: SyncStatusBar, fake: FakeController, clock: Clock
) -> None:
    fake.show(SyncState.ONLINE)
    assert bar.last_sync_label.text() == "Never synced"

    fake.show(SyncState.ONLINE, last_success=NOW.astimezone(UTC) - timedelta(seconds=20))
    assert bar.last_sync_label.text() == "Last sync: just now"
    assert bar._clock_timer.isActive() and bar._clock_timer.interval() <= 60_000
    assert CLOCK_REFRESH_MS <= 60_000

    clock.now += timedelta(minutes=3)
    bar._clock_timer.timeout.emit()  # what the running timer does every half minute
    assert bar.last_sync_label.text() == "Last sync: 3 min ago"

    clock.now += timedelta(minutes=90)  # 13:33 local: same day, earlier than an hour
    bar._clock_timer.timeout.emit()
    time_text = QLocale().toString(QTime(11, 59), QLocale.FormatType.ShortFormat)
    assert bar.last_sync_label.text() == f"Last sync: {time_text}"

    two_days_ago = NOW - timedelta(days=2)
    fake.show(SyncState.ONLINE, last_success=two_days_ago)
    when = QDateTime.fromSecsSinceEpoch(int(two_days_ago.timestamp()))
    date_text = QLocale().toString(when, QLocale.FormatType.ShortFormat)
    assert bar.last_sync_label.text() == f"Last sync: {date_text}"
    assert "Last successful sync" in bar.last_sync_label.toolTip()
