"""The desktop app's one background sync worker and the controller the GUI talks to.

:class:`SyncController` lives in the GUI thread. It owns one ``QThread`` with a worker
object moved to it (Spyder style: ``thread.started`` runs the worker, ``quit()`` +
``wait()`` on shutdown). The worker builds the :class:`~sync.transport.ServerClient` in its
own thread (the client is thread-confined) and runs the engine serially: at start, on
request (F5, an edit after a debounce, the network coming back), every ``interval``
seconds, and after failures with the engine's backoff (honouring Retry-After). An
authentication error ends the loop: only signing in again helps.

Everything the worker has to say reaches the GUI thread through queued signals; the
controller re-emits it (``sig_status``, ``sig_progress``, ``sig_finished``, ``sig_failed``)
and announces the records a sync changed through :class:`app.events.DataEvents`,
throttled so a long initial sync does not refresh every list on every page.

Shutdown never waits for a request to time out: the worker's HTTP connections go through
a network backend whose sockets :meth:`SyncController.stop` shuts down from the GUI
thread. The request in flight fails at once, the engine unwinds (its transactions are
atomic, so an interrupted request loses nothing: the queue is sent again next time) and
the thread ends; ``stop()`` returns only after it has.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
import urllib.request
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot
from PySide6.QtNetwork import QNetworkInformation
from sqlalchemy import func, select

from app.events import DataEvents
from sync import outbox
from sync.account import ServerProfile
from sync.engine import LAST_SYNC_KEY, Backoff, SyncEngine, SyncReport, SyncState, SyncStatus
from sync.replica import Replica
from sync.replica_models import CONFLICTS_TABLE
from sync.schema import ENTITIES
from sync.transport import (
    AuthError,
    CertificateError,
    OfflineError,
    ProtocolError,
    RequestRejected,
    ServerClient,
    TransportError,
)

log = logging.getLogger(__name__)

EDIT_DEBOUNCE_MS = 2000  # an edit is sent this long after the last one of a burst
ANNOUNCE_EVERY_MS = 500  # lists refresh at most this often while a long sync applies pages
STOP_WARN_MS = 10_000  # stop() logs if the worker needs longer than this (it still waits)
THREAD_NAME = "outpost-sync"


# --- plain words ---------------------------------------------------------------------------


def describe_sync_error(exc: BaseException, server_url: str | None = None) -> tuple[str, str]:
    """(a plain-words sentence for the user, the technical details) of a failed sync.

    The sentence never holds the exception's text; the details do (type and message, the
    server's address), never a stack trace."""
    if isinstance(exc, AuthError):
        text = QCoreApplication.translate(
            "SyncController", "Sign in again to sync (your edits are kept)."
        )
    elif isinstance(exc, CertificateError):
        text = QCoreApplication.translate(
            "SyncController",
            "The server's security certificate is not trusted, so Outpost did not connect. "
            "Your edits are kept. Ask your administrator for the company's certificate file.",
        )
    elif isinstance(exc, OfflineError):
        cause = exc.__cause__
        if isinstance(cause, httpx.TimeoutException):
            text = QCoreApplication.translate(
                "SyncController",
                "The server did not answer in time. Your edits are kept and will be sent "
                "when it answers again.",
            )
        elif cause is None:  # the server answered: busy (429) or failing (5xx)
            text = QCoreApplication.translate(
                "SyncController",
                "The server is busy or has a problem right now. Your edits are kept and "
                "Outpost will try again shortly.",
            )
        else:
            text = QCoreApplication.translate(
                "SyncController",
                "The server cannot be reached. Your edits are kept and will be sent when it "
                "is back.",
            )
    elif isinstance(exc, ProtocolError):
        text = QCoreApplication.translate(
            "SyncController",
            "The server sent a reply Outpost does not understand. Nothing was changed and "
            "your edits are kept; Outpost or the server may need an update.",
        )
    elif isinstance(exc, RequestRejected):
        text = QCoreApplication.translate(
            "SyncController",
            "The server refused the sync request. Your edits are kept; show the details to "
            "your administrator.",
        )
    elif isinstance(exc, TransportError):
        text = QCoreApplication.translate(
            "SyncController",
            "Sync failed. Your edits are kept and Outpost will try again.",
        )
    else:
        text = QCoreApplication.translate(
            "SyncController",
            "Sync stopped because of a problem on this computer (for example a full disk). "
            "Your edits are kept.",
        )
    lines = []
    if server_url:
        lines.append(f"Server: {server_url}")
    lines.append(f"{type(exc).__name__}: {exc}")
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in str(exc):
        lines.append(f"Cause: {type(cause).__name__}: {cause}")
    return text, "\n".join(lines)


def local_status(replica: Replica, state: SyncState) -> SyncStatus:
    """``state`` with the replica's counts (pending, failed, conflicts, last sync): a few
    COUNTs over small tables, fine in the GUI thread."""
    with replica.read() as conn:
        counts = outbox.counts(conn)
        conflicts = conn.execute(select(func.count()).select_from(CONFLICTS_TABLE)).scalar_one()
    last = replica.get_meta(LAST_SYNC_KEY)
    return SyncStatus(
        state,
        pending=counts["pending"],
        failed=counts["failed"],
        conflicts=int(conflicts),
        last_success=datetime.fromisoformat(last) if last else None,
    )


# --- connections that stop() can cut -------------------------------------------------------


class _AbortableNetwork(httpcore.NetworkBackend):
    """httpcore's own socket backend, remembering every socket it opened so that
    :meth:`abort` (any thread) can shut them down: a blocked ``recv`` returns at once.
    After ``abort`` it opens nothing more."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._aborted = False

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self._check()
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return self.watch(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self._check()
        return self.watch(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)

    def _check(self) -> None:
        if self._aborted:
            raise httpcore.ConnectError("sync stopped")

    def watch(self, stream: httpcore.NetworkStream) -> httpcore.NetworkStream:
        sock = stream.get_extra_info("socket")
        with self._lock:
            aborted = self._aborted
            if not aborted and isinstance(sock, socket.socket):
                self._sockets.add(sock)
        if aborted:  # stopped while this one was connecting
            stream.close()
            raise httpcore.ConnectError("sync stopped")
        return _AbortableStream(stream, self)

    def abort(self) -> None:
        """Shut down every open connection and refuse new ones (thread-safe)."""
        with self._lock:
            self._aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            # The plain socket call, also for TLS sockets: only the OS connection is shut
            # down, the TLS object of the worker's thread is left alone. A socket closed
            # meanwhile has no descriptor any more and raises EBADF.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _AbortableStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, network: _AbortableNetwork) -> None:
        self._inner = inner
        self._network = network

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The TLS socket is a new object over the same connection: watch it too.
        return self._network.watch(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# httpcore's errors as httpx's (most specific first), as httpx's own transport maps them:
# ServerClient sorts httpx's errors into offline / certificate / ... errors.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _HTTPX_ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def environment_proxy(url: str) -> str | None:
    """The proxy the environment (or the system's settings) names for ``url``, as httpx
    itself would pick it: ``<scheme>_proxy`` or ``all_proxy``, unless ``no_proxy`` says
    to go direct."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    chosen = proxies.get(parts.scheme) or proxies.get("all")
    if not chosen or (parts.hostname and urllib.request.proxy_bypass(parts.hostname)):
        return None
    return chosen if "://" in chosen else f"http://{chosen}"


class _AbortableTransport(httpx.BaseTransport):
    """httpx's HTTP transport over :class:`_AbortableNetwork` (same pool limits, the same
    environment proxy as the default transport would use)."""

    def __init__(
        self, network: _AbortableNetwork, *, verify: ssl.SSLContext | bool, url: str
    ) -> None:
        proxy: httpcore.Proxy | None = None
        proxy_url = environment_proxy(url)
        if proxy_url is not None:
            parsed = httpx.Proxy(proxy_url)
            proxy = httpcore.Proxy(
                url=httpcore.URL(
                    scheme=parsed.url.raw_scheme,
                    host=parsed.url.raw_host,
                    port=parsed.url.port,
                    target=parsed.url.raw_path,
                ),
                auth=parsed.raw_auth,
                headers=parsed.headers.raw,
            )
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            proxy=proxy,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def abortable_client(
    profile: ServerProfile, token: str, network: _AbortableNetwork
) -> ServerClient:
    """A :class:`ServerClient` for ``profile`` whose connections ``network.abort()`` cuts."""
    config = profile.config()
    verify: ssl.SSLContext | bool = config.verify
    if config.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(config.ca_file))
    transport = _AbortableTransport(network, verify=verify, url=config.url)
    return ServerClient(config, token, transport=transport)


# --- the worker ------------------------------------------------------------------------------


class _LoopControl:
    """What the GUI thread tells the worker's loop: stop, sync now, the interval. Waits
    on a condition, so a request or a stop wakes the loop at once."""

    def __init__(self, interval_s: float) -> None:
        self._cond = threading.Condition()
        self._stopped = False
        self._wake = False
        self._interval = interval_s
        self.changes = 0  # syncs (or pages) that changed the replica; read after join

    def is_stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def request(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def set_interval(self, seconds: float) -> None:
        with self._cond:
            self._interval = seconds
            self._cond.notify_all()

    def clear_request(self) -> None:
        # Cleared before a sync, not after: a request made while it runs (an edit, F5)
        # starts the next sync at once instead of being lost (as SyncEngine.run does).
        with self._cond:
            self._wake = False

    def wait(self, delay: float | None) -> None:
        """Wait ``delay`` seconds (a backoff) or, when ``None``, the interval (which may
        change meanwhile; 0 or less: no timer); return early on a request or a stop."""
        started = time.monotonic()
        with self._cond:
            while not self._stopped and not self._wake:
                limit = self._interval if delay is None else delay
                if limit <= 0 and delay is None:
                    self._cond.wait()
                    continue
                remaining = started + limit - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)


class _SyncWorker(QObject):
    """Runs the sync loop in the worker thread. Every signal carries the worker's
    generation, so the controller can ignore a stopped worker's late words."""

    sig_status = Signal(int, object)  # SyncStatus
    sig_changed = Signal(int, int)  # the replica changed: count of changes so far
    sig_finished = Signal(int, object)  # SyncReport
    sig_failed = Signal(int, str, str)  # plain words, details
    sig_done = Signal(int)  # the loop ended (stopped, or sign-in needed)

    def __init__(
        self,
        generation: int,
        replica: Replica,
        profile: ServerProfile,
        token: str,
        control: _LoopControl,
        network: _AbortableNetwork,
    ) -> None:
        super().__init__()
        self._generation = generation
        self._replica = replica
        self._profile = profile
        self._token = token
        self._control = control
        self._network = network
        self._last: SyncStatus | None = None

    @Slot()
    def run(self) -> None:
        """The thread's work: sync until stopped or the token is refused."""
        try:
            client = abortable_client(self._profile, self._token, self._network)
            try:
                engine = SyncEngine(self._replica, client)
                engine.add_listener(self._on_engine_status)
                self._loop(engine)
            finally:
                client.close()
        except Exception as exc:  # never end silently with the GUI still "syncing"
            log.exception("the sync worker failed")
            self._failed(exc)
        finally:
            self.sig_done.emit(self._generation)

    def _loop(self, engine: SyncEngine) -> None:
        control = self._control
        backoff = Backoff()
        while not control.is_stopped():
            control.clear_request()
            delay: float | None = None
            try:
                report = engine.sync_once()
            except AuthError as exc:
                self._failed(exc)
                return
            except OfflineError as exc:
                if control.is_stopped():
                    return  # our own stop cut the request
                self._failed(exc)
                delay = backoff.next_delay(exc.retry_after)
            except Exception as exc:  # a transport or local error: report, back off, retry
                if control.is_stopped():
                    return
                if not isinstance(exc, TransportError):
                    log.warning("sync failed locally: %s", exc)
                self._failed(exc)
                delay = backoff.next_delay()
            else:
                backoff.reset()
                if report.pushed or report.pulled:
                    self._changed()
                self.sig_finished.emit(self._generation, report)
            control.wait(delay)

    def _failed(self, exc: BaseException) -> None:
        if self._control.is_stopped():
            return
        text, details = describe_sync_error(exc, self._profile.server_url)
        self.sig_failed.emit(self._generation, text, details)

    def _changed(self) -> None:
        self._control.changes += 1
        self.sig_changed.emit(self._generation, self._control.changes)

    def _on_engine_status(self, status: SyncStatus) -> None:
        # Called by the engine in this thread after every step.
        if self._control.is_stopped():
            return  # the statuses of a cut request ("offline") are not news
        if status.state is SyncState.SYNCING and status.done:
            # The engine skips counting between pages; without counts the bar would show
            # "nothing pending, no conflicts" for the length of a long pull. Counting
            # the two small tables here costs well under a millisecond a page.
            counted = local_status(self._replica, status.state)
            status = replace(
                status,
                pending=counted.pending,
                failed=counted.failed,
                conflicts=counted.conflicts,
                last_success=counted.last_success,
            )
        last, self._last = self._last, status
        if (
            last is not None
            and last.state is SyncState.SYNCING
            and status.state is SyncState.SYNCING
            and (
                status.done != last.done
                or (status.pending, status.failed, status.conflicts)
                != (last.pending, last.failed, last.conflicts)
            )
        ):
            self._changed()  # a page or a push answer was applied
        self.sig_status.emit(self._generation, status)


# --- the controller -----------------------------------------------------------------------


class SyncController(QObject):
    """The GUI thread's handle on background sync (one worker thread at most).

    Call :meth:`start` once signed in (or :meth:`set_needs_sign_in`), :meth:`stop` when
    the window closes. All methods are for the GUI thread; all signals are emitted in it.
    """

    sig_status = Signal(object)  # SyncStatus, on every change
    sig_progress = Signal(int, object)  # records applied by the running sync, total or None
    sig_finished = Signal(object)  # SyncReport of a successful sync
    sig_failed = Signal(str, str)  # plain-words message, technical details (may be "")

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        parent: QObject | None = None,
        *,
        edit_debounce_ms: int = EDIT_DEBOUNCE_MS,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._profile: ServerProfile | None = None
        self._token: str | None = None
        self._interval_s = 60.0
        self._work_offline = False
        self._generation = 0
        self._thread: QThread | None = None
        self._worker: _SyncWorker | None = None
        self._control: _LoopControl | None = None
        self._network: _AbortableNetwork | None = None
        self._changes_seen = 0
        self._changes_waiting = False
        self._network_info: QNetworkInformation | None = None
        self._status = local_status(replica, SyncState.OFFLINE)

        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(edit_debounce_ms)
        self._edit_timer.timeout.connect(self.request_sync)
        self._announce_timer = QTimer(self)
        self._announce_timer.setSingleShot(True)
        self._announce_timer.setInterval(ANNOUNCE_EVERY_MS)
        self._announce_timer.timeout.connect(self._on_announce_timer)

    # --- state --------------------------------------------------------------------------

    @property
    def status(self) -> SyncStatus:
        """The last status shown (counts included)."""
        return self._status

    @property
    def work_offline(self) -> bool:
        """Whether "Work offline" is on (no network attempts at all)."""
        return self._work_offline

    @property
    def worker_thread(self) -> QThread | None:
        """The worker thread while one exists (for tests and diagnostics)."""
        return self._thread

    def is_running(self) -> bool:
        """Whether the worker thread is running (signed in, not working offline)."""
        return self._thread is not None and self._thread.isRunning()

    # --- commands -----------------------------------------------------------------------

    def start(self, profile: ServerProfile, token: str, *, interval_s: float) -> None:
        """Sync ``profile`` with ``token`` in the background: at once, then every
        ``interval_s`` seconds (0: only when asked) and when asked. Restarts a running
        worker (a new token after signing in again). With "Work offline" on, only
        remembers them for when it is turned off."""
        self.stop()
        self._profile, self._token, self._interval_s = profile, token, interval_s
        if self._work_offline:
            self._show_state(SyncState.OFFLINE)
            return
        self._start_worker()

    def stop(self) -> None:
        """Stop the worker and wait for its thread to end. A request in flight is cut
        (its connection is shut down), so this returns in well under a second unless a
        replica transaction has to finish first. Safe to call at any time, repeatedly."""
        self._edit_timer.stop()
        thread, control, network = self._thread, self._control, self._network
        if thread is None or control is None or network is None:
            return
        self._generation += 1  # whatever the old worker still has queued is stale
        control.stop()
        network.abort()
        thread.quit()  # the worker's run() returns first; exec() then ends at once
        if not thread.wait(STOP_WARN_MS):
            log.warning("the sync worker is still finishing a database write; waiting")
            thread.wait()
        self._forget_thread()
        if control.changes > self._changes_seen or self._changes_waiting:
            self._announce_changes()  # applied before the stop: the lists must show it
        if self._status.state in (SyncState.SYNCING, SyncState.ONLINE):
            self._show_state(SyncState.OFFLINE)  # not connected any more

    def request_sync(self) -> None:
        """Sync now (F5, an edit, the network coming back); ignored while not running."""
        if self._control is not None:
            self._control.request()
        else:
            log.debug("sync requested while not running: ignored")

    def schedule_sync_after_edit(self) -> None:
        """An edit was saved: show the new pending count now and sync once the burst of
        edits is over (a debounce of :data:`EDIT_DEBOUNCE_MS`)."""
        self.refresh_counts()
        if self._control is not None:
            self._edit_timer.start()

    def refresh_counts(self) -> None:
        """Recount pending edits and conflicts (after an edit or a resolved conflict)."""
        counted = local_status(self._replica, self._status.state)
        self._set_status(
            replace(
                self._status,
                pending=counted.pending,
                failed=counted.failed,
                conflicts=counted.conflicts,
            )
        )

    def set_interval(self, seconds: float) -> None:
        """Change the periodic sync interval (seconds; 0 or less: no timer)."""
        self._interval_s = seconds
        if self._control is not None:
            self._control.set_interval(seconds)

    def set_work_offline(self, on: bool) -> None:
        """On: stop syncing, make no network attempts at all. Off: sync again at once (if
        signed in)."""
        if on == self._work_offline:
            return
        self._work_offline = on
        if on:
            self.stop()
            self._show_state(SyncState.OFFLINE, force=True)
            return
        if self._profile is not None and self._token is not None:
            self._start_worker()
        else:
            self._show_state(self._status.state, force=True)

    def set_needs_sign_in(self, message: str | None = None) -> None:
        """Not signed in (no token, signed out, token refused): stop syncing and show it,
        with ``message`` in plain words if given."""
        self.stop()
        self._token = None
        self._show_state(SyncState.NEEDS_SIGN_IN, force=True)
        self.sig_failed.emit(message or self.tr("Sign in to sync your edits."), "")

    # --- the worker's life --------------------------------------------------------------

    def _start_worker(self) -> None:
        assert self._profile is not None and self._token is not None
        self._generation += 1
        self._changes_seen = 0
        control = _LoopControl(self._interval_s)
        network = _AbortableNetwork()
        thread = QThread()
        thread.setObjectName(THREAD_NAME)
        worker = _SyncWorker(
            self._generation, self._replica, self._profile, self._token, control, network
        )
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(worker.deleteLater)  # deleted in its own thread, at its end
        worker.sig_status.connect(self._on_worker_status)
        worker.sig_changed.connect(self._on_worker_changed)
        worker.sig_finished.connect(self._on_worker_finished)
        worker.sig_failed.connect(self._on_worker_failed)
        worker.sig_done.connect(self._on_worker_done)
        self._thread, self._worker, self._control, self._network = thread, worker, control, network
        self._watch_network()
        thread.start()

    def _forget_thread(self) -> None:
        self._thread = self._worker = None
        self._control = self._network = None
        self._unwatch_network()

    @Slot(int, object)
    def _on_worker_status(self, generation: int, status: SyncStatus) -> None:
        if generation != self._generation:
            return
        self._set_status(status)
        if status.state is SyncState.SYNCING and (status.done or status.total):
            self.sig_progress.emit(status.done, status.total)

    @Slot(int, int)
    def _on_worker_changed(self, generation: int, count: int) -> None:
        if generation != self._generation:
            return
        self._changes_seen = count
        self._changes_waiting = True
        if not self._announce_timer.isActive():
            self._announce_changes()
            self._announce_timer.start()

    @Slot(int, object)
    def _on_worker_finished(self, generation: int, report: SyncReport) -> None:
        if generation != self._generation:
            return
        self._flush_announcements()
        self.sig_finished.emit(report)

    @Slot(int, str, str)
    def _on_worker_failed(self, generation: int, text: str, details: str) -> None:
        if generation != self._generation:
            return
        self._flush_announcements()
        self.sig_failed.emit(text, details)

    @Slot(int)
    def _on_worker_done(self, generation: int) -> None:
        if generation != self._generation or self._thread is None:
            return
        # The loop ended on its own: the token was refused. Its thread ends with it.
        thread = self._thread
        thread.quit()
        thread.wait()
        self._forget_thread()
        self._flush_announcements()
        if self._status.state is SyncState.NEEDS_SIGN_IN:
            self._token = None  # refused: do not try it again (e.g. after work offline)
        else:
            self._show_state(SyncState.ERROR)

    # --- announcing changed records -----------------------------------------------------

    def _on_announce_timer(self) -> None:
        if self._changes_waiting:
            self._announce_changes()
            self._announce_timer.start()

    def _flush_announcements(self) -> None:
        self._announce_timer.stop()
        if self._changes_waiting:
            self._announce_changes()

    def _announce_changes(self) -> None:
        self._changes_waiting = False
        for entity in ENTITIES:
            self._events.announce(entity, None, from_sync=True)

    # --- the network coming back --------------------------------------------------------

    def _watch_network(self) -> None:
        if self._network_info is not None:
            return
        info: QNetworkInformation | None = QNetworkInformation.instance()
        if info is None:
            loaded = QNetworkInformation.loadDefaultBackend() or (
                QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability)
            )
            info = QNetworkInformation.instance() if loaded else None
        if info is None or not info.supports(QNetworkInformation.Feature.Reachability):
            log.info("no network information backend: syncs retry on their own schedule")
            return
        info.reachabilityChanged.connect(self._on_reachability_changed)
        self._network_info = info

    def _unwatch_network(self) -> None:
        if self._network_info is not None:
            with contextlib.suppress(RuntimeError):
                self._network_info.reachabilityChanged.disconnect(self._on_reachability_changed)
            self._network_info = None

    def _on_reachability_changed(self, reachability: QNetworkInformation.Reachability) -> None:
        if reachability == QNetworkInformation.Reachability.Online:
            log.info("the network is back: syncing")
            self.request_sync()

    # --- showing ------------------------------------------------------------------------

    def _show_state(self, state: SyncState, *, force: bool = False) -> None:
        self._set_status(local_status(self._replica, state), force=force)

    def _set_status(self, status: SyncStatus, *, force: bool = False) -> None:
        if status == self._status and not force:
            return
        self._status = status
        self.sig_status.emit(status)
