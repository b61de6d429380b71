"""Database connections for the server: SQLite (embedded default) or PostgreSQL.

Every writing transaction goes through :func:`write_transaction`, which

* on SQLite starts with ``BEGIN IMMEDIATE`` (writers queue for the lock at the start
  instead of failing half-way with "database is locked"), and
* retries the whole transaction when the database reports a deadlock, a serialization
  failure or a busy lock — nothing of a failed attempt was committed, so running it again
  is safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SQLITE_NAME = "outpost-server.sqlite3"
_RETRY_ATTEMPTS = 8


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data directory."""
    from sync.profile import data_root

    path = data_root() / "server" / DEFAULT_SQLITE_NAME
    return f"sqlite:///{path}"


def normalise_url(url: str) -> str:
    """Accept a bare file path as a SQLite database and ``postgresql://`` as psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_server_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``, configured for many short concurrent transactions."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL"
        )
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        pool_recycle=1800,
    )

    @event.listens_for(engine, "connect")
    def _utc(dbapi_conn: Any, _record: Any) -> None:
        # Times come back in UTC with Python's own UTC tzinfo, which UTCDateTime and the
        # wire encoding take as is; in a server's local zone every one of the millions a
        # full pull reads would be converted.
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.autocommit = autocommit

    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("outpost_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


_RETRYABLE_PG = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_PG:
        return True
    text = str(orig).lower()
    return isinstance(exc, OperationalError) and (
        "database is locked" in text or "database is busy" in text
    )


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (one consistent snapshot on SQLite, READ COMMITTED on PG)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def write_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work(conn)`` in one writing transaction, retrying it on transient conflicts."""
    for attempt in range(1, _RETRY_ATTEMPTS + 1):
        try:
            with engine.connect() as conn:
                conn = conn.execution_options(outpost_write=True)
                with conn.begin():
                    return work(conn)
        except DBAPIError as exc:
            if not _retryable(exc) or attempt == _RETRY_ATTEMPTS:
                raise
            pause = min(0.5, 0.01 * 2**attempt) * random.uniform(0.5, 1.5)
            log.info("transaction conflict (%s); retry %d in %.3fs", exc.orig, attempt, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")
