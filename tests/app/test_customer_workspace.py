"""The customer workspace over a real replica: editing, logging follow-ups, children,
sync states, and changes arriving from elsewhere."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from app.customer_workspace import CustomerWorkspace
from app.events import DataEvents
from app.follow_up_timeline import RecordRole, next_follow_up_after_log
from app.record_form import OptionalDateTimeEdit
from sync import outbox
from sync.demo_data import CustomerFactory
from sync.replica import Replica
from sync.replica_models import OUTBOX_TABLE
from sync.repository import Filter
from sync.schema import new_record_id

NOW = datetime.now(UTC).replace(microsecond=0)


def server_customer(replica: Replica, **values: Any) -> str:
    """A customer as the server sent it (synced, version 1)."""
    record = {
        **CustomerFactory(3).customer_values(),
        "id": new_record_id(),
        "version": 1,
        "created_at": NOW - timedelta(days=30),
        "updated_at": NOW - timedelta(days=1),
        "updated_by": "u1",
        "deleted": False,
        "owner_id": "u1",
    }
    record.update(name="张伟", email="zw@example.cn", city="上海", next_follow_up_at=None)
    record.update(values)
    replica.store_server_records("customer", [record])
    return str(record["id"])


def mutations(replica: Replica) -> list[outbox.Mutation]:
    with replica.read() as conn:
        return outbox.list_mutations(conn)


@pytest.fixture
def events(qtbot: QtBot) -> DataEvents:
    return DataEvents()


@pytest.fixture
def open_workspace(
    qtbot: QtBot, replica: Replica, events: DataEvents
) -> Callable[[str], CustomerWorkspace]:
    def make(customer_id: str) -> CustomerWorkspace:
        workspace = CustomerWorkspace(replica, events, customer_id)
        qtbot.addWidget(workspace)
        workspace.resize(1280, 800)
        workspace.show()
        return workspace

    return make


def type_into(workspace: CustomerWorkspace, field: str, text: str) -> None:
    editor = workspace.form.editor(field)
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    editor.insert(text)  # like a paste or an IME commit: emits textEdited


def test_opens_with_the_customers_values(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica, company="上海华信科技", level="A", status="active")
    ws = open_workspace(cid)
    assert ws.customer_id == cid
    assert ws.name_label.text() == "张伟"
    assert "上海华信科技" in ws.subtitle_label.text()
    assert ws.level_chip.text() == "Level A" and ws.status_chip.text() == "Active"
    assert ws.sync_badge.text() == "Synced"
    assert ws.form.values()["email"] == "zw@example.cn"
    assert not ws.save_button.isEnabled() and not ws.revert_button.isEnabled()
    assert not ws.has_unsaved_changes()


def test_invalid_email_shows_the_message_and_saves_nothing(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    before = replica.customers.get(cid)
    type_into(ws, "email", "zw@@example")
    assert ws.save_button.isEnabled()
    announced: list[Any] = []
    events.sig_records_changed.connect(lambda *args: announced.append(args))
    ws.save_button.click()
    message = ws.form.message_label("email")
    assert message.isVisible()
    assert message.text() == "Enter an email address such as name@example.com."
    assert replica.customers.get(cid) == before
    assert mutations(replica) == []
    assert announced == []
    assert ws.has_unsaved_changes()


def test_empty_name_and_overlong_values(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace], qtbot: QtBot
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    type_into(ws, "name", "   ")
    assert not ws.save()
    assert ws.form.shown_errors() == {"name": "This field is required."}
    name = ws.form.editor("name")
    assert isinstance(name, QLineEdit)
    type_into(ws, "name", "名" * 250)
    assert len(name.text()) == 200  # the schema's limit stops the typing
    notes = ws.form.editor("notes")
    assert isinstance(notes, QPlainTextEdit)
    notes.setPlainText("x" * 20001)
    assert not ws.save()
    assert ws.form.shown_errors() == {"notes": "At most 20000 characters are allowed."}
    assert mutations(replica) == []


def test_valid_edit_is_saved_queued_and_announced(
    replica: Replica,
    events: DataEvents,
    open_workspace: Callable[[str], CustomerWorkspace],
    qtbot: QtBot,
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    titles: list[str] = []
    ws.sig_title_changed.connect(titles.append)
    type_into(ws, "city", "杭州")
    type_into(ws, "email", "ZW@Example.CN")
    assert titles[-1] == "张伟 *"
    ws.activateWindow()
    qtbot.waitUntil(ws.isActiveWindow)
    city = ws.form.editor("city")
    city.setFocus()
    with qtbot.waitSignal(
        events.sig_records_changed, check_params_cb=lambda e, ids: e == "customer" and cid in ids
    ):
        QTest.keyClick(city, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Save
    record = replica.customers.get(cid)
    assert record is not None
    assert record["city"] == "杭州" and record["email"] == "ZW@example.cn"
    assert record.sync_state == "pending"
    (mutation,) = mutations(replica)
    assert mutation.op == "update" and set(mutation.fields) == {"city", "email"}
    assert mutation.fields["city"].base == "上海"
    assert ws.sync_badge.text() == "Pending"
    assert ws.form.values()["email"] == "ZW@example.cn"  # the stored (normalised) value
    assert not ws.save_button.isEnabled() and not ws.has_unsaved_changes()
    assert titles[-1] == "张伟"


def test_revert_throws_the_edits_away(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    type_into(ws, "city", "杭州")
    ws.revert_button.click()
    assert ws.form.values()["city"] == "上海"
    assert not ws.has_unsaved_changes() and mutations(replica) == []


def log(ws: CustomerWorkspace, content: str, *, next_at: datetime | None = None) -> None:
    form = ws.log_box.form
    content_edit = form.editor("content")
    assert isinstance(content_edit, QPlainTextEdit)
    content_edit.setPlainText(content)
    next_edit = form.editor("next_action_at")
    assert isinstance(next_edit, OptionalDateTimeEdit)
    if next_at is not None:
        next_edit.check.setChecked(True)
        next_edit.set_value(next_at)
        form.editor("next_action").setText("发报价单")  # type: ignore[attr-defined]
    ws.log_box.log_button.click()


def test_logging_a_follow_up_appears_at_the_top_of_the_timeline_at_once(
    replica: Replica,
    events: DataEvents,
    open_workspace: Callable[[str], CustomerWorkspace],
) -> None:
    cid = server_customer(replica)
    for days in (1, 5):
        replica.follow_ups.create(
            {
                "customer_id": cid,
                "kind": "visit",
                "content": f"{days} days ago",
                "happened_at": NOW - timedelta(days=days),
            }
        )
    ws = open_workspace(cid)
    assert ws.timeline_model.rowCount() == 2
    announced: list[tuple[str, Any]] = []
    events.sig_records_changed.connect(lambda e, ids: announced.append((e, ids)))
    kind = ws.log_box.form.editor("kind")
    assert kind.currentData() == "call"  # type: ignore[attr-defined]
    log(ws, "电话沟通需求，客户关注交付周期。")
    # At once: no waiting, no event loop turn.
    assert ws.timeline_model.rowCount() == 3
    top = ws.timeline_model.index(0).data(RecordRole)
    assert top["content"] == "电话沟通需求，客户关注交付周期。" and top["kind"] == "call"
    assert top.sync_state == "pending"
    assert abs(top["happened_at"] - datetime.now(UTC)) < timedelta(minutes=1)
    stored = replica.follow_ups.query(filters=[Filter("customer_id", "eq", cid)], limit=10)
    assert stored[0].id == top.id
    assert announced == [("follow_up", frozenset({top.id}))]
    # The box is cleared for the next one; no date given, the customer is untouched.
    assert not ws.log_box.has_text()
    assert replica.customers.get(cid)["next_follow_up_at"] is None  # type: ignore[index]
    assert ws.tabs.tabText(0) == "Follow-ups (3)"


def test_logging_with_empty_content_shows_the_message(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    log(ws, "   ")
    assert ws.log_box.form.shown_errors() == {"content": "This field is required."}
    assert replica.follow_ups.count() == 0


def test_next_action_date_moves_the_customers_next_follow_up(
    replica: Replica,
    events: DataEvents,
    open_workspace: Callable[[str], CustomerWorkspace],
) -> None:
    in_3_days = (NOW + timedelta(days=3)).replace(second=0)
    cid = server_customer(replica)
    ws = open_workspace(cid)
    announced: list[str] = []
    events.sig_records_changed.connect(lambda e, ids: announced.append(e))
    log(ws, "first", next_at=in_3_days)  # none set: takes it
    assert replica.customers.get(cid)["next_follow_up_at"] == in_3_days  # type: ignore[index]
    assert announced == ["follow_up", "customer"]
    edit = ws.form.editor("next_follow_up_at")
    assert isinstance(edit, OptionalDateTimeEdit) and edit.value() == in_3_days
    log(ws, "later", next_at=in_3_days + timedelta(days=2))  # later: stays
    assert replica.customers.get(cid)["next_follow_up_at"] == in_3_days  # type: ignore[index]
    log(ws, "earlier", next_at=in_3_days - timedelta(days=1))  # earlier: moves
    assert replica.customers.get(cid)["next_follow_up_at"] == in_3_days - timedelta(days=1)  # type: ignore[index]
    assert not ws.has_unsaved_changes()


def test_next_follow_up_rule() -> None:
    now = NOW
    soon, later = now + timedelta(days=1), now + timedelta(days=5)
    assert next_follow_up_after_log(None, soon, now) == soon
    assert next_follow_up_after_log(later, soon, now) == soon
    assert next_follow_up_after_log(soon, later, now) is None
    # The date set is past (this is that follow-up): the new date replaces it.
    assert next_follow_up_after_log(now - timedelta(days=2), later, now) == later
    assert next_follow_up_after_log(soon, None, now) is None


def test_contacts_added_and_edited_through_the_dialog(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace], qtbot: QtBot
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    assert ws.tabs.tabText(1) == "Contacts (0)"
    dialog = ws.add_contact()
    assert dialog.isVisible()
    dialog.form.editor("name").setText("王芳")  # type: ignore[attr-defined]
    dialog.form.editor("mobile").setText("138 0013 8000")  # type: ignore[attr-defined]
    dialog.form.editor("is_primary").setChecked(True)  # type: ignore[attr-defined]
    dialog.ok_button.click()
    assert not dialog.isVisible()
    assert ws.contacts_model.rowCount() == 1
    assert ws.contacts_model.index(0, 0).data() == "王芳"
    assert ws.tabs.tabText(1) == "Contacts (1)"
    first = ws.contacts_model.record(0)
    # A second primary contact takes the mark from the first.
    second = ws.add_contact()
    second.form.editor("name").setText("李强")  # type: ignore[attr-defined]
    second.form.editor("is_primary").setChecked(True)  # type: ignore[attr-defined]
    second.ok_button.click()
    assert replica.contacts.get(first.id)["is_primary"] is False  # type: ignore[index]
    # Edit: an invalid email keeps the dialog open and writes nothing.
    edit = ws.edit_contact(first.id)
    edit.form.editor("email").setText("not-an-email")  # type: ignore[attr-defined]
    count = len(mutations(replica))
    edit.ok_button.click()
    assert edit.isVisible() and "email" in edit.form.shown_errors()
    assert len(mutations(replica)) == count
    edit.form.editor("email").setText("wf@example.cn")  # type: ignore[attr-defined]
    edit.ok_button.click()
    assert not edit.isVisible()
    assert replica.contacts.get(first.id)["email"] == "wf@example.cn"  # type: ignore[index]
    row = next(r for r in range(2) if ws.contacts_model.record(r).id == first.id)
    assert ws.contacts_model.index(row, 4).data() == "wf@example.cn"


def test_deals_added_through_the_dialog(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    dialog = ws.add_deal()
    dialog.form.editor("title").setText("服务器扩容")  # type: ignore[attr-defined]
    dialog.form.editor("amount").setText("12,500.50")  # type: ignore[attr-defined]
    dialog.form.editor("probability").setValue(60)  # type: ignore[attr-defined]
    dialog.ok_button.click()
    assert not dialog.isVisible()
    (deal,) = replica.deals.query(filters=[Filter("customer_id", "eq", cid)])
    assert str(deal["amount"]) == "12500.50" and deal["currency"] == "CNY"
    assert ws.deals_model.rowCount() == 1
    texts = [ws.deals_model.index(0, c).data() for c in range(6)]
    assert texts == ["服务器扩容", "12,500.50 CNY", "Initial", "60 %", "", "Pending"]
    assert ws.tabs.tabText(2) == "Deals (1)"


def test_a_change_from_elsewhere_keeps_the_users_edits(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica, company="Old company")
    ws = open_workspace(cid)
    type_into(ws, "company", "My company")
    # Elsewhere (the sync, another window) changes the city and the company.
    replica.customers.update(cid, {"city": "北京", "company": "Their company"})
    events.announce("customer", {cid})
    values = ws.form.values()
    assert values["city"] == "北京"  # not edited here: refreshed
    assert values["company"] == "My company"  # edited here: kept
    assert ws.notice_bar.isVisible()
    assert "saving replaces" in ws.notice_bar.text.text()
    assert ws.has_unsaved_changes()
    assert ws.save()
    record = replica.customers.get(cid)
    assert record is not None
    assert record["company"] == "My company" and record["city"] == "北京"


def test_a_change_of_an_untouched_field_refreshes_quietly(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    replica.customers.update(cid, {"city": "北京"})
    events.announce("customer", None)
    assert ws.form.values()["city"] == "北京"
    assert not ws.notice_bar.isVisible() and not ws.has_unsaved_changes()
    assert ws.sync_badge.text() == "Pending"


def test_a_refused_edit_shows_the_servers_reason(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    change = replica.customers.update(cid, {"city": "苏州"})
    # As sync.engine.apply_push_result stores a rejection.
    with replica.write() as conn:
        conn.execute(
            update(OUTBOX_TABLE)
            .where(OUTBOX_TABLE.c.mutation_id == change.mutation_id)
            .values(
                status="failed",
                attempts=OUTBOX_TABLE.c.attempts + 1,
                last_error="forbidden: you may not change this customer",
            )
        )
    events.announce("customer", {cid})
    assert ws.sync_badge.text() == "Failed"
    assert "you may not change this customer" in ws.sync_badge.toolTip()
    assert ws.status_bar.isVisible()
    assert "You are not allowed to make this change." in ws.status_bar.text.text()


def test_child_sync_states_and_reasons(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    change = replica.contacts.create({"customer_id": cid, "name": "王芳"})
    with replica.write() as conn:
        conn.execute(
            update(OUTBOX_TABLE)
            .where(OUTBOX_TABLE.c.mutation_id == change.mutation_id)
            .values(status="failed", last_error="parent_deleted: customer was deleted")
        )
    ws = open_workspace(cid)
    sync = ws.contacts_model.index(0, 7)
    assert sync.data() == "Failed"
    assert "Its customer was deleted on the server." in sync.data(Qt.ItemDataRole.ToolTipRole)


def test_a_deleted_customer_cannot_be_edited(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    titles: list[str] = []
    ws.sig_title_changed.connect(titles.append)
    replica.customers.delete(cid)
    events.announce("customer", {cid})
    assert ws.is_deleted
    assert ws.status_bar.isVisible() and "deleted" in ws.status_bar.text.text()
    assert titles[-1] == "张伟 (deleted)"
    assert ws.form.editor("name").isReadOnly()  # type: ignore[attr-defined]
    assert not ws.log_box.isEnabled() and not ws.contacts.add_button.isEnabled()
    assert not ws.save()


def test_a_customer_gone_from_the_replica(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    ws = open_workspace(new_record_id())
    assert ws.is_deleted and "no longer shared" in ws.status_bar.text.text()


def test_children_changed_elsewhere_reload_only_when_they_are_this_customers(
    replica: Replica, events: DataEvents, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    other = server_customer(replica, name="李强")
    ws = open_workspace(cid)
    theirs = replica.deals.create({"customer_id": other, "title": "别人的"})
    events.announce("deal", {theirs.record_id})
    assert ws.deals_model.rowCount() == 0
    mine = replica.deals.create({"customer_id": cid, "title": "我的"})
    events.announce("deal", {mine.record_id})
    assert ws.deals_model.rowCount() == 1
    fu = replica.follow_ups.create(
        {"customer_id": cid, "kind": "email", "content": "sync brought it", "happened_at": NOW}
    )
    events.announce("follow_up", {fu.record_id})
    assert ws.timeline_model.rowCount() == 1


def test_many_follow_ups_load_a_page_at_a_time(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    rows = [
        {
            "id": new_record_id(),
            "customer_id": cid,
            "contact_id": None,
            "kind": "call",
            "content": f"follow-up {i}",
            "happened_at": NOW - timedelta(hours=i),
            "next_action": None,
            "next_action_at": None,
            "done": False,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
            "updated_by": "u1",
            "deleted": False,
            "owner_id": "u1",
        }
        for i in range(500)
    ]
    replica.store_server_records("follow_up", rows)
    started = time.perf_counter()
    ws = open_workspace(cid)
    assert time.perf_counter() - started < 2.0
    model = ws.timeline_model
    assert model.total == 500
    assert 100 <= model.rowCount() < 500  # a page (the view may have asked for one more)
    assert model.index(0).data(RecordRole)["content"] == "follow-up 0"  # newest first
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == 500
    assert model.index(499).data(RecordRole)["content"] == "follow-up 499"
    assert ws.tabs.tabText(0) == "Follow-ups (500)"


def test_save_also_logs_a_follow_up_left_in_the_box(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace]
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    content = ws.log_box.form.editor("content")
    assert isinstance(content, QPlainTextEdit)
    content.setPlainText("typed, not logged yet")
    assert ws.has_unsaved_changes()
    assert ws.save()
    assert replica.follow_ups.count() == 1 and not ws.has_unsaved_changes()


def test_ctrl_enter_logs_from_the_box(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace], qtbot: QtBot
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    ws.activateWindow()
    qtbot.waitUntil(ws.isActiveWindow)
    content = ws.log_box.form.editor("content")
    assert isinstance(content, QPlainTextEdit)
    content.setFocus()
    content.setPlainText("微信发送了产品资料和报价。")
    QTest.keyClick(content, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert replica.follow_ups.count() == 1
    assert ws.timeline_model.index(0).data() == "微信发送了产品资料和报价。"
    assert content.toPlainText() == "" and content.hasFocus()
    # The timeline paints its entries (kind badge, time, text, state) without trouble.
    assert not ws.timeline.view.grab().isNull()


def test_a_conflict_offers_to_resolve_it(
    replica: Replica, open_workspace: Callable[[str], CustomerWorkspace], qtbot: QtBot
) -> None:
    cid = server_customer(replica)
    ws = open_workspace(cid)
    record = replica.customers.get(cid)
    assert record is not None
    # The repository reports "conflict" for a record with an open conflict.
    ws._update_sync_state(dataclasses.replace(record, sync_state="conflict"))
    assert ws.sync_badge.text() == "Conflict"
    assert ws.status_bar.isVisible() and ws.status_bar.action.isVisible()
    with qtbot.waitSignal(ws.sig_resolve_conflict_requested) as blocker:
        ws.status_bar.action.click()
    assert blocker.args == ["customer", cid]
