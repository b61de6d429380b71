"""One customer, opened: its details, follow-ups, contacts and deals.

:class:`CustomerWorkspace` is what a customer tab of the main window shows. The details
are an editable :class:`~app.record_form.RecordForm`; Save writes the changed fields in
one repository update (record and outbox row in one transaction) and announces it. The
right-hand side holds the follow-up timeline with the quick "log follow-up" box, and the
contacts and deals tables with their add/edit dialogs.

The workspace listens to :class:`~app.events.DataEvents` and reloads only the part a
change concerns. When the customer changes underneath unsaved edits (a sync, another
window), the fields the user edited keep what the user typed, the others take the new
values, and a notice says so — nothing typed is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QKeySequence, QPainter, QPalette, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.contact_dialog import ContactDialog
from app.deal_dialog import DealDialog
from app.events import DataEvents
from app.follow_up_timeline import (
    STATE_COLORS,
    FollowUpLogBox,
    FollowUpTimeline,
    FollowUpTimelineModel,
    log_follow_up,
)
from app.labels import choice_label, field_label, sync_state_label
from app.record_form import RecordForm, format_amount, format_local
from app.validation_messages import failed_reasons, server_reason_text
from sync.replica import Replica
from sync.repository import EntityRepository, Filter, Record, RecordNotFoundError, Sort
from sync.schema import ENTITIES, FieldKind
from sync.validation import ValidationError

CUSTOMER_FORM_ROWS: list[str | tuple[str, ...]] = [
    ("name", "company"),
    ("level", "status"),
    ("phone", "mobile"),
    ("email", "city"),
    ("industry", "source"),
    "address",
    ("tags", "next_follow_up_at"),
    "notes",
]
CHILD_LIMIT = 1000  # contacts and deals of one customer: a handful, shown in full

_ModelIndex = QModelIndex | QPersistentModelIndex
_D = TypeVar("_D", bound=QDialog)

STATUS_COLORS = {
    "lead": ("#e8eaf6", "#283593"),
    "prospect": ("#e3f2fd", "#0d47a1"),
    "active": ("#e8f5e9", "#1b5e20"),
    "dormant": ("#fff3e0", "#8a4b00"),
    "lost": ("#eeeeee", "#424242"),
}
LEVEL_COLORS = ("#fce4ec", "#880e4f")
MESSAGE_COLORS = {  # background, text, border
    "info": ("#e3f2fd", "#0d47a1", "#90caf9"),
    "warning": ("#fff8e1", "#6d4c00", "#ffd54f"),
    "error": ("#ffebee", "#b71c1c", "#ef9a9a"),
}
BADGE_COLORS = {
    "synced": ("#e8f5e9", "#1b5e20"),
    "pending": ("#fff8e1", "#8a5a00"),
    "conflict": ("#fce4ec", "#ad1457"),
    "failed": ("#ffebee", "#b71c1c"),
}


# --- small pieces -------------------------------------------------------------------------


class Chip(QLabel):
    """A small rounded label: level, status, sync state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setVisible(False)

    def show_text(self, text: str, colors: tuple[str, str]) -> None:
        background, foreground = colors
        self.setText(text)
        self.setStyleSheet(
            f"QLabel {{ background: {background}; color: {foreground}; border-radius: 9px;"
            " padding: 2px 9px; }"
        )
        self.setVisible(bool(text))


class ElidedLabel(QLabel):
    """One line of text that shrinks with "…" instead of widening the window (a customer
    name or company may be 200 characters long). The full text is in the tooltip."""

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), 60), hint.height())

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.setFont(self.font())
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        painter.end()


class MessageBar(QFrame):
    """A coloured line under the header: a notice, a refused edit, a deleted customer."""

    sig_action = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.action = QPushButton(self)
        self.action.setVisible(False)
        self.action.clicked.connect(self.sig_action)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.setSpacing(8)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action)
        layout.addWidget(self.close_button)
        self.level = ""
        self.setVisible(False)

    def show_message(
        self,
        level: str,
        text: str,
        *,
        action: str | None = None,
        closable: bool = True,
        tooltip: str = "",
    ) -> None:
        background, foreground, border = MESSAGE_COLORS[level]
        self.level = level
        self.setStyleSheet(
            f"#MessageBar {{ background: {background}; border: 1px solid {border};"
            f" border-radius: 4px; }} #MessageBar QLabel {{ color: {foreground}; }}"
        )
        self.text.setText(text)
        self.text.setToolTip(tooltip)
        self.action.setText(action or "")
        self.action.setVisible(bool(action))
        self.close_button.setVisible(closable)
        self.setVisible(True)


def _state_icon(state: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(STATE_COLORS.get(state, STATE_COLORS["synced"])))
    painter.drawEllipse(2, 2, 8, 8)
    painter.end()
    return QIcon(pixmap)


# --- child tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a child table: a field, or a computed value with its own text."""

    key: str  # field name, or "sync_state"
    header: str
    text: Callable[[Record], str] | None = None
    align_right: bool = False


class RecordTableModel(QAbstractTableModel):
    """A short list of records (a customer's contacts or deals) as a table."""

    def __init__(self, entity: str, columns: Sequence[Column], parent: QWidget | None) -> None:
        super().__init__(parent)
        self._spec = ENTITIES[entity]
        self._columns = tuple(columns)
        self._records: list[Record] = []
        self._reasons: dict[str, str] = {}
        self._icons: dict[str, QIcon] = {}

    def set_records(self, records: Sequence[Record], reasons: dict[str, str]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self._reasons = reasons
        self.endResetModel()

    def record(self, row: int) -> Record:
        return self._records[row]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self._records)

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].header
        if role == Qt.ItemDataRole.TextAlignmentRole:
            right = self._columns[section].align_right
            horizontal = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self._records[index.row()]
        column = self._columns[index.column()]
        if column.key == "sync_state":
            state = record.sync_state
            if role == Qt.ItemDataRole.DisplayRole:
                return sync_state_label(state)
            if role == Qt.ItemDataRole.DecorationRole:
                if state not in self._icons:
                    self._icons[state] = _state_icon(state)
                return self._icons[state]
            if role == Qt.ItemDataRole.ToolTipRole and record.id in self._reasons:
                return server_reason_text(self._reasons[record.id])
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if column.text is not None:
                return column.text(record)
            return self._display(column.key, record.values.get(column.key))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = (
                Qt.AlignmentFlag.AlignRight if column.align_right else Qt.AlignmentFlag.AlignLeft
            )
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and record.id in self._reasons:
            return server_reason_text(self._reasons[record.id])
        return None

    def _display(self, name: str, value: Any) -> str:
        if value is None:
            return ""
        kind = self._spec.field(name).kind
        if kind is FieldKind.ENUM:
            return choice_label(name, value)
        if kind is FieldKind.BOOLEAN:
            return "✓" if value else ""
        if kind in (FieldKind.DATE, FieldKind.DATETIME):
            return format_local(value)
        if kind is FieldKind.TAGS:
            return ", ".join(value)
        return str(value)


class ChildSection(QWidget):
    """A customer's contacts or deals: a table with Add and Edit."""

    sig_add = Signal()
    sig_edit = Signal(str)

    def __init__(
        self,
        model: RecordTableModel,
        empty_text: str,
        add_text: str,
        *,
        stretch_column: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(36)
        # One column takes the spare width (and gives it back when space is short).
        header.setSectionResizeMode(stretch_column, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.doubleClicked.connect(self._on_double_clicked)
        self.empty = QLabel(empty_text, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)
        self.add_button = QPushButton(add_text, self)
        self.edit_button = QPushButton(self.tr("Edit…"), self)
        self.add_button.clicked.connect(self.sig_add)
        self.edit_button.clicked.connect(self._on_edit_clicked)
        stack_host = QWidget(self)
        self._stack = QStackedLayout(stack_host)
        self._stack.addWidget(self.table)
        self._stack.addWidget(self.empty)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.edit_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        layout.addLayout(buttons)
        layout.addWidget(stack_host, 1)
        model.modelReset.connect(self._on_reset)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._editable = True
        self._on_reset()

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self.add_button.setEnabled(editable)
        self._update_buttons()

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.record(rows[0].row()).id if rows else None

    def _on_reset(self) -> None:
        self._stack.setCurrentWidget(self.table if self.model.rowCount() else self.empty)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.edit_button.setEnabled(self._editable and self.selected_id() is not None)

    def _on_edit_clicked(self) -> None:
        record_id = self.selected_id()
        if record_id is not None:
            self.sig_edit.emit(record_id)

    def _on_double_clicked(self, index: QModelIndex) -> None:
        if self._editable and index.isValid():
            self.sig_edit.emit(self.model.record(index.row()).id)


def _amount_text(record: Record) -> str:
    amount = record.values["amount"]
    if amount is None:
        return ""
    return f"{format_amount(amount)} {record.values['currency']}"


def _probability_text(record: Record) -> str:
    value = record.values["probability"]
    return "" if value is None else f"{value} %"


def _heading(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


# --- the workspace ------------------------------------------------------------------------


class CustomerWorkspace(QWidget):
    """One open customer: details, follow-ups, contacts, deals.

    Signals: ``sig_title_changed(str)`` (name for the tab, with "*" while unsaved),
    ``sig_resolve_conflict_requested(entity, record_id)`` (the user wants to resolve the
    customer's sync conflict: the main window opens its conflicts view).
    """

    sig_title_changed = Signal(str)
    sig_resolve_conflict_requested = Signal(str, str)

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        customer_id: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._customer_id = customer_id
        self._record: Record | None = None
        self._deleted = False
        self._announcing = False
        self._title = ""
        self._dialog: QDialog | None = None  # the add/edit dialog opened last
        self._build()
        self._load_customer(quiet=True)
        self._reload_contacts()
        self._reload_deals()
        self._update_tab_titles()
        events.sig_records_changed.connect(self._on_records_changed)

    # --- building -----------------------------------------------------------------------

    def _build(self) -> None:
        self.name_label = ElidedLabel(self)
        name_font = QFont(self.font())
        name_font.setPointSizeF(self.font().pointSizeF() * 1.6)
        name_font.setBold(True)
        self.name_label.setFont(name_font)
        self.name_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.subtitle_label = ElidedLabel(self)
        dim = self.subtitle_label.palette()
        muted = QColor(dim.color(QPalette.ColorRole.WindowText))
        muted.setAlphaF(0.65)
        dim.setColor(QPalette.ColorRole.WindowText, muted)
        self.subtitle_label.setPalette(dim)
        self.level_chip = Chip(self)
        self.status_chip = Chip(self)
        self.sync_badge = Chip(self)
        self.sync_badge.setAccessibleName(self.tr("Sync state"))
        self.revert_button = QPushButton(self.tr("Revert"), self)
        self.revert_button.setToolTip(self.tr("Throw away the unsaved changes"))
        self.save_button = QPushButton(self.tr("Save"), self)
        self.save_button.setToolTip(self.tr("Save the changes (Ctrl+S)"))
        self.save_button.setDefault(True)
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self.save)

        title_row = QHBoxLayout()
        title_row.setSpacing(8)
        title_row.addWidget(self.name_label)
        title_row.addWidget(self.level_chip, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addWidget(self.status_chip, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addStretch(1)
        title_row.addWidget(self.sync_badge, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addSpacing(12)
        title_row.addWidget(self.revert_button)
        title_row.addWidget(self.save_button)

        self.status_bar = MessageBar(self)  # refused edit, conflict, deleted: stays
        self.status_bar.close_button.setVisible(False)
        self.status_bar.sig_action.connect(self._on_status_action)
        self.notice_bar = MessageBar(self)  # refreshed under edits, save problems

        # Details: the customer's fields in two columns.
        self.form = RecordForm("customer", CUSTOMER_FORM_ROWS, long_text_lines=4, parent=self)
        self.form.sig_dirty_changed.connect(self._on_dirty_changed)
        self.log_box = FollowUpLogBox(self)
        self.log_box.sig_submitted.connect(self._on_log_submitted)
        details = QWidget(self)
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 14, 0)
        details_layout.setSpacing(8)
        details_layout.addWidget(_heading(self.tr("Details"), details))
        details_layout.addWidget(self.form, 1)
        details_layout.addSpacing(10)
        details_layout.addWidget(_heading(self.tr("Log a follow-up"), details))
        details_layout.addWidget(self.log_box)
        # Line the log box's labels up with the details' (same columns, one edge).
        widths = [
            max(a, b)
            for a, b in zip(
                self.form.label_widths(), self.log_box.form.label_widths(), strict=False
            )
        ]
        self.form.set_label_widths(widths)
        self.log_box.form.set_label_widths(widths)
        scroll = QScrollArea(self)
        scroll.setWidget(details)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(420)

        # Follow-ups: the timeline fills its tab.
        self.timeline_model = FollowUpTimelineModel(self._replica, self._customer_id, parent=self)
        self.timeline = FollowUpTimeline(self.timeline_model, self)
        self.timeline.view.setFrameShape(QFrame.Shape.NoFrame)
        self.timeline_model.modelReset.connect(self._update_tab_titles)
        self.timeline_model.rowsInserted.connect(self._update_tab_titles)

        contact = "contact"
        self.contacts_model = RecordTableModel(
            contact,
            [
                Column("name", field_label(contact, "name")),
                Column("title", field_label(contact, "title")),
                Column("phone", field_label(contact, "phone")),
                Column("mobile", field_label(contact, "mobile")),
                Column("email", field_label(contact, "email")),
                Column("wechat", field_label(contact, "wechat")),
                Column("is_primary", self.tr("Primary")),
                Column("sync_state", self.tr("Sync")),
            ],
            self,
        )
        self.contacts = ChildSection(
            self.contacts_model,
            self.tr("No contacts yet."),
            self.tr("Add contact…"),
            stretch_column=4,
            parent=self,
        )
        self.contacts.sig_add.connect(self.add_contact)
        self.contacts.sig_edit.connect(self.edit_contact)
        deal = "deal"
        self.deals_model = RecordTableModel(
            deal,
            [
                Column("title", field_label(deal, "title")),
                Column("amount", field_label(deal, "amount"), _amount_text, align_right=True),
                Column("stage", field_label(deal, "stage")),
                Column(
                    "probability",
                    field_label(deal, "probability"),
                    _probability_text,
                    align_right=True,
                ),
                Column("expected_close", field_label(deal, "expected_close")),
                Column("sync_state", self.tr("Sync")),
            ],
            self,
        )
        self.deals = ChildSection(
            self.deals_model,
            self.tr("No deals yet."),
            self.tr("Add deal…"),
            stretch_column=0,
            parent=self,
        )
        self.deals.sig_add.connect(self.add_deal)
        self.deals.sig_edit.connect(self.edit_deal)

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(False)
        self.tabs.addTab(self.timeline, "")
        self.tabs.addTab(self.contacts, "")
        self.tabs.addTab(self.deals, "")

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(scroll)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([660, 580])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        layout.addLayout(title_row)
        layout.addWidget(self.subtitle_label)
        layout.addWidget(self.status_bar)
        layout.addWidget(self.notice_bar)
        layout.addSpacing(4)
        layout.addWidget(splitter, 1)

        save = QShortcut(QKeySequence.StandardKey.Save, self)
        save.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save.activated.connect(self.save)
        self._on_dirty_changed(False)

    def sizeHint(self) -> QSize:
        return QSize(1200, 720)

    # --- public API ---------------------------------------------------------------------

    @property
    def customer_id(self) -> str:
        return self._customer_id

    @property
    def title(self) -> str:
        """The tab title: the customer's name, "*" while unsaved, "(deleted)"."""
        return self._title

    @property
    def is_deleted(self) -> bool:
        return self._deleted

    def has_unsaved_changes(self) -> bool:
        """Unsaved edits of the details, or a follow-up typed but not logged."""
        return not self._deleted and (self.form.is_dirty() or self.log_box.has_text())

    def save(self) -> bool:
        """Validate and save the edited details — and log a follow-up typed in the log box
        but not logged yet, so that "save" before closing loses nothing. ``True`` when
        nothing is left unsaved; otherwise the messages say what to fix."""
        if self._deleted or self._record is None:
            return False
        if not self.form.validate():
            return False
        if self.form.is_dirty() and not self._save_details():
            return False
        if self.log_box.has_text():
            # Logged: the box is cleared; refused: it keeps the text and shows why.
            return self.log_box.submit() and not self.log_box.has_text()
        return True

    def _save_details(self) -> bool:
        changed = self.form.changed_values()
        if not changed:
            return True
        try:
            self._replica.customers.update(self._customer_id, changed)
        except ValidationError as exc:
            self.form.show_errors(exc.errors)
            return False
        except RecordNotFoundError:
            self._load_customer(quiet=True)
            return False
        self.notice_bar.hide()
        self._load_customer(replace=True)
        self._announce("customer", {self._customer_id})
        return True

    def revert(self) -> None:
        """Throw away the unsaved edits of the details."""
        self.form.revert()
        self.notice_bar.hide()

    def add_contact(self) -> ContactDialog:
        """Open the "new contact" dialog (window-modal, not blocking); returns it."""
        return self._open(ContactDialog(self._replica, self._events, self._customer_id, None, self))

    def edit_contact(self, contact_id: str) -> ContactDialog:
        return self._open(
            ContactDialog(self._replica, self._events, self._customer_id, contact_id, self)
        )

    def add_deal(self) -> DealDialog:
        return self._open(DealDialog(self._replica, self._events, self._customer_id, None, self))

    def edit_deal(self, deal_id: str) -> DealDialog:
        return self._open(DealDialog(self._replica, self._events, self._customer_id, deal_id, self))

    def _open(self, dialog: _D) -> _D:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._dialog = dialog
        dialog.open()
        return dialog

    # --- loading ------------------------------------------------------------------------

    def _load_customer(self, *, quiet: bool = False, replace: bool = False) -> None:
        """Show the customer as the replica has it now.

        ``replace``: the form takes every value (after our own save). Otherwise unsaved
        edits are kept and, unless ``quiet``, a notice tells what changed underneath.
        """
        record = self._replica.customers.get(self._customer_id)
        if record is None:
            self._show_deleted()
            return
        if self._deleted:
            self._set_editable(True)  # back again (a conflict resolved as "keep")
        previous = self.form.loaded_values() if self._record is not None else None
        self._record = record
        if replace or not self.form.is_dirty():
            self.form.set_values(record.values)
        else:
            clashes = self.form.refresh_values(record.values)
            moved = [
                f for f in self.form.fields if previous is not None and previous[f] != record[f]
            ]
            if moved and not quiet:
                self._notify_refreshed(clashes)
        self._update_header()

    def _notify_refreshed(self, clashes: set[str]) -> None:
        kept = sorted(self.form.changed_values(), key=self.form.fields.index)
        kept_names = ", ".join(field_label("customer", f) for f in kept)
        if clashes:
            clash_names = ", ".join(
                field_label("customer", f) for f in sorted(clashes, key=self.form.fields.index)
            )
            self.notice_bar.show_message(
                "warning",
                self.tr(
                    "This customer was changed elsewhere while you were editing. Your unsaved "
                    "values are kept; {fields} also changed there — saving replaces that "
                    "change with yours."
                ).format(fields=clash_names),
            )
        else:
            self.notice_bar.show_message(
                "info",
                self.tr(
                    "This customer was changed elsewhere while you were editing. The other "
                    "fields now show the new values; your unsaved edits ({fields}) are kept."
                ).format(fields=kept_names),
            )

    def _update_header(self) -> None:
        record = self._record
        if record is None:
            return
        values = record.values
        self.name_label.setText(values["name"])
        parts = [p for p in (values["company"], values["city"]) if p]
        if record.updated_at is not None:
            parts.append(self.tr("updated {when}").format(when=format_local(record.updated_at)))
        self.subtitle_label.setText("  ·  ".join(parts))
        level = values["level"]
        self.level_chip.show_text(
            self.tr("Level {level}").format(level=choice_label("level", level)) if level else "",
            LEVEL_COLORS,
        )
        status = values["status"]
        self.status_chip.show_text(
            choice_label("status", status), STATUS_COLORS.get(status, STATUS_COLORS["lost"])
        )
        self._update_sync_state(record)
        self._update_title()

    def _update_sync_state(self, record: Record) -> None:
        state = record.sync_state
        self.sync_badge.show_text(
            sync_state_label(state), BADGE_COLORS.get(state, BADGE_COLORS["synced"])
        )
        if state == "failed":
            reason = failed_reasons(self._replica, "customer", [record.id]).get(record.id)
            text = server_reason_text(reason)
            self.sync_badge.setToolTip(text)
            self.status_bar.show_message(
                "error",
                self.tr("The server refused the last change to this customer. {reason}").format(
                    reason=text
                ),
                closable=False,
                tooltip=reason or "",
            )
        elif state == "conflict":
            self.sync_badge.setToolTip(
                self.tr("Your change and someone else's disagree; choose what to keep.")
            )
            self.status_bar.show_message(
                "warning",
                self.tr(
                    "This customer has a sync conflict: your change and one made elsewhere "
                    "disagree."
                ),
                action=self.tr("Resolve…"),
                closable=False,
            )
        else:
            self.sync_badge.setToolTip(
                self.tr("Changes are waiting to be sent to the server.")
                if state == "pending"
                else self.tr("The server has this version.")
            )
            self.status_bar.hide()

    def _show_deleted(self) -> None:
        """The customer is gone (deleted here or there, or no longer visible to us)."""
        self._deleted = True
        gone = self._replica.customers.get(self._customer_id, include_deleted=True)
        if self._record is None and gone is not None:
            self._record = gone
            self.form.set_values(gone.values)
        if self._record is not None:
            self._update_header()
        text = (
            self.tr("This customer was deleted. It can no longer be edited.")
            if gone is not None
            else self.tr(
                "This customer was deleted or is no longer shared with you. It can no longer "
                "be edited."
            )
        )
        self.status_bar.show_message("error", text, closable=False)
        self.notice_bar.hide()
        self.sync_badge.setVisible(False)
        self._set_editable(False)

    def _set_editable(self, editable: bool) -> None:
        self._deleted = not editable
        if editable:
            self.status_bar.hide()
        self.form.set_read_only(not editable)
        self.log_box.setEnabled(editable)
        self.contacts.set_editable(editable)
        self.deals.set_editable(editable)
        self._on_dirty_changed(self.form.is_dirty())
        self._update_title()

    def _children(self, repository: EntityRepository, sort: Sequence[Sort]) -> list[Record]:
        return repository.query(
            filters=[Filter("customer_id", "eq", self._customer_id)],
            sort=sort,
            limit=CHILD_LIMIT,
        )

    def _reload_contacts(self) -> None:
        records = self._children(self._replica.contacts, [Sort("is_primary", True), Sort("name")])
        self.contacts_model.set_records(records, self._reasons("contact", records))
        self._update_tab_titles()

    def _reload_deals(self) -> None:
        records = self._children(self._replica.deals, [Sort("created_at", True)])
        self.deals_model.set_records(records, self._reasons("deal", records))
        self._update_tab_titles()

    def _reasons(self, entity: str, records: Sequence[Record]) -> dict[str, str]:
        failed = [r.id for r in records if r.sync_state == "failed"]
        return failed_reasons(self._replica, entity, failed)

    def _update_tab_titles(self) -> None:
        self.tabs.setTabText(
            0, self.tr("Follow-ups ({count})").format(count=self.timeline_model.total)
        )
        self.tabs.setTabText(
            1, self.tr("Contacts ({count})").format(count=self.contacts_model.rowCount())
        )
        self.tabs.setTabText(
            2, self.tr("Deals ({count})").format(count=self.deals_model.rowCount())
        )

    def _update_title(self) -> None:
        name = self._record.values["name"] if self._record is not None else self.tr("Customer")
        if self._deleted:
            title = self.tr("{name} (deleted)").format(name=name)
        elif self.form.is_dirty():
            title = self.tr("{name} *").format(name=name)
        else:
            title = name
        if title != self._title:
            self._title = title
            self.sig_title_changed.emit(title)

    # --- reacting -----------------------------------------------------------------------

    def _on_dirty_changed(self, dirty: bool) -> None:
        editable = not self._deleted
        self.save_button.setEnabled(dirty and editable)
        self.revert_button.setEnabled(dirty and editable)
        if not dirty:
            self.notice_bar.hide()
        self._update_title()

    def _on_status_action(self) -> None:
        self.sig_resolve_conflict_requested.emit("customer", self._customer_id)

    def _on_log_submitted(self, values: dict[str, Any]) -> None:
        if self._deleted:
            return
        try:
            logged = log_follow_up(self._replica, self._customer_id, values)
        except ValidationError as exc:
            self.log_box.form.show_errors(exc.errors)
            return
        except RecordNotFoundError:
            self._load_customer(quiet=True)
            return
        self.timeline.reload()
        self.tabs.setCurrentWidget(self.timeline)
        self.timeline.view.scrollToTop()
        self.log_box.clear()
        self.log_box.form.focus_field("content")  # ready for the next one
        if logged.customer is not None:
            self._load_customer(quiet=True)
        self._announce("follow_up", {logged.follow_up.record_id})
        if logged.customer is not None:
            self._announce("customer", {self._customer_id})

    def _announce(self, entity: str, ids: set[str]) -> None:
        # Our own view is already up to date: don't reload it again on the echo.
        self._announcing = True
        try:
            self._events.announce(entity, ids)
        finally:
            self._announcing = False

    def _on_records_changed(self, entity: str, ids: frozenset[str] | None) -> None:
        if self._announcing:
            return
        if entity == "customer":
            if ids is None or self._customer_id in ids:
                self._load_customer()
        elif entity == "follow_up":
            if self.timeline_model.concerns(ids):
                self.timeline.reload()
        elif entity == "contact":
            if self._child_concerned(self._replica.contacts, self.contacts_model, ids):
                self._reload_contacts()
        elif entity == "deal" and self._child_concerned(self._replica.deals, self.deals_model, ids):
            self._reload_deals()

    def _child_concerned(
        self, repository: EntityRepository, model: RecordTableModel, ids: frozenset[str] | None
    ) -> bool:
        if ids is None or ids & model.ids or len(ids) > 500:
            return True
        found = repository.count(
            filters=[Filter("id", "in", list(ids)), Filter("customer_id", "eq", self._customer_id)],
            include_deleted=True,
        )
        return found > 0
