"""The follow-up list's Qt model: a lazy window over every follow-up, filtered and sorted
in SQL (:func:`sync.agenda.follow_up_window`).

Like :class:`app.customer_table_model.CustomerTableModel`, the model
(:class:`app.windowed_model.WindowedTableModel`) holds the row count of the current filters
and a few windows of rows (least recently used first out); ``data()`` for a row outside them
reads its window with one query. After announcements of follow-ups (or customers: names)
the held windows are read again and compared: changed rows get ``dataChanged``, a changed
count inserts or removes rows at the end, so the view keeps its scroll position.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from PySide6.QtCore import QLocale, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from app.customer_table_model import OVERDUE_COLOR, SYNC_COLORS, format_local_time
from app.events import DataEvents
from app.labels import choice_label, field_label, sync_state_label
from app.windowed_model import WindowedTableModel
from sync.agenda import (
    FollowUpListQuery,
    FollowUpRow,
    SortField,
    count_follow_ups,
    follow_up_position,
    follow_up_window,
)
from sync.replica import Replica

_Index = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole


class FollowUpTableModel(WindowedTableModel[FollowUpRow, FollowUpListQuery, int]):
    """Every follow-up of the replica as a table: lazy, filtered and sorted in SQL."""

    HAPPENED_AT, CUSTOMER, KIND, CONTENT, NEXT_ACTION, NEXT_ACTION_AT, DONE, SYNC = range(8)
    COLUMN_COUNT = 8
    COLUMN_FIELDS: ClassVar[dict[int, str]] = {
        HAPPENED_AT: "happened_at",
        CUSTOMER: "customer_id",
        KIND: "kind",
        CONTENT: "content",
        NEXT_ACTION: "next_action",
        NEXT_ACTION_AT: "next_action_at",
        DONE: "done",
    }
    # Columns with an index to sort by: other sorts would sort every follow-up per window.
    SORTABLE: ClassVar[dict[int, SortField]] = {
        HAPPENED_AT: "happened_at",
        NEXT_ACTION_AT: "next_action_at",
    }

    RecordIdRole = Qt.ItemDataRole.UserRole + 1
    CustomerIdRole = Qt.ItemDataRole.UserRole + 2
    SortKeyRole = Qt.ItemDataRole.UserRole + 3  # the raw value

    DEFAULT_WINDOW_SIZE = 100
    # Customers: their names show here.
    WATCHED = frozenset({"follow_up", "customer"})
    COUNTED = WATCHED

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        parent: QObject | None = None,
        *,
        window_size: int = DEFAULT_WINDOW_SIZE,
        max_windows: int = WindowedTableModel.DEFAULT_MAX_WINDOWS,
        refresh_delay_ms: int = WindowedTableModel.DEFAULT_REFRESH_DELAY_MS,
    ) -> None:
        super().__init__(
            events,
            FollowUpListQuery(),
            parent,
            window_size=window_size,
            max_windows=max_windows,
            refresh_delay_ms=refresh_delay_ms,
        )
        self._replica = replica
        self._locale = QLocale()

    # --- Qt model API -------------------------------------------------------------------

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < self.COLUMN_COUNT:
            return None
        if role == _DISPLAY:
            if section == self.SYNC:
                return self.tr("Sync")
            return field_label("follow_up", self.COLUMN_FIELDS[section])
        if role == Qt.ItemDataRole.ToolTipRole and section in self.SORTABLE:
            return self.tr("Click to sort by this column")
        return None

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        column = index.column()
        if role == _DISPLAY:
            return self._display(row, column)
        if role == self.RecordIdRole:
            return row.id
        if role == self.CustomerIdRole:
            return row.record.values["customer_id"]
        if role == self.SortKeyRole:
            return self._raw(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.CONTENT:
                return row.record.values["content"]
            if column == self.NEXT_ACTION:
                return row.record.values["next_action"] or None
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.DONE:
            return Qt.AlignmentFlag.AlignCenter
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in SQL by an indexed column (happened at, next action at); others ignored."""
        field = self.SORTABLE.get(column)
        if field is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        self._set_query(sort=field, descending=descending)

    # --- filters ------------------------------------------------------------------------

    @property
    def query(self) -> FollowUpListQuery:
        return self._query

    @property
    def sort_column(self) -> int:
        return next(c for c, f in self.SORTABLE.items() if f == self._query.sort)

    @property
    def sort_order(self) -> Qt.SortOrder:
        if self._query.descending:
            return Qt.SortOrder.DescendingOrder
        return Qt.SortOrder.AscendingOrder

    def set_filters(
        self,
        *,
        kind: str | None = None,
        done: bool | None = None,
        happened_from: datetime | None = None,
        happened_until: datetime | None = None,
        customer_id: str | None = None,
        customer_search: str | None = None,
    ) -> None:
        """Show only follow-ups of that kind, done state, time range (aware instants, from
        inclusive, until exclusive) and customer (an id, or a search on its name, pinyin,
        initials or phone); ``None``: any."""
        self._set_query(
            kind=kind or None,
            done=done,
            happened_from=happened_from,
            happened_until=happened_until,
            customer_id=customer_id or None,
            customer_search=(customer_search or "").strip() or None,
        )

    # --- rows ---------------------------------------------------------------------------

    def row_at(self, row: int) -> FollowUpRow | None:
        """The row (fetching its window if needed), or None past the end."""
        return self._row(row)

    def customer_id(self, row: int) -> str | None:
        found = self.row_at(row)
        return None if found is None else str(found.record.values["customer_id"])

    # --- reading (WindowedTableModel's hooks) -------------------------------------------

    def _fetch_frame(self) -> int:
        return count_follow_ups(self._replica, self._query)

    def _read_window(self, offset: int, limit: int) -> list[FollowUpRow]:
        return follow_up_window(self._replica, self._query, offset, limit)

    def _position(self, record_id: str) -> int | None:
        return follow_up_position(self._replica, self._query, record_id)

    def _set_query(self, **changes: Any) -> None:
        self._change_query(replace(self._query, **changes))

    # --- presentation -------------------------------------------------------------------

    def _raw(self, row: FollowUpRow, column: int) -> Any:
        if column == self.SYNC:
            return row.record.sync_state
        if column == self.CUSTOMER:
            return row.customer_name
        return row.record.values[self.COLUMN_FIELDS[column]]

    def _display(self, row: FollowUpRow, column: int) -> str:
        values = row.record.values
        if column == self.SYNC:
            return sync_state_label(row.record.sync_state)
        if column == self.CUSTOMER:
            return row.customer_name
        if column == self.KIND:
            return choice_label("kind", values["kind"])
        if column == self.CONTENT:
            lines = (values["content"] or "").strip().splitlines()
            first = lines[0] if lines else ""
            return first + " …" if len(lines) > 1 else first
        if column == self.DONE:
            return "✓" if values["done"] else ""
        if column in (self.HAPPENED_AT, self.NEXT_ACTION_AT):
            value = values[self.COLUMN_FIELDS[column]]
            return "" if value is None else format_local_time(value, self._locale)
        return str(values["next_action"] or "")

    def _foreground(self, row: FollowUpRow, column: int) -> QBrush | None:
        state = row.record.sync_state
        if column == self.SYNC and state in SYNC_COLORS:
            return QBrush(QColor(SYNC_COLORS[state]))
        if column == self.NEXT_ACTION_AT and not row.record.values["done"]:
            when = row.record.values["next_action_at"]
            if when is not None and when < datetime.now(when.tzinfo):
                return QBrush(QColor(OVERDUE_COLOR))
        return None
