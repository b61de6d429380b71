"""Checking and normalising field values against the entity schema.

One set of rules, taken from each field's :class:`~sync.schema.FieldSpec`, serves the
replica (before an edit is written), the server (before a mutation is applied) and the
forms. Errors carry a machine-readable ``code`` for the UI and the wire, and an English
``message`` for logs and the command line.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.schema import EntitySpec, FieldKind, FieldSpec

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
# Digits with the usual separators, an optional leading +, an optional extension.
_PHONE_RE = re.compile(r"^\+?[0-9(][0-9 ()./-]*(?:\s*(?:ext\.?|x|转|#)\s*[0-9]{1,6})?$", re.I)
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK_RE = re.compile(r"[\r\n\t\u0085\u2028\u2029]")
_MIN_PHONE_DIGITS = 5
_MAX_PHONE_DIGITS = 20


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why one field's value was refused."""

    field: str
    code: str
    message: str


class ValidationError(ValueError):
    """One or more fields of an edit are invalid; nothing was written."""

    def __init__(self, entity: str, errors: Iterable[FieldError]) -> None:
        self.entity = entity
        self.errors: tuple[FieldError, ...] = tuple(errors)
        detail = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(f"invalid {entity}: {detail}")

    def codes(self) -> dict[str, str]:
        """``{field: code}``, handy for forms and tests."""
        return {e.field: e.code for e in self.errors}


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_value(spec: FieldSpec, value: Any) -> Any:
    """Return ``value`` normalised for ``spec`` or raise :class:`ValidationError`."""
    try:
        return _clean(spec, value)
    except _Invalid as exc:
        raise ValidationError("value", [FieldError(spec.name, exc.code, exc.message)]) from None


def clean_values(
    entity: EntitySpec, values: Mapping[str, Any], *, for_create: bool
) -> dict[str, Any]:
    """Check the user-settable ``values`` of an edit and return them normalised.

    For a create, fields not given take their default and the result holds every synced
    field; a missing required field is an error. For an update only the given fields are
    checked and returned. System fields (version, updated_at, ...) and unknown names are
    refused: only the server sets the former.
    """
    errors: list[FieldError] = []
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if not entity.has_field(name):
            known = ", ".join(f.name for f in entity.synced_fields)
            errors.append(
                FieldError(name, "unknown_field", f"{entity.name} has no field {name} ({known})")
            )
            continue
        spec = entity.field(name)
        if not spec.synced:
            errors.append(FieldError(name, "not_editable", f"{name} is set by the server"))
            continue
        try:
            cleaned[name] = _clean(spec, value)
        except _Invalid as exc:
            errors.append(FieldError(name, exc.code, exc.message))
    if for_create:
        for spec in entity.synced_fields:
            if spec.name in values:
                continue
            try:
                cleaned[spec.name] = _clean(spec, _default_of(spec))
            except _Invalid as exc:
                errors.append(FieldError(spec.name, exc.code, exc.message))
    if errors:
        raise ValidationError(entity.name, errors)
    return cleaned


def _default_of(spec: FieldSpec) -> Any:
    if spec.kind is FieldKind.TAGS:
        return list(spec.default or ())
    return spec.default


def _clean(spec: FieldSpec, value: Any) -> Any:
    if isinstance(value, str) and spec.kind not in (FieldKind.LONG_TEXT,):
        value = value.strip()
    if value is None or value == "":
        if spec.kind is FieldKind.BOOLEAN:
            if value is None and spec.default is not None:
                return bool(spec.default)
            raise _Invalid("required", "a yes/no value is required")
        if spec.kind is FieldKind.TAGS:
            return []
        if spec.required:
            raise _Invalid("required", f"{spec.label} is required")
        return None
    cleaner = _CLEANERS[spec.kind]
    return cleaner(spec, value)


def _text(spec: FieldSpec, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _Invalid("invalid_type", f"{spec.label} must be text")
    value: str = unicodedata.normalize("NFC", raw)
    if spec.kind is FieldKind.LONG_TEXT:
        if _CONTROL_RE.search(value):
            raise _Invalid("invalid_characters", f"{spec.label} contains control characters")
        if not value.strip():
            if spec.required:
                raise _Invalid("required", f"{spec.label} is required")
            return ""
    elif _CONTROL_RE.search(value) or _LINE_BREAK_RE.search(value):
        raise _Invalid("invalid_characters", f"{spec.label} must be a single line of text")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise _Invalid("too_long", f"{spec.label} is longer than {spec.max_length} characters")
    return value


def _email(spec: FieldSpec, value: Any) -> str:
    text = _text(spec, value)
    text = unicodedata.normalize("NFKC", text)  # full-width ＠ and letters from an IME
    if not _EMAIL_RE.match(text):
        raise _Invalid("invalid_email", f"{text!r} is not an email address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _phone(spec: FieldSpec, value: Any) -> str:
    text = unicodedata.normalize("NFKC", _text(spec, value))  # full-width digits
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_RE.match(text) or digits < _MIN_PHONE_DIGITS or digits > _MAX_PHONE_DIGITS:
        raise _Invalid(
            "invalid_phone",
            f"{text!r} is not a phone number (digits, spaces, + - ( ), {_MIN_PHONE_DIGITS}"
            f" to {_MAX_PHONE_DIGITS} digits)",
        )
    return text


def _enum(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str) or value not in spec.choices:
        raise _Invalid("invalid_choice", f"{spec.label} must be one of {', '.join(spec.choices)}")
    return str(value)


def _currency(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY_RE.match(value.upper()):
        raise _Invalid("invalid_currency", f"{value!r} is not a three-letter currency code")
    return value.upper()


def _integer(spec: FieldSpec, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("invalid_type", f"{spec.label} must be a whole number")
    _check_range(spec, value)
    return int(value)


def _money(spec: FieldSpec, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        # Floats are refused on purpose: 0.1 + 0.2 is not an amount of money.
        raise _Invalid("invalid_type", f"{spec.label} must be an exact amount")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise _Invalid("invalid_amount", f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise _Invalid("invalid_amount", f"{value!r} is not an amount")
    # Range first: quantizing an absurdly large number would itself overflow.
    _check_range(spec, amount)
    if amount != amount.quantize(Decimal("0.01")):
        raise _Invalid("invalid_amount", f"{spec.label} has more than two decimals")
    return amount.quantize(Decimal("0.01"))


def _check_range(spec: FieldSpec, value: int | Decimal) -> None:
    if spec.min_value is not None and value < spec.min_value:
        raise _Invalid("out_of_range", f"{spec.label} must be at least {spec.min_value}")
    if spec.max_value is not None and value > spec.max_value:
        raise _Invalid("out_of_range", f"{spec.label} must be at most {spec.max_value}")


def _boolean(spec: FieldSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("invalid_type", f"{spec.label} must be true or false")
    return value


def _date(spec: FieldSpec, value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, (date, str)):
        raise _Invalid("invalid_type", f"{spec.label} must be a date")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Invalid("invalid_date", f"{value!r} is not a date (YYYY-MM-DD)") from None
    day: date = value
    return day


def _datetime(spec: FieldSpec, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid("invalid_datetime", f"{value!r} is not a date and time") from None
    if not isinstance(value, datetime):
        raise _Invalid("invalid_type", f"{spec.label} must be a date and time")
    if value.tzinfo is None:
        raise _Invalid("invalid_datetime", f"{spec.label} needs a time zone")
    if not 1900 <= value.year <= 2999:
        raise _Invalid("out_of_range", f"{spec.label} is out of range")
    return value.astimezone(UTC)


def _tags(spec: FieldSpec, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _Invalid("invalid_type", f"{spec.label} must be a list of tags")
    seen: dict[str, None] = {}
    for item in value:
        if not isinstance(item, str):
            raise _Invalid("invalid_type", f"{spec.label} must be a list of tags")
        tag = unicodedata.normalize("NFC", item).strip()
        if not tag:
            continue
        if _CONTROL_RE.search(tag) or _LINE_BREAK_RE.search(tag) or "," in tag:
            raise _Invalid("invalid_characters", f"tag {tag!r} contains a comma or control")
        if spec.max_length is not None and len(tag) > spec.max_length:
            raise _Invalid("too_long", f"tag {tag!r} is longer than {spec.max_length}")
        seen.setdefault(tag, None)
    if spec.max_items is not None and len(seen) > spec.max_items:
        raise _Invalid("too_many", f"at most {spec.max_items} tags")
    return list(seen)


def _record_id(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("invalid_type", f"{spec.label} must be a record id")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise _Invalid("invalid_id", f"{value!r} is not a record id") from None
    return str(parsed)


def _user(spec: FieldSpec, value: Any) -> str:
    return _text(spec, value)


_CLEANERS = {
    FieldKind.ID: _record_id,
    FieldKind.TEXT: _text,
    FieldKind.LONG_TEXT: _text,
    FieldKind.EMAIL: _email,
    FieldKind.PHONE: _phone,
    FieldKind.ENUM: _enum,
    FieldKind.INTEGER: _integer,
    FieldKind.MONEY: _money,
    FieldKind.CURRENCY: _currency,
    FieldKind.BOOLEAN: _boolean,
    FieldKind.DATE: _date,
    FieldKind.DATETIME: _datetime,
    FieldKind.TAGS: _tags,
    FieldKind.REFERENCE: _record_id,
    FieldKind.USER: _user,
}

_TRUE = {"1", "true", "yes", "y", "on", "是", "对"}
_FALSE = {"0", "false", "no", "n", "off", "否", "不"}


def parse_text(spec: FieldSpec, text: str) -> Any:
    """Turn what a person typed (command line, import) into a value for ``spec``.

    Dates and times without a zone are taken in the local time zone. The result still goes
    through :func:`clean_values`.
    """
    text = text.strip()
    if text == "":
        return None
    kind = spec.kind
    try:
        if kind is FieldKind.INTEGER:
            return int(unicodedata.normalize("NFKC", text))
        if kind is FieldKind.MONEY:
            return unicodedata.normalize("NFKC", text).replace(",", "")
        if kind is FieldKind.BOOLEAN:
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(text)
        if kind is FieldKind.DATETIME:
            parsed = datetime.fromisoformat(text)
            return parsed if parsed.tzinfo else parsed.astimezone()
        if kind is FieldKind.TAGS:
            return [t for t in re.split(r"[,，;；]", text) if t.strip()]
    except ValueError:
        raise ValidationError(
            "value", [FieldError(spec.name, "invalid_text", f"{text!r} is not a {kind.value}")]
        ) from None
    return text
