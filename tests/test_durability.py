"""Crash safety of the replica: kill -9 in the middle of a burst of edits."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from sync.outbox import list_mutations
from sync.replica import Replica

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("OUTPOST_CRASH_ROUNDS", "4"))


def counter_of(mutation_id: str) -> int:
    return int(mutation_id.rsplit(":", 1)[1])


def run_and_kill(profile: Path, seed: int, kill_after: int) -> list[dict[str, str]]:
    """Start a burst of edits, SIGKILL it after ``kill_after`` committed edits (plus a
    random few milliseconds, so the kill lands inside a transaction as often as not)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.edit_burst", str(profile), str(seed), "100000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    committed: list[dict[str, str]] = []
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        while len(committed) < kill_after:
            line = proc.stdout.readline()
            assert line, "the edit burst stopped before it was killed"
            committed.append(json.loads(line))
        time.sleep(random.Random(seed).uniform(0, 0.01))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # lines it printed between our last read and the kill were committed too
    committed.extend(json.loads(line) for line in proc.stdout.read().splitlines() if line)
    assert proc.returncode == -signal.SIGKILL
    return committed


@pytest.mark.slow
def test_kill_9_during_edits_loses_no_committed_edit(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    seen_ids: list[str] = []
    for round_no in range(ROUNDS):
        committed = run_and_kill(profile, seed=round_no, kill_after=10 + 7 * round_no)

        replica = Replica.open(profile)
        try:
            assert replica.check_integrity() == []
            with replica.read() as conn:
                queued = {m.mutation_id: m for m in list_mutations(conn)}
                records = {
                    row.id: row.deleted
                    for row in conn.execute(text("SELECT id, deleted FROM customers"))
                }
            # every edit the process reported as committed is in the outbox...
            for edit in committed:
                assert edit["mutation_id"] in queued, edit
                assert queued[edit["mutation_id"]].record_id == edit["record_id"]
            # ...and every outbox row has its record, in the state the edit left it in
            for mutation in queued.values():
                assert mutation.record_id in records
            for record_id, deleted in records.items():
                ops = [m.op for m in queued.values() if m.record_id == record_id]
                assert ops[0] == "create"  # nothing here ever came from a server
                assert bool(deleted) == ("delete" in ops)
            # mutation ids never repeat, across every restart so far
            new_ids = [m for m in queued if m not in seen_ids]
            assert all(counter_of(m) > max(map(counter_of, seen_ids), default=0) for m in new_ids)
            seen_ids.extend(new_ids)
            assert len(set(seen_ids)) == len(seen_ids)
        finally:
            replica.close()


def test_mutation_ids_do_not_repeat_after_acknowledged_rows_are_gone(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    with Replica.open(profile) as replica:
        first = [replica.customers.create({"name": f"客户{i}"}).mutation_id for i in range(3)]
        with replica.write() as conn:  # the server acknowledged them all
            conn.execute(text("DELETE FROM outbox"))
    with Replica.open(profile) as replica:
        later = replica.customers.create({"name": "新客户"}).mutation_id
        client_id = replica.client_id
    assert first == [f"{client_id}:{n}" for n in (1, 2, 3)]
    assert later == f"{client_id}:4"
