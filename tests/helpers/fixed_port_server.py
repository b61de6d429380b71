"""A sync server process on a fixed port: stopped and started again, it answers at the
same address (the desktop app's tests take it down and bring it back)."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from tests.server.conftest import start_server, stop_server


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
