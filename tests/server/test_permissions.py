"""Who sees and writes what, over real HTTP on both backends.

Every test builds its own teams (fresh team names, managers and salespeople from
:meth:`LiveServer.add_user`) and its own records, and reads the feed from the end, so the
records of other tests (team east, the pool) do not get in the way. Expectations about the
database are checked through ``server.engine`` with plain queries and the documented
rules, never with the server's own permission code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from server import accounts
from server.accounts import Role
from server.db import write_transaction
from server.models import CHILD_ENTITIES, TABLE_BY_ENTITY, User, table_of
from tests.server.conftest import ApiClient, LiveServer

Key = tuple[str, str]  # (entity, record id)


# --- helpers ----------------------------------------------------------------------------


@dataclass
class Team:
    """A fresh team: its name, its manager and its salespeople (all signed in)."""

    name: str
    manager: ApiClient
    sales: list[ApiClient]


def new_team(server: LiveServer, salespeople: int = 2) -> Team:
    name = f"t-{uuid.uuid4().hex[:10]}"
    manager = server.login(server.add_user(Role.MANAGER, name, "m"))
    sales = [server.login(server.add_user(Role.SALES, name, "s")) for _ in range(salespeople)]
    return Team(name, manager, sales)


def child_values(entity: str, customer_id: str) -> dict[str, Any]:
    if entity == "contact":
        return {"customer_id": customer_id, "name": "王经理"}
    if entity == "follow_up":
        return {
            "customer_id": customer_id,
            "kind": "call",
            "content": "电话沟通报价",
            "happened_at": "2024-05-01T08:00:00Z",
        }
    return {"customer_id": customer_id, "title": "年度采购", "amount": "12000.00"}


def new_family(client: ApiClient, name: str = "客户") -> dict[str, str]:
    """A customer with one contact, follow-up and deal, made by ``client`` in one push;
    returns entity -> record id."""
    customer_id = str(uuid.uuid4())
    mutations = [client.create("customer", {"name": name, "status": "lead"}, customer_id)]
    mutations += [client.create(e, child_values(e, customer_id)) for e in CHILD_ENTITIES]
    results = client.push(mutations)
    assert [r["status"] for r in results] == ["applied"] * 4, results
    return {m["entity"]: m["record_id"] for m in mutations}


def keys(family: dict[str, str]) -> set[Key]:
    return set(family.items())


def row(server: LiveServer, entity: str, record_id: str) -> dict[str, Any]:
    table = TABLE_BY_ENTITY[entity]
    with server.engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.id == record_id)).mappings().one()
    return dict(found)


def snapshot(server: LiveServer, family: dict[str, str]) -> dict[Key, dict[str, Any]]:
    """Every row of the family, plus how many children the customer has."""
    rows: dict[Key, dict[str, Any]] = {k: row(server, *k) for k in keys(family)}
    with server.engine.connect() as conn:
        for entity in CHILD_ENTITIES:
            table = TABLE_BY_ENTITY[entity]
            count = conn.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.customer_id == family["customer"])
            ).scalar_one()
            rows[(entity, "count")] = {"n": count}
    return rows


def set_owner(client: ApiClient, server: LiveServer, customer_id: str, owner: str | None) -> Any:
    """Push an owner change with the server's current version and owner as base."""
    current = row(server, "customer", customer_id)
    mutation = client.update(
        "customer", customer_id, current["version"], {"owner_id": (owner, current["owner_id"])}
    )
    return client.push_one(mutation)


def pool_family(server: LiveServer, admin: ApiClient) -> dict[str, str]:
    """A family in the unassigned pool: made by the admin (who owns it at first), then
    released (a new customer's owner defaults to its creator)."""
    family = new_family(admin, "公海客户")
    result = set_owner(admin, server, family["customer"], None)
    assert result["status"] == "applied", result
    assert row(server, "customer", family["customer"])["owner_id"] is None
    return family


def by_op(changes: Iterable[dict[str, Any]], *ops: str) -> set[Key]:
    return {(c["entity"], c["id"]) for c in changes if c["op"] in ops}


def replay(changes: Iterable[dict[str, Any]]) -> dict[Key, dict[str, Any] | None]:
    """What a replica holds after applying ``changes`` in order (tombstones as records)."""
    held: dict[Key, dict[str, Any] | None] = {}
    for change in changes:
        key = (change["entity"], change["id"])
        if change["op"] == "revoke":
            held.pop(key, None)
        else:
            held[key] = change["record"]
    return held


def assert_revoked(changes: list[dict[str, Any]], family: dict[str, str]) -> None:
    """The family left this user's sight: a revoke for each record and nothing else."""
    mine = [c for c in changes if (c["entity"], c["id"]) in keys(family)]
    assert by_op(mine, "revoke") == keys(family), mine
    assert by_op(mine, "upsert", "delete") == set(), mine
    for change in mine:
        assert change["record"] is None and change["version"] is None, change


def assert_delivered(
    changes: list[dict[str, Any]], family: dict[str, str], owner: str | None
) -> None:
    """The family arrived as upserts (customer first, under ``owner``) and no revoke."""
    mine = [c for c in changes if (c["entity"], c["id"]) in keys(family)]
    assert by_op(mine, "upsert") == keys(family), mine
    assert by_op(mine, "revoke", "delete") == set(), mine
    first: dict[Key, int] = {}
    for index, change in enumerate(mine):
        first.setdefault((change["entity"], change["id"]), index)
    customer_at = first[("customer", family["customer"])]
    assert all(customer_at <= at for at in first.values())
    assert mine[customer_at]["record"]["owner_id"] == owner
    for change in mine:
        if change["entity"] != "customer":
            assert change["record"]["customer_id"] == family["customer"]


def expect_rejected(results: list[dict[str, Any]], code: str) -> None:
    for result in results:
        assert result["status"] == "rejected" and result["code"] == code, result


def expect_batch_rejected(
    mutations: list[dict[str, Any]], results: list[dict[str, Any]], code: str
) -> None:
    """The first mutation of each record is rejected with ``code``; later ones of the same
    record in the batch are held back as ``blocked``."""
    seen: set[tuple[str, str]] = set()
    for mutation, result in zip(mutations, results, strict=True):
        key = (mutation["entity"], mutation["record_id"])
        expect_rejected([result], "blocked" if key in seen else code)
        seen.add(key)


def set_role(server: LiveServer, username: str, role: Role, team: str | None = None) -> None:
    write_transaction(server.engine, lambda conn: accounts.set_role(conn, username, role, team))


def visible_keys(server: LiveServer, username: str) -> dict[Key, int]:
    """Every record (with its version) ``username`` may see, by the documented rules:
    sales own + pool, manager team members' + pool, admin everything; children follow
    their customer."""
    users = table_of(User)
    with server.engine.connect() as conn:
        teams = {u: t for u, t in conn.execute(select(users.c.username, users.c.team))}
        role, my_team = conn.execute(
            select(users.c.role, users.c.team).where(users.c.username == username)
        ).one()
        cu = TABLE_BY_ENTITY["customer"]
        owners = {i: o for i, o in conn.execute(select(cu.c.id, cu.c.owner_id))}

        def sees(customer_id: str) -> bool:
            owner = owners[customer_id]
            if role == Role.ADMIN.value or owner is None or owner == username:
                return True
            return role == Role.MANAGER.value and my_team is not None and teams[owner] == my_team

        found: dict[Key, int] = {}
        for cid, version in conn.execute(select(cu.c.id, cu.c.version)):
            if sees(cid):
                found[("customer", cid)] = version
        for entity in CHILD_ENTITIES:
            t = TABLE_BY_ENTITY[entity]
            for rid, cid, version in conn.execute(select(t.c.id, t.c.customer_id, t.c.version)):
                if sees(cid):
                    found[(entity, rid)] = version
    return found


# --- pull visibility --------------------------------------------------------------------


def test_pull_visibility_per_role(server: LiveServer) -> None:
    """A full pull holds exactly: for a salesperson their own and pool customers; for a
    manager their team members' (their own included) and the pool; for the admin all.
    Contacts, follow-ups and deals come with exactly the customers they belong to."""
    admin = server.login("admin")
    t1, t2 = new_team(server), new_team(server, 1)
    a1, b1 = t1.sales
    (c2,) = t2.sales
    fam = {
        "a1": new_family(a1, "甲"),
        "b1": new_family(b1, "乙"),
        "c2": new_family(c2, "丙"),
        "m1": new_family(t1.manager, "经理客户"),
        "admin": new_family(admin, "管理员客户"),
        "pool": pool_family(server, admin),
    }
    sees: list[tuple[ApiClient, set[str]]] = [
        (a1, {"a1", "pool"}),
        (b1, {"b1", "pool"}),
        (c2, {"c2", "pool"}),
        (t1.manager, {"a1", "b1", "m1", "pool"}),
        (t2.manager, {"c2", "pool"}),
        (admin, set(fam)),
    ]
    for client, visible in sees:
        changes, _ = client.pull_all("")
        seen = by_op(changes, "upsert")
        for label, family in fam.items():
            if label in visible:
                assert keys(family) <= seen, (client.username, label)
            else:
                unseen = keys(family) & by_op(changes, "upsert", "delete", "revoke")
                assert not unseen, (client.username, label)
        for change in changes:
            if change["op"] == "upsert" and change["id"] == fam["pool"]["customer"]:
                assert change["record"]["owner_id"] is None
            if change["op"] == "upsert" and change["entity"] in CHILD_ENTITIES:
                for family in fam.values():
                    if family[change["entity"]] == change["id"]:
                        assert change["record"]["customer_id"] == family["customer"]


def test_full_pull_returns_only_what_the_user_may_see(server: LiveServer) -> None:
    """For the fixed cast (holding every other test's records too) and a fresh salesperson,
    every record in a full pull is one the rules let the user see; revokes carry no record;
    and replaying the pull leaves exactly the visible records, each at its current version."""
    fresh = new_team(server, 1)
    new_family(fresh.sales[0])
    for username in ("s1", "s3", "m_east", "m_west", "admin", fresh.sales[0].username):
        client = server.login(username)
        changes, _ = client.pull_all("")
        expected = visible_keys(server, username)
        for change in changes:
            if change["op"] == "revoke":
                assert change["record"] is None and change["version"] is None, change
                continue
            assert (change["entity"], change["id"]) in expected, (username, change)
            assert change["record"]["id"] == change["id"]
            assert change["record"]["version"] == change["version"]
            assert change["record"]["deleted"] is (change["op"] == "delete")
        held = replay(changes)
        assert {k: r["version"] for k, r in held.items() if r is not None} == expected, username


# --- push permissions -------------------------------------------------------------------


def test_sales_cannot_write_another_salespersons_records(server: LiveServer) -> None:
    """A salesperson's update, delete, new child or child edit on a colleague's customer is
    rejected ``forbidden`` and changes nothing; so is moving their own contact under it."""
    team = new_team(server)
    a1, b1 = team.sales
    theirs = new_family(b1, "别人的客户")
    mine = new_family(a1, "自己的客户")
    before = snapshot(server, theirs)
    mine_before = snapshot(server, mine)
    cid = theirs["customer"]
    attempts = [
        a1.update("customer", cid, 1, {"name": ("抢来的", "别人的客户")}),
        a1.update("customer", cid, 1, {"owner_id": (a1.username, b1.username)}),
        a1.delete("customer", cid, 1),
        *(a1.create(e, child_values(e, cid)) for e in CHILD_ENTITIES),
        a1.update("contact", theirs["contact"], 1, {"name": ("改名", "王经理")}),
        a1.update("follow_up", theirs["follow_up"], 1, {"done": (True, False)}),
        a1.delete("deal", theirs["deal"], 1),
        a1.update("contact", mine["contact"], 1, {"customer_id": (cid, mine["customer"])}),
    ]
    results = a1.push(attempts)
    # In one batch, later edits of a record already refused are held back ("blocked").
    first_of_record = {}
    for m, r in zip(attempts, results, strict=True):
        first_of_record.setdefault((m["entity"], m["record_id"]), r["mutation_id"])
    expect_rejected(
        [r for r in results if r["mutation_id"] in first_of_record.values()], "forbidden"
    )
    expect_rejected(
        [r for r in results if r["mutation_id"] not in first_of_record.values()], "blocked"
    )
    # Each on its own as well: a rejection must not depend on its batch neighbours.
    for mutation in attempts:
        mutation["mutation_id"] = a1.next_mutation_id()
        expect_rejected([a1.push_one(mutation)], "forbidden")
    assert snapshot(server, theirs) == before
    assert snapshot(server, mine) == mine_before


def test_sales_cannot_restore_another_salespersons_deleted_records(server: LiveServer) -> None:
    """Re-creating a deleted customer or child (a restore) that belongs to someone else is
    ``forbidden`` for a salesperson: it neither takes the record over nor revives it, and
    no conflict answer shows the hidden record."""
    team = new_team(server)
    a1, b1 = team.sales
    cid, _ = b1.new_customer("已删除客户")
    assert b1.push_one(b1.delete("customer", cid, 1))["status"] == "applied"
    before = row(server, "customer", cid)
    # Neither a restore at the right version nor one at a stale version (which would
    # answer with a conflict carrying the record) gets past the permission check.
    stale = a1.create("customer", {"name": "复活", "status": "lead"}, cid)
    expect_rejected([a1.push_one(stale)], "forbidden")
    restore = a1.create("customer", {"name": "复活", "status": "lead"}, cid)
    restore["base_version"] = before["version"]
    expect_rejected([a1.push_one(restore)], "forbidden")
    assert row(server, "customer", cid) == before
    # The owner may restore it.
    mine = b1.create("customer", {"name": "复活", "status": "lead"}, cid)
    mine["base_version"] = before["version"]
    assert b1.push_one(mine)["status"] == "applied"
    assert row(server, "customer", cid)["owner_id"] == b1.username

    # The same for a deleted child of a colleague's customer.
    family = new_family(b1, "有联系人的客户")
    assert b1.push_one(b1.delete("contact", family["contact"], 1))["status"] == "applied"
    before = row(server, "contact", family["contact"])
    values = child_values("contact", family["customer"])
    for base_version in (0, before["version"]):
        restore = a1.create("contact", values, family["contact"])
        restore["base_version"] = base_version
        expect_rejected([a1.push_one(restore)], "forbidden")
    assert row(server, "contact", family["contact"]) == before


def test_manager_writes_own_team_only_and_admin_writes_all(server: LiveServer) -> None:
    """A manager may edit and add to a team member's customer but gets ``forbidden`` on
    another team's (nothing changes); the admin may edit and delete anything."""
    admin = server.login("admin")
    t1, t2 = new_team(server, 1), new_team(server, 1)
    own = new_family(t1.sales[0], "本组客户")
    other = new_family(t2.sales[0], "外组客户")
    m1 = t1.manager

    results = m1.push(
        [
            m1.update("customer", own["customer"], 1, {"city": ("上海", None)}),
            m1.update("deal", own["deal"], 1, {"stage": ("won", "initial")}),
            m1.create("contact", child_values("contact", own["customer"])),
        ]
    )
    assert [r["status"] for r in results] == ["applied"] * 3, results
    assert row(server, "customer", own["customer"])["city"] == "上海"
    assert row(server, "deal", own["deal"])["stage"] == "won"

    before = snapshot(server, other)
    attempts = [
        m1.update("customer", other["customer"], 1, {"city": ("上海", None)}),
        m1.delete("customer", other["customer"], 1),
        m1.create("follow_up", child_values("follow_up", other["customer"])),
        m1.update("deal", other["deal"], 1, {"stage": ("won", "initial")}),
        m1.delete("contact", other["contact"], 1),
    ]
    expect_batch_rejected(attempts, m1.push(attempts), "forbidden")
    assert snapshot(server, other) == before
    # And the other way round.
    expect_rejected(
        [
            t2.manager.push_one(
                t2.manager.update("customer", own["customer"], 2, {"city": ("x", "上海")})
            )
        ],
        "forbidden",
    )

    results = admin.push(
        [
            admin.update("customer", other["customer"], 1, {"city": ("北京", None)}),
            admin.delete("contact", other["contact"], 1),
            admin.create("deal", child_values("deal", other["customer"])),
            admin.delete("customer", own["customer"], 2),
        ]
    )
    assert [r["status"] for r in results] == ["applied"] * 4, results
    assert row(server, "customer", other["customer"])["city"] == "北京"
    assert row(server, "contact", other["contact"])["deleted"] is True
    assert all(row(server, *k)["deleted"] for k in keys(own))


# --- owner assignment -------------------------------------------------------------------


def test_owner_assignment_rules(server: LiveServer) -> None:
    """Sales may claim from and release to the pool but not hand a customer to anyone;
    a manager assigns within the team only; the admin to anyone; a missing or disabled
    user is ``invalid_owner``."""
    admin = server.login("admin")
    t1, t2 = new_team(server), new_team(server, 1)
    a1, b1 = t1.sales
    (c2,) = t2.sales
    m1 = t1.manager
    gone = server.add_user(Role.SALES, t1.name, "gone")
    write_transaction(server.engine, lambda conn: accounts.set_disabled(conn, gone, True))
    nobody = f"nobody{uuid.uuid4().hex[:8]}"

    def owner(cid: str) -> str | None:
        value: str | None = row(server, "customer", cid)["owner_id"]
        return value

    # Salesperson: claim from the pool, release to it; never give away.
    pooled = pool_family(server, admin)["customer"]
    assert set_owner(a1, server, pooled, a1.username)["status"] == "applied"
    assert owner(pooled) == a1.username
    assert set_owner(a1, server, pooled, None)["status"] == "applied"
    assert owner(pooled) is None
    target: str | None
    for target in (b1.username, c2.username, m1.username, "admin"):
        expect_rejected([set_owner(a1, server, pooled, target)], "forbidden")
        assert owner(pooled) is None
    mine, _ = a1.new_customer("我的")
    assert owner(mine) == a1.username
    for target in (b1.username, c2.username):
        expect_rejected([set_owner(a1, server, mine, target)], "forbidden")
    assert owner(mine) == a1.username
    # A new customer may not be created for someone else either.
    made = a1.create("customer", {"name": "代建", "status": "lead", "owner_id": b1.username})
    expect_rejected([a1.push_one(made)], "forbidden")
    made = a1.create("customer", {"name": "公海新建", "status": "lead", "owner_id": None})
    assert a1.push_one(made)["status"] == "applied"
    assert owner(made["record_id"]) == a1.username  # null means "mine" on create

    # Manager: within the team (and the pool), not across.
    targets: tuple[str | None, ...] = (b1.username, m1.username, None, a1.username)
    for target in targets:
        assert set_owner(m1, server, mine, target)["status"] == "applied", target
        assert owner(mine) == target
    expect_rejected([set_owner(m1, server, mine, c2.username)], "forbidden")
    expect_rejected([set_owner(m1, server, mine, "admin")], "forbidden")
    assert owner(mine) == a1.username

    # Admin: anyone active.
    targets = (c2.username, t2.manager.username, "admin", None, a1.username)
    for target in targets:
        assert set_owner(admin, server, mine, target)["status"] == "applied", target
        assert owner(mine) == target

    # Unknown or disabled owners, whoever asks.
    for client in (a1, m1, admin):
        for target in (nobody, gone):
            result = set_owner(client, server, mine, target)
            expect_rejected([result], "invalid_owner")
            assert result["fields"] == {"owner_id": "invalid_owner"}
    made = admin.create("customer", {"name": "无主", "status": "lead", "owner_id": nobody})
    expect_rejected([admin.push_one(made)], "invalid_owner")
    assert owner(mine) == a1.username


# --- revocation through the feed ----------------------------------------------------------


def test_reassignment_revokes_and_redelivers(server: LiveServer) -> None:
    """Moving a customer to another team's salesperson revokes it and its children from
    the old owner and their manager, and delivers them (customer first) to the new owner
    and theirs; moving it back reverses that without stale revokes."""
    admin = server.login("admin")
    t1, t2 = new_team(server, 1), new_team(server, 1)
    (a1,) = t1.sales
    (b2,) = t2.sales
    family = new_family(a1, "要转走的客户")
    cid = family["customer"]
    watchers = (a1, t1.manager, b2, t2.manager)
    cursors = {c.username: c.cursor_at_end() for c in watchers}

    assert set_owner(admin, server, cid, b2.username)["status"] == "applied"
    pulled = {}
    for client in watchers:
        pulled[client.username], cursors[client.username] = client.pull_all(
            cursors[client.username]
        )
    assert_revoked(pulled[a1.username], family)
    assert_revoked(pulled[t1.manager.username], family)
    assert_delivered(pulled[b2.username], family, b2.username)
    assert_delivered(pulled[t2.manager.username], family, b2.username)
    # The new owner may now work on it; the old one may not.
    assert (
        b2.push_one(b2.update("contact", family["contact"], 1, {"title": ("采购", None)}))["status"]
        == "applied"
    )
    expect_rejected(
        [a1.push_one(a1.update("deal", family["deal"], 1, {"probability": (50, None)}))],
        "forbidden",
    )

    assert set_owner(admin, server, cid, a1.username)["status"] == "applied"
    for client in watchers:
        pulled[client.username], cursors[client.username] = client.pull_all(
            cursors[client.username]
        )
    assert_delivered(pulled[a1.username], family, a1.username)
    assert_delivered(pulled[t1.manager.username], family, a1.username)
    assert_revoked(pulled[b2.username], family)
    assert_revoked(pulled[t2.manager.username], family)
    contact = next(c for c in pulled[a1.username] if c["id"] == family["contact"])
    assert contact["record"]["title"] == "采购"  # b2's edit comes along
    # A full pull from scratch has no revoke for what the user sees now.
    full, _ = a1.pull_all("")
    assert not by_op(full, "revoke") & keys(family)
    assert keys(family) <= by_op(full, "upsert")


def test_claiming_from_pool_revokes_from_other_salespeople(server: LiveServer) -> None:
    """A pool customer is seen by every salesperson; once one claims it, the others (of
    any team) and other teams' managers get revokes; the claimant's manager keeps it."""
    admin = server.login("admin")
    t1, t2 = new_team(server), new_team(server, 1)
    a1, b1 = t1.sales
    (c2,) = t2.sales
    watchers = (a1, b1, c2, t1.manager, t2.manager, admin)
    cursors = {c.username: c.cursor_at_end() for c in watchers}
    family = pool_family(server, admin)
    for client in watchers:
        changes, cursors[client.username] = client.pull_all(cursors[client.username])
        assert_delivered(changes, family, None)

    assert set_owner(a1, server, family["customer"], a1.username)["status"] == "applied"
    pulled = {}
    for client in watchers:
        pulled[client.username], _ = client.pull_all(cursors[client.username])
    for client in (b1, c2, t2.manager):
        assert_revoked(pulled[client.username], family)
    for client in (a1, t1.manager, admin):
        assert_delivered(pulled[client.username], family, a1.username)


def test_moving_a_contact_revokes_it_from_old_viewers(server: LiveServer) -> None:
    """A contact moved to a customer the old viewers cannot see is revoked from them and
    delivered to the new customer's viewers; a move within sight is a plain upsert."""
    admin = server.login("admin")
    t1, t2 = new_team(server), new_team(server, 1)
    a1, b1 = t1.sales
    (c2,) = t2.sales
    m1, m2 = t1.manager, t2.manager
    source = new_family(a1, "原客户")
    target = new_family(c2, "新客户")
    watchers = (a1, b1, c2, m1, m2)
    cursors = {c.username: c.cursor_at_end() for c in watchers}
    contact = {"contact": source["contact"]}

    move = admin.update(
        "contact", source["contact"], 1, {"customer_id": (target["customer"], source["customer"])}
    )
    assert admin.push_one(move)["status"] == "applied"
    pulled = {}
    for client in watchers:
        pulled[client.username], cursors[client.username] = client.pull_all(
            cursors[client.username]
        )
    for client in (a1, m1):
        assert_revoked(pulled[client.username], contact)
    for client in (c2, m2):
        changes = [c for c in pulled[client.username] if c["id"] == source["contact"]]
        assert [c["op"] for c in changes] == ["upsert"], changes
        assert changes[0]["record"]["customer_id"] == target["customer"]
    assert not by_op(pulled[b1.username], "upsert", "revoke") & keys(contact)

    # The manager moves a1's deal to b1's customer: a1 loses it, b1 gets it, m1 keeps it.
    other = new_family(b1, "同组客户")
    for client in watchers:
        cursors[client.username] = client.cursor_at_end()
    move = m1.update(
        "deal", source["deal"], 1, {"customer_id": (other["customer"], source["customer"])}
    )
    assert m1.push_one(move)["status"] == "applied"
    deal = {"deal": source["deal"]}
    for client in watchers:
        pulled[client.username], _ = client.pull_all(cursors[client.username])
    assert_revoked(pulled[a1.username], deal)
    for client in (b1, m1):
        changes = [c for c in pulled[client.username] if c["id"] == source["deal"]]
        assert [c["op"] for c in changes] == ["upsert"], changes
        assert changes[0]["record"]["customer_id"] == other["customer"]
    for client in (c2, m2):
        assert not by_op(pulled[client.username], "upsert", "revoke") & keys(deal)

    # Moved back, the contact returns to a1: after a1's pull (and after a full pull from
    # scratch) a1's replica holds it again under its first customer.
    cursor = a1.cursor_at_end()
    back = admin.update(
        "contact", source["contact"], 2, {"customer_id": (source["customer"], target["customer"])}
    )
    assert admin.push_one(back)["status"] == "applied"
    changes, _ = a1.pull_all(cursor)
    assert by_op(changes, "upsert") == keys(contact)
    for pulled_from in (changes, a1.pull_all("")[0]):
        held = replay(pulled_from)[("contact", source["contact"])]
        assert held is not None and held["customer_id"] == source["customer"]


# --- cursors and role changes -------------------------------------------------------------


def _raw_pull(client: ApiClient, cursor: str) -> httpx.Response:
    return client.http.get("/api/v1/sync/pull", params={"cursor": cursor})


def test_cursor_after_role_or_team_change_needs_resync(server: LiveServer) -> None:
    """A cursor taken before the user's role or team changed gets 410 resync_required (it
    would miss records that just became visible); a pull from scratch shows them."""
    team = new_team(server)
    u, v = team.sales
    theirs = new_family(v, "同事的客户")
    old_cursor = u.cursor_at_end()
    v_cursor = v.cursor_at_end()
    full, _ = u.pull_all("")
    assert not by_op(full, "upsert") & keys(theirs)

    set_role(server, u.username, Role.MANAGER)
    response = _raw_pull(u, old_cursor)
    assert response.status_code == 410, response.text
    assert response.json()["code"] == "resync_required"
    full, cursor = u.pull_all("")
    assert keys(theirs) <= by_op(full, "upsert")
    assert _raw_pull(u, cursor).status_code == 200
    assert _raw_pull(v, v_cursor).status_code == 200  # others' cursors stay good

    # A team change alone (same role) also invalidates the cursor.
    set_role(server, u.username, Role.MANAGER, f"t-{uuid.uuid4().hex[:10]}")
    response = _raw_pull(u, cursor)
    assert response.status_code == 410, response.text
    assert response.json()["code"] == "resync_required"
    full, cursor = u.pull_all("")
    assert not by_op(full, "upsert") & keys(theirs)
    assert _raw_pull(u, cursor).status_code == 200


def test_moving_a_salesperson_to_another_team_moves_their_customers(server: LiveServer) -> None:
    """The old team's manager gets revokes, the new team's manager gets the records; the
    salesperson keeps them (after a resync: their own cursor is outdated)."""
    old, new = new_team(server, 1), new_team(server, 1)
    (mover,) = old.sales
    family = new_family(mover, "跟人走的客户")
    old_cursor, new_cursor = old.manager.cursor_at_end(), new.manager.cursor_at_end()

    set_role(server, mover.username, Role.SALES, new.name)

    assert_revoked(old.manager.pull_all(old_cursor)[0], family)
    assert_delivered(new.manager.pull_all(new_cursor)[0], family, mover.username)
    assert keys(family) <= by_op(mover.pull_all("")[0], "upsert")
    assert _raw_pull(old.manager, old_cursor).status_code == 200  # managers keep cursors
