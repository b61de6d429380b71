"""The "New customer" dialog: OK validates inline and creates; Cancel writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QComboBox, QLineEdit
from pytestqt.qtbot import QtBot

from app.customer_dialog import CustomerDialog
from app.events import DataEvents
from sync import outbox
from sync.replica import Replica


@pytest.fixture
def events(qtbot: QtBot) -> DataEvents:
    return DataEvents()


@pytest.fixture
def dialog(qtbot: QtBot, replica: Replica, events: DataEvents) -> CustomerDialog:
    made = CustomerDialog(replica, events)
    qtbot.addWidget(made)
    made.show()
    return made


def fill(dialog: CustomerDialog, **texts: str) -> None:
    for name, text in texts.items():
        editor = dialog.form.editor(name)
        assert isinstance(editor, QLineEdit)
        editor.setText(text)


def queued(replica: Replica) -> list[outbox.Mutation]:
    with replica.read() as conn:
        return outbox.list_mutations(conn)


def test_shows_the_essential_fields_only(dialog: CustomerDialog) -> None:
    assert dialog.windowTitle() == "New customer"
    assert dialog.form.fields == (
        "name",
        "company",
        "level",
        "status",
        "phone",
        "mobile",
        "email",
        "city",
        "notes",
    )
    status = dialog.form.editor("status")
    assert isinstance(status, QComboBox) and status.currentData() == "lead"
    assert dialog.ok_button.text() == "Create"


def test_ok_creates_the_customer_and_announces_it(
    dialog: CustomerDialog, replica: Replica, events: DataEvents, qtbot: QtBot
) -> None:
    fill(dialog, name="张伟", company="上海华信科技", email="zw@example.cn", mobile="13800138000")
    level = dialog.form.editor("level")
    assert isinstance(level, QComboBox)
    level.setCurrentIndex(level.findData("B"))
    with qtbot.waitSignal(events.sig_records_changed) as blocker:
        dialog.ok_button.click()
    assert not dialog.isVisible()
    created = dialog.created_id
    assert created is not None
    assert blocker.args == ["customer", frozenset({created})]
    record = replica.customers.get(created)
    assert record is not None
    assert record["name"] == "张伟" and record["level"] == "B" and record["status"] == "lead"
    assert record["phone"] is None and record.sync_state == "pending"
    (mutation,) = queued(replica)
    assert mutation.op == "create" and mutation.record_id == created


def test_invalid_values_keep_the_dialog_open_and_create_nothing(
    dialog: CustomerDialog, replica: Replica, events: DataEvents
) -> None:
    announced: list[Any] = []
    events.sig_records_changed.connect(lambda *a: announced.append(a))
    dialog.ok_button.click()  # empty name
    assert dialog.isVisible()
    assert dialog.form.shown_errors() == {"name": "This field is required."}
    fill(dialog, name="张伟", email="zw@@example")
    dialog.ok_button.click()
    assert dialog.isVisible()
    assert dialog.form.shown_errors() == {
        "email": "Enter an email address such as name@example.com."
    }
    assert replica.customers.count() == 0 and queued(replica) == [] and announced == []
    assert dialog.created_id is None


def test_cancel_creates_nothing(dialog: CustomerDialog, replica: Replica) -> None:
    fill(dialog, name="张伟")
    dialog.buttons.rejected.emit()
    assert not dialog.isVisible()
    assert dialog.created_id is None
    assert replica.customers.count() == 0 and queued(replica) == []
