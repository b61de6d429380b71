"""What the server benchmarks share: a fresh PostgreSQL schema, the bulk load of the
issue's data set with ``COPY``, and the real server as a subprocess.

Used by ``bench/server_bench.py`` and ``bench/sync_bench.py`` (each runs as a script, with
``bench/`` first on ``sys.path``).
"""

from __future__ import annotations

import os
import random
import resource
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import JSON, Connection, Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server import accounts
from server.accounts import Role
from server.db import create_server_engine, write_transaction
from server.feed import take_change_numbers
from server.models import TABLE_BY_ENTITY
from server.seed import load_records
from sync.demo_data import CustomerFactory
from sync.schema import ENTITIES, new_record_id
from sync.validation import clean_values

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-1"
FULL_SIZES = {"customer": 100_000, "contact": 150_000, "follow_up": 500_000, "deal": 50_000}
TEAMS = ("east", "west", "north", "south", "central")
POOL_SHARE = 0.10


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def say(message: str) -> None:
    print(message, flush=True)


# --- 1. database and accounts ---------------------------------------------------------


def create_schema(pg_url: str) -> tuple[str, str]:
    """A fresh schema; returns (its name, a URL whose search path is that schema)."""
    schema = f"outpost_bench_{uuid.uuid4().hex[:10]}"
    admin = create_server_engine(pg_url, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in pg_url else "?"
    return schema, f"{pg_url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(pg_url: str, schema: str) -> None:
    admin = create_server_engine(pg_url, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def add_users(engine: Engine, salespeople: int) -> list[str]:
    """An admin and ``salespeople`` sales accounts spread over the teams (one hash)."""
    password_hash = accounts.hash_password(PASSWORD)
    names = [f"sales{i:02d}" for i in range(1, salespeople + 1)]

    def work(conn: Connection) -> None:
        accounts.add_user(conn, "admin", PASSWORD, role=Role.ADMIN, password_hash=password_hash)
        for i, name in enumerate(names):
            accounts.add_user(
                conn,
                name,
                PASSWORD,
                role=Role.SALES,
                team=TEAMS[i % len(TEAMS)],
                password_hash=password_hash,
            )

    write_transaction(engine, work)
    return names


# --- 2. bulk load ---------------------------------------------------------------------


def copy_records(
    conn: Connection, entity: str, values: Sequence[dict[str, Any]], *, by: str, at: datetime
) -> None:
    """What :func:`server.seed.load_records` does (schema-checked values, version 1, change
    numbers taken last in the transaction), but written with PostgreSQL ``COPY``; each value
    goes through its column type's bind processing, as an INSERT would."""
    spec = ENTITIES[entity]
    table = TABLE_BY_ENTITY[entity]
    rows: list[dict[str, Any]] = []
    for v in values:
        clean = clean_values(spec, {k: x for k, x in v.items() if k != "id"}, for_create=True)
        if entity != "customer":
            clean["owner_id"] = None
        rows.append(
            {
                "id": v.get("id") or new_record_id(),
                **clean,
                "version": 1,
                "created_at": at,
                "updated_at": at,
                "updated_by": by,
                "deleted": False,
            }
        )
    first = take_change_numbers(conn, len(rows))
    for offset, row in enumerate(rows):
        row["seq"] = first + offset
    columns = [c.name for c in table.columns]
    processors: list[Callable[[Any], Any] | None] = [
        (lambda x: None if x is None else orjson.dumps(x).decode())
        if isinstance(c.type, JSON)
        else c.type.bind_processor(conn.dialect)
        for c in table.columns
    ]
    pairs = list(zip(columns, processors, strict=True))
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    with (
        dbapi.cursor() as cur,
        cur.copy(f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row([p(row[c]) if p else row[c] for c, p in pairs])


@dataclass
class Dataset:
    sizes: dict[str, int]
    owners: dict[str, list[str]] = field(default_factory=dict)  # salesperson -> customer ids
    sample_deal: tuple[str, str] | None = None  # (id, amount as generated)


@dataclass
class LoadFigures:
    seconds: float = 0.0
    generate_seconds: float = 0.0
    analyze_seconds: float = 0.0
    records: int = 0


def load_dataset(
    engine: Engine,
    sizes: dict[str, int],
    salespeople: list[str],
    *,
    chunk: int,
    loader: str,
    seed: int,
) -> tuple[Dataset, LoadFigures]:
    """Generate and load the records chunk by chunk; customers first, then children."""
    factory = CustomerFactory(seed)
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    data = Dataset(sizes, {name: [] for name in salespeople})
    figures = LoadFigures()
    write = copy_records if loader == "copy" else _insert_records
    customers: list[tuple[str, dict[str, Any]]] = []

    def load(entity: str, make: Callable[[int], dict[str, Any]]) -> None:
        total = sizes[entity]
        for start in range(0, total, chunk):
            t0 = time.perf_counter()
            rows = [make(i) for i in range(start, min(total, start + chunk))]
            t1 = time.perf_counter()
            write_transaction(
                engine, lambda conn, rows=rows: write(conn, entity, rows, by="admin", at=now)
            )
            t2 = time.perf_counter()
            figures.generate_seconds += t1 - t0
            figures.seconds += t2 - t0
            figures.records += len(rows)

    def customer(_: int) -> dict[str, Any]:
        values = factory.customer_values()
        values["id"] = new_record_id()
        owner = None if rnd.random() < POOL_SHARE else rnd.choice(salespeople)
        values["owner_id"] = owner
        if owner is not None:
            data.owners[owner].append(values["id"])
        customers.append((values["id"], values))
        return values

    def contact(i: int) -> dict[str, Any]:
        # every customer gets one primary contact first, the rest go anywhere
        first = i < len(customers)
        cid, parent = customers[i] if first else rnd.choice(customers)
        return factory.contact_values(cid, parent, primary=first)

    def follow_up(_: int) -> dict[str, Any]:
        return factory.follow_up_values(rnd.choice(customers)[0], now)

    def deal(_: int) -> dict[str, Any]:
        values = factory.deal_values(rnd.choice(customers)[0], now)
        if data.sample_deal is None:
            values["id"] = new_record_id()
            data.sample_deal = (values["id"], values["amount"])
        return values

    load("customer", customer)
    load("contact", contact)
    load("follow_up", follow_up)
    load("deal", deal)
    # A production database is vacuumed and analysed by autovacuum; do it now, not mid-run.
    t0 = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in TABLE_BY_ENTITY.values():
            conn.execute(text(f'VACUUM ANALYZE "{table.name}"'))
    figures.analyze_seconds = time.perf_counter() - t0
    return data, figures


def _insert_records(
    conn: Connection, entity: str, values: Sequence[dict[str, Any]], *, by: str, at: datetime
) -> None:
    load_records(conn, entity, values, by=by, audit=False, at=at)


# --- 3. the server --------------------------------------------------------------------


def start_server(
    db_url: str, log_path: Path, workers: int, pool_size: int
) -> tuple[subprocess.Popen[str], str]:
    """``outpost-server serve`` on a free port; returns the process and its base URL."""
    cmd = [
        sys.executable, "-m", "server.main", "serve", "--db", db_url, "--host", "127.0.0.1",
        "--port", "0", "--workers", str(workers), "--pool-size", str(pool_size),
        "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("a") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = proc.stdout.readline() if sel.select(timeout=60) else ""
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}; see {log_path}")
    base_url = line.split("listening on ", 1)[1].split()[0]
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/api/v1/health", timeout=2).status_code == 200:
                return proc, base_url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"server not healthy; see {log_path}")
        time.sleep(0.05)


def stop_server(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _processes() -> Iterator[tuple[int, int, str, float]]:
    """(pid, parent pid, command name, CPU seconds used) of every process."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        yield int(entry.name), int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick


class CpuMeter:
    """CPU seconds used by the server's processes, by all PostgreSQL processes (whatever
    else uses the database is counted too) and by this bench process."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def sample(self) -> dict[str, float]:
        server = postgres = 0.0
        for pid, parent, name, seconds in _processes():
            if self.server_pid in (pid, parent):
                server += seconds
            elif name == "postgres" or name.startswith("postgres:"):
                postgres += seconds
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"server": server, "postgres": postgres, "bench": usage.ru_utime + usage.ru_stime}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


def server_peak_rss_mb(pid: int) -> list[float]:
    """Peak resident memory (VmHWM) of the server process and its workers, in MB."""
    peaks = []
    for p, parent, _, _ in _processes():
        if pid in (p, parent):
            try:
                status = Path(f"/proc/{p}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
    return peaks


def environment(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        settings = {
            name: conn.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("shared_buffers", "synchronous_commit", "max_connections")
        }
    return {
        "cpus": str(os.cpu_count()),
        "python": sys.version.split()[0],
        "postgresql": f"{version} ({', '.join(f'{k}={v}' for k, v in settings.items())})",
    }


def check_sample_deal(engine: Engine, data: Dataset) -> None:
    """Money went through the column type (cents) on the way in: read one deal back."""
    assert data.sample_deal is not None
    deal_id, amount = data.sample_deal
    with engine.connect() as conn:
        cents = conn.execute(
            text("SELECT amount FROM deals WHERE id = :id"), {"id": deal_id}
        ).scalar_one()
    assert f"{cents // 100}.{cents % 100:02d}" == amount, (cents, amount)
