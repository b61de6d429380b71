"""The wire encoding of field values and the pydantic record models (sync.wire)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.schema import ENTITIES, FieldKind
from sync.validation import clean_values
from sync.wire import (
    WireError,
    decode_value,
    decode_values,
    dumps,
    encode_value,
    encode_values,
    loads,
    record_model,
)

CUSTOMER = ENTITIES["customer"]
CONTACT = ENTITIES["contact"]
FOLLOW_UP = ENTITIES["follow_up"]
DEAL = ENTITIES["deal"]
AMOUNT = DEAL.field("amount")
PROBABILITY = DEAL.field("probability")
EXPECTED_CLOSE = DEAL.field("expected_close")
NEXT_FOLLOW_UP = CUSTOMER.field("next_follow_up_at")
TAGS = CUSTOMER.field("tags")
DONE = FOLLOW_UP.field("done")
CUSTOMER_ID = "018f2b6e-1c2d-7a3b-8c4d-5e6f7a8b9c0d"

_WIRE_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def roundtrip(spec: Any, value: Any) -> Any:
    encoded = encode_value(spec, value)
    # What actually travels is JSON text.
    return decode_value(spec, loads(dumps(encoded)))


# --- encode / decode per kind -----------------------------------------------------------


@given(st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2))
def test_money_roundtrips_as_a_decimal_string(amount: Decimal) -> None:
    encoded = encode_value(AMOUNT, amount)
    assert isinstance(encoded, str)
    assert re.fullmatch(r"\d{1,12}\.\d\d", encoded), encoded
    decoded = roundtrip(AMOUNT, amount)
    assert decoded == amount
    assert decoded.as_tuple().exponent == -2


def test_money_encoding_examples() -> None:
    assert encode_value(AMOUNT, Decimal("1234.5")) == "1234.50"
    assert encode_value(AMOUNT, Decimal("0")) == "0.00"
    assert decode_value(AMOUNT, "1234.50") == Decimal("1234.50")
    assert str(decode_value(AMOUNT, "7")) == "7.00"


_ZONES = st.one_of(
    st.timezones(),
    st.builds(
        timezone,
        st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)),
    ),
)


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30), timezones=_ZONES)
)
def test_aware_datetimes_travel_as_utc_with_z(moment: datetime) -> None:
    encoded = encode_value(NEXT_FOLLOW_UP, moment)
    assert _WIRE_DATETIME.fullmatch(encoded), encoded
    decoded = roundtrip(NEXT_FOLLOW_UP, moment)
    assert decoded.tzinfo is UTC
    assert decoded == moment.astimezone(UTC)


def test_datetime_encoding_example() -> None:
    moment = datetime(2026, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    assert encode_value(NEXT_FOLLOW_UP, moment) == "2026-03-01T09:30:00.000000Z"
    assert decode_value(NEXT_FOLLOW_UP, "2026-03-01T17:30:00+08:00") == datetime(
        2026, 3, 1, 9, 30, tzinfo=UTC
    )


@given(st.dates())
def test_dates_roundtrip_as_iso_text(day: date) -> None:
    encoded = encode_value(EXPECTED_CLOSE, day)
    assert encoded == day.isoformat()
    assert roundtrip(EXPECTED_CLOSE, day) == day


@given(st.lists(st.text(max_size=32), max_size=20))
def test_tags_roundtrip_as_lists(tags: list[str]) -> None:
    assert roundtrip(TAGS, tags) == tags
    assert encode_value(TAGS, tuple(tags)) == tags


@pytest.mark.parametrize(
    ("entity_name", "field", "value"),
    [
        ("customer", "name", "张三"),
        ("customer", "notes", "第一行\n第二行"),
        ("customer", "email", "zhang@qq.com"),
        ("customer", "mobile", "+86 138-1234-5678"),
        ("customer", "level", "A"),
        ("customer", "owner_id", "u42"),
        ("deal", "currency", "CNY"),
        ("deal", "probability", 0),
        ("deal", "probability", 100),
        ("deal", "customer_id", CUSTOMER_ID),
        ("follow_up", "done", True),
        ("contact", "is_primary", False),
    ],
)
def test_plain_kinds_roundtrip_unchanged(entity_name: str, field: str, value: Any) -> None:
    spec = ENTITIES[entity_name].field(field)
    assert encode_value(spec, value) == value
    decoded = roundtrip(spec, value)
    assert decoded == value
    assert type(decoded) is type(value)


def test_none_roundtrips_for_every_field_of_every_entity() -> None:
    for spec in ENTITIES.values():
        for f in spec.fields:
            assert encode_value(f, None) is None
            assert decode_value(f, None) is None


def test_whole_records_roundtrip() -> None:
    customer = clean_values(
        CUSTOMER,
        {
            "name": "张三",
            "company": "上海华为技术有限公司",
            "mobile": "138 1234 5678",
            "tags": ["VIP", "华东"],
            "next_follow_up_at": datetime(2026, 5, 1, 10, tzinfo=timezone(timedelta(hours=8))),
        },
        for_create=True,
    )
    deal = clean_values(
        DEAL,
        {
            "customer_id": CUSTOMER_ID,
            "title": "年度框架合同",
            "amount": "1200000.5",
            "expected_close": "2026-12-31",
            "probability": 60,
        },
        for_create=True,
    )
    for spec, values in ((CUSTOMER, customer), (DEAL, deal)):
        text = dumps(encode_values(spec, values))
        assert decode_values(spec, loads(text)) == values
    assert loads(dumps(encode_values(DEAL, deal)))["amount"] == "1200000.50"


# --- decode refuses the wrong JSON types ------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "raw"),
    [
        (AMOUNT, 12.5),  # money never travels as a float
        (AMOUNT, 100),
        (AMOUNT, "twelve"),
        (AMOUNT, "Infinity"),
        (PROBABILITY, True),  # bool is not an integer on the wire
        (PROBABILITY, "50"),
        (PROBABILITY, 50.0),
        (NEXT_FOLLOW_UP, "2026-03-01T09:30:00"),  # naive
        (NEXT_FOLLOW_UP, "2026-03-01"),
        (NEXT_FOLLOW_UP, "soon"),
        (NEXT_FOLLOW_UP, 1772357400),
        (EXPECTED_CLOSE, 20260301),
        (EXPECTED_CLOSE, "2026-02-30"),
        (TAGS, "VIP,重点"),  # tags are a list, not a joined string
        (TAGS, ["VIP", 3]),
        (TAGS, {"VIP": True}),
        (DONE, "true"),
        (DONE, 1),
        (CUSTOMER.field("name"), 42),
        (CUSTOMER.field("level"), ["A"]),
        (DEAL.field("customer_id"), 7),
    ],
)
def test_decode_refuses_wrong_json_types(spec: Any, raw: Any) -> None:
    with pytest.raises(WireError):
        decode_value(spec, raw)


@pytest.mark.parametrize("raw", ["NaN", "1.005"])
def test_decode_refuses_money_that_is_not_an_exact_two_decimal_amount(raw: str) -> None:
    with pytest.raises(WireError):
        decode_value(AMOUNT, raw)


def test_wire_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="amount"):
        decode_value(AMOUNT, 1.5)


# --- pydantic record models -------------------------------------------------------------


def _valid_customer() -> dict[str, Any]:
    return {
        "name": " 张三 ",
        "company": "上海华为技术有限公司",
        "mobile": "１３８１２３４５６７８",
        "email": "Zhang.San@Example.COM",
        "level": "A",
        "status": "active",
        "tags": ["VIP", " 华东 ", "VIP"],
        "next_follow_up_at": "2026-03-01T17:30:00+08:00",
    }


def test_customer_model_accepts_and_normalises_a_valid_payload() -> None:
    model = record_model("customer")
    body = dict(model.model_validate(_valid_customer()))
    assert body["name"] == "张三"
    assert body["mobile"] == "13812345678"
    assert body["email"] == "Zhang.San@example.com"
    assert body["level"] == "A"
    assert body["status"] == "active"
    assert body["tags"] == ["VIP", "华东"]
    assert body["next_follow_up_at"] == "2026-03-01T09:30:00.000000Z"
    assert body["company"] == "上海华为技术有限公司"
    assert body["notes"] is None


def test_customer_model_from_json_text() -> None:
    model = record_model("customer")
    body = dict(model.model_validate_json(dumps({"name": "李四", "level": "B"})))
    assert (body["name"], body["level"], body["status"]) == ("李四", "B", None)


def test_customer_model_fields_are_the_synced_fields() -> None:
    model = record_model("customer")
    assert set(model.model_fields) == {f.name for f in CUSTOMER.synced_fields}
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    assert required == {"name"}
    assert record_model("customer") is model  # built once


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"nickname": "x"}, "nickname"),  # extra field
        ({"version": 3}, "version"),  # system fields are not in the body
        ({"email": "not-an-email"}, "email"),
        ({"level": "E"}, "level"),
        ({"status": "won"}, "status"),
        ({"name": "名" * 201}, "name"),
        ({"name": "   "}, "name"),
        ({"mobile": "call me"}, "mobile"),
        ({"tags": "VIP"}, "tags"),
        ({"tags": ["x" * 33]}, "tags"),
    ],
)
def test_customer_model_rejects_bad_payloads(changes: dict[str, Any], field: str) -> None:
    model = record_model("customer")
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate({**_valid_customer(), **changes})
    assert [e["loc"][0] for e in info.value.errors()] == [field]


def test_customer_model_requires_a_name() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        record_model("customer").model_validate({"company": "x"})
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("name",), "missing")]


def test_deal_model_requires_customer_and_title_and_checks_money() -> None:
    model = record_model("deal")
    body = dict(model.model_validate({"customer_id": CUSTOMER_ID.upper(), "title": "t"}))
    assert body["customer_id"] == CUSTOMER_ID
    assert body["currency"] is None  # defaults are applied by clean_values, not the model
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate({"title": "t"})
    assert [e["loc"][0] for e in info.value.errors()] == ["customer_id"]
    ok = {"customer_id": CUSTOMER_ID, "title": "t"}
    assert dict(model.model_validate({**ok, "amount": "1234.5"}))["amount"] == "1234.50"
    closing = dict(model.model_validate({**ok, "expected_close": "2026-06-30"}))
    assert closing["expected_close"] == "2026-06-30"
    for bad in ({"amount": 1234.5}, {"amount": "1.005"}, {"amount": "-1"}, {"probability": 101}):
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({**ok, **bad})


def test_partial_deal_model_accepts_an_empty_body() -> None:
    model = record_model("deal", partial=True)
    assert model is not record_model("deal")
    body = model.model_validate({})
    assert body.model_dump(exclude_unset=True) == {}
    assert all(not f.is_required() for f in model.model_fields.values())
    assert model.model_validate({"stage": "won"}).model_dump(exclude_unset=True) == {"stage": "won"}
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({"stage": "closed"})
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({"version": 2})


def test_models_exist_for_every_entity() -> None:
    for name, spec in ENTITIES.items():
        for partial in (False, True):
            model = record_model(name, partial=partial)
            assert set(model.model_fields) == {f.name for f in spec.synced_fields}


def test_model_refuses_naive_datetimes() -> None:
    model = record_model("customer")
    try:
        body = model.model_validate({"name": "x", "next_follow_up_at": "2026-03-01T09:30:00"})
    except pydantic.ValidationError:
        return
    raise AssertionError(f"accepted as {dict(body)['next_follow_up_at']!r}")


@pytest.mark.parametrize(
    ("entity_name", "values"),
    [
        ("deal", {"customer_id": CUSTOMER_ID, "title": "t", "probability": True}),
        ("deal", {"customer_id": CUSTOMER_ID, "title": "t", "probability": "50"}),
        ("follow_up", {"done": "yes"}),
    ],
)
def test_model_does_not_coerce_types(entity_name: str, values: dict[str, Any]) -> None:
    model = record_model(entity_name, partial=entity_name == "follow_up")
    try:
        body = model.model_validate(values)
    except pydantic.ValidationError:
        return
    raise AssertionError(f"coerced to {body.model_dump(exclude_unset=True)!r}")


# --- JSON text --------------------------------------------------------------------------


def test_dumps_loads_roundtrip_with_chinese_text() -> None:
    data = {
        "name": "张三",
        "company": "上海华为技术有限公司",
        "notes": "第一行\n“引号”，全角标点。",
        "tags": ["VIP", "重点"],
        "nested": {"amount": "1234.50", "n": 3, "ok": True, "none": None},
    }
    text = dumps(data)
    assert isinstance(text, str)
    assert "张三" in text  # not \\u-escaped
    assert ": " not in text and ", " not in text  # compact
    assert loads(text) == data
    assert loads(text.encode()) == data


@pytest.mark.parametrize("text", ["", "{", '{"a": }', "{'a': 1}", "[1, 2", "NaN", b"\xff"])
def test_loads_of_malformed_json_raises_wire_error(text: str | bytes) -> None:
    with pytest.raises(WireError, match="malformed JSON"):
        loads(text)


def test_every_field_kind_has_an_encoding() -> None:
    # Each kind used by the schema survives encode -> JSON -> decode for a typical value.
    samples: dict[FieldKind, Any] = {
        FieldKind.ID: CUSTOMER_ID,
        FieldKind.TEXT: "文本",
        FieldKind.LONG_TEXT: "多行\n文本",
        FieldKind.EMAIL: "a@b.cn",
        FieldKind.PHONE: "021-5555 1234",
        FieldKind.ENUM: None,  # per field, below
        FieldKind.INTEGER: 7,
        FieldKind.MONEY: Decimal("0.01"),
        FieldKind.CURRENCY: "CNY",
        FieldKind.BOOLEAN: True,
        FieldKind.DATE: date(2026, 1, 31),
        FieldKind.DATETIME: datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
        FieldKind.TAGS: ["a", "b"],
        FieldKind.REFERENCE: CUSTOMER_ID,
        FieldKind.USER: "u1",
    }
    seen = set()
    for spec in ENTITIES.values():
        for f in spec.fields:
            value = f.choices[-1] if f.kind is FieldKind.ENUM else samples[f.kind]
            assert roundtrip(f, value) == value, f.name
            seen.add(f.kind)
    assert seen == set(FieldKind)
