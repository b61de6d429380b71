"""Records between database rows and their wire form (``sync.wire`` encoding)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sync.schema import ENTITIES, EntitySpec, FieldKind
from sync.wire import encode_value


@cache
def _field_encoders(entity_name: str) -> tuple[tuple[str, Any], ...]:
    """(name, encoder or None) for every field of the entity; None means "as is"."""
    spec = ENTITIES[entity_name]
    out: list[tuple[str, Any]] = []
    for f in spec.fields:
        if f.kind in (FieldKind.MONEY, FieldKind.DATETIME, FieldKind.DATE, FieldKind.TAGS):
            out.append((f.name, f))
        else:
            out.append((f.name, None))
    return tuple(out)


def record_to_wire(entity_name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the record (system fields included), wire-encoded."""
    result: dict[str, Any] = {}
    for name, spec in _field_encoders(entity_name):
        value = row[name]
        result[name] = value if spec is None or value is None else encode_value(spec, value)
    return result


def field_names(entity: EntitySpec) -> tuple[str, ...]:
    return tuple(f.name for f in entity.fields)
