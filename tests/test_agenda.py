"""The agenda (Today's sections, reminders' due items, one-click done) and the follow-up
list queries, on a real replica, in Asia/Shanghai local days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from sync import outbox
from sync.agenda import (
    COUNT_CAP,
    AgendaItem,
    DayBounds,
    FollowUpListQuery,
    count_follow_ups,
    due_between,
    follow_up_position,
    follow_up_window,
    load_agenda,
    local_day_start,
    mark_done,
)
from sync.replica import Replica

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 2026-05-06 10:00 in Shanghai (02:00 UTC).
NOW = datetime(2026, 5, 6, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)


def sh(day: int, hour: int = 9, minute: int = 0, month: int = 5) -> datetime:
    """A Shanghai wall-clock time, as the aware UTC the replica stores."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def customer(replica: Replica, name: str, **values: Any) -> str:
    return replica.customers.create({"name": name, **values}).record_id


def follow_up(
    replica: Replica, customer_id: str, due: datetime | None, *, done: bool = False, **v: Any
) -> str:
    values = {
        "customer_id": customer_id,
        "kind": "call",
        "content": "电话沟通需求",
        "happened_at": NOW - timedelta(days=3),
        "next_action": "发报价单",
        "next_action_at": due,
        "done": done,
        **v,
    }
    return replica.follow_ups.create(values).record_id


def ids(items: Any) -> list[str]:
    return [i.record_id for i in items]


def test_day_bounds_are_local_midnights() -> None:
    bounds = DayBounds.at(NOW, SHANGHAI)
    assert bounds.today_start == datetime(2026, 5, 5, 16, 0, tzinfo=UTC)
    assert bounds.tomorrow_start == datetime(2026, 5, 6, 16, 0, tzinfo=UTC)
    # The rolling week: through the end of Wednesday 13 May.
    assert bounds.week_end == sh(14, 0)
    # Just after midnight in Shanghai it is already the next day (UTC is still "yesterday").
    late = DayBounds.at(sh(7, 0, 5), SHANGHAI)
    assert late.today_start == sh(7, 0)


def test_sections_split_at_local_day_boundaries(replica: Replica) -> None:
    c = customer(replica, "张伟")
    overdue_late = follow_up(replica, c, sh(5, 23, 59))
    overdue_old = follow_up(replica, c, sh(20, 9, month=4))
    today_first = follow_up(replica, c, sh(6, 0, 0))
    today_last = follow_up(replica, c, sh(6, 23, 59))
    week_first = follow_up(replica, c, sh(7, 0, 0))
    week_last = follow_up(replica, c, sh(13, 23, 59))
    follow_up(replica, c, sh(14, 0, 0))  # the eighth day: not yet
    follow_up(replica, c, None)  # no next action date: never due
    follow_up(replica, c, sh(4), done=True)  # done: gone

    agenda = load_agenda(replica, now=NOW, tz=SHANGHAI)

    assert ids(agenda.overdue.items) == [overdue_late, overdue_old]  # most recent first
    assert ids(agenda.today.items) == [today_first, today_last]
    assert ids(agenda.upcoming.items) == [week_first, week_last]
    assert (agenda.overdue.total, agenda.today.total, agenda.upcoming.total) == (2, 2, 2)
    item = agenda.today.items[0]
    assert item == AgendaItem("follow_up", today_first, c, "张伟", "发报价单", sh(6, 0, 0))
    assert not agenda.is_empty


def test_customer_next_follow_up_is_an_item_unless_a_follow_up_says_the_same(
    replica: Replica,
) -> None:
    alone = customer(replica, "李娜", next_follow_up_at=sh(6, 15))
    twin = customer(replica, "王芳", next_follow_up_at=sh(6, 11))
    twin_follow_up = follow_up(replica, twin, sh(6, 11), next_action="安排演示")
    other = customer(replica, "刘洋", next_follow_up_at=sh(6, 16))
    follow_up(replica, other, sh(6, 16), done=True)  # a done twin does not hide the customer

    today = load_agenda(replica, now=NOW, tz=SHANGHAI).today

    assert [(i.entity, i.record_id) for i in today.items] == [
        ("follow_up", twin_follow_up),
        ("customer", alone),
        ("customer", other),
    ]
    assert today.items[1].what is None and today.items[1].customer_id == alone
    assert today.total == 3


def test_deleted_records_and_customers_are_left_out(replica: Replica) -> None:
    gone = customer(replica, "赵强", next_follow_up_at=sh(6, 12))
    follow_up(replica, gone, sh(6, 13))
    replica.customers.delete(gone, cascade=True)
    c = customer(replica, "陈静")
    deleted = follow_up(replica, c, sh(6, 14))
    replica.follow_ups.delete(deleted)
    assert load_agenda(replica, now=NOW, tz=SHANGHAI).is_empty


def test_mark_done_follow_up_moves_the_customer_date_it_set(replica: Replica) -> None:
    c = customer(replica, "杨磊", next_follow_up_at=sh(4, 9))
    first = follow_up(replica, c, sh(4, 9))
    second = follow_up(replica, c, sh(9, 9), next_action="回访")
    agenda = load_agenda(replica, now=NOW, tz=SHANGHAI)
    assert ids(agenda.overdue.items) == [first]

    changes = mark_done(replica, agenda.overdue.items[0])

    assert [(ch.entity, ch.record_id, ch.fields) for ch in changes] == [
        ("follow_up", first, ("done",)),
        ("customer", c, ("next_follow_up_at",)),
    ]
    done = replica.follow_ups.get(first)
    assert done is not None and done.values["done"] is True and done.sync_state == "pending"
    moved = replica.customers.get(c)
    assert moved is not None and moved.values["next_follow_up_at"] == sh(9, 9)
    # Each write queued for the server (creates, then the two updates).
    with replica.read() as conn:
        queued = [(m.entity, m.op) for m in outbox.list_mutations(conn)]
    assert queued[-2:] == [("follow_up", "update"), ("customer", "update")]
    agenda = load_agenda(replica, now=NOW, tz=SHANGHAI)
    assert agenda.overdue.total == 0
    assert ids(agenda.upcoming.items) == [second]  # shown once, as the follow-up


def test_mark_done_follow_up_leaves_an_unrelated_customer_date(replica: Replica) -> None:
    c = customer(replica, "黄敏", next_follow_up_at=sh(8, 10))
    f = follow_up(replica, c, sh(6, 9))
    item = load_agenda(replica, now=NOW, tz=SHANGHAI).today.items[0]
    assert mark_done(replica, item)[0].record_id == f
    kept = replica.customers.get(c)
    assert kept is not None and kept.values["next_follow_up_at"] == sh(8, 10)


def test_mark_done_customer_clears_its_date(replica: Replica) -> None:
    c = customer(replica, "周杰", next_follow_up_at=sh(6, 15))
    item = load_agenda(replica, now=NOW, tz=SHANGHAI).today.items[0]
    assert item.entity == "customer"
    changes = mark_done(replica, item)
    assert [(ch.entity, ch.fields) for ch in changes] == [("customer", ("next_follow_up_at",))]
    cleared = replica.customers.get(c)
    assert cleared is not None and cleared.values["next_follow_up_at"] is None
    assert load_agenda(replica, now=NOW, tz=SHANGHAI).is_empty


def test_due_between_is_what_came_due(replica: Replica) -> None:
    c = customer(replica, "吴霞", next_follow_up_at=sh(6, 10, 1))
    before = follow_up(replica, c, sh(6, 9, 59))
    at_start = follow_up(replica, c, sh(6, 10, 0))
    inside = follow_up(replica, c, sh(6, 10, 1))
    at_end = follow_up(replica, c, sh(6, 10, 2))
    follow_up(replica, c, sh(6, 10, 3))
    found = due_between(replica, sh(6, 10, 0), sh(6, 10, 2))
    # (after, until]: 10:00 was announced by the check before; the customer's 10:01 is the
    # same as an open follow-up's, so it comes once, as the follow-up.
    assert ids(found) == [inside, at_end]
    assert before not in ids(found) and at_start not in ids(found)


def test_sections_are_bounded_and_counts_capped(replica: Replica) -> None:
    c = customer(replica, "郑浩")
    with replica.write() as conn:
        # Many stale overdue follow-ups, written in bulk (the repository would take long).
        rows = [
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "customer_id": c,
                "kind": "call",
                "content": "x",
                "happened_at": "2025-01-01 00:00:00.000000",
                "next_action_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} 01:00:00.000000",
                "done": 0,
                "version": 1,
                "deleted": 0,
            }
            for i in range(COUNT_CAP + 50)
        ]
        conn.execute(
            text(
                "INSERT INTO follow_ups (id, customer_id, kind, content, happened_at,"
                " next_action_at, done, version, deleted) VALUES (:id, :customer_id, :kind,"
                " :content, :happened_at, :next_action_at, :done, :version, :deleted)"
            ),
            rows,
        )
    agenda = load_agenda(replica, now=NOW, tz=SHANGHAI, limit=25)
    assert len(agenda.overdue.items) == 25
    assert agenda.overdue.total == COUNT_CAP and agenda.overdue.capped
    assert agenda.overdue.items[0].due_at >= agenda.overdue.items[-1].due_at


@pytest.mark.parametrize(
    ("table", "index"),
    [
        ("follow_ups", "ix_follow_ups_next_action_at"),
        ("customers", "ix_customers_next_follow_up_at"),
    ],
)
def test_agenda_reads_walk_the_date_indexes(replica: Replica, table: str, index: str) -> None:
    from sync import agenda

    bounds = DayBounds.at(NOW, SHANGHAI)
    select_of = agenda._follow_up_select if table == "follow_ups" else agenda._customer_select
    stmt = select_of(bounds.today_start, bounds.tomorrow_start, False, 200)
    with replica.read() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": False})
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params.values())
        ).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert index in details, details
    assert "SCAN " + table not in details.replace(f"USING INDEX {index}", ""), details


# --- the follow-up list -----------------------------------------------------------------------


@pytest.fixture
def listed(replica: Replica) -> dict[str, str]:
    zhang = customer(replica, "张伟", company="华为技术有限公司")
    li = customer(replica, "李娜", company="阿里巴巴")
    made = {
        "z_call": follow_up(replica, zhang, sh(1), kind="call", happened_at=sh(1, 9)),
        "z_visit": follow_up(replica, zhang, None, kind="visit", happened_at=sh(3, 9), done=True),
        "l_call": follow_up(replica, li, sh(8), kind="call", happened_at=sh(5, 9)),
        "l_mail": follow_up(replica, li, sh(2), kind="email", happened_at=sh(6, 9)),
    }
    return {**made, "zhang": zhang, "li": li}


def window(replica: Replica, query: FollowUpListQuery) -> list[str]:
    return [row.id for row in follow_up_window(replica, query, 0, 100)]


def test_follow_up_list_sorts_and_windows(replica: Replica, listed: dict[str, str]) -> None:
    newest = FollowUpListQuery()
    assert window(replica, newest) == [listed[k] for k in ("l_mail", "l_call", "z_visit", "z_call")]
    assert count_follow_ups(replica, newest) == 4
    rows = follow_up_window(replica, newest, 1, 2)
    assert [r.id for r in rows] == [listed["l_call"], listed["z_visit"]]
    assert rows[0].customer_name == "李娜" and rows[0].record.sync_state == "pending"
    by_action = FollowUpListQuery(sort="next_action_at", descending=False)
    # Follow-ups without a next action come last.
    assert window(replica, by_action) == [
        listed[k] for k in ("z_call", "l_mail", "l_call", "z_visit")
    ]
    assert follow_up_position(replica, by_action, listed["l_call"]) == 2
    assert follow_up_position(replica, by_action, listed["z_visit"]) == 3
    assert follow_up_position(replica, FollowUpListQuery(kind="visit"), listed["l_call"]) is None


def test_follow_up_list_filters(replica: Replica, listed: dict[str, str]) -> None:
    assert window(replica, FollowUpListQuery(kind="call")) == [listed["l_call"], listed["z_call"]]
    assert window(replica, FollowUpListQuery(done=True)) == [listed["z_visit"]]
    assert len(window(replica, FollowUpListQuery(done=False))) == 3
    days = FollowUpListQuery(
        happened_from=local_day_start(sh(3).date(), SHANGHAI),
        happened_until=local_day_start(sh(6).date(), SHANGHAI),
    )
    assert window(replica, days) == [listed["l_call"], listed["z_visit"]]
    assert window(replica, FollowUpListQuery(customer_id=listed["zhang"])) == [
        listed["z_visit"],
        listed["z_call"],
    ]
    for typed in ("张伟", "zw", "zhangwei", "华为"):
        found = window(replica, FollowUpListQuery(customer_search=typed))
        assert found == [listed["z_visit"], listed["z_call"]], typed
    assert window(replica, FollowUpListQuery(customer_search="nobody")) == []
    assert count_follow_ups(replica, FollowUpListQuery(customer_search="李娜", kind="email")) == 1
