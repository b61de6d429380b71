"""Field validation and normalisation (sync.validation)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sync.schema import ENTITIES, MAX_TAG_LENGTH, MAX_TAGS
from sync.validation import FieldError, ValidationError, clean_value, clean_values, parse_text

CUSTOMER = ENTITIES["customer"]
CONTACT = ENTITIES["contact"]
FOLLOW_UP = ENTITIES["follow_up"]
DEAL = ENTITIES["deal"]
CUSTOMER_ID = "018f2b6e-1c2d-7a3b-8c4d-5e6f7a8b9c0d"


def codes_of(entity: Any, values: dict[str, Any], *, for_create: bool = False) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        clean_values(entity, values, for_create=for_create)
    return info.value.codes()


def cleaned(entity: Any, field: str, value: Any) -> Any:
    return clean_values(entity, {field: value}, for_create=False)[field]


# --- creates: defaults and required fields --------------------------------------------


def test_create_customer_fills_every_synced_field_with_defaults() -> None:
    out = clean_values(CUSTOMER, {"name": "  张三  "}, for_create=True)
    assert set(out) == {f.name for f in CUSTOMER.synced_fields}
    assert out["name"] == "张三"
    assert out["status"] == "lead"
    assert out["tags"] == []
    assert out["level"] is None
    assert out["email"] is None
    assert out["owner_id"] is None
    assert "version" not in out and "id" not in out


def test_create_deal_defaults_currency_and_stage() -> None:
    out = clean_values(DEAL, {"customer_id": CUSTOMER_ID, "title": "年度合同"}, for_create=True)
    assert out["currency"] == "CNY"
    assert out["stage"] == "initial"
    assert out["amount"] is None
    assert out["probability"] is None


def test_create_booleans_default_to_false() -> None:
    contact = clean_values(CONTACT, {"customer_id": CUSTOMER_ID, "name": "李"}, for_create=True)
    assert contact["is_primary"] is False
    follow_up = clean_values(
        FOLLOW_UP,
        {
            "customer_id": CUSTOMER_ID,
            "kind": "call",
            "content": "电话沟通",
            "happened_at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        },
        for_create=True,
    )
    assert follow_up["done"] is False
    assert follow_up["contact_id"] is None


def test_given_values_override_defaults() -> None:
    out = clean_values(
        DEAL,
        {"customer_id": CUSTOMER_ID, "title": "t", "currency": "usd", "stage": "won"},
        for_create=True,
    )
    assert out["currency"] == "USD"
    assert out["stage"] == "won"


def test_create_rejects_missing_required_fields() -> None:
    assert codes_of(CUSTOMER, {}, for_create=True) == {"name": "required"}
    assert codes_of(CUSTOMER, {"name": "   "}, for_create=True) == {"name": "required"}
    assert codes_of(FOLLOW_UP, {}, for_create=True) == {
        "customer_id": "required",
        "kind": "required",
        "content": "required",
        "happened_at": "required",
    }
    assert codes_of(DEAL, {"title": "x"}, for_create=True) == {"customer_id": "required"}


def test_update_checks_only_given_fields() -> None:
    assert clean_values(CUSTOMER, {"city": " 上海 "}, for_create=False) == {"city": "上海"}
    assert clean_values(CUSTOMER, {}, for_create=False) == {}
    # Clearing an optional field is fine; clearing a required one is not.
    assert clean_values(CUSTOMER, {"company": ""}, for_create=False) == {"company": None}
    assert codes_of(CUSTOMER, {"name": ""}) == {"name": "required"}
    assert codes_of(CUSTOMER, {"status": None}) == {"status": "required"}


def test_all_errors_are_reported_together() -> None:
    with pytest.raises(ValidationError) as info:
        clean_values(
            CUSTOMER,
            {"name": "x" * 201, "level": "E", "email": "nope", "phone": "abc"},
            for_create=True,
        )
    err = info.value
    assert err.entity == "customer"
    assert err.codes() == {
        "name": "too_long",
        "level": "invalid_choice",
        "email": "invalid_email",
        "phone": "invalid_phone",
    }
    assert all(isinstance(e, FieldError) and e.message for e in err.errors)
    assert str(err).startswith("invalid customer: ")
    assert isinstance(err, ValueError)


def test_unknown_and_system_fields_are_refused() -> None:
    codes = codes_of(CUSTOMER, {"name": "x", "version": 3, "nickname": "x"}, for_create=True)
    assert codes == {"version": "not_editable", "nickname": "unknown_field"}
    for system in ("id", "updated_at", "updated_by", "deleted", "created_at"):
        assert codes_of(CUSTOMER, {system: None}) == {system: "not_editable"}
    # owner_id is the one record field a user may change (reassigning a customer).
    assert clean_values(CUSTOMER, {"owner_id": " u42 "}, for_create=False) == {"owner_id": "u42"}


# --- text -------------------------------------------------------------------------------


def test_text_length_limits() -> None:
    assert cleaned(CUSTOMER, "name", "名" * 200) == "名" * 200
    assert codes_of(CUSTOMER, {"name": "名" * 201}) == {"name": "too_long"}
    assert codes_of(CONTACT, {"name": "x" * 101}) == {"name": "too_long"}
    assert codes_of(CUSTOMER, {"notes": "x" * 20001}) == {"notes": "too_long"}


def test_single_line_text_refuses_line_breaks_and_controls() -> None:
    assert codes_of(CUSTOMER, {"name": "张\n三"}) == {"name": "invalid_characters"}
    assert codes_of(CUSTOMER, {"city": "a\tb"}) == {"city": "invalid_characters"}
    assert codes_of(CUSTOMER, {"company": "a\x00b"}) == {"company": "invalid_characters"}
    assert codes_of(CUSTOMER, {"name": 42}) == {"name": "invalid_type"}


def test_long_text_keeps_lines_and_surrounding_space() -> None:
    notes = "  第一行\n第二行\r\n\t缩进  "
    assert cleaned(CUSTOMER, "notes", notes) == notes
    assert codes_of(CUSTOMER, {"notes": "bell\x07"}) == {"notes": "invalid_characters"}
    assert codes_of(FOLLOW_UP, {"content": " \n "}) == {"content": "required"}


def test_text_is_nfc_normalised() -> None:
    decomposed = "Rene\u0301e"
    assert cleaned(CUSTOMER, "name", decomposed) == "Renée"
    assert cleaned(CUSTOMER, "name", decomposed) == unicodedata.normalize("NFC", decomposed)


# Printable text: no control characters (Cc) and no surrogates (Cs).
_NAME_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))


@given(st.text(alphabet=_NAME_CHARS, min_size=1, max_size=200))
def test_any_printable_name_is_accepted_normalised_and_stripped(raw: str) -> None:
    expected = unicodedata.normalize("NFC", raw).strip()
    assume(expected)  # all-whitespace is "missing", tested above
    assume(len(expected) <= 200)  # NFC may lengthen a few scripts' characters
    out = clean_values(CUSTOMER, {"name": raw}, for_create=True)
    assert out["name"] == expected
    assert unicodedata.is_normalized("NFC", out["name"])


# --- email and phone --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("wang@example.com", "wang@example.com"),
        ("  Wang.Wei@Example.COM ", "Wang.Wei@example.com"),
        ("ｚｈａｎｇ＠ｑｑ．ｃｏｍ", "zhang@qq.com"),  # typed with a full-width IME
        ("a.b+c@mail.co.uk", "a.b+c@mail.co.uk"),
    ],
)
def test_emails_are_accepted_and_domain_lowercased(raw: str, expected: str) -> None:
    assert cleaned(CUSTOMER, "email", raw) == expected


@pytest.mark.parametrize(
    "raw", ["wang", "wang@", "@example.com", "wang@example", "wa ng@x.com", "a@@b.com", "a@b..com"]
)
def test_bad_emails_are_refused(raw: str) -> None:
    assert codes_of(CUSTOMER, {"email": raw}) == {"email": "invalid_email"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "138 1234 5678"),
        ("+86 138-1234-5678", "+86 138-1234-5678"),
        ("021-5555 1234", "021-5555 1234"),
        ("0755-86001234 转 802", "0755-86001234 转 802"),
        ("+1 555.010.9999 ext. 12", "+1 555.010.9999 ext. 12"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits become ASCII
        ("＋８６ １３８－１２３４－５６７８", "+86 138-1234-5678"),
        ("12345", "12345"),
    ],
)
def test_chinese_phone_formats_are_accepted(raw: str, expected: str) -> None:
    assert cleaned(CUSTOMER, "mobile", raw) == expected
    assert cleaned(CONTACT, "phone", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "138abcd5678",
        "call me",
        "1234",  # too few digits
        "1-2-3",
        "1" * 21,  # too many digits
        "138 1234 5678!",
        "++8613812345678",
    ],
)
def test_bad_phones_are_refused(raw: str) -> None:
    assert codes_of(CUSTOMER, {"phone": raw}) == {"phone": "invalid_phone"}


def test_landline_with_parenthesised_area_code_is_accepted() -> None:
    assert cleaned(CUSTOMER, "phone", "(021) 5555-1234") == "(021) 5555-1234"


# --- enums and currency -----------------------------------------------------------------


def test_enums_accept_only_their_choices() -> None:
    assert cleaned(CUSTOMER, "level", "A") == "A"
    assert cleaned(FOLLOW_UP, "kind", "wechat") == "wechat"
    assert codes_of(CUSTOMER, {"level": "a"}) == {"level": "invalid_choice"}
    assert codes_of(CUSTOMER, {"status": "won"}) == {"status": "invalid_choice"}
    assert codes_of(DEAL, {"stage": "closed"}) == {"stage": "invalid_choice"}
    assert codes_of(FOLLOW_UP, {"kind": 1}) == {"kind": "invalid_choice"}


def test_currency_codes() -> None:
    assert cleaned(DEAL, "currency", "usd") == "USD"
    assert codes_of(DEAL, {"currency": "RMB¥"}) == {"currency": "invalid_currency"}
    assert codes_of(DEAL, {"currency": "US"}) == {"currency": "invalid_currency"}
    assert codes_of(DEAL, {"currency": ""}) == {"currency": "required"}


# --- money and integers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1234.5", Decimal("1234.50")),
        (" 99.99 ", Decimal("99.99")),
        (100, Decimal("100.00")),
        (0, Decimal("0.00")),
        (Decimal("12.3"), Decimal("12.30")),
        (Decimal("7.00"), Decimal("7.00")),
        ("999999999999.99", Decimal("999999999999.99")),
    ],
)
def test_money_accepts_exact_amounts_with_two_decimals(raw: Any, expected: Decimal) -> None:
    amount = cleaned(DEAL, "amount", raw)
    assert isinstance(amount, Decimal)
    assert amount == expected
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (12.5, "invalid_type"),  # floats are never money
        (0.1, "invalid_type"),
        (True, "invalid_type"),
        ("1.005", "invalid_amount"),
        (Decimal("0.001"), "invalid_amount"),
        ("twelve", "invalid_amount"),
        ("NaN", "invalid_amount"),
        ("Infinity", "invalid_amount"),
        ("-0.01", "out_of_range"),
        (-5, "out_of_range"),
        ("1000000000000.00", "out_of_range"),
    ],
)
def test_money_refusals(raw: Any, code: str) -> None:
    assert codes_of(DEAL, {"amount": raw}) == {"amount": code}


@pytest.mark.parametrize("raw", ["1e30", 10**30])
def test_huge_money_is_out_of_range_not_a_crash(raw: Any) -> None:
    assert codes_of(DEAL, {"amount": raw}) == {"amount": "out_of_range"}


def test_probability_range() -> None:
    assert cleaned(DEAL, "probability", 0) == 0
    assert cleaned(DEAL, "probability", 100) == 100
    assert codes_of(DEAL, {"probability": -1}) == {"probability": "out_of_range"}
    assert codes_of(DEAL, {"probability": 101}) == {"probability": "out_of_range"}
    assert codes_of(DEAL, {"probability": 50.0}) == {"probability": "invalid_type"}
    assert codes_of(DEAL, {"probability": True}) == {"probability": "invalid_type"}
    assert codes_of(DEAL, {"probability": "50"}) == {"probability": "invalid_type"}


# --- booleans, dates, datetimes ---------------------------------------------------------


def test_booleans_must_be_bools() -> None:
    assert cleaned(CONTACT, "is_primary", True) is True
    assert cleaned(FOLLOW_UP, "done", False) is False
    assert cleaned(FOLLOW_UP, "done", None) is False  # default
    assert codes_of(FOLLOW_UP, {"done": 1}) == {"done": "invalid_type"}
    assert codes_of(FOLLOW_UP, {"done": "yes"}) == {"done": "invalid_type"}


def test_dates() -> None:
    assert cleaned(DEAL, "expected_close", "2026-06-30") == date(2026, 6, 30)
    assert cleaned(DEAL, "expected_close", date(2026, 1, 2)) == date(2026, 1, 2)
    assert codes_of(DEAL, {"expected_close": "30/06/2026"}) == {"expected_close": "invalid_date"}
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    assert codes_of(DEAL, {"expected_close": moment}) == {"expected_close": "invalid_type"}


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 1, 9, 30)
    assert codes_of(CUSTOMER, {"next_follow_up_at": naive}) == {
        "next_follow_up_at": "invalid_datetime"
    }
    assert codes_of(CUSTOMER, {"next_follow_up_at": "2026-03-01T09:30:00"}) == {
        "next_follow_up_at": "invalid_datetime"
    }
    assert codes_of(CUSTOMER, {"next_follow_up_at": "tomorrow"}) == {
        "next_follow_up_at": "invalid_datetime"
    }
    assert codes_of(CUSTOMER, {"next_follow_up_at": 1700000000}) == {
        "next_follow_up_at": "invalid_type"
    }


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 3, 1, 4, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        "2026-03-01T17:30:00+08:00",
        "2026-03-01T09:30:00Z",
    ],
)
def test_aware_datetimes_are_converted_to_utc(moment: Any) -> None:
    out = cleaned(CUSTOMER, "next_follow_up_at", moment)
    assert out.tzinfo is UTC
    assert out == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert (out.hour, out.minute) == (9, 30)


def test_datetime_year_range() -> None:
    far = datetime(3000, 1, 1, tzinfo=UTC)
    assert codes_of(CUSTOMER, {"next_follow_up_at": far}) == {"next_follow_up_at": "out_of_range"}


# --- tags -------------------------------------------------------------------------------


def test_tags_are_stripped_deduplicated_and_ordered() -> None:
    out = cleaned(CUSTOMER, "tags", [" VIP ", "重点", "VIP", "", "  ", "重点", "华东"])
    assert out == ["VIP", "重点", "华东"]
    assert cleaned(CUSTOMER, "tags", ()) == []
    assert cleaned(CUSTOMER, "tags", None) == []


def test_tags_limits() -> None:
    many = [f"t{i}" for i in range(MAX_TAGS)]
    assert cleaned(CUSTOMER, "tags", many) == many
    # Duplicates do not count against the limit.
    assert cleaned(CUSTOMER, "tags", [*many, *many]) == many
    assert codes_of(CUSTOMER, {"tags": [*many, "one more"]}) == {"tags": "too_many"}
    assert codes_of(CUSTOMER, {"tags": ["x" * (MAX_TAG_LENGTH + 1)]}) == {"tags": "too_long"}
    assert cleaned(CUSTOMER, "tags", ["x" * MAX_TAG_LENGTH]) == ["x" * MAX_TAG_LENGTH]


def test_tags_refusals() -> None:
    assert codes_of(CUSTOMER, {"tags": "VIP,重点"}) == {"tags": "invalid_type"}
    assert codes_of(CUSTOMER, {"tags": ["ok", 3]}) == {"tags": "invalid_type"}
    assert codes_of(CUSTOMER, {"tags": ["a,b"]}) == {"tags": "invalid_characters"}
    assert codes_of(CUSTOMER, {"tags": ["a\nb"]}) == {"tags": "invalid_characters"}


# --- ids --------------------------------------------------------------------------------


def test_references_are_canonical_uuids() -> None:
    assert cleaned(DEAL, "customer_id", CUSTOMER_ID.upper()) == CUSTOMER_ID
    assert codes_of(DEAL, {"customer_id": "customer-1"}) == {"customer_id": "invalid_id"}
    assert codes_of(DEAL, {"customer_id": 7}) == {"customer_id": "invalid_type"}


def test_clean_value_raises_validation_error_for_one_field() -> None:
    spec = CUSTOMER.field("email")
    assert clean_value(spec, "A@B.CN") == "A@b.cn"
    with pytest.raises(ValidationError) as info:
        clean_value(spec, "not-an-email")
    assert info.value.codes() == {"email": "invalid_email"}


# --- parse_text: what a person typed ----------------------------------------------------


def test_parse_text_integer() -> None:
    spec = DEAL.field("probability")
    assert parse_text(spec, " 42 ") == 42
    assert parse_text(spec, "８０") == 80
    assert parse_text(spec, "") is None
    with pytest.raises(ValidationError) as info:
        parse_text(spec, "lots")
    assert info.value.codes() == {"probability": "invalid_text"}


def test_parse_text_money_with_thousands_separators() -> None:
    spec = DEAL.field("amount")
    assert parse_text(spec, "1,234,567.89") == "1234567.89"
    assert parse_text(spec, "１，２３４.５０") == "1234.50"
    assert clean_value(spec, parse_text(spec, "1,234,567.89")) == Decimal("1234567.89")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("是", True),
        ("否", False),
        ("对", True),
        ("yes", True),
        ("No", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("on", True),
        ("off", False),
    ],
)
def test_parse_text_booleans(text: str, expected: bool) -> None:
    assert parse_text(CONTACT.field("is_primary"), text) is expected


def test_parse_text_bad_boolean() -> None:
    with pytest.raises(ValidationError) as info:
        parse_text(FOLLOW_UP.field("done"), "maybe")
    assert info.value.codes() == {"done": "invalid_text"}


def test_parse_text_tags_split_on_ascii_and_full_width_commas() -> None:
    spec = CUSTOMER.field("tags")
    parsed = parse_text(spec, "VIP，重点, 华东,,  ")
    assert [t.strip() for t in parsed] == ["VIP", "重点", "华东"]
    assert clean_value(spec, parsed) == ["VIP", "重点", "华东"]
    assert clean_value(spec, parse_text(spec, "a;b；c")) == ["a", "b", "c"]


def test_parse_text_text_passes_through_stripped() -> None:
    assert parse_text(CUSTOMER.field("name"), "  张三 ") == "张三"
    assert parse_text(CUSTOMER.field("name"), "   ") is None


@pytest.mark.usefixtures("shanghai_time")
def test_parse_text_datetime_without_zone_is_local_time() -> None:
    spec = CUSTOMER.field("next_follow_up_at")
    parsed = parse_text(spec, "2026-03-01 17:30")
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(hours=8)
    assert parsed.replace(tzinfo=None) == datetime(2026, 3, 1, 17, 30)
    assert clean_value(spec, parsed) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_parse_text_datetime_with_zone_keeps_it() -> None:
    spec = CUSTOMER.field("next_follow_up_at")
    parsed = parse_text(spec, "2026-03-01T17:30:00-02:00")
    assert parsed.utcoffset() == timedelta(hours=-2)
    assert clean_value(spec, parsed) == datetime(2026, 3, 1, 19, 30, tzinfo=UTC)
    with pytest.raises(ValidationError) as info:
        parse_text(spec, "next tuesday")
    assert info.value.codes() == {"next_follow_up_at": "invalid_text"}
