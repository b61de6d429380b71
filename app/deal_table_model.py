"""The deals list's Qt model: a lazy window over the replica, sorted and filtered in SQL.

Like :class:`app.customer_table_model.CustomerTableModel`, the model never holds the whole
list: it counts the deals of the current scope and filters once (``sync.pipeline``), and
keeps a few windows of rows, least recently used first out. ``data()`` for a row outside
them reads its window with one bounded query.

The stage column is editable: setting it writes the deal through the repository (one
transaction with its outbox row) and announces the change, which is how the list, the
pipeline chart and the sync learn of it.

Announcements of deals and customers (a customer's name or owner shows in the list and
decides "my deals") are gathered for a moment, then the count and the windows held are
read again: rows whose values changed get ``dataChanged``; a changed count or order
refreshes the rows in place, keeping the scroll position.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QDate,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from app.customer_table_model import SYNC_COLORS
from app.events import DataEvents
from app.labels import choice_label, field_label, sync_state_label
from app.validation_messages import field_error_text
from sync import pipeline
from sync.pipeline import DealQuery, DealRow, DealSort, Scope, SortField
from sync.replica import Replica
from sync.repository import RecordNotFoundError
from sync.validation import ValidationError

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_EDIT = Qt.ItemDataRole.EditRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_DECORATION = Qt.ItemDataRole.DecorationRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

# Stage colours shared with the pipeline chart: closed stages stand apart from open ones.
WON_COLOR = "#2e9d5b"
LOST_COLOR = "#8a9099"
OVERDUE_COLOR = "#d0342c"


def format_money(
    amount: Decimal | None, currency: str, locale: QLocale | None = None, *, decimals: int = 2
) -> str:
    """An amount in the UI locale's digits with its currency code: ``12,500.00 CNY``."""
    if amount is None:
        return ""
    number = (locale or QLocale()).toString(float(amount), "f", decimals)
    return QCoreApplication.translate("Money", "{amount} {currency}").format(
        amount=number, currency=currency
    )


def format_date(value: date, locale: QLocale | None = None) -> str:
    """A calendar date in the UI locale's short format."""
    qdate = QDate(value.year, value.month, value.day)
    return (locale or QLocale()).toString(qdate, QLocale.FormatType.ShortFormat)


class DealTableModel(QAbstractTableModel):
    """Deals of the replica as a table: lazy, sorted and filtered in SQL."""

    TITLE, CUSTOMER, STAGE, AMOUNT, PROBABILITY, EXPECTED_CLOSE, OWNER, SYNC = range(8)
    COLUMN_COUNT = 8
    # The sort key of each column (sync.pipeline.SortField); the sync state does not sort
    # (it would be computed for every deal of the list for each window).
    COLUMN_SORTS: ClassVar[dict[int, SortField]] = {
        TITLE: "title",
        CUSTOMER: "customer",
        STAGE: "stage",
        AMOUNT: "amount",
        PROBABILITY: "probability",
        EXPECTED_CLOSE: "expected_close",
        OWNER: "owner",
    }
    SORTABLE = frozenset(COLUMN_SORTS)

    RecordIdRole = Qt.ItemDataRole.UserRole + 1
    SortKeyRole = Qt.ItemDataRole.UserRole + 2  # the raw value: stored stage, Decimal, date
    SyncStateRole = Qt.ItemDataRole.UserRole + 3
    CustomerIdRole = Qt.ItemDataRole.UserRole + 4

    DEFAULT_WINDOW_SIZE = 150
    DEFAULT_MAX_WINDOWS = 6
    DEFAULT_REFRESH_DELAY_MS = 40

    sig_count_changed = Signal(int)
    # Rows are about to be read again (they may move: a view remembers its selection)...
    sig_about_to_refresh = Signal()
    # ...and were read again.
    sig_refreshed = Signal()
    # A stage change was refused (validation, the deal was deleted): a sentence to show.
    sig_write_failed = Signal(str)

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
        self._replica = replica
        self._events = events
        self._window_size = window_size
        self._max_windows = max_windows
        self._query = DealQuery(user_id=user_id)
        self._count: int | None = None
        self._windows: OrderedDict[int, list[DealRow]] = OrderedDict()
        self._sort_column = self.EXPECTED_CLOSE
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._locale = QLocale()
        self._dot_icons: dict[str, QIcon] = {}
        # What the model read, for tests.
        self.window_fetches = 0
        self.count_fetches = 0
        self._pending = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(refresh_delay_ms)
        self._refresh_timer.timeout.connect(self._apply_pending_changes)
        events.sig_records_changed.connect(self._on_records_changed)

    # --- Qt model API -------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        if parent.isValid():
            return 0
        return self._ensure_count()

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.column() == self.STAGE:
            return _FLAGS | Qt.ItemFlag.ItemIsEditable
        return _FLAGS

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < self.COLUMN_COUNT:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._header_text(section)
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == self.SYNC:
                return self.tr("Whether the server has this deal's latest changes")
            if section == self.OWNER:
                return self.tr("The owner of the deal's customer")
            if section == self.STAGE:
                return self.tr("Click to sort; F2 or a click on a selected stage changes it")
            return self.tr("Click to sort by this column")
        if role == Qt.ItemDataRole.TextAlignmentRole and section in (
            self.AMOUNT,
            self.PROBABILITY,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _header_text(self, section: int) -> str:
        if section == self.CUSTOMER:
            return field_label("deal", "customer_id")
        if section == self.SYNC:
            return self.tr("Sync")
        if section == self.PROBABILITY:
            return self.tr("Probability")
        fields = {
            self.TITLE: "title",
            self.STAGE: "stage",
            self.AMOUNT: "amount",
            self.EXPECTED_CLOSE: "expected_close",
            self.OWNER: "owner_id",
        }
        return field_label("deal", fields[section])

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row = self._row(index.row())
        if row is None:
            return None
        column = index.column()
        if role == _DISPLAY:
            return self._display(row, column)
        if role == _EDIT:
            return row.stage if column == self.STAGE else self._display(row, column)
        if role == self.RecordIdRole:
            return row.id
        if role == self.CustomerIdRole:
            return row.customer_id
        if role == self.SortKeyRole:
            return self._raw(row, column)
        if role == self.SyncStateRole:
            return row.sync_state
        if role == _ALIGNMENT and column in (self.AMOUNT, self.PROBABILITY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == _FOREGROUND:
            return self._foreground(row, column)
        if role == _TOOLTIP:
            return self._tooltip(row, column)
        if role == _DECORATION and column == self.SYNC:
            return self._sync_icon(row.sync_state)
        return None

    def setData(self, index: _Index, value: Any, role: int = _EDIT) -> bool:
        """Editing the stage cell moves the deal to that stage (see :meth:`move_to_stage`)."""
        if role != _EDIT or not index.isValid() or index.column() != self.STAGE:
            return False
        deal_id = self.record_id(index.row())
        if deal_id is None or not isinstance(value, str):
            return False
        return self.move_to_stage(deal_id, value)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column`` in SQL (stages in pipeline order, customers in pinyin order).
        Columns outside :attr:`SORTABLE` are ignored."""
        if column not in self.SORTABLE:
            return
        if (column, order) == (self._sort_column, self._sort_order):
            return
        self._sort_column, self._sort_order = column, order
        sort = DealSort(self.COLUMN_SORTS[column], order == Qt.SortOrder.DescendingOrder)
        self._set_query(sort=sort)

    # --- filters ------------------------------------------------------------------------

    @property
    def query(self) -> DealQuery:
        return self._query

    @property
    def scope(self) -> Scope:
        return self._query.scope

    @property
    def stage_filter(self) -> str | None:
        return self._query.stage

    @property
    def open_only(self) -> bool:
        return self._query.open_only

    @property
    def user_id(self) -> str | None:
        return self._query.user_id

    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    def set_scope(self, scope: Scope) -> None:
        """``"mine"``: deals of the signed-in user's customers; ``"team"``: every deal."""
        if scope != self._query.scope:
            self._set_query(scope=scope)

    def set_filters(self, *, stage: str | None = None, open_only: bool = False) -> None:
        """Show only deals in ``stage`` (``None``: any), only open ones (not won or lost)."""
        if (stage or None, open_only) != (self._query.stage, self._query.open_only):
            self._set_query(stage=stage or None, open_only=open_only)

    def set_user_id(self, user_id: str | None) -> None:
        """The signed-in user changed: "my deals" follows."""
        if user_id != self._query.user_id:
            self._set_query(user_id=user_id)

    # --- rows and writes ----------------------------------------------------------------

    def deal(self, row: int) -> DealRow | None:
        """The deal at ``row`` (fetching its window if needed)."""
        return self._row(row)

    def record_id(self, row: int) -> str | None:
        found = self._row(row)
        return None if found is None else found.id

    def row_of(self, deal_id: str) -> int | None:
        """The row of a deal, or ``None`` if the current scope and filters leave it out."""
        for number, rows in self._windows.items():
            for i, r in enumerate(rows):
                if r.id == deal_id:
                    return number * self._window_size + i
        position = pipeline.deal_position(self._replica, self._query, deal_id)
        if position is None or position >= self.rowCount():
            return None
        return position

    def move_to_stage(self, deal_id: str, stage: str) -> bool:
        """Write the deal's new stage (with its outbox row) and announce it. Whether it was
        written; a refusal is reported through :attr:`sig_write_failed`."""
        try:
            change = self._replica.deals.update(deal_id, {"stage": stage})
        except ValidationError as exc:
            spec = self._replica.deals.spec
            texts = [
                field_error_text(e, spec.field(e.field) if spec.has_field(e.field) else None)
                for e in exc.errors
            ]
            self.sig_write_failed.emit("\n".join(texts))
            return False
        except RecordNotFoundError:
            self.sig_write_failed.emit(self.tr("This deal was deleted in the meantime."))
            return False
        if change.mutation_id is not None:
            log.info("deal %s moved to stage %s", deal_id, stage)
            self._events.announce("deal", {deal_id})
        return True

    def refresh(self) -> None:
        """Read the count and the rows again now (announcements do this by themselves)."""
        self._refresh_timer.stop()
        self._pending = False
        self._soft_refresh(self._fetch_count())

    # --- reading ------------------------------------------------------------------------

    def _ensure_count(self) -> int:
        if self._count is None:
            self._count = self._fetch_count()
        return self._count

    def _fetch_count(self) -> int:
        self.count_fetches += 1
        return pipeline.count_deals(self._replica, self._query)

    def _row(self, row: int) -> DealRow | None:
        if row < 0 or row >= self._ensure_count():
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
        return rows[at] if at < len(rows) else None  # the list may have shrunk meanwhile

    def _fetch_window(self, number: int) -> list[DealRow]:
        self.window_fetches += 1
        offset = number * self._window_size
        return pipeline.deal_window(self._replica, self._query, offset, self._window_size)

    def _set_query(self, **changes: Any) -> None:
        values = {
            "scope": self._query.scope,
            "user_id": self._query.user_id,
            "stage": self._query.stage,
            "open_only": self._query.open_only,
            "sort": self._query.sort,
            **changes,
        }
        self._query = DealQuery(**values)
        old = self._count
        self.sig_about_to_refresh.emit()
        self.beginResetModel()
        self._count = None
        self._windows.clear()
        self.endResetModel()
        count = self._ensure_count()
        if count != old:
            self.sig_count_changed.emit(count)
        self.sig_refreshed.emit()

    # --- announcements ------------------------------------------------------------------

    def _on_records_changed(self, entity: str, ids: frozenset[str] | None) -> None:
        # A customer's name and owner show here and decide "my deals"; contacts and
        # follow-ups do not.
        if entity not in ("deal", "customer"):
            return
        self._pending = True
        self._refresh_timer.start()

    def _apply_pending_changes(self) -> None:
        if not self._pending:
            return
        self._pending = False
        if self._count is None:
            return  # nothing read yet: the next rowCount() reads it fresh
        count = self._fetch_count()
        if count != self._count:
            self._soft_refresh(count)
            return
        changed_rows: list[int] = []
        for number in list(self._windows):
            old_rows = self._windows[number]
            new_rows = self._fetch_window(number)
            if [r.id for r in old_rows] != [r.id for r in new_rows]:
                self._soft_refresh(count)  # rows moved (a sorted field changed)
                return
            self._windows[number] = new_rows
            base = number * self._window_size
            pairs = zip(old_rows, new_rows, strict=True)
            changed_rows.extend(base + i for i, (a, b) in enumerate(pairs) if a != b)
        for row in sorted(changed_rows):
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.COLUMN_COUNT - 1))
        self.sig_refreshed.emit()

    def _soft_refresh(self, count: int) -> None:
        """Show ``count`` rows without a reset, so the view keeps its scroll position."""
        self.sig_about_to_refresh.emit()
        old = self._count or 0
        self._windows.clear()
        if count > old:
            self.beginInsertRows(QModelIndex(), old, count - 1)
            self._count = count
            self.endInsertRows()
        elif count < old:
            self.beginRemoveRows(QModelIndex(), count, old - 1)
            self._count = count
            self.endRemoveRows()
        else:
            self._count = count
        if min(old, count) > 0:
            self.dataChanged.emit(
                self.index(0, 0), self.index(min(old, count) - 1, self.COLUMN_COUNT - 1)
            )
        if count != old:
            self.sig_count_changed.emit(count)
        self.sig_refreshed.emit()

    # --- presentation -------------------------------------------------------------------

    def _raw(self, row: DealRow, column: int) -> Any:
        return {
            self.TITLE: row.title,
            self.CUSTOMER: row.customer_name,
            self.STAGE: row.stage,
            self.AMOUNT: row.amount,
            self.PROBABILITY: row.probability,
            self.EXPECTED_CLOSE: row.expected_close,
            self.OWNER: row.owner_id,
            self.SYNC: row.sync_state,
        }[column]

    def _display(self, row: DealRow, column: int) -> str:
        if column == self.STAGE:
            return choice_label("stage", row.stage)
        if column == self.AMOUNT:
            return format_money(row.amount, row.currency, self._locale)
        if column == self.PROBABILITY:
            if row.probability is None:
                return ""
            return self._locale.toString(row.probability) + self._locale.percent()
        if column == self.EXPECTED_CLOSE:
            return "" if row.expected_close is None else format_date(row.expected_close)
        if column == self.SYNC:
            return sync_state_label(row.sync_state)
        value = self._raw(row, column)
        return "" if value is None else str(value)

    def _foreground(self, row: DealRow, column: int) -> QBrush | None:
        if column == self.STAGE:
            if row.stage == "won":
                return QBrush(QColor(WON_COLOR))
            if row.stage == "lost":
                return QBrush(QColor(LOST_COLOR))
        if column == self.SYNC and row.sync_state in SYNC_COLORS:
            return QBrush(QColor(SYNC_COLORS[row.sync_state]))
        if (
            column == self.EXPECTED_CLOSE
            and row.expected_close is not None
            and row.stage not in pipeline.CLOSED_STAGES
            and row.expected_close < date.today()
        ):
            return QBrush(QColor(OVERDUE_COLOR))  # an open deal past its expected close
        return None

    def _tooltip(self, row: DealRow, column: int) -> str | None:
        if column == self.SYNC:
            if row.sync_state == "pending":
                return self.tr("Changed here; waiting to be sent to the server.")
            if row.sync_state == "conflict":
                return self.tr("Changed here and on the server: open it to choose what to keep.")
            if row.sync_state == "failed":
                if row.sync_error:
                    return self.tr("The server refused the last change: {reason}").format(
                        reason=row.sync_error
                    )
                return self.tr("The server refused the last change.")
            return self.tr("The server has this deal's latest changes.")
        if column == self.EXPECTED_CLOSE and self._foreground(row, column) is not None:
            return self.tr("Past its expected close and still open")
        if column in (self.TITLE, self.CUSTOMER):
            return self._display(row, column) or None  # long texts are cut off in the cell
        return None

    def _sync_icon(self, state: str) -> QIcon | None:
        color = SYNC_COLORS.get(state)
        if color is None:
            return None
        icon = self._dot_icons.get(state)
        if icon is None:
            icon = self._dot_icons[state] = _dot_icon(color)
        return icon


def _dot_icon(color: str, size: int = 10) -> QIcon:
    """A small filled circle: the sync state's mark, as in the customer list."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)
