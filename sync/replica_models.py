"""The local replica's tables, as SQLAlchemy 2.0 typed models.

The entity fields come from ``sync.schema``; this module adds what only the replica has:

* ``base`` — the last server version's synced values (JSON, wire-encoded) while the record
  has local changes the server has not acknowledged. ``NULL`` means "no local divergence":
  the current values *are* the server values at ``version``. Keeping it ``NULL`` for clean
  records keeps an initial sync of 800k records from writing every value twice.
* for customers, a local ``row_id`` (the full-text index's rowid: it must survive VACUUM,
  so it is an explicit INTEGER PRIMARY KEY) and the derived search columns.
* the outbox and a small key/value table of replica facts.

The schema in the file is created and upgraded only by ``sync.migrations``; a test checks
that the migrations produce exactly these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import CheckConstraint, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sync.schema import (
    ContactFields,
    CustomerFields,
    DealFields,
    FollowUpFields,
    RecordFields,
    id_column,
)
from sync.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ReplicaBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReplicaRecord(RecordFields):
    """What every replicated row has besides its entity fields."""

    base: Mapped[str | None] = mapped_column(Text, nullable=True)


class Customer(ReplicaBase, ReplicaRecord, CustomerFields):
    __tablename__ = "customers"

    row_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = id_column(unique=True)
    # Derived by sync.search from name/company/phones/...; never edited directly.
    name_sort: Mapped[str] = mapped_column(String(400), nullable=False, default="")
    company_sort: Mapped[str] = mapped_column(String(400), nullable=False, default="")
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (
        Index("ix_customers_name_sort", "name_sort"),
        Index("ix_customers_company_sort", "company_sort"),
        Index("ix_customers_owner_id", "owner_id"),
        Index("ix_customers_status", "status"),
        Index("ix_customers_level", "level"),
        Index("ix_customers_city", "city"),
        Index("ix_customers_next_follow_up_at", "next_follow_up_at"),
        Index("ix_customers_updated_at", "updated_at"),
        # Deleted rows awaiting the server (few): the list skips them without reading
        # every row (schema 4).
        Index("ix_customers_tombstones", "row_id", sqlite_where=text("deleted IS NOT 0")),
    )


class Contact(ReplicaBase, ReplicaRecord, ContactFields):
    __tablename__ = "contacts"

    id: Mapped[str] = id_column(primary_key=True)


class FollowUp(ReplicaBase, ReplicaRecord, FollowUpFields):
    __tablename__ = "follow_ups"

    id: Mapped[str] = id_column(primary_key=True)


class Deal(ReplicaBase, ReplicaRecord, DealFields):
    __tablename__ = "deals"

    id: Mapped[str] = id_column(primary_key=True)


class OutboxEntry(ReplicaBase):
    """One user edit waiting for the server: written in the same transaction as the edit."""

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mutation_id: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[str] = mapped_column(String(36), nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)
    # The server version the edit was made against (0 for a record the server never saw).
    base_version: Mapped[int] = mapped_column(Integer, nullable=False)
    # JSON {field: {"new": value, "base": value}}, values wire-encoded.
    fields: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # pending: to be pushed; failed: the server rejected it (kept visible with last_error).
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")

    __table_args__ = (
        CheckConstraint("op IN ('create', 'update', 'delete')", name="op"),
        CheckConstraint("status IN ('pending', 'failed')", name="status"),
        Index("ix_outbox_entity_record_id", "entity", "record_id"),
    )


class Conflict(ReplicaBase):
    """A record whose local edit met a different change on the server: the user decides.

    One open conflict per record. ``fields`` is JSON ``[{field, mine, base, theirs,
    changed_by, changed_at}]`` (values wire-encoded); ``server_record`` the server's record
    when the conflict was found (null when the record left the user's sight).
    """

    __tablename__ = "conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[str] = mapped_column(String(36), nullable=False)
    # field: both sides changed a field; deleted: changed here, deleted (or revoked) there;
    # delete_vs_change: deleted here, changed there.
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    server_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    server_record: Mapped[str | None] = mapped_column(Text, nullable=True)
    fields: Mapped[str] = mapped_column(Text, nullable=False)
    mutation_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        CheckConstraint("kind IN ('field', 'deleted', 'delete_vs_change')", name="kind"),
        Index("uq_conflicts_entity_record_id", "entity", "record_id", unique=True),
    )


class ResyncSeen(ReplicaBase):
    """Records a full resync (after 410) has brought so far; the rest are dropped at its end."""

    __tablename__ = "resync_seen"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class ReplicaMeta(ReplicaBase):
    """Facts about this replica: client id, mutation counter, server, user, pull cursor."""

    __tablename__ = "replica_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


MODEL_BY_ENTITY: dict[str, type[ReplicaBase]] = {
    "customer": Customer,
    "contact": Contact,
    "follow_up": FollowUp,
    "deal": Deal,
}

# The Core tables, typed, for the repository's SQL.
TABLE_BY_ENTITY: dict[str, Table] = {
    name: cast(Table, model.__table__) for name, model in MODEL_BY_ENTITY.items()
}
OUTBOX_TABLE = cast(Table, OutboxEntry.__table__)
CONFLICTS_TABLE = cast(Table, Conflict.__table__)
RESYNC_SEEN_TABLE = cast(Table, ResyncSeen.__table__)
META_TABLE = cast(Table, ReplicaMeta.__table__)
