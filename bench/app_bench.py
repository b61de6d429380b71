"""Desktop app benchmark: the customer list at 100,000 customers.

    QT_QPA_PLATFORM=offscreen python bench/app_bench.py            # 100,000 customers
    python bench/app_bench.py --customers 20000 --runs 1 --queries 30

The replica (``--customers`` server customers with next follow-ups, owners, a few hundred
pending edits, failed edits and conflicts) is built once by a child process and kept at
``--replica`` (a profile directory; by default one in the temporary directory, reused
while it holds that many customers). Then, median of ``--runs`` runs:

1. **search keystroke to results painted** — in this process, a shown
   :class:`~app.customer_list_view.CustomerListView`: ``--queries`` real names, pinyin
   initials, full pinyin and phone digits are typed one keystroke at a time
   (``setText`` with the next prefix). Each keystroke is timed from ``setText`` to the
   model reset, the new count, the first window read and the table's viewport repainted.
   The search pause (150 ms debounce) is NOT included: the bench calls ``flush_search()``
   right after the keystroke, as the pause's timer would. Target p95 <= 50 ms.
2. **scrolling** — the list unfiltered, sorted by name and by next follow-up: the window
   read at row ~90,000, random scroll-bar jumps and a page-down sweep, each until
   repainted.
3. **launch to list painted** — ``python -m app.main --profile DIR --work-offline
   --measure-startup`` in a child process: wall time from ``Popen`` to its line
   ``startup-ms N`` (and that N, the app's own figure from its first line of Python).
   Target <= 1.5 s.

Peak RSS: this process (the list view; the replica was built by a child) and the largest
launched app.
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
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sync import search  # noqa: E402
from sync.demo_data import CustomerFactory  # noqa: E402
from sync.replica import Replica, defer_indexes, restore_indexes, store_server_rows  # noqa: E402

SEED = 20261124
OWNERS = ("u-demo", "alice", "bob", "carol", None)
BUILD_BATCH = 5000
STARTUP_TIMEOUT_S = 120


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


# --- the replica ---------------------------------------------------------------------------


def bench_records(count: int) -> list[dict[str, Any]]:
    """The benchmark's customers: the demo factory's, plus follow-up dates and owners."""
    rnd = random.Random(SEED + 1)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    records = list(CustomerFactory(SEED).server_customers(count))
    for r in records:
        if rnd.random() < 0.4:
            r["next_follow_up_at"] = now + timedelta(minutes=rnd.randrange(-20_000, 80_000))
        r["owner_id"] = rnd.choice(OWNERS)
    return records


def build_replica(directory: Path, count: int) -> None:
    """Fill an empty replica as an initial sync does (indexes built at the end), then add
    local edits: 300 pending, 20 failed, 10 conflicts."""
    replica = Replica.open(directory)
    try:
        records = bench_records(count)
        with replica.write() as conn:
            defer_indexes(conn)
            for start in range(0, len(records), BUILD_BATCH):
                store_server_rows(conn, "customer", records[start : start + BUILD_BATCH])
            restore_indexes(conn)
        replica.set_meta("user_id", "u-demo")
        rnd = random.Random(SEED + 2)
        edited = rnd.sample(records, min(330, count))
        for r in edited:
            replica.customers.update(r["id"], {"city": "拉萨"})
        with replica.write() as conn:
            for r in edited[300:320]:
                conn.exec_driver_sql(
                    "UPDATE outbox SET status = 'failed', last_error = 'refused by the bench' "
                    "WHERE record_id = ?",
                    (r["id"],),
                )
            for r in edited[320:]:
                conn.exec_driver_sql(
                    "DELETE FROM outbox WHERE record_id = ?",
                    (r["id"],),
                )
                conn.exec_driver_sql(
                    "INSERT INTO conflicts (entity, record_id, kind, fields, created_at) "
                    "VALUES ('customer', ?, 'field', '[]', '2026-11-01 00:00:00.000000')",
                    (r["id"],),
                )
    finally:
        replica.close()


def ensure_replica(directory: Path, count: int) -> float:
    """Reuse the replica at ``directory`` if it holds ``count`` customers, else build it (in
    a child process, so that this process's peak RSS is the list's alone). Returns the
    seconds spent building (0 when reused)."""
    if (directory / "replica.sqlite3").exists():
        with Replica.open(directory) as replica:
            if replica.customers.count() == count:
                return 0.0
        for name in ("replica.sqlite3", "replica.sqlite3-wal", "replica.sqlite3-shm"):
            (directory / name).unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--build-only",
            "--replica",
            str(directory),
            "--customers",
            f"{count}",
        ],
        check=True,
    )
    return time.perf_counter() - start


# --- the queries ---------------------------------------------------------------------------


def typed_queries(directory: Path, count: int, rnd: random.Random) -> list[tuple[str, str]]:
    """(kind, full text) of what users type: real names, their pinyin initials and full
    pinyin, phone digits; taken from customers in the replica."""
    with Replica.open(directory) as replica:
        total = replica.customers.count()
        picks = [
            replica.customers.query(offset=rnd.randrange(total), limit=1)[0] for _ in range(count)
        ]
    out: list[tuple[str, str]] = []
    kinds = ("name", "initials", "pinyin", "phone")
    for i, record in enumerate(picks):
        kind = kinds[i % len(kinds)]
        name = record["name"]
        han = search.has_han(name)
        if kind == "phone":
            digits = "".join(c for c in record["mobile"] or "" if c.isdigit())[-11:]
            out.append((kind, digits[:7]))
        elif not han:
            first, last = name.split()[:2]
            text = {"name": last, "initials": first[0] + last[0], "pinyin": first}[kind]
            out.append((kind, text.lower()))
        else:
            syllables = search.pinyin_syllables(name)
            text = {
                "name": name,
                "initials": "".join(s[0] for s in syllables),
                "pinyin": "".join(syllables),
            }[kind]
            out.append((kind, text))
    return out


# --- in-process measurements ---------------------------------------------------------------


class ListBench:
    """A shown customer list over the replica, and ways to time what it does."""

    def __init__(self, directory: Path) -> None:
        from PySide6.QtWidgets import QApplication

        from app.customer_list_view import CustomerListView
        from app.events import DataEvents

        self.qapp = QApplication.instance() or QApplication([])
        self.replica = Replica.open(directory)
        self.events = DataEvents()
        self.view = CustomerListView(self.replica, self.events, self.replica.user_id)
        self.view.resize(1200, 800)
        self.paints = _PaintCounter(self.view.table.viewport())
        self.view.show()
        self.settle()

    def settle(self) -> None:
        for _ in range(3):
            self.qapp.processEvents()

    def paint(self) -> None:
        """Let the event loop lay out and paint the table, as it would for the next frame
        (and paint it now if it did not)."""
        before = self.paints.count
        self.qapp.processEvents()
        if self.paints.count == before:
            self.view.table.viewport().repaint()

    def keystroke(self, text: str) -> float:
        """ms from setting the search text to the results painted (no debounce pause)."""
        model = self.view.model
        fetched = model.window_fetches
        start = time.perf_counter()
        self.view.search_field.setText(text)
        self.view.flush_search()
        self.paint()
        elapsed = (time.perf_counter() - start) * 1000
        if model.rowCount() and model.window_fetches == fetched:
            raise AssertionError(f"{text!r}: results painted without reading a window")
        return elapsed

    def type_queries(
        self, queries: list[tuple[str, str]]
    ) -> tuple[list[tuple[str, float]], list[float]]:
        """(kind, ms) of every keystroke, and the ms of clearing the search after each query."""
        keystrokes: list[tuple[str, float]] = []
        clears: list[float] = []
        for kind, text in queries:
            for end in range(1, len(text) + 1):
                keystrokes.append((kind, self.keystroke(text[:end])))
            clears.append(self.keystroke(""))
        return keystrokes, clears

    def window_at(self, row: int, field: str) -> float:
        """ms to read the list's window at ``row`` (the model's query: one SQL read of
        its columns) with the unfiltered list sorted by ``field``."""
        from app.customer_table_model import LIST_FIELDS, CustomerTableModel
        from sync.repository import ListQuery, Sort

        repo = self.replica.customers
        frame = repo.list_frame(ListQuery(sort=Sort(field)))
        size = CustomerTableModel.DEFAULT_WINDOW_SIZE
        start = time.perf_counter()
        rows = repo.list_window(frame, LIST_FIELDS, row // size * size, size)
        elapsed = (time.perf_counter() - start) * 1000
        assert rows, "no rows at that position"
        return elapsed

    def scroll(self, positions: list[int]) -> list[float]:
        """ms per scroll-bar move to ``positions`` (rows), each until repainted."""
        bar = self.view.table.verticalScrollBar()
        times: list[float] = []
        for value in positions:
            start = time.perf_counter()
            bar.setValue(value)
            self.paint()
            times.append((time.perf_counter() - start) * 1000)
        return times

    def close(self) -> None:
        self.view.close()
        self.view.deleteLater()
        self.settle()
        self.replica.close()


def in_process(
    directory: Path, queries: list[tuple[str, str]], runs: int, rnd: random.Random
) -> dict[str, Any]:
    from PySide6.QtCore import Qt

    from app.customer_table_model import CustomerTableModel as M

    bench = ListBench(directory)
    rows = bench.view.model.rowCount()
    figures: dict[str, list[Any]] = {k: [] for k in ("keys", "clears", "by_kind", "scroll")}
    try:
        for _ in range(runs):
            keys, clears = bench.type_queries(queries)
            figures["keys"].append([ms for _, ms in keys])
            figures["clears"].append(clears)
            by_kind: dict[str, list[float]] = {}
            for kind, ms in keys:
                by_kind.setdefault(kind, []).append(ms)
            figures["by_kind"].append(by_kind)
        deep = min(90_000, rows - 1)
        windows = {}
        for label, field in (("name", "name"), ("next follow-up", "next_follow_up_at")):
            windows[label] = statistics.median(bench.window_at(deep, field) for _ in range(5))
        bench.view.model.sort(M.NAME, Qt.SortOrder.AscendingOrder)
        bar = bench.view.table.verticalScrollBar()
        jumps = [rnd.randrange(bar.maximum() + 1) for _ in range(60)]
        page = max(1, bar.pageStep())
        sweep = list(range(0, min(bar.maximum(), 400 * page), page))
        scroll = {"jumps": bench.scroll(jumps), "page-down": bench.scroll(sweep)}
        bench.view.model.sort(M.NEXT_FOLLOW_UP, Qt.SortOrder.AscendingOrder)
        scroll["jumps (next follow-up)"] = bench.scroll(jumps)
    finally:
        bench.close()
    return {"rows": rows, **figures, "windows": windows, "scroll_figures": scroll}


class _PaintCounter:
    """Counts the paint events of a widget."""

    def __init__(self, widget: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, watched: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    counter.count += 1
                return False

        self.count = 0
        self._filter = Filter()
        widget.installEventFilter(self._filter)


# --- launch to list painted ----------------------------------------------------------------


class StartupUnavailableError(RuntimeError):
    """The app cannot measure its startup (no --measure-startup yet, or it failed)."""


def launch_once(directory: Path, sandbox: Path) -> tuple[float, float, float]:
    """(wall ms from Popen to the 'startup-ms' line, the app's own startup-ms, its peak RSS
    in MB by then)."""
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"),
        XDG_CONFIG_HOME=str(sandbox / "config"),
        XDG_DATA_HOME=str(sandbox / "data"),
        XDG_CACHE_HOME=str(sandbox / "cache"),
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "app.main", "--profile", str(directory)]
    command += ["--work-offline", "--measure-startup"]
    start = time.perf_counter()
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    own: float | None = None
    wall = rss = 0.0
    deadline = start + STARTUP_TIMEOUT_S
    try:
        for line in child.stdout:
            if line.startswith("startup-ms "):
                wall = (time.perf_counter() - start) * 1000
                own = float(line.split()[1])
                rss = _peak_rss_of(child.pid)
                break
            if time.perf_counter() > deadline:
                break
    finally:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if own is None:
        err = child.stderr.read() if child.stderr else ""
        if "unrecognized arguments" in err or "--measure-startup" in err:
            raise StartupUnavailableError(
                "the app has no --measure-startup yet (app/main.py): part 3 cannot run"
            )
        raise StartupUnavailableError(
            f"the app exited ({child.returncode}) without printing 'startup-ms': "
            f"{err.strip()[-800:]}"
        )
    return wall, own, rss


def _peak_rss_of(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def launches(directory: Path, count: int) -> tuple[list[float], list[float], list[float]]:
    walls: list[float] = []
    owns: list[float] = []
    rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="outpost-app-bench-") as tmp:
        for _ in range(count):
            wall, own, peak = launch_once(directory, Path(tmp))
            walls.append(wall)
            owns.append(own)
            rss.append(peak)
    return walls, owns, rss


# --- report --------------------------------------------------------------------------------


def summary(runs: list[list[float]]) -> tuple[float, float, int]:
    """Median over runs of each run's p50 and p95, and the samples per run."""
    p50 = statistics.median(percentile(r, 50) for r in runs)
    p95 = statistics.median(percentile(r, 95) for r in runs)
    return p50, p95, len(runs[0]) if runs else 0


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is printed")
    parser.add_argument("--queries", type=int, default=100, help="queries typed per run")
    parser.add_argument("--launches", type=int, default=5, help="app launches to time")
    parser.add_argument(
        "--replica",
        type=Path,
        help="profile directory of the benchmark replica (built if missing or of another "
        "size; default: outpost-app-bench-N in the temporary directory)",
    )
    parser.add_argument("--skip-launch", action="store_true", help="leave out part 3")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    directory = args.replica or Path(tempfile.gettempdir()) / f"outpost-app-bench-{args.customers}"
    if args.build_only:
        build_replica(directory, args.customers)
        return 0
    print(
        f"app benchmark: {args.customers:,} customers, {args.runs} run(s) (median shown), "
        f"{args.queries} queries typed a keystroke at a time; replica {directory}"
    )
    built = ensure_replica(directory, args.customers)
    print(f"replica: built in {built:.1f} s" if built else "replica: reused")
    rnd = random.Random(SEED)
    queries = typed_queries(directory, args.queries, rnd)
    figures = in_process(directory, queries, args.runs, rnd)
    failures: list[str] = []

    p50, p95, n = summary(figures["keys"])
    print(f"1. search keystroke -> results painted ({n} keystrokes per run; debounce excluded):")
    print(
        f"   all keystrokes  p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   target p95 <= 50 ms: ", end=""
    )
    print(verdict(p95 <= 50))
    if p95 > 50:
        failures.append("search p95")
    kinds = figures["by_kind"][0].keys()
    for kind in kinds:
        k50, k95, kn = summary([run[kind] for run in figures["by_kind"]])
        print(f"   {kind:<15} p50 {k50:6.1f} ms   p95 {k95:6.1f} ms   ({kn} keystrokes)")
    c50, c95, _ = summary(figures["clears"])
    print(
        f"   search cleared (all {figures['rows']:,} back)  p50 {c50:6.1f} ms   p95 {c95:6.1f} ms"
    )

    print("2. scrolling the unfiltered list (each step until repainted):")
    for label, ms in figures["windows"].items():
        print(f"   window read at row ~90,000 sorted by {label:<15}: {ms:6.1f} ms")
    for label, times in figures["scroll_figures"].items():
        print(
            f"   scroll {label:<23} p50 {percentile(times, 50):6.1f} ms   "
            f"p95 {percentile(times, 95):6.1f} ms   ({len(times)} moves)"
        )
    print(f"   peak RSS of this process (the list view): {peak_rss_mb():.0f} MB")

    if args.skip_launch:
        print("3. launch -> list painted: skipped (--skip-launch)")
    else:
        try:
            walls, owns, rss = launches(directory, args.launches)
        except StartupUnavailableError as exc:
            print(f"3. launch -> list painted: FAILED: {exc}")
            failures.append("launch")
        else:
            wall = statistics.median(walls)
            print(f"3. launch -> list painted (median of {len(walls)} launches):")
            print(f"   wall time from Popen : {wall:7.0f} ms   target <= 1500 ms: ", end="")
            print(verdict(wall <= 1500))
            print(f"   the app's startup-ms : {statistics.median(owns):7.0f} ms")
            print(f"   runs (wall ms)       : {', '.join(f'{w:.0f}' for w in walls)}")
            print(f"   peak RSS of the app  : {max(rss):7.0f} MB (at its first paint)")
            if wall > 1500:
                failures.append("launch time")
    if failures:
        print(f"missed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
