"""The progress total of a sync: the pull's opt-in ``count`` (``remaining``), the engine's
``SyncStatus.done`` / ``total``, and the CLI's progress bar — against the real server
process over HTTP, on SQLite and on PostgreSQL.

``remaining`` must be exact: the same permission filter as the page (salespeople see their
own customers and the pool, managers their team's, revocations count for those who lose
a record), so that a sync's ``done`` ends exactly at ``total``.
"""

from __future__ import annotations

import uuid
from typing import Any

from server import accounts
from server.accounts import Role
from server.db import write_transaction
from sync.cli import progress_text
from sync.engine import SyncState, SyncStatus
from tests.helpers.fault_proxy import PULL, Fault, FaultProxy
from tests.helpers.sync_devices import assert_agree
from tests.server.conftest import ApiClient, LiveServer, MakeDevice


def _pull(api: ApiClient, cursor: str, limit: int, *, count: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"cursor": cursor, "limit": limit}
    if count:
        params["count"] = "true"
    response = api.http.get("/api/v1/sync/pull", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _feed_positions(page: dict[str, Any]) -> int:
    """Changes of a page at their own place in the feed (riders, customers sent ahead of a
    child with a later change number than the page's last, are not)."""
    changes = page["changes"]
    if not changes:
        return 0
    last = changes[-1]["seq"]
    return sum(1 for c in changes if c["seq"] <= last)


def _check_remaining_all_the_way(api: ApiClient, cursor: str, limit: int) -> tuple[int, int]:
    """Walk the feed from ``cursor`` asking ``count`` on every page: each page's
    ``remaining`` equals what the walk then actually finds from there on. Returns the first
    answer and how many riders the walk met."""
    answers: list[int] = []
    positions: list[int] = []
    riders = 0
    while True:
        page = _pull(api, cursor, limit, count=True)
        answers.append(page["remaining"])
        positions.append(_feed_positions(page))
        riders += len(page["changes"]) - positions[-1]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    for i, remaining in enumerate(answers):
        assert remaining == sum(positions[i:]), (api.username, i, answers, positions)
    return answers[0], riders


def test_remaining_is_exact_for_every_role(server: LiveServer) -> None:
    """A team of its own: a salesperson's customers with children (one customer changed
    after its child, so that it rides along ahead of its place on a page), a pool
    customer, and a customer the admin hands to another team (revocations for the
    salesperson and the manager). From the cursor before all that, ``remaining`` on every
    page equals what the rest of the walk delivers, for the salesperson, the manager and
    the admin; without ``count`` the reply has no ``remaining``."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="ps")
    manager = server.add_user(Role.MANAGER, team, prefix="pm")
    outsider = server.add_user(Role.SALES, f"{team}-other", prefix="po")
    apis = {name: server.login(name) for name in (seller, manager, "admin")}
    starts = {name: api.cursor_at_end() for name, api in apis.items()}

    api = apis[seller]
    customers = [api.new_customer(f"进度客户{i}")[0] for i in range(6)]
    for cid in customers[:4]:
        contact = api.create("contact", {"customer_id": cid, "name": "联系人"})
        assert api.push_one(contact)["status"] == "applied"
    # The first customer changes after its contact: it rides along with the contact.
    first = api.current("customer", customers[0])
    result = api.push_one(
        api.update("customer", customers[0], first["version"], {"city": ("杭州", None)})
    )
    assert result["status"] == "applied"
    # Released to the pool: visible to everyone (its revocation to no one).
    pooled = api.current("customer", customers[4])
    result = api.push_one(
        api.update("customer", customers[4], pooled["version"], {"owner_id": (None, seller)})
    )
    assert result["status"] == "applied"
    # Handed to another team: revoked from the seller's and the manager's feeds.
    given = api.current("customer", customers[5])
    result = apis["admin"].push_one(
        apis["admin"].update(
            "customer", customers[5], given["version"], {"owner_id": (outsider, seller)}
        )
    )
    assert result["status"] == "applied"

    riders = 0
    for name, client in apis.items():
        for limit in (1, 3, 1000):
            total, rode = _check_remaining_all_the_way(client, starts[name], limit)
            assert total > 0, name
            riders += rode
    assert riders > 0  # the counting of riders was put to the test
    plain = _pull(api, starts[seller], 3, count=False)
    assert "remaining" not in plain
    # At the end of the feed: nothing remains (and no COUNT is needed to say so).
    end = _pull(api, api.cursor_at_end(), 10, count=True)
    assert (end["changes"], end["has_more"], end["remaining"]) == ([], False, 0)


def test_sync_reports_done_up_to_total(server: LiveServer, make_device: MakeDevice) -> None:
    """A device in sync; 23 records are made on the server for its user (the first
    customer changed last, so it rides along ahead of its place with its contact on the
    first page); the next sync pulls them 5 a page. Its statuses know the total from the
    first page on (23), count ``done`` up page by page (the rider counted at its own
    place only), and end with done == total == 23, also in the final ``online`` status.
    The sync after it has nothing to do: done == total == 0."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="pd")
    device = make_device("d", seller, pull_limit=5)
    # Pool customers made by other tests are in every salesperson's feed: catch up first.
    device.sync()
    api = server.login(seller)
    made = 0
    for i in range(8):
        cid, _ = api.new_customer(f"总数客户{i}")
        made += 1
        for j in range(i % 3 + 1):
            contact = api.create("contact", {"customer_id": cid, "name": f"联系人{j}"})
            assert api.push_one(contact)["status"] == "applied"
            made += 1
        if i == 0:
            first = cid
    assert made == 23
    current = api.current("customer", first)
    changed = api.update("customer", first, current["version"], {"city": ("宁波", None)})
    assert api.push_one(changed)["status"] == "applied"

    seen: list[SyncStatus] = []
    device.engine.add_listener(seen.append)
    report = device.sync()
    assert (report.pulled, report.pages) == (24, 5)  # 23 and the rider

    with_progress = [s for s in seen if s.state is SyncState.SYNCING and s.done]
    assert [s.done for s in with_progress] == [5, 10, 15, 20, 23]
    assert {s.total for s in with_progress} == {23}
    final = seen[-1]
    assert (final.state, final.done, final.total) == (SyncState.ONLINE, 23, 23)
    assert device.engine.status == final
    assert_agree(server.engine, [device], [("customer", first)])

    seen.clear()
    device.sync()
    assert (seen[-1].done, seen[-1].total) == (0, 0)


def test_total_grows_with_changes_made_during_the_sync(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """Changes committed after the first page's count still arrive in the same sync: the
    total grows to take them in and is exact when the feed is done."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="pg")
    device = make_device("g", seller, pull_limit=4)
    device.sync()
    api = server.login(seller)
    for i in range(10):
        api.new_customer(f"增长客户{i}")
    more = iter(range(3))

    def write_more(status: SyncStatus) -> None:
        # After the first page: three more customers while the sync runs.
        if status.state is SyncState.SYNCING and status.done == 4 and next(more, None) == 0:
            for k in range(3):
                api.new_customer(f"途中客户{k}")

    seen: list[SyncStatus] = []
    device.engine.add_listener(write_more)
    device.engine.add_listener(seen.append)
    report = device.sync()
    assert report.pulled == 13
    progress = [(s.done, s.total) for s in seen if s.state is SyncState.SYNCING and s.done]
    assert progress[0] == (4, 10)
    assert progress[-1] == (13, 13)
    assert all(total is not None and done <= total for done, total in progress)
    assert (seen[-1].done, seen[-1].total) == (13, 13)


def test_a_server_without_remaining_leaves_the_total_unknown(
    server: LiveServer, make_device: MakeDevice
) -> None:
    """An older server ignores ``count``: its pages have no ``remaining`` (a proxy takes it
    out of the real server's answers). The sync works as before, with ``done`` counted and
    ``total`` None throughout; the first page asked for the count, the later ones not."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="pu")
    api = server.login(seller)
    with FaultProxy(server.base_url) as proxy:
        device = make_device("u", seller, url=proxy.url, pull_limit=3)
        device.sync()
        for i in range(7):
            api.new_customer(f"旧服务器客户{i}")

        def strip(body: Any) -> Any:
            return {k: v for k, v in body.items() if k != "remaining"}

        proxy.add(Fault.json(transform=strip), method="GET", path=PULL, times=None)
        seen: list[SyncStatus] = []
        device.engine.add_listener(seen.append)
        proxy.exchanges.clear()
        report = device.sync()
        pulls = proxy.seen(PULL)
    assert report.pulled == 7
    assert [s.done for s in seen if s.state is SyncState.SYNCING and s.done] == [3, 6, 7]
    assert {s.total for s in seen} == {None}
    asked = ["count=true" in e.path for e in pulls]
    assert asked == [True] + [False] * (len(asked) - 1) and len(asked) == 3


def test_progress_text_shows_a_bar_once_the_total_is_known() -> None:
    """The CLI's progress line: a count alone without a total; a bar, the percentage and
    "done of total" with one."""
    unknown = progress_text(SyncStatus(SyncState.SYNCING, done=1234))
    assert unknown == "Syncing… 1,234 records pulled"
    half = progress_text(SyncStatus(SyncState.SYNCING, done=2500, total=5000))
    assert half == "Syncing… [##########----------]  50% 2,500 of 5,000 records pulled"
    done = progress_text(SyncStatus(SyncState.SYNCING, done=5000, total=5000))
    assert "[####################] 100% 5,000 of 5,000" in done


def test_manager_sees_the_count_of_a_team_change(server: LiveServer) -> None:
    """A manager moved into a team gets a full resync; the count from the start of the
    feed then covers everything the new team's view holds (checked page by page)."""
    team = f"t{uuid.uuid4().hex[:8]}"
    seller = server.add_user(Role.SALES, team, prefix="pt")
    manager = server.add_user(Role.MANAGER, f"{team}-before", prefix="pn")
    api = server.login(seller)
    for i in range(3):
        api.new_customer(f"团队客户{i}")
    write_transaction(
        server.engine, lambda conn: accounts.set_role(conn, manager, Role.MANAGER, team)
    )
    boss = server.login(manager)
    total, _ = _check_remaining_all_the_way(boss, "", 500)
    assert total >= 3
