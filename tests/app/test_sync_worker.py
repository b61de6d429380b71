"""The background sync worker against the real server (SQLite backend): a server process
of this module's own on a fixed port, so it can be stopped and started again at the same
address, and the loopback fault proxy where requests must be counted or held.

Every controller is stopped in teardown; the tests wait on signals, never sleep.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtNetwork import QNetworkInformation
from pytestqt.qtbot import QtBot

from app.events import DataEvents
from app.sync_worker import THREAD_NAME, SyncController, describe_sync_error
from sync.account import ServerProfile, SignIn, sign_in
from sync.engine import SyncReport, SyncState, SyncStatus
from sync.replica import Replica
from sync.transport import (
    AuthError,
    CertificateError,
    OfflineError,
    ProtocolError,
    RequestRejected,
)
from tests.helpers.fault_proxy import PUSH, Fault, FaultProxy
from tests.helpers.fixed_port_server import FixedPortServer, running_server
from tests.helpers.sync_devices import audit_counts, server_record
from tests.server.conftest import PASSWORD

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixedPortServer]:
    tmp = tmp_path_factory.mktemp("sync-worker-server")
    with running_server(tmp) as server:
        yield server


@pytest.fixture
def server(own_server: FixedPortServer) -> FixedPortServer:
    """The module's server, running (a test may have left it stopped)."""
    if not own_server.running():
        own_server.start()
    return own_server


@pytest.fixture
def signed_in(replica: Replica, server: FixedPortServer) -> SignIn:
    """The test's replica signed in as s1 (a device token of its own, not remembered)."""
    return sign_in(replica, server.url, "s1", PASSWORD, device="pytest-app", remember=False)


@pytest.fixture
def events() -> DataEvents:
    return DataEvents()


@pytest.fixture
def controller(qtbot: QtBot, replica: Replica, events: DataEvents) -> Iterator[SyncController]:
    sync = SyncController(replica, events, edit_debounce_ms=50)
    try:
        yield sync
    finally:
        sync.stop()
        assert not sync.is_running()


def _other_device_creates_customer(server: FixedPortServer, name: str) -> str:
    """A customer made on the server by another device of s1 (plain HTTP)."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        reply = http.post(
            "/api/v1/auth/login",
            json={"username": "s1", "password": PASSWORD, "device_name": "pytest-other"},
        )
        assert reply.status_code == 200, reply.text
        http.headers["Authorization"] = f"Bearer {reply.json()['token']}"
        record_id = str(uuid.uuid4())
        mutation = {
            "mutation_id": f"other-{uuid.uuid4().hex}",
            "entity": "customer",
            "record_id": record_id,
            "op": "create",
            "base_version": 0,
            "fields": {k: {"new": v, "base": None} for k, v in {"name": name}.items()},
        }
        pushed = http.post(
            "/api/v1/sync/push", json={"client_id": "pytest-other", "mutations": [mutation]}
        )
        assert pushed.status_code == 200 and pushed.json()["results"][0]["status"] == "applied"
    return record_id


def _state(controller: SyncController, state: SyncState, **counts: int) -> bool:
    status = controller.status
    return status.state is state and all(getattr(status, k) == v for k, v in counts.items())


def _start_and_wait_online(
    qtbot: QtBot, controller: SyncController, profile: ServerProfile, token: str
) -> None:
    with qtbot.waitSignal(controller.sig_finished, timeout=WAIT_MS):
        controller.start(profile, token, interval_s=60)
    qtbot.waitUntil(lambda: _state(controller, SyncState.ONLINE), timeout=WAIT_MS)


def _worker_os_threads() -> list[str]:
    """The OS threads named like the sync worker (Qt names them after the QThread)."""
    tasks = Path("/proc/self/task")
    found = []
    for task in tasks.iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # ended while we looked
        if name == THREAD_NAME:
            found.append(task.name)
    return found


# --- the happy path ---------------------------------------------------------------------


def test_start_syncs_the_replica_and_announces_the_changes(
    qtbot: QtBot,
    controller: SyncController,
    replica: Replica,
    events: DataEvents,
    server: FixedPortServer,
    signed_in: SignIn,
) -> None:
    """Started, the worker syncs at once in its own thread: the replica receives the
    server's records, the status goes syncing → online with nothing pending, and every
    entity is announced (in the GUI thread) so lists refresh."""
    customer_id = _other_device_creates_customer(server, "后台同步客户")
    statuses: list[SyncStatus] = []
    progress: list[tuple[int, int | None]] = []
    announced: list[tuple[str, Any, bool]] = []
    controller.sig_status.connect(statuses.append)
    controller.sig_progress.connect(lambda done, total: progress.append((done, total)))
    events.sig_records_changed.connect(
        lambda entity, ids: announced.append(
            (entity, ids, threading.current_thread() is threading.main_thread())
        )
    )

    _start_and_wait_online(qtbot, controller, signed_in.profile, signed_in.token)

    assert controller.is_running()
    assert replica.customers.get(customer_id) is not None
    assert SyncState.SYNCING in [s.state for s in statuses]
    assert progress and progress[-1][0] >= 1  # records applied by the running sync
    assert (controller.status.pending, controller.status.failed) == (0, 0)
    assert controller.status.last_success is not None
    assert {"customer", "contact", "follow_up", "deal"} <= {e for e, _, _ in announced}
    assert all(ids is None and in_gui for _, ids, in_gui in announced)


def test_an_edit_is_pushed_after_the_debounce(
    qtbot: QtBot,
    controller: SyncController,
    replica: Replica,
    server: FixedPortServer,
    signed_in: SignIn,
) -> None:
    """An edit shows as pending at once and reaches the server once the debounce ends."""
    _start_and_wait_online(qtbot, controller, signed_in.profile, signed_in.token)

    record_id = replica.customers.create({"name": "防抖客户", "status": "lead"}).record_id
    controller.schedule_sync_after_edit()
    assert controller.status.pending == 1

    qtbot.waitUntil(
        lambda: (
            _state(controller, SyncState.ONLINE, pending=0)
            and server_record(server.engine, "customer", record_id) is not None
        ),
        timeout=WAIT_MS,
    )


# --- the server going away --------------------------------------------------------------


def test_server_down_keeps_the_edits_and_sends_them_when_it_is_back(
    qtbot: QtBot,
    controller: SyncController,
    replica: Replica,
    server: FixedPortServer,
    signed_in: SignIn,
) -> None:
    """With the server stopped a sync fails in plain words and the state is offline; the
    edit stays pending. The server back at the same address and the network reported
    online again, the edit is sent (once)."""
    _start_and_wait_online(qtbot, controller, signed_in.profile, signed_in.token)
    server.stop()

    record_id = replica.customers.create({"name": "断网客户", "status": "lead"}).record_id
    with qtbot.waitSignal(controller.sig_failed, timeout=WAIT_MS) as failed:
        controller.request_sync()
    text, details = failed.args
    assert text.startswith("The server cannot be reached. Your edits are kept")
    assert "Connection refused" not in text and "Error" not in text
    assert "OfflineError" in details and server.url in details
    qtbot.waitUntil(lambda: _state(controller, SyncState.OFFLINE, pending=1), timeout=WAIT_MS)
    assert controller.is_running()  # still retrying, with backoff
    assert replica.customers.get(record_id) is not None

    server.start()
    # What the OS's network information says when the connection comes back.
    controller._on_reachability_changed(QNetworkInformation.Reachability.Online)
    qtbot.waitUntil(lambda: _state(controller, SyncState.ONLINE, pending=0), timeout=WAIT_MS)
    assert server_record(server.engine, "customer", record_id) is not None
    with replica.read() as conn:
        mutation_ids = [
            r[0] for r in conn.exec_driver_sql("SELECT mutation_id FROM outbox").fetchall()
        ]
    assert mutation_ids == []


def test_a_revoked_token_asks_for_sign_in_and_stops_the_worker(
    qtbot: QtBot, controller: SyncController, server: FixedPortServer, signed_in: SignIn
) -> None:
    """A 401 ends the loop: the state is "sign in needed", the thread ends, and asking
    for a sync does nothing until the app starts it again with a new token."""
    _start_and_wait_online(qtbot, controller, signed_in.profile, signed_in.token)
    thread = controller.worker_thread
    assert thread is not None
    revoked = httpx.post(
        f"{server.url}/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {signed_in.token}"},
        timeout=10,
    )
    assert revoked.status_code == 200

    with qtbot.waitSignal(controller.sig_failed, timeout=WAIT_MS) as failed:
        controller.request_sync()
    assert failed.args[0] == "Sign in again to sync (your edits are kept)."
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=WAIT_MS)
    assert controller.status.state is SyncState.NEEDS_SIGN_IN
    assert thread.isFinished() and controller.worker_thread is None
    controller.request_sync()  # nothing to wake: ignored
    controller.set_work_offline(True)
    controller.set_work_offline(False)  # the refused token is not tried again
    assert not controller.is_running()


def test_not_signed_in_shows_the_state_without_a_thread(
    qtbot: QtBot, controller: SyncController
) -> None:
    with qtbot.waitSignal(controller.sig_failed) as failed:
        controller.set_needs_sign_in("This profile is not signed in to a server.")
    assert failed.args == ["This profile is not signed in to a server.", ""]
    assert controller.status.state is SyncState.NEEDS_SIGN_IN
    assert controller.worker_thread is None and not controller.is_running()


# --- working offline and stopping -------------------------------------------------------


def test_work_offline_makes_no_requests_and_turning_it_off_syncs_at_once(
    qtbot: QtBot,
    controller: SyncController,
    replica: Replica,
    server: FixedPortServer,
    signed_in: SignIn,
) -> None:
    """Working offline stops the worker: edits, F5, the debounce and the network coming
    back make no request at all (counted at a proxy in front of the server). Turned off,
    it syncs at once."""
    with FaultProxy(server.url) as proxy:
        profile = ServerProfile(proxy.url, "s1")
        _start_and_wait_online(qtbot, controller, profile, signed_in.token)
        with qtbot.waitSignal(controller.sig_status) as shown:
            controller.set_work_offline(True)
        assert shown.args[0].state is SyncState.OFFLINE and controller.work_offline
        assert not controller.is_running() and controller.worker_thread is None
        requests = len(proxy.seen())

        replica.customers.create({"name": "离线工作客户", "status": "lead"})
        controller.schedule_sync_after_edit()
        controller.request_sync()
        controller._on_reachability_changed(QNetworkInformation.Reachability.Online)
        qtbot.wait(300)  # several debounce periods: nothing may happen in them
        assert len(proxy.seen()) == requests
        assert _state(controller, SyncState.OFFLINE, pending=1)

        controller.set_work_offline(False)
        assert controller.is_running()
        qtbot.waitUntil(lambda: _state(controller, SyncState.ONLINE, pending=0), timeout=WAIT_MS)
        assert [e.path for e in proxy.seen(PUSH)][-1:] == [PUSH]
        assert len(proxy.seen()) > requests


def test_stop_cuts_a_hanging_request_quickly_and_loses_nothing(
    qtbot: QtBot,
    controller: SyncController,
    replica: Replica,
    server: FixedPortServer,
    signed_in: SignIn,
) -> None:
    """The server never answers a push: stop() still returns within a moment (it does not
    wait for the 60 s read timeout), no thread of the worker is left, no error is shown
    for the cut request, and the edit is still queued: the next start sends it, once."""
    record_id = replica.customers.create({"name": "挂起客户", "status": "lead"}).record_id
    with replica.read() as conn:
        (mutation_id,) = conn.exec_driver_sql("SELECT mutation_id FROM outbox").scalars()
    failures: list[tuple[str, str]] = []
    controller.sig_failed.connect(lambda text, details: failures.append((text, details)))
    with FaultProxy(server.url) as proxy:
        proxy.add(Fault.hang(60), path=PUSH)
        profile = ServerProfile(proxy.url, "s1")
        controller.start(profile, signed_in.token, interval_s=60)
        thread = controller.worker_thread
        assert thread is not None
        qtbot.waitUntil(lambda: any(e.fault == "hang" for e in proxy.seen(PUSH)), timeout=WAIT_MS)
        assert controller.status.state is SyncState.SYNCING

        started = time.monotonic()
        controller.stop()
        elapsed = time.monotonic() - started

        assert elapsed < 3, f"stop() took {elapsed:.1f} s"
        assert not controller.is_running() and controller.worker_thread is None
        assert thread.isFinished() and not thread.isRunning()
        alive = [t.name for t in threading.enumerate() if t.name.startswith("outpost")]
        assert alive == []
        if os.path.isdir("/proc/self/task"):
            assert _worker_os_threads() == []
        qtbot.wait(50)  # let anything the worker had queued arrive: it must be ignored
        assert failures == []
        assert controller.status.state is SyncState.OFFLINE
        assert controller.status.pending == 1

        _start_and_wait_online(qtbot, controller, profile, signed_in.token)
        assert controller.status.pending == 0
    assert server_record(server.engine, "customer", record_id) is not None
    assert audit_counts(server.engine, [mutation_id]) == {mutation_id: 1}


def test_set_interval_and_restart_keep_one_worker(
    qtbot: QtBot, controller: SyncController, server: FixedPortServer, signed_in: SignIn
) -> None:
    """A short interval syncs on its own; start() again (a new token) replaces the worker
    instead of adding a second one."""
    _start_and_wait_online(qtbot, controller, signed_in.profile, signed_in.token)
    first = controller.worker_thread
    with qtbot.waitSignal(controller.sig_finished, timeout=WAIT_MS):
        controller.set_interval(0.1)  # nobody asks: the timer syncs
    controller.start(signed_in.profile, signed_in.token, interval_s=60)
    assert first is not None and first.isFinished()
    assert controller.worker_thread is not first and controller.is_running()
    qtbot.waitUntil(lambda: _state(controller, SyncState.ONLINE), timeout=WAIT_MS)
    if os.path.isdir("/proc/self/task"):
        assert len(_worker_os_threads()) == 1


def test_a_burst_of_changes_refreshes_the_lists_at_most_twice_a_second(
    qtbot: QtBot,
    controller: SyncController,
    events: DataEvents,
    server: FixedPortServer,
    signed_in: SignIn,
) -> None:
    """Pages applied in quick succession (what the worker reports during a long initial
    sync) refresh the lists at once, then at most every 500 ms, and once more at the end
    of the sync; never once per page."""
    _start_and_wait_online(qtbot, controller, signed_in.profile, signed_in.token)
    announced: list[str] = []
    events.sig_records_changed.connect(lambda entity, _ids: announced.append(entity))
    generation = controller._generation  # the running worker's, as its signals carry it

    for count in range(1, 21):  # twenty pages applied within a few milliseconds
        controller._on_worker_changed(generation, count)
    assert announced.count("customer") == 1  # the first at once, the rest held back
    qtbot.waitUntil(lambda: announced.count("customer") == 2, timeout=2000)
    controller._on_worker_changed(generation, 21)
    controller._on_worker_finished(generation, SyncReport(pulled=21))
    assert announced.count("customer") == 3  # the end of the sync is announced at once
    qtbot.wait(600)
    assert announced.count("customer") == 3
    assert set(announced) == {"customer", "contact", "follow_up", "deal"}
    controller._on_worker_changed(generation - 1, 99)  # a stopped worker's late word
    assert announced.count("customer") == 3


# --- https -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the company CA of these tests) and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_trusts_the_profile_ca_and_stop_cuts_a_hanging_request(
    qtbot: QtBot,
    controller: SyncController,
    replica: Replica,
    events: DataEvents,
    certificate: tuple[Path, Path],
) -> None:
    """Against a TLS server that reads a request and never answers: without the company
    CA the worker reports the certificate problem in plain words; with the profile's CA
    file its request gets through, and stop() still returns at once (the TLS connection
    is shut down under the worker's feet)."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # accept() wakes up to see ``done``
    got_request = threading.Event()
    done = threading.Event()

    def answer_nothing(connection: socket.socket) -> None:
        with (
            contextlib.suppress(OSError),
            connection,
            context.wrap_socket(connection, server_side=True) as tls,
        ):
            if tls.recv(65536):
                got_request.set()
            done.wait(30)

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            threading.Thread(target=answer_nothing, args=(connection,), daemon=True).start()

    server_thread = threading.Thread(target=serve, name="tls-hang", daemon=True)
    server_thread.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        untrusting = SyncController(replica, events)
        try:
            with qtbot.waitSignal(untrusting.sig_failed, timeout=WAIT_MS) as failed:
                untrusting.start(ServerProfile(url, "s1"), "a-token", interval_s=60)
            assert failed.args[0].startswith("The server's security certificate is not trusted")
            assert "CERTIFICATE_VERIFY_FAILED" in failed.args[1]
            assert not got_request.is_set()
        finally:
            untrusting.stop()

        controller.start(ServerProfile(url, "s1", cert), "a-token", interval_s=60)
        qtbot.waitUntil(got_request.is_set, timeout=WAIT_MS)
        started = time.monotonic()
        controller.stop()
        assert time.monotonic() - started < 3
        assert not controller.is_running()
    finally:
        done.set()
        listener.close()
        server_thread.join(5)


# --- plain words ------------------------------------------------------------------------


def _raised_from(exc: Exception, cause: BaseException | None) -> Exception:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("error", "starts"),
    [
        (
            _raised_from(
                OfflineError("cannot reach the server: [Errno 111] Connection refused"),
                httpx.ConnectError("[Errno 111] Connection refused"),
            ),
            "The server cannot be reached.",
        ),
        (
            _raised_from(
                OfflineError("the server did not answer in time (ReadTimeout)"),
                httpx.ReadTimeout("timed out"),
            ),
            "The server did not answer in time.",
        ),
        (
            OfflineError("the server is busy or failing (503 unavailable): down", 5.0),
            "The server is busy or has a problem right now.",
        ),
        (AuthError("the token is unknown or was revoked"), "Sign in again to sync"),
        (CertificateError("certificate verify failed"), "The server's security certificate"),
        (ProtocolError("unexpected answer at changes.0.id"), "The server sent a reply Outpost"),
        (RequestRejected(413, "too_large", "body too large"), "The server refused"),
        (OSError(28, "No space left on device"), "Sync stopped because of a problem on this"),
    ],
)
def test_errors_are_told_in_plain_words_with_the_details_apart(
    qtbot: QtBot, error: Exception, starts: str
) -> None:
    text, details = describe_sync_error(error, "https://crm.example.com")
    assert text.startswith(starts)
    assert str(error) not in text and "Traceback" not in text + details
    assert details.splitlines()[0] == "Server: https://crm.example.com"
    assert f"{type(error).__name__}: {error}" in details
