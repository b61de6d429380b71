"""The wire encoding of field values, shared by the outbox, the replica's base and HTTP.

Values travel as JSON: money as a decimal string (``"1234.50"``), dates as ISO text,
times as ISO text in UTC ending in ``Z``. The encoding is lossless, so a value that went
through the outbox and the server comes back equal to what the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    create_model,
)

from sync.schema import ENTITIES, EntitySpec, FieldKind, FieldSpec
from sync.validation import clean_value


class WireError(ValueError):
    """A value or document from the other side does not have the expected form."""


def encode_value(spec: FieldSpec, value: Any) -> Any:
    """A Python field value as JSON-ready data."""
    if value is None:
        return None
    kind = spec.kind
    if kind is FieldKind.MONEY:
        return f"{Decimal(value):.2f}"
    if kind is FieldKind.DATETIME:
        return _encode_datetime(value)
    if kind is FieldKind.DATE:
        return value.isoformat()
    if kind is FieldKind.TAGS:
        return list(value)
    return value


def _encode_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def decode_value(spec: FieldSpec, raw: Any) -> Any:
    """JSON data back to the Python value; :class:`WireError` if it has the wrong form."""
    if raw is None:
        return None
    kind = spec.kind
    try:
        if kind is FieldKind.MONEY:
            if not isinstance(raw, str) or not _MONEY_RE.match(raw):
                raise WireError(
                    f"{spec.name}: money travels as a decimal string with at most two decimals"
                )
            return Decimal(raw).quantize(Decimal("0.01"))
        if kind is FieldKind.DATETIME:
            if not isinstance(raw, str):
                raise WireError(f"{spec.name}: expected an ISO date-time string")
            parsed = datetime.fromisoformat(raw)
            if parsed.tzinfo is None:
                raise WireError(f"{spec.name}: date-time without a time zone")
            return parsed.astimezone(UTC)
        if kind is FieldKind.DATE:
            if not isinstance(raw, str):
                raise WireError(f"{spec.name}: expected an ISO date string")
            return date.fromisoformat(raw)
    except (ValueError, ArithmeticError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"{spec.name}: {raw!r} is not a valid {kind.value}") from None
    if kind is FieldKind.BOOLEAN and not isinstance(raw, bool):
        raise WireError(f"{spec.name}: expected true or false")
    if kind is FieldKind.INTEGER and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise WireError(f"{spec.name}: expected an integer")
    if kind is FieldKind.TAGS and not (
        isinstance(raw, list) and all(isinstance(t, str) for t in raw)
    ):
        raise WireError(f"{spec.name}: expected a list of strings")
    if kind in _STRING_KINDS and not isinstance(raw, str):
        raise WireError(f"{spec.name}: expected a string")
    return raw


_MONEY_PATTERN = r"^-?\d{1,13}(\.\d{1,2})?$"
_MONEY_RE = re.compile(_MONEY_PATTERN)

_STRING_KINDS = frozenset(
    {
        FieldKind.ID,
        FieldKind.TEXT,
        FieldKind.LONG_TEXT,
        FieldKind.EMAIL,
        FieldKind.PHONE,
        FieldKind.ENUM,
        FieldKind.CURRENCY,
        FieldKind.REFERENCE,
        FieldKind.USER,
    }
)


def encode_values(entity: EntitySpec, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: encode_value(entity.field(name), v) for name, v in values.items()}


def decode_values(entity: EntitySpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    return {name: decode_value(entity.field(name), v) for name, v in raw.items()}


def dumps(data: Any) -> str:
    """Compact JSON text (orjson: several times faster than the standard library here)."""
    return orjson.dumps(data).decode()


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {exc}") from None


def _annotation(spec: FieldSpec) -> Any:
    """The pydantic type of one field on the wire, checked by the shared rules.

    Each field is declared as what travels (money, dates and times as strings; strict
    integers and booleans, no coercion from text), then decoded and checked with the same
    rules as the replica and the server apply; the model holds wire-encoded values.
    """
    base: Any
    kind = spec.kind
    if kind is FieldKind.ENUM:
        base = Literal[spec.choices]
    elif kind is FieldKind.INTEGER:
        base = StrictInt
    elif kind is FieldKind.MONEY:
        base = Annotated[str, Field(pattern=_MONEY_PATTERN)]
    elif kind is FieldKind.BOOLEAN:
        base = StrictBool
    elif kind is FieldKind.DATE:
        base = Annotated[str, Field(json_schema_extra={"format": "date"})]
    elif kind is FieldKind.DATETIME:
        base = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    elif kind is FieldKind.TAGS:
        base = list[str]
    else:
        base = Annotated[str, Field(max_length=spec.max_length)] if spec.max_length else str

    def check(value: Any) -> Any:
        if value is None:
            return None
        try:
            decoded = decode_value(spec, value)
        except WireError as exc:
            raise ValueError(str(exc)) from None
        return encode_value(spec, clean_value(spec, decoded))

    return Annotated[base | None, AfterValidator(check)]


@cache
def record_model(entity_name: str, *, partial: bool = False) -> type[BaseModel]:
    """A pydantic model of an entity's synced fields, for HTTP bodies and OpenAPI.

    ``partial=True`` gives the model of an update: every field optional.
    """
    spec = ENTITIES[entity_name]
    fields: dict[str, Any] = {}
    for f in spec.synced_fields:
        required = f.required and not partial and f.default is None
        fields[f.name] = (_annotation(f), ... if required else None)
    model_name = "".join(p.title() for p in entity_name.split("_")) + (
        "Changes" if partial else "Values"
    )
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
