"""The outbox: user edits waiting to reach the server.

Rows are written only inside the transaction of the edit they describe (see
``sync.repository``); nothing outside that transaction decides whether an edit exists.
A mutation id is ``<client id>:<counter>``; the counter lives in ``replica_meta`` and is
bumped in the same transaction, so ids never repeat — not after a crash (the rolled-back
transaction took its number back with it) and not after acknowledged rows are deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Integer, Text, func, insert, select, update
from sqlalchemy import cast as sql_cast

from sync import wire
from sync.replica_models import META_TABLE, OUTBOX_TABLE

Op = Literal["create", "update", "delete"]

_outbox = OUTBOX_TABLE
_meta = META_TABLE

MUTATION_COUNTER_KEY = "mutation_counter"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a mutation: the value the user set and the value it replaced."""

    new: Any
    base: Any


@dataclass(frozen=True, slots=True)
class Mutation:
    """An outbox row, as the sync engine and the UI see it (values wire-encoded)."""

    seq: int
    mutation_id: str
    entity: str
    record_id: str
    op: Op
    base_version: int
    fields: Mapping[str, FieldChange]
    created_at: datetime
    attempts: int
    last_error: str | None
    status: str


def next_mutation_id(conn: Connection, client_id: str) -> str:
    """Take the next number of this replica's mutation counter (inside the caller's txn)."""
    counter: str = conn.execute(
        update(_meta)
        .where(_meta.c.key == MUTATION_COUNTER_KEY)
        .values(value=sql_cast(sql_cast(_meta.c.value, Integer) + 1, Text))
        .returning(_meta.c.value)
    ).scalar_one()
    return f"{client_id}:{int(counter)}"


def append(
    conn: Connection,
    *,
    client_id: str,
    entity: str,
    record_id: str,
    op: Op,
    base_version: int,
    fields: Mapping[str, FieldChange],
) -> str:
    """Queue one mutation in the caller's transaction and return its id.

    ``fields`` holds wire-encoded values: what the edit set and what it replaced.
    """
    mutation_id = next_mutation_id(conn, client_id)
    conn.execute(
        insert(_outbox).values(
            mutation_id=mutation_id,
            entity=entity,
            record_id=record_id,
            op=op,
            base_version=base_version,
            fields=wire.dumps({k: {"new": v.new, "base": v.base} for k, v in fields.items()}),
            created_at=datetime.now(UTC),
            attempts=0,
            status="pending",
        )
    )
    return mutation_id


def rewrite_fields(conn: Connection, seq: int, fields: Mapping[str, FieldChange]) -> None:
    """Replace the fields of a queued mutation (the user's values stay; a base may move)."""
    conn.execute(
        update(_outbox)
        .where(_outbox.c.seq == seq)
        .values(fields=wire.dumps({k: {"new": v.new, "base": v.base} for k, v in fields.items()}))
    )


def find(conn: Connection, key: int | str) -> Mutation | None:
    """The queued mutation with outbox seq ``key`` (an int) or mutation id ``key`` (a str)."""
    column = _outbox.c.seq if isinstance(key, int) else _outbox.c.mutation_id
    row = conn.execute(select(_outbox).where(column == key)).first()
    return None if row is None else to_mutation(row)


def error_code(mutation: Mutation) -> str | None:
    """The server's code of a failed mutation (``last_error`` is ``"code: message"``)."""
    if not mutation.last_error or ":" not in mutation.last_error:
        return None
    return mutation.last_error.split(":", 1)[0].strip() or None


def to_mutation(row: Any) -> Mutation:
    """An outbox row (as selected from the table) as a :class:`Mutation`."""
    raw = wire.loads(row.fields)
    return Mutation(
        seq=row.seq,
        mutation_id=row.mutation_id,
        entity=row.entity,
        record_id=row.record_id,
        op=row.op,
        base_version=row.base_version,
        fields={k: FieldChange(v["new"], v["base"]) for k, v in raw.items()},
        created_at=row.created_at,
        attempts=row.attempts,
        last_error=row.last_error,
        status=row.status,
    )


def list_mutations(
    conn: Connection,
    *,
    status: str | None = None,
    record_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Mutation]:
    """Queued mutations in the order they were made."""
    stmt = select(_outbox).order_by(_outbox.c.seq)
    if status is not None:
        stmt = stmt.where(_outbox.c.status == status)
    if record_id is not None:
        stmt = stmt.where(_outbox.c.record_id == record_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return [to_mutation(row) for row in conn.execute(stmt)]


def counts(conn: Connection) -> dict[str, int]:
    """``{"pending": n, "failed": m}``."""
    result = {"pending": 0, "failed": 0}
    stmt = select(_outbox.c.status, func.count()).group_by(_outbox.c.status)
    for status, n in conn.execute(stmt):
        result[str(status)] = cast(int, n)
    return result


def records_with_mutations(conn: Connection, entity: str, record_ids: Sequence[str]) -> set[str]:
    """Which of ``record_ids`` have queued (pending or failed) mutations."""
    found: set[str] = set()
    for start in range(0, len(record_ids), 500):
        chunk = record_ids[start : start + 500]
        stmt = select(_outbox.c.record_id).where(
            _outbox.c.entity == entity, _outbox.c.record_id.in_(chunk)
        )
        found.update(conn.execute(stmt).scalars())
    return found
