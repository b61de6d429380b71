"""The customer list's Qt model: a lazy window over the replica, sorted and filtered in SQL.

The model never holds the whole list (:class:`app.windowed_model.WindowedTableModel`): it
keeps a :class:`~sync.repository.ListFrame` (the row count of the current filters, search
and sort) and a few windows of rows; ``data()`` for a row outside them fetches its window
with one SQL query (:meth:`EntityRepository.list_window`). Sorting, filtering and the
pinyin / initials / phone search all run in SQL.

After a customer announcement the model counts again and reads the windows it holds again,
and compares: rows that only changed their values get ``dataChanged`` (nothing else is
repainted); a changed count or order refreshes the rows in place, keeping the scroll
position. ``data()`` keeps the display texts of the row it served last, since a paint asks
for every role of every cell of a row in turn.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

from PySide6.QtCore import (
    QDate,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTime,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from app.events import DataEvents
from app.labels import choice_label, field_label, sync_state_label
from app.windowed_model import WindowedTableModel
from sync.replica import Replica
from sync.repository import Filter, ListFrame, ListQuery, ListRow, Sort

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

# The fields one window query reads, in this order.
LIST_FIELDS = (
    "name",
    "company",
    "level",
    "status",
    "owner_id",
    "mobile",
    "phone",
    "city",
    "next_follow_up_at",
)
_AT = {name: i for i, name in enumerate(LIST_FIELDS)}

# data() runs for every role of every visible cell at each paint (thousands of calls):
# roles compared as plain ints, the flags made once.
_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_DECORATION = Qt.ItemDataRole.DecorationRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value

# Colours that say "look at me" on light and dark palettes alike.
SYNC_COLORS = {"pending": "#2f7fd8", "conflict": "#e08a00", "failed": "#d0342c"}
OVERDUE_COLOR = "#d0342c"


class CustomerTableModel(WindowedTableModel[ListRow, ListQuery, ListFrame]):
    """Customers of the replica as a table: lazy, sorted and filtered in SQL."""

    NAME, COMPANY, LEVEL, STATUS, OWNER, PHONE, CITY, NEXT_FOLLOW_UP, SYNC = range(9)
    COLUMN_COUNT = 9
    # The field each column shows and sorts by (PHONE shows the mobile, else the phone).
    COLUMN_FIELDS: ClassVar[dict[int, str]] = {
        NAME: "name",
        COMPANY: "company",
        LEVEL: "level",
        STATUS: "status",
        OWNER: "owner_id",
        PHONE: "phone",
        CITY: "city",
        NEXT_FOLLOW_UP: "next_follow_up_at",
    }
    # Columns sorted by an indexed key. Phone (two fields) and sync state (outbox and
    # conflicts) would sort all 100,000 rows for every window, so they do not sort.
    SORTABLE = frozenset({NAME, COMPANY, LEVEL, STATUS, OWNER, CITY, NEXT_FOLLOW_UP})

    RecordIdRole = Qt.ItemDataRole.UserRole + 1
    SortKeyRole = Qt.ItemDataRole.UserRole + 2  # the raw value: stored choice, aware datetime
    SyncStateRole = Qt.ItemDataRole.UserRole + 3

    # Only a customer change can change which customers are listed. A follow-up's next
    # action may move the customer's next follow-up: its writer updates the customer and
    # announces that too, but the rows shown are cheap to check again. Contacts and deals
    # are not shown here.
    WATCHED = frozenset({"customer", "follow_up"})
    COUNTED = frozenset({"customer"})

    # Signals (WindowedTableModel's): sig_count_changed(int), the customers the list shows
    # now; sig_about_to_refresh, then sig_refreshed, around reading the rows again.

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QObject | None = None,
        *,
        window_size: int = WindowedTableModel.DEFAULT_WINDOW_SIZE,
        max_windows: int = WindowedTableModel.DEFAULT_MAX_WINDOWS,
        refresh_delay_ms: int = WindowedTableModel.DEFAULT_REFRESH_DELAY_MS,
    ) -> None:
        super().__init__(
            events,
            ListQuery(),
            parent,
            window_size=window_size,
            max_windows=max_windows,
            refresh_delay_ms=refresh_delay_ms,
        )
        self._repo = replica.customers
        self._user_id = user_id
        self._filters: dict[str, Any] = {"level": None, "status": None, "owner": None}
        self._mine = False
        self._search = ""
        self._sort_column = self.NAME
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._locale = QLocale()
        self._roles = frozenset(
            {_DISPLAY, _TOOLTIP, _DECORATION, _FOREGROUND}
            | {int(self.RecordIdRole), int(self.SortKeyRole), int(self.SyncStateRole)}
        )
        # The row data() served last and its display texts: a paint asks for every role of
        # every cell of a row in turn.
        self._last_row = -1
        self._last_record: ListRow | None = None
        self._last_texts: list[str | None] = []
        self.frame_fetches = 0  # counting queries, for tests

    # --- Qt model API -------------------------------------------------------------------

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < self.COLUMN_COUNT:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if section == self.SYNC:
                return self.tr("Sync")
            return field_label("customer", self.COLUMN_FIELDS[section])
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == self.SYNC:
                return self.tr("Whether the server has this customer's latest changes")
            if section == self.PHONE:
                return self.tr("Mobile, or the phone when there is no mobile")
            if section not in self.SORTABLE:
                return None
            return self.tr("Click to sort by this column")
        return None

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if role not in self._roles or not index.isValid():
            return None
        number = index.row()
        if number == self._last_row and self._last_record is not None:
            row, texts = self._last_record, self._last_texts
        else:
            found = self._row(number)
            if found is None:
                return None
            row, texts = found, [None] * self.COLUMN_COUNT
            self._last_row, self._last_record, self._last_texts = number, row, texts
        column = index.column()
        if role == _DISPLAY:
            text = texts[column]
            if text is None:
                text = texts[column] = self._display(row, column)
            return text
        if role == self.RecordIdRole:
            return row.id
        if role == self.SortKeyRole:
            return self._raw(row, column)
        if role == self.SyncStateRole:
            return row.sync_state
        if role == _TOOLTIP:
            return self._tooltip(row, column)
        if role == _DECORATION:
            return sync_state_icon(row.sync_state) if column == self.SYNC else None
        if role == _FOREGROUND:
            return self._foreground(row, column)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column`` in SQL (name and company in pinyin order). Columns outside
        :attr:`SORTABLE` are ignored."""
        if column not in self.SORTABLE:
            return
        if (column, order) == (self._sort_column, self._sort_order):
            return
        self._sort_column, self._sort_order = column, order
        self._set_query()

    # --- filters and search -------------------------------------------------------------

    def set_filters(
        self,
        *,
        level: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        mine: bool = False,
    ) -> None:
        """Show only customers of that level, status and owner (``None``: any); ``mine``:
        only the signed-in user's own customers."""
        filters = {"level": level or None, "status": status or None, "owner": owner or None}
        if filters == self._filters and mine == self._mine:
            return
        self._filters, self._mine = filters, mine
        self._set_query()

    def set_search(self, text: str) -> None:
        """Show only customers matching ``text``: name, company, pinyin or its initials,
        phone digits, email, city, tags (``EntityRepository.query(search=...)``'s rules)."""
        text = text.strip()
        if text == self._search:
            return
        self._search = text
        self._set_query()

    @property
    def search_text(self) -> str:
        return self._search

    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    @property
    def user_id(self) -> str | None:
        return self._user_id

    def set_user_id(self, user_id: str | None) -> None:
        """The signed-in user changed (first sign-in of a profile): "my customers" and the
        owner names follow."""
        self._user_id = user_id

    def owners(self) -> list[str]:
        """Owner ids present in the replica: the choices of an owner filter."""
        return [str(v) for v in self._repo.distinct_values("owner_id")]

    # --- reading (WindowedTableModel's hooks) -------------------------------------------

    def _fetch_frame(self) -> ListFrame:
        self.frame_fetches += 1
        return self._repo.list_frame(self._query)

    def _frame_count(self, frame: ListFrame) -> int:
        return frame.count

    def _read_window(self, offset: int, limit: int) -> list[ListRow]:
        return self._repo.list_window(self._ensure_frame(), LIST_FIELDS, offset, limit)

    def _position(self, record_id: str) -> int | None:
        # One counting query, a few ms at 100,000 customers.
        return self._repo.list_position(self._ensure_frame(), record_id)

    def _windows_replaced(self) -> None:
        self._forget_last_row()

    def _set_query(self) -> None:
        filters: list[Filter] = []
        for name, field in (("level", "level"), ("status", "status"), ("owner", "owner_id")):
            if self._filters[name] is not None:
                filters.append(Filter(field, "eq", self._filters[name]))
        if self._mine:
            filters.append(Filter("owner_id", "eq", self._user_id))
        field = self.COLUMN_FIELDS[self._sort_column]
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        self._change_query(
            ListQuery(
                filters=tuple(filters), search=self._search or None, sort=Sort(field, descending)
            )
        )

    def _forget_last_row(self) -> None:
        self._last_row, self._last_record, self._last_texts = -1, None, []

    # --- presentation -------------------------------------------------------------------

    def _raw(self, row: ListRow, column: int) -> Any:
        if column == self.SYNC:
            return row.sync_state
        if column == self.PHONE:
            return row.values[_AT["mobile"]] or row.values[_AT["phone"]]
        return row.values[_AT[self.COLUMN_FIELDS[column]]]

    def _display(self, row: ListRow, column: int) -> str:
        if column == self.SYNC:
            return sync_state_label(row.sync_state)
        value = self._raw(row, column)
        if value is None:
            return ""
        if column in (self.LEVEL, self.STATUS):
            return choice_label(self.COLUMN_FIELDS[column], value)
        if column == self.NEXT_FOLLOW_UP:
            return format_local_time(value, self._locale)
        return str(value)

    def _tooltip(self, row: ListRow, column: int) -> str | None:
        if column == self.SYNC:
            state = row.sync_state
            if state == "pending":
                return self.tr("Changed here; waiting to be sent to the server.")
            if state == "conflict":
                return self.tr(
                    "Changed here and on the server: open the customer to choose what to keep."
                )
            if state == "failed":
                if row.sync_error:
                    return self.tr("The server refused the last change: {reason}").format(
                        reason=row.sync_error
                    )
                return self.tr("The server refused the last change.")
            return self.tr("The server has this customer's latest changes.")
        if column == self.PHONE:
            mobile, phone = row.values[_AT["mobile"]], row.values[_AT["phone"]]
            if mobile and phone:
                return self.tr("Mobile: {mobile}\nPhone: {phone}").format(
                    mobile=mobile, phone=phone
                )
            return None
        if column in (self.NAME, self.COMPANY):
            text = self._display(row, column)
            return text or None  # long names are cut off in the cell
        return None

    def _foreground(self, row: ListRow, column: int) -> QBrush | None:
        if column == self.SYNC and row.sync_state in SYNC_COLORS:
            return QBrush(QColor(SYNC_COLORS[row.sync_state]))
        if column == self.NEXT_FOLLOW_UP:
            when = row.values[_AT["next_follow_up_at"]]
            if isinstance(when, datetime) and when < datetime.now(UTC):
                return QBrush(QColor(OVERDUE_COLOR))  # overdue
        return None


def format_local_time(value: datetime, locale: QLocale | None = None) -> str:
    """An aware time as the user's local date and time, in the UI locale's short format."""
    local = value.astimezone()  # the process's time zone, as the rest of the app shows it
    moment = QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute))
    return (locale or QLocale()).toString(moment, QLocale.FormatType.ShortFormat)


_SYNC_ICONS: dict[str, QIcon] = {}


def sync_state_icon(state: str) -> QIcon | None:
    """The mark of a sync state that wants attention (a coloured dot), ``None`` for synced;
    the customer and deal lists show it."""
    color = SYNC_COLORS.get(state)
    if color is None:
        return None
    icon = _SYNC_ICONS.get(state)
    if icon is None:
        icon = _SYNC_ICONS[state] = _dot_icon(color)
    return icon


def _dot_icon(color: str, size: int = 10) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)
