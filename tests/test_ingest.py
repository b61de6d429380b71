"""Pulled records into the replica the fast way (``sync.ingest``): the same bytes as the
general path (decode to Python values, store through the replica), the same refusals
with the same reasons, overwrites that keep the search index right; and the secondary
indexes an initial sync leaves out until its end, which are never lost."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite

from sync import ingest, wire
from sync.demo_data import CustomerFactory
from sync.engine import apply_pull_page, decode_record
from sync.replica import DEFERRED_INDEXES_KEY, Replica, defer_indexes, restore_indexes
from sync.replica_models import TABLE_BY_ENTITY
from sync.schema import ENTITIES, new_record_id
from sync.transport import ChangeIn, ProtocolError
from sync.types import Money
from sync.validation import clean_values

ORDER = ("customer", "contact", "follow_up", "deal")
SHANGHAI = timezone(timedelta(hours=8))


def _wire(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    """The record as the server sends it: user fields checked and defaulted as the server
    does on create, system fields as given, every field wire-encoded."""
    spec = ENTITIES[entity]
    system = {f.name for f in spec.fields if not f.synced} | {"id"}
    user = {k: v for k, v in values.items() if k not in system}
    full = clean_values(spec, user, for_create=True) | {k: values[k] for k in system}
    return {f.name: wire.encode_value(f, full.get(f.name)) for f in spec.fields}


def _system(rnd: random.Random, when: datetime) -> dict[str, Any]:
    return {
        "id": new_record_id(),
        "version": rnd.randrange(1, 9),
        "created_at": when,
        "updated_at": when + timedelta(microseconds=rnd.randrange(0, 2) * 123456),
        "updated_by": rnd.choice(("s1", "m_east", None)),
        "deleted": rnd.random() < 0.1,
        "owner_id": rnd.choice(("s1", "s2", None)),
    }


def sample_records(count: int = 40, seed: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Wire records of every entity with the variety a feed has: empty fields, tags or
    none, times with and without microseconds, amounts of every form, deleted ones."""
    factory = CustomerFactory(seed)
    rnd = random.Random(seed)
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in ORDER}
    for i in range(count):
        values = factory.customer_values()
        values["next_follow_up_at"] = rnd.choice((None, now + timedelta(days=i, seconds=0.5)))
        values["tags"] = rnd.choice(([], values["tags"]))
        customer = {**values, **_system(rnd, now - timedelta(hours=i))}
        out["customer"].append(_wire("customer", customer))
        contact = factory.contact_values(customer["id"], values, primary=i % 2 == 0)
        out["contact"].append(_wire("contact", {**contact, **_system(rnd, now)}))
        follow_up = factory.follow_up_values(customer["id"], now)
        out["follow_up"].append(_wire("follow_up", {**follow_up, **_system(rnd, now)}))
        deal = factory.deal_values(customer["id"], now)
        deal["amount"] = Decimal(rnd.choice(("0", "7", "12.5", "0.05", "1234567890.99")))
        deal["expected_close"] = rnd.choice((None, date(2027, 1, 31)))
        out["deal"].append(_wire("deal", {**deal, **_system(rnd, now)}))
    return out


def _rows(replica: Replica, entity: str) -> list[tuple[Any, ...]]:
    table = TABLE_BY_ENTITY[entity]
    columns = ", ".join(c.name for c in table.c if c.name != "row_id")
    with replica.read() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(f"SELECT {columns} FROM {table.name} ORDER BY id")
        ]


def _store(replica: Replica, entity: str, records: list[dict[str, Any]]) -> None:
    with replica.write() as conn:
        ingest.store_wire_records(conn, entity, records)


def test_fast_path_stores_the_same_bytes_as_the_general_path(tmp_path: Path) -> None:
    """Every column of every entity, search columns and index included, is what decoding
    to Python values and storing them through the replica writes."""
    records = sample_records()
    fast = Replica.open(tmp_path / "fast")
    general = Replica.open(tmp_path / "general")
    try:
        for entity in ORDER:
            _store(fast, entity, records[entity])
            spec = ENTITIES[entity]
            general.store_server_records(entity, [decode_record(spec, r) for r in records[entity]])
            assert _rows(fast, entity) == _rows(general, entity), entity
            # the generated row function and the field-by-field one agree too
            assert ingest.stored_rows(entity, records[entity]) == [
                ingest.stored_row(entity, r) for r in records[entity]
            ]
        assert fast.check_integrity() == []
        name = records["customer"][3]["name"]
        assert [r.id for r in fast.customers.query(search=name)] == [
            r.id for r in general.customers.query(search=name)
        ]
    finally:
        fast.close()
        general.close()


def test_unusual_but_valid_values_take_the_general_way(replica: Replica) -> None:
    """A time with an offset, an amount without decimals, a time without microseconds:
    stored as the general path stores them (UTC text, cents)."""
    (record,) = sample_records(1)["deal"]
    record |= {
        "created_at": "2026-05-04T11:02:01+08:00",
        "updated_at": "2026-05-04T03:02:01Z",
        "amount": "7",
        "expected_close": "2026-07-01",
    }
    parent = sample_records(1)["customer"][0] | {"id": record["customer_id"]}
    _store(replica, "customer", [parent])
    _store(replica, "deal", [record])
    deal = replica.deals.get(record["id"])
    assert deal is not None
    assert deal["amount"] == Decimal("7.00")
    assert deal["expected_close"] == date(2026, 7, 1)
    with replica.read() as conn:
        raw = conn.exec_driver_sql(
            "SELECT created_at, updated_at, amount FROM deals WHERE id = ?", (record["id"],)
        ).one()
    when = datetime(2026, 5, 4, 11, 2, 1, tzinfo=SHANGHAI).astimezone(UTC)
    assert raw[0] == raw[1] == when.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert raw[2] == 700


@pytest.mark.parametrize(
    "amount", ["0", "-0", "7", "-3.25", "-0.5", "12.5", "0.05", "9999999999999.99", "٣.5"]
)
def test_amounts_become_the_same_cents_both_ways(amount: str) -> None:
    """Money goes straight from its text to cents, as ``Decimal`` and the column type
    would make them (any digits the general path reads, it reads too)."""
    spec = ENTITIES["deal"].field("amount")
    general = Money().process_bind_param(wire.decode_value(spec, amount), sqlite.dialect())
    row = ingest.stored_row("deal", sample_records(1)["deal"][0] | {"amount": amount})
    assert row[list(ingest.stored_columns("deal")).index("amount")] == general


@pytest.mark.parametrize(
    ("entity", "change", "reason"),
    [
        ("customer", {"name": 42}, "name: expected a string"),
        ("customer", {"name": None}, "name is missing"),
        ("customer", {"status": "bogus"}, "status: 'bogus' is not one of"),
        ("customer", {"name": "长" * 201}, "name: longer than"),
        ("customer", {"tags": ["ok", 3]}, "tags: expected a list of strings"),
        ("customer", {"created_at": "yesterday"}, "created_at"),
        ("customer", {"created_at": "2026-05-04T03:02:01"}, "without a time zone"),
        ("customer", {"created_at": "2026-13-04T03:02:01.000000Z"}, "created_at"),
        ("customer", {"version": "3"}, "version: expected an integer"),
        ("customer", {"deleted": 0}, "deleted: expected true or false"),
        ("deal", {"amount": "12.345"}, "amount: money travels"),
        ("deal", {"amount": 12.5}, "amount: money travels"),
        ("deal", {"expected_close": "31/01/2027"}, "expected_close"),
        ("follow_up", {"done": "yes"}, "done: expected true or false"),
    ],
)
def test_malformed_records_are_refused_with_the_reason(
    replica: Replica, entity: str, change: dict[str, Any], reason: str
) -> None:
    """A record the fast way cannot take goes the general way, which names what is wrong;
    the page's transaction then stores nothing."""
    records = sample_records(3)[entity]
    records[1] = records[1] | change
    with pytest.raises(wire.WireError, match=reason) as caught:
        _store(replica, entity, records)
    assert records[1]["id"] in str(caught.value)
    assert _rows(replica, entity) == []


def test_the_engine_reports_a_malformed_record_as_a_protocol_error(replica: Replica) -> None:
    """Through the engine a bad record is a protocol error, and the page stores nothing."""
    (record,) = sample_records(1)["customer"]
    record["status"] = "bogus"
    change = ChangeIn(
        seq=1, entity="customer", id=record["id"], op="upsert", version=1, record=record
    )
    with (
        pytest.raises(ProtocolError, match="malformed customer from the server"),
        replica.write() as conn,
    ):
        apply_pull_page(conn, [change])
    assert replica.customers.count() == 0


def test_overwriting_records_keeps_the_search_index_right(replica: Replica) -> None:
    """Records stored again (a later version) replace their search entries."""
    records = sample_records(5)["customer"]
    _store(replica, "customer", records)
    renamed = [
        r | {"name": f"改名客户{i}", "version": r["version"] + 1} for i, r in enumerate(records)
    ]
    _store(replica, "customer", renamed[:3])
    assert sorted(r["name"] for r in replica.customers.query(search="改名客户")) == [
        "改名客户0",
        "改名客户1",
        "改名客户2",
    ]
    old_name = {r.id for r in replica.customers.query(search=records[0]["name"])}
    assert records[0]["id"] not in old_name
    stored = replica.customers.get(records[0]["id"])
    assert stored is not None and stored.version == records[0]["version"] + 1
    assert replica.check_integrity() == []


# --- indexes left out during an initial sync ----------------------------------------------


def _indexes(conn: Connection, *, records_only: bool = False) -> dict[str, str]:
    tables = [TABLE_BY_ENTITY[e].name for e in ORDER] if records_only else None
    return {
        name: sql
        for name, table, sql in conn.exec_driver_sql(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        if tables is None or table in tables
    }


def test_deferred_indexes_come_back_exactly(replica: Replica) -> None:
    """The secondary indexes of the record tables go, their SQL is kept in the same
    transaction, and restoring builds exactly the same ones again; unique indexes stay."""
    with replica.read() as conn:
        before = _indexes(conn)
    with replica.write() as conn:
        dropped = defer_indexes(conn)
    with replica.read() as conn:
        during = _indexes(conn)
    assert dropped == len(before) - len(during) > 5
    with replica.read() as conn:
        assert all(
            sql.startswith("CREATE UNIQUE") for sql in _indexes(conn, records_only=True).values()
        )
    assert replica.get_meta(DEFERRED_INDEXES_KEY)
    records = sample_records(30)
    for entity in ORDER:
        _store(replica, entity, records[entity])
    with replica.write() as conn:
        assert restore_indexes(conn) == dropped
        assert restore_indexes(conn) == 0
    with replica.read() as conn:
        assert _indexes(conn) == before
    assert replica.get_meta(DEFERRED_INDEXES_KEY) is None
    assert replica.check_integrity() == []


def test_indexes_left_out_by_a_sync_cut_short_are_built_when_the_replica_opens(
    tmp_path: Path,
) -> None:
    first = Replica.open(tmp_path / "p")
    with first.read() as conn:
        before = _indexes(conn)
    with first.write() as conn:
        defer_indexes(conn)
    first.close()  # as a killed process would leave it
    again = Replica.open(tmp_path / "p")
    try:
        with again.read() as conn:
            assert _indexes(conn) == before
        assert again.get_meta(DEFERRED_INDEXES_KEY) is None
    finally:
        again.close()
