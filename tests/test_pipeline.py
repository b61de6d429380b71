"""The deals pipeline queries (sync.pipeline) on a real replica."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sync import pipeline
from sync.pipeline import DealQuery, DealSort, count_deals, deal_position, deal_window
from sync.replica import Replica


def _customer(replica: Replica, name: str, owner: str | None) -> str:
    return replica.customers.create({"name": name, "owner_id": owner}).record_id


def _deal(replica: Replica, customer_id: str, title: str, **values: object) -> str:
    # owner_id None as the server sends children: ownership follows the customer.
    given = {"customer_id": customer_id, "title": title, "owner_id": None, **values}
    return replica.deals.create(given).record_id


@pytest.fixture
def book(replica: Replica) -> dict[str, str]:
    """u1 owns 张三 and 李四, u2 owns 王五; deals in CNY and USD, one deleted."""
    zhang = _customer(replica, "张三", "u1")
    li = _customer(replica, "李四", "u1")
    wang = _customer(replica, "王五", "u2")
    ids = {
        "a": _deal(replica, zhang, "服务器扩容", amount="1000.50", stage="initial"),
        "b": _deal(replica, zhang, "软件许可", amount="2000.25", stage="initial"),
        "c": _deal(replica, li, "Pilot", amount="300.00", currency="USD", stage="initial"),
        "d": _deal(replica, li, "年度框架", amount=None, stage="won", probability=100),
        "e": _deal(replica, wang, "售后服务", amount="7000.00", stage="proposal"),
        "f": _deal(replica, wang, "扩容二期", amount="5.00", stage="lost"),
        "gone": _deal(replica, zhang, "已删除", amount="99999.00", stage="initial"),
    }
    replica.deals.delete(ids["gone"])
    return ids


def test_team_summary_sums_per_stage_and_currency(replica: Replica, book: dict[str, str]) -> None:
    summary = pipeline.pipeline_summary(replica, scope="team", user_id="u1")
    assert [s.stage for s in summary.stages] == list(pipeline.PIPELINE_STAGES)
    initial = summary.stage("initial")
    assert initial.count == 3  # the deleted deal is left out
    assert initial.amounts == {"CNY": Decimal("3000.75"), "USD": Decimal("300.00")}
    assert initial.counts == {"CNY": 2, "USD": 1}
    assert summary.stage("proposal").amount("CNY") == Decimal("7000.00")
    assert summary.stage("won").count == 1
    assert summary.stage("won").amount("CNY") == Decimal("0.00")  # no amount: counts only
    assert summary.stage("qualified").count == 0
    assert summary.currencies == ("CNY", "USD")
    assert summary.main_currency == "CNY"
    assert summary.other_currencies == ("USD",)
    assert summary.total_count == 6
    assert summary.total("CNY", pipeline.OPEN_STAGES) == Decimal("10000.75")


def test_mine_follows_the_customers_owner(replica: Replica, book: dict[str, str]) -> None:
    mine = pipeline.pipeline_summary(replica, scope="mine", user_id="u1")
    assert mine.total_count == 4
    assert mine.stage("initial").count == 3
    assert mine.stage("proposal").count == 0  # 王五 is u2's
    theirs = pipeline.pipeline_summary(replica, scope="mine", user_id="u2")
    assert (theirs.stage("proposal").count, theirs.stage("lost").count) == (1, 1)
    assert theirs.currencies == ("CNY",)
    nobody = pipeline.pipeline_summary(replica, scope="mine", user_id=None)
    assert nobody.total_count == 0 and nobody.main_currency == "CNY"


def test_main_currency_is_the_most_common(replica: Replica) -> None:
    cid = _customer(replica, "Acme", "u1")
    for n in range(3):
        _deal(replica, cid, f"usd {n}", amount="10.00", currency="USD")
    _deal(replica, cid, "cny", amount="10.00")
    summary = pipeline.pipeline_summary(replica, scope="team", user_id=None)
    assert summary.currencies == ("USD", "CNY")
    assert summary.main_currency == "USD"


def test_empty_replica_has_every_stage_empty(replica: Replica) -> None:
    summary = pipeline.pipeline_summary(replica, scope="team", user_id=None)
    assert [s.count for s in summary.stages] == [0] * 6
    assert summary.main_currency == "CNY"


def test_list_filters(replica: Replica, book: dict[str, str]) -> None:
    def titles(query: DealQuery) -> set[str]:
        return {r.title for r in deal_window(replica, query, 0, 100)}

    assert count_deals(replica, DealQuery()) == 6
    assert count_deals(replica, DealQuery(scope="mine", user_id="u1")) == 4
    assert count_deals(replica, DealQuery(scope="mine", user_id=None)) == 0
    assert titles(DealQuery(stage="initial")) == {"服务器扩容", "软件许可", "Pilot"}
    assert titles(DealQuery(open_only=True)) == {"服务器扩容", "软件许可", "Pilot", "售后服务"}
    assert titles(DealQuery(scope="mine", user_id="u2", open_only=True)) == {"售后服务"}
    assert count_deals(replica, DealQuery(stage="won", open_only=True)) == 0
    assert deal_window(replica, DealQuery(stage="won", open_only=True), 0, 10) == []


def test_rows_carry_customer_owner_and_sync_state(replica: Replica, book: dict[str, str]) -> None:
    [row] = deal_window(replica, DealQuery(stage="won"), 0, 10)
    assert row.id == book["d"]
    assert (row.customer_name, row.owner_id, row.amount, row.probability) == (
        "李四",
        "u1",
        None,
        100,
    )
    assert row.sync_state == "pending"  # created here, not sent yet
    assert row.sync_error is None


@pytest.mark.parametrize(
    "field", ["title", "customer", "stage", "amount", "probability", "expected_close", "owner"]
)
@pytest.mark.parametrize("descending", [False, True])
def test_windows_sort_and_positions(
    replica: Replica, book: dict[str, str], field: pipeline.SortField, descending: bool
) -> None:
    query = DealQuery(sort=DealSort(field, descending))
    whole = deal_window(replica, query, 0, 100)
    assert len(whole) == 6
    # Windows of 2 put together are the whole list: no overlap, no gap.
    pieces = [r for offset in (0, 2, 4) for r in deal_window(replica, query, offset, 2)]
    assert [r.id for r in pieces] == [r.id for r in whole]
    for i, row in enumerate(whole):
        assert deal_position(replica, query, row.id) == i
    assert deal_position(replica, query, book["gone"]) is None


def test_sort_by_stage_is_pipeline_order_and_amount_is_numeric(
    replica: Replica, book: dict[str, str]
) -> None:
    by_stage = deal_window(replica, DealQuery(sort=DealSort("stage")), 0, 100)
    assert [r.stage for r in by_stage] == [
        "initial",
        "initial",
        "initial",
        "proposal",
        "won",
        "lost",
    ]
    by_amount = deal_window(replica, DealQuery(sort=DealSort("amount", True)), 0, 100)
    amounts = [r.amount for r in by_amount]
    assert amounts[:5] == [
        Decimal("7000.00"),
        Decimal("2000.25"),
        Decimal("1000.50"),
        Decimal("300.00"),
        Decimal("5.00"),
    ]
    assert amounts[5] is None  # no amount: last either way
    by_customer = deal_window(replica, DealQuery(sort=DealSort("customer")), 0, 100)
    # Pinyin order: Li, Wang, Zhang.
    assert [r.customer_name for r in by_customer] == [
        "李四",
        "李四",
        "王五",
        "王五",
        "张三",
        "张三",
    ]


def test_expected_close_default_order(replica: Replica) -> None:
    cid = _customer(replica, "Acme", "u1")
    late = _deal(replica, cid, "late", expected_close=date(2026, 9, 1))
    soon = _deal(replica, cid, "soon", expected_close=date(2026, 6, 1))
    undated = _deal(replica, cid, "undated")
    rows = deal_window(replica, DealQuery(), 0, 10)
    assert [r.id for r in rows] == [soon, late, undated]


def test_window_arguments_are_checked(replica: Replica) -> None:
    with pytest.raises(ValueError):
        deal_window(replica, DealQuery(), 0, 0)
    with pytest.raises(ValueError):
        deal_window(replica, DealQuery(), -1, 10)
