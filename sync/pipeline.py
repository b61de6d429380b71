"""The deals pipeline: a per-stage summary and a paged list of deals, read in SQL.

Two scopes: ``"team"`` is every deal in the replica (the server already limits a replica
to what its user may see), ``"mine"`` the deals of customers the user owns. A deal's own
``owner_id`` is not used for that: the server leaves it empty on children, ownership
follows the customer. Deleted deals (tombstones waiting for the server) never count.

Amounts are exact :class:`~decimal.Decimal` values in a currency each (CNY by default).
Currencies are never converted: the summary sums per stage *and* currency, and names the
most common currency the "main" one a chart draws.

Every query is bounded: the summary is one ``GROUP BY`` (at most stages × currencies
rows); the list is counted once and read a window at a time (the window's row ids first,
then the window's rows with their sync state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    select,
)

from sync.replica import Replica
from sync.replica_models import CONFLICTS_TABLE, OUTBOX_TABLE, TABLE_BY_ENTITY
from sync.repository import MAX_PAGE, SyncState
from sync.schema import DealStage

Scope = Literal["mine", "team"]
SortField = Literal[
    "title", "customer", "stage", "amount", "probability", "expected_close", "owner"
]

# The stages in pipeline order: the order of the chart's bars and of a sort by stage.
PIPELINE_STAGES: tuple[str, ...] = tuple(s.value for s in DealStage)
CLOSED_STAGES: frozenset[str] = frozenset({DealStage.WON.value, DealStage.LOST.value})
OPEN_STAGES: tuple[str, ...] = tuple(s for s in PIPELINE_STAGES if s not in CLOSED_STAGES)
DEFAULT_CURRENCY = "CNY"

_deals = TABLE_BY_ENTITY["deal"]
_customers = TABLE_BY_ENTITY["customer"]
_outbox = OUTBOX_TABLE
_conflicts = CONFLICTS_TABLE
_ZERO = Decimal("0.00")


# --- the summary ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageTotal:
    """One stage of the pipeline: how many deals, and their amounts per currency."""

    stage: str
    count: int
    # currency -> sum of the amounts (deals without an amount add nothing)
    amounts: Mapping[str, Decimal] = field(default_factory=dict)
    # currency -> number of deals in that currency
    counts: Mapping[str, int] = field(default_factory=dict)

    def amount(self, currency: str) -> Decimal:
        """The sum in ``currency`` (0.00 when the stage has none)."""
        return self.amounts.get(currency, _ZERO)


@dataclass(frozen=True, slots=True)
class PipelineSummary:
    """Every stage in pipeline order (empty ones too) and the currencies found."""

    scope: Scope
    stages: tuple[StageTotal, ...]
    # Currencies by number of deals, most common first; the first is the main one.
    currencies: tuple[str, ...] = ()

    @property
    def main_currency(self) -> str:
        """The currency most deals are in (CNY when there are no deals)."""
        return self.currencies[0] if self.currencies else DEFAULT_CURRENCY

    @property
    def other_currencies(self) -> tuple[str, ...]:
        return self.currencies[1:]

    @property
    def total_count(self) -> int:
        return sum(s.count for s in self.stages)

    def stage(self, stage: str) -> StageTotal:
        """The total of ``stage``; ``KeyError`` for a stage the pipeline does not have."""
        for total in self.stages:
            if total.stage == stage:
                return total
        raise KeyError(stage)

    def total(self, currency: str, stages: Sequence[str] | None = None) -> Decimal:
        """The sum in ``currency`` over ``stages`` (all of them when ``None``)."""
        wanted = set(PIPELINE_STAGES if stages is None else stages)
        return sum((s.amount(currency) for s in self.stages if s.stage in wanted), _ZERO)


def pipeline_summary(replica: Replica, *, scope: Scope, user_id: str | None) -> PipelineSummary:
    """Count and sum the live deals of ``scope`` per stage and currency (one GROUP BY).

    ``"mine"`` without a user (not signed in yet) is an empty pipeline.
    """
    count = func.count()
    total = func.sum(_deals.c.amount)  # Money: whole cents summed exactly, read as Decimal
    stmt = select(_deals.c.stage, _deals.c.currency, count, total).where(
        _deals.c.deleted.is_(False)
    )
    rows: list[Any] = []
    if scope == "mine":
        if user_id is not None:
            stmt = stmt.join(_customers, _customers.c.id == _deals.c.customer_id).where(
                _customers.c.owner_id == user_id
            )
            rows = _grouped(replica, stmt)
    else:
        rows = _grouped(replica, stmt)
    counts: dict[str, dict[str, int]] = {s: {} for s in PIPELINE_STAGES}
    amounts: dict[str, dict[str, Decimal]] = {s: {} for s in PIPELINE_STAGES}
    per_currency: dict[str, int] = {}
    for stage, currency, n, amount in rows:
        if stage not in counts:
            continue  # a stage this client does not know (a newer server): left out
        code = currency or DEFAULT_CURRENCY
        counts[stage][code] = counts[stage].get(code, 0) + int(n)
        amounts[stage][code] = amounts[stage].get(code, _ZERO) + (amount or _ZERO)
        per_currency[code] = per_currency.get(code, 0) + int(n)
    # Most deals first; on a tie the default currency, then the alphabet.
    currencies = sorted(per_currency, key=lambda c: (-per_currency[c], c != DEFAULT_CURRENCY, c))
    stages = tuple(
        StageTotal(s, sum(counts[s].values()), amounts[s], counts[s]) for s in PIPELINE_STAGES
    )
    return PipelineSummary(scope, stages, tuple(currencies))


def _grouped(replica: Replica, stmt: Select[Any]) -> list[Any]:
    stmt = stmt.group_by(_deals.c.stage, _deals.c.currency)
    with replica.read() as conn:
        return list(conn.execute(stmt).all())


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealSort:
    field: SortField
    descending: bool = False


@dataclass(frozen=True, slots=True)
class DealQuery:
    """Which deals a list shows and in which order. ``stage`` ``None``: every stage;
    ``open_only``: leave won and lost deals out. Default order: expected close."""

    scope: Scope = "team"
    user_id: str | None = None
    stage: str | None = None
    open_only: bool = False
    sort: DealSort = DealSort("expected_close")


@dataclass(frozen=True, slots=True)
class DealRow:
    """One deal as a list shows it (the customer's name and owner joined in)."""

    id: str
    customer_id: str
    title: str
    customer_name: str | None
    stage: str
    amount: Decimal | None
    currency: str
    probability: int | None
    expected_close: date | None
    owner_id: str | None  # the customer's owner: who the deal belongs to
    sync_state: SyncState
    sync_error: str | None  # the server's reason, when sync_state is "failed"


def _stage_rank() -> ColumnElement[int]:
    """A stage's position in the pipeline (unknown stages last)."""
    return case(
        *((_deals.c.stage == s, literal(i)) for i, s in enumerate(PIPELINE_STAGES)),
        else_=literal(len(PIPELINE_STAGES)),
    )


def _sort_key(name: SortField) -> ColumnElement[Any]:
    keys: dict[str, ColumnElement[Any]] = {
        "title": _deals.c.title,
        "customer": _customers.c.name_sort,  # pinyin order for Chinese names
        "stage": _stage_rank(),
        "amount": _deals.c.amount,
        "probability": _deals.c.probability,
        "expected_close": _deals.c.expected_close,
        "owner": _customers.c.owner_id,
    }
    if name not in keys:
        raise ValueError(f"cannot sort deals by {name!r}")
    return keys[name]


def _conditions(query: DealQuery) -> list[ColumnElement[bool]] | None:
    """The WHERE terms, or ``None`` when the query cannot match anything."""
    conditions: list[ColumnElement[bool]] = [_deals.c.deleted.is_(False)]
    if query.scope == "mine":
        if query.user_id is None:
            return None
        conditions.append(_customers.c.owner_id == query.user_id)
    if query.stage is not None:
        if query.open_only and query.stage in CLOSED_STAGES:
            return None
        conditions.append(_deals.c.stage == query.stage)
    elif query.open_only:
        conditions.append(_deals.c.stage.in_(OPEN_STAGES))
    return conditions


def _joined() -> Any:
    # An outer join: a deal whose customer is not (yet) in the replica still lists.
    return _deals.outerjoin(_customers, _customers.c.id == _deals.c.customer_id)


def count_deals(replica: Replica, query: DealQuery) -> int:
    """How many deals :func:`deal_window` pages through."""
    conditions = _conditions(query)
    if conditions is None:
        return 0
    stmt = select(func.count()).select_from(_joined()).where(*conditions)
    with replica.read() as conn:
        return int(conn.execute(stmt).scalar_one())


def _order(query: DealQuery) -> list[ColumnElement[Any]]:
    key = _sort_key(query.sort.field)
    if query.sort.descending:
        return [key.desc().nulls_last(), _deals.c.id.desc()]
    # The id last: a stable order, so that windows never overlap.
    return [key.asc().nulls_last(), _deals.c.id.asc()]


def deal_window(replica: Replica, query: DealQuery, offset: int, limit: int) -> list[DealRow]:
    """Deals ``offset`` to ``offset + limit`` of the list (fewer at its end)."""
    if not 0 < limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    conditions = _conditions(query)
    if conditions is None:
        return []
    ids_stmt = (
        select(_deals.c.id)
        .select_from(_joined())
        .where(*conditions)
        .order_by(*_order(query))
        .limit(limit)
        .offset(offset)
    )
    with replica.read() as conn:
        ids = list(conn.execute(ids_stmt).scalars())
        if not ids:
            return []
        found = {row.id: row for row in _read_rows(conn, ids)}
    return [found[i] for i in ids if i in found]


def _read_rows(conn: Connection, ids: Sequence[str]) -> list[DealRow]:
    """The window's rows in full, with their sync state (computed for these rows only)."""
    failed = and_(
        _outbox.c.entity == "deal",
        _outbox.c.record_id == _deals.c.id,
        _outbox.c.status == "failed",
    )
    error = select(_outbox.c.last_error).where(failed).order_by(_outbox.c.seq).limit(1)
    stmt = (
        select(
            _deals.c.id,
            _deals.c.customer_id,
            _deals.c.title,
            _customers.c.name,
            _deals.c.stage,
            _deals.c.amount,
            _deals.c.currency,
            _deals.c.probability,
            _deals.c.expected_close,
            _customers.c.owner_id,
            deal_sync_state(),
            error.scalar_subquery(),
        )
        .select_from(_joined())
        .where(_deals.c.id.in_(list(ids)))
    )
    return [DealRow(*tuple(row)) for row in conn.execute(stmt)]


def deal_sync_state() -> ColumnElement[str]:
    """A deal's :data:`~sync.repository.SyncState` in SQL, with the repository's
    precedence: an open conflict, then a refused edit, then edits waiting, else synced."""
    mine = and_(_outbox.c.entity == "deal", _outbox.c.record_id == _deals.c.id)
    conflicted = and_(_conflicts.c.entity == "deal", _conflicts.c.record_id == _deals.c.id)
    return case(
        (exists().where(conflicted), literal("conflict")),
        (exists().where(mine, _outbox.c.status == "failed"), literal("failed")),
        (exists().where(mine), literal("pending")),
        else_=literal("synced"),
    )


def deal_position(replica: Replica, query: DealQuery, deal_id: str) -> int | None:
    """Where the deal is in the list (0-based), or ``None`` if the list leaves it out."""
    conditions = _conditions(query)
    if conditions is None:
        return None
    key = _sort_key(query.sort.field)
    with replica.read() as conn:
        found = conn.execute(
            select(key).select_from(_joined()).where(_deals.c.id == deal_id, *conditions)
        ).first()
        if found is None:
            return None
        value = found[0]
        deal = _deals.c.id
        # Rows before it in the ORDER BY of _order (NULL keys last, ties by id).
        if query.sort.descending:
            if value is None:
                before = key.is_not(None) | (key.is_(None) & (deal > deal_id))
            else:
                before = (key > value) | ((key == value) & (deal > deal_id))
        elif value is None:
            before = key.is_not(None) | (key.is_(None) & (deal < deal_id))
        else:
            before = (key < value) | ((key == value) & (deal < deal_id))
        stmt = select(func.count()).select_from(_joined()).where(*conditions, before)
        return int(conn.execute(stmt).scalar_one())
