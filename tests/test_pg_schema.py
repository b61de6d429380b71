"""The shared entity definition on the real PostgreSQL (the server's production store).

The server's own tables arrive with the server; this proves now that the field classes in
``sync.schema`` create valid PostgreSQL tables and that every column type keeps its values
exactly (money to the cent, times as aware UTC, tags as JSON).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped

from sync.schema import (
    ContactFields,
    CustomerFields,
    DealFields,
    FollowUpFields,
    RecordFields,
    id_column,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[tuple[Engine, str]]:
    schema = f"outpost_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield engine, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def server_style_models(schema: str) -> tuple[type, ...]:
    class Base(DeclarativeBase):
        metadata = MetaData(schema=schema)

    class Customer(Base, RecordFields, CustomerFields):
        __tablename__ = "customers"
        id: Mapped[str] = id_column(primary_key=True)

    class Contact(Base, RecordFields, ContactFields):
        __tablename__ = "contacts"
        id: Mapped[str] = id_column(primary_key=True)

    class FollowUp(Base, RecordFields, FollowUpFields):
        __tablename__ = "follow_ups"
        id: Mapped[str] = id_column(primary_key=True)

    class Deal(Base, RecordFields, DealFields):
        __tablename__ = "deals"
        id: Mapped[str] = id_column(primary_key=True)

    return Base, Customer, Contact, FollowUp, Deal


def test_entity_tables_create_and_keep_values_exactly(pg_engine: tuple[Engine, str]) -> None:
    engine, schema = pg_engine
    base, customer, _contact, follow_up, deal = server_style_models(schema)
    base.metadata.create_all(engine)  # type: ignore[attr-defined]

    tables = set(inspect(engine).get_table_names(schema=schema))
    assert tables == {"customers", "contacts", "follow_ups", "deals"}
    fks = inspect(engine).get_foreign_keys("deals", schema=schema)
    assert [fk["referred_table"] for fk in fks] == ["customers"]

    cid, did, fid = (str(uuid.uuid4()) for _ in range(3))
    beijing = timezone(timedelta(hours=8))
    follow_at = datetime(2026, 11, 24, 18, 30, 15, 123456, tzinfo=beijing)
    with engine.begin() as conn:
        conn.execute(
            insert(customer.__table__),  # type: ignore[attr-defined]
            {
                "id": cid,
                "version": 1,
                "deleted": False,
                "name": "张三",
                "status": "active",
                "tags": ["VIP", "华东"],
                "next_follow_up_at": follow_at,
            },
        )
        conn.execute(
            insert(deal.__table__),  # type: ignore[attr-defined]
            {
                "id": did,
                "version": 1,
                "deleted": False,
                "customer_id": cid,
                "title": "服务器采购",
                "amount": Decimal("999999999999.99"),
                "currency": "CNY",
                "stage": "proposal",
                "expected_close": date(2026, 12, 31),
                "probability": 70,
            },
        )
        conn.execute(
            insert(follow_up.__table__),  # type: ignore[attr-defined]
            {
                "id": fid,
                "version": 1,
                "deleted": False,
                "customer_id": cid,
                "kind": "visit",
                "content": "拜访张总，\n讨论报价。",
                "happened_at": follow_at,
                "done": False,
            },
        )
    with engine.connect() as conn:
        c = conn.execute(select(customer.__table__)).mappings().one()  # type: ignore[attr-defined]
        d = conn.execute(select(deal.__table__)).mappings().one()  # type: ignore[attr-defined]
        f = conn.execute(select(follow_up.__table__)).mappings().one()  # type: ignore[attr-defined]
        column_type = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = :s "
                "AND table_name = 'customers' AND column_name = 'next_follow_up_at'"
            ),
            {"s": schema},
        ).scalar_one()
    assert c["tags"] == ["VIP", "华东"]
    assert c["next_follow_up_at"] == follow_at and c["next_follow_up_at"].tzinfo == UTC
    assert column_type == "timestamp with time zone"
    assert d["amount"] == Decimal("999999999999.99")
    assert d["expected_close"] == date(2026, 12, 31)
    assert f["content"] == "拜访张总，\n讨论报价。" and f["done"] is False


def test_foreign_key_refuses_an_unknown_customer(pg_engine: tuple[Engine, str]) -> None:
    from sqlalchemy.exc import IntegrityError

    engine, schema = pg_engine
    base, _customer, contact, _f, _d = server_style_models(schema)
    base.metadata.create_all(engine)  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(contact.__table__),  # type: ignore[attr-defined]
            {
                "id": str(uuid.uuid4()),
                "version": 1,
                "deleted": False,
                "customer_id": str(uuid.uuid4()),
                "name": "无主联系人",
                "is_primary": False,
            },
        )
