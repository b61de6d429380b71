"""What the conflicts page and dialog show, read without Qt (a view model over
``sync.conflicts``).

A conflict row names the record the way a person knows it (a customer's name; a contact's
name with its customer's), lists the fields in conflict, who changed them on the other side
and when. Values travel wire-encoded in the conflict; :func:`decode_field` turns them back
into the repository's Python values for display and editing, and a value this version
cannot read is shown as it came rather than hiding the conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync import wire
from sync.conflicts import ConflictInfo, list_conflicts
from sync.replica import Replica
from sync.schema import CUSTOMER, ENTITIES, FieldKind

# How much of a follow-up's content names it in a list.
_TITLE_CHARS = 40
MERGE_SEPARATOR = "---"


@dataclass(frozen=True)
class ConflictSummary:
    """One row of the conflicts list."""

    id: int
    entity: str
    record_id: str
    kind: str  # field / deleted / delete_vs_change
    name: str  # the record as a person knows it
    customer_id: str | None  # the customer the record is or belongs to
    customer_name: str | None  # for contacts, follow-ups and deals: their customer's name
    fields: tuple[str, ...]  # the fields in conflict (the changed ones, for deletes)
    changed_by: tuple[str, ...]  # users who made the other side's change
    changed_at: datetime | None  # when the latest of those changes was made (aware UTC)
    created_at: datetime  # when the conflict came in


def decode_field(entity: str, field: str, raw: Any) -> Any:
    """A wire-encoded value of a conflict as the repository's Python value; a value that
    does not decode (a newer server's form) is returned as it came."""
    spec = ENTITIES[entity]
    if not spec.has_field(field):
        return raw
    try:
        return wire.decode_value(spec.field(field), raw)
    except wire.WireError:
        return raw


def parse_time(raw: Any) -> datetime | None:
    """A wire time (``changed_at``, ``updated_at``) as an aware UTC datetime, or None."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_long_text(entity: str, field: str) -> bool:
    """Whether the field holds several lines (notes, content): merged in a text editor."""
    spec = ENTITIES[entity]
    return spec.has_field(field) and spec.field(field).kind is FieldKind.LONG_TEXT


def merged_text(mine: str | None, theirs: str | None) -> str:
    """Both versions of a long text, one after the other, for the user to merge by hand."""
    parts = [p.strip("\n") for p in (mine, theirs) if p]
    if len(parts) == 2 and parts[0] == parts[1]:
        return parts[0]
    return f"\n{MERGE_SEPARATOR}\n".join(parts)


def record_title(entity: str, values: Mapping[str, Any]) -> str:
    """How a record is named in lists: a name, a deal's title, a follow-up's first line."""
    if entity == "follow_up":
        content = str(values.get("content") or "").strip()
        first = content.splitlines()[0] if content else ""
        return first if len(first) <= _TITLE_CHARS else first[: _TITLE_CHARS - 1] + "…"
    return str(values.get("name") or values.get("title") or "")


def local_values(replica: Replica, info: ConflictInfo) -> dict[str, Any] | None:
    """The record as this replica holds it (my side; a deleted one too), or None."""
    record = replica.repository(info.entity).get(info.record_id, include_deleted=True)
    return dict(record.values) if record is not None else None


def server_values(info: ConflictInfo) -> dict[str, Any]:
    """The server's record of the conflict, decoded field by field (empty when unknown)."""
    raw = info.server_record or {}
    return {k: decode_field(info.entity, k, v) for k, v in raw.items()}


def other_side(info: ConflictInfo) -> tuple[tuple[str, ...], datetime | None]:
    """Who made the other side's change(s) and when the latest was made. Falls back to the
    server record's ``updated_by`` / ``updated_at`` when the fields do not say."""
    users: list[str] = []
    latest: datetime | None = None
    for f in info.fields:
        if f.changed_by and f.changed_by not in users:
            users.append(f.changed_by)
        at = parse_time(f.changed_at)
        if at is not None and (latest is None or at > latest):
            latest = at
    record = info.server_record or {}
    if not users and record.get("updated_by"):
        users.append(str(record["updated_by"]))
    if latest is None:
        latest = parse_time(record.get("updated_at"))
    return tuple(users), latest


def summarize(replica: Replica, info: ConflictInfo) -> ConflictSummary:
    """The list row of one conflict (one or two indexed reads)."""
    mine = local_values(replica, info) or {}
    theirs = info.server_record or {}
    name = record_title(info.entity, mine) or record_title(info.entity, theirs) or info.record_id
    customer_id: str | None
    customer_name: str | None = None
    if ENTITIES[info.entity] is CUSTOMER:
        customer_id = info.record_id
    else:
        customer_id = mine.get("customer_id") or theirs.get("customer_id")
        if customer_id:
            customer = replica.customers.get(str(customer_id), include_deleted=True)
            if customer is not None:
                customer_name = record_title(CUSTOMER.name, customer.values)
    users, latest = other_side(info)
    return ConflictSummary(
        id=info.id,
        entity=info.entity,
        record_id=info.record_id,
        kind=info.kind,
        name=name,
        customer_id=str(customer_id) if customer_id else None,
        customer_name=customer_name,
        fields=tuple(f.field for f in info.fields),
        changed_by=users,
        changed_at=latest,
        created_at=info.created_at,
    )


def conflict_summaries(replica: Replica) -> list[ConflictSummary]:
    """Every open conflict as a list row, oldest first. Conflicts are few (each is a
    decision waiting for the user), so the whole list is read at once."""
    return [summarize(replica, info) for info in list_conflicts(replica)]


def find_conflict(replica: Replica, entity: str, record_id: str) -> ConflictInfo | None:
    """The open conflict of one record, if it has one."""
    for info in list_conflicts(replica):
        if info.entity == entity and info.record_id == record_id:
            return info
    return None
