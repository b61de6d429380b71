"""A lazy table model over a list read in SQL a window at a time.

:class:`WindowedTableModel` is the machinery the customer, deal and follow-up lists share.
The model never holds the whole list: it keeps a *frame* (what one counting query says
about the current query: at least its row count) and a few windows of rows, least
recently used first out; a row outside them is read with its window in one bounded query.

Changes arrive through :class:`app.events.DataEvents` and carry record ids, not fields.
Announcements of the entities a list shows are gathered for a moment (a sync applying
page after page refreshes the list once, not once per page); then the count and the
windows held are read again and compared: rows that only changed their values get
``dataChanged``; a changed count or order refreshes the rows in place (rows inserted or
removed at the end, the rest announced as changed), so the view keeps its scroll position.

A subclass says how to count (:meth:`_fetch_frame`, :meth:`_frame_count`), how to read a
window (:meth:`_read_window`), where a record is (:meth:`_position`) and which announced
entities concern it (:attr:`WATCHED`, :attr:`COUNTED`); it keeps its columns, roles and
filters to itself.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import ClassVar, Generic, Protocol, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from app.events import DataEvents

_Index = QModelIndex | QPersistentModelIndex

FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


RowT = TypeVar("RowT", bound=_HasId)  # one row of a window; compared with == for changes
QueryT = TypeVar("QueryT")  # the filters, search and sort of the list
FrameT = TypeVar("FrameT")  # what counting says about the list (the count itself, or more)


class WindowedTableModel(QAbstractTableModel, Generic[RowT, QueryT, FrameT]):
    """Rows of a list read lazily a window at a time, refreshed after announcements."""

    COLUMN_COUNT: ClassVar[int]
    # Entities whose announcements make the list read its windows again, and those of
    # them that may change which records are listed (so the list is counted again too).
    WATCHED: ClassVar[frozenset[str]] = frozenset()
    COUNTED: ClassVar[frozenset[str]] = frozenset()

    DEFAULT_WINDOW_SIZE = 150
    DEFAULT_MAX_WINDOWS = 6
    DEFAULT_REFRESH_DELAY_MS = 40

    # The number of rows the list shows now (after its filters).
    sig_count_changed = Signal(int)
    # Rows are about to be read again (rows may move: a view remembers its selection)...
    sig_about_to_refresh = Signal()
    # ...and were read again, after an announcement or a change of the query.
    sig_refreshed = Signal()

    def __init__(
        self,
        events: DataEvents,
        query: QueryT,
        parent: QObject | None = None,
        *,
        window_size: int,
        max_windows: int,
        refresh_delay_ms: int,
    ) -> None:
        super().__init__(parent)
        if not 0 < window_size <= 1000 or max_windows < 1:
            raise ValueError("window_size must be 1..1000 and max_windows at least 1")
        self._window_size = window_size
        self._max_windows = max_windows
        self._query = query
        self._frame: FrameT | None = None
        self._windows: OrderedDict[int, list[RowT]] = OrderedDict()
        # What the model read, for tests and the benchmark.
        self.window_fetches = 0
        self.fetched_windows: deque[int] = deque(maxlen=1000)  # window numbers, latest last
        # Announcements gathered until the refresh timer fires.
        self._pending_recount = False
        self._pending_any = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(refresh_delay_ms)
        self._refresh_timer.timeout.connect(self._apply_pending_changes)
        events.sig_records_changed.connect(self._on_records_changed)

    # --- what a subclass says -----------------------------------------------------------

    def _fetch_frame(self) -> FrameT:
        """Count the list of the current query (one SQL query)."""
        raise NotImplementedError

    def _frame_count(self, frame: FrameT) -> int:
        """The row count of ``frame``; by default the frame is the count itself."""
        if not isinstance(frame, int):
            raise TypeError("a frame that is not a count needs its own _frame_count()")
        return frame

    def _read_window(self, offset: int, limit: int) -> list[RowT]:
        """Up to ``limit`` rows of the current query from row ``offset`` (one SQL query)."""
        raise NotImplementedError

    def _position(self, record_id: str) -> int | None:
        """The row of a record in the current query, asked of SQL; ``None``: not listed."""
        raise NotImplementedError

    def _windows_replaced(self) -> None:
        """The windows held were dropped or read again: forget what was derived from them."""

    # --- Qt model API -------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._frame_count(self._ensure_frame())

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    # --- rows ---------------------------------------------------------------------------

    def record_id(self, row: int) -> str | None:
        """The id of the record at ``row`` (fetching its window if needed)."""
        found = self._row(row)
        return None if found is None else found.id

    def row_of(self, record_id: str) -> int | None:
        """The row of a record, or ``None`` if the current query leaves it out.

        Looks in the windows held first; otherwise asks SQL for its position (one counting
        query)."""
        for number, rows in self._windows.items():
            for i, r in enumerate(rows):
                if r.id == record_id:
                    return number * self._window_size + i
        position = self._position(record_id)
        if position is None or position >= self.rowCount():
            return None
        return position

    def refresh(self) -> None:
        """Read the count and the rows again now (announcements do this by themselves)."""
        self._refresh_timer.stop()
        self._pending_recount, self._pending_any = False, False
        self._soft_refresh(self._fetch_frame())

    # --- reading ------------------------------------------------------------------------

    def _ensure_frame(self) -> FrameT:
        if self._frame is None:
            self._frame = self._fetch_frame()
        return self._frame

    def _row(self, row: int) -> RowT | None:
        if row < 0 or row >= self.rowCount():
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

    def _fetch_window(self, number: int) -> list[RowT]:
        self.window_fetches += 1
        self.fetched_windows.append(number)
        return self._read_window(number * self._window_size, self._window_size)

    def _change_query(self, query: QueryT) -> None:
        """List ``query``'s rows instead: the model is reset and counted again."""
        if query == self._query:
            return
        old = None if self._frame is None else self._frame_count(self._frame)
        self.sig_about_to_refresh.emit()
        self.beginResetModel()
        self._query = query
        self._frame = None
        self._windows.clear()
        self._windows_replaced()
        self.endResetModel()
        count = self.rowCount()
        if count != old:
            self.sig_count_changed.emit(count)
        self.sig_refreshed.emit()

    # --- announcements ------------------------------------------------------------------

    def _on_records_changed(self, entity: str, _ids: frozenset[str] | None) -> None:
        # The ids do not say which fields changed, so whatever they are, the rows held are
        # read again and compared (a few ms).
        if entity not in self.WATCHED:
            return
        if entity in self.COUNTED:
            self._pending_recount = True
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
        if self._frame_count(frame) != self._frame_count(self._frame):
            self._soft_refresh(frame)
            return
        self._frame = frame
        changed_rows: list[int] = []
        for number in list(self._windows):
            old_rows = self._windows[number]
            new_rows = self._fetch_window(number)
            if [r.id for r in old_rows] != [r.id for r in new_rows]:
                # Rows moved (a sorted field changed): every row may show another record.
                self._soft_refresh(frame)
                return
            self._windows[number] = new_rows
            self._windows_replaced()
            base = number * self._window_size
            pairs = zip(old_rows, new_rows, strict=True)
            changed_rows.extend(base + i for i, (a, b) in enumerate(pairs) if a != b)
        for row in sorted(changed_rows):
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.COLUMN_COUNT - 1))
        self.sig_refreshed.emit()

    def _soft_refresh(self, frame: FrameT) -> None:
        """Show ``frame``'s rows without a reset: rows added or taken at the end, the rest
        announced as changed, so the view keeps its scroll position and repaints only what
        it shows."""
        self.sig_about_to_refresh.emit()
        old = 0 if self._frame is None else self._frame_count(self._frame)
        new = self._frame_count(frame)
        self._windows.clear()
        self._windows_replaced()
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
