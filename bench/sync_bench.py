"""Sync benchmark: initial sync from a PostgreSQL-backed server into an empty replica.

    python bench/sync_bench.py                          # 800,000 records, 3 runs
    python bench/sync_bench.py --scale 0.05 --runs 1    # a quick run (40,000 records)

In a fresh PostgreSQL schema (``$OUTPOST_BENCH_PG_URL``, else the local ``test`` database;
dropped at the end unless ``--keep``) it loads the issue's data set (100,000 customers,
150,000 contacts, 500,000 follow-ups, 50,000 deals, times ``--scale``) with ``COPY``, starts
the real server (``outpost-server serve``) and measures, median of ``--runs``:

1. **initial sync** — ``Replica.open`` on an empty directory, ``ServerClient`` signed in as
   the admin, ``SyncEngine(...).sync_once()``: records/s end to end, pages, and the client's
   peak RSS. Each run is a child process (its ``ru_maxrss`` is the client's alone); every
   record must be in the replica afterwards. Targets: >= 30,000 records/s, <= 400 MB.
2. **the raw floor** — the same rows read from the server's database (SQLAlchemy Core on
   psycopg, streamed) and inserted into an empty replica with no sync logic, twice: by
   plain ``executemany`` of the rows (no search columns, no full-text index) and by
   ``Replica.store_server_records`` (the replica's own bulk path: pinyin search columns and
   FTS5 index included); in both the secondary indexes are built at the end, as an initial
   sync does. The ratio sync time / floor says what sync adds (HTTP, JSON, checks).
3. **1,000 queued edits** (updates of customers in the synced replica) pushed and
   acknowledged (target <= 1.5 s); the same ``sync_once`` then pulls the edits' echo.
4. **a sync with nothing to do**: time (target <= 50 ms) and requests (one pull, no push).

CPU seconds of the server's processes, PostgreSQL and the client are printed for the
initial sync: client, server and database share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server_fixture import (
    DEFAULT_PG_URL,
    FULL_SIZES,
    PASSWORD,
    ROOT,
    CpuMeter,
    add_users,
    create_schema,
    drop_schema,
    environment,
    load_dataset,
    say,
    start_server,
    stop_server,
)

from server.db import create_server_engine
from server.models import TABLE_BY_ENTITY as SERVER_TABLES
from sync.engine import PULL_LIMIT, SyncEngine, SyncReport
from sync.replica import Replica, _sqlite_value_encoder, defer_indexes, restore_indexes
from sync.replica_models import TABLE_BY_ENTITY as REPLICA_TABLES
from sync.schema import ENTITIES
from sync.transport import ServerClient, ServerConfig

ORDER = ("customer", "contact", "follow_up", "deal")
TARGET_RATE = 30_000
TARGET_RSS_MB = 400
TARGET_PUSH_S = 1.5
TARGET_NOOP_MS = 50


# --- 1. initial sync (in a child process) -----------------------------------------------


def child_sync(url: str, directory: str, page_size: int, profile: str | None) -> dict[str, Any]:
    """One initial sync into ``directory``; what the parent prints, as a dict."""
    t0 = time.perf_counter()
    replica = Replica.open(directory)
    client = ServerClient(ServerConfig(url))
    client.login("admin", PASSWORD, "sync bench")
    engine = SyncEngine(replica, client, pull_limit=page_size)
    t1 = time.perf_counter()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(engine.sync_once)
        profiler.dump_stats(profile)
    else:
        report = engine.sync_once()
    t2 = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts = {name: replica.repository(name).count() for name in ORDER}
    client.close()
    replica.close()
    return {
        "setup_seconds": t1 - t0,
        "seconds": t2 - t1,
        "pulled": report.pulled,
        "pages": report.pages,
        "requests": report.requests,
        "counts": counts,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
    }


@dataclass
class SyncRun:
    seconds: float
    setup_seconds: float
    records: int
    pages: int
    requests: int
    rss_mb: float
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def initial_sync(
    url: str, directory: Path, page_size: int, sizes: dict[str, int], meter: CpuMeter, **kw: Any
) -> SyncRun:
    cmd = [sys.executable, __file__, "--child", url, str(directory), str(page_size)]
    if kw.get("profile"):
        cmd.append(str(kw["profile"]))
    before = meter.sample()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    cpu = meter.spent(before, meter.sample())
    if done.returncode != 0:
        raise RuntimeError(f"sync child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {k: v for k, v in sizes.items()}
    assert result["counts"] == expected, (result["counts"], expected)
    cpu["client"] = result["cpu_seconds"]
    del cpu["bench"]  # the parent, idle meanwhile
    return SyncRun(
        result["seconds"],
        result["setup_seconds"],
        sum(result["counts"].values()),  # records in the replica (riders counted once)
        result["pages"],
        result["requests"],
        result["max_rss_mb"],
        cpu,
    )


# --- 2. the raw floor -------------------------------------------------------------------


def server_rows(engine: Engine, entity: str, chunk: int) -> Iterator[list[dict[str, Any]]]:
    """The entity's rows from the server database as Python values, ``chunk`` at a time
    (a server-side cursor), in change order."""
    table = SERVER_TABLES[entity]
    spec = ENTITIES[entity]
    columns = [table.c[f.name] for f in spec.fields]
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk).execute(
            select(*columns).order_by(table.c.seq)
        )
        for part in result.mappings().partitions(chunk):
            yield [dict(row) for row in part]


def plain_insert(replica: Replica, entity: str, rows: list[dict[str, Any]]) -> None:
    """The rows into the replica's table by one ``executemany`` (each value in SQLite's
    form, as SQLAlchemy's column type stores it): nothing derived, no search index."""
    table = REPLICA_TABLES[entity]
    names = list(rows[0])
    encoders = [_sqlite_value_encoder(table.c[n]) for n in names]
    marks = ", ".join("?" * len(names))
    with replica.write() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})",
            [tuple(enc(r[n]) for enc, n in zip(encoders, names, strict=True)) for r in rows],
        )


def stored_insert(replica: Replica, entity: str, rows: list[dict[str, Any]]) -> None:
    replica.store_server_records(entity, rows)


@dataclass
class FloorRun:
    seconds: float
    read_seconds: float
    records: int


def raw_floor(
    engine: Engine,
    directory: Path,
    chunk: int,
    insert: Callable[[Replica, str, list[dict[str, Any]]], None],
) -> FloorRun:
    replica = Replica.open(directory)
    records = 0
    read = 0.0
    start = time.perf_counter()
    # As an initial sync does: the secondary indexes are built once, at the end.
    with replica.write() as conn:
        defer_indexes(conn)
    for entity in ORDER:
        rows_iter = server_rows(engine, entity, chunk)
        while True:
            t0 = time.perf_counter()
            rows = next(rows_iter, None)
            read += time.perf_counter() - t0
            if rows is None:
                break
            insert(replica, entity, rows)
            records += len(rows)
    with replica.write() as conn:
        restore_indexes(conn)
    seconds = time.perf_counter() - start
    replica.close()
    return FloorRun(seconds, read, records)


# --- 3. and 4. pushing edits, a sync with nothing to do --------------------------------


class TimedEngine(SyncEngine):
    """A sync engine that notes how long its push and pull phases take."""

    push_seconds: float = 0.0
    pull_seconds: float = 0.0

    def _push_all(self, report: SyncReport) -> None:
        t0 = time.perf_counter()
        try:
            super()._push_all(report)
        finally:
            self.push_seconds += time.perf_counter() - t0

    def _pull_all(self, report: SyncReport) -> None:
        t0 = time.perf_counter()
        try:
            super()._pull_all(report)
        finally:
            self.pull_seconds += time.perf_counter() - t0


@dataclass
class PushRun:
    queue_seconds: float
    push_seconds: float  # pushed and acknowledged (results applied)
    sync_seconds: float  # the whole sync_once, echo pull included
    pushed: int
    applied: int
    pulled: int
    requests: int
    pull_requests: int


def push_edits(engine: TimedEngine, customer_ids: list[str], tag: str) -> PushRun:
    replica = engine.replica
    t0 = time.perf_counter()
    for i, record_id in enumerate(customer_ids):
        replica.customers.update(record_id, {"notes": f"sync bench {tag} edit {i}"})
    queued = time.perf_counter() - t0
    engine.push_seconds = engine.pull_seconds = 0.0
    t1 = time.perf_counter()
    report = engine.sync_once()
    seconds = time.perf_counter() - t1
    assert report.pushed == len(customer_ids) == report.applied, report
    with replica.read() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
    assert left == 0, f"{left} edits still queued"
    return PushRun(
        queued,
        engine.push_seconds,
        seconds,
        report.pushed,
        report.applied,
        report.pulled,
        report.requests,
        report.pages,
    )


@dataclass
class NoopFigures:
    ms: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    pushes: int = 0


def noop_syncs(engine: TimedEngine, count: int) -> NoopFigures:
    figures = NoopFigures()
    for _ in range(count):
        t0 = time.perf_counter()
        report = engine.sync_once()
        figures.ms.append((time.perf_counter() - t0) * 1000)
        figures.requests.append(report.requests)
        figures.pushes += report.pushed
        assert report.pulled == 0 and report.pushed == 0, report
    return figures


# --- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OUTPOST_BENCH_PG_URL") or DEFAULT_PG_URL,
        help="PostgreSQL URL (a fresh schema is made in it; $OUTPOST_BENCH_PG_URL)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="data size: 1.0 = 100k customers, 150k contacts, 500k follow-ups, 50k deals",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each measure (median)")
    parser.add_argument("--page-size", type=int, default=PULL_LIMIT, help="pull page size")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--pool-size", type=int, default=5, help="database connections/worker")
    parser.add_argument("--edits", type=int, default=1000, help="queued edits pushed per run")
    parser.add_argument("--noop", type=int, default=10, help="syncs with nothing to do")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--reuse",
        metavar="DB_URL",
        help="use a schema kept by an earlier --keep run at the same --scale (no load)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write cProfile stats of each initial sync run here (dir)"
    )
    parser.add_argument(
        "--skip-floor", action="store_true", help="do not measure the raw floor (faster)"
    )
    return parser.parse_args(argv)


Summary = list[tuple[str, str]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = {entity: max(1, round(n * args.scale)) for entity, n in FULL_SIZES.items()}
    total = sum(sizes.values())
    say(
        f"sync benchmark: scale {args.scale} = {total:,} records "
        f"({', '.join(f'{n:,} {e}' for e, n in sizes.items())}), page {args.page_size:,}, "
        f"{args.runs} run(s)"
    )
    load_before = os.getloadavg()
    if args.reuse:
        schema, db_url = "", args.reuse
    else:
        schema, db_url = create_schema(args.pg_url)
        say(f"schema {schema}")
    engine: Engine | None = None
    summary: Summary = []
    work = Path(tempfile.mkdtemp(prefix="outpost-sync-bench-"))
    try:
        engine = create_server_engine(db_url, pool_size=2)
        env = environment(engine)
        if not args.reuse:
            subprocess.run(
                [sys.executable, "-m", "server.main", "db", "upgrade", "--db", db_url],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            salespeople = add_users(engine, 10)
            say("loading ...")
            t0 = time.perf_counter()
            load_dataset(engine, sizes, salespeople, chunk=10_000, loader="copy", seed=args.seed)
            say(f"  {total:,} records loaded in {time.perf_counter() - t0:.1f} s")
        run_phases(engine, db_url, sizes, args, work, summary)
    finally:
        if engine is not None:
            engine.dispose()
        if args.keep and not args.reuse:
            say(f"kept schema {schema}: {db_url}")
        elif not args.reuse:
            drop_schema(args.pg_url, schema)
        shutil.rmtree(work, ignore_errors=True)

    summary.append(
        (
            "environment",
            f"{env['cpus']} CPUs, Python {env['python']}, PostgreSQL {env['postgresql']}; "
            f"server: {args.workers} worker(s); client, server and database on this one "
            f"machine; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after",
        )
    )
    say("")
    say("=" * 100)
    width = max(len(name) for name, _ in summary)
    for name, value in summary:
        say(f"{name:<{width}} : {value}")
    say("=" * 100)
    return 0


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def run_phases(
    engine: Engine,
    db_url: str,
    sizes: dict[str, int],
    args: argparse.Namespace,
    work: Path,
    summary: Summary,
) -> None:
    total = sum(sizes.values())
    log_path = work / "server.log"
    proc, base_url = start_server(db_url, log_path, args.workers, args.pool_size)
    say(f"server at {base_url} (log {log_path})")
    try:
        meter = CpuMeter(proc.pid)
        # 1. initial sync
        runs: list[SyncRun] = []
        for run in range(args.runs):
            directory = work / f"sync{run}"
            profile = args.profile / f"sync{run}.prof" if args.profile else None
            if profile:
                profile.parent.mkdir(parents=True, exist_ok=True)
            result = initial_sync(
                base_url, directory, args.page_size, sizes, meter, profile=profile
            )
            runs.append(result)
            say(
                f"  initial sync, run {run + 1}: {result.records:,} records in "
                f"{result.seconds:.1f} s = {result.rate:,.0f} records/s, {result.pages} pages, "
                f"peak RSS {result.rss_mb:,.0f} MB; CPU "
                + ", ".join(f"{k} {v:.1f} s" for k, v in result.cpu.items())
            )
            if run < args.runs - 1:
                shutil.rmtree(directory)
        synced = work / f"sync{args.runs - 1}"

        def med(figure: Callable[[SyncRun], float]) -> float:
            return statistics.median(figure(r) for r in runs)

        rate = med(lambda r: r.rate)
        rss = max(r.rss_mb for r in runs)
        sync_seconds = med(lambda r: r.seconds)
        summary += [
            (
                "initial sync",
                f"{rate:,.0f} records/s end to end [{verdict(rate >= TARGET_RATE)}: >= "
                f"{TARGET_RATE:,}] ({runs[0].records:,} records, each in the replica; "
                f"{sync_seconds:.1f} s in sync_once, {runs[0].pages} pages of "
                f"{args.page_size:,}, {runs[0].requests} requests; open + sign-in "
                f"{med(lambda r: r.setup_seconds):.2f} s before)",
            ),
            (
                "  peak client RSS",
                f"{rss:,.0f} MB [{verdict(rss <= TARGET_RSS_MB)}: <= {TARGET_RSS_MB} MB] "
                "(ru_maxrss of the syncing child process, highest of the runs)",
            ),
            (
                "  CPU seconds",
                ", ".join(f"{who} {med(lambda r, w=who: r.cpu[w]):.1f}" for who in runs[0].cpu)
                + f" (wall {sync_seconds:.1f} s; {os.cpu_count()} cores shared)",
            ),
        ]
        say(f"  {summary[-3][1]}")

        # 2. the raw floor
        if not args.skip_floor:
            for label, insert in (
                ("plain executemany", plain_insert),
                ("store_server_records", stored_insert),
            ):
                floors = []
                for run in range(args.runs):
                    directory = work / f"floor{run}"
                    floors.append(raw_floor(engine, directory, args.page_size, insert))
                    shutil.rmtree(directory)
                    assert floors[-1].records == total, (floors[-1].records, total)
                seconds = statistics.median(f.seconds for f in floors)
                read = statistics.median(f.read_seconds for f in floors)
                summary.append(
                    (
                        f"raw floor ({label})",
                        f"{total / seconds:,.0f} records/s ({seconds:.1f} s: reading the server "
                        f"database {read:.1f} s, writing the replica {seconds - read:.1f} s); "
                        f"sync time / floor = {sync_seconds / seconds:.2f}",
                    )
                )
                say(f"  {summary[-1][0]}: {summary[-1][1]}")

        # 3. queued edits, 4. nothing to do
        replica = Replica.open(synced)
        client = ServerClient(ServerConfig(base_url))
        client.login("admin", PASSWORD, "sync bench edits")
        sync = TimedEngine(replica, client)
        with replica.read() as conn:
            ids = list(
                conn.exec_driver_sql(
                    f"SELECT id FROM customers ORDER BY row_id LIMIT {args.edits * args.runs}"
                ).scalars()
            )
        pushes = []
        for run in range(args.runs):
            chunk = ids[run * args.edits : (run + 1) * args.edits]
            pushes.append(push_edits(sync, chunk, f"run {run}"))
            p = pushes[-1]
            say(
                f"  {p.pushed} edits: queued in {p.queue_seconds:.2f} s, pushed and "
                f"acknowledged in {p.push_seconds:.2f} s, whole sync {p.sync_seconds:.2f} s "
                f"({p.pulled} echoes pulled, {p.requests} requests)"
            )
        push_s = statistics.median(p.push_seconds for p in pushes)
        summary.append(
            (
                f"{args.edits:,} queued edits",
                f"pushed and acknowledged in {push_s:.2f} s [{verdict(push_s <= TARGET_PUSH_S)}:"
                f" <= {TARGET_PUSH_S} s] ({pushes[0].requests - pushes[0].pull_requests} "
                f"push requests of "
                f"{sync.push_batch}; whole sync_once with the pull of their echo "
                f"{statistics.median(p.sync_seconds for p in pushes):.2f} s; queueing them "
                f"{statistics.median(p.queue_seconds for p in pushes):.2f} s before)",
            )
        )
        noop = noop_syncs(sync, args.noop)
        noop_ms = statistics.median(noop.ms)
        requests = sorted(set(noop.requests))
        summary.append(
            (
                "nothing to do",
                f"{noop_ms:.1f} ms median, {max(noop.ms):.1f} ms max over {args.noop} syncs "
                f"[{verdict(noop_ms <= TARGET_NOOP_MS)}: <= {TARGET_NOOP_MS} ms]; requests "
                f"per sync {requests} (one pull; push requests {noop.pushes}: nothing queued)",
            )
        )
        client.close()
        replica.close()
    finally:
        code = stop_server(proc)
    assert code == 0, f"server exited with {code}; see {log_path}"


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        url, directory, page = sys.argv[2], sys.argv[3], int(sys.argv[4])
        prof = sys.argv[5] if len(sys.argv) > 5 else None
        print(json.dumps(child_sync(url, directory, page, prof)), flush=True)
        raise SystemExit(0)
    raise SystemExit(main())
