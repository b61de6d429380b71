"""A form for the fields of one record, built from the schema and laid out by the caller.

:class:`RecordForm` picks a proper editor for each field kind (line edits limited to the
schema's length, multi-line notes, combo boxes with translated choices, date editors that
can be empty, check boxes, an amount field, comma-separated tags), shows the fields'
translated labels, marks required ones, and validates with ``sync.validation`` — the same
rules the replica and the server apply — showing a translated message under each refused
field. The caller decides the layout: a list of rows, each one field spanning the form's
width or a tuple of fields side by side::

    RecordForm("customer", [("name", "company"), ("phone", "email"), "notes"])

Values go in and out as the repository's Python values: aware UTC datetimes (shown in the
local time zone), ``date``, ``Decimal`` (``values()`` returns the typed text and lets
validation turn it into an amount), lists of tags.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, QDateTime, QRegularExpression, Qt, QTime, Signal
from PySide6.QtGui import QColor, QPalette, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.labels import choice_label, field_label
from app.validation_messages import field_error_text
from sync.repository import Change, RecordNotFoundError
from sync.schema import ENTITIES, EntitySpec, FieldKind, FieldSpec
from sync.validation import FieldError, ValidationError, clean_value, clean_values, parse_text

if TYPE_CHECKING:
    from app.events import DataEvents
    from sync.replica import Replica

DATETIME_FORMAT = "yyyy-MM-dd HH:mm"
DATE_FORMAT = "yyyy-MM-dd"
# Currencies offered in the currency box; any other ISO 4217 code can be typed.
COMMON_CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "TWD", "SGD")
_EMPTY_CHOICE = "—"
_GAP_COLUMN_WIDTH = 24  # between the label/editor pairs of a two-column form


def error_color(palette: QPalette) -> QColor:
    """A red that reads well on the palette's window colour (light or dark theme)."""
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    return QColor("#ff8a80") if dark else QColor("#c62828")


def to_local_qdatetime(value: datetime) -> QDateTime:
    """An aware datetime as a local ``QDateTime`` (Python's idea of the local zone)."""
    local = value.astimezone()
    return QDateTime(
        QDate(local.year, local.month, local.day),
        QTime(local.hour, local.minute, local.second),
    )


def from_local_qdatetime(value: QDateTime) -> datetime:
    """A ``QDateTime`` typed in local time as an aware UTC datetime (whole minutes)."""
    d, t = value.date(), value.time()
    naive = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute())
    return naive.astimezone().astimezone(UTC)


def format_local(value: datetime | date | None) -> str:
    """A stored datetime (aware UTC) or date as text in the local zone: ``2026-05-01 14:30``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    return value.strftime("%Y-%m-%d")


def format_amount(value: Decimal | None) -> str:
    """An amount with thousands separators and two decimals (``12,500.00``)."""
    return "" if value is None else f"{value:,.2f}"


class OptionalDateTimeEdit(QWidget):
    """A date (and time) editor that can also hold "no date".

    A check box in front switches the date on or off; switched off, the editor is disabled
    and reads "No date". Switching it on proposes ``default`` (tomorrow 09:00 unless the
    caller says otherwise) and moves the focus into the editor, so the keyboard user can
    type the date right away.
    """

    sig_changed = Signal()

    def __init__(
        self,
        *,
        with_time: bool,
        optional: bool = True,
        default: Callable[[], datetime | date] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._with_time = with_time
        self._optional = optional
        self._default = default or (_tomorrow_morning if with_time else date.today)
        self._setting = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.check = QCheckBox(self)
        self.check.setToolTip(self.tr("Set a date"))
        self.check.setAccessibleName(self.tr("Set a date"))
        self.edit: QDateTimeEdit = QDateTimeEdit(self) if with_time else QDateEdit(self)
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat(DATETIME_FORMAT if with_time else DATE_FORMAT)
        self.edit.setMinimumDateTime(QDateTime(QDate(1900, 1, 1), QTime(0, 0)))
        self.edit.setMaximumDateTime(QDateTime(QDate(2999, 12, 31), QTime(23, 59)))
        self.edit.setSpecialValueText(self.tr("No date"))
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.check.setVisible(optional)
        layout.addWidget(self.check)
        layout.addWidget(self.edit, 1)
        self.setFocusProxy(self.edit)
        self.check.toggled.connect(self._on_toggled)
        self.edit.dateTimeChanged.connect(self._on_edited)
        self._set_empty()

    def value(self) -> datetime | date | None:
        """The chosen moment (aware UTC) or day, or ``None`` for "no date"."""
        if self._optional and not self.check.isChecked():
            return None
        if self._with_time:
            return from_local_qdatetime(self.edit.dateTime())
        d = self.edit.date()
        return date(d.year(), d.month(), d.day())

    def set_value(self, value: datetime | date | None) -> None:
        """Show ``value`` (``None``: no date)."""
        self._setting = True
        blocked = self.blockSignals(True)
        try:
            if value is None:
                if self._optional:
                    self._set_empty()
                else:
                    self._show(self._default())
                return
            self.check.setChecked(True)
            self._show(value)
        finally:
            self.blockSignals(blocked)
            self._setting = False

    def _show(self, value: datetime | date) -> None:
        self.edit.setEnabled(True)
        if isinstance(value, datetime):
            self.edit.setDateTime(to_local_qdatetime(value))
        else:
            self.edit.setDate(QDate(value.year, value.month, value.day))

    def _set_empty(self) -> None:
        self.check.setChecked(False)
        self.edit.setDateTime(self.edit.minimumDateTime())
        self.edit.setEnabled(not self._optional)
        self.edit.lineEdit().deselect()  # no highlighted "No date" left from typing

    def _on_toggled(self, checked: bool) -> None:
        if self._setting:
            return
        if checked:
            self._show(self._default())
            self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self._set_empty()
        self.sig_changed.emit()

    def _on_edited(self) -> None:
        if self.check.isChecked() or not self._optional:
            self.sig_changed.emit()


def _tomorrow_morning() -> datetime:
    day = date.today() + timedelta(days=1)
    return datetime.combine(day, time(9, 0)).astimezone()


class _Binding:
    """One field's editor: reads, writes and reports edits of the Python value."""

    def __init__(self, spec: FieldSpec, widget: QWidget) -> None:
        self.spec = spec
        self.widget = widget
        self.loaded: Any = None

    @property
    def focus_widget(self) -> QWidget:
        return self.widget

    @property
    def style_target(self) -> QWidget:
        """The widget that turns red when the field is invalid."""
        return self.widget

    def read(self) -> Any:
        raise NotImplementedError

    def write(self, value: Any) -> None:
        raise NotImplementedError

    def connect(self, slot: Callable[[], None]) -> None:
        raise NotImplementedError

    def set_read_only(self, read_only: bool) -> None:
        self.widget.setEnabled(not read_only)


class _LineBinding(_Binding):
    """Single-line text, email, phone, amount, tags; ids and users shown read-only."""

    widget: QLineEdit

    def read(self) -> Any:
        text = self.widget.text()
        if self.spec.kind in (FieldKind.ID, FieldKind.REFERENCE, FieldKind.USER):
            return self.loaded
        try:
            return parse_text(self.spec, text)
        except ValidationError:
            return text  # validation reports it with the field's own message

    def write(self, value: Any) -> None:
        self.loaded = value
        if value is None:
            text = ""
        elif self.spec.kind is FieldKind.TAGS:
            text = ", ".join(value)
        elif self.spec.kind is FieldKind.MONEY:
            text = format_amount(Decimal(value))
        else:
            text = str(value)
        self.widget.setText(text)
        self.widget.setCursorPosition(0)  # show the start of a long value, not its end

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.textEdited.connect(lambda _text: slot())

    def set_read_only(self, read_only: bool) -> None:
        self.widget.setReadOnly(read_only)


class _PlainTextBinding(_Binding):
    widget: QPlainTextEdit

    def read(self) -> Any:
        text = self.widget.toPlainText()
        return text if text.strip() else None

    def write(self, value: Any) -> None:
        self.loaded = value
        self.widget.setPlainText(value or "")

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.textChanged.connect(slot)

    def set_read_only(self, read_only: bool) -> None:
        self.widget.setReadOnly(read_only)


class _ComboBinding(_Binding):
    """Enums: translated choices; optional ones start with an empty entry."""

    widget: QComboBox

    def read(self) -> Any:
        return self.widget.currentData()

    def write(self, value: Any) -> None:
        self.loaded = value
        index = self.widget.findData(value)
        if index < 0 and value is not None:
            # A value this version does not know (a newer server): show it, keep it.
            self.widget.addItem(str(value), value)
            index = self.widget.count() - 1
        self.widget.setCurrentIndex(max(index, 0))

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.currentIndexChanged.connect(lambda _index: slot())


class _CurrencyBinding(_Binding):
    widget: QComboBox

    def read(self) -> Any:
        text = self.widget.currentText().strip().upper()
        return text or None

    def write(self, value: Any) -> None:
        self.loaded = value
        self.widget.setEditText(value or "")

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.editTextChanged.connect(lambda _text: slot())


class _CheckBinding(_Binding):
    widget: QCheckBox

    def read(self) -> Any:
        return self.widget.isChecked()

    def write(self, value: Any) -> None:
        self.loaded = value
        self.widget.setChecked(bool(value))

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.toggled.connect(lambda _checked: slot())


class _SpinBinding(_Binding):
    """Whole numbers; for an optional field the value below the minimum means "none"."""

    widget: QSpinBox

    def read(self) -> Any:
        value = self.widget.value()
        if not self.spec.required and value == self.widget.minimum():
            return None
        return value

    def write(self, value: Any) -> None:
        self.loaded = value
        self.widget.setValue(self.widget.minimum() if value is None else int(value))

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.valueChanged.connect(lambda _value: slot())


class _DateBinding(_Binding):
    widget: OptionalDateTimeEdit

    @property
    def focus_widget(self) -> QWidget:
        return self.widget.edit if self.widget.edit.isEnabled() else self.widget.check

    @property
    def style_target(self) -> QWidget:
        return self.widget.edit

    def read(self) -> Any:
        value = self.widget.value()
        loaded = self.loaded
        # The editor shows whole minutes; an untouched value keeps its seconds.
        if (
            isinstance(value, datetime)
            and isinstance(loaded, datetime)
            and loaded.astimezone(UTC).replace(second=0, microsecond=0) == value
        ):
            return loaded
        return value

    def write(self, value: Any) -> None:
        self.loaded = value
        self.widget.set_value(value)

    def connect(self, slot: Callable[[], None]) -> None:
        self.widget.sig_changed.connect(slot)


_MONEY_PATTERN = QRegularExpression(r"^[0-9０-９,，]*([.．][0-9０-９]{0,2})?$")
_CURRENCY_PATTERN = QRegularExpression(r"^[A-Za-z]{0,3}$")


class RecordForm(QWidget):
    """Editors for some fields of one entity, with inline validation messages.

    ``rows`` lays the fields out: a field name spans the whole width, a tuple puts fields
    side by side (each with its label). Multi-line fields show ``long_text_lines`` lines
    and, with ``expand_long_text``, take the height the form has to spare.
    ``sig_dirty_changed(bool)`` tells whether the values differ from those last given to
    :meth:`set_values`.
    """

    sig_dirty_changed = Signal(bool)

    def __init__(
        self,
        entity: str,
        rows: Sequence[str | Sequence[str]],
        *,
        long_text_lines: int = 4,
        expand_long_text: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.spec: EntitySpec = ENTITIES[entity]
        self._long_text_lines = long_text_lines
        self._expand_long_text = expand_long_text
        self._bindings: dict[str, _Binding] = {}
        self._labels: dict[str, QLabel] = {}
        self._label_columns: dict[str, int] = {}  # field -> which label column it is in
        self._messages: dict[str, QLabel] = {}
        self._palettes: dict[str, QPalette] = {}
        self._loading = False
        self._dirty = False
        self._build(rows)
        self.set_values({})

    # --- building -----------------------------------------------------------------------

    def _build(self, rows: Sequence[str | Sequence[str]]) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        self._grid = grid
        normalised = [(row,) if isinstance(row, str) else tuple(row) for row in rows]
        width = max((len(r) for r in normalised), default=1)
        last_column = 3 * width - 2  # label, editor, gap, label, editor, ...
        for pair in range(width):
            grid.setColumnStretch(3 * pair + 1, 1)
            if pair:
                grid.setColumnMinimumWidth(3 * pair - 1, _GAP_COLUMN_WIDTH)
        # A general message (an error without a field of its own) above the fields.
        self._general = self._message_label()
        grid.addWidget(self._general, 0, 0, 1, last_column + 1)
        label_alignment = Qt.AlignmentFlag(
            self.style().styleHint(QStyle.StyleHint.SH_FormLayoutLabelAlignment)
        )
        grid_row = 1
        for row in normalised:
            for i, name in enumerate(row):
                spec = self.spec.field(name)
                binding = self._make_binding(spec)
                self._bindings[name] = binding
                # A check box carries its own label, lined up with the editors.
                boolean = spec.kind is FieldKind.BOOLEAN
                label = QLabel("" if boolean else self._label_text(spec), self)
                if not boolean:
                    label.setBuddy(binding.focus_widget)
                if spec.required:
                    label.setToolTip(self.tr("Required"))
                tall = spec.kind is FieldKind.LONG_TEXT
                vertical = Qt.AlignmentFlag.AlignTop if tall else Qt.AlignmentFlag.AlignVCenter
                horizontal = label_alignment & Qt.AlignmentFlag.AlignHorizontal_Mask
                if tall:
                    # Line the label up with the first line of text, not the frame.
                    label.setContentsMargins(0, 4, 0, 0)
                self._labels[name] = label
                self._label_columns[name] = i
                column = 3 * i
                span = 1 if i < len(row) - 1 else last_column - column
                grid.addWidget(label, grid_row, column, horizontal | vertical)
                grid.addWidget(binding.widget, grid_row, column + 1, 1, span)
                message = self._message_label()
                self._messages[name] = message
                grid.addWidget(message, grid_row + 1, column + 1, 1, span)
                if tall and self._expand_long_text:
                    grid.setRowStretch(grid_row, 1)
                binding.connect(functools.partial(self._on_edited, name))
            grid_row += 2

    def _label_text(self, spec: FieldSpec) -> str:
        text = html.escape(field_label(self.spec.name, spec.name))
        if not spec.required or spec.kind is FieldKind.BOOLEAN:
            return text
        red = error_color(self.palette()).name()
        return f'{text}<span style="color:{red}">&nbsp;*</span>'

    def _message_label(self) -> QLabel:
        label = QLabel(self)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        palette = label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, error_color(self.palette()))
        label.setPalette(palette)
        label.setVisible(False)
        return label

    def _make_binding(self, spec: FieldSpec) -> _Binding:
        kind = spec.kind
        accessible = field_label(self.spec.name, spec.name)
        if kind is FieldKind.LONG_TEXT:
            text = QPlainTextEdit(self)
            text.setTabChangesFocus(True)
            lines = self._long_text_lines
            margins = text.contentsMargins().top() + text.contentsMargins().bottom()
            height = round(
                text.fontMetrics().lineSpacing() * lines
                + 2 * text.document().documentMargin()
                + margins
            )
            if self._expand_long_text:
                text.setMinimumHeight(height)
                text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            else:
                text.setFixedHeight(height)
            text.setAccessibleName(accessible)
            return _PlainTextBinding(spec, text)
        if kind is FieldKind.ENUM:
            combo = QComboBox(self)
            if not spec.required:
                combo.addItem(_EMPTY_CHOICE, None)
            for choice in spec.choices:
                combo.addItem(choice_label(spec.name, choice), choice)
            combo.setAccessibleName(accessible)
            return _ComboBinding(spec, combo)
        if kind is FieldKind.CURRENCY:
            combo = QComboBox(self)
            combo.setEditable(True)
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            combo.addItems(list(COMMON_CURRENCIES))
            code = combo.lineEdit()
            assert code is not None  # an editable combo box has one
            code.setMaxLength(3)
            code.setValidator(QRegularExpressionValidator(_CURRENCY_PATTERN, combo))
            combo.setAccessibleName(accessible)
            return _CurrencyBinding(spec, combo)
        if kind is FieldKind.BOOLEAN:
            check = QCheckBox(accessible, self)
            return _CheckBinding(spec, check)
        if kind is FieldKind.INTEGER:
            spin = QSpinBox(self)
            low = int(spec.min_value) if spec.min_value is not None else -(2**31) + 1
            high = int(spec.max_value) if spec.max_value is not None else 2**31 - 1
            if not spec.required:
                low -= 1  # the "none" value, shown as a dash
                spin.setSpecialValueText(_EMPTY_CHOICE)
            spin.setRange(low, high)
            spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.UpDownArrows)
            spin.setAccessibleName(accessible)
            return _SpinBinding(spec, spin)
        if kind in (FieldKind.DATE, FieldKind.DATETIME):
            edit = OptionalDateTimeEdit(
                with_time=kind is FieldKind.DATETIME, optional=not spec.required, parent=self
            )
            edit.edit.setAccessibleName(accessible)
            return _DateBinding(spec, edit)
        line = QLineEdit(self)
        line.setAccessibleName(accessible)
        if spec.max_length is not None and kind is not FieldKind.TAGS:
            line.setMaxLength(spec.max_length)  # the schema's limit: typing stops there
        if kind is FieldKind.EMAIL:
            line.setPlaceholderText("name@example.com")
            line.setInputMethodHints(Qt.InputMethodHint.ImhEmailCharactersOnly)
        elif kind is FieldKind.PHONE:
            line.setInputMethodHints(Qt.InputMethodHint.ImhDialableCharactersOnly)
        elif kind is FieldKind.TAGS:
            line.setPlaceholderText(self.tr("Separate tags with commas"))
        elif kind is FieldKind.MONEY:
            line.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            line.setValidator(QRegularExpressionValidator(_MONEY_PATTERN, line))
            line.setPlaceholderText("0.00")
        elif kind in (FieldKind.ID, FieldKind.REFERENCE, FieldKind.USER):
            line.setReadOnly(True)
        return _LineBinding(spec, line)

    # --- access -------------------------------------------------------------------------

    @property
    def fields(self) -> tuple[str, ...]:
        """The form's field names, in layout order."""
        return tuple(self._bindings)

    def editor(self, name: str) -> QWidget:
        """The editor widget of field ``name`` (for tests and for callers' shortcuts)."""
        return self._bindings[name].widget

    def label(self, name: str) -> QLabel:
        return self._labels[name]

    def label_widths(self) -> list[int]:
        """The width each label column needs (first pair, second pair, ...)."""
        widths: dict[int, int] = {}
        for name, label in self._labels.items():
            column = self._label_columns[name]
            widths[column] = max(widths.get(column, 0), label.sizeHint().width())
        return [widths[c] for c in sorted(widths)]

    def set_label_widths(self, widths: Sequence[int]) -> None:
        """Give the label columns at least these widths, to line up with another form."""
        for column, width in enumerate(widths):
            self._grid.setColumnMinimumWidth(3 * column, width)

    def message_label(self, name: str) -> QLabel:
        """The label that shows field ``name``'s validation message."""
        return self._messages[name]

    def shown_errors(self) -> dict[str, str]:
        """``{field: message}`` of the messages on screen now."""
        return {n: m.text() for n, m in self._messages.items() if not m.isHidden()}

    def general_message(self) -> str:
        return "" if self._general.isHidden() else self._general.text()

    # --- values -------------------------------------------------------------------------

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Load a record's values (missing fields take their schema default); the form is
        then clean and shows no messages."""
        self._loading = True
        try:
            for name, binding in self._bindings.items():
                binding.write(values[name] if name in values else _default(binding.spec))
        finally:
            self._loading = False
        self.clear_errors()
        self._update_dirty()

    def loaded_values(self) -> dict[str, Any]:
        """The values last loaded, as given."""
        return {name: b.loaded for name, b in self._bindings.items()}

    def values(self) -> dict[str, Any]:
        """What the editors hold now, parsed but not yet validated (``None`` for empty)."""
        return {name: b.read() for name, b in self._bindings.items()}

    def changed_values(self) -> dict[str, Any]:
        """The fields whose value differs from the loaded one, with their new values."""
        changed: dict[str, Any] = {}
        for name, binding in self._bindings.items():
            if not binding.spec.synced:
                continue
            now = binding.read()
            if _canonical(binding.spec, now) != _canonical(binding.spec, binding.loaded):
                changed[name] = now
        return changed

    def is_dirty(self) -> bool:
        return self._dirty

    def revert(self) -> None:
        """Throw the edits away: show the loaded values again."""
        self.set_values(self.loaded_values())

    def refresh_values(self, values: Mapping[str, Any]) -> set[str]:
        """Load newer values of the record while keeping the user's unsaved edits.

        Fields the user has edited keep what the user typed (and stay changed against the
        new values); the others show the new values. Returns the edited fields whose stored
        value changed meanwhile — the ones where saving replaces someone else's change.
        """
        edited = self.changed_values()
        clashes: set[str] = set()
        self._loading = True
        try:
            for name, binding in self._bindings.items():
                if name not in values:
                    continue
                new = values[name]
                if name in edited:
                    if _canonical(binding.spec, new) != _canonical(binding.spec, binding.loaded):
                        clashes.add(name)
                    binding.loaded = new
                else:
                    binding.write(new)
        finally:
            self._loading = False
        self._update_dirty()
        return clashes

    # --- validation ---------------------------------------------------------------------

    def validate(self) -> bool:
        """Check every field with ``sync.validation``; show a message under each refused
        field, focus the first one and return ``False`` — or clear the messages and return
        ``True``."""
        synced = {k: v for k, v in self.values().items() if self.spec.field(k).synced}
        try:
            clean_values(self.spec, synced, for_create=False)
        except ValidationError as exc:
            self.show_errors(exc.errors)
            return False
        self.clear_errors()
        return True

    def show_errors(self, errors: Iterable[FieldError]) -> None:
        """Show ``errors`` (from validation or a refused write) and focus the first field."""
        self.clear_errors()
        general: list[str] = []
        for error in errors:
            spec = self.spec.field(error.field) if self.spec.has_field(error.field) else None
            text = field_error_text(error, spec)
            if error.field not in self._bindings:
                general.append(text)
                continue
            if not self._messages[error.field].isHidden():
                continue  # one message per field is enough
            self._show_field_error(error.field, text)
        if general:
            self._general.setText("\n".join(general))
            self._general.setVisible(True)
        # The first refused field in layout order (not in the order of the errors).
        first = next((n for n in self._bindings if not self._messages[n].isHidden()), None)
        if first is not None:
            self.focus_field(first)

    def _show_field_error(self, name: str, text: str) -> None:
        message = self._messages[name]
        message.setText(text)
        message.setVisible(True)
        target = self._bindings[name].style_target
        if name not in self._palettes:
            self._palettes[name] = target.palette()
        palette = QPalette(self._palettes[name])
        tint = error_color(self.palette())
        base = palette.color(QPalette.ColorRole.Base)
        palette.setColor(QPalette.ColorRole.Base, _blend(base, tint, 0.12))
        target.setPalette(palette)
        target.setToolTip(text)
        target.setAccessibleDescription(text)

    def clear_errors(self) -> None:
        """Hide every validation message."""
        for name in list(self._palettes):
            self._clear_field_error(name)
        for message in self._messages.values():
            message.setVisible(False)
        self._general.setVisible(False)

    def _clear_field_error(self, name: str) -> None:
        self._messages[name].setVisible(False)
        palette = self._palettes.pop(name, None)
        if palette is not None:
            target = self._bindings[name].style_target
            target.setPalette(palette)
            target.setToolTip("")
            target.setAccessibleDescription("")

    def focus_field(self, name: str) -> None:
        widget = self._bindings[name].focus_widget
        widget.setFocus(Qt.FocusReason.OtherFocusReason)
        if isinstance(widget, QLineEdit):
            widget.selectAll()

    # --- state --------------------------------------------------------------------------

    def set_read_only(self, read_only: bool) -> None:
        """Lock (or unlock) every editor, e.g. for a deleted record."""
        for binding in self._bindings.values():
            binding.set_read_only(read_only)

    def _on_edited(self, name: str) -> None:
        if self._loading:
            return
        self._clear_field_error(name)  # the user is fixing it: the old message is stale
        self._update_dirty()

    def _update_dirty(self) -> None:
        dirty = bool(self.changed_values())
        if dirty != self._dirty:
            self._dirty = dirty
            self.sig_dirty_changed.emit(dirty)


def _default(spec: FieldSpec) -> Any:
    if spec.kind is FieldKind.TAGS:
        return list(spec.default or ())
    return spec.default


def _canonical(spec: FieldSpec, value: Any) -> Any:
    """The value as validation would store it, so that "" and None, " a " and "a",
    "1,000" and Decimal("1000.00") compare equal; invalid input compares as typed."""
    try:
        return clean_value(spec, value)
    except ValidationError:
        return value


def _blend(base: QColor, tint: QColor, amount: float) -> QColor:
    return QColor(
        round(base.red() + (tint.red() - base.red()) * amount),
        round(base.green() + (tint.green() - base.green()) * amount),
        round(base.blue() + (tint.blue() - base.blue()) * amount),
    )


class RecordDialog(QDialog):
    """A small dialog that creates or edits one record through a :class:`RecordForm`.

    OK validates inline (nothing is written while a field is refused), writes through the
    entity's repository — one transaction with its outbox row — announces the change and
    closes; Cancel writes nothing. ``fixed`` values (a child's ``customer_id``) are added
    to a new record. After OK, :attr:`record_id` is the record written.
    """

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        entity: str,
        rows: Sequence[str | Sequence[str]],
        *,
        record_id: str | None = None,
        fixed: Mapping[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._repository = replica.repository(entity)
        self._fixed = dict(fixed or {})
        self.record_id: str | None = record_id
        self._new = record_id is None
        self.form = RecordForm(entity, rows, long_text_lines=3, parent=self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 14)
        layout.setSpacing(14)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.buttons)
        self.setSizeGripEnabled(True)
        if record_id is None:
            self.form.set_values(self._fixed)
            self.ok_button.setText(self.tr("Add"))
        else:
            record = self._repository.get(record_id)
            if record is None:
                self.form.set_read_only(True)
                self.ok_button.setEnabled(False)
                self.form.show_errors([FieldError("id", "deleted", self._deleted_text())])
            else:
                self.form.set_values(record.values)
            self.ok_button.setText(self.tr("Save"))

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    @property
    def is_new(self) -> bool:
        """Whether the dialog creates a record (rather than editing one)."""
        return self._new

    def _deleted_text(self) -> str:
        return self.tr("This record was deleted meanwhile; it can no longer be edited.")

    def accept(self) -> None:
        """Validate, write, announce, close — or stay open showing what is wrong."""
        if not self.form.validate():
            return
        try:
            ids = self._write()
        except ValidationError as exc:
            self.form.show_errors(exc.errors)
            return
        except RecordNotFoundError:
            self.form.show_errors([FieldError("id", "deleted", self._deleted_text())])
            self.ok_button.setEnabled(False)
            return
        if ids:
            self._events.announce(self._repository.spec.name, ids)
        super().accept()

    def _write(self) -> set[str]:
        """Write the form; return the ids of every record written."""
        if self.record_id is None:
            change = self._repository.create({**self.form.values(), **self._fixed})
            self.record_id = change.record_id
        else:
            changed = self.form.changed_values()
            if not changed:
                return set()
            change = self._repository.update(self.record_id, changed)
        return {change.record_id, *self._after_write(change)}

    def _after_write(self, change: Change) -> set[str]:
        """Hook for follow-up writes of the same entity (ids written); none by default."""
        return set()
