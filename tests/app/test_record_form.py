"""RecordForm: editors per field kind, values in and out, inline validation messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPlainTextEdit, QSpinBox
from pytestqt.qtbot import QtBot

from app.record_form import OptionalDateTimeEdit, RecordForm

CUSTOMER_ROWS = [
    ("name", "company"),
    ("level", "status"),
    ("phone", "email"),
    ("tags", "next_follow_up_at"),
    "notes",
]


@pytest.fixture
def form(qtbot: QtBot) -> RecordForm:
    widget = RecordForm("customer", CUSTOMER_ROWS)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def type_into(qtbot: QtBot, editor: QLineEdit, text: str) -> None:
    """Replace the editor's text as a user would: keys for ASCII, an IME commit or a paste
    (``insert``) for Chinese, which QTest cannot type."""
    editor.selectAll()
    editor.del_()
    if text.isascii():
        QTest.keyClicks(editor, text)
    else:
        editor.insert(text)


def test_editors_follow_the_schema(form: RecordForm) -> None:
    name = form.editor("name")
    assert isinstance(name, QLineEdit) and name.maxLength() == 200
    assert isinstance(form.editor("notes"), QPlainTextEdit)
    level = form.editor("level")
    assert isinstance(level, QComboBox)
    # Optional: an empty entry first, then the translated choices.
    assert [level.itemData(i) for i in range(level.count())] == [None, "A", "B", "C", "D"]
    status = form.editor("status")
    assert isinstance(status, QComboBox)
    assert status.itemData(0) == "lead" and status.itemText(0) == "Lead"
    assert "*" in form.label("name").text() and "*" not in form.label("company").text()
    assert isinstance(form.editor("next_follow_up_at"), OptionalDateTimeEdit)


def test_new_form_shows_defaults_and_is_clean(form: RecordForm) -> None:
    values = form.values()
    assert values["status"] == "lead"
    assert values["level"] is None
    assert values["tags"] is None
    assert values["next_follow_up_at"] is None
    assert not form.is_dirty() and form.changed_values() == {}


def test_values_round_trip_and_changed_values(form: RecordForm, qtbot: QtBot) -> None:
    loaded = {
        "name": "张伟",
        "company": "上海华信",
        "level": "B",
        "status": "active",
        "email": "zw@example.cn",
        "tags": ["VIP", "华东"],
        "notes": "关注价格",
        "next_follow_up_at": datetime(2026, 5, 1, 6, 30, 15, tzinfo=UTC),
    }
    form.set_values(loaded)
    assert form.editor("tags").text() == "VIP, 华东"  # type: ignore[attr-defined]
    # Untouched, the minute-precision date editor keeps the stored seconds: no change.
    assert form.changed_values() == {}
    with qtbot.waitSignal(form.sig_dirty_changed, check_params_cb=lambda d: d is True):
        type_into(qtbot, form.editor("company"), "上海华信科技")  # type: ignore[arg-type]
    type_into(qtbot, form.editor("tags"), "VIP，重点")  # type: ignore[arg-type]
    assert form.changed_values() == {"company": "上海华信科技", "tags": ["VIP", "重点"]}
    with qtbot.waitSignal(form.sig_dirty_changed, check_params_cb=lambda d: d is False):
        form.revert()
    assert form.editor("company").text() == "上海华信"  # type: ignore[attr-defined]


def test_invalid_email_shows_the_translated_message_and_focuses_it(
    form: RecordForm, qtbot: QtBot
) -> None:
    form.set_values({"name": "张伟", "status": "lead"})
    type_into(qtbot, form.editor("phone"), "abc")  # type: ignore[arg-type]
    type_into(qtbot, form.editor("email"), "zw@@example")  # type: ignore[arg-type]
    assert not form.validate()
    shown = form.shown_errors()
    assert shown["email"] == "Enter an email address such as name@example.com."
    assert shown["phone"].startswith("Enter a phone number")
    assert form.message_label("email").isVisible()
    # The first refused field in layout order has the focus.
    qtbot.waitUntil(lambda: form.editor("phone").hasFocus())
    # Editing the field takes its stale message away; validation passes once fixed.
    type_into(qtbot, form.editor("email"), "zw@example.cn")  # type: ignore[arg-type]
    assert "email" not in form.shown_errors()
    type_into(qtbot, form.editor("phone"), "138 0013 8000")  # type: ignore[arg-type]
    assert form.validate()
    assert form.shown_errors() == {}


def test_required_and_length_limits(form: RecordForm, qtbot: QtBot) -> None:
    form.set_values({"name": "张伟", "status": "lead"})
    name = form.editor("name")
    assert isinstance(name, QLineEdit)
    type_into(qtbot, name, "")
    assert not form.validate()
    assert form.shown_errors() == {"name": "This field is required."}
    # A line edit stops at the schema's limit: typing more is blocked.
    type_into(qtbot, name, "x" * 205)
    assert len(name.text()) == 200
    # Multi-line notes cannot block typing: validation flags them, with the number.
    notes = form.editor("notes")
    assert isinstance(notes, QPlainTextEdit)
    notes.setPlainText("长" * 20001)
    assert not form.validate()
    assert form.shown_errors() == {"notes": "At most 20000 characters are allowed."}


def test_tags_limits_are_checked(form: RecordForm, qtbot: QtBot) -> None:
    form.set_values({"name": "张伟", "status": "lead"})
    tags = form.editor("tags")
    type_into(qtbot, tags, ", ".join(f"t{i}" for i in range(21)))  # type: ignore[arg-type]
    assert not form.validate()
    assert form.shown_errors() == {"tags": "At most 20 tags are allowed."}


def test_optional_date_can_be_empty_and_shows_local_time(
    form: RecordForm, shanghai_time: None
) -> None:
    edit = form.editor("next_follow_up_at")
    assert isinstance(edit, OptionalDateTimeEdit)
    assert edit.value() is None and not edit.edit.isEnabled()
    form.set_values({"name": "n", "next_follow_up_at": datetime(2026, 5, 1, 1, 30, tzinfo=UTC)})
    # Stored in UTC, shown in local time (Shanghai: UTC+8).
    assert edit.edit.dateTime() == QDateTime(QDate(2026, 5, 1), QTime(9, 30))
    edit.edit.setDateTime(QDateTime(QDate(2026, 5, 2), QTime(10, 0)))
    assert form.changed_values() == {"next_follow_up_at": datetime(2026, 5, 2, 2, 0, tzinfo=UTC)}
    edit.check.setChecked(False)  # "no date"
    assert form.changed_values() == {"next_follow_up_at": None}
    edit.check.setChecked(True)  # switched on: a proposed date, and the focus goes there
    assert isinstance(form.values()["next_follow_up_at"], datetime)


def test_deal_editors_amount_probability_currency_and_date(qtbot: QtBot) -> None:
    form = RecordForm(
        "deal", ["title", ("amount", "currency"), ("stage", "probability"), "expected_close"]
    )
    qtbot.addWidget(form)
    form.set_values({"currency": "CNY", "stage": "initial"})
    probability = form.editor("probability")
    assert isinstance(probability, QSpinBox)
    assert form.values()["probability"] is None  # the "none" value below the range
    probability.setValue(70)
    amount = form.editor("amount")
    assert isinstance(amount, QLineEdit)
    QTest.keyClicks(amount, "12,500.505")  # the third decimal is refused as typed
    assert amount.text() == "12,500.50"
    currency = form.editor("currency")
    assert isinstance(currency, QComboBox)
    currency.setEditText("usd")
    form.editor("title").setText("服务器扩容")  # type: ignore[attr-defined]
    expected = form.editor("expected_close")
    assert isinstance(expected, OptionalDateTimeEdit)
    expected.check.setChecked(True)
    expected.edit.setDate(QDate(2026, 9, 30))
    assert form.validate()
    values = form.values()
    assert values["amount"] == "12500.50" and values["currency"] == "USD"
    assert values["probability"] == 70 and values["expected_close"] == date(2026, 9, 30)
    # Loaded amounts show with separators and compare equal to what is stored.
    form.set_values({"title": "t", "amount": Decimal("12500.50"), "currency": "CNY"})
    assert amount.text() == "12,500.50" and form.changed_values() == {}


def test_refresh_keeps_the_users_edits(form: RecordForm, qtbot: QtBot) -> None:
    form.set_values({"name": "张伟", "company": "A", "email": "a@example.cn", "status": "lead"})
    type_into(qtbot, form.editor("company"), "Mine")  # type: ignore[arg-type]
    clashes = form.refresh_values(
        {"name": "张伟伟", "company": "Theirs", "email": "a@example.cn", "status": "active"}
    )
    assert clashes == {"company"}
    values = form.values()
    assert values["company"] == "Mine"  # kept
    assert values["name"] == "张伟伟" and values["status"] == "active"  # refreshed
    assert form.changed_values() == {"company": "Mine"}
    assert form.is_dirty()


def test_read_only_form(form: RecordForm) -> None:
    form.set_read_only(True)
    assert form.editor("name").isReadOnly()  # type: ignore[attr-defined]
    assert not form.editor("level").isEnabled()
    boolean = RecordForm("contact", ["is_primary"])
    assert isinstance(boolean.editor("is_primary"), QCheckBox)
    boolean.deleteLater()


def test_label_widths_line_up(qtbot: QtBot) -> None:
    a = RecordForm("customer", [("name", "company")])
    b = RecordForm("follow_up", [("kind", "next_action_at")])
    qtbot.addWidget(a)
    qtbot.addWidget(b)
    widths = [max(x, y) for x, y in zip(a.label_widths(), b.label_widths(), strict=True)]
    a.set_label_widths(widths)
    b.set_label_widths(widths)
    for form in (a, b):
        form.resize(600, 100)
        form.show()
    first_a, first_b = a.editor("name"), b.editor("kind")
    qtbot.waitUntil(lambda: first_a.x() == first_b.x())
