"""Running the server: graceful shutdown, several workers and several servers on one
database, HTTPS, and refusing a bad start. Each test runs servers of its own."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from server import accounts
from server.accounts import Role
from server.db import create_server_engine, read_transaction, write_transaction
from server.models import TABLE_BY_ENTITY, AuditEntry, PushedMutation
from tests.server.conftest import (
    BACKENDS,
    LOGIN_MAX_FAILURES,
    PASSWORD,
    ApiClient,
    fresh_database_url,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[2]
_HASH = accounts.hash_password(PASSWORD)
_customers = TABLE_BY_ENTITY["customer"]

pytestmark = pytest.mark.slow


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (SQLite file, or a fresh PostgreSQL schema)."""
    return fresh_database_url(request.param, tmp_path, request)


@pytest.fixture
def pg_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty PostgreSQL database (a fresh schema)."""
    return fresh_database_url("postgres", tmp_path, request)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Start servers with :func:`start_server`; any still running at the end are stopped."""
    started: list[subprocess.Popen[str]] = []

    def start(db_url: str, *extra: str, env: dict[str, str] | None = None) -> Any:
        proc, base_url = start_server(db_url, tmp_path / "server.log", *extra, env=env)
        started.append(proc)
        return proc, base_url

    yield start
    for proc in started:
        if proc.poll() is None:
            stop_server(proc)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    created = create_server_engine(db_url, pool_size=4)
    yield created
    created.dispose()


def add_users(engine: Engine, *specs: tuple[Role, str | None]) -> list[str]:
    """Fresh accounts (password PASSWORD) with the given role and team; their names."""
    names = [f"u{uuid.uuid4().hex[:10]}" for _ in specs]

    def work(conn: Any) -> None:
        for name, (role, team) in zip(names, specs, strict=True):
            accounts.add_user(conn, name, PASSWORD, role=role, team=team, password_hash=_HASH)

    write_transaction(engine, work)
    return names


def login_response(base_url: str, username: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password, "device_name": "pytest"},
        timeout=60,
    )


def login(base_url: str, username: str) -> ApiClient:
    """Sign in over HTTP; the client must be closed by the caller (``.http.close()``)."""
    response = login_response(base_url, username)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return ApiClient(http, username, token)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.02)


def metric(base_url: str, name: str, **labels: str) -> float | None:
    """One sample of ``/metrics`` (None when the series is absent)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(f"{name}{{{wanted}}}" if labels else name) + r" (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def refuses_connections(base_url: str) -> bool:
    try:
        httpx.get(f"{base_url}/api/v1/health", timeout=2)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        # Refused, or accepted just before the listener closed and then dropped unanswered
        # by the shutdown (a connection with no request yet is closed at once).
        return True
    return False


def count_customers(engine: Engine, ids: list[str]) -> int:
    with read_transaction(engine) as conn:
        return conn.execute(
            select(func.count()).select_from(_customers).where(_customers.c.id.in_(ids))
        ).scalar_one()


def test_graceful_shutdown_finishes_the_push_in_flight(
    db_url: str, engine: Engine, servers: Any
) -> None:
    """SIGTERM while a push of 500 creates is in flight: the server stops accepting
    connections, still answers that push (200, all applied, rows committed) and then exits
    with status 0."""
    proc, base_url = servers(db_url)
    [name] = add_users(engine, (Role.SALES, "east"))
    api = login(base_url, name)
    mutations = [
        api.create("customer", {"name": f"客户 {i}", "status": "lead"}) for i in range(500)
    ]
    body = json.dumps({"client_id": api.client_id, "mutations": mutations}).encode()
    release = threading.Event()

    def stalled_body() -> Iterator[bytes]:
        # The request stays in flight until the test has seen the shutdown begin.
        yield body[:4096]
        release.wait(60)
        yield body[4096:]

    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = api.http.post(
                "/api/v1/sync/push",
                content=stalled_body(),
                headers={"Content-Type": "application/json"},
            )
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(
            lambda: (
                metric(
                    base_url,
                    "outpost_http_requests_in_progress",
                    method="POST",
                    path="/api/v1/sync/push",
                )
                == 1.0
            ),
            "the server has the push in flight",
        )
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(base_url), "the server stops accepting")
    finally:
        release.set()
        sender.join(60)
    api.http.close()
    assert "error" not in outcome, outcome.get("error")
    response = outcome["response"]
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 500
    assert {r["status"] for r in results} == {"applied"}
    assert proc.wait(timeout=30) == 0
    assert count_customers(engine, [m["record_id"] for m in mutations]) == 500


def _worker_pids(pid: int) -> list[int]:
    """The uvicorn worker processes under ``serve`` (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        pytest.skip("needs Linux /proc to see the worker processes")
    found = []
    for child in children.read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            found.append(int(child))
    return found


def test_two_workers_apply_concurrent_pushes_exactly_once(
    db_url: str, engine: Engine, servers: Any, tmp_path: Path
) -> None:
    """``--workers 2``: two worker processes serve one database; 4 clients pushing at once
    (400 creates, plus concurrent edits of different fields of one shared customer) get
    every mutation applied exactly once; a replayed batch gets its first answers again;
    ``/metrics`` adds up both workers' counts."""
    metrics_parent = tmp_path / "tmp"
    metrics_parent.mkdir()
    proc, base_url = servers(db_url, "--workers", "2", env={"TMPDIR": str(metrics_parent)})
    wait_until(lambda: len(_worker_pids(proc.pid)) == 2, "two workers run")
    [metrics_dir] = metrics_parent.glob("outpost-metrics-*")

    names = add_users(engine, *[(Role.SALES, "east")] * 4)
    clients = [login(base_url, name) for name in names]
    shared_id, created = clients[0].new_customer("共享客户")
    # Into the unassigned pool, which every salesperson may edit.
    shared = clients[0].push_one(
        clients[0].update("customer", shared_id, created["version"], {"owner_id": (None, names[0])})
    )
    assert shared["status"] == "applied", shared
    fields = ["company", "city", "industry", "source"]

    def work(index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        api = clients[index]
        creates: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for batch in range(5):
            mutations = [
                api.create("customer", {"name": f"并发 {index}-{batch}-{n}", "status": "lead"})
                for n in range(20)
            ]
            if batch == 2:
                mutations.append(
                    api.update(
                        "customer",
                        shared_id,
                        shared["version"],
                        {fields[index]: (f"{fields[index]} {index}", None)},
                    )
                )
            creates.extend(m for m in mutations if m["op"] == "create")
            results.extend(api.push(mutations))
        return creates, results

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(work, range(4)))
    creates = [m for mine, _ in done for m in mine]
    results = [r for _, mine in done for r in mine]
    assert len(creates) == 400 and len(results) == 404
    assert {r["status"] for r in results} == {"applied"}, [
        r for r in results if r["status"] != "applied"
    ]

    first_batch, first_results = done[0][0][:20], done[0][1][:20]
    assert clients[0].push(first_batch) == first_results  # a retry changes nothing

    ids = [m["record_id"] for m in creates]
    assert count_customers(engine, ids) == 400
    audit = AuditEntry.__table__
    pushed = PushedMutation.__table__
    with read_transaction(engine) as conn:
        created_entries = conn.execute(
            select(func.count())
            .select_from(audit)
            .where(audit.c.record_id.in_(ids), audit.c.op == "create")
        ).scalar_one()
        decided = conn.execute(
            select(func.count())
            .select_from(pushed)
            .where(pushed.c.client_id.in_([c.client_id for c in clients]))
        ).scalar_one()
        record = conn.execute(select(_customers).where(_customers.c.id == shared_id)).one()
    assert created_entries == 400
    assert decided == 2 + 404  # the shared customer's create and release, then the rest
    assert record.version == 2 + 4
    for index, name in enumerate(fields):
        assert getattr(record, name) == f"{name} {index}"

    pushes = metric(
        base_url,
        "outpost_http_requests_total",
        method="POST",
        path="/api/v1/sync/push",
        status="200",
    )
    assert pushes == 2 + 4 * 5 + 1
    applied = metric(base_url, "outpost_mutations_total", status="applied")
    assert applied == 2 + 404 + 20
    assert list(metrics_dir.glob("*.db")), "the workers write no metrics files"
    for api in clients:
        api.http.close()
    assert stop_server(proc) == 0
    assert not metrics_dir.exists(), "serve leaves its metrics directory behind"


@pytest.mark.postgres
def test_two_servers_share_one_postgresql(pg_db_url: str, servers: Any) -> None:
    """Two server processes on one PostgreSQL act as one: a push to one is pulled from the
    other, a token from one works (and is revoked) on the other, and a lockout earned on
    one is enforced by the other."""
    # A long lockout, so that it cannot expire before the second server is asked.
    lockout = ("--login-lockout-seconds", "60")
    proc1, server1 = servers(pg_db_url, *lockout)
    proc2, server2 = servers(pg_db_url, *lockout)
    engine = create_server_engine(pg_db_url, pool_size=2)
    try:
        seller, manager, victim = add_users(
            engine, (Role.SALES, "east"), (Role.MANAGER, "east"), (Role.SALES, "east")
        )
    finally:
        engine.dispose()

    a = login(server1, seller)
    b = login(server2, manager)
    cursor = b.cursor_at_end()
    customer_id, created = a.new_customer("两台服务器", city="杭州")
    changes, _ = b.pull_all(cursor)
    [change] = [c for c in changes if c["id"] == customer_id]
    assert change["op"] == "upsert" and change["version"] == created["version"]
    assert change["record"]["city"] == "杭州"

    with httpx.Client(
        base_url=server2, headers={"Authorization": f"Bearer {a.token}"}, timeout=60
    ) as on_server2:
        me = on_server2.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["username"] == seller
        assert on_server2.post("/api/v1/auth/logout").status_code == 200
    gone = a.http.get("/api/v1/me")
    assert gone.status_code == 401 and gone.json()["code"] == "unauthorized"

    for _ in range(LOGIN_MAX_FAILURES):
        assert login_response(server1, victim, "wrong password").status_code == 401
    locked = login_response(server2, victim)
    assert locked.status_code == 429, locked.text
    assert locked.json()["code"] == "too_many_attempts"
    assert 30 < int(locked.headers["Retry-After"]) <= 60
    for api in (a, b):
        api.http.close()
    assert stop_server(proc1) == 0
    assert stop_server(proc2) == 0


def test_https_with_a_certificate(tmp_path: Path, servers: Any) -> None:
    """``--tls-cert/--tls-key`` serve HTTPS: the printed URL is https, a client trusting the
    certificate gets answers, one with default verification refuses the self-signed one."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    db_url = f"sqlite:///{tmp_path / 'tls.sqlite3'}"
    _, base_url = servers(db_url, "--tls-cert", str(cert), "--tls-key", str(key))
    assert base_url.startswith("https://127.0.0.1:")

    trusting = ssl.create_default_context(cafile=str(cert))
    response = httpx.get(f"{base_url}/api/v1/health", verify=trusting, timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{base_url}/api/v1/health", timeout=10)
    with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port gets no answer
        httpx.get(base_url.replace("https://", "http://") + "/api/v1/health", timeout=10)


def test_serve_refuses_bad_options_and_a_busy_port(tmp_path: Path) -> None:
    """``--tls-cert`` without ``--tls-key`` exits 2 with a message; a port already in use
    exits 1 saying it cannot listen (no traceback either way)."""
    db_url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve = [sys.executable, "-m", "server.main", "serve", "--db", db_url]
        procs = [
            subprocess.Popen(
                [*serve, "--tls-cert", str(tmp_path / "cert.pem"), "--port", "0"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ),
            subprocess.Popen(
                [*serve, "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ),
        ]  # fmt: skip
        try:
            (tls_out, tls_err), (busy_out, busy_err) = (p.communicate(timeout=60) for p in procs)
        finally:
            for proc in procs:
                if proc.poll() is None:  # it did not refuse: do not leave it running
                    proc.kill()
                    proc.wait()
    assert procs[0].returncode == 2, tls_out + tls_err
    assert tls_err == "outpost-server: --tls-cert and --tls-key go together\n"
    assert procs[1].returncode == 1, busy_out + busy_err
    assert busy_err.startswith(f"outpost-server: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in busy_err and "listening on" not in busy_out
