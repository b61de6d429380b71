"""Fixtures for the server tests: a real ``outpost-server serve`` process on 127.0.0.1,
talked to over HTTP, once on SQLite and once on the real PostgreSQL.

Each backend gets one server for the whole session (starting one takes a second) with a
fixed cast of users; tests create their own records (fresh UUIDs) and start reading the
feed from "now" (:meth:`ApiClient.cursor_at_end`), so they do not see each other's data.
Tests that need accounts of their own (lockouts, disabling) make them with
:meth:`LiveServer.add_user`.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import Engine, select, text

from server import accounts, feed
from server.accounts import Role
from server.db import create_server_engine, write_transaction
from server.models import TABLE_BY_ENTITY

PASSWORD = "correct horse battery"
# Hashing with Argon2 takes ~50 ms; the fixed cast shares one hash.
_PASSWORD_HASH = accounts.hash_password(PASSWORD)

# username -> (role, team)
CAST: dict[str, tuple[Role, str | None]] = {
    "admin": (Role.ADMIN, None),
    "m_east": (Role.MANAGER, "east"),
    "s1": (Role.SALES, "east"),
    "s2": (Role.SALES, "east"),
    "m_west": (Role.MANAGER, "west"),
    "s3": (Role.SALES, "west"),
}

LOGIN_MAX_FAILURES = 3
LOGIN_LOCKOUT_SECONDS = 2.0
MAX_BODY_BYTES = 1024 * 1024


def start_server(
    db_url: str, log_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start ``outpost-server serve`` on a free port; return the process and its base URL."""
    cmd = [
        sys.executable, "-m", "server.main", "serve", "--db", db_url, "--host", "127.0.0.1",
        "--port", "0", "--log-level", "warning",
        "--login-max-failures", str(LOGIN_MAX_FAILURES),
        # Every test logs in from 127.0.0.1: the per-address limit is tested on its own.
        "--login-max-failures-per-address", "1000",
        "--login-lockout-seconds", str(LOGIN_LOCKOUT_SECONDS),
        "--max-body-bytes", str(MAX_BODY_BYTES), *extra,
    ]  # fmt: skip
    log = log_path.open("a")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=60):
        proc.kill()
        raise RuntimeError(f"server did not start; see {log_path}")
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}; see {log_path}")
    base_url = line.split("listening on ", 1)[1].split()[0]
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base_url}/api/v1/health", timeout=2, verify=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"server not healthy; see {log_path}")
        time.sleep(0.05)
    return proc, base_url


def stop_server(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """SIGTERM (graceful shutdown) and wait; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@dataclass
class ApiClient:
    """A signed-in HTTP client with helpers for the sync API."""

    http: httpx.Client
    username: str
    token: str
    engine: Engine | None = None
    client_id: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:12]}")
    _counter: int = 0

    def next_mutation_id(self) -> str:
        self._counter += 1
        return f"{self.client_id}:{self._counter}"

    def push(self, mutations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.http.post(
            "/api/v1/sync/push", json={"client_id": self.client_id, "mutations": list(mutations)}
        )
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def push_one(self, mutation: dict[str, Any]) -> dict[str, Any]:
        return self.push([mutation])[0]

    def pull(self, cursor: str = "", limit: int = 1000) -> dict[str, Any]:
        response = self.http.get("/api/v1/sync/pull", params={"cursor": cursor, "limit": limit})
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def pull_all(self, cursor: str = "", limit: int = 1000) -> tuple[list[dict[str, Any]], str]:
        """Every change after ``cursor``: (changes, the cursor to continue from)."""
        changes: list[dict[str, Any]] = []
        while True:
            page = self.pull(cursor, limit)
            changes.extend(page["changes"])
            cursor = page["cursor"]
            if not page["has_more"]:
                return changes, cursor

    def cursor_at_end(self) -> str:
        """A cursor at the end of the feed now.

        Pulling everything from the start would give the same cursor, but the session's
        database grows with every test; this reads the committed change counter instead
        and builds the cursor the way the server does.
        """
        if self.engine is None:
            return self.pull_all()[1]
        return self.cursor_after(None)

    def cursor_after(self, seq: int | None) -> str:
        """A cursor just after change number ``seq`` (the current end when ``None``)."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            account = accounts.get_account(conn, self.username)
            if seq is None:
                seq = conn.execute(text("SELECT value FROM feed_counter WHERE id = 1")).scalar_one()
            return feed.encode_cursor(feed.server_id(conn), seq, account)

    def current(self, entity: str, record_id: str) -> dict[str, Any]:
        """The record's latest change as this client's feed delivers it."""
        assert self.engine is not None
        table = TABLE_BY_ENTITY[entity]
        with self.engine.connect() as conn:
            seq = conn.execute(select(table.c.seq).where(table.c.id == record_id)).scalar_one()
        page = self.pull(self.cursor_after(seq - 1), limit=1)
        found = [c for c in page["changes"] if c["entity"] == entity and c["id"] == record_id]
        assert found, f"{entity} {record_id} is not in {self.username}'s feed"
        return found[-1]

    # mutation builders ---------------------------------------------------------------

    def create(
        self, entity: str, values: dict[str, Any], record_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "mutation_id": self.next_mutation_id(),
            "entity": entity,
            "record_id": record_id or str(uuid.uuid4()),
            "op": "create",
            "base_version": 0,
            "fields": {k: {"new": v, "base": None} for k, v in values.items()},
        }

    def update(
        self, entity: str, record_id: str, base_version: int, changes: dict[str, tuple[Any, Any]]
    ) -> dict[str, Any]:
        """``changes``: field -> (new, base)."""
        return {
            "mutation_id": self.next_mutation_id(),
            "entity": entity,
            "record_id": record_id,
            "op": "update",
            "base_version": base_version,
            "fields": {k: {"new": n, "base": b} for k, (n, b) in changes.items()},
        }

    def delete(self, entity: str, record_id: str, base_version: int) -> dict[str, Any]:
        return {
            "mutation_id": self.next_mutation_id(),
            "entity": entity,
            "record_id": record_id,
            "op": "delete",
            "base_version": base_version,
            "fields": {},
        }

    def new_customer(self, name: str = "测试客户", **values: Any) -> tuple[str, dict[str, Any]]:
        """Create a customer on the server; return its id and the applied result."""
        mutation = self.create("customer", {"name": name, "status": "lead", **values})
        result = self.push_one(mutation)
        assert result["status"] == "applied", result
        return mutation["record_id"], result


@dataclass
class LiveServer:
    backend: str
    db_url: str
    base_url: str
    engine: Engine
    process: subprocess.Popen[str]
    log_path: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def http(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kwargs)
        self.clients.append(client)
        return client

    def login(self, username: str, password: str = PASSWORD, device: str = "pytest") -> ApiClient:
        response = self.http().post(
            "/api/v1/auth/login",
            json={"username": username, "password": password, "device_name": device},
        )
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        return ApiClient(self.http(token), username, token, self.engine)

    def add_user(self, role: Role = Role.SALES, team: str | None = None, prefix: str = "u") -> str:
        """A fresh account of its own (password :data:`PASSWORD`); returns its name."""
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        write_transaction(
            self.engine,
            lambda conn: accounts.add_user(
                conn, name, PASSWORD, role=role, team=team, password_hash=_PASSWORD_HASH
            ),
        )
        return name

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()


def _seed_cast(engine: Engine) -> None:
    def work(conn: Any) -> None:
        for name, (role, team) in CAST.items():
            if accounts.find_account(conn, name) is None:
                accounts.add_user(
                    conn, name, PASSWORD, role=role, team=team, password_hash=_PASSWORD_HASH
                )

    write_transaction(engine, work)


@pytest.fixture(scope="session")
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search path is a fresh schema, dropped afterwards."""
    schema = f"outpost_srv_{uuid.uuid4().hex[:10]}"
    admin = create_server_engine(pg_url, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fresh_database_url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A new empty database of ``backend`` (PostgreSQL: a new schema, cleaned up)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'server-{uuid.uuid4().hex[:8]}.sqlite3'}"
    pg_url: str = request.getfixturevalue("pg_url")
    schema = f"outpost_srv_{uuid.uuid4().hex[:10]}"
    admin = create_server_engine(pg_url, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    request.addfinalizer(drop)
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}"


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A running server on SQLite, then on PostgreSQL, shared by the session."""
    backend: str = request.param
    tmp = tmp_path_factory.mktemp(f"server-{backend}")
    if backend == "sqlite":
        db_url = f"sqlite:///{tmp / 'server.sqlite3'}"
    else:
        db_url = request.getfixturevalue("pg_schema_url")
    subprocess.run(
        [sys.executable, "-m", "server.main", "db", "upgrade", "--db", db_url],
        check=True,
        capture_output=True,
    )
    engine = create_server_engine(db_url, pool_size=4)
    _seed_cast(engine)
    log_path = tmp / "server.log"
    proc, base_url = start_server(db_url, log_path)
    server = LiveServer(backend, db_url, base_url, engine, proc, log_path)
    try:
        yield server
    finally:
        server.close_clients()
        code = stop_server(proc)
        engine.dispose()
        assert code == 0, f"server exited with {code}; see {log_path}"


@pytest.fixture
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The session's server for one test (HTTP clients closed afterwards)."""
    yield live_server
    live_server.close_clients()


if TYPE_CHECKING:
    from tests.helpers.sync_devices import Device

MakeDevice = Callable[..., "Device"]


@pytest.fixture
def make_device(server: LiveServer, tmp_path: Path) -> Iterator[MakeDevice]:
    """Open a new client profile signed in as a user: ``make_device("a", "s1")``; ``url``
    reaches the server another way (a fault proxy)."""
    from tests.helpers.sync_devices import open_device

    opened: list[Device] = []

    def make(name: str, user: str, *, url: str | None = None, **options: Any) -> Device:
        device = open_device(tmp_path, name, url or server.base_url, user, PASSWORD, **options)
        opened.append(device)
        return device

    yield make
    for device in opened:
        device.close()
