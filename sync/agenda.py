"""What is due: the Today page's agenda and the follow-up list, read from the replica.

Everything here reads the local replica only, so Today works during an outage. Queries are
bounded (``LIMIT``) and walk indexed columns (``follow_ups.next_action_at``,
``customers.next_follow_up_at``, ``follow_ups.happened_at``), so they stay fast at 100,000
customers and 500,000 follow-ups.

The rules (:func:`load_agenda`):

* **Sources.** A follow-up is due at its ``next_action_at`` while it is not ``done``; a
  customer is due at its ``next_follow_up_at``. Deleted records, and follow-ups of a
  deleted customer, are left out.
* **Days** are the user's local days (``tz``; the process's zone by default). *Overdue*:
  due before today's midnight. *Today*: due between today's midnight and tomorrow's.
  *This week*: due from tomorrow's midnight until the end of the seventh day after today
  (a rolling week: on a Friday it still shows next Thursday), not the calendar week,
  which on a Sunday would show nothing ahead.
* **No duplicates.** Logging a follow-up with a next action moves the customer's next
  follow-up to the same moment (``app.follow_up_timeline.next_follow_up_after_log``). So
  a customer whose ``next_follow_up_at`` equals the ``next_action_at`` of one of its own
  open follow-ups is shown once, as that follow-up (which says what to do).
* **Order.** Today and this week: earliest first. Overdue: the most recently due first —
  when hundreds are overdue the list keeps the fresh ones; counts say how many there are.

:func:`mark_done` is the one-click "done" (rules in its docstring); its writes are normal
repository updates, each with its outbox row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    column,
    exists,
    func,
    literal,
    null,
    select,
    text,
)

from sync import search
from sync.replica_models import TABLE_BY_ENTITY
from sync.repository import Change, Filter, Record

if TYPE_CHECKING:
    from sync.replica import Replica

_customers = TABLE_BY_ENTITY["customer"]
_follow_ups = TABLE_BY_ENTITY["follow_up"]

SECTION_LIMIT = 200  # items read per section: more do not fit a page anyone reads
COUNT_CAP = 1000  # counts stop here ("1000+"): counting 300,000 stale items costs too much
WEEK_DAYS = 7

ItemEntity = Literal["follow_up", "customer"]


@dataclass(frozen=True, slots=True)
class AgendaItem:
    """One thing to do: a follow-up's next action or a customer's next follow-up."""

    entity: ItemEntity  # the record that holds the date
    record_id: str
    customer_id: str
    customer_name: str
    # The follow-up's next action; None for a customer's next follow-up or a follow-up
    # without an action text (the app then says "Follow up").
    what: str | None
    due_at: datetime  # aware UTC

    @property
    def key(self) -> tuple[str, str, datetime]:
        """Identifies the item *and* its date: a date moved later is a new reminder."""
        return (self.entity, self.record_id, self.due_at)


@dataclass(frozen=True, slots=True)
class DayBounds:
    """The instants (aware UTC) that cut the agenda into sections."""

    today_start: datetime
    tomorrow_start: datetime
    week_end: datetime  # end of the 7th day after today

    @classmethod
    def at(cls, now: datetime, tz: tzinfo | None = None) -> DayBounds:
        """The bounds around ``now`` (aware) in the zone ``tz`` (None: the process's)."""
        local_day = now.astimezone(tz).date()
        return cls(
            _local_midnight(local_day, tz),
            _local_midnight(local_day + timedelta(days=1), tz),
            _local_midnight(local_day + timedelta(days=WEEK_DAYS + 1), tz),
        )


@dataclass(frozen=True, slots=True)
class Section:
    """The items of one section (at most the limit) and how many there are (capped)."""

    items: tuple[AgendaItem, ...]
    total: int  # COUNT_CAP means "at least that many"

    @property
    def capped(self) -> bool:
        return self.total >= COUNT_CAP


@dataclass(frozen=True, slots=True)
class Agenda:
    bounds: DayBounds
    overdue: Section
    today: Section
    upcoming: Section  # the next seven days after today

    @property
    def is_empty(self) -> bool:
        return not (self.overdue.total or self.today.total or self.upcoming.total)


# --- reading --------------------------------------------------------------------------------


def load_agenda(
    replica: Replica,
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    limit: int = SECTION_LIMIT,
) -> Agenda:
    """The agenda around ``now`` (default: the current time) in local days of ``tz``.

    Per section: two index range reads for the items and two capped counts (a few ms at
    500,000 follow-ups).
    """
    bounds = DayBounds.at(now or datetime.now(UTC), tz)
    with replica.read() as conn:

        def section(start: datetime | None, end: datetime, newest_first: bool) -> Section:
            items = _merge(
                [
                    *_rows(conn, _follow_up_select(start, end, newest_first, limit)),
                    *_rows(conn, _customer_select(start, end, newest_first, limit)),
                ],
                newest_first,
                limit,
            )
            total = sum(
                _capped_count(conn, stmt)
                for stmt in (
                    _follow_up_select(start, end, newest_first, COUNT_CAP),
                    _customer_select(start, end, newest_first, COUNT_CAP),
                )
            )
            return Section(tuple(items), min(total, COUNT_CAP))

        return Agenda(
            bounds,
            overdue=section(None, bounds.today_start, True),
            today=section(bounds.today_start, bounds.tomorrow_start, False),
            upcoming=section(bounds.tomorrow_start, bounds.week_end, False),
        )


def due_between(
    replica: Replica, after: datetime, until: datetime, *, limit: int = SECTION_LIMIT
) -> list[AgendaItem]:
    """Items that came due in ``(after, until]`` (earliest first): what a reminder
    announces. Same sources and no-duplicates rule as :func:`load_agenda`."""
    with replica.read() as conn:
        rows = [
            *_rows(conn, _follow_up_select(after, until, False, limit, inclusive_end=True)),
            *_rows(conn, _customer_select(after, until, False, limit, inclusive_end=True)),
        ]
    return [item for item in _merge(rows, False, limit) if item.due_at > after]


def _follow_up_select(
    start: datetime | None,
    end: datetime,
    newest_first: bool,
    limit: int,
    *,
    inclusive_end: bool = False,
) -> Select[Any]:
    f, c = _follow_ups, _customers
    due = f.c.next_action_at
    stmt = (
        select(
            f.c.id, f.c.customer_id, c.c.name, f.c.next_action, due, _literal_entity("follow_up")
        )
        .join(c, c.c.id == f.c.customer_id)
        .where(
            f.c.deleted.is_(False),
            f.c.done.is_(False),
            c.c.deleted.is_(False),
            *_range(due, start, end, inclusive_end),
        )
    )
    return stmt.order_by(due.desc() if newest_first else due.asc(), f.c.id).limit(limit)


def _customer_select(
    start: datetime | None,
    end: datetime,
    newest_first: bool,
    limit: int,
    *,
    inclusive_end: bool = False,
) -> Select[Any]:
    f, c = _follow_ups, _customers
    due = c.c.next_follow_up_at
    # The no-duplicates rule: looked up by ix_follow_ups_customer_id (a customer's few).
    same_as_open_follow_up = exists().where(
        f.c.customer_id == c.c.id,
        f.c.next_action_at == due,
        f.c.done.is_(False),
        f.c.deleted.is_(False),
    )
    stmt = select(c.c.id, c.c.id, c.c.name, _null_text(), due, _literal_entity("customer")).where(
        c.c.deleted.is_(False), ~same_as_open_follow_up, *_range(due, start, end, inclusive_end)
    )
    return stmt.order_by(due.desc() if newest_first else due.asc(), c.c.id).limit(limit)


def _range(
    due: ColumnElement[Any], start: datetime | None, end: datetime, inclusive_end: bool
) -> list[ColumnElement[bool]]:
    terms: list[ColumnElement[bool]] = [due <= end if inclusive_end else due < end]
    terms.append(due.is_not(None) if start is None else due >= start)
    return terms


def _literal_entity(name: str) -> ColumnElement[str]:
    return literal(name, String)


def _null_text() -> ColumnElement[Any]:
    return null()


def _rows(conn: Any, stmt: Select[Any]) -> list[AgendaItem]:
    return [
        AgendaItem(
            entity=entity,
            record_id=record_id,
            customer_id=customer_id,
            customer_name=name or "",
            what=what or None,
            due_at=due,
        )
        for record_id, customer_id, name, what, due, entity in conn.execute(stmt)
    ]


def _merge(items: list[AgendaItem], newest_first: bool, limit: int) -> list[AgendaItem]:
    items.sort(key=lambda i: (i.due_at, i.customer_name, i.record_id), reverse=newest_first)
    return items[:limit]


def _capped_count(conn: Any, stmt: Select[Any]) -> int:
    # Counting the limited select stops at COUNT_CAP rows.
    return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def _local_midnight(day: date, tz: tzinfo | None) -> datetime:
    if tz is None:
        # A naive local time: astimezone() applies the process's zone, DST included.
        return datetime.combine(day, time()).astimezone().astimezone(UTC)
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


# --- one-click done ---------------------------------------------------------------------------


def mark_done(replica: Replica, item: AgendaItem) -> list[Change]:
    """Mark an agenda item done; return the changes written (each with its outbox row).

    * A follow-up: ``done`` becomes true. If its customer's next follow-up is this same
      moment (set from it when it was logged), the customer's date moves on as below —
      otherwise the customer would pop up due at the moment just dealt with.
    * A customer's next follow-up moves to the earliest next action of the customer's
      other open follow-ups (they are on the agenda already, so it is shown once), or is
      cleared when there is none. The date is not pushed forward by a guess: the
      salesperson sets the next one when logging the next follow-up.

    Raises ``RecordNotFoundError`` when the record was deleted meanwhile.
    """
    changes: list[Change] = []
    customer_due: datetime | None = item.due_at
    if item.entity == "follow_up":
        changes.append(replica.follow_ups.update(item.record_id, {"done": True}))
        customer = replica.customers.get(item.customer_id)
        customer_due = None if customer is None else customer.values["next_follow_up_at"]
        if customer_due != item.due_at:
            return changes
    later = _earliest_open_action(replica, item.customer_id)
    changes.append(replica.customers.update(item.customer_id, {"next_follow_up_at": later}))
    return [c for c in changes if c.mutation_id is not None]


def _earliest_open_action(replica: Replica, customer_id: str) -> datetime | None:
    """The earliest next action of the customer's open follow-ups (its few, by index)."""
    f = _follow_ups
    stmt = (
        select(f.c.next_action_at)
        .where(
            f.c.customer_id == customer_id,
            f.c.done.is_(False),
            f.c.deleted.is_(False),
            f.c.next_action_at.is_not(None),
        )
        .order_by(f.c.next_action_at)
        .limit(1)
    )
    with replica.read() as conn:
        found: datetime | None = conn.execute(stmt).scalar()
    return found


# --- the follow-up list -----------------------------------------------------------------------

SortField = Literal["happened_at", "next_action_at"]
SORT_FIELDS: tuple[SortField, ...] = ("happened_at", "next_action_at")


@dataclass(frozen=True, slots=True)
class FollowUpListQuery:
    """Which follow-ups the Follow-ups page lists, and in which order.

    ``happened_from`` / ``happened_until``: local-day bounds already turned into aware UTC
    instants (from inclusive, until exclusive). ``customer_id`` or ``customer_search``
    (name, pinyin, initials or phone, as the customer search) pick the customers.
    """

    kind: str | None = None
    done: bool | None = None  # None: done and open
    happened_from: datetime | None = None
    happened_until: datetime | None = None
    customer_id: str | None = None
    customer_search: str | None = None
    sort: SortField = "happened_at"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    """One row of the follow-up list: the record (with its sync state) and its customer."""

    record: Record
    customer_name: str

    @property
    def id(self) -> str:
        return self.record.id


def count_follow_ups(replica: Replica, query: FollowUpListQuery) -> int:
    """How many follow-ups the list shows (one indexed COUNT)."""
    conditions = _list_conditions(query)
    if conditions is None:
        return 0
    stmt = select(func.count()).select_from(_follow_ups).where(*conditions)
    with replica.read() as conn:
        return int(conn.execute(stmt).scalar_one())


def follow_up_window(
    replica: Replica, query: FollowUpListQuery, offset: int, limit: int
) -> list[FollowUpRow]:
    """Rows ``offset`` to ``offset + limit`` of the list, in its order (sorted in SQL)."""
    if not 0 < limit <= 1000 or offset < 0:
        raise ValueError("limit must be 1..1000 and offset not negative")
    conditions = _list_conditions(query)
    if conditions is None:
        return []
    f = _follow_ups
    key = f.c[query.sort]
    order = (
        [key.desc().nulls_last(), f.c.id.desc()]
        if query.descending
        else [key.asc().nulls_last(), f.c.id.asc()]
    )
    stmt = select(f.c.id).where(*conditions).order_by(*order).limit(limit).offset(offset)
    with replica.read() as conn:
        ids = list(conn.execute(stmt).scalars())
        if not ids:
            return []
        names_stmt = (
            select(f.c.id, _customers.c.name)
            .join(_customers, _customers.c.id == f.c.customer_id)
            .where(f.c.id.in_(ids))
        )
        names = {str(i): n for i, n in conn.execute(names_stmt)}
    records = {
        r.id: r for r in replica.follow_ups.query(filters=[Filter("id", "in", ids)], limit=len(ids))
    }
    return [FollowUpRow(records[i], str(names.get(i) or "")) for i in ids if i in records]


def follow_up_position(replica: Replica, query: FollowUpListQuery, record_id: str) -> int | None:
    """Where a follow-up is in the list (0-based), or None if the list leaves it out."""
    conditions = _list_conditions(query)
    if conditions is None:
        return None
    f = _follow_ups
    key = f.c[query.sort]
    with replica.read() as conn:
        found = conn.execute(select(key).where(f.c.id == record_id, *conditions)).first()
        if found is None:
            return None
        value = found[0]
        if value is None:
            before = key.is_not(None) | (
                f.c.id < record_id if not query.descending else f.c.id > record_id
            )
        elif query.descending:
            before = (key > value) | and_(key == value, f.c.id > record_id)
        else:
            before = (key < value) | and_(key == value, f.c.id < record_id)
        stmt = select(func.count()).select_from(f).where(*conditions, before)
        return int(conn.execute(stmt).scalar_one())


def _list_conditions(query: FollowUpListQuery) -> list[ColumnElement[bool]] | None:
    f = _follow_ups
    conditions: list[ColumnElement[bool]] = [f.c.deleted.is_(False)]
    if query.kind is not None:
        conditions.append(f.c.kind == query.kind)
    if query.done is not None:
        conditions.append(f.c.done.is_(query.done))
    if query.happened_from is not None:
        conditions.append(f.c.happened_at >= query.happened_from)
    if query.happened_until is not None:
        conditions.append(f.c.happened_at < query.happened_until)
    if query.customer_id is not None:
        conditions.append(f.c.customer_id == query.customer_id)
    if query.customer_search and query.customer_search.strip():
        plan = search.plan_search(query.customer_search)
        if plan is not None:
            conditions.append(f.c.customer_id.in_(_customer_ids_matching(plan)))
    return conditions


def _customer_ids_matching(plan: search.SearchPlan) -> Select[Any]:
    c = _customers
    matches = text(
        f"SELECT rowid FROM {search.FTS_TABLE} WHERE {search.FTS_TABLE} MATCH :match"
    ).bindparams(match=plan.match)
    terms: list[ColumnElement[bool]] = [
        c.c.deleted.is_(False),
        c.c.row_id.in_(matches.columns(column("rowid", Integer))),
    ]
    terms.extend(func.instr(c.c.search_text, needle) > 0 for needle in plan.needles)
    return select(c.c.id).where(*terms)


def local_day_start(day: date, tz: tzinfo | None = None) -> datetime:
    """Midnight of a local day as an aware UTC instant (for date-range filters)."""
    return _local_midnight(day, tz)
