"""Client devices for the sync end-to-end tests: a real replica (profile directory), a
signed-in :class:`ServerClient` and a :class:`SyncEngine`, plus ways to compare what a
replica holds with what the server's database holds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from server import accounts
from server.accounts import Role
from server.db import write_transaction
from server.models import TABLE_BY_ENTITY as SERVER_TABLES
from server.models import AuditEntry, table_of
from server.records import record_to_wire
from sync import outbox, wire
from sync.conflicts import list_conflicts
from sync.engine import CURSOR_KEY, SyncEngine, SyncReport
from sync.outbox import Mutation
from sync.replica import Replica
from sync.schema import ENTITIES
from sync.transport import DEFAULT_TIMEOUT, ServerClient, ServerConfig

_audit = table_of(AuditEntry)


@dataclass
class Device:
    """One user's client: a profile directory with its replica, signed in on its own."""

    name: str
    user: str
    replica: Replica
    client: ServerClient
    engine: SyncEngine

    def sync(self) -> SyncReport:
        return self.engine.sync_once()

    def close(self) -> None:
        self.client.close()
        self.replica.close()

    # --- looking at it --------------------------------------------------------------

    def outbox(self) -> list[Mutation]:
        with self.replica.read() as conn:
            return outbox.list_mutations(conn)

    def queue(self) -> list[tuple[Any, ...]]:
        """The outbox as it matters for sync: order, ids, what each edit does, status
        (attempt counters and the last transport error are bookkeeping, left out)."""
        return [
            (m.seq, m.mutation_id, m.entity, m.record_id, m.op, m.base_version,
             {k: (v.new, v.base) for k, v in m.fields.items()}, m.status)
            for m in self.outbox()
        ]  # fmt: skip

    def cursor(self) -> str | None:
        return self.replica.get_meta(CURSOR_KEY)

    def record(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """The replica's record as the wire shows it: synced fields and version."""
        found = self.replica.repository(entity).get(record_id)
        if found is None:
            return None
        spec = ENTITIES[entity]
        values = {f.name: wire.encode_value(f, found.values[f.name]) for f in spec.synced_fields}
        return {**values, "version": found.version}

    def snapshot(self) -> dict[str, Any]:
        """Everything a failed sync must leave alone: records, queue, conflicts, cursor."""
        records: dict[str, dict[str, Any]] = {}
        for entity in ENTITIES:
            repo = self.replica.repository(entity)
            with self.replica.read() as conn:
                ids = [r[0] for r in conn.execute(select(repo.table.c.id))]
            records.update({f"{entity}:{i}": self.record(entity, i) or {} for i in ids})
        return {
            "records": records,
            "queue": self.queue(),
            "conflicts": [(c.record_id, c.kind) for c in list_conflicts(self.replica)],
            "cursor": self.cursor(),
        }


def open_device(
    root: Path,
    name: str,
    base_url: str,
    user: str,
    password: str,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    push_batch: int = 200,
    pull_limit: int = 2000,
) -> Device:
    """A new profile ``root/name`` signed in as ``user`` (its own device token)."""
    replica = Replica.open(root / name)
    client = ServerClient(ServerConfig(base_url, timeout=timeout))
    reply = client.login(user, password, f"pytest-{name}")
    # What signing in does for the app: new records belong to the signed-in user.
    replica.set_meta("user_id", reply.user.username)
    engine = SyncEngine(replica, client, push_batch=push_batch, pull_limit=pull_limit)
    return Device(name, user, replica, client, engine)


# --- the server's side -------------------------------------------------------------------


def server_record(engine: Engine, entity: str, record_id: str) -> dict[str, Any] | None:
    """The server's record (synced fields and version), or None if missing or deleted."""
    table = SERVER_TABLES[entity]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
    if row is None or row["deleted"]:
        return None
    raw = record_to_wire(entity, dict(row))
    spec = ENTITIES[entity]
    return {**{f.name: raw[f.name] for f in spec.synced_fields}, "version": raw["version"]}


def server_version(engine: Engine, entity: str, record_id: str) -> int | None:
    """The record's version on the server, tombstones included."""
    table = SERVER_TABLES[entity]
    with engine.connect() as conn:
        version: int | None = conn.execute(
            select(table.c.version).where(table.c.id == record_id)
        ).scalar()
    return version


def audit_counts(engine: Engine, mutation_ids: Iterable[str]) -> dict[str, int]:
    """How many applied changes the server logged per mutation id."""
    ids = list(mutation_ids)
    with engine.connect() as conn:
        rows = conn.execute(
            select(_audit.c.mutation_id, func.count())
            .where(_audit.c.mutation_id.in_(ids))
            .group_by(_audit.c.mutation_id)
        ).all()
    found = {str(m): int(n) for m, n in rows}
    return {m: found.get(m, 0) for m in ids}


def assert_agree(
    engine: Engine, devices: Sequence[Device], records: Iterable[tuple[str, str]]
) -> None:
    """Every device holds each record exactly as the server does (or not at all, when the
    server has deleted it), with nothing queued and no conflict open."""
    for entity, record_id in records:
        expected = server_record(engine, entity, record_id)
        for device in devices:
            assert device.record(entity, record_id) == expected, (device.name, entity, record_id)
    for device in devices:
        assert device.outbox() == [], device.name
        assert list_conflicts(device.replica) == [], device.name


def seed_users(engine: Engine, users: dict[str, tuple[Role, str | None]], password: str) -> None:
    """Accounts on a fresh server database (one password hash for all)."""
    password_hash = accounts.hash_password(password)

    def work(conn: Any) -> None:
        for name, (role, team) in users.items():
            accounts.add_user(
                conn, name, password, role=role, team=team, password_hash=password_hash
            )

    write_transaction(engine, work)
