"""Versioned schema migrations of the local replica.

A numbered list, applied in order when a replica is opened. The schema version is SQLite's
``PRAGMA user_version``; each migration and the new version number are committed in one
transaction (SQLite DDL is transactional), so a crash mid-upgrade leaves the old schema and
the next start tries again. Migrations never touch the outbox's rows: pending edits made by
an older version are still there, unchanged, after the upgrade.

Rules for whoever adds a migration:

* never edit a released migration; add a new one;
* write the DDL out as text: the models will change after you, the migration must not;
* derived data (search keys) may be recomputed with current code, since it is derived;
* after your migration, ``tests/test_migrations.py`` checks that the migrated schema equals
  ``sync.replica_models``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from sync import search, wire

log = logging.getLogger(__name__)


class ReplicaTooNewError(RuntimeError):
    """The replica was written by a newer Outpost; opening it could lose data."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


# Schema 1: the records, their base, the outbox and the replica's own facts.
_V1_SQL = """
CREATE TABLE replica_meta (
    "key" VARCHAR(64) NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT pk_replica_meta PRIMARY KEY ("key")
);
CREATE TABLE customers (
    row_id INTEGER NOT NULL,
    id VARCHAR(36) NOT NULL,
    base TEXT,
    version INTEGER NOT NULL,
    created_at DATETIME,
    updated_at DATETIME,
    updated_by VARCHAR(64),
    deleted BOOLEAN NOT NULL,
    owner_id VARCHAR(64),
    name VARCHAR(200) NOT NULL,
    company VARCHAR(200),
    phone VARCHAR(40),
    mobile VARCHAR(40),
    email VARCHAR(254),
    address VARCHAR(500),
    city VARCHAR(100),
    industry VARCHAR(100),
    level VARCHAR(1),
    status VARCHAR(8) NOT NULL,
    source VARCHAR(100),
    tags JSON NOT NULL,
    notes TEXT,
    next_follow_up_at DATETIME,
    CONSTRAINT pk_customers PRIMARY KEY (row_id),
    CONSTRAINT uq_customers_id UNIQUE (id)
);
CREATE INDEX ix_customers_city ON customers (city);
CREATE INDEX ix_customers_level ON customers (level);
CREATE INDEX ix_customers_next_follow_up_at ON customers (next_follow_up_at);
CREATE INDEX ix_customers_owner_id ON customers (owner_id);
CREATE INDEX ix_customers_status ON customers (status);
CREATE INDEX ix_customers_updated_at ON customers (updated_at);
CREATE TABLE contacts (
    id VARCHAR(36) NOT NULL,
    base TEXT,
    version INTEGER NOT NULL,
    created_at DATETIME,
    updated_at DATETIME,
    updated_by VARCHAR(64),
    deleted BOOLEAN NOT NULL,
    owner_id VARCHAR(64),
    customer_id VARCHAR(36) NOT NULL,
    name VARCHAR(100) NOT NULL,
    title VARCHAR(100),
    phone VARCHAR(40),
    mobile VARCHAR(40),
    email VARCHAR(254),
    wechat VARCHAR(64),
    is_primary BOOLEAN NOT NULL,
    notes TEXT,
    CONSTRAINT pk_contacts PRIMARY KEY (id),
    CONSTRAINT fk_contacts_customer_id_customers FOREIGN KEY(customer_id)
        REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX ix_contacts_customer_id ON contacts (customer_id);
CREATE TABLE follow_ups (
    id VARCHAR(36) NOT NULL,
    base TEXT,
    version INTEGER NOT NULL,
    created_at DATETIME,
    updated_at DATETIME,
    updated_by VARCHAR(64),
    deleted BOOLEAN NOT NULL,
    owner_id VARCHAR(64),
    customer_id VARCHAR(36) NOT NULL,
    contact_id VARCHAR(36),
    kind VARCHAR(7) NOT NULL,
    content TEXT NOT NULL,
    happened_at DATETIME NOT NULL,
    next_action VARCHAR(500),
    next_action_at DATETIME,
    done BOOLEAN NOT NULL,
    CONSTRAINT pk_follow_ups PRIMARY KEY (id),
    CONSTRAINT fk_follow_ups_customer_id_customers FOREIGN KEY(customer_id)
        REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX ix_follow_ups_customer_id ON follow_ups (customer_id);
CREATE INDEX ix_follow_ups_happened_at ON follow_ups (happened_at);
CREATE INDEX ix_follow_ups_next_action_at ON follow_ups (next_action_at);
CREATE TABLE deals (
    id VARCHAR(36) NOT NULL,
    base TEXT,
    version INTEGER NOT NULL,
    created_at DATETIME,
    updated_at DATETIME,
    updated_by VARCHAR(64),
    deleted BOOLEAN NOT NULL,
    owner_id VARCHAR(64),
    customer_id VARCHAR(36) NOT NULL,
    title VARCHAR(200) NOT NULL,
    amount BIGINT,
    currency VARCHAR(3) NOT NULL,
    stage VARCHAR(11) NOT NULL,
    expected_close DATE,
    probability INTEGER,
    notes TEXT,
    CONSTRAINT pk_deals PRIMARY KEY (id),
    CONSTRAINT fk_deals_customer_id_customers FOREIGN KEY(customer_id)
        REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX ix_deals_customer_id ON deals (customer_id);
CREATE INDEX ix_deals_stage ON deals (stage);
CREATE TABLE outbox (
    seq INTEGER NOT NULL,
    mutation_id VARCHAR(80) NOT NULL,
    entity VARCHAR(32) NOT NULL,
    record_id VARCHAR(36) NOT NULL,
    op VARCHAR(8) NOT NULL,
    base_version INTEGER NOT NULL,
    fields TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    status VARCHAR(16) NOT NULL,
    CONSTRAINT pk_outbox PRIMARY KEY (seq),
    CONSTRAINT ck_outbox_op CHECK (op IN ('create', 'update', 'delete')),
    CONSTRAINT ck_outbox_status CHECK (status IN ('pending', 'failed')),
    CONSTRAINT uq_outbox_mutation_id UNIQUE (mutation_id)
);
CREATE INDEX ix_outbox_entity_record_id ON outbox (entity, record_id);
"""


def _execute_script(conn: Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.exec_driver_sql(statement)


def _v1_initial(conn: Connection) -> None:
    _execute_script(conn, _V1_SQL)
    now = datetime.now(UTC).isoformat()
    conn.execute(
        text("INSERT INTO replica_meta (key, value) VALUES (:k, :v)"),
        [
            # Identifies this replica's mutations; a restored copy must get a new one.
            {"k": "client_id", "v": str(uuid.uuid4())},
            {"k": "mutation_counter", "v": "0"},
            {"k": "created_at", "v": now},
        ],
    )


def _v2_customer_search(conn: Connection) -> None:
    _execute_script(
        conn,
        """
        ALTER TABLE customers ADD COLUMN name_sort VARCHAR(400) NOT NULL DEFAULT '';
        ALTER TABLE customers ADD COLUMN company_sort VARCHAR(400) NOT NULL DEFAULT '';
        ALTER TABLE customers ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
        CREATE INDEX ix_customers_name_sort ON customers (name_sort);
        CREATE INDEX ix_customers_company_sort ON customers (company_sort)
        """,
    )
    conn.exec_driver_sql(search.FTS_CREATE_SQL)
    backfill_customer_search(conn)


def backfill_customer_search(conn: Connection) -> None:
    """Recompute every customer's derived search columns and rebuild the index."""
    rows = conn.execute(
        text("SELECT row_id, name, company, phone, mobile, email, city, tags FROM customers")
    ).mappings()
    updates = []
    for row in rows:
        values = dict(row)
        values["tags"] = wire.loads(row["tags"]) if row["tags"] else []
        updates.append({"row_id": row["row_id"], **search.customer_search_columns(values)})
    if updates:
        conn.execute(
            text(
                "UPDATE customers SET name_sort = :name_sort, company_sort = :company_sort, "
                "search_text = :search_text WHERE row_id = :row_id"
            ),
            updates,
        )
    search.rebuild_index(conn)


def _v3_conflicts(conn: Connection) -> None:
    _execute_script(
        conn,
        """
        CREATE TABLE conflicts (
            id INTEGER NOT NULL,
            entity VARCHAR(32) NOT NULL,
            record_id VARCHAR(36) NOT NULL,
            kind VARCHAR(24) NOT NULL,
            server_version INTEGER,
            server_record TEXT,
            fields TEXT NOT NULL,
            mutation_id VARCHAR(80),
            created_at DATETIME NOT NULL,
            CONSTRAINT pk_conflicts PRIMARY KEY (id),
            CONSTRAINT ck_conflicts_kind CHECK (kind IN ('field', 'deleted', 'delete_vs_change'))
        );
        CREATE UNIQUE INDEX uq_conflicts_entity_record_id ON conflicts (entity, record_id);
        CREATE TABLE resync_seen (
            entity VARCHAR(32) NOT NULL,
            record_id VARCHAR(36) NOT NULL,
            CONSTRAINT pk_resync_seen PRIMARY KEY (entity, record_id)
        )
        """,
    )


def _v4_customer_tombstones(conn: Connection) -> None:
    # The few deleted customers awaiting the server, found without reading every row: the
    # customer list skips them by row id instead of checking each row's ``deleted``.
    conn.exec_driver_sql(
        "CREATE INDEX ix_customers_tombstones ON customers (row_id) WHERE deleted IS NOT 0"
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, base values, outbox, replica facts", _v1_initial),
    Migration(2, "customer search: pinyin sort keys and FTS5 trigram index", _v2_customer_search),
    Migration(3, "conflicts inbox and full-resync bookkeeping", _v3_conflicts),
    Migration(4, "index of deleted customers awaiting the server", _v4_customer_tombstones),
)

LATEST_VERSION = MIGRATIONS[-1].version

BeforeUpgrade = Callable[[int, int], None]


def schema_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def upgrade(
    conn: Connection,
    *,
    target: int = LATEST_VERSION,
    before_upgrade: BeforeUpgrade | None = None,
) -> list[int]:
    """Bring the replica on ``conn`` (outside any transaction) up to ``target``.

    ``before_upgrade(current, target)`` runs once before the first migration of an existing
    replica (the place for a backup). Returns the versions applied.
    """
    with conn.begin():
        current = schema_version(conn)
    if current > LATEST_VERSION:
        raise ReplicaTooNewError(
            f"this replica has schema {current}, newer than this Outpost knows "
            f"({LATEST_VERSION}); install the newer Outpost again to use it"
        )
    pending = [m for m in MIGRATIONS if current < m.version <= target]
    if pending and current > 0 and before_upgrade is not None:
        before_upgrade(current, target)
    applied: list[int] = []
    for migration in pending:
        with conn.begin():
            # Re-read inside the write lock: another process may have upgraded meanwhile.
            if schema_version(conn) >= migration.version:
                continue
            log.info("replica schema %d: %s", migration.version, migration.description)
            migration.apply(conn)
            conn.exec_driver_sql(f"PRAGMA user_version = {int(migration.version)}")
        applied.append(migration.version)
    return applied
