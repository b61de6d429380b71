"""The deals list's Qt model: a lazy window over the replica, sorted and filtered in SQL.

Like :class:`app.customer_table_model.CustomerTableModel`, the model never holds the whole
list (:class:`app.windowed_model.WindowedTableModel`): it counts the deals of the current
scope and filters once (``sync.pipeline``), and keeps a few windows of rows, least recently
used first out. ``data()`` for a row outside them reads its window with one bounded query.

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
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from PySide6.QtCore import (
    QCoreApplication,
    QDate,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from app.customer_table_model import SYNC_COLORS, sync_state_icon
from app.events import DataEvents
from app.labels import choice_label, field_label, sync_state_label
from app.validation_messages import field_error_text
from app.windowed_model import FLAGS, WindowedTableModel
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


class DealTableModel(WindowedTableModel[DealRow, DealQuery, int]):
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

    # A customer's name and owner show here and decide "my deals"; contacts and follow-ups
    # do not.
    WATCHED = frozenset({"deal", "customer"})
    COUNTED = WATCHED

    # Signals (WindowedTableModel's): sig_count_changed(int), sig_about_to_refresh and
    # sig_refreshed around reading the rows again. And:
    # A stage change was refused (validation, the deal was deleted): a sentence to show.
    sig_write_failed = Signal(str)

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
            DealQuery(user_id=user_id),
            parent,
            window_size=window_size,
            max_windows=max_windows,
            refresh_delay_ms=refresh_delay_ms,
        )
        self._replica = replica
        self._events = events
        self._sort_column = self.EXPECTED_CLOSE
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._locale = QLocale()
        self.count_fetches = 0  # counting queries, for tests

    # --- Qt model API -------------------------------------------------------------------

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.column() == self.STAGE:
            return FLAGS | Qt.ItemFlag.ItemIsEditable
        return FLAGS

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
            return sync_state_icon(row.sync_state)
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

    # --- reading (WindowedTableModel's hooks) -------------------------------------------

    def _fetch_frame(self) -> int:
        self.count_fetches += 1
        return pipeline.count_deals(self._replica, self._query)

    def _read_window(self, offset: int, limit: int) -> list[DealRow]:
        return pipeline.deal_window(self._replica, self._query, offset, limit)

    def _position(self, record_id: str) -> int | None:
        return pipeline.deal_position(self._replica, self._query, record_id)

    def _set_query(self, **changes: Any) -> None:
        self._change_query(replace(self._query, **changes))

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
