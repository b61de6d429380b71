"""The initial sync's fast path, end to end against the real server (SQLite and
PostgreSQL): the replica's secondary indexes are left out while an empty replica fills and
built in the last page's transaction; the next page is asked for while one is applied, and
a request for it that fails loses and skips nothing — the cursor stays with the last page
applied, and the next sync goes on from there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Connection, or_, select

from server.db import write_transaction
from server.models import TABLE_BY_ENTITY as SERVER_TABLES
from server.seed import load_records
from sync.engine import SyncState, SyncStatus
from sync.replica import DEFERRED_INDEXES_KEY, Replica
from sync.replica_models import TABLE_BY_ENTITY as REPLICA_TABLES
from sync.transport import OfflineError
from tests.helpers.fault_proxy import PULL, Fault, FaultProxy
from tests.helpers.sync_devices import Device, open_device
from tests.server.conftest import PASSWORD, LiveServer

LIMIT = 40
ENTITIES = ("customer", "contact", "follow_up")


def _seed(server: LiveServer, owner: str, customers: int) -> None:
    """``customers`` customers of ``owner``, each with a contact and a follow-up."""

    def work(conn: Any) -> None:
        ids = load_records(
            conn,
            "customer",
            [
                {"name": f"首批客户{i:04}", "status": "active", "owner_id": owner}
                for i in range(customers)
            ],
            by="admin",
            audit=False,
        )
        load_records(
            conn,
            "contact",
            [{"customer_id": c, "name": f"联系人{i}"} for i, c in enumerate(ids)],
            by="admin",
            audit=False,
        )
        load_records(
            conn,
            "follow_up",
            [
                {"customer_id": c, "kind": "visit", "content": f"拜访{i}",
                 "happened_at": "2026-05-01T10:00:00.250000+08:00"}
                for i, c in enumerate(ids)
            ],
            by="admin",
            audit=False,
        )  # fmt: skip

    write_transaction(server.engine, work)


def _visible(server: LiveServer, user: str) -> dict[str, set[tuple[str, int]]]:
    """(id, version) of every live record ``user`` (a salesperson) sees on the server."""
    customers = SERVER_TABLES["customer"]
    mine = select(customers.c.id).where(
        or_(customers.c.owner_id == user, customers.c.owner_id.is_(None)),
        customers.c.deleted.is_(False),
    )
    out: dict[str, set[tuple[str, int]]] = {}
    with server.engine.connect() as conn:
        for entity in ENTITIES:
            table = SERVER_TABLES[entity]
            column = table.c.id if entity == "customer" else table.c.customer_id
            rows = conn.execute(
                select(table.c.id, table.c.version).where(
                    column.in_(mine), table.c.deleted.is_(False)
                )
            )
            out[entity] = {(r[0], r[1]) for r in rows}
    return out


def _held(replica: Replica) -> dict[str, set[tuple[str, int]]]:
    out: dict[str, set[tuple[str, int]]] = {}
    with replica.read() as conn:
        for entity in ENTITIES:
            table = REPLICA_TABLES[entity]
            out[entity] = {(r[0], r[1]) for r in conn.execute(select(table.c.id, table.c.version))}
    return out


def _indexes(conn: Connection) -> dict[str, str]:
    return dict(
        conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).all()
    )


@pytest.fixture
def schema_indexes(tmp_path: Path) -> dict[str, str]:
    """The indexes a replica has when nothing is deferred."""
    fresh = Replica.open(tmp_path / "fresh")
    try:
        with fresh.read() as conn:
            return _indexes(conn)
    finally:
        fresh.close()


@pytest.fixture
def owner(server: LiveServer) -> str:
    user = server.add_user(prefix="bulk")
    _seed(server, user, 150)
    return user


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.base_url) as running:
        yield running


def test_initial_sync_builds_the_left_out_indexes_at_its_end(
    server: LiveServer, owner: str, tmp_path: Path, schema_indexes: dict[str, str]
) -> None:
    """While the pages of an initial sync go in, the secondary indexes are missing (and
    noted in replica meta); after the last page they are exactly the schema's again, and
    the replica holds what the server shows this user."""
    device = open_device(tmp_path, "d", server.base_url, owner, PASSWORD, pull_limit=LIMIT)
    seen_during: list[int] = []

    def watch(status: SyncStatus) -> None:
        if status.state is SyncState.SYNCING and status.done:
            with device.replica.read() as conn:
                seen_during.append(len(_indexes(conn)))

    device.engine.add_listener(watch)
    try:
        report = device.sync()
        assert report.pages >= 450 // LIMIT
        assert seen_during and max(seen_during[:-1]) < len(schema_indexes)
        with device.replica.read() as conn:
            assert _indexes(conn) == schema_indexes
        assert device.replica.get_meta(DEFERRED_INDEXES_KEY) is None
        assert _held(device.replica) == _visible(server, owner)
        assert device.replica.check_integrity() == []
        # A replica that already holds records syncs with its indexes in place.
        seen_during.clear()
        _seed(server, owner, 50)
        device.sync()
        assert seen_during and set(seen_during) == {len(schema_indexes)}
        assert _held(device.replica) == _visible(server, owner)
    finally:
        device.close()


def test_a_failed_request_for_the_next_page_loses_and_skips_nothing(
    server: LiveServer,
    owner: str,
    proxy: FaultProxy,
    tmp_path: Path,
    schema_indexes: dict[str, str],
) -> None:
    """The request for page 4 (sent while page 3 is applied) fails with 503: the sync ends
    offline after page 3 committed with its cursor — pages 1 to 3 are in the replica,
    nothing more — and the indexes are built at once. The next sync asks for page 4 with
    page 3's cursor and ends with exactly the server's records."""
    pages: list[dict[str, Any]] = []

    def keep(page: Any) -> Any:
        pages.append(page)
        return page

    proxy.add(Fault.json(transform=keep), path=PULL, times=3)
    proxy.add(Fault.answer(503), path=PULL)
    device: Device = open_device(tmp_path, "d", proxy.url, owner, PASSWORD, pull_limit=LIMIT)
    try:
        with pytest.raises(OfflineError):
            device.sync()
        asked = [parse_qs(urlsplit(e.path).query).get("cursor", [""])[0] for e in proxy.seen(PULL)]
        assert len(asked) == 4 and len(pages) == 3
        assert asked[1:] == [p["cursor"] for p in pages]  # each asked with the one before's
        assert device.cursor() == pages[2]["cursor"]
        applied: set[tuple[str, str]] = set()
        for change in (c for p in pages for c in p["changes"] if c["entity"] in ENTITIES):
            key = (change["entity"], change["id"])
            if change["op"] == "upsert":
                applied.add(key)
            else:  # other tests' records deleted since: gone here too
                applied.discard(key)
        held = {(e, i) for e, records in _held(device.replica).items() for i, _ in records}
        assert held == applied
        assert device.replica.get_meta(DEFERRED_INDEXES_KEY) is None
        with device.replica.read() as conn:
            assert _indexes(conn) == schema_indexes

        proxy.clear()
        later: list[dict[str, Any]] = []

        def keep_later(page: Any) -> Any:
            later.append(page)
            return page

        proxy.add(Fault.json(transform=keep_later), path=PULL, times=None)
        device.sync()
        resumed = parse_qs(urlsplit(proxy.seen(PULL)[4].path).query)["cursor"][0]
        assert resumed == pages[2]["cursor"]
        # None of this user's own records (each in the feed once: no riders among them)
        # came twice.
        customers = SERVER_TABLES["customer"]
        with server.engine.connect() as conn:
            own = set(
                conn.execute(select(customers.c.id).where(customers.c.owner_id == owner)).scalars()
            )

        def mine(batch: list[dict[str, Any]]) -> set[tuple[str, str]]:
            return {
                (c["entity"], c["id"])
                for p in batch
                for c in p["changes"]
                if c["id"] in own or (c["record"] or {}).get("customer_id") in own
            }

        assert mine(later) and not mine(later) & mine(pages)
        assert len(mine(later) | mine(pages)) == 3 * len(own)
        assert _held(device.replica) == _visible(server, owner)
        assert device.replica.check_integrity() == []
    finally:
        device.close()
