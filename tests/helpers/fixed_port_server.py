"""A sync server process on a fixed port: stopped and started again, it answers at the
same address (the desktop app's tests take it down and bring it back)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from server.db import create_server_engine
from tests.helpers.sync_devices import seed_users
from tests.server.conftest import CAST, PASSWORD, start_server, stop_server


@dataclass
class FixedPortServer:
    """A server process on a fresh SQLite database and a port of its own: stopped and
    started again, it answers at the same address."""

    db_url: str
    log_path: Path
    engine: Engine
    port: int
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # The later --port wins over start_server's "--port 0".
        self.process, base_url = start_server(self.db_url, self.log_path, "--port", str(self.port))
        assert base_url == self.url

    def stop(self) -> None:
        assert self.process is not None
        assert stop_server(self.process) == 0

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(folder: Path) -> Iterator[FixedPortServer]:
    """A fixed-port server on a new SQLite database in ``folder``, with the test cast's
    accounts (password :data:`~tests.server.conftest.PASSWORD`); stopped at the end."""
    db_url = f"sqlite:///{folder / 'server.sqlite3'}"
    engine = create_server_engine(db_url, pool_size=2)
    server = FixedPortServer(db_url, folder / "server.log", engine, free_port())
    server.start()  # creates the schema
    seed_users(engine, CAST, PASSWORD)
    try:
        yield server
    finally:
        if server.running():
            server.stop()
        engine.dispose()
