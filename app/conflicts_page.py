"""The Conflicts page: every record whose change met someone else's, waiting for a decision.

Each row names the record (a contact "of customer …"), the fields in conflict, what
happened, who made the other change and when. Double-click, Enter or "Resolve…" opens
:class:`~app.conflict_dialog.ConflictDialog`; after a resolution the page emits
``sig_resolved`` (the main window recounts and asks for a sync). Conflicts are few — each
is a decision waiting for the user — so the list is read whole (``sync.conflict_view``)
whenever records change.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.conflict_dialog import (
    ConflictDialog,
    entity_label,
    format_moment,
    user_text,
)
from app.events import DataEvents
from app.labels import field_label
from sync.conflict_view import ConflictSummary, conflict_summaries
from sync.replica import Replica

_Index = QModelIndex | QPersistentModelIndex
_REFRESH_DELAY_MS = 100  # a sync announces entity after entity: refresh once


def kind_text(kind: str) -> str:
    """What happened, in words."""
    return {
        "field": QCoreApplication.translate("ConflictsPage", "Changed on both sides"),
        "deleted": QCoreApplication.translate("ConflictsPage", "You changed it; deleted elsewhere"),
        "delete_vs_change": QCoreApplication.translate(
            "ConflictsPage", "You deleted it; changed elsewhere"
        ),
    }.get(kind, kind)


class ConflictTableModel(QAbstractTableModel):
    """The open conflicts as table rows."""

    RECORD, TYPE, FIELDS, WHAT, BY, WHEN = range(6)
    COLUMN_COUNT = 6

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ConflictSummary] = []
        self.user_id: str | None = None

    def set_rows(self, rows: list[ConflictSummary]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> ConflictSummary:
        return self._rows[row]

    def rows(self) -> list[ConflictSummary]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return (
            self.tr("Record"),
            self.tr("Type"),
            self.tr("Fields"),
            self.tr("What happened"),
            self.tr("Changed by"),
            self.tr("When"),
        )[section]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._rows[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text(item, column)
        if role == Qt.ItemDataRole.DecorationRole and column == self.RECORD:
            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        if role == Qt.ItemDataRole.UserRole:
            return item.id
        return None

    def _text(self, item: ConflictSummary, column: int) -> str:
        if column == self.RECORD:
            if item.customer_name and item.entity != "customer":
                return self.tr("{name} of customer {customer}").format(
                    name=item.name, customer=item.customer_name
                )
            return item.name
        if column == self.TYPE:
            return entity_label(item.entity)
        if column == self.FIELDS:
            return ", ".join(field_label(item.entity, f) for f in item.fields) or "—"
        if column == self.WHAT:
            return kind_text(item.kind)
        if column == self.BY:
            return ", ".join(user_text(u, self.user_id) for u in item.changed_by) or "—"
        if column == self.WHEN:
            return format_moment(item.changed_at or item.created_at)
        return ""


class ConflictsPage(QWidget):
    """The Conflicts page (page contract: replica, events, user id)."""

    sig_open_customer = Signal(str)
    sig_resolved = Signal()  # a conflict was resolved: recount, sync

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._user_id = user_id
        self.dialog: ConflictDialog | None = None  # the one open now

        heading = QLabel(self.tr("Conflicts"), self)
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        heading.setFont(font)
        self.summary = QLabel(self)
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)

        self.resolve_button = QPushButton(self.tr("Resolve…"), self)
        self.resolve_button.clicked.connect(self.open_selected)
        self.open_customer_button = QPushButton(self.tr("Open customer"), self)
        self.open_customer_button.clicked.connect(self._open_customer)
        buttons = QHBoxLayout()
        buttons.addWidget(self.resolve_button)
        buttons.addWidget(self.open_customer_button)
        buttons.addStretch(1)

        self.model = ConflictTableModel(self)
        self.model.user_id = user_id
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(ConflictTableModel.RECORD, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (ConflictTableModel.TYPE, 90),
            (ConflictTableModel.FIELDS, 200),
            (ConflictTableModel.WHAT, 230),
            (ConflictTableModel.BY, 130),
            (ConflictTableModel.WHEN, 130),
        ):
            self.table.setColumnWidth(column, width)
        self.table.doubleClicked.connect(lambda index: self.open_row(index.row()))
        self.table.installEventFilter(self)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        self.empty = QWidget(self)
        icon = QLabel(self.empty)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton).pixmap(48, 48)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_title = QLabel(self.tr("Nothing to decide"), self.empty)
        title_font = empty_title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.25)
        title_font.setBold(True)
        empty_title.setFont(title_font)
        empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text = QLabel(
            self.tr(
                "No conflicts: every change you made agrees with the server. When you and a "
                "colleague change the same field before syncing, the conflict waits here for "
                "you to decide. Nothing is overwritten until you do."
            ),
            self.empty,
        )
        self.empty_text.setObjectName("hint")
        self.empty_text.setWordWrap(True)
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # A fixed width and the height it wraps to (the stack does not ask height-for-width).
        self.empty_text.setFixedWidth(520)
        self.empty_text.setMinimumHeight(self.empty_text.heightForWidth(520))
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        empty_layout.addWidget(icon)
        empty_layout.addWidget(empty_title)
        empty_layout.addWidget(self.empty_text, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(2)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.stack, 1)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(_REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        events.sig_records_changed.connect(self._on_records_changed)
        self.refresh()

    # --- contract -------------------------------------------------------------------------

    def set_user_id(self, user_id: str | None) -> None:
        """The signed-in user (their own changes from another device read "you")."""
        self._user_id = user_id
        self.model.user_id = user_id
        self.refresh()

    def _on_records_changed(self, _entity: str, _ids: object) -> None:
        self._refresh_timer.start()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()

    # --- contents -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the open conflicts again, keeping the selected one selected."""
        self._refresh_timer.stop()
        selected = self.selected_conflict()
        rows = conflict_summaries(self._replica)
        self.model.set_rows(rows)
        count = len(rows)
        self.stack.setCurrentWidget(self.table if count else self.empty)
        if count:
            self.summary.setText(
                self.tr(
                    "{count} record(s) need your decision: your change and one made elsewhere "
                    "disagree. Until you decide, your value is kept here and not sent."
                ).format(count=count)
            )
        else:
            self.summary.setText("")
        self.summary.setVisible(bool(count))
        self.resolve_button.setVisible(bool(count))
        self.open_customer_button.setVisible(bool(count))
        ids = [r.id for r in rows]
        if selected is not None and selected.id in ids:
            self.table.selectRow(ids.index(selected.id))
        elif count:
            self.table.selectRow(0)
        self._update_buttons()

    def conflict_count(self) -> int:
        return self.model.rowCount()

    def selected_conflict(self) -> ConflictSummary | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        row = rows[0].row()
        return self.model.row_at(row) if row < self.model.rowCount() else None

    def _update_buttons(self) -> None:
        selected = self.selected_conflict()
        self.resolve_button.setEnabled(selected is not None)
        self.open_customer_button.setEnabled(
            selected is not None and selected.customer_id is not None
        )

    def _open_customer(self) -> None:
        selected = self.selected_conflict()
        if selected is not None and selected.customer_id:
            self.sig_open_customer.emit(selected.customer_id)

    # --- resolving ------------------------------------------------------------------------

    def open_selected(self) -> ConflictDialog | None:
        selected = self.selected_conflict()
        return self.open_conflict(selected.id) if selected is not None else None

    def open_row(self, row: int) -> ConflictDialog | None:
        if 0 <= row < self.model.rowCount():
            return self.open_conflict(self.model.row_at(row).id)
        return None

    def open_conflict_for(self, entity: str, record_id: str) -> ConflictDialog | None:
        """Open the dialog of the record's conflict (the customer workspace's "Resolve…");
        for a customer without one of its own, the first conflict of its contacts,
        follow-ups or deals. None when there is nothing to resolve."""
        self.refresh()
        rows = self.model.rows()
        found = next((r for r in rows if r.entity == entity and r.record_id == record_id), None)
        if found is None and entity == "customer":
            found = next((r for r in rows if r.customer_id == record_id), None)
        if found is None:
            return None
        self.table.selectRow(rows.index(found))
        return self.open_conflict(found.id)

    def open_conflict(self, conflict_id: int) -> ConflictDialog | None:
        """Show the dialog of one conflict (window-modal); returns it (tests drive it)."""
        try:
            dialog = ConflictDialog(
                self._replica, self._events, conflict_id, user_id=self._user_id, parent=self
            )
        except ValueError:  # settled meanwhile (ConflictError)
            self.refresh()
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda result, d=dialog: self._on_dialog_finished(d, result))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _on_dialog_finished(self, dialog: ConflictDialog, _result: int) -> None:
        if self.dialog is dialog:
            self.dialog = None
        resolved = dialog.outcome is not None
        self.refresh()
        if resolved:
            self.sig_resolved.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.table
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self.open_selected()
            return True
        return super().eventFilter(watched, event)
