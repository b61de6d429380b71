"""The sync engine under faults, end to end: real client profiles talk to the real server
(SQLite and PostgreSQL) through a loopback proxy that drops, delays, cuts or corrupts
responses (``tests/helpers/fault_proxy.py``), with servers stopped and restarted and a
client killed with SIGKILL in the middle of a long initial sync.

What must hold every time: nothing lost, nothing applied twice (the server's audit log has
exactly one entry per mutation id), the queue neither emptied nor reordered by an error,
the replica and its cursor untouched by a reply that is not the protocol — and once the
fault is gone, everything converges.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from server.accounts import Role
from server.db import create_server_engine, write_transaction
from server.models import TABLE_BY_ENTITY as SERVER_TABLES
from server.seed import load_records
from sync.engine import Backoff, SyncEngine, SyncState, SyncStatus
from sync.replica import Replica
from sync.replica_models import TABLE_BY_ENTITY as REPLICA_TABLES
from sync.transport import (
    OfflineError,
    ProtocolError,
    ServerClient,
    ServerConfig,
    TransportError,
)
from tests.helpers.fault_proxy import PULL, PUSH, Fault, FaultProxy
from tests.helpers.sync_devices import (
    Device,
    assert_agree,
    audit_counts,
    open_device,
    seed_users,
    server_record,
)
from tests.server.conftest import (
    BACKENDS,
    CAST,
    PASSWORD,
    LiveServer,
    fresh_database_url,
    start_server,
    stop_server,
)

MakeDevice = Callable[..., Device]
ROOT = Path(__file__).resolve().parents[2]
KILL_ROUNDS = int(os.environ.get("OUTPOST_SYNC_KILL_ROUNDS", "2"))
KILL_CUSTOMERS = int(os.environ.get("OUTPOST_SYNC_KILL_CUSTOMERS", "1500"))


@dataclass
class Pair:
    """Two signed-in devices kept for the whole module (per backend): ``a`` (s1) talks
    through the fault proxy, ``b`` (m_east, who sees s1's customers) straight to the
    server. Every test leaves them converged."""

    proxy: FaultProxy
    a: Device
    b: Device


@pytest.fixture(scope="module")
def pair_once(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp(f"pair-{live_server.backend}")
    with FaultProxy(live_server.base_url) as proxy:
        a = open_device(root, "a", proxy.url, "s1", PASSWORD)
        b = open_device(root, "b", live_server.base_url, "m_east", PASSWORD)
        try:
            yield Pair(proxy, a, b)
        finally:
            a.close()
            b.close()


@pytest.fixture
def pair(pair_once: Pair, server: LiveServer) -> Iterator[Pair]:
    """The module's devices (each test leaves them converged), with the proxy passing
    everything to start."""
    pair_once.proxy.clear()
    yield pair_once
    pair_once.proxy.clear()


@pytest.fixture
def make_device(tmp_path: Path) -> Iterator[MakeDevice]:
    """``make_device("a", url, "s1", timeout=..., pull_limit=...)``: a new profile."""
    opened: list[Device] = []

    def make(name: str, url: str, user: str, **options: Any) -> Device:
        device = open_device(tmp_path, name, url, user, PASSWORD, **options)
        opened.append(device)
        return device

    yield make
    for device in opened:
        device.close()


def _customer(device: Device, name: str, **values: Any) -> str:
    return device.replica.customers.create({"name": name, "status": "lead", **values}).record_id


def _ids(device: Device) -> list[str]:
    return [m.mutation_id for m in device.outbox()]


def _pushed_ids(exchange_body: Any) -> list[str]:
    return [m["mutation_id"] for m in exchange_body["mutations"]]


# --- lost and late answers -----------------------------------------------------------------


def test_dropped_push_response_is_retried_with_the_same_ids_and_applied_once(
    server: LiveServer, pair: Pair
) -> None:
    """The server applies a push but its answer never arrives (the connection closes).
    The queue stays as it was; the next sync sends the same mutation ids again, the server
    answers from what it stored, and every edit was applied exactly once."""
    proxy, a = pair.proxy, pair.a
    first = _customer(a, "丢包客户一", city="杭州")
    second = _customer(a, "丢包客户二", city="杭州")
    a.sync()
    a.replica.customers.update(first, {"city": "苏州"})
    contact = a.replica.contacts.create({"customer_id": first, "name": "赵六"}).record_id
    a.replica.customers.update(second, {"level": "A"})
    a.replica.customers.update(first, {"notes": "第二次修改"})
    queue = a.queue()
    ids = _ids(a)

    proxy.add(Fault.drop(), path=PUSH)
    with pytest.raises(OfflineError, match="cannot reach the server"):
        a.sync()
    assert a.engine.status.state == SyncState.OFFLINE
    assert a.queue() == queue
    assert audit_counts(server.engine, ids) == dict.fromkeys(ids, 1)  # applied, answer lost

    report = a.sync()
    assert (report.pushed, report.applied, report.conflicts) == (4, 4, 0)
    lost, retried = proxy.seen(PUSH)[-2:]
    assert _pushed_ids(lost.json()) == _pushed_ids(retried.json()) == ids
    assert audit_counts(server.engine, ids) == dict.fromkeys(ids, 1)
    assert server_record(server.engine, "customer", first)["version"] == 3  # type: ignore[index]
    assert server_record(server.engine, "customer", second)["version"] == 2  # type: ignore[index]
    assert_agree(
        server.engine, [a], [("customer", first), ("customer", second), ("contact", contact)]
    )


def test_answers_later_than_the_client_timeout_keep_the_queue(
    server: LiveServer, pair: Pair, make_device: MakeDevice
) -> None:
    """A push answered after the client gave up (the server did apply it), then a pull
    that never gets an answer: both are OfflineError with the queue intact (same rows, same
    order) and the cursor where it was; the next sync succeeds, each edit applied once."""
    proxy = pair.proxy
    a = make_device("a", proxy.url, "s1", timeout=httpx.Timeout(1.0))
    cid = _customer(a, "超时客户", city="杭州")
    a.sync()
    a.replica.customers.update(cid, {"city": "扬州"})
    a.replica.contacts.create({"customer_id": cid, "name": "钱七"})
    queue = a.queue()
    ids = _ids(a)

    proxy.add(Fault.delay(2.5), path=PUSH)
    with pytest.raises(OfflineError, match="did not answer in time"):
        a.sync()
    assert a.queue() == queue
    assert [m.attempts for m in a.outbox()] == [1, 1]

    snapshot = a.snapshot()
    proxy.add(Fault.hang(5), path=PULL)
    proxy.add(Fault.passing(), path=PUSH)
    # The retried push is answered (from the server's store), the pull hangs.
    with pytest.raises(OfflineError, match="did not answer in time"):
        a.sync()
    assert a.outbox() == [] and a.cursor() == snapshot["cursor"]

    report = a.sync()
    assert report.pulled >= 2
    assert audit_counts(server.engine, ids) == dict.fromkeys(ids, 1)
    assert_agree(server.engine, [a], [("customer", cid)])


# --- replies that are not the protocol ----------------------------------------------------


def _other_ids(body: dict[str, Any]) -> dict[str, Any]:
    for result in body["results"]:
        result["mutation_id"] += "-x"
    return body


def _bad_status(body: dict[str, Any]) -> dict[str, Any]:
    body["results"][0]["status"] = "maybe"
    return body


def _spoil(entity: str, **values: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Spoil the page's last record of ``entity``; the page's other changes stay valid,
    and none of them may be applied either."""

    def transform(body: dict[str, Any]) -> dict[str, Any]:
        assert len(body["changes"]) >= 2, body
        last = [c for c in body["changes"] if c["entity"] == entity][-1]
        last["record"].update(values)
        return body

    return transform


def _bad_op(body: dict[str, Any]) -> dict[str, Any]:
    body["changes"][0]["op"] = "merge"
    return body


# (name, path, fault, error class, words in the message)
FAULTS: list[tuple[str, str, Fault, type[TransportError], str]] = [
    ("push-cut", PUSH, Fault.cut(), OfflineError, "cannot reach the server"),
    ("push-garbage", PUSH, Fault.garbage(), ProtocolError, "not JSON"),
    ("push-no-results", PUSH, Fault.json({"ok": True}), ProtocolError, "results"),
    ("push-other-ids", PUSH, Fault.json(transform=_other_ids), ProtocolError, "other mutations"),
    ("push-bad-status", PUSH, Fault.json(transform=_bad_status), ProtocolError, "status"),
    ("push-500", PUSH, Fault.answer(500), OfflineError, "500"),
    ("push-503", PUSH, Fault.answer(503), OfflineError, "503"),
    ("pull-cut", PULL, Fault.cut(0.3), OfflineError, "cannot reach the server"),
    ("pull-garbage", PULL, Fault.garbage(), ProtocolError, "not JSON"),
    ("pull-empty", PULL, Fault.json(transform=lambda body: {}), ProtocolError, "changes"),
    ("pull-bad-op", PULL, Fault.json(transform=_bad_op), ProtocolError, "op"),
    ("pull-bad-date", PULL, Fault.json(transform=_spoil("contact", updated_at="yesterday")),
     ProtocolError, "updated_at"),
    ("pull-bad-type", PULL, Fault.json(transform=_spoil("customer", name=["a", "b"])),
     ProtocolError, "name: expected a string"),
    ("pull-bad-choice", PULL, Fault.json(transform=_spoil("customer", status="bogus")),
     ProtocolError, "status: 'bogus' is not one of"),
    ("pull-no-name", PULL, Fault.json(transform=_spoil("contact", name=None)),
     ProtocolError, "name is missing"),
    ("pull-502", PULL, Fault.answer(502), OfflineError, "502"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "fault", "error", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in FAULTS],
)
def test_a_bad_reply_changes_nothing_and_the_next_sync_converges(
    server: LiveServer,
    pair: Pair,
    path: str,
    fault: Fault,
    error: type[TransportError],
    words: str,
) -> None:
    """A cut, garbage, wrong-shaped or failing reply to a push (with edits queued) or to a
    pull (with changes waiting on the server) raises a clear error; the queue, the
    records, the open conflicts and the cursor are exactly as before. With the proxy
    passing again, the next sync completes and the device agrees with the server."""
    proxy, a, b = pair.proxy, pair.a, pair.b
    cid = _customer(a, "坏回复客户", city="杭州")
    a.sync()
    b.sync()
    if path == PUSH:
        a.replica.customers.update(cid, {"city": "绍兴"})
        a.replica.contacts.create({"customer_id": cid, "name": "孙八"})
    else:
        b.replica.customers.update(cid, {"level": "B"})
        b.replica.contacts.create({"customer_id": cid, "name": "周九"})
        b.sync()
    ids = _ids(a)
    before = a.snapshot()

    proxy.add(fault, path=path)
    with pytest.raises(error, match=words) as caught:
        a.sync()
    assert str(caught.value)
    expected_state = SyncState.OFFLINE if error is OfflineError else SyncState.ERROR
    assert a.engine.status.state == expected_state
    assert a.engine.status.message == str(caught.value)
    assert a.snapshot() == before

    report = a.sync()
    assert report.conflicts == report.rejected == 0
    if ids:
        assert audit_counts(server.engine, ids) == dict.fromkeys(ids, 1)
    b.sync()
    contacts = [("contact", r.id) for r in a.replica.contacts.query()]
    assert_agree(server.engine, [a, b], [("customer", cid), *contacts])
    assert a.engine.status.state == SyncState.ONLINE


def test_retry_after_of_a_429_is_honoured_by_the_backoff(pair: Pair) -> None:
    """A 429 with ``Retry-After`` is an OfflineError carrying the delay; the backoff waits
    at least that long (within its cap), and the background loop hands it over."""
    proxy, a = pair.proxy, pair.a
    proxy.add(Fault.answer(429, headers={"Retry-After": "7"}), path=PULL)
    with pytest.raises(OfflineError, match="429") as caught:
        a.sync()
    assert caught.value.retry_after == 7.0
    backoff = Backoff(rng=random.Random(5))
    assert all(backoff.next_delay(7.0) >= 7.0 for _ in range(3))
    assert Backoff(cap=5.0).next_delay(7.0) == 5.0
    assert Backoff(rng=random.Random(5)).next_delay() <= 2.0

    stop = threading.Event()
    delays: list[tuple[float | None, float]] = []

    class Recording(Backoff):
        def next_delay(self, retry_after: float | None = None) -> float:
            delays.append((retry_after, super().next_delay(retry_after)))
            stop.set()
            return 0.0

    proxy.add(Fault.answer(429, headers={"Retry-After": "30"}), path=PULL)
    a.engine.run(stop, interval=600, backoff=Recording())
    ((retry_after, delay),) = delays
    assert retry_after == 30.0 and delay >= 30.0
    assert a.engine.status.state == SyncState.OFFLINE


def test_a_sync_asked_for_during_a_sync_is_not_lost(pair: Pair) -> None:
    """``request_sync()`` while the background loop is syncing (a local edit made during
    a sync) starts another sync at once, not after the interval."""
    a = pair.b
    stop = threading.Event()
    finished: list[SyncStatus] = []

    def listener(status: SyncStatus) -> None:
        if status.state == SyncState.SYNCING and not finished:
            a.engine.request_sync()
        elif status.state == SyncState.ONLINE:
            finished.append(status)
            if len(finished) == 2:
                stop.set()
                a.engine.request_sync()

    a.engine.add_listener(listener)
    loop = threading.Thread(target=a.engine.run, args=(stop,), kwargs={"interval": 600})
    loop.start()
    loop.join(timeout=15)
    stopped = not loop.is_alive()
    if not stopped:
        stop.set()
        a.engine.request_sync()
        loop.join()
    a.engine.remove_listener(listener)
    assert stopped and len(finished) == 2


# --- servers that go away ------------------------------------------------------------------


@dataclass
class OwnServer:
    """A server process of the test's own on a fresh database; it can be stopped and
    started again (on a new port) on the same database."""

    db_url: str
    log_path: Path
    engine: Engine
    process: subprocess.Popen[str] | None = None
    base_url: str = ""

    def start(self) -> str:
        self.process, self.base_url = start_server(self.db_url, self.log_path)
        return self.base_url

    def stop(self) -> None:
        assert self.process is not None
        assert stop_server(self.process) == 0

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


BULK_USER = "bulk"


@pytest.fixture(scope="module", params=BACKENDS)
def own_server_once(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OwnServer]:
    tmp = tmp_path_factory.mktemp(f"own-{request.param}")
    db_url = fresh_database_url(request.param, tmp, request)
    engine = create_server_engine(db_url, pool_size=2)
    own = OwnServer(db_url, tmp / "server.log", engine)
    own.start()  # creates the schema
    seed_users(engine, {**CAST, BULK_USER: (Role.SALES, "bulk")}, PASSWORD)
    try:
        yield own
    finally:
        if own.process is not None and own.process.poll() is None:
            own.stop()
        engine.dispose()


@pytest.fixture
def own_server(own_server_once: OwnServer) -> OwnServer:
    """A server of this module's own (per backend) on a fresh database, running. The
    tests on it keep to their own users: s1 / m_east, or :data:`BULK_USER`."""
    if own_server_once.process is None or own_server_once.process.poll() is not None:
        own_server_once.start()
    return own_server_once


@pytest.mark.slow
def test_server_stopped_mid_sync_and_restarted_loses_and_doubles_nothing(
    own_server: OwnServer, make_device: MakeDevice
) -> None:
    """The server dies (SIGKILL) right after applying the second of three push batches,
    before answering; later it is stopped (SIGTERM) between two pages of another device's
    pull. Each time it comes back on the same database: the pushes resume with the
    unanswered batch (same mutation ids, applied once), the pull resumes at the first page
    not applied, and both devices end with exactly the server's records."""
    with FaultProxy(own_server.base_url) as proxy:
        a = make_device("a", proxy.url, "s1", push_batch=5)
        b = make_device("b", proxy.url, "m_east", pull_limit=5)
        customers = [_customer(a, f"重启客户{i:02}", city="杭州") for i in range(12)]
        contacts = [
            a.replica.contacts.create({"customer_id": c, "name": f"联系人{i}"}).record_id
            for i, c in enumerate(customers[:3])
        ]
        ids = _ids(a)
        assert len(ids) == 15

        proxy.add(Fault.drop(after_forward=own_server.kill), path=PUSH, skip=1)
        with pytest.raises(OfflineError):
            a.sync()
        assert _ids(a) == ids[5:]  # the first batch was answered, the second was not
        with pytest.raises(OfflineError, match="502"):  # still down: the proxy says so
            a.sync()
        assert _ids(a) == ids[5:]

        proxy.set_upstream(own_server.start())
        report = a.sync()
        assert (report.pushed, report.applied) == (10, 10)
        assert audit_counts(own_server.engine, ids) == dict.fromkeys(ids, 1)

        proxy.add(Fault.drop(after_forward=own_server.stop), path=PULL, skip=1)
        with pytest.raises(OfflineError):
            b.sync()
        assert b.replica.customers.count() == 5  # one page of five applied
        proxy.set_upstream(own_server.start())
        report = b.sync()
        assert report.pulled == 10 and report.pages <= 3  # after a full page: one empty one

        records = [("customer", c) for c in customers] + [("contact", c) for c in contacts]
        assert_agree(own_server.engine, [a, b], records)
        assert audit_counts(own_server.engine, ids) == dict.fromkeys(ids, 1)
        for device in (a, b):
            assert device.replica.check_integrity() == []


def _seed_bulk(engine: Engine, customers: int) -> int:
    """``customers`` customers of :data:`BULK_USER`, each with a contact and a follow-up;
    returns the number of records."""

    def work(conn: Any) -> None:
        ids = load_records(
            conn,
            "customer",
            [
                {
                    "name": f"批量客户{i:05}",
                    "status": "active",
                    "city": "上海",
                    "owner_id": BULK_USER,
                }
                for i in range(customers)
            ],
            by="admin",
            audit=False,
        )
        load_records(
            conn,
            "contact",
            [{"customer_id": c, "name": f"联系人{i}"} for i, c in enumerate(ids)],
            by="admin",
            audit=False,
        )
        load_records(
            conn,
            "follow_up",
            [
                {
                    "customer_id": c,
                    "kind": "call",
                    "content": f"第{i}次电话",
                    "happened_at": "2026-05-01T10:00:00+08:00",
                }
                for i, c in enumerate(ids)
            ],
            by="admin",
            audit=False,
        )

    write_transaction(engine, work)
    return customers * 3


def _local_count(path: Path) -> int:
    """Records committed in the replica at ``path`` (read by a separate connection)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {REPLICA_TABLES[e].name}").fetchone()[0]
            for e in ("customer", "contact", "follow_up")
        )


@pytest.mark.slow
def test_initial_sync_killed_with_sigkill_resumes_where_it_stopped(
    own_server: OwnServer, tmp_path: Path
) -> None:
    """A long initial sync (customers with contacts and follow-ups, 100 records a page) in
    a child process is killed with SIGKILL at random points after a few pages, several
    times. Each run starts where the last one's committed pages end, and the final run
    (in this process) pulls only what is left: the replica ends with exactly the server's
    records and versions, and passes the integrity check."""
    total = _seed_bulk(own_server.engine, KILL_CUSTOMERS)
    limit = 100
    profile = tmp_path / "bulk"
    Replica.open(profile).close()  # the file exists, so the progress can be watched
    replica_file = profile / "replica.sqlite3"
    seed = int(os.environ.get("OUTPOST_SYNC_KILL_SEED", str(random.randrange(10**6))))
    rng = random.Random(seed)
    committed = [0]
    cmd = [
        sys.executable, "-m", "tests.helpers.sync_child", str(profile), own_server.base_url,
        BULK_USER, PASSWORD, str(limit),
    ]  # fmt: skip
    for round_ in range(KILL_ROUNDS):
        # Somewhere in this round's slice of the feed, a few pages past where we are.
        low = committed[-1] + 3 * limit
        high = max(low + limit, total * (round_ + 1) // (KILL_ROUNDS + 1))
        target = rng.randrange(low, high)
        child = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        try:
            while _local_count(replica_file) < target:
                assert child.poll() is None, (seed, child.communicate())
                assert time.monotonic() < deadline, f"no progress (seed {seed})"
                time.sleep(0.002)
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        assert '"done"' not in out, f"the child finished before the kill (seed {seed})"
        now = _local_count(replica_file)
        # Whole pages only (the page being applied at the kill is rolled back), none lost.
        assert now % limit == 0 and target <= now < total, (seed, now)
        committed.append(now)
        # What this run pulled is what it added: it went on from the last run's cursor.
        pulled = [json.loads(line)["pulled"] for line in out.splitlines()]
        gained = now - committed[-2]
        assert pulled and pulled[-1] in (gained, gained - limit), (seed, pulled, committed)

    replica = Replica.open(profile)
    try:
        with ServerClient(ServerConfig(own_server.base_url)) as client:
            client.login(BULK_USER, PASSWORD, "after-the-kills")
            report = SyncEngine(replica, client, pull_limit=limit).sync_once()
        left = total - committed[-1]
        assert report.pulled == left, (seed, committed)
        assert report.pages <= left // limit + 1
        assert committed[-1] > 0

        customers = SERVER_TABLES["customer"]
        mine = select(customers.c.id).where(customers.c.owner_id == BULK_USER)
        for entity in ("customer", "contact", "follow_up"):
            server_table = SERVER_TABLES[entity]
            column = server_table.c.id if entity == "customer" else server_table.c.customer_id
            with own_server.engine.connect() as conn:
                expected = set(
                    conn.execute(
                        select(server_table.c.id, server_table.c.version).where(column.in_(mine))
                    )
                )
            assert len(expected) == KILL_CUSTOMERS
            local_table = REPLICA_TABLES[entity]
            with replica.read() as conn:
                held = set(conn.execute(select(local_table.c.id, local_table.c.version)))
            assert held == expected, entity
        assert replica.check_integrity() == []
        assert replica.customers.count() == KILL_CUSTOMERS
    finally:
        replica.close()
