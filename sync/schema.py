"""The entity schema: the one definition of Outpost's records.

Each entity's fields are declared once, as typed SQLAlchemy columns on a mixin class
(:class:`CustomerFields`, ...). Every column carries a :class:`FieldSpec` in its ``info``:
kind, label, whether it is required, its length limit, its choices, whether a user may
edit it or only the server sets it. From that one declaration come

* the replica's tables (``sync.replica_models``) and the server's tables (``server/``),
  which mix the same field classes into their own declarative bases;
* validation (``sync.validation``) and the wire encoding (``sync.wire``);
* forms, columns and labels in the desktop app.

Nothing else may list an entity's fields: ask :data:`ENTITIES` instead.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column
from sqlalchemy.types import TypeEngine

from sync.types import Money, UTCDateTime


class FieldKind(StrEnum):
    """What a field holds; decides its column type, validation and wire encoding."""

    ID = "id"  # a record id: canonical lowercase UUID text
    TEXT = "text"  # one line of text
    LONG_TEXT = "long_text"  # notes, follow-up content: several lines
    EMAIL = "email"
    PHONE = "phone"
    ENUM = "enum"  # one of FieldSpec.choices
    INTEGER = "integer"
    MONEY = "money"  # Decimal with two decimals
    CURRENCY = "currency"  # ISO 4217 code such as CNY
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"  # aware UTC datetime
    TAGS = "tags"  # list of short strings
    REFERENCE = "reference"  # id of another record (FieldSpec.references names the entity)
    USER = "user"  # a user id assigned by the server


class CustomerLevel(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


class CustomerStatus(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    ACTIVE = "active"
    DORMANT = "dormant"
    LOST = "lost"


class FollowUpKind(StrEnum):
    CALL = "call"
    VISIT = "visit"
    EMAIL = "email"
    WECHAT = "wechat"
    MEETING = "meeting"
    OTHER = "other"


class DealStage(StrEnum):
    INITIAL = "initial"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Everything the system knows about one field of an entity."""

    name: str
    kind: FieldKind
    label: str
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    min_value: int | Decimal | None = None
    max_value: int | Decimal | None = None
    editable: bool = True  # a user may set it (forms, mutations)
    system: bool = False  # only the server sets it (version, updated_at, ...)
    references: str | None = None  # entity name, for REFERENCE fields
    default: Any = None  # value a new record gets when the field is not given
    max_items: int | None = None  # TAGS: how many tags

    @property
    def synced(self) -> bool:
        """Whether a client sends this field in its mutations."""
        return self.editable and not self.system


_INFO_KEY = "outpost_field"

MAX_TAGS = 20
MAX_TAG_LENGTH = 32
UUID_LENGTH = 36


def _column_type(spec: FieldSpec) -> TypeEngine[Any]:
    kind = spec.kind
    if kind in (FieldKind.ID, FieldKind.REFERENCE):
        return String(UUID_LENGTH)
    if kind in (FieldKind.TEXT, FieldKind.EMAIL, FieldKind.PHONE, FieldKind.USER):
        return String(spec.max_length)
    if kind is FieldKind.ENUM:
        return String(max(len(c) for c in spec.choices))
    if kind is FieldKind.CURRENCY:
        return String(3)
    if kind is FieldKind.LONG_TEXT:
        return Text()
    if kind is FieldKind.INTEGER:
        return Integer()
    if kind is FieldKind.MONEY:
        return Money()
    if kind is FieldKind.BOOLEAN:
        return Boolean()
    if kind is FieldKind.DATE:
        return Date()
    if kind is FieldKind.DATETIME:
        return UTCDateTime()
    if kind is FieldKind.TAGS:
        return JSON()
    raise AssertionError(f"no column type for {kind}")


def field_column(
    kind: FieldKind,
    label: str,
    *,
    required: bool = False,
    max_length: int | None = None,
    choices: type[StrEnum] | None = None,
    min_value: int | Decimal | None = None,
    max_value: int | Decimal | None = None,
    editable: bool = True,
    system: bool = False,
    references: str | None = None,
    default: Any = None,
    max_items: int | None = None,
    foreign_key: str | None = None,
    primary_key: bool = False,
    unique: bool = False,
    index: bool = False,
) -> MappedColumn[Any]:
    """Declare one entity field: a typed column that carries its :class:`FieldSpec`.

    The spec's name is filled in from the attribute name when :data:`ENTITIES` is built.
    ``foreign_key`` adds a database constraint (deferred, so a pulled page may bring a child
    before its parent inside one transaction).
    """
    spec = FieldSpec(
        name="",
        kind=kind,
        label=label,
        required=required,
        max_length=max_length,
        choices=tuple(c.value for c in choices) if choices else (),
        min_value=min_value,
        max_value=max_value,
        editable=editable,
        system=system,
        references=references,
        default=default,
        max_items=max_items,
    )
    args: list[Any] = [_column_type(spec)]
    if foreign_key:
        args.append(ForeignKey(foreign_key, deferrable=True, initially="DEFERRED"))
    nullable = not (required or primary_key or kind is FieldKind.BOOLEAN or kind is FieldKind.TAGS)
    if system and kind is FieldKind.INTEGER:
        nullable = False
    return mapped_column(
        *args,
        nullable=nullable,
        primary_key=primary_key,
        unique=unique,
        index=index,
        info={_INFO_KEY: spec},
    )


def id_column(*, primary_key: bool = False, unique: bool = False) -> MappedColumn[str]:
    """The ``id`` column: a client-generated UUID. Each side decides whether it is the key."""
    return field_column(
        FieldKind.ID,
        "ID",
        required=True,
        editable=False,
        system=True,
        primary_key=primary_key,
        unique=unique,
    )


class RecordFields:
    """System fields every entity row carries (DESIGN §1). The id is declared per side."""

    version: Mapped[int] = field_column(
        FieldKind.INTEGER, "Version", editable=False, system=True, default=0
    )
    created_at: Mapped[datetime | None] = field_column(
        FieldKind.DATETIME, "Created", editable=False, system=True
    )
    updated_at: Mapped[datetime | None] = field_column(
        FieldKind.DATETIME, "Updated", editable=False, system=True
    )
    updated_by: Mapped[str | None] = field_column(
        FieldKind.USER, "Updated by", max_length=64, editable=False, system=True
    )
    deleted: Mapped[bool] = field_column(
        FieldKind.BOOLEAN, "Deleted", editable=False, system=True, default=False
    )
    owner_id: Mapped[str | None] = field_column(FieldKind.USER, "Owner", max_length=64)


class CustomerFields:
    """客户 — a company or person the salesperson sells to."""

    name: Mapped[str] = field_column(FieldKind.TEXT, "Name", required=True, max_length=200)
    company: Mapped[str | None] = field_column(FieldKind.TEXT, "Company", max_length=200)
    phone: Mapped[str | None] = field_column(FieldKind.PHONE, "Phone", max_length=40)
    mobile: Mapped[str | None] = field_column(FieldKind.PHONE, "Mobile", max_length=40)
    email: Mapped[str | None] = field_column(FieldKind.EMAIL, "Email", max_length=254)
    address: Mapped[str | None] = field_column(FieldKind.TEXT, "Address", max_length=500)
    city: Mapped[str | None] = field_column(FieldKind.TEXT, "City", max_length=100)
    industry: Mapped[str | None] = field_column(FieldKind.TEXT, "Industry", max_length=100)
    level: Mapped[str | None] = field_column(FieldKind.ENUM, "Level", choices=CustomerLevel)
    status: Mapped[str] = field_column(
        FieldKind.ENUM,
        "Status",
        required=True,
        choices=CustomerStatus,
        default=CustomerStatus.LEAD.value,
    )
    source: Mapped[str | None] = field_column(FieldKind.TEXT, "Source", max_length=100)
    tags: Mapped[list[str]] = field_column(
        FieldKind.TAGS, "Tags", max_length=MAX_TAG_LENGTH, max_items=MAX_TAGS, default=()
    )
    notes: Mapped[str | None] = field_column(FieldKind.LONG_TEXT, "Notes", max_length=20000)
    next_follow_up_at: Mapped[datetime | None] = field_column(FieldKind.DATETIME, "Next follow-up")


class ContactFields:
    """联系人 — a person at a customer."""

    customer_id: Mapped[str] = field_column(
        FieldKind.REFERENCE,
        "Customer",
        required=True,
        references="customer",
        foreign_key="customers.id",
        index=True,
    )
    name: Mapped[str] = field_column(FieldKind.TEXT, "Name", required=True, max_length=100)
    title: Mapped[str | None] = field_column(FieldKind.TEXT, "Title", max_length=100)
    phone: Mapped[str | None] = field_column(FieldKind.PHONE, "Phone", max_length=40)
    mobile: Mapped[str | None] = field_column(FieldKind.PHONE, "Mobile", max_length=40)
    email: Mapped[str | None] = field_column(FieldKind.EMAIL, "Email", max_length=254)
    wechat: Mapped[str | None] = field_column(FieldKind.TEXT, "WeChat", max_length=64)
    is_primary: Mapped[bool] = field_column(FieldKind.BOOLEAN, "Primary contact", default=False)
    notes: Mapped[str | None] = field_column(FieldKind.LONG_TEXT, "Notes", max_length=20000)


class FollowUpFields:
    """跟进记录 — a call, visit or message, and what to do next."""

    customer_id: Mapped[str] = field_column(
        FieldKind.REFERENCE,
        "Customer",
        required=True,
        references="customer",
        foreign_key="customers.id",
        index=True,
    )
    # Soft reference: a contact may be deleted while follow-ups still mention it.
    contact_id: Mapped[str | None] = field_column(
        FieldKind.REFERENCE, "Contact", references="contact"
    )
    kind: Mapped[str] = field_column(FieldKind.ENUM, "Kind", required=True, choices=FollowUpKind)
    content: Mapped[str] = field_column(
        FieldKind.LONG_TEXT, "Content", required=True, max_length=20000
    )
    happened_at: Mapped[datetime] = field_column(
        FieldKind.DATETIME, "Happened at", required=True, index=True
    )
    next_action: Mapped[str | None] = field_column(FieldKind.TEXT, "Next action", max_length=500)
    next_action_at: Mapped[datetime | None] = field_column(
        FieldKind.DATETIME, "Next action at", index=True
    )
    done: Mapped[bool] = field_column(FieldKind.BOOLEAN, "Done", default=False)


class DealFields:
    """商机 — a sales opportunity and where it stands."""

    customer_id: Mapped[str] = field_column(
        FieldKind.REFERENCE,
        "Customer",
        required=True,
        references="customer",
        foreign_key="customers.id",
        index=True,
    )
    title: Mapped[str] = field_column(FieldKind.TEXT, "Title", required=True, max_length=200)
    amount: Mapped[Decimal | None] = field_column(
        FieldKind.MONEY, "Amount", min_value=Decimal(0), max_value=Decimal("999999999999.99")
    )
    currency: Mapped[str] = field_column(
        FieldKind.CURRENCY, "Currency", required=True, default="CNY"
    )
    stage: Mapped[str] = field_column(
        FieldKind.ENUM,
        "Stage",
        required=True,
        choices=DealStage,
        default=DealStage.INITIAL.value,
        index=True,
    )
    expected_close: Mapped[date | None] = field_column(FieldKind.DATE, "Expected close")
    probability: Mapped[int | None] = field_column(
        FieldKind.INTEGER, "Probability (%)", min_value=0, max_value=100
    )
    notes: Mapped[str | None] = field_column(FieldKind.LONG_TEXT, "Notes", max_length=20000)


@dataclass(frozen=True)
class EntitySpec:
    """One entity: its name, table, field classes and the specs of all its fields."""

    name: str
    table: str
    label: str
    fields_class: type
    parent: str | None = None  # the entity whose visibility this one follows
    fields: tuple[FieldSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        collected: list[FieldSpec] = [_spec_of("id", id_column())]
        for cls in (self.fields_class, RecordFields):
            for attr, value in vars(cls).items():
                if isinstance(value, MappedColumn):
                    collected.append(_spec_of(attr, value))
        object.__setattr__(self, "fields", tuple(collected))
        object.__setattr__(self, "_by_name", {f.name: f for f in collected})

    def field(self, name: str) -> FieldSpec:
        """The spec of the field ``name``; ``KeyError`` if the entity has no such field."""
        by_name: Mapping[str, FieldSpec] = object.__getattribute__(self, "_by_name")
        return by_name[name]

    def has_field(self, name: str) -> bool:
        return name in object.__getattribute__(self, "_by_name")

    @property
    def synced_fields(self) -> tuple[FieldSpec, ...]:
        """Fields a client changes through mutations (user data plus the owner)."""
        return tuple(f for f in self.fields if f.synced)

    @property
    def system_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.system)


def _spec_of(attr: str, column: MappedColumn[Any]) -> FieldSpec:
    spec = column.column.info[_INFO_KEY]
    assert isinstance(spec, FieldSpec)
    return dataclasses.replace(spec, name=attr)


CUSTOMER = EntitySpec("customer", "customers", "Customer", CustomerFields)
CONTACT = EntitySpec("contact", "contacts", "Contact", ContactFields, parent="customer")
FOLLOW_UP = EntitySpec("follow_up", "follow_ups", "Follow-up", FollowUpFields, parent="customer")
DEAL = EntitySpec("deal", "deals", "Deal", DealFields, parent="customer")

ENTITIES: Mapping[str, EntitySpec] = {e.name: e for e in (CUSTOMER, CONTACT, FOLLOW_UP, DEAL)}


def entity(name: str) -> EntitySpec:
    """The entity called ``name``; a clear ``KeyError`` for an unknown one."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None


def new_record_id() -> str:
    """A new record id: a UUIDv7 (time-ordered, so inserts stay local in B-tree indexes)."""
    return str(uuid7())


def uuid7() -> uuid.UUID:
    """RFC 9562 UUID version 7: 48-bit Unix milliseconds, then 74 random bits."""
    import os
    import time

    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b
    return uuid.UUID(int=value)
