"""Replica benchmark: bulk insert rate, search latency and file size at N customers.

    python bench/replica_bench.py                 # 100,000 customers, 3 runs
    python bench/replica_bench.py -n 20000 --runs 1

Prints, for the median of ``--runs`` runs:

* bulk insert of server records (the initial-sync path: records, derived pinyin/search
  columns, FTS5 index) in records/s, plus the floor — the same rows inserted by plain
  ``executemany`` with no search columns or index — to show what search costs;
* per-edit writes through the repository (record + outbox row, one transaction each);
* search latency p50/p95 over 200 queries of each kind: name substring, phone fragment,
  pinyin initials (and full pinyin);
* the replica file size.

Targets (issue #2): search p95 <= 30 ms and bulk insert >= 50,000 records/s at 100k.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync import search
from sync.demo_data import CustomerFactory
from sync.replica import Replica

BATCH = 2000


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bulk_insert(path: Path, records: list[dict[str, Any]]) -> float:
    replica = Replica.open(path)
    start = time.perf_counter()
    for i in range(0, len(records), BATCH):
        replica.store_server_records("customer", records[i : i + BATCH])
    elapsed = time.perf_counter() - start
    replica.close()
    return len(records) / elapsed


def raw_floor(path: Path, records: list[dict[str, Any]]) -> float:
    """The same rows into a bare SQLite table: no ORM, no search columns, no index."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    names = [k for k in records[0] if k != "tags"]
    conn.execute(f"CREATE TABLE c (row_id INTEGER PRIMARY KEY, {', '.join(names)}, tags)")
    sql = f"INSERT INTO c ({', '.join(names)}, tags) VALUES ({', '.join('?' * (len(names) + 1))})"
    start = time.perf_counter()
    for i in range(0, len(records), BATCH):
        conn.execute("BEGIN")
        conn.executemany(
            sql,
            [
                (*(str(r[n]) if r[n] is not None else None for n in names), str(r["tags"]))
                for r in records[i : i + BATCH]
            ],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(records) / elapsed


def edit_rate(path: Path, factory: CustomerFactory, count: int) -> float:
    replica = Replica.open(path)
    values = [factory.customer_values() for _ in range(count)]
    start = time.perf_counter()
    for v in values:
        replica.customers.create(v)
    elapsed = time.perf_counter() - start
    replica.close()
    return count / elapsed


def queries(records: list[dict[str, Any]], rnd: random.Random) -> dict[str, list[str]]:
    sample = rnd.sample(records, 200)
    kinds: dict[str, list[str]] = {
        "name substring": [],
        "phone fragment": [],
        "pinyin initials": [],
        "full pinyin": [],
    }
    for r in sample:
        name = r["name"]
        if search.has_han(name):
            # a Chinese user types the surname and given name, or the given name alone
            kinds["name substring"].append(
                name[: rnd.choice((2, len(name)))] if len(name) > 2 else name
            )
            syllables = search.pinyin_syllables(name)
            kinds["pinyin initials"].append("".join(s[0] for s in syllables))
            kinds["full pinyin"].append("".join(syllables))
        else:
            first, last = name.split()
            kinds["name substring"].append(rnd.choice((first, last))[:4].lower())
            kinds["pinyin initials"].append(first[0] + last[0])
            kinds["full pinyin"].append(last.lower())
        digits = "".join(c for c in r["mobile"] if c.isdigit())[-11:]
        start = rnd.randrange(0, len(digits) - 5)
        kinds["phone fragment"].append(digits[start : start + rnd.choice((4, 5, 6))])
    return kinds


def search_latency(
    path: Path, kinds: dict[str, list[str]]
) -> dict[str, tuple[float, float, float]]:
    replica = Replica.open(path)
    out = {}
    for kind, qs in kinds.items():
        for q in qs[:10]:  # warm the page cache the way a session would
            replica.customers.query(search=q, limit=50)
        times, hits = [], []
        for q in qs:
            t0 = time.perf_counter()
            rows = replica.customers.query(search=q, limit=50)
            times.append((time.perf_counter() - t0) * 1000)
            hits.append(len(rows))
        out[kind] = (percentile(times, 50), percentile(times, 95), statistics.mean(hits))
    replica.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is printed")
    parser.add_argument("--edits", type=int, default=2000, help="per-edit writes to time")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)

    factory = CustomerFactory(args.seed)
    records = list(factory.server_customers(args.customers))
    rnd = random.Random(args.seed)
    kinds = queries(records, rnd)
    print(f"replica benchmark: {args.customers:,} customers, {args.runs} run(s), median shown")

    with tempfile.TemporaryDirectory() as tmp:
        rates, floors, sizes, edits = [], [], [], []
        last: Path | None = None
        for run in range(args.runs):
            path = Path(tmp) / f"run{run}" / "replica.sqlite3"
            rates.append(bulk_insert(path, records))
            sizes.append(path.stat().st_size)
            floors.append(raw_floor(Path(tmp) / f"floor{run}.sqlite3", records))
            edits.append(edit_rate(Path(tmp) / f"edits{run}", factory, args.edits))
            last = path
        assert last is not None
        print(
            f"bulk insert (records + pinyin + FTS5): {statistics.median(rates):>10,.0f} records/s"
        )
        print(
            f"raw floor (bare executemany)         : {statistics.median(floors):>10,.0f} records/s"
        )
        print(f"per-edit create (record+outbox, txn) : {statistics.median(edits):>10,.0f} edits/s")
        print(f"replica file size                    : {statistics.median(sizes) / 1e6:>10,.1f} MB")
        print("search latency over 200 queries each (limit 50):")
        for kind, (p50, p95, hits) in search_latency(last, kinds).items():
            print(f"  {kind:<16} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   mean hits {hits:5.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
