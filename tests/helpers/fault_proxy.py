"""A loopback HTTP proxy that misbehaves on purpose, for the sync fault tests.

It listens on 127.0.0.1 (a free port) in front of the real server and forwards each
request unchanged, unless a rule says otherwise. A rule matches by method and path and
applies a :class:`Fault` to the next ``times`` matching requests (after letting ``skip``
of them pass):

* ``pass``    — forward, answer with the server's response;
* ``delay``   — forward (or not yet: ``before=True``), then wait before answering;
* ``drop``    — forward (the server processes the request), then close the client's
  connection without answering: a response lost on the way back;
* ``cut``     — forward, then send the headers and only part of the body, and close;
* ``garbage`` — forward, then answer 200 with random bytes;
* ``json``    — forward, then answer 200 with other JSON: a fixed value, or the server's
  JSON passed through a function (a valid document of the wrong shape);
* ``status``  — answer with that status itself (500, 503, 429 + ``Retry-After``...) without
  forwarding: the server never sees the request;
* ``hang``    — do not answer for ``seconds`` (or until the proxy closes), then close.

Every fault may call ``after_forward()`` once the server has answered (to stop the server
"mid-sync", say). Requests the proxy cannot forward (the server is down) get 502, as a
real reverse proxy would answer. :attr:`FaultProxy.exchanges` records what happened to
each request, with its body, for assertions.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"

FaultKind = Literal["pass", "delay", "drop", "cut", "garbage", "json", "status", "hang"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True)
class Fault:
    """What to do with one request (build with the class methods)."""

    kind: FaultKind
    seconds: float = 0.0
    before: bool = False  # delay: wait before forwarding instead of after
    fraction: float = 0.5  # cut: how much of the body gets through
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    transform: Callable[[Any], Any] | None = None
    after_forward: Callable[[], None] | None = None

    @classmethod
    def passing(cls) -> Fault:
        return cls("pass")

    @classmethod
    def delay(cls, seconds: float, *, before: bool = False) -> Fault:
        return cls("delay", seconds=seconds, before=before)

    @classmethod
    def drop(cls, *, after_forward: Callable[[], None] | None = None) -> Fault:
        return cls("drop", after_forward=after_forward)

    @classmethod
    def cut(cls, fraction: float = 0.5) -> Fault:
        return cls("cut", fraction=fraction)

    @classmethod
    def garbage(cls, size: int = 512, seed: int = 4) -> Fault:
        data = bytes(random.Random(seed).getrandbits(8) for _ in range(size))
        return cls("garbage", body=data)

    @classmethod
    def json(cls, value: Any = None, *, transform: Callable[[Any], Any] | None = None) -> Fault:
        """Answer 200 with ``value``, or with ``transform(the server's JSON)``."""
        body = None if transform is not None else json.dumps(value).encode()
        return cls("json", body=body, transform=transform)

    @classmethod
    def answer(cls, status: int, body: Any = None, headers: dict[str, str] | None = None) -> Fault:
        """Answer ``status`` without forwarding (the body as JSON; a default error body)."""
        if body is None:
            body = {"code": "proxy_fault", "message": f"injected {status}"}
        return cls(
            "status",
            status=status,
            body=json.dumps(body).encode(),
            headers=tuple((headers or {}).items()),
        )

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        return cls("hang", seconds=seconds)


@dataclass
class Rule:
    fault: Fault
    method: str | None = None
    path: str | None = None
    times: int | None = 1  # None: every matching request
    skip: int = 0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path.startswith(self.path)

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass(frozen=True)
class Exchange:
    """One request the proxy saw and what it did with it."""

    method: str
    path: str
    body: bytes
    fault: FaultKind
    forwarded: bool
    upstream_status: int | None  # None: not forwarded, or the server was unreachable

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Upstream:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class FaultProxy:
    """The proxy; use as a context manager. Thread-safe rule changes."""

    def __init__(self, upstream: str) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._closing = threading.Event()
        self._sockets: set[socket.socket] = set()
        self.exchanges: list[Exchange] = []
        self.set_upstream(upstream)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"

    # --- control ------------------------------------------------------------------------

    def set_upstream(self, url: str) -> None:
        """Forward to ``url`` from now on (a restarted server on another port)."""
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname and parts.port, url
        with self._lock:
            self._upstream = (parts.hostname, parts.port)

    def add(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        skip: int = 0,
    ) -> Rule:
        """Apply ``fault`` to the next ``times`` matching requests after ``skip`` of them."""
        rule = Rule(fault, method, path, times, skip)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Pass everything from now on."""
        with self._lock:
            self._rules.clear()

    def seen(self, path: str | None = None) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if path is None or e.path.startswith(path)]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # idle keep-alive connections: free their threads
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the work -----------------------------------------------------------------------

    def _choose(self, method: str, path: str) -> Fault:
        with self._lock:
            for rule in self._rules:
                if rule.spent or not rule.matches(method, path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.hits += 1
                return rule.fault
        return Fault.passing()

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Upstream | None:
        with self._lock:
            host, port = self._upstream
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            return _Upstream(response.status, response.reason, response.getheaders(), data)
        except OSError:
            return None  # refused, reset: the server is not there
        finally:
            conn.close()

    def _log(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._sockets.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._sockets.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError, OSError):
                    self.close_connection = True  # the client went away: nothing to do

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path
                fault = proxy._choose(self.command, urlsplit(path).path)
                if fault.kind == "status":
                    proxy._log(Exchange(self.command, path, body, fault.kind, False, None))
                    self._send(fault.status, None, list(fault.headers), fault.body or b"")
                    return
                if fault.kind == "hang":
                    proxy._log(Exchange(self.command, path, body, fault.kind, False, None))
                    proxy._closing.wait(fault.seconds)
                    self.close_connection = True
                    return
                if fault.kind == "delay" and fault.before:
                    proxy._closing.wait(fault.seconds)
                upstream = proxy._forward(self.command, path, list(self.headers.items()), body)
                proxy._log(
                    Exchange(
                        self.command,
                        path,
                        body,
                        fault.kind,
                        upstream is not None,
                        upstream.status if upstream else None,
                    )
                )
                if fault.after_forward is not None:
                    fault.after_forward()
                if upstream is None:
                    message = {"code": "bad_gateway", "message": "the server is not reachable"}
                    self._send(502, "Bad Gateway", [], json.dumps(message).encode())
                    return
                if fault.kind == "delay" and not fault.before:
                    proxy._closing.wait(fault.seconds)
                if fault.kind == "drop":
                    self.close_connection = True
                    return
                if fault.kind == "garbage":
                    self._send(200, "OK", [("Content-Type", "application/json")], fault.body or b"")
                    return
                if fault.kind == "json":
                    data = fault.body
                    if fault.transform is not None:
                        data = json.dumps(fault.transform(_json_of(upstream))).encode()
                    self._send(200, "OK", [("Content-Type", "application/json")], data or b"")
                    return
                headers = [(k, v) for k, v in upstream.headers if k.lower() not in _HOP_BY_HOP]
                if fault.kind == "cut":
                    self._send_cut(upstream, headers, fault.fraction)
                    return
                self._send(upstream.status, upstream.reason, headers, upstream.body)

            def _send(
                self, status: int, reason: str | None, headers: list[tuple[str, str]], body: bytes
            ) -> None:
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in ("server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def _send_cut(
                self, upstream: _Upstream, headers: list[tuple[str, str]], fraction: float
            ) -> None:
                self.send_response(upstream.status, upstream.reason)
                for name, value in headers:
                    if name.lower() not in ("server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(upstream.body)))
                self.end_headers()
                self.wfile.write(upstream.body[: int(len(upstream.body) * fraction)])
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _json_of(upstream: _Upstream) -> Any:
    body = upstream.body
    encoding = {k.lower(): v for k, v in upstream.headers}.get("content-encoding", "")
    if "gzip" in encoding:
        body = gzip.decompress(body)
    return json.loads(body)
