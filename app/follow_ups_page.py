"""The Follow-ups page: every follow-up across customers, filtered and sorted in SQL.

Filters: kind, open / done, the local days it happened (from / to, each may be "any") and
the customer — a search on its name (pinyin, initials and phone work as in the customer
list) or one customer set by :meth:`FollowUpsPage.set_customer`. Double-click (or Enter)
opens the row's customer. The view only passes what the user asks for to
:class:`~app.follow_up_table_model.FollowUpTableModel`.
"""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate, QEvent, QLocale, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.events import DataEvents
from app.follow_up_table_model import FollowUpTableModel
from app.labels import choice_label
from app.table_view import lazy_table_view
from sync.agenda import local_day_start
from sync.replica import Replica
from sync.schema import FollowUpKind

SEARCH_DELAY_MS = 150
# A date edit at this date means "any" (it shows the special text instead).
ANY_DATE = QDate(2000, 1, 1)

_WIDTHS = {
    FollowUpTableModel.HAPPENED_AT: 130,
    FollowUpTableModel.CUSTOMER: 120,
    FollowUpTableModel.KIND: 70,
    FollowUpTableModel.CONTENT: 300,
    FollowUpTableModel.NEXT_ACTION: 150,
    FollowUpTableModel.NEXT_ACTION_AT: 130,
    FollowUpTableModel.DONE: 50,
    FollowUpTableModel.SYNC: 80,
}


class _AnyDateEdit(QDateEdit):
    """A date edit that can say "any": its minimum date stands for no limit."""

    def __init__(self, any_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")
        self.setMinimumDate(ANY_DATE)
        self.setSpecialValueText(any_text)
        self.setDate(ANY_DATE)

    def day(self) -> date | None:
        value = self.date()
        if value == ANY_DATE:
            return None
        return date(value.year(), value.month(), value.day())

    def set_day(self, day: date | None) -> None:
        self.setDate(ANY_DATE if day is None else QDate(day.year, day.month, day.day))


class FollowUpsPage(QWidget):
    """Filters, the follow-up table and a count of what it shows."""

    sig_open_customer = Signal(str)

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._user_id = user_id
        self._customer_id: str | None = None
        self._customer_name = ""
        self.model = FollowUpTableModel(replica, events, self)

        self.search = QLineEdit(self)
        self.search.setObjectName("followUpCustomerSearch")
        self.search.setPlaceholderText(self.tr("Customer: name, pinyin, initials or phone…"))
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textEdited.connect(self._on_search_edited)
        self.search.textChanged.connect(self._on_search_changed)
        self.search.returnPressed.connect(self.apply_filters)

        self.kind = QComboBox(self)
        self.kind.setObjectName("followUpKindFilter")
        self.kind.addItem(self.tr("All kinds"), None)
        for kind in FollowUpKind:
            self.kind.addItem(choice_label("kind", kind.value), kind.value)
        self.state = QComboBox(self)
        self.state.setObjectName("followUpStateFilter")
        self.state.addItem(self.tr("Open and done"), None)
        self.state.addItem(self.tr("Open"), False)
        self.state.addItem(self.tr("Done"), True)
        self.date_from = _AnyDateEdit(self.tr("Any"), self)
        self.date_from.setToolTip(self.tr("Happened on or after this day"))
        self.date_to = _AnyDateEdit(self.tr("Any"), self)
        self.date_to.setToolTip(self.tr("Happened on or before this day"))
        for combo in (self.kind, self.state):
            combo.currentIndexChanged.connect(self.apply_filters)
        for edit in (self.date_from, self.date_to):
            edit.dateChanged.connect(self.apply_filters)

        self.table = lazy_table_view(self, self.model, "followUpTable", _WIDTHS)
        header = self.table.horizontalHeader()
        header.setSortIndicator(self.model.sort_column, self.model.sort_order)
        self.table.setSortingEnabled(True)
        header.sortIndicatorChanged.connect(self._on_sort_indicator)
        self.table.doubleClicked.connect(self._open_index)
        self.table.installEventFilter(self)

        self.count_label = QLabel(self)
        self.count_label.setObjectName("followUpCount")
        self.model.sig_count_changed.connect(self._show_count)

        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.kind)
        filters.addWidget(self.state)
        filters.addSpacing(8)
        filters.addWidget(QLabel(self.tr("From"), self))
        filters.addWidget(self.date_from)
        filters.addWidget(QLabel(self.tr("To"), self))
        filters.addWidget(self.date_to)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        self.setFocusProxy(self.search)
        self._show_count(self.model.rowCount())

    # --- public API ---------------------------------------------------------------------

    def set_user_id(self, user_id: str | None) -> None:
        """Who is signed in (the list shows every follow-up of the replica either way)."""
        self._user_id = user_id

    def set_customer(self, customer_id: str | None) -> None:
        """Show only this customer's follow-ups (``None``: every customer's). The search
        field shows its name; typing there searches again."""
        self._customer_id = customer_id
        name = ""
        if customer_id is not None:
            record = self._replica.customers.get(customer_id)
            name = "" if record is None else str(record.values["name"])
        self._customer_name = name
        self.search.blockSignals(True)
        self.search.setText(name)
        self.search.blockSignals(False)
        self.apply_filters()

    def set_dates(self, first: date | None, last: date | None) -> None:
        """Show follow-ups that happened from ``first`` to ``last`` (local days, inclusive)."""
        for edit, day in ((self.date_from, first), (self.date_to, last)):
            edit.blockSignals(True)
            edit.set_day(day)
            edit.blockSignals(False)
        self.apply_filters()

    def apply_filters(self) -> None:
        """Pass the filters as they are now to the model."""
        self._search_timer.stop()
        first, last = self.date_from.day(), self.date_to.day()
        self.model.set_filters(
            kind=self.kind.currentData(),
            done=self.state.currentData(),
            happened_from=None if first is None else local_day_start(first),
            happened_until=None if last is None else local_day_start(last + timedelta(days=1)),
            customer_id=self._customer_id,
            customer_search=None if self._customer_id else self.search.text(),
        )

    # --- events -------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._open_index(self.table.currentIndex())
                return True
        return super().eventFilter(watched, event)

    def _on_search_edited(self, _text: str) -> None:
        self._customer_id = None  # typing replaces the customer set from outside
        self._search_timer.start()

    def _on_search_changed(self, text: str) -> None:
        if not text and self._customer_id is not None:  # the clear button
            self._customer_id = None
            self.apply_filters()

    def _open_index(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        customer_id = self.model.customer_id(index.row())
        if customer_id is not None:
            self.sig_open_customer.emit(customer_id)

    def _on_sort_indicator(self, column: int, order: Qt.SortOrder) -> None:
        if column not in FollowUpTableModel.SORTABLE:
            header = self.table.horizontalHeader()
            header.setSortIndicator(self.model.sort_column, self.model.sort_order)

    def _show_count(self, count: int) -> None:
        if count == 1:
            self.count_label.setText(self.tr("1 follow-up"))
        else:
            self.count_label.setText(
                self.tr("{count} follow-ups").format(count=QLocale().toString(count))
            )
