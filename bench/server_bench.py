"""Server benchmark: bulk load, full pull and concurrent push against PostgreSQL.

    python bench/server_bench.py                          # 800,000 records, 3 pull runs
    python bench/server_bench.py --scale 0.05 --runs 1    # a quick run (40,000 records)

In a fresh PostgreSQL schema (``$OUTPOST_BENCH_PG_URL``, else the local ``test`` database;
dropped at the end unless ``--keep``) it

1. creates the schema with ``outpost-server db upgrade`` and adds an admin and 50
   salespeople in five teams;
2. loads 100,000 customers (spread over the salespeople, ~10% in the unassigned pool),
   150,000 contacts, 500,000 follow-ups and 50,000 deals (times ``--scale``) with realistic
   values, each row checked by the schema and given a change number like any writer's;
3. starts the real server (``outpost-server serve --workers N``) as a subprocess;
4. pulls the whole feed as the admin over HTTP (keep-alive, gzip) at each ``--page-size``,
   ``--runs`` times, asserting that every record arrives exactly once;
5. lets 50 salespeople, each signed in on its own device, push 20 batches of 50 edits
   concurrently (updates of their own customers and new follow-ups), then re-pushes a
   sample of the batches in a retry storm (plus fresh batches sent in several copies at
   once), and checks in the database that every edit was applied exactly once;
6. prints a summary with the environment and peak memory.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server_fixture import (
    DEFAULT_PG_URL,
    FULL_SIZES,
    PASSWORD,
    ROOT,
    CpuMeter,
    Dataset,
    add_users,
    check_sample_deal,
    create_schema,
    drop_schema,
    environment,
    load_dataset,
    percentile,
    say,
    server_peak_rss_mb,
    start_server,
    stop_server,
)

from server.db import create_server_engine
from sync.demo_data import CITIES, CustomerFactory
from sync.schema import ENTITIES, CustomerLevel, new_record_id
from sync.wire import encode_values

LEVELS = [lv.value for lv in CustomerLevel]
CITY_NAMES = [c for c, _ in CITIES]


TRANSPORT_RETRIES = Counter[str]()


def request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``client.request``, sent once more if the server closed an idle keep-alive connection
    just as it was reused (uvicorn drops them after 5 s). Safe: pulls are reads and pushes
    are idempotent — which the retry storm checks anyway."""
    try:
        return client.request(method, url, **kwargs)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        TRANSPORT_RETRIES[type(exc).__name__] += 1
        return client.request(method, url, **kwargs)


def login(base_url: str, username: str, device: str) -> httpx.Client:
    """A keep-alive client signed in as ``username`` (httpx asks for gzip by default)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD, "device_name": device},
        timeout=60,
    )
    response.raise_for_status()
    token = response.json()["token"]
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=600
    )


# --- 4. full pull ---------------------------------------------------------------------


@dataclass
class PullRun:
    page_size: int
    seconds: float
    records: int
    pages: int
    page_ms: list[float]
    wire_bytes: int
    json_bytes: int
    decode_seconds: float
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def full_pull(client: httpx.Client, page_size: int, expected: dict[str, int]) -> PullRun:
    """The admin's whole feed, page by page; every record must come exactly once."""
    cursor = ""
    counts: Counter[str] = Counter()
    page_ms: list[float] = []
    wire = raw = pages = 0
    decode = 0.0
    last_seq = 0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        response = request(
            client, "GET", "/api/v1/sync/pull", params={"cursor": cursor, "limit": page_size}
        )
        t1 = time.perf_counter()
        if response.status_code != 200:
            raise RuntimeError(f"pull failed: {response.status_code} {response.text[:300]}")
        page = orjson.loads(response.content)
        decode += time.perf_counter() - t1
        page_ms.append((t1 - t0) * 1000)
        wire += response.num_bytes_downloaded
        raw += len(response.content)
        pages += 1
        for change in page["changes"]:
            # The admin's feed has no riders or revocations here (customers were loaded
            # before their children): change numbers must strictly increase.
            assert change["seq"] > last_seq, (change["seq"], last_seq)
            assert change["op"] == "upsert", change
            last_seq = change["seq"]
            counts[change["entity"]] += 1
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    seconds = time.perf_counter() - start
    assert dict(counts) == {k: v for k, v in expected.items() if v}, (dict(counts), expected)
    return PullRun(page_size, seconds, sum(counts.values()), pages, page_ms, wire, raw, decode)


# --- 5. concurrent push ---------------------------------------------------------------


@dataclass
class Seller:
    """One salesperson's device: its token, client id and what it knows of its records."""

    username: str
    client: httpx.Client
    index: int
    client_id: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:12]}")
    # customer id -> {"version", "notes", "city", "level"} as this device last saw them
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    initial_versions: dict[str, int] = field(default_factory=dict)
    counter: int = 0
    pulled: int = 0
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # mutation id -> result
    versions: dict[str, int] = field(default_factory=dict)  # mutation id -> version it makes
    latencies_ms: list[float] = field(default_factory=list)
    # expected outcome once every batch is applied
    updates: Counter[str] = field(default_factory=Counter)  # customer id -> update count
    last_notes: dict[str, str] = field(default_factory=dict)
    follow_ups: list[str] = field(default_factory=list)


def initial_pull(seller: Seller, owned: set[str], wanted: int, page_size: int) -> None:
    """Pull the seller's feed until it knows ``wanted`` of its own customers (or all)."""
    cursor = ""
    while len(seller.customers) < min(wanted, len(owned)):
        response = request(
            seller.client, "GET", "/api/v1/sync/pull", params={"cursor": cursor, "limit": page_size}
        )
        response.raise_for_status()
        page = orjson.loads(response.content)
        seller.pulled += len(page["changes"])
        children = False
        for change in page["changes"]:
            if change["entity"] != "customer":
                children = True
            elif change["id"] in owned and change["op"] == "upsert":
                record = change["record"]
                assert record["owner_id"] == seller.username, record
                seller.initial_versions[change["id"]] = change["version"]
                seller.customers[change["id"]] = {
                    "version": change["version"],
                    "notes": record["notes"],
                    "city": record["city"],
                    "level": record["level"],
                }
        cursor = page["cursor"]
        # customers were loaded before all children: once a child shows, no customer follows
        if not page["has_more"] or children:
            break


def make_batch(
    seller: Seller, size: int, create_share: float, rnd: random.Random, now: datetime
) -> list[dict[str, Any]]:
    """``size`` edits of the seller's own customers; each sets a value never used before.

    Bases come from the device's own view, which it advances as it edits (the server
    applies a batch's mutations in order, so a second edit of a record builds on the first).
    """
    ids = list(seller.customers)
    factory = CustomerFactory(rnd.randrange(1 << 30))
    mutations = []
    for _ in range(size):
        seller.counter += 1
        n = seller.counter
        mutation_id = f"{seller.client_id}:{n}"
        customer_id = ids[(n - 1) % len(ids)]
        if rnd.random() < create_share:
            record_id = new_record_id()
            values = factory.follow_up_values(customer_id, now)
            values["content"] = f"bench follow-up {seller.username}:{n}"
            wire = encode_values(ENTITIES["follow_up"], values)
            mutations.append(
                {
                    "mutation_id": mutation_id,
                    "entity": "follow_up",
                    "record_id": record_id,
                    "op": "create",
                    "base_version": 0,
                    "fields": {k: {"new": v, "base": None} for k, v in wire.items()},
                }
            )
            seller.follow_ups.append(record_id)
            seller.versions[mutation_id] = 1
            continue
        state = seller.customers[customer_id]
        new = {
            "notes": f"bench edit {seller.username}:{n}",
            "city": rnd.choice([c for c in CITY_NAMES if c != state["city"]]),
            "level": rnd.choice([lv for lv in LEVELS if lv != state["level"]]),
        }
        mutations.append(
            {
                "mutation_id": mutation_id,
                "entity": "customer",
                "record_id": customer_id,
                "op": "update",
                "base_version": state["version"],
                "fields": {k: {"new": v, "base": state[k]} for k, v in new.items()},
            }
        )
        state.update(new)
        state["version"] += 1
        seller.versions[mutation_id] = state["version"]
        seller.updates[customer_id] += 1
        seller.last_notes[customer_id] = new["notes"]
    return mutations


def push(
    client: httpx.Client, client_id: str, mutations: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], float]:
    t0 = time.perf_counter()
    response = request(
        client,
        "POST",
        "/api/v1/sync/push",
        content=orjson.dumps({"client_id": client_id, "mutations": mutations}),
        headers={"Content-Type": "application/json"},
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"push failed: {response.status_code} {response.text[:300]}")
    results: list[dict[str, Any]] = orjson.loads(response.content)["results"]
    return results, elapsed


def check_applied(
    seller: Seller, mutations: list[dict[str, Any]], results: list[dict[str, Any]]
) -> None:
    assert len(results) == len(mutations)
    for m, r in zip(mutations, results, strict=True):
        assert r["mutation_id"] == m["mutation_id"], (m, r)
        assert r["status"] == "applied", r
        assert r["version"] == seller.versions[m["mutation_id"]], (r, m)
        seller.results[m["mutation_id"]] = r


def run_concurrently(sellers: list[Seller], work: Callable[[Seller], None]) -> float:
    """Run ``work`` for every seller in its own thread, all starting together; wall time."""
    barrier = threading.Barrier(len(sellers) + 1)
    errors: list[BaseException] = []

    def body(seller: Seller) -> None:
        barrier.wait()
        try:
            work(seller)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(s,)) for s in sellers]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


@dataclass
class StormFigures:
    requests: int = 0
    seconds: float = 0.0
    replayed_batches: int = 0
    raced_batches: int = 0
    copies: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def retry_storm(
    sellers: list[Seller], *, share: float, race_copies: int, batch_size: int, seed: int
) -> StormFigures:
    """Every seller's device re-sends a sample of its pushed batches (same mutation ids),
    while also sending one fresh batch in ``race_copies`` copies at once — as a device does
    that times out and retries while its first request is still being served."""
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    figures = StormFigures(copies=race_copies)
    jobs: list[tuple[Seller, list[dict[str, Any]], str]] = []
    for seller in sellers:
        sample = rnd.sample(seller.batches, max(1, round(len(seller.batches) * share)))
        jobs.extend((seller, batch, "replay") for batch in sample)
        figures.replayed_batches += len(sample)
        if race_copies > 0:
            fresh = make_batch(seller, batch_size, 0.2, rnd, now)
            seller.batches.append(fresh)
            jobs.extend((seller, fresh, "race") for _ in range(race_copies))
            figures.raced_batches += 1
    rnd.shuffle(jobs)
    local = threading.local()
    answers: list[tuple[Seller, list[dict[str, Any]], list[dict[str, Any]]]] = []
    lock = threading.Lock()

    def send(job: tuple[Seller, list[dict[str, Any]], str]) -> None:
        seller, batch, _ = job
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=str(seller.client.base_url), timeout=600)
        response_client: httpx.Client = local.client
        response_client.headers["Authorization"] = seller.client.headers["Authorization"]
        results, ms = push(response_client, seller.client_id, batch)
        with lock:
            answers.append((seller, batch, results))
            figures.latencies_ms.append(ms)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(sellers)) as pool:
        list(pool.map(send, jobs))
    figures.seconds = time.perf_counter() - start
    figures.requests = len(jobs)
    # Every copy gets the first answer: replays their stored results, racing copies all
    # the same result (exactly one of them applied the batch).
    for seller, batch, results in answers:
        for m, r in zip(batch, results, strict=True):
            first = seller.results.setdefault(m["mutation_id"], r)
            assert r == first, (r, first)
            assert r["status"] == "applied", r
            assert r["version"] == seller.versions[m["mutation_id"]], (r, m)
    return figures


@dataclass
class Verification:
    mutations: int
    audit_entries: int
    customers: int
    follow_ups: int


def verify_exactly_once(engine: Engine, sellers: list[Seller]) -> Verification:
    """In the database: each mutation recorded once, applied, audited once; each customer's
    version moved by exactly its number of edits; each new follow-up exists once."""
    client_ids = [s.client_id for s in sellers]
    expected = sum(s.counter for s in sellers)
    assert expected == sum(len(s.results) for s in sellers)
    with engine.connect() as conn:
        total, applied = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE result->>'status' = 'applied') "
                "FROM pushed_mutations WHERE client_id = ANY(:ids)"
            ),
            {"ids": client_ids},
        ).one()
        assert total == expected, f"pushed_mutations has {total} rows, expected {expected}"
        assert applied == expected, f"only {applied} of {expected} mutations are applied"
        distinct, most = conn.execute(
            text(
                "SELECT count(*), coalesce(max(n), 0) FROM (SELECT mutation_id, count(*) AS n "
                "FROM audit_log WHERE client_id = ANY(:ids) GROUP BY mutation_id) AS per_mutation"
            ),
            {"ids": client_ids},
        ).one()
        assert distinct == expected and most == 1, (distinct, most, expected)
        audit_total = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE client_id = ANY(:ids)"),
            {"ids": client_ids},
        ).scalar_one()
        assert audit_total == expected, f"{audit_total} audit entries for {expected} mutations"
        customers = follow_ups = 0
        for seller in sellers:
            rows = conn.execute(
                text("SELECT id, version, notes FROM customers WHERE id = ANY(:ids)"),
                {"ids": list(seller.updates)},
            ).all()
            assert len(rows) == len(seller.updates)
            for record_id, version, notes in rows:
                want = seller.initial_versions[record_id] + seller.updates[record_id]
                assert version == want, f"customer {record_id}: version {version}, want {want}"
                assert notes == seller.last_notes[record_id], (notes, record_id)
            customers += len(rows)
            found = conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE version = 1) "
                    "FROM follow_ups WHERE id = ANY(:ids)"
                ),
                {"ids": seller.follow_ups},
            ).one()
            assert tuple(found) == (len(seller.follow_ups),) * 2, (found, len(seller.follow_ups))
            follow_ups += len(seller.follow_ups)
    return Verification(expected, audit_total, customers, follow_ups)


# --- main -----------------------------------------------------------------------------


@dataclass
class PushFigures:
    clients: int
    edits: int
    seconds: float
    latencies_ms: list[float]
    login_seconds: float
    pull_seconds: float
    pulled: int
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.edits / self.seconds


def push_phase(
    base_url: str, data: Dataset, args: argparse.Namespace, meter: CpuMeter
) -> tuple[list[Seller], PushFigures]:
    names = sorted(data.owners)[: args.clients]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        clients = list(pool.map(lambda n: login(base_url, n, f"bench {n}"), names))
    login_seconds = time.perf_counter() - t0
    sellers = [Seller(n, c, i) for i, (n, c) in enumerate(zip(names, clients, strict=True))]
    wanted = args.batches * args.batch_size
    pull_seconds = run_concurrently(
        sellers,
        lambda s: initial_pull(s, set(data.owners[s.username]), wanted, page_size=5000),
    )
    for s in sellers:
        assert s.customers, f"{s.username} owns no customers at this scale"
    say(
        f"  {len(sellers)} sellers signed in ({login_seconds:.1f} s) and pulled their own "
        f"customers: {sum(s.pulled for s in sellers):,} changes in {pull_seconds:.1f} s"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    for s in sellers:
        rnd = random.Random(args.seed * 1000 + s.index)
        s.batches = [
            make_batch(s, args.batch_size, args.create_share, rnd, now) for _ in range(args.batches)
        ]

    def work(seller: Seller) -> None:
        for batch in seller.batches:
            results, ms = push(seller.client, seller.client_id, batch)
            check_applied(seller, batch, results)
            seller.latencies_ms.append(ms)

    before = meter.sample()
    seconds = run_concurrently(sellers, work)
    cpu = meter.spent(before, meter.sample())
    edits = sum(len(b) for s in sellers for b in s.batches)
    latencies = [ms for s in sellers for ms in s.latencies_ms]
    return sellers, PushFigures(
        len(sellers),
        edits,
        seconds,
        latencies,
        login_seconds,
        pull_seconds,
        sum(s.pulled for s in sellers),
        cpu,
    )


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
    parser.add_argument("--runs", type=int, default=3, help="full pulls per page size (median)")
    parser.add_argument(
        "--page-size",
        type=int,
        nargs="+",
        default=[1000, 5000],
        help="page sizes for the full pull; the first is the headline figure",
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--pool-size", type=int, default=5, help="database connections per worker (+2x overflow)"
    )
    parser.add_argument("--salespeople", type=int, default=50, help="sales accounts")
    parser.add_argument("--clients", type=int, default=50, help="concurrent pushing devices")
    parser.add_argument("--batches", type=int, default=20, help="batches per device")
    parser.add_argument("--batch-size", type=int, default=50, help="edits per batch")
    parser.add_argument(
        "--create-share", type=float, default=0.2, help="part of edits that add a follow-up"
    )
    parser.add_argument(
        "--retry-share", type=float, default=0.2, help="part of batches re-pushed in the storm"
    )
    parser.add_argument(
        "--race-copies",
        type=int,
        default=3,
        help="copies of one fresh batch per device sent at once in the storm (0: none)",
    )
    parser.add_argument("--chunk", type=int, default=10_000, help="records per load transaction")
    parser.add_argument(
        "--loader",
        choices=["copy", "insert"],
        default="copy",
        help="bulk load with COPY, or with server.seed.load_records (INSERT)",
    )
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--load-only", action="store_true", help="only load the data (to compare --loader)"
    )
    args = parser.parse_args(argv)
    if args.clients > args.salespeople:
        parser.error("--clients cannot exceed --salespeople (one device per salesperson)")
    return args


Summary = list[tuple[str, str]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = {entity: max(1, round(n * args.scale)) for entity, n in FULL_SIZES.items()}
    total = sum(sizes.values())
    say(
        f"server benchmark: scale {args.scale} = {total:,} records "
        f"({', '.join(f'{n:,} {e}' for e, n in sizes.items())}), {args.workers} worker(s)"
    )
    load_before = os.getloadavg()
    schema, db_url = create_schema(args.pg_url)
    say(f"schema {schema}")
    engine: Engine | None = None
    summary: Summary = []
    server_peaks: list[float] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "server.main", "db", "upgrade", "--db", db_url],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        engine = create_server_engine(db_url, pool_size=2)
        env = environment(engine)
        salespeople = add_users(engine, args.salespeople)
        data = load_phase(engine, sizes, salespeople, args, summary)
        load_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not args.load_only:
            server_peaks = http_phases(engine, db_url, data, args, summary)
    finally:
        if engine is not None:
            engine.dispose()
        if args.keep:
            say(f"kept schema {schema}: {db_url}")
        else:
            drop_schema(args.pg_url, schema)

    bench_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary += [
        (
            "transport retries",
            ", ".join(f"{n} after {kind}" for kind, n in TRANSPORT_RETRIES.items())
            or "none (no idle keep-alive connection was dropped under a request)",
        ),
        (
            "environment",
            f"{env['cpus']} CPUs, Python {env['python']}, PostgreSQL {env['postgresql']}; "
            f"server: {args.workers} worker(s), pool {args.pool_size} (+{args.pool_size * 2} "
            "overflow) per worker; bench client, server and database on this one machine; "
            f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after",
        ),
        (
            "peak RSS",
            f"bench process {bench_rss:,.0f} MB ({load_rss:,.0f} MB up to the end of the load; "
            "the rest is the devices' initial pull pages, decoded at once)"
            + (
                f"; server processes {', '.join(f'{mb:,.0f}' for mb in server_peaks)} MB "
                "(the workers' peak comes from the concurrent logins: Argon2 takes 64 MiB "
                "per password check)"
                if server_peaks
                else ""
            ),
        ),
    ]
    say("")
    say("=" * 100)
    width = max(len(name) for name, _ in summary)
    for name, value in summary:
        say(f"{name:<{width}} : {value}")
    say("=" * 100)
    return 0


def load_phase(
    engine: Engine,
    sizes: dict[str, int],
    salespeople: list[str],
    args: argparse.Namespace,
    summary: Summary,
) -> Dataset:
    total = sum(sizes.values())
    say(f"loading ({args.loader}, {args.chunk:,} records per transaction) ...")
    data, load = load_dataset(
        engine, sizes, salespeople, chunk=args.chunk, loader=args.loader, seed=args.seed
    )
    assert load.records == total
    db_seconds = load.seconds - load.generate_seconds
    summary += [
        (
            "load",
            f"{total:,} records in {load.seconds:.1f} s = {total / load.seconds:,.0f} "
            f"records/s ({args.loader}; generating values {load.generate_seconds:.1f} s, "
            f"checking + writing {db_seconds:.1f} s = {total / db_seconds:,.0f} records/s)",
        ),
        ("vacuum analyze", f"{load.analyze_seconds:.1f} s"),
    ]
    say(f"  {summary[-2][1]}")
    check_sample_deal(engine, data)
    return data


def http_phases(
    engine: Engine, db_url: str, data: Dataset, args: argparse.Namespace, summary: Summary
) -> list[float]:
    """Start the server; full pulls, concurrent push, retry storm, checks. Returns the
    server processes' peak RSS in MB."""
    log_path = Path(tempfile.mkdtemp(prefix="outpost-bench-")) / "server.log"
    proc, base_url = start_server(db_url, log_path, args.workers, args.pool_size)
    say(f"server at {base_url} (log {log_path})")
    try:
        meter = CpuMeter(proc.pid)
        admin = login(base_url, "admin", "bench admin")
        for page_size in args.page_size:
            pull_figures(admin, page_size, data.sizes, args.runs, meter, summary)
        admin.close()

        say(
            f"push: {args.clients} devices x {args.batches} batches x {args.batch_size} edits "
            f"({args.create_share:.0%} new follow-ups) ..."
        )
        sellers, pushed = push_phase(base_url, data, args, meter)
        summary += [
            (
                "sales initial pulls",
                f"{pushed.pulled:,} changes to {pushed.clients} concurrent devices in "
                f"{pushed.pull_seconds:.1f} s = {pushed.pulled / pushed.pull_seconds:,.0f} "
                f"records/s (page 5000; {pushed.clients} concurrent logins before: "
                f"{pushed.login_seconds:.1f} s)",
            ),
            (
                "concurrent push",
                f"{pushed.rate:,.0f} edits/s ({pushed.edits:,} edits in {pushed.seconds:.1f} s, "
                f"{len(pushed.latencies_ms):,} batches of {args.batch_size}; batch p50 "
                f"{percentile(pushed.latencies_ms, 50):.0f} ms, "
                f"p95 {percentile(pushed.latencies_ms, 95):.0f} ms, "
                f"max {max(pushed.latencies_ms):.0f} ms)",
            ),
            (
                "  CPU per batch",
                ", ".join(
                    f"{who} {pushed.cpu[who] / len(pushed.latencies_ms) * 1000:,.1f} ms"
                    for who in ("server", "postgres", "bench")
                )
                + f" (batches of {args.batch_size} edits)",
            ),
        ]
        say(f"  {summary[-2][1]}")
        storm = retry_storm(
            sellers,
            share=args.retry_share,
            race_copies=args.race_copies,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        summary.append(
            (
                "retry storm",
                f"{storm.requests} pushes in {storm.seconds:.1f} s "
                f"({storm.replayed_batches} batches replayed, {storm.raced_batches} fresh "
                f"batches sent {storm.copies}x at once; p50 "
                f"{percentile(storm.latencies_ms, 50):.0f} ms, p95 "
                f"{percentile(storm.latencies_ms, 95):.0f} ms): every copy got the first answer",
            )
        )
        say(f"  {summary[-1][1]}")
        checked = verify_exactly_once(engine, sellers)
        summary.append(
            (
                "exactly once",
                f"OK: {checked.mutations:,} mutations, each one pushed_mutations row (applied) "
                f"and one audit entry ({checked.audit_entries:,}); {checked.customers:,} "
                f"customers' versions moved by exactly their edit count; "
                f"{checked.follow_ups:,} follow-ups created once",
            )
        )
        for s in sellers:
            s.client.close()
        peaks = server_peak_rss_mb(proc.pid)
    finally:
        code = stop_server(proc)
    assert code == 0, f"server exited with {code}; see {log_path}"
    return peaks


def pull_figures(
    admin: httpx.Client,
    page_size: int,
    sizes: dict[str, int],
    runs: int,
    meter: CpuMeter,
    summary: Summary,
) -> None:
    results: list[PullRun] = []
    for run in range(runs):
        before = meter.sample()
        result = full_pull(admin, page_size, sizes)
        result.cpu = meter.spent(before, meter.sample())
        results.append(result)
        say(
            f"  full pull, page {page_size}, run {run + 1}: {result.records:,} records "
            f"in {result.seconds:.1f} s = {result.rate:,.0f} records/s"
        )

    def median(figure: Callable[[PullRun], float]) -> float:
        return statistics.median(figure(r) for r in results)

    summary += [
        (
            f"full pull, page {page_size}",
            f"{median(lambda r: r.rate):,.0f} records/s "
            f"({results[0].records:,} records exactly once, "
            f"{median(lambda r: r.seconds):.1f} s, {results[0].pages} pages; "
            f"page p50 {median(lambda r: percentile(r.page_ms, 50)):.0f} ms, "
            f"p95 {median(lambda r: percentile(r.page_ms, 95)):.0f} ms; "
            f"{median(lambda r: r.wire_bytes) / 1e6:,.1f} MB on the wire (gzip) "
            f"of {median(lambda r: r.json_bytes) / 1e6:,.1f} MB JSON; "
            f"client JSON decode {median(lambda r: r.decode_seconds):.1f} s)",
        ),
        (
            "  CPU per 1000 records",
            ", ".join(
                f"{who} {median(lambda r, w=who: r.cpu[w] / r.records * 1e6):,.0f} ms"
                for who in ("server", "postgres", "bench")
            )
            + " (bench = this client: HTTP, gzip and JSON decoding)",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
