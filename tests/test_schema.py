"""The entity schema: DESIGN's fields, enum choices, and "one definition" for the replica."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Date, Integer, String, Text
from sqlalchemy.types import JSON

from sync.replica_models import TABLE_BY_ENTITY
from sync.schema import (
    ENTITIES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    UUID_LENGTH,
    FieldKind,
    entity,
    new_record_id,
    uuid7,
)
from sync.types import Money, UTCDateTime

DESIGN_FIELDS = {
    "customer": {
        "name",
        "company",
        "phone",
        "mobile",
        "email",
        "address",
        "city",
        "industry",
        "level",
        "status",
        "source",
        "tags",
        "notes",
        "next_follow_up_at",
    },
    "contact": {
        "customer_id",
        "name",
        "title",
        "phone",
        "mobile",
        "email",
        "wechat",
        "is_primary",
        "notes",
    },
    "follow_up": {
        "customer_id",
        "contact_id",
        "kind",
        "content",
        "happened_at",
        "next_action",
        "next_action_at",
        "done",
    },
    "deal": {
        "customer_id",
        "title",
        "amount",
        "currency",
        "stage",
        "expected_close",
        "probability",
        "notes",
    },
}

RECORD_FIELDS = {"id", "version", "updated_at", "updated_by", "deleted", "owner_id", "created_at"}
# Set only by the server. owner_id is a record field every row carries too, but a user may
# reassign a record, so it is synced (EntitySpec.synced_fields: "user data plus the owner").
SERVER_ONLY_FIELDS = RECORD_FIELDS - {"owner_id"}

ENUM_CHOICES = {
    ("customer", "level"): ("A", "B", "C", "D"),
    ("customer", "status"): ("lead", "prospect", "active", "dormant", "lost"),
    ("follow_up", "kind"): ("call", "visit", "email", "wechat", "meeting", "other"),
    ("deal", "stage"): ("initial", "qualified", "proposal", "negotiation", "won", "lost"),
}

TEXT_KINDS = (FieldKind.TEXT, FieldKind.EMAIL, FieldKind.PHONE, FieldKind.USER)


def test_entities_are_exactly_the_four_of_design() -> None:
    assert set(ENTITIES) == set(DESIGN_FIELDS)
    assert {e.table for e in ENTITIES.values()} == {"customers", "contacts", "follow_ups", "deals"}
    assert ENTITIES["customer"].parent is None
    for name in ("contact", "follow_up", "deal"):
        assert ENTITIES[name].parent == "customer"


@pytest.mark.parametrize("name", sorted(DESIGN_FIELDS))
def test_entity_has_exactly_the_design_fields_plus_record_fields(name: str) -> None:
    spec = ENTITIES[name]
    names = [f.name for f in spec.fields]
    assert len(names) == len(set(names)), "a field is declared twice"
    assert set(names) == DESIGN_FIELDS[name] | RECORD_FIELDS
    for field_name in names:
        assert spec.has_field(field_name)
        assert spec.field(field_name).name == field_name
    assert not spec.has_field("nonexistent")
    with pytest.raises(KeyError):
        spec.field("nonexistent")


@pytest.mark.parametrize("name", sorted(DESIGN_FIELDS))
def test_system_fields_are_server_only_and_never_synced(name: str) -> None:
    spec = ENTITIES[name]
    for field_name in SERVER_ONLY_FIELDS:
        f = spec.field(field_name)
        assert f.system is True, field_name
        assert f.editable is False, field_name
        assert f.synced is False, field_name
    assert {f.name for f in spec.system_fields} == SERVER_ONLY_FIELDS
    synced = {f.name for f in spec.synced_fields}
    assert synced == DESIGN_FIELDS[name] | {"owner_id"}
    assert not synced & SERVER_ONLY_FIELDS
    # Every user field is editable and not a system field.
    for field_name in DESIGN_FIELDS[name]:
        f = spec.field(field_name)
        assert f.editable and not f.system and f.synced


@pytest.mark.parametrize(("entity_name", "field_name"), sorted(ENUM_CHOICES))
def test_enum_choices_match_design(entity_name: str, field_name: str) -> None:
    f = ENTITIES[entity_name].field(field_name)
    assert f.kind is FieldKind.ENUM
    assert f.choices == ENUM_CHOICES[(entity_name, field_name)]


def test_only_the_design_enums_are_enums() -> None:
    enums = {
        (e.name, f.name) for e in ENTITIES.values() for f in e.fields if f.kind is FieldKind.ENUM
    }
    assert enums == set(ENUM_CHOICES)


def test_defaults_and_limits_of_design() -> None:
    customer, deal = ENTITIES["customer"], ENTITIES["deal"]
    assert customer.field("status").default == "lead"
    assert customer.field("status").required
    assert customer.field("name").required
    tags = customer.field("tags")
    assert tags.kind is FieldKind.TAGS
    assert tags.max_items == MAX_TAGS
    assert tags.max_length == MAX_TAG_LENGTH
    assert deal.field("currency").default == "CNY"
    assert deal.field("stage").default == "initial"
    assert deal.field("amount").kind is FieldKind.MONEY
    assert deal.field("amount").min_value == 0
    assert deal.field("probability").min_value == 0
    assert deal.field("probability").max_value == 100
    assert ENTITIES["contact"].field("is_primary").default is False
    assert ENTITIES["follow_up"].field("done").default is False
    assert ENTITIES["follow_up"].field("happened_at").required


def test_references_name_existing_entities() -> None:
    refs = {
        (e.name, f.name): f.references
        for e in ENTITIES.values()
        for f in e.fields
        if f.kind is FieldKind.REFERENCE
    }
    assert refs == {
        ("contact", "customer_id"): "customer",
        ("follow_up", "customer_id"): "customer",
        ("follow_up", "contact_id"): "contact",
        ("deal", "customer_id"): "customer",
    }
    for target in refs.values():
        assert target in ENTITIES


def test_entity_lookup_names_known_entities_on_error() -> None:
    assert entity("deal") is ENTITIES["deal"]
    with pytest.raises(KeyError, match="known: customer, contact, follow_up, deal"):
        entity("invoice")


# --- one definition: the replica's tables come from the specs ---------------------------


def _expected_type(kind: FieldKind) -> type:
    return {
        FieldKind.ID: String,
        FieldKind.REFERENCE: String,
        FieldKind.TEXT: String,
        FieldKind.EMAIL: String,
        FieldKind.PHONE: String,
        FieldKind.USER: String,
        FieldKind.ENUM: String,
        FieldKind.CURRENCY: String,
        FieldKind.LONG_TEXT: Text,
        FieldKind.INTEGER: Integer,
        FieldKind.MONEY: Money,
        FieldKind.BOOLEAN: Boolean,
        FieldKind.DATE: Date,
        FieldKind.DATETIME: UTCDateTime,
        FieldKind.TAGS: JSON,
    }[kind]


def _length(col: Column[Any]) -> int | None:
    assert isinstance(col.type, String)
    return col.type.length


@pytest.mark.parametrize("name", sorted(DESIGN_FIELDS))
def test_replica_table_has_a_matching_column_for_every_field(name: str) -> None:
    spec = ENTITIES[name]
    table = TABLE_BY_ENTITY[name]
    assert table.name == spec.table
    for f in spec.fields:
        assert f.name in table.c, f"{table.name} lacks a column for {f.name}"
        col = table.c[f.name]
        assert isinstance(col.type, _expected_type(f.kind)), (f.name, col.type)
        if f.required:
            assert col.nullable is False, f"required {name}.{f.name} is nullable"
        if f.kind in TEXT_KINDS:
            assert f.max_length is not None, f.name
            assert _length(col) == f.max_length, (f.name, _length(col), f.max_length)
        if f.kind in (FieldKind.ID, FieldKind.REFERENCE):
            assert _length(col) == UUID_LENGTH
        if f.kind is FieldKind.ENUM:
            assert _length(col) == max(len(c) for c in f.choices)
        if f.kind is FieldKind.CURRENCY:
            assert _length(col) == 3
        if f.kind in (FieldKind.BOOLEAN, FieldKind.TAGS):
            assert col.nullable is False, f.name
    # The column carries the very spec the entity lists (modulo the name filled in later).
    for f in spec.fields:
        info_spec = table.c[f.name].info["outpost_field"]
        assert info_spec.kind is f.kind
        assert info_spec.max_length == f.max_length
        assert info_spec.required == f.required


@pytest.mark.parametrize("name", sorted(DESIGN_FIELDS))
def test_replica_table_nullability_of_optional_and_system_columns(name: str) -> None:
    spec = ENTITIES[name]
    table = TABLE_BY_ENTITY[name]
    assert table.c.version.nullable is False
    assert table.c.id.nullable is False
    for f in spec.fields:
        if not f.required and f.kind not in (FieldKind.BOOLEAN, FieldKind.TAGS) and not f.system:
            assert table.c[f.name].nullable is True, f.name


def test_replica_references_are_foreign_keys_to_customers() -> None:
    for name in ("contact", "follow_up", "deal"):
        fks = list(TABLE_BY_ENTITY[name].c.customer_id.foreign_keys)
        assert [fk.target_fullname for fk in fks] == ["customers.id"]
    # contact_id is a soft reference: a contact may go while its follow-ups stay.
    assert not TABLE_BY_ENTITY["follow_up"].c.contact_id.foreign_keys


# --- record ids ------------------------------------------------------------------------


def test_new_record_id_is_a_canonical_uuid7() -> None:
    before_ms = time.time_ns() // 1_000_000
    rid = new_record_id()
    after_ms = time.time_ns() // 1_000_000
    parsed = uuid.UUID(rid)
    assert str(parsed) == rid  # canonical lowercase text
    assert len(rid) == UUID_LENGTH
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    stamp_ms = parsed.int >> 80
    assert before_ms <= stamp_ms <= after_ms


def test_record_ids_sort_by_creation_time() -> None:
    ids = []
    for _ in range(6):
        ids.append(new_record_id())
        time.sleep(0.003)  # > 1 ms: the timestamp prefix must then increase
    assert ids == sorted(ids)
    stamps = [uuid.UUID(i).int >> 80 for i in ids]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_record_ids_never_repeat() -> None:
    ids = [new_record_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids[::997])


def test_uuid7_random_bits_vary_within_one_millisecond() -> None:
    values = [uuid7() for _ in range(50)]
    low_bits = {v.int & ((1 << 62) - 1) for v in values}
    assert len(low_bits) == len(values)
