"""Applying a client's batch of mutations: ``POST /api/v1/sync/push``.

One batch is one database transaction:

1. Each mutation id is claimed in ``pushed_mutations`` (insert, do nothing on conflict).
   Ids already there were decided before — by an earlier push, or by a concurrent copy of
   this one, whose commit the insert waits for — and get their stored result again.
2. The records the new mutations touch are locked (customers first, then children, each
   in id order, so concurrent batches do not deadlock) and loaded.
3. Each mutation is checked and applied to an in-memory copy. A mutation that fails its
   checks changes nothing and gets ``rejected``; the others go on.
4. Audit entries and each mutation's result are written; then change numbers are taken
   (see ``server.feed``), records and revocations written, and the transaction commits.
   Taking the numbers last keeps the feed counter locked only for those last writes.

Field-level rule for an update: a field applies when the server's value still equals the
mutation's base value (or already equals the new value); otherwise it conflicts. Fields
without conflict are applied even when others conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from server.accounts import Account
from server.feed import take_change_numbers
from server.models import (
    CHILD_ENTITIES,
    TABLE_BY_ENTITY,
    AuditEntry,
    PushedMutation,
    Revocation,
    User,
    table_of,
)
from server.permissions import can_see_owner, may_assign
from server.records import record_to_wire
from sync.schema import ENTITIES, EntitySpec
from sync.validation import ValidationError, clean_values
from sync.wire import WireError, decode_value, encode_value

log = logging.getLogger(__name__)

_pushed = table_of(PushedMutation)
_audit = table_of(AuditEntry)
_revocations = table_of(Revocation)
_users = table_of(User)
_customers = TABLE_BY_ENTITY["customer"]

OPS = ("create", "update", "delete")
BLOCKED = "blocked"  # rejected only because an earlier edit of the record was
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class MutationIn:
    """A mutation as the client sent it (field values wire-encoded)."""

    mutation_id: str
    entity: str
    record_id: str
    op: str
    base_version: int
    fields: Mapping[str, tuple[Any, Any]]  # name -> (new, base)


class _Rejected(Exception):
    def __init__(self, code: str, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


@dataclass
class _Record:
    """One record's state inside the batch."""

    entity: str
    values: dict[str, Any]
    exists_in_db: bool
    dirty: bool = False


@dataclass
class _Batch:
    conn: Connection
    account: Account
    client_id: str
    moment: datetime
    records: dict[tuple[str, str], _Record | None] = field(default_factory=dict)
    teams: dict[str, str | None] = field(default_factory=dict)
    # Feed order of this batch's changes: (entity, id) of records, or a revocation dict.
    events: list[tuple[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def push(
    conn: Connection, account: Account, client_id: str, mutations: Sequence[MutationIn]
) -> list[dict[str, Any]]:
    """Decide every mutation of the batch; return one result per mutation, in order."""
    batch = _Batch(conn, account, client_id, datetime.now(UTC))
    results: dict[str, dict[str, Any]] = {}
    fresh = _claim(batch, mutations, results)
    if fresh:
        _lock_and_load(batch, fresh)
        refused: set[tuple[str, str]] = set()
        for mutation in fresh:
            key = (mutation.entity, mutation.record_id.lower())
            if key in refused:
                # The client holds later edits of a record back until an earlier, rejected
                # one is dealt with; in one batch the server does it for the client. Not
                # decided, so not remembered: the same id may come again later.
                results[mutation.mutation_id] = _rejected_result(
                    mutation.mutation_id,
                    BLOCKED,
                    "an earlier edit of this record in the batch was rejected",
                )
                continue
            try:
                results[mutation.mutation_id] = _apply(batch, mutation)
            except _Rejected as exc:
                refused.add(key)
                result: dict[str, Any] = {
                    "mutation_id": mutation.mutation_id,
                    "status": "rejected",
                    "code": exc.code,
                    "message": exc.message,
                }
                if exc.fields:
                    result["fields"] = exc.fields
                results[mutation.mutation_id] = result
        _write(batch, fresh, results)
    return [results[m.mutation_id] for m in mutations]


# --- 1. idempotency -------------------------------------------------------------------


def _claim(
    batch: _Batch, mutations: Sequence[MutationIn], results: dict[str, dict[str, Any]]
) -> list[MutationIn]:
    """Claim the batch's mutation ids; fill ``results`` for those decided before."""
    unique: dict[str, MutationIn] = {}
    for m in mutations:
        unique.setdefault(m.mutation_id, m)  # a repeated id inside one batch counts once
    if not unique:
        return []
    conn = batch.conn
    rows = [
        {
            "client_id": batch.client_id,
            "mutation_id": mid,
            "username": batch.account.username,
            "received_at": batch.moment,
            "result": None,
        }
        for mid in unique
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(_pushed)
        .on_conflict_do_nothing(index_elements=["client_id", "mutation_id"])
        .returning(_pushed.c.mutation_id)
    )
    claimed = set(conn.execute(stmt, rows).scalars())
    seen = [mid for mid in unique if mid not in claimed]
    if seen:
        stored = conn.execute(
            select(_pushed.c.mutation_id, _pushed.c.username, _pushed.c.result).where(
                _pushed.c.client_id == batch.client_id, _pushed.c.mutation_id.in_(seen)
            )
        )
        for mid, username, result in stored:
            if username != batch.account.username or result is None:
                results[mid] = _rejected_result(
                    mid, "forbidden", "this mutation id belongs to another user"
                )
            else:
                results[mid] = result
    return [m for mid, m in unique.items() if mid in claimed]


def _rejected_result(mutation_id: str, code: str, message: str) -> dict[str, Any]:
    return {"mutation_id": mutation_id, "status": "rejected", "code": code, "message": message}


# --- 2. locking and loading -----------------------------------------------------------


def _lock_and_load(batch: _Batch, mutations: Sequence[MutationIn]) -> None:
    conn = batch.conn
    wanted: dict[str, set[str]] = {name: set() for name in ENTITIES}
    for m in mutations:
        if m.entity in ENTITIES and _is_uuid(m.record_id):
            wanted[m.entity].add(m.record_id.lower())
        if m.entity in CHILD_ENTITIES and "customer_id" in m.fields:
            new = m.fields["customer_id"][0]
            if isinstance(new, str) and _is_uuid(new):
                wanted["customer"].add(new.lower())
    # Children's current customers, read before locking so customers are locked first.
    for name in CHILD_ENTITIES:
        if wanted[name]:
            t = TABLE_BY_ENTITY[name]
            wanted["customer"].update(
                conn.execute(select(t.c.customer_id).where(t.c.id.in_(wanted[name]))).scalars()
            )
    for name in ("customer", *CHILD_ENTITIES):
        _load(batch, name, wanted[name])


def _load(batch: _Batch, entity: str, ids: set[str]) -> None:
    ids = {i for i in ids if (entity, i) not in batch.records}
    if not ids:
        return
    t = TABLE_BY_ENTITY[entity]
    stmt = select(t).where(t.c.id.in_(sorted(ids))).order_by(t.c.id).with_for_update()
    for row in batch.conn.execute(stmt).mappings():
        batch.records[(entity, row["id"])] = _Record(entity, dict(row), exists_in_db=True)
    for i in ids:
        batch.records.setdefault((entity, i), None)


def _get(batch: _Batch, entity: str, record_id: str) -> _Record | None:
    key = (entity, record_id)
    if key not in batch.records:
        _load(batch, entity, {record_id})
    return batch.records[key]


def _team(batch: _Batch, username: str | None) -> str | None:
    if username is None:
        return None
    if username not in batch.teams:
        batch.teams[username] = batch.conn.execute(
            select(_users.c.team).where(_users.c.username == username)
        ).scalar()
    return batch.teams[username]


def _user_exists(batch: _Batch, username: str) -> bool:
    row = batch.conn.execute(select(_users.c.disabled).where(_users.c.username == username)).first()
    return row is not None and not row[0]


# --- 3. deciding one mutation ---------------------------------------------------------


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return len(value) == 36


def _apply(batch: _Batch, m: MutationIn) -> dict[str, Any]:
    if m.entity not in ENTITIES:
        raise _Rejected("unknown_entity", f"unknown entity {m.entity!r}")
    if m.op not in OPS:
        raise _Rejected("invalid_op", f"op must be one of {', '.join(OPS)}")
    if not _is_uuid(m.record_id):
        raise _Rejected("invalid_id", f"{m.record_id!r} is not a record id")
    spec = ENTITIES[m.entity]
    record_id = m.record_id.lower()
    current = _get(batch, m.entity, record_id)
    if m.op == "create":
        return _create(batch, m, spec, record_id, current)
    if current is None:
        raise _Rejected("not_found", f"no {m.entity} {record_id} on the server")
    _check_visible(batch, current)
    if m.op == "delete":
        return _delete(batch, m, spec, current)
    return _update(batch, m, spec, current)


def _customer_of(batch: _Batch, record: _Record) -> _Record:
    if record.entity == "customer":
        return record
    parent = _get(batch, "customer", record.values["customer_id"])
    assert parent is not None, "foreign key guarantees the customer"
    return parent


def _check_visible(batch: _Batch, record: _Record) -> None:
    owner = _customer_of(batch, record).values["owner_id"]
    if not can_see_owner(batch.account, owner, _team(batch, owner)):
        raise _Rejected("forbidden", f"you may not change this {record.entity}")


def _decode_fields(spec: EntitySpec, m: MutationIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(new values cleaned, base values canonical-encoded) of an update or create."""
    new_raw: dict[str, Any] = {}
    bases: dict[str, Any] = {}
    errors: dict[str, str] = {}
    messages: list[str] = []
    for name, (new, base) in m.fields.items():
        if not spec.has_field(name):
            errors[name] = "unknown_field"
            messages.append(f"{spec.name} has no field {name}")
            continue
        fspec = spec.field(name)
        if not fspec.synced:
            errors[name] = "not_editable"
            messages.append(f"{name} is set by the server")
            continue
        try:
            new_raw[name] = decode_value(fspec, new)
            bases[name] = _canonical(fspec, base)
        except WireError as exc:
            errors[name] = "invalid_type"
            messages.append(str(exc))
    if errors:
        raise _Rejected("invalid", "; ".join(messages), errors)
    try:
        cleaned = clean_values(spec, new_raw, for_create=m.op == "create")
    except ValidationError as exc:
        raise _Rejected(
            "invalid", "; ".join(f"{e.field}: {e.message}" for e in exc.errors), exc.codes()
        ) from None
    return cleaned, bases


def _canonical(fspec: Any, raw: Any) -> Any:
    """A wire value in its one canonical spelling (so equal values compare equal)."""
    if raw is None:
        return None
    return encode_value(fspec, decode_value(fspec, raw))


def _encoded(spec: EntitySpec, name: str, value: Any) -> Any:
    return encode_value(spec.field(name), value)


def _create(
    batch: _Batch, m: MutationIn, spec: EntitySpec, record_id: str, current: _Record | None
) -> dict[str, Any]:
    values, _ = _decode_fields(spec, m)
    restoring = current is not None and current.values["deleted"]
    if restoring:
        assert current is not None
        # Restoring rewrites the record and a conflict shows it: only for those who see it.
        _check_visible(batch, current)
    if current is not None and not (restoring and m.base_version == current.values["version"]):
        if restoring:
            return _conflict(batch, m, spec, current, kind="deleted", fields=list(values))
        raise _Rejected("duplicate_id", f"a {m.entity} with id {record_id} already exists")
    if spec.name == "customer":
        owner = values.get("owner_id")
        if owner is None:
            owner = batch.account.username  # a new customer belongs to whoever made it
        _check_assign(batch, owner)
        values["owner_id"] = owner
    else:
        values["owner_id"] = None  # children follow their customer
        _check_parent(batch, values["customer_id"])
    version = (current.values["version"] if current else 0) + 1
    row = {
        "id": record_id,
        **values,
        "version": version,
        "created_at": current.values["created_at"] if current else batch.moment,
        "updated_at": batch.moment,
        "updated_by": batch.account.username,
        "deleted": False,
        "seq": current.values["seq"] if current else 0,
    }
    record = _Record(m.entity, row, exists_in_db=current.exists_in_db if current else False)
    batch.records[(m.entity, record_id)] = record
    old = current.values if current else {}
    changes = {
        n: [_encoded(spec, n, old.get(n)) if current else None, _encoded(spec, n, v)]
        for n, v in values.items()
    }
    _touch(batch, record, "restore" if current else "create", changes, m)
    return _applied(m, record)


def _check_parent(batch: _Batch, customer_id: str) -> None:
    parent = _get(batch, "customer", customer_id)
    if parent is None:
        raise _Rejected("parent_missing", f"customer {customer_id} does not exist on the server")
    owner = parent.values["owner_id"]
    if not can_see_owner(batch.account, owner, _team(batch, owner)):
        raise _Rejected("forbidden", "you may not add records to this customer")
    if parent.values["deleted"]:
        raise _Rejected("parent_deleted", f"customer {customer_id} was deleted on the server")


def _check_assign(batch: _Batch, owner: str | None) -> None:
    if owner is not None and not _user_exists(batch, owner):
        raise _Rejected("invalid_owner", f"no active user {owner!r}", {"owner_id": "invalid_owner"})
    if not may_assign(batch.account, owner, _team(batch, owner)):
        raise _Rejected("forbidden", f"you may not assign customers to {owner!r}")


def _update(batch: _Batch, m: MutationIn, spec: EntitySpec, current: _Record) -> dict[str, Any]:
    new_values, bases = _decode_fields(spec, m)
    if current.values["deleted"]:
        return _conflict(batch, m, spec, current, kind="deleted", fields=list(new_values))
    if spec.name != "customer":
        new_values.pop("owner_id", None)
        bases.pop("owner_id", None)
    to_apply: dict[str, Any] = {}
    conflicting: list[str] = []
    for name, new in new_values.items():
        server_now = _encoded(spec, name, current.values[name])
        if server_now == _encoded(spec, name, new):
            continue  # already so: nothing to do, nothing to fight about
        if server_now == bases[name]:
            to_apply[name] = new
        else:
            conflicting.append(name)
    if "owner_id" in to_apply:
        _check_assign(batch, to_apply["owner_id"])
    if "customer_id" in to_apply:
        _check_parent(batch, to_apply["customer_id"])
    if to_apply:
        old_owner = current.values["owner_id"]
        old_customer = _customer_of(batch, current)
        changes = {
            n: [_encoded(spec, n, current.values[n]), _encoded(spec, n, v)]
            for n, v in to_apply.items()
        }
        current.values.update(to_apply)
        current.values["version"] += 1
        current.values["updated_at"] = batch.moment
        current.values["updated_by"] = batch.account.username
        if spec.name == "customer" and "owner_id" in to_apply:
            _reassigned(batch, current, old_owner)
        elif "customer_id" in to_apply:
            _revoke(batch, current, old_customer.values["owner_id"])
        _touch(batch, current, "update", changes, m)
        if spec.name == "customer" and "owner_id" in to_apply:
            _touch_children(batch, current.values["id"])
    if conflicting:
        return _conflict(batch, m, spec, current, kind="field", fields=conflicting)
    return _applied(m, current)


def _delete(batch: _Batch, m: MutationIn, spec: EntitySpec, current: _Record) -> dict[str, Any]:
    if current.values["deleted"]:
        return _applied(m, current)  # already gone: the wish is fulfilled
    if m.base_version != current.values["version"]:
        unseen = _fields_changed_since(batch, spec, current, m.base_version)
        return _conflict(batch, m, spec, current, kind="delete_vs_change", fields=unseen)
    if spec.name == "customer":
        for name in CHILD_ENTITIES:
            for child in _children(batch, name, current.values["id"]):
                if not child.values["deleted"]:
                    _tombstone(batch, child, m, cascade=True)
    _tombstone(batch, current, m, cascade=False)
    return _applied(m, current)


def _tombstone(batch: _Batch, record: _Record, m: MutationIn, *, cascade: bool) -> None:
    record.values["deleted"] = True
    record.values["version"] += 1
    record.values["updated_at"] = batch.moment
    record.values["updated_by"] = batch.account.username
    _touch(batch, record, "cascade_delete" if cascade else "delete", {"deleted": [False, True]}, m)


def _children(batch: _Batch, entity: str, customer_id: str) -> list[_Record]:
    t = TABLE_BY_ENTITY[entity]
    ids = batch.conn.execute(
        select(t.c.id).where(t.c.customer_id == customer_id).order_by(t.c.id)
    ).scalars()
    _load(batch, entity, set(ids))
    return [
        r
        for (e, _), r in batch.records.items()
        if e == entity and r is not None and r.values["customer_id"] == customer_id
    ]


def _reassigned(batch: _Batch, customer: _Record, old_owner: str | None) -> None:
    """The customer changed owner: revoke it and its children from the old owner's side."""
    for name in CHILD_ENTITIES:
        for child in _children(batch, name, customer.values["id"]):
            if not child.values["deleted"]:
                _revoke(batch, child, old_owner, customer_id=customer.values["id"])
    _revoke(batch, customer, old_owner, customer_id=customer.values["id"])


def _revoke(
    batch: _Batch, record: _Record, old_owner: str | None, *, customer_id: str | None = None
) -> None:
    cid = customer_id or (
        record.values["id"] if record.entity == "customer" else record.values["customer_id"]
    )
    batch.events.append(
        (
            "revoke",
            {
                "entity": record.entity,
                "record_id": record.values["id"],
                "customer_id": cid,
                "old_owner_id": old_owner,
                "old_team": _team(batch, old_owner),
            },
        )
    )


def _touch_children(batch: _Batch, customer_id: str) -> None:
    """Give the children of a reassigned customer new change numbers (no new version), so
    they reach the replicas of those who see them now."""
    for name in CHILD_ENTITIES:
        for child in _children(batch, name, customer_id):
            child.dirty = True
            batch.events.append(("record", (name, child.values["id"])))


def _touch(batch: _Batch, record: _Record, op: str, changes: dict[str, Any], m: MutationIn) -> None:
    record.dirty = True
    batch.events.append(("record", (record.entity, record.values["id"])))
    customer_id = (
        record.values["id"] if record.entity == "customer" else record.values["customer_id"]
    )
    batch.audit.append(
        {
            "at": batch.moment,
            "username": batch.account.username,
            "entity": record.entity,
            "record_id": record.values["id"],
            "customer_id": customer_id,
            "op": op,
            "version": record.values["version"],
            "changes": changes,
            "client_id": batch.client_id,
            "mutation_id": m.mutation_id,
        }
    )


def _applied(m: MutationIn, record: _Record) -> dict[str, Any]:
    # The record itself comes with the next pull (its change number moved); the stored
    # result stays small.
    return {"mutation_id": m.mutation_id, "status": "applied", "version": record.values["version"]}


def _fields_changed_since(
    batch: _Batch, spec: EntitySpec, record: _Record, version: int
) -> list[str]:
    rows = batch.conn.execute(
        select(_audit.c.changes).where(
            _audit.c.entity == spec.name,
            _audit.c.record_id == record.values["id"],
            _audit.c.version > version,
        )
    ).scalars()
    names: list[str] = []
    for changes in rows:
        for name in changes:
            if name not in names and spec.has_field(name) and spec.field(name).synced:
                names.append(name)
    for entry in batch.audit:
        if entry["record_id"] == record.values["id"] and entry["version"] > version:
            names.extend(n for n in entry["changes"] if n not in names)
    return names


def _conflict(
    batch: _Batch,
    m: MutationIn,
    spec: EntitySpec,
    record: _Record,
    *,
    kind: str,
    fields: list[str],
) -> dict[str, Any]:
    who = _last_changes(batch, spec.name, record.values["id"], fields)
    details = []
    for name in fields:
        if not spec.has_field(name):
            continue
        new, base = m.fields.get(name, (None, None))
        changed_by, changed_at = who.get(
            name, (record.values["updated_by"], record.values["updated_at"])
        )
        details.append(
            {
                "field": name,
                "mine": new,
                "base": base,
                "theirs": _encoded(spec, name, record.values[name]),
                "changed_by": changed_by,
                "changed_at": _encoded_time(changed_at),
            }
        )
    return {
        "mutation_id": m.mutation_id,
        "status": "conflict",
        "kind": kind,
        "version": record.values["version"],
        "conflicts": details,
        "record": record_to_wire(record.entity, record.values),
    }


def _encoded_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _last_changes(
    batch: _Batch, entity: str, record_id: str, names: list[str]
) -> dict[str, tuple[str, datetime]]:
    """Who last changed each of ``names`` on the server, and when (from the audit log)."""
    found: dict[str, tuple[str, datetime]] = {}
    for entry in reversed(batch.audit):
        if entry["entity"] == entity and entry["record_id"] == record_id:
            for name in entry["changes"]:
                found.setdefault(name, (entry["username"], entry["at"]))
    rows = batch.conn.execute(
        select(_audit.c.username, _audit.c.at, _audit.c.changes)
        .where(_audit.c.entity == entity, _audit.c.record_id == record_id)
        .order_by(_audit.c.id.desc())
        .limit(200)
    )
    for username, at, changes in rows:
        for name in changes:
            found.setdefault(name, (username, at))
        if all(n in found for n in names):
            break
    return found


# --- 4. writing -----------------------------------------------------------------------


def _write(
    batch: _Batch, mutations: Sequence[MutationIn], results: Mapping[str, dict[str, Any]]
) -> None:
    conn = batch.conn
    # Audit entries and results need no change numbers: write them before taking any, so
    # the counter row stays locked (and other batches wait) only for the records' writes.
    if batch.audit:
        conn.execute(insert(_audit), batch.audit)
    blocked = [m.mutation_id for m in mutations if results[m.mutation_id].get("code") == BLOCKED]
    if blocked:
        conn.execute(
            delete(_pushed).where(
                _pushed.c.client_id == batch.client_id, _pushed.c.mutation_id.in_(blocked)
            )
        )
    updates = [
        {"b_client": batch.client_id, "b_mutation": m.mutation_id, "result": results[m.mutation_id]}
        for m in mutations
        if m.mutation_id not in blocked
    ]
    if updates:
        conn.execute(
            update(_pushed)
            .where(
                _pushed.c.client_id == _bind("b_client"),
                _pushed.c.mutation_id == _bind("b_mutation"),
            )
            .values(result=_bind("result")),
            updates,
        )
    # Latest position of each record in the batch's event order; revocations keep theirs.
    order: dict[Any, int] = {}
    for position, (kind, payload) in enumerate(batch.events):
        key = payload if kind == "record" else ("revoke", position)
        order.pop(key, None)
        order[key] = position
    sequence = sorted(order, key=order.__getitem__)
    if sequence:
        first = take_change_numbers(conn, len(sequence))
        revocations = []
        for offset, key in enumerate(sequence):
            seq = first + offset
            if key[0] == "revoke":
                revocations.append({"seq": seq, **batch.events[key[1]][1]})
            else:
                record = batch.records[key]
                assert record is not None
                record.values["seq"] = seq
        _write_records(conn, batch)
        if revocations:
            conn.execute(insert(_revocations), revocations)


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _write_records(conn: Connection, batch: _Batch) -> None:
    inserts: dict[str, list[dict[str, Any]]] = {}
    updates: dict[str, list[dict[str, Any]]] = {}
    for (entity, _), record in batch.records.items():
        if record is None or not record.dirty:
            continue
        target = updates if record.exists_in_db else inserts
        target.setdefault(entity, []).append(record.values)
    for entity in ("customer", *CHILD_ENTITIES):
        table = TABLE_BY_ENTITY[entity]
        if inserts.get(entity):
            conn.execute(insert(table), inserts[entity])
        if updates.get(entity):
            _update_rows(conn, table, updates[entity])


def _update_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import bindparam

    columns = [c.name for c in table.columns if c.name != "id"]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )
    params = [{f"b_{k}": v for k, v in row.items() if k in columns or k == "id"} for row in rows]
    conn.execute(stmt, params)
