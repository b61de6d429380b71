"""The Today page: what is overdue, due today and due this week, with one-click "done".

The agenda comes from the local replica (:func:`sync.agenda.load_agenda`), so the page
works during an outage. Each row has the time, the customer (click: open it), what to do,
a "Done" button and "Log follow-up…", which records what happened and marks the item
done. The page reads the agenda again after announcements and every minute (an item due
at 14:00 turns overdue at midnight, and the day changes at midnight).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from PySide6.QtCore import QDate, QDateTime, QLocale, Qt, QTime, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.customer_table_model import OVERDUE_COLOR
from app.events import DataEvents
from app.follow_up_timeline import FollowUpLogBox, log_follow_up
from sync.agenda import Agenda, AgendaItem, Section, load_agenda, mark_done
from sync.replica import Replica
from sync.repository import RecordNotFoundError
from sync.validation import ValidationError

log = logging.getLogger(__name__)

SHOWN_PER_SECTION = 50  # rows per section; the count tells how many more
REFRESH_INTERVAL_MS = 60_000
EVENT_DELAY_MS = 50

Clock = Callable[[], datetime]

ROW_STYLE = """
QFrame#agendaRow { border-bottom: 1px solid palette(midlight); }
QFrame#agendaRow:hover { background: palette(alternate-base); }
QPushButton#agendaCustomer {
    text-align: left; border: none; padding: 2px 4px; color: palette(link);
}
QPushButton#agendaCustomer:hover { text-decoration: underline; }
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LogFollowUpDialog(QDialog):
    """ "Log follow-up" for one agenda item: the quick log box in a small dialog. The page
    writes what it submits (``box.sig_submitted``) and closes it."""

    def __init__(self, customer_name: str, what: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Log follow-up — {customer}").format(customer=customer_name))
        self.values: dict[str, Any] | None = None
        intro = QLabel(self)
        intro.setWordWrap(True)
        if what:
            intro.setText(
                self.tr("Log what happened for “{what}”. The item is then marked done.").format(
                    what=what
                )
            )
        else:
            intro.setText(self.tr("Log what happened. The item is then marked done."))
        self.box = FollowUpLogBox(self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.rejected.connect(self.reject)
        # The box's own button logs; it sits next to Cancel.
        self.buttons.addButton(self.box.log_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.addWidget(intro)
        layout.addWidget(self.box, 1)
        layout.addWidget(self.buttons)
        self.resize(520, 320)
        self.box.form.focus_field("content")


class _ItemRow(QFrame):
    """One agenda row: time, customer, what; Done and Log follow-up…"""

    def __init__(self, page: TodayPage, item: AgendaItem, time_text: str, overdue: bool) -> None:
        super().__init__(page)
        self.item = item
        self.setObjectName("agendaRow")
        self.time_label = QLabel(time_text, self)
        self.time_label.setMinimumWidth(page.time_column_width)
        if overdue:
            self.time_label.setStyleSheet(f"color: {OVERDUE_COLOR};")
        self.customer_button = QPushButton(item.customer_name or page.tr("(no name)"), self)
        self.customer_button.setObjectName("agendaCustomer")
        self.customer_button.setFlat(True)
        self.customer_button.setFixedWidth(page.customer_column_width)
        self.customer_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.customer_button.setToolTip(page.tr("Open this customer"))
        self.customer_button.clicked.connect(lambda: page.sig_open_customer.emit(item.customer_id))
        what = item.what or page.tr("Follow up")
        self.what_label = QLabel(what, self)
        self.what_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.what_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.what_label.setToolTip(what)
        self.done_button = QPushButton(page.tr("Done"), self)
        self.done_button.setToolTip(page.tr("Mark it done"))
        self.done_button.clicked.connect(lambda: page.mark_item_done(item))
        self.log_button = QPushButton(page.tr("Log follow-up…"), self)
        self.log_button.setToolTip(page.tr("Log what happened and mark it done"))
        self.log_button.clicked.connect(lambda: page.log_for_item(item))
        self.setFixedHeight(page.row_height)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.addWidget(self.time_label)
        layout.addWidget(self.customer_button)
        layout.addWidget(self.what_label, 1)
        layout.addWidget(self.done_button)
        layout.addWidget(self.log_button)


class _SectionView(QWidget):
    """A section's heading with its count, its rows, and "N more" when cut."""

    def __init__(self, title: str, accent: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self.heading = QLabel(self)
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.heading.setFont(font)
        if accent:
            self.heading.setStyleSheet(f"color: {accent};")
        self.rows: list[_ItemRow] = []
        self.more = QLabel(self)
        self.more.setObjectName("hint")
        self._rows_box = QVBoxLayout()
        self._rows_box.setContentsMargins(0, 0, 0, 0)
        self._rows_box.setSpacing(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 10)
        layout.setSpacing(4)
        layout.addWidget(self.heading)
        layout.addLayout(self._rows_box)
        layout.addWidget(self.more)

    def show_section(self, section: Section, rows: list[_ItemRow], more_text: str) -> None:
        for row in self.rows:
            row.hide()
            row.deleteLater()
        self.rows = rows
        for row in rows:
            self._rows_box.addWidget(row)
        self.heading.setText(f"{self._title}  ({_count_text(section.total, section.capped)})")
        self.more.setText(more_text)
        self.more.setVisible(bool(more_text))
        self.setVisible(section.total > 0)


def _count_text(total: int, capped: bool) -> str:
    number = QLocale().toString(total)
    return number + "+" if capped else number


class TodayPage(QWidget):
    """Overdue, today and this week's follow-ups and customers to follow up."""

    sig_open_customer = Signal(str)

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QWidget | None = None,
        *,
        clock: Clock = _utc_now,
        tz: tzinfo | None = None,
        refresh_interval_ms: int = REFRESH_INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._user_id = user_id
        self._clock = clock
        self._tz = tz
        self._announcing = False
        self.agenda: Agenda | None = None
        metrics = self.fontMetrics()
        self.time_column_width = metrics.horizontalAdvance("0000-00-00 00:00") + 16
        self.customer_column_width = metrics.horizontalAdvance("M") * 14
        self.row_height = metrics.height() + 18
        self.setStyleSheet(ROW_STYLE)

        self.title = QLabel(self.tr("Today"), self)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.title.setFont(font)
        self.date_label = QLabel(self)
        self.date_label.setObjectName("hint")
        self.summary = QLabel(self)
        self.empty = QLabel(self.tr("Nothing due today."), self)
        self.empty.setObjectName("todayEmpty")
        empty_font = self.empty.font()
        empty_font.setPointSizeF(empty_font.pointSizeF() * 1.2)
        self.empty.setFont(empty_font)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.empty.setEnabled(False)
        self.overdue = _SectionView(self.tr("Overdue"), OVERDUE_COLOR, self)
        self.today = _SectionView(self.tr("Today"), None, self)
        self.upcoming = _SectionView(self.tr("This week"), None, self)

        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(32, 8, 32, 24)
        body.setSpacing(8)
        body.addWidget(self.empty)
        body.addWidget(self.overdue)
        body.addWidget(self.today)
        body.addWidget(self.upcoming)
        body.addStretch(1)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(content)

        header = QVBoxLayout()
        header.setContentsMargins(32, 24, 32, 4)
        header.setSpacing(2)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title)
        title_row.addSpacing(12)
        title_row.addWidget(self.date_label, 0, Qt.AlignmentFlag.AlignBottom)
        title_row.addStretch(1)
        header.addLayout(title_row)
        header.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.scroll_area, 1)

        self._event_timer = QTimer(self)
        self._event_timer.setSingleShot(True)
        self._event_timer.setInterval(EVENT_DELAY_MS)
        self._event_timer.timeout.connect(self.refresh)
        self._minute_timer = QTimer(self)
        self._minute_timer.setInterval(refresh_interval_ms)
        self._minute_timer.timeout.connect(self.refresh)
        self._minute_timer.start()
        events.sig_records_changed.connect(self._on_records_changed)
        self.refresh()

    # --- public API ---------------------------------------------------------------------

    def set_user_id(self, user_id: str | None) -> None:
        """Who is signed in (the agenda shows every record of the replica either way)."""
        self._user_id = user_id

    def refresh(self) -> None:
        """Read the agenda again now and show it."""
        self._event_timer.stop()
        now = self._clock()
        self.agenda = load_agenda(self._replica, now=now, tz=self._tz, limit=SHOWN_PER_SECTION)
        self._show(self.agenda, now)

    def rows(self) -> list[_ItemRow]:
        """Every row shown, overdue first (for tests and keyboard navigation)."""
        return [*self.overdue.rows, *self.today.rows, *self.upcoming.rows]

    def mark_item_done(self, item: AgendaItem) -> bool:
        """The "Done" button: write, announce, and the row leaves. Whether it was written."""
        try:
            changes = mark_done(self._replica, item)
        except RecordNotFoundError:
            log.info("agenda item %s %s was deleted meanwhile", item.entity, item.record_id)
            changes = []
        except ValidationError:
            log.exception("cannot mark %s %s done", item.entity, item.record_id)
            return False
        self._announce_changes([(c.entity, c.record_id) for c in changes])
        self.refresh()
        return bool(changes)

    def log_for_item(self, item: AgendaItem) -> LogFollowUpDialog:
        """ "Log follow-up…": open a dialog that logs what happened for the customer and
        marks the item done (window-modal; returned so the caller can wait for it)."""
        dialog = LogFollowUpDialog(item.customer_name, item.what, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.box.sig_submitted.connect(lambda values: self._log(dialog, item, values))
        dialog.open()
        return dialog

    # --- writing ------------------------------------------------------------------------

    def _log(self, dialog: LogFollowUpDialog, item: AgendaItem, values: dict[str, Any]) -> None:
        try:
            logged = log_follow_up(self._replica, item.customer_id, values, now=self._clock())
        except ValidationError as exc:
            dialog.box.form.show_errors(exc.errors)
            return
        except RecordNotFoundError:
            dialog.reject()
            self.refresh()
            return
        written = [("follow_up", logged.follow_up.record_id)]
        if logged.customer is not None:
            written.append(("customer", item.customer_id))
        # If the item went meanwhile, the follow-up is logged all the same.
        with contextlib.suppress(RecordNotFoundError):
            written += [(c.entity, c.record_id) for c in mark_done(self._replica, item)]
        dialog.values = values
        dialog.accept()
        self._announce_changes(written)
        self.refresh()

    def _announce_changes(self, written: list[tuple[str, str]]) -> None:
        by_entity: dict[str, set[str]] = {}
        for entity, record_id in written:
            by_entity.setdefault(entity, set()).add(record_id)
        self._announcing = True  # the page refreshes by itself right after
        try:
            for entity, ids in by_entity.items():
                self._events.announce(entity, ids)
        finally:
            self._announcing = False

    # --- showing ------------------------------------------------------------------------

    def _on_records_changed(self, entity: str, _ids: frozenset[str] | None) -> None:
        if self._announcing or entity not in ("follow_up", "customer"):
            return
        self._event_timer.start()

    def _show(self, agenda: Agenda, now: datetime) -> None:
        local = now.astimezone(self._tz)
        self.date_label.setText(
            QLocale().toString(
                QDate(local.year, local.month, local.day), QLocale.FormatType.LongFormat
            )
        )
        overdue, today, upcoming = agenda.overdue, agenda.today, agenda.upcoming
        if agenda.is_empty:
            self.summary.setText(self.tr("You are all caught up."))
        else:
            self.summary.setText(
                self.tr("{overdue} overdue · {today} today · {week} in the next 7 days").format(
                    overdue=_count_text(overdue.total, overdue.capped),
                    today=_count_text(today.total, today.capped),
                    week=_count_text(upcoming.total, upcoming.capped),
                )
            )
        self.empty.setVisible(overdue.total == 0 and today.total == 0)
        self.empty.setText(
            self.tr("Nothing due today.")
            if upcoming.total == 0
            else self.tr("Nothing due today. Coming up this week:")
        )
        for view, section, kind in (
            (self.overdue, overdue, "overdue"),
            (self.today, today, "today"),
            (self.upcoming, upcoming, "week"),
        ):
            rows = [
                _ItemRow(self, item, self._time_text(item, kind), kind == "overdue")
                for item in section.items
            ]
            hidden = section.total - len(section.items)
            more = ""
            if hidden > 0:
                more = self.tr("and {count} more — see Follow-ups").format(
                    count=_count_text(hidden, section.capped)
                )
            view.show_section(section, rows, more)

    def _time_text(self, item: AgendaItem, kind: str) -> str:
        local = item.due_at.astimezone(self._tz)
        clock = QTime(local.hour, local.minute)
        locale = QLocale()
        if kind == "today":
            return locale.toString(clock, QLocale.FormatType.ShortFormat)
        moment = QDateTime(QDate(local.year, local.month, local.day), clock)
        return locale.toString(moment, QLocale.FormatType.ShortFormat)
