"""The change feed over real HTTP on SQLite and PostgreSQL: paging, order, tombstones,
cursors, and — above all — no change skipped when a transaction commits late."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from typing import Any

import pytest

from server.db import write_transaction
from server.seed import load_records
from tests.server.conftest import ApiClient, LiveServer


def _ids(changes: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in changes]


def _push_in_progress(server: LiveServer) -> bool:
    text = server.http().get("/metrics").text
    match = re.search(
        r'outpost_http_requests_in_progress\{method="POST",path="/api/v1/sync/push"\} (\S+)', text
    )
    return match is not None and float(match.group(1)) >= 1


def test_a_change_committed_late_is_never_skipped(server: LiveServer) -> None:
    """A slow writer takes its change number before a fast one and commits after a pull.

    With a plain sequence, the fast writer would commit number 42 while 41 is still open;
    a pull would then move the cursor past 42 and 41 would be lost to that client. Here the
    fast writer cannot take its number until the slow one has committed, and the pull in
    between returns neither.
    """
    s1 = server.login("s1")
    start = s1.cursor_at_end()

    slow_conn = server.engine.connect().execution_options(outpost_write=True)
    slow_txn = slow_conn.begin()
    fast_result: dict[str, Any] = {}
    try:
        # The slow writer: takes its change number (and the counter lock), then dawdles.
        (slow_id,) = load_records(
            slow_conn, "customer", [{"name": "慢写入", "status": "lead", "owner_id": "s1"}], by="s1"
        )
        fast = s1.create("customer", {"name": "快写入", "status": "lead"})
        fast_http = server.http(s1.token)

        def push_fast() -> None:
            response = fast_http.post(
                "/api/v1/sync/push", json={"client_id": s1.client_id, "mutations": [fast]}
            )
            fast_result.update(response.json())

        pusher = threading.Thread(target=push_fast)
        pusher.start()
        deadline = time.monotonic() + 20
        while not _push_in_progress(server):
            assert time.monotonic() < deadline, "the fast push never reached the server"
            time.sleep(0.01)

        # A pull while the slow writer is open: neither change may be delivered (the fast
        # one waits for a change number), and the cursor must not move past the slow one.
        middle_changes, middle = s1.pull_all(start)
        assert slow_id not in _ids(middle_changes)
        assert fast["record_id"] not in _ids(middle_changes)
        assert pusher.is_alive(), "the fast writer committed before the slow one"
        slow_txn.commit()
    finally:
        if slow_txn.is_active:
            slow_txn.rollback()
        slow_conn.close()
    pusher.join(30)
    assert fast_result["results"][0]["status"] == "applied"

    later, _ = s1.pull_all(middle)
    assert _ids(later) == [slow_id, fast["record_id"]]
    assert later[0]["seq"] < later[1]["seq"]


def test_concurrent_writers_and_a_steady_reader_miss_nothing(server: LiveServer) -> None:
    """Several clients push while another pulls in a loop: the reader ends up with every
    change exactly as often as it was made, in change-number order within each page."""
    writers = [server.login(name) for name in ("s1", "m_east", "admin")]
    reader = server.login("admin")
    cursor = reader.cursor_at_end()
    created: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def write(client: ApiClient) -> None:
        for _ in range(8):
            batch = [
                client.create("customer", {"name": f"并发{i}", "status": "lead"}) for i in range(5)
            ]
            results = client.push(batch)
            assert all(r["status"] == "applied" for r in results)
            with lock:
                created.extend(m["record_id"] for m in batch)

    seen: list[str] = []

    def read() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = reader.pull(cursor, limit=7)
            seqs = [c["seq"] for c in page["changes"]]
            assert seqs == sorted(seqs)
            seen.extend(c["id"] for c in page["changes"] if c["entity"] == "customer")
            cursor = page["cursor"]
            if finished and not page["has_more"]:
                return

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    reading = threading.Thread(target=read)
    reading.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    reading.join(120)
    ours = set(created)
    assert len(ours) == 3 * 8 * 5
    mine_seen = [i for i in seen if i in ours]
    assert sorted(mine_seen) == sorted(ours)  # every one, none twice


def test_pages_follow_change_order_and_cover_everything_once(server: LiveServer) -> None:
    s1 = server.login("s1")
    start = s1.cursor_at_end()
    batch = [s1.create("customer", {"name": f"分页{i}", "status": "lead"}) for i in range(23)]
    s1.push(batch)
    pages: list[dict[str, Any]] = []
    cursor = start
    while True:
        page = s1.pull(cursor, limit=5)
        pages.append(page)
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert [len(p["changes"]) for p in pages] == [5, 5, 5, 5, 3]
    everything = [c for p in pages for c in p["changes"]]
    assert _ids(everything) == [m["record_id"] for m in batch]
    seqs = [c["seq"] for c in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Reading a page again from the same cursor gives the same page (resumable).
    assert s1.pull(pages[1]["cursor"], limit=5) == pages[2]
    # At the end, the cursor stays put until something new happens.
    assert s1.pull(cursor)["changes"] == []


def test_change_carries_the_whole_record(server: LiveServer) -> None:
    s1 = server.login("s1")
    start = s1.cursor_at_end()
    cid, _ = s1.new_customer("完整", tags=["VIP", "华东"], next_follow_up_at="2026-12-01T01:02:03Z")
    (change,) = s1.pull_all(start)[0]
    assert change["op"] == "upsert" and change["version"] == 1
    record = change["record"]
    assert record["id"] == cid
    assert record["tags"] == ["VIP", "华东"]
    assert record["next_follow_up_at"] == "2026-12-01T01:02:03.000000Z"
    assert record["owner_id"] == "s1" and record["updated_by"] == "s1"
    assert record["deleted"] is False


def test_a_child_never_arrives_before_its_customer(server: LiveServer) -> None:
    """The contact's change comes before the customer's latest one; a page that ends
    between them still brings the customer along, ahead of the contact."""
    s1 = server.login("s1")
    start = s1.cursor_at_end()
    cid, _ = s1.new_customer("父客户", city="天津")
    contact = s1.create("contact", {"customer_id": cid, "name": "子联系人"})
    s1.push_one(contact)
    s1.push_one(s1.update("customer", cid, 1, {"city": ("大连", "天津")}))
    page = s1.pull(start, limit=1)
    assert [(c["entity"], c["id"]) for c in page["changes"]] == [
        ("customer", cid),
        ("contact", contact["record_id"]),
    ]
    assert page["changes"][0]["record"]["city"] == "大连"
    assert page["has_more"]
    rest, _ = s1.pull_all(page["cursor"])
    assert [(c["entity"], c["id"]) for c in rest] == [("customer", cid)]


def _cursor_doc(cursor: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return doc


def _cursor_of(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


@pytest.mark.parametrize("bad", ["abc", "%%%", _cursor_of({"v": 1}), _cursor_of({"v": 9, "s": 1})])
def test_a_malformed_cursor_is_a_clear_400(server: LiveServer, bad: str) -> None:
    s1 = server.login("s1")
    response = s1.http.get("/api/v1/sync/pull", params={"cursor": bad})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_cursor_of_another_database_asks_for_a_full_resync(server: LiveServer) -> None:
    s1 = server.login("s1")
    doc = _cursor_doc(s1.cursor_at_end())
    doc["db"] = str(uuid.uuid4())
    response = s1.http.get("/api/v1/sync/pull", params={"cursor": _cursor_of(doc)})
    assert response.status_code == 410
    assert response.json()["code"] == "resync_required"


def test_another_users_cursor_is_refused(server: LiveServer) -> None:
    s1, s2 = server.login("s1"), server.login("s2")
    response = s2.http.get("/api/v1/sync/pull", params={"cursor": s1.cursor_at_end()})
    assert response.status_code == 410


def test_changes_by_the_bulk_loader_are_in_the_feed(server: LiveServer) -> None:
    """Records loaded with the server's bulk path (seed-demo) get change numbers too."""
    admin = server.login("admin")
    start = admin.cursor_at_end()
    ids = write_transaction(
        server.engine,
        lambda conn: load_records(
            conn,
            "customer",
            [{"name": f"批量{i}", "status": "active", "owner_id": "s2"} for i in range(3)],
            by="admin",
        ),
    )
    changes, _ = admin.pull_all(start)
    assert _ids(changes) == ids


def test_a_cursor_beyond_the_database_asks_for_a_full_resync(server: LiveServer) -> None:
    """A server database restored from an older backup has fewer changes than a client's
    cursor has seen: continuing would skip the changes numbered again."""
    s1 = server.login("s1")
    doc = _cursor_doc(s1.cursor_at_end())
    doc["s"] += 1000
    response = s1.http.get("/api/v1/sync/pull", params={"cursor": _cursor_of(doc)})
    assert response.status_code == 410
    assert response.json()["code"] == "resync_required"
