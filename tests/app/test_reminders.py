"""Reminders with an injected clock: what came due is announced once; what was already
overdue at start is not; the tray message (when a tray exists) is built from the items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytestqt.qtbot import QtBot

from app.events import DataEvents
from app.reminders import Reminders
from sync.replica import Replica

T0 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def add(replica: Replica, name: str, due: datetime, action: str | None = "回电话") -> str:
    customer = replica.customers.create({"name": name}).record_id
    return replica.follow_ups.create(
        {
            "customer_id": customer,
            "kind": "call",
            "content": "沟通需求",
            "happened_at": T0 - timedelta(days=1),
            "next_action": action,
            "next_action_at": due,
        }
    ).record_id


def test_items_that_come_due_are_announced_once(qtbot: QtBot, replica: Replica) -> None:
    add(replica, "已逾期", T0 - timedelta(hours=3))  # overdue before the app started
    soon = add(replica, "张伟", T0 + timedelta(minutes=1, seconds=30))
    later = add(replica, "李娜", T0 + timedelta(minutes=5), action=None)
    clock = Clock(T0)
    reminders = Reminders(replica, DataEvents(), clock=clock, use_tray=False)
    assert reminders.tray is None
    assert reminders.check() == []

    clock.now = T0 + timedelta(minutes=2)
    with qtbot.waitSignal(reminders.sig_due) as due:
        reminders.check()
    assert [i.record_id for i in due.args[0]] == [soon]
    title, text = reminders.message(due.args[0])
    assert title == "Follow-up due"
    assert "张伟: 回电话" in text

    clock.now = T0 + timedelta(minutes=3)
    assert reminders.check() == []  # nothing new; soon is not repeated

    clock.now = T0 + timedelta(minutes=10)
    found = reminders.check()
    assert [i.record_id for i in found] == [later]
    assert "李娜: Follow up" in reminders.message(found)[1]


def test_a_date_moved_later_reminds_again_and_done_items_do_not(
    qtbot: QtBot, replica: Replica
) -> None:
    clock = Clock(T0)
    events = DataEvents()
    reminders = Reminders(replica, events, clock=clock, use_tray=False)
    first = add(replica, "王芳", T0 + timedelta(minutes=1))
    clock.now = T0 + timedelta(minutes=1)
    assert [i.record_id for i in reminders.check()] == [first]
    replica.follow_ups.update(first, {"next_action_at": T0 + timedelta(minutes=4)})
    done = add(replica, "刘洋", T0 + timedelta(minutes=3))
    replica.follow_ups.update(done, {"done": True})
    clock.now = T0 + timedelta(minutes=5)
    # An announcement triggers the look (after a short pause), not only the minute timer.
    with qtbot.waitSignal(reminders.sig_due, timeout=3000) as due:
        events.announce("follow_up", {first})
    assert [i.record_id for i in due.args[0]] == [first]


def test_many_items_make_one_message(replica: Replica) -> None:
    clock = Clock(T0)
    reminders = Reminders(replica, DataEvents(), clock=clock, use_tray=False)
    for n in range(5):
        add(replica, f"客户{n}", T0 + timedelta(seconds=10 + n))
    clock.now = T0 + timedelta(minutes=1)
    items = reminders.check()
    title, text = reminders.message(items)
    assert title == "5 follow-ups due"
    assert text.splitlines()[-1] == "and 2 more"
    assert len(text.splitlines()) == 4


def test_tray_message_click_asks_for_today(qtbot: QtBot, replica: Replica) -> None:
    reminders = Reminders(replica, DataEvents(), clock=Clock(T0))
    if reminders.tray is None:  # offscreen: no tray; the signal is the fallback
        assert reminders.check() == []
        return
    with qtbot.waitSignal(reminders.sig_show_today):
        reminders.tray.messageClicked.emit()
    reminders.stop()
