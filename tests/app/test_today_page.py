"""The Today page: sections from the replica, one-click done, "Log follow-up…", refreshes;
and end to end against the real server: an overdue follow-up created offline is shown,
marked done on Today, and the server gets done=true at the next sync."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QLocale, Qt, QTime
from pytestqt.qtbot import QtBot

from app.events import DataEvents
from app.today_page import LogFollowUpDialog, TodayPage
from sync.account import sign_in
from sync.engine import SyncEngine
from sync.replica import Replica
from sync.transport import OfflineError, ServerClient
from tests.helpers.fixed_port_server import FixedPortServer, running_server
from tests.helpers.sync_devices import server_record
from tests.server.conftest import PASSWORD

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 5, 6, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)


def sh(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def add_follow_up(replica: Replica, customer_id: str, due: datetime, **values: Any) -> str:
    return replica.follow_ups.create(
        {
            "customer_id": customer_id,
            "kind": "call",
            "content": "电话沟通报价",
            "happened_at": due - timedelta(days=2),
            "next_action": "发报价单",
            "next_action_at": due,
            **values,
        }
    ).record_id


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def events() -> DataEvents:
    return DataEvents()


def make_page(qtbot: QtBot, replica: Replica, events: DataEvents, clock: Clock) -> TodayPage:
    page = TodayPage(replica, events, "s1", clock=clock, tz=SHANGHAI)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    return page


def section_names(page: TodayPage) -> dict[str, list[str]]:
    return {
        name: [row.customer_button.text() for row in view.rows]
        for name, view in (
            ("overdue", page.overdue),
            ("today", page.today),
            ("week", page.upcoming),
        )
    }


def test_sections_counts_and_empty_state(
    qtbot: QtBot, replica: Replica, events: DataEvents
) -> None:
    clock = Clock(NOW)
    page = make_page(qtbot, replica, events, clock)
    assert page.empty.isVisible() and page.empty.text() == "Nothing due today."
    assert not page.overdue.isVisible() and not page.today.isVisible()

    zhang = replica.customers.create({"name": "张伟"}).record_id
    li = replica.customers.create({"name": "李娜", "next_follow_up_at": sh(6, 15)}).record_id
    add_follow_up(replica, zhang, sh(4, 9))
    add_follow_up(replica, zhang, sh(9, 14), next_action="安排演示")
    events.announce("follow_up", None, from_sync=True)  # as a sync would
    qtbot.waitUntil(lambda: page.overdue.isVisible())

    assert section_names(page) == {"overdue": ["张伟"], "today": ["李娜"], "week": ["张伟"]}
    assert page.overdue.heading.text() == "Overdue  (1)"
    assert page.today.heading.text() == "Today  (1)"
    assert page.upcoming.heading.text() == "This week  (1)"
    assert page.summary.text() == "1 overdue · 1 today · 1 in the next 7 days"
    assert not page.empty.isVisible()
    today_row = page.today.rows[0]
    assert today_row.time_label.text() == QLocale().toString(
        QTime(15, 0), QLocale.FormatType.ShortFormat
    )
    assert today_row.what_label.text() == "Follow up"
    assert page.upcoming.rows[0].what_label.text() == "安排演示"

    # The customer's name opens it.
    with qtbot.waitSignal(page.sig_open_customer) as opened:
        qtbot.mouseClick(today_row.customer_button, Qt.MouseButton.LeftButton)
    assert opened.args == [li]


def test_the_clock_moves_items_into_overdue(
    qtbot: QtBot, replica: Replica, events: DataEvents
) -> None:
    clock = Clock(NOW)
    c = replica.customers.create({"name": "王芳"}).record_id
    add_follow_up(replica, c, sh(6, 18))
    page = make_page(qtbot, replica, events, clock)
    assert section_names(page)["today"] == ["王芳"]
    clock.now = sh(7, 0, 1)  # just past midnight: yesterday's item is overdue now
    page.refresh()  # what the minute timer does
    assert section_names(page) == {"overdue": ["王芳"], "today": [], "week": []}


def test_done_writes_announces_and_the_row_leaves(
    qtbot: QtBot, replica: Replica, events: DataEvents
) -> None:
    c = replica.customers.create({"name": "刘洋", "next_follow_up_at": sh(5, 9)}).record_id
    f = add_follow_up(replica, c, sh(5, 9))
    page = make_page(qtbot, replica, events, Clock(NOW))
    assert len(page.rows()) == 1  # the customer's date is the follow-up's: shown once
    announced: list[tuple[str, Any]] = []
    events.sig_records_changed.connect(lambda e, ids: announced.append((e, ids)))
    edits: list[str] = []
    events.sig_local_edit.connect(edits.append)

    qtbot.mouseClick(page.rows()[0].done_button, Qt.MouseButton.LeftButton)

    assert page.rows() == []
    assert page.empty.isVisible()
    done = replica.follow_ups.get(f)
    assert done is not None and done.values["done"] is True
    customer = replica.customers.get(c)
    assert customer is not None and customer.values["next_follow_up_at"] is None
    assert announced == [("follow_up", frozenset({f})), ("customer", frozenset({c}))]
    assert edits == ["follow_up", "customer"]  # the app schedules a sync


def test_log_follow_up_logs_and_marks_done(
    qtbot: QtBot, replica: Replica, events: DataEvents
) -> None:
    c = replica.customers.create({"name": "陈静"}).record_id
    f = add_follow_up(replica, c, sh(6, 9))
    page = make_page(qtbot, replica, events, Clock(NOW))
    row = page.rows()[0]
    qtbot.mouseClick(row.log_button, Qt.MouseButton.LeftButton)
    dialog = page.findChild(LogFollowUpDialog)
    assert dialog is not None and dialog.isVisible()
    assert "陈静" in dialog.windowTitle()

    dialog.box.form.set_values(
        {"kind": "visit", "content": "上门拜访，已发报价单", "next_action": "跟进合同",
         "next_action_at": sh(8, 10)}
    )  # fmt: skip
    announced: list[str] = []
    events.sig_records_changed.connect(lambda e, ids: announced.append(e))
    qtbot.mouseClick(dialog.box.log_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: not dialog.isVisible())
    done = replica.follow_ups.get(f)
    assert done is not None and done.values["done"] is True
    logged = [
        r for r in replica.follow_ups.query() if r.values["content"] == "上门拜访，已发报价单"
    ]
    assert len(logged) == 1 and logged[0].values["happened_at"] == NOW
    assert set(announced) >= {"follow_up", "customer"}
    # The new next action is this week's item; today's is gone.
    assert section_names(page) == {"overdue": [], "today": [], "week": ["陈静"]}
    assert page.upcoming.rows[0].what_label.text() == "跟进合同"


def test_log_dialog_refuses_empty_content(
    qtbot: QtBot, replica: Replica, events: DataEvents
) -> None:
    c = replica.customers.create({"name": "杨磊"}).record_id
    f = add_follow_up(replica, c, sh(6, 9))
    page = make_page(qtbot, replica, events, Clock(NOW))
    dialog = page.log_for_item(page.rows()[0].item)
    qtbot.mouseClick(dialog.box.log_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "content" in dialog.box.form.shown_errors()
    record = replica.follow_ups.get(f)
    assert record is not None and record.values["done"] is False
    dialog.reject()


# --- end to end -------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FixedPortServer]:
    with running_server(tmp_path) as srv:
        yield srv


def test_overdue_follow_up_created_offline_is_done_on_today_and_syncs(
    qtbot: QtBot, replica: Replica, events: DataEvents, server: FixedPortServer
) -> None:
    signed = sign_in(replica, server.url, "s1", PASSWORD, device="pytest-today", remember=False)
    server.stop()  # the outage
    now = datetime.now(UTC)
    customer = replica.customers.create({"name": "离线客户", "city": "杭州"}).record_id
    follow_up = add_follow_up(replica, customer, now - timedelta(days=2))
    with (
        ServerClient(signed.profile.config(), signed.token) as client,
        pytest.raises(OfflineError),
    ):
        SyncEngine(replica, client).sync_once()

    page = TodayPage(replica, events, "s1")  # the real clock and time zone
    qtbot.addWidget(page)
    page.show()
    assert [row.item.record_id for row in page.overdue.rows] == [follow_up]
    assert page.overdue.rows[0].time_label.styleSheet()  # red
    qtbot.mouseClick(page.overdue.rows[0].done_button, Qt.MouseButton.LeftButton)
    assert page.rows() == []

    server.start()
    with ServerClient(signed.profile.config(), signed.token) as client:
        SyncEngine(replica, client).sync_once()
    on_server = server_record(server.engine, "follow_up", follow_up)
    assert on_server is not None and on_server["done"] is True
    assert on_server["customer_id"] == customer
    synced = replica.follow_ups.get(follow_up)
    assert synced is not None and synced.sync_state == "synced"
