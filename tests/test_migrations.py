"""Replica schema migrations: the migrated schema is the models', pending edits survive."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from sync import migrations
from sync.outbox import list_mutations
from sync.replica import Replica, ReplicaCorruptError, create_replica_engine
from sync.replica_models import ReplicaBase


def _not_fts(name: str | None, type_: str, parent_names: Any) -> bool:
    # FTS5 keeps its index in shadow tables of its own; they are not ours to model.
    return not (name or "").startswith("customer_search")


def test_migrated_schema_equals_the_models(replica: Replica) -> None:
    with replica.read() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _not_fts}
        )
        differences = compare_metadata(context, ReplicaBase.metadata)
    assert differences == []
    assert replica.schema_version == migrations.LATEST_VERSION


def make_v1_replica(path: Path) -> dict[str, Any]:
    """A replica as the first schema left it, with queued edits in its outbox."""
    engine = create_replica_engine(path)
    with engine.connect().execution_options(outpost_begin="IMMEDIATE") as conn:
        assert migrations.upgrade(conn, target=1) == [1]
        with conn.begin():
            client_id = conn.execute(
                text("SELECT value FROM replica_meta WHERE key = 'client_id'")
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO customers (id, version, deleted, name, company, status, tags, "
                    "mobile) VALUES (:id, 0, 0, :name, :company, 'lead', '[]', :mobile)"
                ),
                [
                    {
                        "id": "01a20000-0000-7000-8000-000000000001",
                        "name": "张三",
                        "company": "上海华为技术有限公司",
                        "mobile": "138 1234 5678",
                    },
                    {
                        "id": "01a20000-0000-7000-8000-000000000002",
                        "name": "John Smith",
                        "company": "Acme Trading Co., Ltd.",
                        "mobile": None,
                    },
                ],
            )
            conn.execute(
                text(
                    "INSERT INTO outbox (mutation_id, entity, record_id, op, base_version, "
                    "fields, created_at, attempts, status) VALUES (:m, 'customer', :r, "
                    "'create', 0, :f, '2026-11-20 08:00:00.000000', :a, 'pending')"
                ),
                [
                    {
                        "m": f"{client_id}:1",
                        "r": "01a20000-0000-7000-8000-000000000001",
                        "f": '{"name":{"new":"张三","base":null}}',
                        "a": 0,
                    },
                    {
                        "m": f"{client_id}:2",
                        "r": "01a20000-0000-7000-8000-000000000002",
                        "f": '{"name":{"new":"John Smith","base":null}}',
                        "a": 2,
                    },
                ],
            )
            conn.execute(text("UPDATE replica_meta SET value = '2' WHERE key = 'mutation_counter'"))
    engine.dispose()
    return {"client_id": client_id}


def dump_outbox(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_upgrade_from_the_first_schema_keeps_pending_edits(tmp_path: Path) -> None:
    path = tmp_path / "replica.sqlite3"
    facts = make_v1_replica(path)
    before = dump_outbox(path)
    upgrades: list[tuple[int, int]] = []

    with Replica.open(path, before_upgrade=lambda a, b: upgrades.append((a, b))) as replica:
        assert upgrades == [(1, migrations.LATEST_VERSION)]
        assert replica.schema_version == migrations.LATEST_VERSION
        assert replica.client_id == facts["client_id"]
        # the queued edits are all there, byte for byte, and still in order
        assert dump_outbox(path) == before
        with replica.read() as conn:
            assert [m.mutation_id for m in list_mutations(conn)] == [
                f"{facts['client_id']}:1",
                f"{facts['client_id']}:2",
            ]
        # the new search index covers the old rows
        assert [r["name"] for r in replica.customers.query(search="zs")] == ["张三"]
        assert [r["name"] for r in replica.customers.query(search="acme")] == ["John Smith"]
        assert replica.check_integrity() == []
        # and the counter goes on where schema 1 left it
        change = replica.customers.create({"name": "新客户"})
        assert change.mutation_id == f"{facts['client_id']}:3"


def test_a_failed_migration_leaves_the_old_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "replica.sqlite3"
    make_v1_replica(path)
    before = dump_outbox(path)

    def broken(conn: Any) -> None:
        conn.exec_driver_sql("ALTER TABLE customers ADD COLUMN name_sort VARCHAR(400)")
        raise RuntimeError("power cut (injected)")

    failing = migrations.Migration(2, "broken", broken)
    monkeypatch.setattr(migrations, "MIGRATIONS", (migrations.MIGRATIONS[0], failing))
    with pytest.raises(RuntimeError, match="injected"):
        Replica.open(path)
    monkeypatch.undo()

    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(customers)")]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    assert "name_sort" not in columns  # the DDL rolled back with the version bump
    assert dump_outbox(path) == before
    with Replica.open(path) as replica:  # the next start upgrades properly
        assert replica.schema_version == migrations.LATEST_VERSION


def test_a_replica_from_a_newer_outpost_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "replica.sqlite3"
    Replica.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(migrations.ReplicaTooNewError, match="newer"):
        Replica.open(path)
    assert path.read_bytes() == before


def test_a_corrupt_replica_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "replica.sqlite3"
    garbage = b"this is not a database\x00" * 500
    path.write_bytes(garbage)
    with pytest.raises(ReplicaCorruptError, match="damaged"):
        Replica.open(path)
    assert path.read_bytes() == garbage


def test_deleted_customers_are_found_by_their_own_index(replica: Replica) -> None:
    kept = replica.customers.create({"name": "张三"})
    gone = replica.customers.create({"name": "李四"})
    replica.customers.delete(gone.record_id)
    sql = "SELECT row_id FROM customers WHERE customers.deleted IS NOT 0"
    with replica.read() as conn:
        plan = " ".join(str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        assert "ix_customers_tombstones" in plan  # not a scan of every customer row
        dead = conn.exec_driver_sql(sql).scalars().all()
        ids = conn.exec_driver_sql("SELECT row_id, id FROM customers").all()
    assert [rid for rid, i in ids if i == gone.record_id] == dead
    assert kept.record_id not in {i for rid, i in ids if rid in dead}
