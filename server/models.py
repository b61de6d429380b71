"""The server's tables, as SQLAlchemy 2.0 typed models.

The entity tables mix the field classes of ``sync.schema`` (the one definition of every
record) into the server's own base and add ``seq``: the number of the record's latest
change in the change feed. Change numbers are taken at the very end of a writing
transaction while it holds the ``feed_counter`` row lock (see ``server.feed``), so they
are handed out in commit order and a cursor never jumps over a change that commits late.

The schema in a database is created and upgraded only by the Alembic migrations in
``server/migrations``; a test checks that they produce exactly these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
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


class ServerBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- accounts -------------------------------------------------------------------------


class User(ServerBase):
    """An account. ``username`` is also the user id that ``owner_id`` fields hold."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class DeviceToken(ServerBase):
    """A login on one device. Only the SHA-256 of the token is stored."""

    __tablename__ = "device_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.username", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    device_name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginThrottle(ServerBase):
    """Failed logins per key (``user:<name>`` or ``addr:<ip>``), shared by all processes."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- records --------------------------------------------------------------------------


class ServerRecord(RecordFields):
    # Number of the record's latest change in the feed (0 only inside a writing txn).
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True, unique=True)


class Customer(ServerBase, ServerRecord, CustomerFields):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_owner_id_seq", "owner_id", "seq"),)

    id: Mapped[str] = id_column(primary_key=True)


class Contact(ServerBase, ServerRecord, ContactFields):
    __tablename__ = "contacts"

    id: Mapped[str] = id_column(primary_key=True)


class FollowUp(ServerBase, ServerRecord, FollowUpFields):
    __tablename__ = "follow_ups"

    id: Mapped[str] = id_column(primary_key=True)


class Deal(ServerBase, ServerRecord, DealFields):
    __tablename__ = "deals"

    id: Mapped[str] = id_column(primary_key=True)


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class (for bulk statements on a Connection)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


MODEL_BY_ENTITY: dict[str, type[ServerRecord]] = {
    "customer": Customer,
    "contact": Contact,
    "follow_up": FollowUp,
    "deal": Deal,
}
TABLE_BY_ENTITY: dict[str, Table] = {
    name: table_of(model) for name, model in MODEL_BY_ENTITY.items()
}
CHILD_ENTITIES = ("contact", "follow_up", "deal")


# --- sync bookkeeping -----------------------------------------------------------------


class FeedCounter(ServerBase):
    """The single row whose lock orders change numbers by commit (``id`` is always 1)."""

    __tablename__ = "feed_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Revocation(ServerBase):
    """A record left the sight of whoever could see it under ``old_owner_id``/``old_team``.

    Written when a customer changes owner, for the customer and each of its children; the
    feed sends it as a ``revoked`` change to users who could see the record before and
    cannot see it now.
    """

    __tablename__ = "revocations"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entity: Mapped[str] = mapped_column(String(16), nullable=False)
    record_id: Mapped[str] = mapped_column(String(36), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    old_owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    old_team: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PushedMutation(ServerBase):
    """Every mutation the server has decided, with the result it answered.

    Written in the same transaction as the change itself: a retried push finds its
    mutations here and gets the first answer again instead of a second application.
    """

    __tablename__ = "pushed_mutations"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    mutation_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)


class AuditEntry(ServerBase):
    """One applied change: who, when, which record, each field's old and new value."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_record_id", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    entity: Mapped[str] = mapped_column(String(16), nullable=False)
    record_id: Mapped[str] = mapped_column(String(36), nullable=False)
    customer_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    op: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # {field: [old, new]}, values wire-encoded.
    changes: Mapped[Any] = mapped_column(JSON, nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    mutation_id: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ServerMeta(ServerBase):
    """Facts about this database, such as its instance id (cursors carry it)."""

    __tablename__ = "server_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
