"""Records between database rows and their wire form (``sync.wire`` encoding)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import ColumnElement, String, Table, func

from sync.schema import ENTITIES, EntitySpec, FieldKind
from sync.types import UTCDateTime
from sync.wire import encode_value


@cache
def _field_encoders(entity_name: str) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]:
    """Every field's name, and (name, encoder) for those whose wire form differs from the
    Python value (times, dates, money, tags)."""
    spec = ENTITIES[entity_name]
    special: list[tuple[str, Any]] = []
    for f in spec.fields:
        if f.kind is FieldKind.DATETIME:
            special.append((f.name, _datetime_text))
        elif f.kind in (FieldKind.MONEY, FieldKind.DATE, FieldKind.TAGS):
            special.append((f.name, partial(encode_value, f)))
    return tuple(f.name for f in spec.fields), tuple(special)


def _datetime_text(value: datetime | str) -> str:
    """``sync.wire``'s form of a time (UTC, microseconds, ``Z``). Read by
    :func:`wire_columns`, it is that text already; the database layer hands out UTC
    otherwise, which saves the conversion."""
    if isinstance(value, str):
        return value
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def record_to_wire(entity_name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the record (system fields included), wire-encoded."""
    names, special = _field_encoders(entity_name)
    result = {name: row[name] for name in names}
    for name, encode in special:
        value = result[name]
        if value is not None:
            result[name] = encode(value)
    return result


def field_names(entity: EntitySpec) -> tuple[str, ...]:
    return tuple(f.name for f in entity.fields)


# What a full pull spends most on is turning times into text: 2.7 million of them for the
# issue's 800,000 records, at almost a microsecond each through datetime objects. On
# PostgreSQL the database writes the text itself, in the exact wire form.
_PG_WIRE_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def wire_columns(table: Table, dialect: str) -> list[ColumnElement[Any]]:
    """The table's columns for reading records to send (:func:`record_to_wire` takes the
    rows): on PostgreSQL the time columns as their wire text, the others as they are."""
    return list(_wire_columns(table, dialect))


@cache
def _wire_columns(table: Table, dialect: str) -> tuple[ColumnElement[Any], ...]:
    if dialect != "postgresql":
        return tuple(table.c)
    out: list[ColumnElement[Any]] = []
    for column in table.c:
        if isinstance(column.type, UTCDateTime):
            utc = func.timezone("UTC", column)
            out.append(func.to_char(utc, _PG_WIRE_TIME, type_=String).label(column.name))
        else:
            out.append(column)
    return tuple(out)
