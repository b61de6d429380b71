"""The feed writes records in exactly the wire form ``sync.wire`` defines, on both
databases: on PostgreSQL the times are formatted by the database itself (a full pull's
biggest cost otherwise), and that text must equal what encoding the Python values gives —
with and without microseconds, before 1970 and far ahead, from any time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from server import accounts, feed
from server.db import write_transaction
from server.models import TABLE_BY_ENTITY
from server.records import record_to_wire
from server.seed import load_records
from tests.server.conftest import LiveServer

TIMES = [
    datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC),
    datetime(2026, 5, 4, 3, 2, 1, 7, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1969, 7, 20, 20, 17, 40, 500000, tzinfo=UTC),
    datetime(2100, 2, 28, 12, 0, tzinfo=timezone(timedelta(hours=8))),
    datetime(2026, 3, 29, 1, 30, 0, 250, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
]


def test_pulled_records_are_the_wire_form_of_the_stored_values(server: LiveServer) -> None:
    """Every pulled record equals ``record_to_wire`` of the row as SQLAlchemy reads it."""
    owner = server.add_user(prefix="enc")

    def work(conn: Any) -> list[str]:
        ids = load_records(
            conn,
            "customer",
            [
                {
                    "name": f"时间客户{i}",
                    "status": "lead",
                    "owner_id": owner,
                    "next_follow_up_at": t,
                }
                for i, t in enumerate([*TIMES, None])
            ],
            by="admin",
            audit=False,
        )
        ids += load_records(
            conn,
            "follow_up",
            [
                {"customer_id": ids[0], "kind": "call", "content": "c", "happened_at": t,
                 "next_action_at": t}
                for t in TIMES
            ],
            by="admin",
            audit=False,
        )  # fmt: skip
        ids += load_records(
            conn,
            "deal",
            [
                {"customer_id": ids[0], "title": "d", "amount": a, "stage": "initial",
                 "expected_close": "2027-01-31"}
                for a in ("0.00", "12.50", "9999999.99")
            ],
            by="admin",
            audit=False,
        )  # fmt: skip
        return ids

    ids = set(write_transaction(server.engine, work))
    with server.engine.connect() as conn:
        admin = accounts.get_account(conn, "admin")
        cursor, pulled = "", {}
        while True:
            page = feed.pull(conn, admin, cursor, 500)
            pulled.update({c["id"]: c for c in page.changes if c["id"] in ids})
            cursor = page.cursor
            if not page.has_more:
                break
        assert set(pulled) == ids
        for entity in ("customer", "follow_up", "deal"):
            table = TABLE_BY_ENTITY[entity]
            for row in conn.execute(select(table).where(table.c.id.in_(ids))).mappings():
                assert pulled[row["id"]]["record"] == record_to_wire(entity, row), entity
    customer = next(c["record"] for c in pulled.values() if c["record"]["name"] == "时间客户5")
    assert customer["next_follow_up_at"] == "2026-03-29T11:00:00.000250Z"
