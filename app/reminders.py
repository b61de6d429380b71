"""Reminders: a desktop notification when a follow-up comes due while the app runs.

Every minute (and shortly after records change: a sync may bring a follow-up that is due
now) :class:`Reminders` asks the replica what came due since its last look
(:func:`sync.agenda.due_between`). Each item is announced once per run — the same
follow-up with a later date is a new reminder. What was already overdue when the app
started is not announced: the Today page shows it.

Where the desktop has a system tray, the reminder is a tray message; clicking it (or the
tray icon) asks for the Today page. ``sig_due`` carries the items in every case, so the
window can also show them in its status bar — the only place where there is no tray
(offscreen, some Linux desktops).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QLocale, QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from app.customer_table_model import format_local_time
from app.events import DataEvents
from sync.agenda import AgendaItem, due_between
from sync.replica import Replica

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 60_000
EVENT_DELAY_MS = 500  # gather a sync's announcements into one look
MAX_LINES = 3  # items listed in one message; the rest are "and N more"

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Reminders(QObject):
    """Looks for follow-ups and customers that came due, and tells the user once each."""

    # The items that just came due (list[AgendaItem], earliest first).
    sig_due = Signal(list)
    # The user clicked the reminder (or the tray icon): show the Today page.
    sig_show_today = Signal()

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        parent: QObject | None = None,
        *,
        clock: Clock = _utc_now,
        use_tray: bool = True,
        icon: QIcon | None = None,
        interval_ms: int = CHECK_INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._clock = clock
        self._last_check = clock()
        self._announced: set[tuple[str, str, datetime]] = set()
        self.tray: QSystemTrayIcon | None = None
        if use_tray and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon or QApplication.windowIcon(), self)
            self.tray.setToolTip(self.tr("Outpost CRM"))
            self.tray.messageClicked.connect(self.sig_show_today)
            self.tray.activated.connect(self._on_tray_activated)
            self.tray.show()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._event_timer = QTimer(self)
        self._event_timer.setSingleShot(True)
        self._event_timer.setInterval(EVENT_DELAY_MS)
        self._event_timer.timeout.connect(self.check)
        events.sig_records_changed.connect(self._on_records_changed)

    def start(self) -> None:
        """Look every minute from now on."""
        self._timer.start()

    def stop(self) -> None:
        """Stop looking and take the tray icon away (on shutdown)."""
        self._timer.stop()
        self._event_timer.stop()
        if self.tray is not None:
            self.tray.hide()

    def check(self) -> list[AgendaItem]:
        """Announce what came due since the last look; return those items."""
        now = self._clock()
        since, self._last_check = self._last_check, now
        if now <= since:
            return []
        try:
            found = due_between(self._replica, since, now)
        except Exception:  # a reminder is not worth a crash (a replica being closed)
            log.exception("cannot read due follow-ups")
            return []
        fresh = [item for item in found if item.key not in self._announced]
        if not fresh:
            return []
        self._announced.update(item.key for item in fresh)
        self._notify(fresh)
        self.sig_due.emit(fresh)
        return fresh

    def message(self, items: Sequence[AgendaItem]) -> tuple[str, str]:
        """The notification's title and text for ``items``."""
        if len(items) == 1:
            title = self.tr("Follow-up due")
        else:
            title = self.tr("{count} follow-ups due").format(count=len(items))
        lines = [self._line(item) for item in items[:MAX_LINES]]
        if len(items) > MAX_LINES:
            lines.append(self.tr("and {count} more").format(count=len(items) - MAX_LINES))
        return title, "\n".join(lines)

    def _line(self, item: AgendaItem) -> str:
        what = item.what or self.tr("Follow up")
        return self.tr("{time} {customer}: {what}").format(
            time=format_local_time(item.due_at, QLocale()), customer=item.customer_name, what=what
        )

    def _notify(self, items: Sequence[AgendaItem]) -> None:
        if self.tray is None:
            return
        title, text = self.message(items)
        self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 15_000)

    def _on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.sig_show_today.emit()

    def _on_records_changed(self, entity: str, _ids: frozenset[str] | None) -> None:
        if entity in ("follow_up", "customer"):
            self._event_timer.start()
