"""The dialog that settles one sync conflict.

* **Both changed the same fields** (``field``): for each field the value both sides started
  from, mine, theirs (who changed it and when) and a merged value to type — for notes an
  editor holding both texts. Every field needs a choice; "Keep all mine" / "Keep all
  theirs" choose for all. Resolve validates the merged values with the same rules as the
  forms (``sync.validation``, inline messages) and queues the resolution.
* **Changed here, deleted there** (``deleted``): keep the record with my changes, or let
  it go.
* **Deleted here, changed there** (``delete_vs_change``): take the record back with their
  changes, or delete it anyway.

"Decide later" closes without a change: the conflict waits, other edits keep syncing. A
resolution is one replica transaction (``sync.conflicts``); the dialog then announces the
records it touched, and the caller refreshes the counts and asks for a sync.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QCoreApplication, QDate, QLocale, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPalette, QTextOption
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.events import DataEvents
from app.labels import choice_label, field_label
from app.record_form import RecordForm, error_color, to_local_qdatetime
from sync import conflicts, wire
from sync.conflict_view import (
    decode_field,
    is_long_text,
    local_values,
    merged_text,
    other_side,
    parse_time,
    record_title,
    server_values,
)
from sync.conflicts import Choice, ConflictError, ConflictInfo, FieldConflict
from sync.engine import CHILD_ENTITIES
from sync.replica import Replica
from sync.schema import CUSTOMER, ENTITIES, FieldKind

log = logging.getLogger(__name__)

MINE, THEIRS, MERGED = "mine", "theirs", "merged"
_LONG_VALUE_LINES = 6  # a long text value shows this many lines, then scrolls
_LABEL_LIMIT = 800  # characters of a value shown as plain wrapped text

_STYLE = """
QFrame#valueBox {
    border: 1px solid palette(mid);
    border-radius: 6px;
    background: palette(base);
}
QFrame#valueBox[chosen="true"] {
    border: 2px solid palette(highlight);
}
QFrame#valueBox[role="base"] {
    background: palette(window);
    border-style: dashed;
}
QLabel#columnHeading {
    font-weight: bold;
    color: palette(placeholder-text);
}
QLabel#fieldName {
    font-weight: bold;
}
QLabel#changedBy {
    color: palette(placeholder-text);
}
QFrame#banner {
    background: #fff8e1;
    border: 1px solid #ffd54f;
    border-radius: 6px;
}
QFrame#banner QLabel {
    color: #6d4c00;
}
"""


# --- words ----------------------------------------------------------------------------------


def entity_label(entity: str) -> str:
    """An entity's name as a heading or list cell ("Customer")."""
    return {
        "customer": QCoreApplication.translate("Entities", "Customer"),
        "contact": QCoreApplication.translate("Entities", "Contact"),
        "follow_up": QCoreApplication.translate("Entities", "Follow-up"),
        "deal": QCoreApplication.translate("Entities", "Deal"),
    }.get(entity, entity)


def entity_noun(entity: str) -> str:
    """An entity's name inside a sentence ("this {thing}")."""
    return {
        "customer": QCoreApplication.translate("Entities", "customer"),
        "contact": QCoreApplication.translate("Entities", "contact"),
        "follow_up": QCoreApplication.translate("Entities", "follow-up"),
        "deal": QCoreApplication.translate("Entities", "deal"),
    }.get(entity, entity)


def user_text(user: str | None, me: str | None) -> str:
    """Who made a change, in words: a colleague's user name, "you (on another device)"
    for the signed-in user, "someone" when the server did not say."""
    if not user:
        return QCoreApplication.translate("ConflictDialog", "someone")
    if me and user == me:
        return QCoreApplication.translate("ConflictDialog", "you (on another device)")
    return user


def format_moment(value: datetime | None) -> str:
    """An aware time in the local zone, short locale format."""
    if value is None:
        return ""
    return QLocale().toString(to_local_qdatetime(value), QLocale.FormatType.ShortFormat)


def display_value(entity: str, field: str, value: Any) -> str:
    """A field value as the user reads it: translated choices, local dates, formatted
    amounts; "" for no value."""
    if value is None or value == "" or value == []:
        return ""
    spec = ENTITIES[entity]
    kind = spec.field(field).kind if spec.has_field(field) else None
    locale = QLocale()
    if kind is FieldKind.ENUM:
        return choice_label(field, str(value))
    if kind is FieldKind.DATETIME and isinstance(value, datetime):
        return format_moment(value)
    if kind is FieldKind.DATE and isinstance(value, date):
        return locale.toString(
            QDate(value.year, value.month, value.day), QLocale.FormatType.ShortFormat
        )
    if kind is FieldKind.MONEY and isinstance(value, Decimal):
        return locale.toString(float(value), "f", 2)
    if kind is FieldKind.INTEGER and isinstance(value, int):
        return locale.toString(value)
    if kind is FieldKind.BOOLEAN:
        return (
            QCoreApplication.translate("ConflictDialog", "Yes")
            if value
            else QCoreApplication.translate("ConflictDialog", "No")
        )
    if kind is FieldKind.TAGS and isinstance(value, list | tuple):
        return ", ".join(str(t) for t in value)
    return str(value)


# --- pieces ---------------------------------------------------------------------------------


class ValueBox(QFrame):
    """One side's value in a framed box; a click on it chooses that side."""

    sig_clicked = Signal()

    def __init__(
        self, text: str, *, long_text: bool, role: str = "value", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("valueBox")
        self.setProperty("role", role)
        self.setProperty("chosen", False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        self.text = text
        if not text:
            empty = QLabel(self.tr("(empty)"), self)
            empty.setObjectName("hint")
            font = empty.font()
            font.setItalic(True)
            empty.setFont(font)
            layout.addWidget(empty)
            self.view: QWidget = empty
        elif long_text and len(text) > _LABEL_LIMIT:
            # A very long note: a scrolling viewer, not a label taller than the screen.
            view = QPlainTextEdit(self)
            view.setPlainText(text)
            view.setReadOnly(True)
            view.setFrameShape(QFrame.Shape.NoFrame)
            view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            view.setStyleSheet("QPlainTextEdit { background: transparent; }")
            view.setFixedHeight(view.fontMetrics().lineSpacing() * _LONG_VALUE_LINES + 12)
            layout.addWidget(view)
            self.view = view
        else:
            label = QLabel(text, self)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)
            self.view = label
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)

    def set_chosen(self, chosen: bool) -> None:
        if self.property("chosen") == chosen:
            return
        self.setProperty("chosen", chosen)
        self.style().unpolish(self)
        self.style().polish(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.sig_clicked.emit()
        super().mousePressEvent(event)


class FieldChoice(QWidget):
    """The choice for one conflicting field: mine, theirs or a merged value."""

    sig_changed = Signal()

    def __init__(
        self,
        entity: str,
        conflict: FieldConflict,
        *,
        me: str | None,
        grid: QGridLayout,
        row: int,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.entity = entity
        self.field = conflict.field
        self.conflict = conflict
        long_text = is_long_text(entity, conflict.field)
        self.long_text = long_text
        self.mine_value = decode_field(entity, conflict.field, conflict.mine)
        self.theirs_value = decode_field(entity, conflict.field, conflict.theirs)
        base_value = decode_field(entity, conflict.field, conflict.base)

        self.name_label = QLabel(field_label(entity, conflict.field), parent)
        self.name_label.setObjectName("fieldName")
        self.name_label.setContentsMargins(0, 4, 0, 0)
        self.base_box = ValueBox(
            display_value(entity, self.field, base_value),
            long_text=long_text,
            role="base",
            parent=parent,
        )
        self.mine_box = ValueBox(
            display_value(entity, self.field, self.mine_value), long_text=long_text, parent=parent
        )
        self.theirs_box = ValueBox(
            display_value(entity, self.field, self.theirs_value),
            long_text=long_text,
            parent=parent,
        )
        self.mine_radio = QRadioButton(self.tr("Keep mine"), parent)
        self.theirs_radio = QRadioButton(self.tr("Keep theirs"), parent)
        self.merged_radio = QRadioButton(self.tr("Merge"), parent)
        label = field_label(entity, self.field)
        self.mine_radio.setAccessibleName(self.tr("Keep my {field}").format(field=label))
        self.theirs_radio.setAccessibleName(self.tr("Keep their {field}").format(field=label))
        self.merged_radio.setAccessibleName(self.tr("Merge {field}").format(field=label))
        self.group = QButtonGroup(self)
        for radio in (self.mine_radio, self.theirs_radio, self.merged_radio):
            self.group.addButton(radio)
            radio.toggled.connect(self._on_toggled)
        self.mine_box.sig_clicked.connect(self.mine_radio.click)
        self.theirs_box.sig_clicked.connect(self.theirs_radio.click)

        when = format_moment(parse_time(conflict.changed_at))
        who = user_text(conflict.changed_by, me)
        changed = (
            self.tr("Changed by {who} at {when}").format(who=who, when=when)
            if when
            else self.tr("Changed by {who}").format(who=who)
        )
        self.changed_label = QLabel(changed, parent)
        self.changed_label.setObjectName("changedBy")
        self.changed_label.setWordWrap(True)

        # The merged value: the form's own editor for the field kind, validated like a form.
        self.form = RecordForm(
            entity,
            [self.field],
            long_text_lines=_LONG_VALUE_LINES,
            expand_long_text=False,
            parent=parent,
        )
        self.form.label(self.field).hide()
        editor = self.form.editor(self.field)
        if isinstance(editor, QPlainTextEdit):
            editor.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            editor.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        if long_text:
            start: Any = merged_text(self.mine_value, self.theirs_value) or None
        else:
            start = self.mine_value if self.mine_value is not None else self.theirs_value
        self.form.set_values({self.field: start})
        self.form.setEnabled(False)

        top = Qt.AlignmentFlag.AlignTop
        left = Qt.AlignmentFlag.AlignLeft  # a click on the button's middle hits its text
        grid.addWidget(self.name_label, row, 0, 2, 1, top)
        grid.addWidget(self.base_box, row + 1, 1, top)
        grid.addWidget(self.mine_radio, row, 2, left)
        grid.addWidget(self.mine_box, row + 1, 2, top)
        grid.addWidget(self.theirs_radio, row, 3, left)
        theirs_column = QVBoxLayout()
        theirs_column.setSpacing(4)
        theirs_column.addWidget(self.theirs_box)
        theirs_column.addWidget(self.changed_label)
        grid.addLayout(theirs_column, row + 1, 3, top)
        grid.addWidget(self.merged_radio, row, 4, left)
        grid.addWidget(self.form, row + 1, 4, top)
        self.hide()  # a holder of the row's widgets, not shown itself

    @property
    def merged_editor(self) -> QWidget:
        return self.form.editor(self.field)

    def choice(self) -> str | None:
        """mine / theirs / merged, or None while undecided."""
        if self.mine_radio.isChecked():
            return MINE
        if self.theirs_radio.isChecked():
            return THEIRS
        if self.merged_radio.isChecked():
            return MERGED
        return None

    def set_choice(self, choice: str) -> None:
        {MINE: self.mine_radio, THEIRS: self.theirs_radio, MERGED: self.merged_radio}[
            choice
        ].setChecked(True)

    def validate(self) -> bool:
        """A merged value must pass the field's rules (message shown under the editor)."""
        if self.choice() != MERGED:
            return True
        return self.form.validate()

    def resolution(self) -> Choice:
        choice = self.choice()
        if choice == MINE:
            return "mine"
        if choice == THEIRS:
            return "theirs"
        return ("value", self.form.values()[self.field])

    def _on_toggled(self) -> None:
        choice = self.choice()
        self.mine_box.set_chosen(choice == MINE)
        self.theirs_box.set_chosen(choice == THEIRS)
        merged = choice == MERGED
        self.form.setEnabled(merged)
        if not merged:
            self.form.clear_errors()
        self.sig_changed.emit()


# --- the dialog -----------------------------------------------------------------------------


class ConflictDialog(QDialog):
    """Settle one conflict (by id). After ``accept()``, :attr:`outcome` says how:
    ``"fields"``, ``"keep"`` or ``"delete"``; "Decide later" rejects and changes nothing."""

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        conflict_id: int,
        *,
        user_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._me = user_id
        self.conflict_id = conflict_id
        self.outcome: str | None = None
        self.choices: list[FieldChoice] = []
        self.info: ConflictInfo = conflicts.get_conflict(replica, conflict_id)
        self.setStyleSheet(_STYLE)
        self.setSizeGripEnabled(True)
        self._mine = local_values(replica, self.info) or {}
        self._theirs = server_values(self.info)
        name = (
            record_title(self.info.entity, self._mine)
            or record_title(self.info.entity, self._theirs)
            or self.info.record_id
        )
        self.setWindowTitle(self.tr("Resolve conflict — {name}").format(name=name))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 14)
        layout.setSpacing(12)
        heading = QLabel(
            self.tr("{entity}: {name}").format(entity=entity_label(self.info.entity), name=name),
            self,
        )
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        heading.setFont(font)
        heading.setTextFormat(Qt.TextFormat.PlainText)
        heading.setWordWrap(True)
        layout.addWidget(heading)
        banner = QFrame(self)
        banner.setObjectName("banner")
        banner_layout = QHBoxLayout(banner)
        banner_layout.setContentsMargins(12, 10, 12, 10)
        banner_layout.setSpacing(10)
        icon = QLabel(banner)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(24, 24)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.explanation = QLabel(banner)
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.PlainText)
        banner_layout.addWidget(icon)
        banner_layout.addWidget(self.explanation, 1)
        layout.addWidget(banner)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        palette = self.message.palette()
        palette.setColor(QPalette.ColorRole.WindowText, error_color(self.palette()))
        self.message.setPalette(palette)
        self.message.hide()

        body = QWidget()
        self.grid = QGridLayout(body)
        self.grid.setContentsMargins(0, 0, 4, 0)
        self.grid.setHorizontalSpacing(12)
        self.grid.setVerticalSpacing(6)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(8)

        if self.info.kind == "field":
            self._build_fields()
        else:
            self._build_delete()
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        layout.addLayout(self.buttons)
        # As tall as the contents need (the scroll area takes over beyond the screen's share).
        wanted = body.sizeHint().height() + 230
        self.resize(1040 if self.info.kind == "field" else 860, max(360, min(wanted, 720)))

    # --- building -------------------------------------------------------------------------

    def _heading(self, text: str, column: int, row: int = 0) -> None:
        label = QLabel(text)
        label.setObjectName("columnHeading")
        label.setWordWrap(True)
        self.grid.addWidget(label, row, column, Qt.AlignmentFlag.AlignBottom)

    def _build_fields(self) -> None:
        users, _latest = other_side(self.info)
        who = ", ".join(user_text(u, self._me) for u in users) or user_text(None, self._me)
        self.explanation.setText(
            self.tr(
                "You and {who} changed the same fields of this {thing} before your changes "
                "met. Choose for each field which value to keep, or write a merged one. "
                "Nothing is overwritten until you click Resolve."
            ).format(who=who, thing=entity_noun(self.info.entity))
        )
        self._heading(self.tr("Field"), 0)
        self._heading(self.tr("You both started from"), 1)
        self._heading(self.tr("Your value"), 2)
        self._heading(self.tr("Their value"), 3)
        self._heading(self.tr("Merged value"), 4)
        row = 1
        for conflict in self.info.fields:
            choice = FieldChoice(
                self.info.entity, conflict, me=self._me, grid=self.grid, row=row, parent=self
            )
            choice.sig_changed.connect(self._on_choice_changed)
            self.choices.append(choice)
            row += 2
            separator = QFrame()
            separator.setFrameShape(QFrame.Shape.HLine)
            separator.setFrameShadow(QFrame.Shadow.Sunken)
            self.grid.addWidget(separator, row, 0, 1, 5)
            self.grid.setRowMinimumHeight(row, 14)
            row += 1
        self.grid.setRowStretch(row, 1)
        for column in range(1, 5):
            self.grid.setColumnStretch(column, 1)

        self.keep_mine_button = QPushButton(self.tr("Keep all mine"), self)
        self.keep_theirs_button = QPushButton(self.tr("Keep all theirs"), self)
        self.later_button = QPushButton(self.tr("Decide later"), self)
        self.resolve_button = QPushButton(self.tr("Resolve"), self)
        self.resolve_button.setDefault(True)
        self.keep_mine_button.clicked.connect(lambda: self.choose_all(MINE))
        self.keep_theirs_button.clicked.connect(lambda: self.choose_all(THEIRS))
        self.later_button.clicked.connect(self.reject)
        self.resolve_button.clicked.connect(self.resolve)
        self.buttons.addWidget(self.keep_mine_button)
        self.buttons.addWidget(self.keep_theirs_button)
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.later_button)
        self.buttons.addWidget(self.resolve_button)

    def _build_delete(self) -> None:
        info = self.info
        thing = entity_noun(info.entity)
        users, latest = other_side(info)
        who = user_text(users[0] if users else None, self._me)
        when = format_moment(latest)
        customer = ENTITIES[info.entity] is CUSTOMER
        self.keep_button = QPushButton(self)
        self.delete_button = QPushButton(self)
        self.later_button = QPushButton(self.tr("Decide later"), self)
        if info.kind == "deleted":
            if info.server_record is None:
                text = self.tr(
                    "You changed this {thing}, but it is no longer shared with you: it was "
                    "given to someone else or deleted on the server. Your changes below "
                    "cannot be sent."
                ).format(thing=thing)
                self.keep_button.setEnabled(False)
                self.keep_button.setToolTip(
                    self.tr("The server no longer shares it with you: it cannot be kept.")
                )
            elif when:
                text = self.tr("You changed this {thing}, but {who} deleted it on {when}.").format(
                    thing=thing, who=who, when=when
                )
            else:
                text = self.tr("You changed this {thing}, but {who} deleted it.").format(
                    thing=thing, who=who
                )
            if customer:
                text += " " + self.tr(
                    "Deleting it removes its contacts, follow-ups and deals from this computer."
                )
            self.keep_button.setText(self.tr("Keep the record (with my changes)"))
            self.delete_button.setText(self.tr("Delete it"))
            self._change_table(
                self.tr("Your changes:"),
                self.tr("Before"),
                self.tr("Your value"),
                [(f.field, f.base, f.mine) for f in info.fields],
            )
        else:
            if when:
                text = self.tr(
                    "You deleted this {thing}; {who} changed it meanwhile, on {when}."
                ).format(thing=thing, who=who, when=when)
            else:
                text = self.tr("You deleted this {thing}; {who} changed it meanwhile.").format(
                    thing=thing, who=who
                )
            if customer:
                text += " " + self.tr(
                    "Keeping it also brings back its contacts, follow-ups and deals; deleting "
                    "it deletes them too."
                )
            self.keep_button.setText(self.tr("Keep the record (with their changes)"))
            self.delete_button.setText(self.tr("Delete it anyway"))
            spec = ENTITIES[info.entity]
            rows = [
                (
                    f.field,
                    _encoded(info.entity, f.field, self._mine.get(f.field)),
                    f.theirs,
                )
                for f in info.fields
                if spec.has_field(f.field)
            ]
            self._change_table(
                self.tr("What {who} changed:").format(who=who),
                self.tr("Before"),
                self.tr("Now"),
                rows,
            )
        self.explanation.setText(text)
        self.keep_button.setDefault(True)
        self.keep_button.clicked.connect(self.keep)
        self.delete_button.clicked.connect(self.delete)
        self.later_button.clicked.connect(self.reject)
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.later_button)
        self.buttons.addWidget(self.delete_button)
        self.buttons.addWidget(self.keep_button)

    def _change_table(
        self, title: str, before: str, after: str, rows: list[tuple[str, Any, Any]]
    ) -> None:
        caption = QLabel(title)
        caption.setObjectName("fieldName")
        self.grid.addWidget(caption, 0, 0, 1, 3)
        self._heading(self.tr("Field"), 0, 1)
        self._heading(before, 1, 1)
        self._heading(after, 2, 1)
        row = 2
        if not rows:
            none = QLabel(self.tr("No field changes were reported."))
            none.setObjectName("hint")
            self.grid.addWidget(none, row, 0, 1, 3)
            row += 1
        for field, old, new in rows:
            long_text = is_long_text(self.info.entity, field)
            name = QLabel(field_label(self.info.entity, field))
            top = Qt.AlignmentFlag.AlignTop
            if long_text:
                name.setContentsMargins(0, 8, 0, 0)  # level with the first line of text
            self.grid.addWidget(name, row, 0, top if long_text else Qt.AlignmentFlag.AlignVCenter)
            old_text = display_value(
                self.info.entity, field, decode_field(self.info.entity, field, old)
            )
            new_text = display_value(
                self.info.entity, field, decode_field(self.info.entity, field, new)
            )
            self.grid.addWidget(ValueBox(old_text, long_text=long_text, role="base"), row, 1, top)
            self.grid.addWidget(ValueBox(new_text, long_text=long_text), row, 2, top)
            row += 1
        self.grid.setRowStretch(row, 1)
        self.grid.setColumnStretch(1, 1)
        self.grid.setColumnStretch(2, 1)

    # --- choosing -------------------------------------------------------------------------

    def choice_for(self, field: str) -> FieldChoice:
        """The choice row of ``field`` (for tests and keyboard shortcuts)."""
        return next(c for c in self.choices if c.field == field)

    def choose_all(self, choice: str) -> None:
        """Keep all mine / all theirs."""
        for field_choice in self.choices:
            field_choice.set_choice(choice)

    def _on_choice_changed(self) -> None:
        if all(c.choice() for c in self.choices):
            self.message.hide()

    # --- resolving ------------------------------------------------------------------------

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def resolve(self) -> None:
        """Field conflict: check every choice and merged value, queue the resolution,
        announce the record and close — or stay open saying what is missing."""
        undecided = [c for c in self.choices if c.choice() is None]
        if undecided:
            names = ", ".join(field_label(self.info.entity, c.field) for c in undecided)
            self._show_message(
                self.tr("Choose which value to keep for: {fields}.").format(fields=names)
            )
            undecided[0].mine_radio.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        invalid = [c for c in self.choices if not c.validate()]
        if invalid:
            self._show_message(self.tr("A merged value is not valid: see the message under it."))
            return
        choices = {c.field: c.resolution() for c in self.choices}
        if not self._run(
            lambda: conflicts.resolve_fields(self._replica, self.conflict_id, choices)
        ):
            return
        self.outcome = "fields"
        self._events.announce(self.info.entity, {self.info.record_id})
        super().accept()

    def keep(self) -> None:
        """Delete conflicts: keep the record (mine, or theirs when I had deleted it)."""
        if not self._run(lambda: conflicts.resolve_keep(self._replica, self.conflict_id)):
            return
        self.outcome = "keep"
        self._announce_all()
        super().accept()

    def delete(self) -> None:
        """Delete conflicts: let it go / delete it anyway."""
        if not self._run(lambda: conflicts.resolve_delete(self._replica, self.conflict_id)):
            return
        self.outcome = "delete"
        self._announce_all()
        super().accept()

    def _run(self, action: Any) -> bool:
        try:
            action()
        except ConflictError as exc:
            log.warning("resolving conflict %s failed: %s", self.conflict_id, exc)
            try:
                conflicts.get_conflict(self._replica, self.conflict_id)
            except ConflictError:
                QMessageBox.information(
                    self,
                    self.tr("Conflict settled"),
                    self.tr("This conflict was settled meanwhile (by a sync): nothing to do."),
                )
                self._events.announce(self.info.entity, {self.info.record_id}, from_sync=True)
                super().reject()
                return False
            self._show_message(
                self.tr("This conflict could not be resolved: {reason}").format(reason=str(exc))
            )
            return False
        return True

    def _announce_all(self) -> None:
        self._events.announce(self.info.entity, {self.info.record_id})
        if ENTITIES[self.info.entity] is CUSTOMER:
            # Keep brings its children back; delete takes them along.
            for child in CHILD_ENTITIES:
                self._events.announce(child, None, from_sync=True)


def _encoded(entity: str, field: str, value: Any) -> Any:
    """A replica value in wire form (for the "before" column of a delete conflict)."""
    spec = ENTITIES[entity]
    if not spec.has_field(field) or value is None:
        return value
    return wire.encode_value(spec.field(field), value)
