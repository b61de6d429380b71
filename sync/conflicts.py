"""The conflicts inbox and failed edits: what the user sees and decides (DESIGN §5).

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
  server's record back — for a customer, with the children its delete took along) or
  ``delete`` (delete it, having now seen their change).

A **failed** edit (one the server refused: no permission, a value it does not accept) stays
in the outbox and holds back the later edits of its record. :func:`discard_failed` drops it
and puts the record back as the server has it; :func:`retry_failed` sends it again, for
refusals that may not last (a permission granted since, an owner account enabled again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, select, update

from sync import outbox, wire
from sync.engine import CHILD_ENTITIES, cascade_deletes, decode_record, remove_records
from sync.outbox import FieldChange, Mutation
from sync.replica import Replica
from sync.replica_models import CONFLICTS_TABLE, OUTBOX_TABLE, TABLE_BY_ENTITY
from sync.schema import CUSTOMER, ENTITIES, EntitySpec
from sync.validation import ValidationError, clean_value

_conflicts = CONFLICTS_TABLE
_outbox = OUTBOX_TABLE

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
                if m.op == "delete" and m.entity == spec.name:
                    conn.execute(delete(_outbox).where(_outbox.c.seq == m.seq))
            if spec is CUSTOMER:
                # The children its delete took along come back too: the cascade's child
                # deletes were held back (the server still has the children) and dropped
                # when the conflict came; the children waited as hidden tombstones.
                for name in CHILD_ENTITIES:
                    _restore_tombstoned_children(conn, name, info.record_id)
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


def _restore_tombstoned_children(conn: Connection, entity: str, customer_id: str) -> set[str]:
    """Bring back the customer's children that are deleted here without a queued delete
    (those of a withdrawn cascade): as the server has them. Returns their ids."""
    table = TABLE_BY_ENTITY[entity]
    queued_deletes = select(_outbox.c.record_id).where(
        _outbox.c.entity == entity, _outbox.c.op == "delete"
    )
    rows = (
        conn.execute(
            select(table).where(
                table.c.customer_id == customer_id,
                table.c.deleted.is_(True),
                table.c.id.not_in(queued_deletes),
            )
        )
        .mappings()
        .all()
    )
    for row in rows:
        conn.execute(update(table).where(table.c.id == row["id"]).values(deleted=False))
        _settle(conn, ENTITIES[entity], row["id"])
    return {row["id"] for row in rows}


def _settle(conn: Connection, spec: EntitySpec, record_id: str) -> None:
    """A record left with no queued edit and no open conflict *is* the server's version:
    its fields take the base values (the server's, as last seen) and the base goes."""
    if outbox.records_with_mutations(conn, spec.name, [record_id]):
        return
    if conn.execute(
        select(_conflicts.c.id).where(
            _conflicts.c.entity == spec.name, _conflicts.c.record_id == record_id
        )
    ).first():
        return
    table = TABLE_BY_ENTITY[spec.name]
    row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
    if row is None or row["base"] is None:
        return
    base = wire.loads(row["base"])
    values: dict[str, Any] = {
        f.name: wire.decode_value(f, base[f.name]) for f in spec.synced_fields if f.name in base
    }
    values["base"] = None
    _write(conn, spec.name, dict(row), values)


# --- failed edits ---------------------------------------------------------------------------

# Refusals that sending the same edit again cannot change: the edit itself is wrong.
PERMANENT_REFUSALS = frozenset(
    {"invalid", "invalid_id", "invalid_op", "unknown_entity", "duplicate_id"}
)


class FailedEditError(ValueError):
    """No such failed edit, or it cannot be sent again."""


@dataclass(frozen=True)
class DiscardResult:
    """What :func:`discard_failed` changed (for the app to announce and refresh)."""

    mutation_id: str  # the failed edit
    entity: str
    record_id: str
    op: str
    # Mutation ids taken out of the outbox: the failed edit first, then those that went
    # with it (the rest of a failed create, the child deletes of a failed customer delete,
    # a later edit that only undid the failed one).
    discarded: tuple[str, ...]
    # Later edits of the record that stay queued (now based on the server's values).
    kept: tuple[str, ...]
    # entity -> ids of records whose replica row changed (values, restored or removed).
    changed: Mapping[str, frozenset[str]]
    # entity -> ids of records that left the replica (a failed create and its children).
    removed: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class RetryResult:
    """What :func:`retry_failed` did: the edit is pending again under a new mutation id."""

    old_mutation_id: str
    mutation_id: str
    entity: str
    record_id: str


def list_failed(replica: Replica) -> list[Mutation]:
    """Failed edits, in queue order."""
    with replica.read() as conn:
        return outbox.list_mutations(conn, status="failed")


def _load_failed(conn: Connection, key: int | str) -> Mutation:
    found = outbox.find(conn, key)
    if found is None:
        raise FailedEditError(f"no queued edit {key}")
    if found.status != "failed":
        raise FailedEditError(
            f"edit {key} has not failed (it is {found.status}): only failed edits are "
            "discarded or retried"
        )
    return found


def discard_failed(replica: Replica, key: int | str) -> DiscardResult:
    """Drop a failed edit (outbox seq ``key``, or mutation id) and put its record back as
    the server has it, in one transaction.

    * an update: its fields take the server's values again (the base), except fields a
      later queued edit changes too: those keep the later value, and that edit is now
      based on the server's value (so the server applies it, or shows a real conflict);
      later edits of other fields are kept as they are. A later edit that only undid the
      failed one goes with it.
    * a delete: the record is back; for a customer, so are the children its delete took
      along (their deletes, queued with it, go too).
    * a create (a new record, or the restore of a deleted one): the server does not have
      the record, so it leaves the replica with every queued edit of it; a customer takes
      its children along (they exist only here), with their queued edits.

    Later edits of the record are never dropped silently: kept, or listed in
    :attr:`DiscardResult.discarded`. Raises :class:`FailedEditError`."""
    with replica.write() as conn:
        failed = _load_failed(conn, key)
        spec = ENTITIES[failed.entity]
        discarded = [failed.mutation_id]
        changed: dict[str, set[str]] = {}
        removed: dict[str, set[str]] = {}
        if failed.op == "create":
            _discard_create(conn, failed, discarded, changed, removed)
            kept: list[str] = []
        else:
            conn.execute(delete(_outbox).where(_outbox.c.seq == failed.seq))
            if failed.op == "delete":
                _discard_delete(conn, spec, failed, discarded, changed)
            else:
                _discard_update(conn, spec, failed, discarded)
            changed.setdefault(spec.name, set()).add(failed.record_id)
            _settle(conn, spec, failed.record_id)
            kept = [
                m.mutation_id
                for m in outbox.list_mutations(conn, record_id=failed.record_id)
                if m.entity == spec.name
            ]
        return DiscardResult(
            mutation_id=failed.mutation_id,
            entity=failed.entity,
            record_id=failed.record_id,
            op=failed.op,
            discarded=tuple(discarded),
            kept=tuple(kept),
            changed={k: frozenset(v) for k, v in changed.items()},
            removed={k: frozenset(v) for k, v in removed.items()},
        )


def _discard_create(
    conn: Connection,
    failed: Mutation,
    discarded: list[str],
    changed: dict[str, set[str]],
    removed: dict[str, set[str]],
) -> None:
    gone: dict[str, list[str]] = {failed.entity: [failed.record_id]}
    if failed.entity == CUSTOMER.name:
        for name in CHILD_ENTITIES:
            table = TABLE_BY_ENTITY[name]
            gone[name] = list(
                conn.execute(
                    select(table.c.id).where(table.c.customer_id == failed.record_id)
                ).scalars()
            )
    for name, ids in gone.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            queued = conn.execute(
                select(_outbox.c.mutation_id)
                .where(_outbox.c.entity == name, _outbox.c.record_id.in_(chunk))
                .order_by(_outbox.c.seq)
            ).scalars()
            discarded.extend(m for m in queued if m != failed.mutation_id)
            conn.execute(
                delete(_outbox).where(_outbox.c.entity == name, _outbox.c.record_id.in_(chunk))
            )
            conn.execute(
                delete(_conflicts).where(
                    _conflicts.c.entity == name, _conflicts.c.record_id.in_(chunk)
                )
            )
    for name in (*CHILD_ENTITIES, CUSTOMER.name):
        ids = gone.get(name, [])
        if not ids:
            continue
        table = TABLE_BY_ENTITY[name]
        present = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())
        remove_records(conn, name, ids)
        if present:
            removed.setdefault(name, set()).update(present)
            changed.setdefault(name, set()).update(present)


def _discard_delete(
    conn: Connection,
    spec: EntitySpec,
    failed: Mutation,
    discarded: list[str],
    changed: dict[str, set[str]],
) -> None:
    table = TABLE_BY_ENTITY[spec.name]
    conn.execute(update(table).where(table.c.id == failed.record_id).values(deleted=False))
    if spec is not CUSTOMER:
        return
    # The child deletes queued with it were held back behind it: they go with it.
    for child in cascade_deletes(conn, failed):
        conn.execute(delete(_outbox).where(_outbox.c.seq == child.seq))
        discarded.append(child.mutation_id)
        child_table = TABLE_BY_ENTITY[child.entity]
        conn.execute(
            update(child_table).where(child_table.c.id == child.record_id).values(deleted=False)
        )
        _settle(conn, ENTITIES[child.entity], child.record_id)
        changed.setdefault(child.entity, set()).add(child.record_id)


def _discard_update(
    conn: Connection, spec: EntitySpec, failed: Mutation, discarded: list[str]
) -> None:
    table = TABLE_BY_ENTITY[spec.name]
    later = [
        m
        for m in outbox.list_mutations(conn, record_id=failed.record_id)
        if m.entity == spec.name and m.seq > failed.seq
    ]
    # The first later edit of each of the failed edit's fields was made on top of the
    # failed value: it is now made on top of what the server had.
    rebased: dict[int, dict[str, FieldChange]] = {}
    for name, change in failed.fields.items():
        for m in later:
            if m.op != "update" or name not in m.fields:
                continue
            fields = rebased.setdefault(m.seq, dict(m.fields))
            if fields[name].new == change.base:
                del fields[name]  # it only undid the failed edit
            else:
                fields[name] = FieldChange(fields[name].new, change.base)
            break
    for m in later:
        if m.seq not in rebased:
            continue
        if rebased[m.seq]:
            outbox.rewrite_fields(conn, m.seq, rebased[m.seq])
        else:
            conn.execute(delete(_outbox).where(_outbox.c.seq == m.seq))
            discarded.append(m.mutation_id)
    # Fields no queued edit or open conflict holds take the server's value again.
    row = conn.execute(select(table).where(table.c.id == failed.record_id)).mappings().first()
    if row is None:
        return
    held: set[str] = set()
    for m in outbox.list_mutations(conn, record_id=failed.record_id):
        if m.entity == spec.name:
            held.update(m.fields)
    raw = conn.execute(
        select(_conflicts.c.fields).where(
            _conflicts.c.entity == spec.name, _conflicts.c.record_id == failed.record_id
        )
    ).scalar()
    if raw:
        held.update(d["field"] for d in wire.loads(raw))
    server = wire.loads(row["base"]) if row["base"] else {}
    values: dict[str, Any] = {}
    for name, change in failed.fields.items():
        if name in held or not spec.has_field(name):
            continue
        value = server.get(name, change.base)
        values[name] = wire.decode_value(spec.field(name), value)
    if values:
        _write(conn, spec.name, dict(row), values)


def retry_failed(replica: Replica, key: int | str) -> RetryResult:
    """Queue a failed edit again, in its place, under a new mutation id (the server keeps
    its answer to the old one). For refusals that may not last — ``forbidden`` (a
    permission granted since), ``invalid_owner`` (the account enabled again),
    ``parent_missing`` / ``parent_deleted`` / ``not_found``; an edit the server refused as
    wrong in itself (:data:`PERMANENT_REFUSALS`) would only fail again: discard it
    instead. Raises :class:`FailedEditError`."""
    with replica.write() as conn:
        failed = _load_failed(conn, key)
        code = outbox.error_code(failed)
        if code in PERMANENT_REFUSALS:
            raise FailedEditError(
                f"the server refused edit {failed.seq} as {code}: it would refuse it again; "
                "discard it instead"
            )
        new_id = outbox.next_mutation_id(conn, replica.client_id)
        conn.execute(
            update(_outbox)
            .where(_outbox.c.seq == failed.seq)
            .values(mutation_id=new_id, status="pending", attempts=0, last_error=None)
        )
        return RetryResult(failed.mutation_id, new_id, failed.entity, failed.record_id)
