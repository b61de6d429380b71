"""The local replica: one SQLite file per (server, user) profile.

Open it with :meth:`Replica.open`; it migrates the schema, then hands out repositories
(``replica.customers.create(...)``) whose every write commits the record and its outbox row
together. Settings that matter for the promise "an edit is never lost":

* WAL journal and ``synchronous=FULL``: a committed edit survives a crash, a kill -9 and a
  power cut; readers (the GUI) never block the writer (the sync worker) or the reverse;
* write transactions start with ``BEGIN IMMEDIATE``: they take the write lock up front, so
  two writers queue on ``busy_timeout`` instead of failing with "database is locked" when
  a read transaction tries to upgrade;
* foreign keys on, checked at commit (deferred).

A connection is used by one thread at a time (SQLAlchemy's pool hands them out); the
repository returns plain :class:`~sync.repository.Record` values, never ORM objects, so
nothing tied to a connection crosses threads.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from sync import migrations, search
from sync.outbox import records_with_mutations
from sync.replica_models import META_TABLE, TABLE_BY_ENTITY
from sync.repository import EntityRepository
from sync.schema import CUSTOMER, ENTITIES, entity
from sync.types import Money, UTCDateTime

log = logging.getLogger(__name__)

REPLICA_FILENAME = "replica.sqlite3"
DATABASE_SUFFIXES = (".sqlite3", ".sqlite", ".db")
BUSY_TIMEOUT_MS = 15_000
MMAP_SIZE = 512 * 1024 * 1024

_meta = META_TABLE


class ReplicaError(RuntimeError):
    """The replica cannot be used; the message says why and what to do."""


class ReplicaCorruptError(ReplicaError):
    """The replica file is damaged or is not an Outpost replica."""


class PendingEditsError(ReplicaError):
    """Server records would overwrite records that still have queued local edits."""

    def __init__(self, entity_name: str, record_ids: Iterable[str]) -> None:
        self.record_ids = sorted(record_ids)
        super().__init__(
            f"{len(self.record_ids)} {entity_name} record(s) have queued local edits and "
            "must be merged, not overwritten"
        )


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_replica_engine(path: Path) -> Engine:
    """A SQLAlchemy engine on ``path`` with Outpost's connection settings."""
    engine = create_engine(
        f"sqlite+pysqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # We issue BEGIN ourselves (see _on_begin); the driver must not.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ReplicaError(f"cannot switch the replica to WAL mode (got {mode})")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA cache_size = -32000")
            cursor.execute("PRAGMA temp_store = MEMORY")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("outpost_begin", "DEFERRED")
        # Read transactions map the file instead of copying pages through the 32 MB
        # cache: a search that touches 10,000 scattered customer rows (a short prefix)
        # reads them 2-3 times faster. Write transactions do not: an initial sync writes
        # the whole file, and mapped pages it touched would count as the process's
        # resident memory (hundreds of MB) although they are only the OS page cache.
        mmap = 0 if mode == "IMMEDIATE" else MMAP_SIZE
        if conn.info.get("outpost_mmap") != mmap:
            conn.exec_driver_sql(f"PRAGMA mmap_size = {mmap}")
            conn.info["outpost_mmap"] = mmap
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Replica:
    """An open replica: transactions, repositories, replica facts, bulk loading."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self._engine = engine
        self._meta_cache: dict[str, str] = {}
        self._lock = threading.Lock()
        with self.read() as conn:
            self._meta_cache = dict(conn.execute(select(_meta.c.key, _meta.c.value)).all())
        self.client_id: str = self._meta_cache["client_id"]
        self.customers = EntityRepository(self, CUSTOMER)
        self.contacts = EntityRepository(self, ENTITIES["contact"])
        self.follow_ups = EntityRepository(self, ENTITIES["follow_up"])
        self.deals = EntityRepository(self, ENTITIES["deal"])

    # --- opening ----------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        before_upgrade: migrations.BeforeUpgrade | None = None,
    ) -> Replica:
        """Open (and create or upgrade) the replica at ``path``.

        ``path`` is a profile directory (the file is then ``replica.sqlite3`` inside it)
        or a SQLite file ending in ``.sqlite3``, ``.sqlite`` or ``.db``. Raises
        :class:`ReplicaCorruptError` for a damaged file and
        :class:`~sync.migrations.ReplicaTooNewError` for one written by a newer Outpost;
        neither changes the file.
        """
        path = Path(path)
        if path.is_dir() or path.suffix.lower() not in DATABASE_SUFFIXES:
            # A profile directory (its name may well contain dots: crm.example.com_443_…).
            path.mkdir(parents=True, exist_ok=True)
            path = path / REPLICA_FILENAME
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_replica_engine(path)
        try:
            with engine.connect().execution_options(outpost_begin="IMMEDIATE") as conn:
                restore_indexes(conn)  # left out by an initial sync that was cut short
                migrations.upgrade(conn, before_upgrade=before_upgrade)
            return cls(path, engine)
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            engine.dispose()
            if _looks_corrupt(exc):
                raise ReplicaCorruptError(
                    f"the local database {path} is damaged or is not an Outpost replica "
                    f"({_root_message(exc)}). Nothing was changed; restore a backup or move "
                    "the file away to sync a fresh copy from the server."
                ) from exc
            raise ReplicaError(
                f"cannot open the local database {path}: {_root_message(exc)}"
            ) from exc
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        """Close every connection. Checkpointing the WAL keeps the file self-contained."""
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except OperationalError as exc:  # another process holds it: harmless
            log.debug("checkpoint at close skipped: %s", exc)
        self._engine.dispose()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions -----------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, never blocks or waits for writers."""
        with self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): all of it commits, or none of it."""
        with (
            self._engine.connect().execution_options(outpost_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            yield conn

    # --- replica facts ----------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        with self._engine.connect() as conn:
            return migrations.schema_version(conn)

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            value = conn.execute(select(_meta.c.value).where(_meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str, conn: Connection | None = None) -> None:
        """Set a replica fact, in ``conn``'s transaction if given (e.g. a pull cursor)."""
        if conn is None:
            with self.write() as own:
                self._upsert_meta(own, key, value)
        else:
            self._upsert_meta(conn, key, value)
        with self._lock:
            self._meta_cache[key] = value

    @staticmethod
    def _upsert_meta(conn: Connection, key: str, value: str) -> None:
        done = conn.execute(update(_meta).where(_meta.c.key == key).values(value=value))
        if done.rowcount == 0:
            conn.execute(insert(_meta).values(key=key, value=value))

    @property
    def user_id(self) -> str | None:
        """The signed-in user's id: the owner of records created here."""
        return self._meta_cache.get("user_id")

    def repository(self, entity_name: str) -> EntityRepository:
        return {
            "customer": self.customers,
            "contact": self.contacts,
            "follow_up": self.follow_ups,
            "deal": self.deals,
        }[entity(entity_name).name]

    # --- server records ---------------------------------------------------------------

    def store_server_records(
        self,
        entity_name: str,
        records: Iterable[Mapping[str, Any]],
        conn: Connection | None = None,
    ) -> int:
        """Write records as the server has them (a pulled page, an initial load).

        Each record holds every field of the entity (Python values, system fields
        included). New records are inserted, known ones overwritten, the search index kept
        in step, all in one transaction (``conn``'s if given, so a pull can store its cursor
        with the page). Records with queued local edits are refused with
        :class:`PendingEditsError`: those need a merge, not an overwrite.
        """
        batch = [dict(r) for r in records]
        if not batch:
            return 0
        if conn is None:
            with self.write() as own:
                return store_server_rows(own, entity_name, batch)
        return store_server_rows(conn, entity_name, batch)

    # --- health -----------------------------------------------------------------------

    def check_integrity(self) -> list[str]:
        """Problems found by SQLite's integrity check, the foreign keys and the search
        index; an empty list when the replica is healthy."""
        problems: list[str] = []
        with self.read() as conn:
            for (line,) in conn.exec_driver_sql("PRAGMA integrity_check"):
                if line != "ok":
                    problems.append(f"integrity: {line}")
            for row in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                problems.append(f"foreign key: {tuple(row)}")
        try:
            with self.read() as conn:
                search.check_index(conn)
        except DatabaseError as exc:
            problems.append(f"search index: {_root_message(exc)}")
        return problems


def store_server_rows(conn: Connection, entity_name: str, batch: list[dict[str, Any]]) -> int:
    """:meth:`Replica.store_server_records` in the caller's transaction."""
    spec = entity(entity_name)
    ids = [r["id"] for r in batch]
    queued = records_with_mutations(conn, spec.name, ids)
    if queued:
        raise PendingEditsError(spec.name, queued)
    names = [f.name for f in spec.fields]
    encoders = [_sqlite_value_encoder(TABLE_BY_ENTITY[spec.name].c[n]) for n in names]
    rows: list[list[Any]] = []
    for record in batch:
        values = {name: record.get(name) for name in names}
        if values.get("tags") is None and spec.has_field("tags"):
            values["tags"] = []
        row = [enc(values[n]) for enc, n in zip(encoders, names, strict=True)]
        row.append(None)  # base: the record now equals the server's version
        if spec is CUSTOMER:
            derived = search.customer_search_columns(values)
            row += [derived[n] for n in search.DERIVED_COLUMNS]
        rows.append(row)
    write_stored_rows(conn, spec.name, rows)
    return len(rows)


@cache
def stored_columns(entity_name: str) -> tuple[str, ...]:
    """The columns of a server record's row as :func:`write_stored_rows` takes it: every
    field of the entity in schema order, ``base``, then (customers) the derived search
    columns."""
    spec = entity(entity_name)
    derived = search.DERIVED_COLUMNS if spec is CUSTOMER else ()
    return (*(f.name for f in spec.fields), "base", *derived)


def write_stored_rows(conn: Connection, entity_name: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert or overwrite server records given in their stored form (SQLite values in the
    order of :func:`stored_columns`), keeping the search index in step. The caller has made
    sure none of them has queued local edits."""
    spec = entity(entity_name)
    table = TABLE_BY_ENTITY[spec.name].name
    columns = stored_columns(spec.name)
    id_at = columns.index("id")
    is_customer = spec is CUSTOMER
    existing: dict[str, Any] = {}
    found_columns = "id, row_id, search_text" if is_customer else "id"
    for start in range(0, len(rows), 500):
        chunk = tuple(r[id_at] for r in rows[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {found_columns} FROM {table} WHERE id IN ({marks})"
        for found in conn.exec_driver_sql(sql, chunk):
            existing[found[0]] = found
    new_rows = [tuple(r) for r in rows if r[id_at] not in existing]
    old_rows = [r for r in rows if r[id_at] in existing]
    top = 0
    if is_customer and new_rows:
        top = conn.exec_driver_sql("SELECT coalesce(max(row_id), 0) FROM customers").scalar_one()
    if new_rows:
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", new_rows
        )
        if is_customer:
            search.index_rows_after(conn, int(top))
    if old_rows:
        if is_customer:
            search.unindex_rows(
                conn, [(existing[r[id_at]][1], existing[r[id_at]][2]) for r in old_rows]
            )
        others = [i for i in range(len(columns)) if i != id_at]
        assignments = ", ".join(f"{columns[i]} = ?" for i in others)
        conn.exec_driver_sql(
            f"UPDATE {table} SET {assignments} WHERE id = ?",
            [(*(r[i] for i in others), r[id_at]) for r in old_rows],
        )
        if is_customer:
            text_at = columns.index("search_text")
            conn.exec_driver_sql(
                f"INSERT INTO {search.FTS_TABLE}(rowid, search_text) VALUES (?, ?)",
                [(existing[r[id_at]][1], r[text_at]) for r in old_rows],
            )


# --- indexes during an initial sync -------------------------------------------------------

DEFERRED_INDEXES_KEY = "deferred_indexes"


def defer_indexes(conn: Connection) -> int:
    """Drop the record tables' secondary indexes for a bulk load (an initial sync into an
    empty replica), in the caller's transaction; their SQL is kept in replica meta in that
    same transaction, and :func:`restore_indexes` builds them again.

    Kept up row by row, the indexes on customer ids, dates, owners and sort keys were
    two-fifths of an initial sync's local work (random inserts into ever larger B-trees,
    written again at every commit); built once at the end from the full tables they cost
    a few seconds. Unique indexes stay: they guard the data and serve the look-ups by id.
    Returns how many were dropped.
    """
    statements: list[str] = []
    for table in TABLE_BY_ENTITY.values():
        # index_list: (seq, name, unique, origin, partial); origin "c" = CREATE INDEX
        for _, name, unique, origin, *_ in conn.exec_driver_sql(
            f"PRAGMA index_list({table.name})"
        ).all():
            if unique or origin != "c":
                continue
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).scalar()
            if sql:
                statements.append(str(sql))
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
    if statements:
        known = _deferred_statements(conn)
        Replica._upsert_meta(conn, DEFERRED_INDEXES_KEY, _json_dumps([*known, *statements]))
    return len(statements)


def restore_indexes(conn: Connection) -> int:
    """Build the indexes :func:`defer_indexes` dropped (in the caller's transaction if it
    has one, else in one of its own); returns how many. Nothing to do is one query."""
    if conn.in_transaction():
        return _restore_indexes(conn)
    with conn.begin():
        return _restore_indexes(conn)


def _restore_indexes(conn: Connection) -> int:
    has_meta = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_meta.name,)
    ).first()
    if has_meta is None:
        return 0  # a new file: nothing was ever deferred
    statements = _deferred_statements(conn)
    if not statements:
        return 0
    # CREATE INDEX sorts in as much memory as the page cache may take, and with temp_store
    # MEMORY its spills stay in memory too: building an 800,000-record replica's indexes
    # took the process 45 MB above its peak during the sync. A small cache and spills to a
    # temporary file keep it flat, and were not slower.
    cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    temp_store = conn.exec_driver_sql("PRAGMA temp_store").scalar_one()
    conn.exec_driver_sql("PRAGMA cache_size = -8000")
    conn.exec_driver_sql("PRAGMA temp_store = FILE")
    try:
        for sql in statements:
            conn.exec_driver_sql(sql.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
    finally:
        conn.exec_driver_sql(f"PRAGMA temp_store = {int(temp_store)}")
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache_size)}")
    log.info("built %d indexes left out during an initial sync", len(statements))
    conn.execute(delete(_meta).where(_meta.c.key == DEFERRED_INDEXES_KEY))
    return len(statements)


def _deferred_statements(conn: Connection) -> list[str]:
    raw = conn.execute(select(_meta.c.value).where(_meta.c.key == DEFERRED_INDEXES_KEY)).scalar()
    return [str(sql) for sql in orjson.loads(raw)] if raw else []


def _sqlite_value_encoder(column: Any) -> Callable[[Any], Any]:
    """How SQLAlchemy's types store a value in SQLite, without its per-row machinery.

    Used by the bulk insert, which takes a third of the time through the raw cursor; a test
    checks that both paths store identical bytes.
    """
    type_ = column.type
    if isinstance(type_, UTCDateTime):
        return lambda v: None if v is None else _sqlite_datetime(v)
    if isinstance(type_, Money):
        return lambda v: None if v is None else type_.process_bind_param(v, _SQLITE_DIALECT)
    if isinstance(type_, Boolean):
        return lambda v: None if v is None else int(bool(v))
    if isinstance(type_, Date):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(type_, JSON):
        return lambda v: None if v is None else _json_dumps(v)
    return lambda v: v


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite text for an aware time: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_SQLITE_DIALECT = sqlite_dialect.dialect()


def _root_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc)


def _looks_corrupt(exc: BaseException) -> bool:
    message = _root_message(exc).lower()
    return any(
        s in message
        for s in ("not a database", "malformed", "corrupt", "file is encrypted", "disk image")
    )
