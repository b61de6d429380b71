"""The customer list: search as you type, filters, and a lazy table of 100,000 rows.

The view only arranges widgets and passes what the user asks for to
:class:`~app.customer_table_model.CustomerTableModel`, which reads the replica in SQL.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelectionModel,
    QLocale,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.customer_table_model import CustomerTableModel
from app.events import DataEvents
from app.labels import choice_label
from app.table_view import lazy_table_view
from sync.replica import Replica
from sync.schema import CustomerLevel, CustomerStatus

SEARCH_DELAY_MS = 150

# Starting widths (px) of the columns, before the user's own layout is restored.
_WIDTHS = {
    CustomerTableModel.NAME: 130,
    CustomerTableModel.COMPANY: 220,
    CustomerTableModel.LEVEL: 50,
    CustomerTableModel.STATUS: 80,
    CustomerTableModel.OWNER: 90,
    CustomerTableModel.PHONE: 130,
    CustomerTableModel.CITY: 70,
    CustomerTableModel.NEXT_FOLLOW_UP: 130,
    CustomerTableModel.SYNC: 90,
}


class _OwnerCombo(QComboBox):
    """The owner filter: its choices are read when it opens (not at startup), so owners that
    arrive with a sync show up."""

    def __init__(self, model: CustomerTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.addItem(self.tr("All owners"), None)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

    def reload(self) -> None:
        current = self.currentData()
        owners = self._model.owners()
        me = self._model.user_id
        self.blockSignals(True)
        try:
            while self.count() > 1:
                self.removeItem(1)
            for owner in owners:
                text = self.tr("{owner} (me)").format(owner=owner) if owner == me else owner
                self.addItem(text, owner)
            at = self.findData(current) if current is not None else 0
            self.setCurrentIndex(max(at, 0))
        finally:
            self.blockSignals(False)
        if self.currentData() != current:
            self.currentIndexChanged.emit(self.currentIndex())

    def showPopup(self) -> None:
        self.reload()
        super().showPopup()


class CustomerListView(QWidget):
    """Search field, filters, the customer table and a count of what it shows."""

    # The user opened a customer (double-click or Enter on its row): its record id.
    sig_open_customer = Signal(str)
    # Emitted once, right after the table first painted its rows (startup measurement).
    sig_first_paint = Signal()

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._model = CustomerTableModel(replica, events, user_id, self)
        self._first_paint_done = False
        self._first_paint_pending = False
        # The selected customer, kept across refreshes that move rows.
        self._selected_id: str | None = None
        self._refreshing = False

        self._search = QLineEdit(self)
        self._search.setObjectName("customerSearch")
        self._search.setPlaceholderText(self.tr("Search name, pinyin, initials or phone…"))
        self._search.setClearButtonEnabled(True)
        self._search.setToolTip(
            self.tr("Type a name, its pinyin or initials (zs for 张三), a company or phone digits")
        )
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.flush_search)
        self._search.textChanged.connect(self._search_timer.start)  # restart on each key
        self._search.returnPressed.connect(self.flush_search)
        self._search.installEventFilter(self)

        self._level = QComboBox(self)
        self._level.setObjectName("levelFilter")
        self._level.addItem(self.tr("All levels"), None)
        for level in CustomerLevel:
            self._level.addItem(choice_label("level", level.value), level.value)
        self._status = QComboBox(self)
        self._status.setObjectName("statusFilter")
        self._status.addItem(self.tr("All statuses"), None)
        for status in CustomerStatus:
            self._status.addItem(choice_label("status", status.value), status.value)
        self._owner = _OwnerCombo(self._model, self)
        self._owner.setObjectName("ownerFilter")
        self._mine = QCheckBox(self.tr("My customers"), self)
        self._mine.setObjectName("mineFilter")
        if user_id is None:
            self._mine.setEnabled(False)
            self._mine.setToolTip(self.tr("Sign in to see which customers are yours"))
        for combo in (self._level, self._status, self._owner):
            combo.currentIndexChanged.connect(self._apply_filters)
        self._mine.toggled.connect(self._apply_filters)

        self._table = lazy_table_view(self, self._model, "customerTable", _WIDTHS)
        self._table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        header = self._table.horizontalHeader()
        header.setSortIndicator(self._model.sort_column, self._model.sort_order)
        self._table.setSortingEnabled(True)
        header.sortIndicatorChanged.connect(self._on_sort_indicator)
        self._table.doubleClicked.connect(self._open_index)
        self._table.installEventFilter(self)
        self._table.viewport().installEventFilter(self)

        self._count = QLabel(self)
        self._count.setObjectName("customerCount")
        self._model.sig_count_changed.connect(self._show_count)
        self._model.sig_about_to_refresh.connect(self._on_about_to_refresh)
        self._model.sig_refreshed.connect(self._on_refreshed)
        self._table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        filters = QHBoxLayout()
        filters.addWidget(self._search, 1)
        filters.addWidget(self._level)
        filters.addWidget(self._status)
        filters.addWidget(self._owner)
        filters.addWidget(self._mine)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self._table, 1)
        layout.addWidget(self._count)
        self.setFocusProxy(self._search)
        self._show_count(self._model.rowCount())

    # --- public API ---------------------------------------------------------------------

    @property
    def model(self) -> CustomerTableModel:
        return self._model

    @property
    def table(self) -> QTableView:
        return self._table

    @property
    def search_field(self) -> QLineEdit:
        return self._search

    def set_user_id(self, user_id: str | None) -> None:
        """Who is signed in: enables "My customers" once it is known."""
        self._model.set_user_id(user_id)
        self._mine.setEnabled(user_id is not None)
        self._mine.setToolTip(
            "" if user_id else self.tr("Sign in to see which customers are yours")
        )
        self._owner.reload()
        if self._mine.isChecked():
            self._apply_filters()

    def focus_search(self) -> None:
        """Put the cursor in the search field with its text selected (Ctrl+F)."""
        self._search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self._search.selectAll()

    def flush_search(self) -> None:
        """Search for what is typed now, without waiting for the typing pause."""
        self._search_timer.stop()
        self._model.set_search(self._search.text())

    def save_layout(self) -> bytes:
        """The table header's state (column widths, order, sort) for the settings."""
        return bytes(self._table.horizontalHeader().saveState().data())

    def restore_layout(self, data: bytes) -> None:
        """Bring back a layout from :meth:`save_layout`; ignores data it cannot read."""
        header = self._table.horizontalHeader()
        if not data or not header.restoreState(QByteArray(data)):
            return
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        if column in CustomerTableModel.SORTABLE:
            self._model.sort(column, order)
        else:
            header.setSortIndicator(self._model.sort_column, self._model.sort_order)

    def select_customer(self, record_id: str) -> bool:
        """Select and show the customer's row if the list shows it; whether it did."""
        row = self._model.row_of(record_id)
        if row is None:
            return False
        index = self._model.index(row, 0)
        self._table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self._table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        return True

    def current_record_id(self) -> str | None:
        """The id of the selected customer, if any."""
        rows = self._table.selectionModel().selectedRows()
        if not rows:
            return None
        return self._model.record_id(rows[0].row())

    # --- events -------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._table.viewport():
            if event.type() == QEvent.Type.Paint and not self._first_paint_done:
                self._on_viewport_paint()
        elif watched is self._table and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._open_index(self._table.currentIndex())
                return True
        elif watched is self._search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Down and self._model.rowCount() > 0:
                # From the search field straight into the results.
                self.flush_search()
                self._table.setFocus(Qt.FocusReason.OtherFocusReason)
                if not self._table.selectionModel().hasSelection():
                    self._table.selectRow(0)
                return True
        return super().eventFilter(watched, event)

    def _on_viewport_paint(self) -> None:
        # The model counts and reads its first window while the view lays out, so the
        # first paint shows rows; an empty list counts as painted too (nothing to wait for).
        if self._first_paint_pending:
            return
        self._first_paint_pending = True
        QTimer.singleShot(0, self._emit_first_paint)  # after this paint has finished

    def _emit_first_paint(self) -> None:
        if not self._first_paint_done:
            self._first_paint_done = True
            self.sig_first_paint.emit()

    def _open_index(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        record_id = self._model.record_id(index.row())
        if record_id is not None:
            self.sig_open_customer.emit(record_id)

    def _apply_filters(self) -> None:
        self._model.set_filters(
            level=self._level.currentData(),
            status=self._status.currentData(),
            owner=self._owner.currentData(),
            mine=self._mine.isChecked(),
        )

    def _on_sort_indicator(self, column: int, order: Qt.SortOrder) -> None:
        if column not in CustomerTableModel.SORTABLE:
            # Phone and sync state do not sort: show the order the list really has.
            header = self._table.horizontalHeader()
            header.setSortIndicator(self._model.sort_column, self._model.sort_order)

    def _show_count(self, count: int) -> None:
        number = QLocale().toString(count)
        if count == 1:
            self._count.setText(self.tr("1 customer"))
        else:
            self._count.setText(self.tr("{count} customers").format(count=number))

    def _on_selection_changed(self) -> None:
        if not self._refreshing:
            self._selected_id = self.current_record_id()

    def _on_about_to_refresh(self) -> None:
        self._refreshing = True

    def _on_refreshed(self) -> None:
        self._refreshing = False
        wanted = self._selected_id
        if wanted is None or self.current_record_id() == wanted:
            return
        # Rows moved: follow the customer (one position query), or let go if it left.
        if not self.select_customer(wanted):
            self._table.clearSelection()
            self._selected_id = None
