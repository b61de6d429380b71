"""``outpost --demo``: an embedded sync server on SQLite, seeded with demo data.

The server runs in this process (a uvicorn server in a thread of its own) on a free
port of 127.0.0.1, over ``server.sqlite3`` in the demo profile, so a newcomer gets a
working CRM — with real sync — from one command. The demo user signs in automatically;
its token is kept in memory only (the port changes from run to run).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.account import SERVER_URL_KEY, ServerProfile, sign_in
from sync.replica import Replica

log = logging.getLogger(__name__)

DEMO_USER = "demo"
SERVER_DB_FILENAME = "server.sqlite3"
START_TIMEOUT_S = 30.0


class EmbeddedServer:
    """The sync server in a background thread of this process."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Create, migrate and seed the database if needed, serve it; returns the URL."""
        import uvicorn

        from server import migrate, seed
        from server.app import ServerSettings, create_app
        from server.db import create_server_engine

        self.database.parent.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite+pysqlite:///{self.database}"
        engine = create_server_engine(db_url, pool_size=2)
        try:
            if migrate.current_revision(engine) is None:
                migrate.upgrade(engine)
            with engine.begin() as conn:
                report = seed.seed_demo(conn)
            if report.customers:
                log.info("demo server seeded with %d customers", report.customers)
        finally:
            engine.dispose()

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(ServerSettings(database_url=db_url, pool_size=4)),
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="outpost-demo-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the embedded demo server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the embedded demo server did not start in time")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        log.info("embedded demo server at %s (database %s)", self.url, self.database)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the requests in flight and stop."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the embedded demo server did not stop within %.0f s", timeout)
        self._thread = None


@dataclass(frozen=True)
class DemoSession:
    server: EmbeddedServer
    profile: ServerProfile
    token: str


def start_demo(replica: Replica, profile_dir: Path, device: str) -> DemoSession:
    """Start the embedded server and sign the demo profile in (blocking: run it in the
    background). The server's address changes each run; the profile follows it."""
    from server.seed import DEMO_PASSWORD

    server = EmbeddedServer(profile_dir / SERVER_DB_FILENAME)
    url = server.start()
    try:
        replica.set_meta(SERVER_URL_KEY, url)  # same database, new port
        result = sign_in(replica, url, DEMO_USER, DEMO_PASSWORD, device=device, remember=False)
    except BaseException:
        server.stop()
        raise
    return DemoSession(server, result.profile, result.token)
