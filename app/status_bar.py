"""The main window's status bar: how sync is doing, in a glance.

From left to right (all permanent widgets, so ``showMessage`` keeps the left part for
passing messages): a problem in plain words with "Details…" (the technical text, never a
stack trace) and "Sign in" when that is what helps; a progress bar while a sync applies
records (determinate when the total is known, busy otherwise, with the count beside it);
the edits waiting to be sent; the open conflicts (a link to the Conflicts page); the last
successful sync; the connection state with a coloured dot.

It only listens to the :class:`~app.sync_worker.SyncController`'s signals (emitted in the
GUI thread) and reads its ``status`` and ``work_offline``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QDateTime, QLocale, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QStatusBar,
    QToolButton,
    QWidget,
)

from app.sync_worker import SyncController
from sync.engine import SyncReport, SyncState, SyncStatus

CLOCK_REFRESH_MS = 30_000  # "5 min ago" stays true to the minute
MESSAGE_MAX_WIDTH = 420

# Dot colours: calm for the usual states, warm for what needs the user.
_COLOURS = {
    SyncState.ONLINE: "#2e9d4f",
    SyncState.SYNCING: "#2f7fd8",
    SyncState.OFFLINE: "#8a8f98",
    SyncState.NEEDS_SIGN_IN: "#e08a00",
    SyncState.ERROR: "#d64541",
}
_CONFLICT_COLOUR = "#c25e00"
_LINK_STYLE = "QToolButton { color: palette(link); }"


class _Dot(QWidget):
    """A small filled circle (a ring when ``hollow``), crisp at any scale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colour = QColor(_COLOURS[SyncState.OFFLINE])
        self._hollow = False
        self.setFixedSize(QSize(10, 10))

    @property
    def colour(self) -> QColor:
        return QColor(self._colour)

    @property
    def hollow(self) -> bool:
        return self._hollow

    def set_look(self, colour: str, *, hollow: bool = False) -> None:
        self._colour = QColor(colour)
        self._hollow = hollow
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(1, 1, -1, -1)
        if self._hollow:
            painter.setPen(QPen(self._colour, 1.6))
            painter.setBrush(Qt.BrushStyle.NoBrush)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._colour)
        painter.drawEllipse(rect)
        painter.end()


class _StateIndicator(QWidget):
    """The dot and the state's name, kept together."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dot = _Dot(self)
        self.label = QLabel(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.label, 0, Qt.AlignmentFlag.AlignVCenter)


class SyncStatusBar(QStatusBar):
    """The status bar bound to a sync controller (or anything with its four signals,
    ``status`` and ``work_offline``)."""

    sig_show_conflicts = Signal()  # the conflicts count was clicked
    sig_sign_in_requested = Signal()  # "Sign in" was clicked

    def __init__(
        self,
        controller: SyncController,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._clock = clock or (lambda: datetime.now(UTC))
        self._status: SyncStatus = controller.status
        self._problem: tuple[str, str] | None = None
        self.details_box: QMessageBox | None = None
        self.setSizeGripEnabled(False)

        self.message_label = QLabel(self)
        self.message_label.setMaximumWidth(MESSAGE_MAX_WIDTH)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self.details_button = self._tool_button(self.tr("Details…"), self._show_details)
        self.details_button.setStyleSheet(_LINK_STYLE)
        self.details_button.setToolTip(self.tr("What exactly went wrong"))
        self.sign_in_button = self._tool_button(
            self.tr("Sign in…"), self.sig_sign_in_requested.emit
        )
        self.sign_in_button.setStyleSheet(_LINK_STYLE + "QToolButton { font-weight: 600; }")
        self.progress = QProgressBar(self)
        self.progress.setFixedWidth(120)
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        self.progress_label = QLabel(self)
        self.pending_label = QLabel(self)
        self.conflicts_button = self._tool_button("", self.sig_show_conflicts.emit)
        self.conflicts_button.setStyleSheet(
            f"QToolButton {{ color: {_CONFLICT_COLOUR}; font-weight: 600; }}"
        )
        self.conflicts_button.setToolTip(self.tr("Open the conflicts to decide them"))
        self.last_sync_label = QLabel(self)
        self.state = _StateIndicator(self)
        for widget in (
            self.message_label,
            self.details_button,
            self.sign_in_button,
            self.progress,
            self.progress_label,
            self.pending_label,
            self.conflicts_button,
            self.last_sync_label,
            self.state,
        ):
            self.addPermanentWidget(widget)
        for widget in (self.message_label, self.details_button, self.sign_in_button):
            widget.hide()
        self._hide_progress()

        self._clock_timer = QTimer(self)
        self._clock_timer.setInterval(CLOCK_REFRESH_MS)
        self._clock_timer.timeout.connect(self._show_last_sync)
        self._clock_timer.start()

        controller.sig_status.connect(self._on_status)
        controller.sig_progress.connect(self._on_progress)
        controller.sig_finished.connect(self._on_finished)
        controller.sig_failed.connect(self._on_failed)
        self._on_status(self._status)

    def _tool_button(self, text: str, action: Callable[[], object]) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAutoRaise(True)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.clicked.connect(action)
        return button

    # --- what the controller says -------------------------------------------------------

    @property
    def working_offline(self) -> bool:
        return self._controller.work_offline

    @Slot(object)
    def _on_status(self, status: SyncStatus) -> None:
        self._status = status
        self._show_state()
        self._show_counts()
        self._show_last_sync()
        if status.state is not SyncState.SYNCING or not (status.done or status.total):
            self._hide_progress()
        if status.state is SyncState.ONLINE or (
            status.state is SyncState.OFFLINE and self.working_offline
        ):
            self._clear_problem()
        self.sign_in_button.setVisible(status.state is SyncState.NEEDS_SIGN_IN)

    @Slot(int, object)
    def _on_progress(self, done: int, total: int | None) -> None:
        locale = QLocale()
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            text = self.tr("{done} of {total} records").format(
                done=locale.toString(done), total=locale.toString(total)
            )
        else:
            self.progress.setRange(0, 0)  # busy: how much is left is not known yet
            text = self.tr("{done} records").format(done=locale.toString(done))
        self.progress_label.setText(text)
        self.progress.show()
        self.progress_label.show()

    @Slot(object)
    def _on_finished(self, report: SyncReport) -> None:
        self._clear_problem()
        self._hide_progress()

    @Slot(str, str)
    def _on_failed(self, text: str, details: str) -> None:
        if not text:
            self._clear_problem()
            return
        self._problem = (text, details)
        metrics = self.message_label.fontMetrics()
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, MESSAGE_MAX_WIDTH - 12)
        self.message_label.setText(shown)
        self.message_label.setToolTip(text)
        self.message_label.show()
        self.details_button.setVisible(bool(details))

    # --- showing ------------------------------------------------------------------------

    def _show_state(self) -> None:
        state = self._status.state
        hollow = False
        if state is SyncState.ONLINE:
            text = self.tr("Online")
        elif state is SyncState.SYNCING:
            text = self.tr("Syncing…")
        elif state is SyncState.NEEDS_SIGN_IN:
            text = self.tr("Sign in needed")
        elif state is SyncState.ERROR:
            text = self.tr("Sync error")
        elif self.working_offline:
            text = self.tr("Working offline")
            hollow = True
        else:
            text = self.tr("Offline")
        self.state.label.setText(text)
        self.state.dot.set_look(_COLOURS[state], hollow=hollow)
        self.state.setToolTip(self._state_tip(state))

    def _state_tip(self, state: SyncState) -> str:
        if state is SyncState.OFFLINE and self.working_offline:
            return self.tr("Work offline is on: nothing is sent or received until you turn it off.")
        if state is SyncState.OFFLINE:
            return self.tr("The server cannot be reached; Outpost keeps trying.")
        if state is SyncState.NEEDS_SIGN_IN:
            return self.tr("Sign in to sync; your edits are kept meanwhile.")
        if state is SyncState.ERROR:
            return self.tr("The last sync failed; Outpost keeps trying.")
        return self.tr("Connected to the server.")

    def _show_counts(self) -> None:
        status = self._status
        locale = QLocale()
        if status.pending == 0 and status.failed == 0:
            text = self.tr("All edits sent")
        elif status.failed == 0:
            text = self.tr("{count} pending").format(count=locale.toString(status.pending))
        else:
            text = self.tr("{count} pending, {failed} refused").format(
                count=locale.toString(status.pending), failed=locale.toString(status.failed)
            )
        self.pending_label.setText(text)
        self.pending_label.setToolTip(
            self.tr(
                "Edits waiting to be sent: {pending}\nRefused by the server: {failed} (open "
                "those records to correct them)"
            ).format(pending=locale.toString(status.pending), failed=locale.toString(status.failed))
        )
        if status.conflicts == 1:
            self.conflicts_button.setText(self.tr("1 conflict"))
        else:
            self.conflicts_button.setText(
                self.tr("{count} conflicts").format(count=locale.toString(status.conflicts))
            )
        self.conflicts_button.setVisible(status.conflicts > 0)

    @Slot()
    def _show_last_sync(self) -> None:
        last = self._status.last_success
        if last is None:
            self.last_sync_label.setText(self.tr("Never synced"))
            self.last_sync_label.setToolTip("")
            return
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        when = QDateTime.fromSecsSinceEpoch(int(last.timestamp()))  # local time
        now = self._clock()
        minutes = int((now - last).total_seconds() // 60)
        locale = QLocale()
        if minutes < 1:
            text = self.tr("Last sync: just now")
        elif minutes < 60:
            text = self.tr("Last sync: {minutes} min ago").format(minutes=minutes)
        elif when.date() == QDateTime.fromSecsSinceEpoch(int(now.timestamp())).date():
            text = self.tr("Last sync: {time}").format(
                time=locale.toString(when.time(), QLocale.FormatType.ShortFormat)
            )
        else:
            text = self.tr("Last sync: {date}").format(
                date=locale.toString(when, QLocale.FormatType.ShortFormat)
            )
        self.last_sync_label.setText(text)
        self.last_sync_label.setToolTip(
            self.tr("Last successful sync: {when}").format(
                when=locale.toString(when, QLocale.FormatType.LongFormat)
            )
        )

    def _hide_progress(self) -> None:
        self.progress.hide()
        self.progress_label.hide()

    def _clear_problem(self) -> None:
        self._problem = None
        self.message_label.clear()
        self.message_label.setToolTip("")
        self.message_label.hide()
        self.details_button.hide()

    def _show_details(self) -> None:
        if self._problem is None:
            return
        text, details = self._problem
        if self.details_box is not None:
            self.details_box.close()
        box = QMessageBox(self.window())
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(self.tr("Sync problem"))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        box.setInformativeText(details)  # plain text, like the message (textFormat)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        self.details_box = box
        box.open()
