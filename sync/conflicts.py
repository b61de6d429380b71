"""The conflicts inbox: what the user sees and decides (DESIGN §5).

A conflict is per record: the fields that differ with my value, their value and the value
both started from, who changed theirs and when. Resolving it writes, in one replica
transaction, the chosen values into the record, a new outbox mutation based on the
server's version (so the server applies it without a new conflict), and removes the
conflict. Nothing is sent until the next sync.

Kinds:

* ``field`` — both sides changed the same field: choose ``mine`` / ``theirs`` / a typed
  value per field;
* ``deleted`` — I changed it, it was deleted (or taken away) on the server: ``keep``
  (restore it with my values, when the server still has it) or ``delete``;
* ``delete_vs_change`` — I deleted it, it was changed on the server: ``keep`` (take the
  server's record back) or ``delete`` (delete it, having now seen their change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, select, update

from sync import outbox, wire
from sync.engine import decode_record, remove_records
from sync.outbox import FieldChange
from sync.replica import Replica
from sync.replica_models import CONFLICTS_TABLE, OUTBOX_TABLE, TABLE_BY_ENTITY
from sync.schema import CUSTOMER, ENTITIES
from sync.validation import ValidationError, clean_value

_conflicts = CONFLICTS_TABLE

Choice = Literal["mine", "theirs"] | tuple[Literal["value"], Any]


@dataclass(frozen=True)
class FieldConflict:
    field: str
    mine: Any  # wire-encoded
    base: Any
    theirs: Any
    changed_by: str | None
    changed_at: str | None


@dataclass(frozen=True)
class ConflictInfo:
    id: int
    entity: str
    record_id: str
    kind: str
    server_version: int | None
    server_record: Mapping[str, Any] | None
    fields: tuple[FieldConflict, ...]
    created_at: datetime

    @property
    def title(self) -> str:
        record = self.server_record or {}
        return str(record.get("name") or record.get("title") or self.record_id)


class ConflictError(ValueError):
    """The resolution asked for cannot be done (unknown conflict, bad choice, bad value)."""


def _info(row: Any) -> ConflictInfo:
    return ConflictInfo(
        id=row.id,
        entity=row.entity,
        record_id=row.record_id,
        kind=row.kind,
        server_version=row.server_version,
        server_record=wire.loads(row.server_record) if row.server_record else None,
        fields=tuple(FieldConflict(**d) for d in wire.loads(row.fields)),
        created_at=row.created_at,
    )


def list_conflicts(replica: Replica) -> list[ConflictInfo]:
    """Open conflicts, oldest first."""
    with replica.read() as conn:
        return [_info(r) for r in conn.execute(select(_conflicts).order_by(_conflicts.c.id))]


def get_conflict(replica: Replica, conflict_id: int) -> ConflictInfo:
    with replica.read() as conn:
        row = conn.execute(select(_conflicts).where(_conflicts.c.id == conflict_id)).first()
    if row is None:
        raise ConflictError(f"no open conflict {conflict_id}")
    return _info(row)


def resolve_fields(replica: Replica, conflict_id: int, choices: Mapping[str, Choice]) -> str | None:
    """Resolve a ``field`` conflict: a choice for every conflicting field. Returns the new
    mutation id (None when everything was settled on the server's values)."""
    with replica.write() as conn:
        info = _load(conn, conflict_id)
        if info.kind != "field":
            raise ConflictError(f"conflict {conflict_id} is a {info.kind} conflict: keep or delete")
        missing = [f.field for f in info.fields if f.field not in choices]
        if missing:
            raise ConflictError(f"choose a value for {', '.join(missing)}")
        spec = ENTITIES[info.entity]
        chosen: dict[str, Any] = {}
        for f in info.fields:
            choice = choices[f.field]
            if choice == "mine":
                raw = f.mine
            elif choice == "theirs":
                raw = f.theirs
            elif isinstance(choice, tuple) and choice[0] == "value":
                raw = wire.encode_value(spec.field(f.field), _clean(spec.name, f.field, choice[1]))
            else:
                raise ConflictError(f"{f.field}: choose mine, theirs or a value")
            chosen[f.field] = raw
        table = TABLE_BY_ENTITY[spec.name]
        row = conn.execute(select(table).where(table.c.id == info.record_id)).mappings().first()
        if row is None:
            raise ConflictError(f"the {info.entity} is no longer in the replica")
        values = {k: wire.decode_value(spec.field(k), v) for k, v in chosen.items()}
        _write(conn, spec.name, dict(row), values)
        theirs = {f.field: f.theirs for f in info.fields}
        changes = {
            k: FieldChange(new=v, base=theirs[k]) for k, v in chosen.items() if v != theirs[k]
        }
        mutation_id = None
        if changes:
            mutation_id = outbox.append(
                conn,
                client_id=replica.client_id,
                entity=spec.name,
                record_id=info.record_id,
                op="update",
                base_version=info.server_version or row["version"],
                fields=changes,
            )
        conn.execute(delete(_conflicts).where(_conflicts.c.id == conflict_id))
        return mutation_id


def resolve_keep(replica: Replica, conflict_id: int) -> str | None:
    """``deleted``: restore the record with my values; ``delete_vs_change``: take the
    server's record back. Returns the new mutation id, if one was queued."""
    with replica.write() as conn:
        info = _load(conn, conflict_id)
        spec = ENTITIES[info.entity]
        table = TABLE_BY_ENTITY[spec.name]
        row = conn.execute(select(table).where(table.c.id == info.record_id)).mappings().first()
        mutation_id = None
        if info.kind == "delete_vs_change":
            if info.server_record is None:
                raise ConflictError("the server's record is unknown: sync first")
            server = decode_record(spec, info.server_record)
            values = {k: v for k, v in server.items() if k != "id"}
            values["base"] = None
            if row is None:
                raise ConflictError(f"the {info.entity} is no longer in the replica")
            _write(conn, spec.name, dict(row), values)
            # My delete is withdrawn: drop it if it is still queued.
            outbox_rows = outbox.list_mutations(conn, record_id=info.record_id)
            for m in outbox_rows:
                if m.op == "delete":
                    conn.execute(delete(OUTBOX_TABLE).where(OUTBOX_TABLE.c.seq == m.seq))
        elif info.kind == "deleted":
            if info.server_record is None:
                raise ConflictError(
                    "the record was taken away from you on the server (reassigned): it can "
                    "only be discarded here"
                )
            if row is None:
                raise ConflictError(f"the {info.entity} is no longer in the replica")
            mine = {f.name: wire.encode_value(f, row[f.name]) for f in spec.synced_fields}
            mutation_id = outbox.append(
                conn,
                client_id=replica.client_id,
                entity=spec.name,
                record_id=info.record_id,
                op="create",  # on top of the tombstone's version: a restore
                base_version=info.server_version or 0,
                fields={k: FieldChange(new=v, base=None) for k, v in mine.items()},
            )
        else:
            raise ConflictError(f"conflict {conflict_id} is a field conflict: choose per field")
        conn.execute(delete(_conflicts).where(_conflicts.c.id == conflict_id))
        return mutation_id


def resolve_delete(replica: Replica, conflict_id: int) -> str | None:
    """``deleted``: let the server's delete stand (the record leaves the replica);
    ``delete_vs_change``: delete it anyway, now that I have seen their change."""
    with replica.write() as conn:
        info = _load(conn, conflict_id)
        spec = ENTITIES[info.entity]
        mutation_id = None
        if info.kind == "deleted":
            remove_records(conn, spec.name, [info.record_id], cascade=True)
        elif info.kind == "delete_vs_change":
            mutation_id = outbox.append(
                conn,
                client_id=replica.client_id,
                entity=spec.name,
                record_id=info.record_id,
                op="delete",
                base_version=info.server_version or 0,
                fields={},
            )
        else:
            raise ConflictError(f"conflict {conflict_id} is a field conflict: choose per field")
        conn.execute(delete(_conflicts).where(_conflicts.c.id == conflict_id))
        return mutation_id


def _load(conn: Connection, conflict_id: int) -> ConflictInfo:
    row = conn.execute(select(_conflicts).where(_conflicts.c.id == conflict_id)).first()
    if row is None:
        raise ConflictError(f"no open conflict {conflict_id}")
    return _info(row)


def _clean(entity: str, name: str, value: Any) -> Any:
    spec = ENTITIES[entity].field(name)
    try:
        return clean_value(spec, value)
    except ValidationError as exc:
        raise ConflictError(str(exc)) from None


def _write(conn: Connection, entity: str, row: dict[str, Any], values: dict[str, Any]) -> None:
    from sync import search

    table = TABLE_BY_ENTITY[entity]
    if ENTITIES[entity] is CUSTOMER:
        derived = search.customer_search_columns({**row, **values})
        values = {**values, **derived}
        if derived["search_text"] != row["search_text"]:
            search.unindex_rows(conn, [(row["row_id"], row["search_text"])])
            search.index_row(conn, row["row_id"], derived["search_text"])
    conn.execute(update(table).where(table.c.id == row["id"]).values(values))
