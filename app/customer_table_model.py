"""The customer list's Qt model: a lazy window over the replica, sorted and filtered in SQL.

The model never holds the whole list. It keeps a :class:`~sync.repository.ListFrame` (the
row count of the current filters, search and sort) and a few windows of rows (least
recently used first out); ``data()`` for a row outside them fetches its window with one
SQL query (:meth:`EntityRepository.list_window`). Sorting, filtering and the
pinyin / initials / phone search all run in SQL.

Changes arrive through :class:`app.events.DataEvents` and carry record ids, not fields.
So after a customer announcement the model counts again and reads the windows it holds
again, and compares: rows that only changed their values get ``dataChanged`` (nothing
else is repainted); a changed count or order refreshes the rows in place, keeping the
scroll position. Announcements are gathered for a moment first, so that a sync applying
page after page refreshes the list once, not once per page.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTime,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from app.events import DataEvents
from app.labels import choice_label, field_label, sync_state_label
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
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

# Colours that say "look at me" on light and dark palettes alike.
SYNC_COLORS = {"pending": "#2f7fd8", "conflict": "#e08a00", "failed": "#d0342c"}
OVERDUE_COLOR = "#d0342c"


class CustomerTableModel(QAbstractTableModel):
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

    DEFAULT_WINDOW_SIZE = 150
    DEFAULT_MAX_WINDOWS = 6
    DEFAULT_REFRESH_DELAY_MS = 40

    # The number of customers the list shows now (after filters and search).
    sig_count_changed = Signal(int)
    # Rows are about to be read again (rows may move: a view remembers its selection)...
    sig_about_to_refresh = Signal()
    # ...and were read again, after an announcement, a filter, a search or a sort.
    sig_refreshed = Signal()

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QObject | None = None,
        *,
        window_size: int = DEFAULT_WINDOW_SIZE,
        max_windows: int = DEFAULT_MAX_WINDOWS,
        refresh_delay_ms: int = DEFAULT_REFRESH_DELAY_MS,
    ) -> None:
        super().__init__(parent)
        if not 0 < window_size <= 1000 or max_windows < 1:
            raise ValueError("window_size must be 1..1000 and max_windows at least 1")
        self._repo = replica.customers
        self._user_id = user_id
        self._window_size = window_size
        self._max_windows = max_windows
        self._query = ListQuery()
        self._frame: ListFrame | None = None
        self._windows: OrderedDict[int, list[ListRow]] = OrderedDict()
        self._filters: dict[str, Any] = {"level": None, "status": None, "owner": None}
        self._mine = False
        self._search = ""
        self._sort_column = self.NAME
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._icons: dict[str, QIcon] = {}
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
        # What the model read, for tests and the benchmark.
        self.window_fetches = 0
        self.frame_fetches = 0
        self.fetched_windows: deque[int] = deque(maxlen=1000)  # window numbers, latest last
        # Announcements gathered until the refresh timer fires.
        self._pending_recount = False
        self._pending_any = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(refresh_delay_ms)
        self._refresh_timer.timeout.connect(self._apply_pending_changes)
        events.sig_records_changed.connect(self._on_records_changed)

    # --- Qt model API -------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        if parent.isValid():
            return 0
        return self._ensure_frame().count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

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
            return self._sync_icon(row.sync_state) if column == self.SYNC else None
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

    # --- rows and records ---------------------------------------------------------------

    def record_id(self, row: int) -> str | None:
        """The id of the customer at ``row`` (fetching its window if needed)."""
        found = self._row(row)
        return None if found is None else found.id

    def row_of(self, record_id: str) -> int | None:
        """The row of a customer, or ``None`` if the current filters and search leave it out.

        Looks in the cached windows first; otherwise asks SQL for its position (one
        counting query, a few ms at 100,000 customers)."""
        for number, rows in self._windows.items():
            for i, r in enumerate(rows):
                if r.id == record_id:
                    return number * self._window_size + i
        position = self._repo.list_position(self._ensure_frame(), record_id)
        if position is None or position >= self.rowCount():
            return None
        return position

    def refresh(self) -> None:
        """Read the count and the rows again now (announcements do this by themselves)."""
        self._refresh_timer.stop()
        self._pending_recount, self._pending_any = False, False
        self._soft_refresh(self._fetch_frame())

    # --- reading ------------------------------------------------------------------------

    def _ensure_frame(self) -> ListFrame:
        if self._frame is None:
            self._frame = self._fetch_frame()
        return self._frame

    def _fetch_frame(self) -> ListFrame:
        self.frame_fetches += 1
        return self._repo.list_frame(self._query)

    def _row(self, row: int) -> ListRow | None:
        if row < 0 or row >= self._ensure_frame().count:
            return None
        number, at = divmod(row, self._window_size)
        rows = self._windows.get(number)
        if rows is None:
            rows = self._fetch_window(number)
            self._windows[number] = rows
            while len(self._windows) > self._max_windows:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(number)
        # The list may have shrunk since it was counted (an edit not announced yet).
        return rows[at] if at < len(rows) else None

    def _fetch_window(self, number: int) -> list[ListRow]:
        self.window_fetches += 1
        self.fetched_windows.append(number)
        return self._repo.list_window(
            self._ensure_frame(), LIST_FIELDS, number * self._window_size, self._window_size
        )

    def _set_query(self) -> None:
        filters: list[Filter] = []
        for name, field in (("level", "level"), ("status", "status"), ("owner", "owner_id")):
            if self._filters[name] is not None:
                filters.append(Filter(field, "eq", self._filters[name]))
        if self._mine:
            filters.append(Filter("owner_id", "eq", self._user_id))
        field = self.COLUMN_FIELDS[self._sort_column]
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        self._query = ListQuery(
            filters=tuple(filters),
            search=self._search or None,
            sort=Sort(field, descending),
        )
        old = self._frame.count if self._frame is not None else None
        self.sig_about_to_refresh.emit()
        self.beginResetModel()
        self._frame = None
        self._windows.clear()
        self._forget_last_row()
        self.endResetModel()
        count = self._ensure_frame().count
        if count != old:
            self.sig_count_changed.emit(count)
        self.sig_refreshed.emit()

    # --- announcements ------------------------------------------------------------------

    def _on_records_changed(self, entity: str, ids: frozenset[str] | None) -> None:
        # The ids do not say which fields changed, so whatever they are, the rows held are
        # read again and compared (a few ms); only a customer change can change the count.
        if entity == "customer":
            self._pending_recount = True
        elif entity == "follow_up":
            # A follow-up's next action may have moved the customer's next follow-up. Its
            # writer updates the customer and announces that too, but the rows shown are
            # cheap to check again; a follow-up cannot change which customers are listed.
            pass
        else:
            return  # contacts and deals are not shown here
        self._pending_any = True
        self._refresh_timer.start()

    def _apply_pending_changes(self) -> None:
        if not self._pending_any:
            return
        recount = self._pending_recount
        self._pending_recount, self._pending_any = False, False
        if self._frame is None:
            return  # nothing read yet: the next rowCount() reads it all fresh
        frame = self._fetch_frame() if recount else self._frame
        if frame.count != self._frame.count:
            self._soft_refresh(frame)
            return
        self._frame = frame
        changed_rows: list[int] = []
        for number in list(self._windows):
            old_rows = self._windows[number]
            new_rows = self._fetch_window(number)
            if [r.id for r in old_rows] != [r.id for r in new_rows]:
                # Rows moved (a sorted field changed): every row may show another customer.
                self._soft_refresh(frame)
                return
            self._windows[number] = new_rows
            self._forget_last_row()
            base = number * self._window_size
            pairs = zip(old_rows, new_rows, strict=True)
            changed_rows.extend(base + i for i, (a, b) in enumerate(pairs) if a != b)
        for row in sorted(changed_rows):
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.COLUMN_COUNT - 1))
        self.sig_refreshed.emit()

    def _soft_refresh(self, frame: ListFrame) -> None:
        """Show ``frame``'s rows without a reset: rows added or taken at the end, the rest
        announced as changed, so the view keeps its scroll position and repaints only what
        it shows."""
        self.sig_about_to_refresh.emit()
        old = self._frame.count if self._frame is not None else 0
        new = frame.count
        self._windows.clear()
        self._forget_last_row()
        if new > old:
            self.beginInsertRows(QModelIndex(), old, new - 1)
            self._frame = frame
            self.endInsertRows()
        elif new < old:
            self.beginRemoveRows(QModelIndex(), new, old - 1)
            self._frame = frame
            self.endRemoveRows()
        else:
            self._frame = frame
        if min(old, new) > 0:
            self.dataChanged.emit(
                self.index(0, 0), self.index(min(old, new) - 1, self.COLUMN_COUNT - 1)
            )
        if new != old:
            self.sig_count_changed.emit(new)
        self.sig_refreshed.emit()

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

    def _sync_icon(self, state: str) -> QIcon | None:
        color = SYNC_COLORS.get(state)
        if color is None:
            return None
        icon = self._icons.get(state)
        if icon is None:
            icon = _dot_icon(color)
            self._icons[state] = icon
        return icon


def format_local_time(value: datetime, locale: QLocale | None = None) -> str:
    """An aware time as the user's local date and time, in the UI locale's short format."""
    local = value.astimezone()  # the process's time zone, as the rest of the app shows it
    moment = QDateTime(QDate(local.year, local.month, local.day), QTime(local.hour, local.minute))
    return (locale or QLocale()).toString(moment, QLocale.FormatType.ShortFormat)


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
