"""Bulk loading of records (demo data, benchmarks) and ``outpost-server seed-demo``."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select

from server import accounts
from server.accounts import Role
from server.feed import take_change_numbers
from server.models import TABLE_BY_ENTITY, AuditEntry, table_of
from server.records import record_to_wire
from sync.demo_data import CustomerFactory
from sync.schema import ENTITIES, new_record_id
from sync.validation import clean_values

_audit = table_of(AuditEntry)


def load_records(
    conn: Connection,
    entity: str,
    values: Sequence[dict[str, Any]],
    *,
    by: str,
    audit: bool = True,
    at: datetime | None = None,
) -> list[str]:
    """Insert new records (user fields, checked by the schema) as version 1 by ``by``.

    Change numbers are taken like any writer's, at the end; returns the new ids.
    """
    spec = ENTITIES[entity]
    moment = at or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for v in values:
        record_id = v.get("id") or new_record_id()
        clean = clean_values(spec, {k: x for k, x in v.items() if k != "id"}, for_create=True)
        if entity != "customer":
            clean["owner_id"] = None
        rows.append(
            {
                "id": record_id,
                **clean,
                "version": 1,
                "created_at": moment,
                "updated_at": moment,
                "updated_by": by,
                "deleted": False,
            }
        )
    if not rows:
        return []
    first = take_change_numbers(conn, len(rows))
    for offset, row in enumerate(rows):
        row["seq"] = first + offset
    conn.execute(insert(TABLE_BY_ENTITY[entity]), rows)
    if audit:
        conn.execute(
            insert(_audit),
            [
                {
                    "at": moment,
                    "username": by,
                    "entity": entity,
                    "record_id": row["id"],
                    "customer_id": row["id"] if entity == "customer" else row["customer_id"],
                    "op": "create",
                    "version": 1,
                    "changes": {
                        k: [None, v]
                        for k, v in record_to_wire(entity, row).items()
                        if spec.field(k).synced and v not in (None, [], False)
                    },
                    "client_id": None,
                    "mutation_id": None,
                }
                for row in rows
            ],
        )
    return [row["id"] for row in rows]


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    team: str | None
    share: float  # part of the demo customers this user owns


DEMO_PASSWORD = "outpost-demo"
DEMO_USERS = (
    DemoUser("admin", "Administrator 管理员", Role.ADMIN, None, 0.0),
    DemoUser("chen.jing", "陈静 (Sales manager)", Role.MANAGER, "east", 0.05),
    DemoUser("demo", "Demo 演示销售", Role.SALES, "east", 0.45),
    DemoUser("li.lei", "李雷 Li Lei", Role.SALES, "east", 0.30),
)


@dataclass(frozen=True)
class SeedReport:
    users_created: list[str]
    customers: int
    contacts: int
    follow_ups: int
    deals: int

    @property
    def already_seeded(self) -> bool:
        return self.customers == 0 and not self.users_created


def seed_demo(
    conn: Connection, *, customers: int = 300, password: str = DEMO_PASSWORD, seed: int = 11
) -> SeedReport:
    """Demo accounts and a few hundred realistic customers with their history.

    Does nothing to a database that already has customers (users that already exist are
    left as they are).
    """
    created: list[str] = []
    password_hash = accounts.hash_password(password)
    for user in DEMO_USERS:
        if accounts.find_account(conn, user.username) is None:
            accounts.add_user(
                conn,
                user.username,
                password,
                role=user.role,
                team=user.team,
                display_name=user.display_name,
                password_hash=password_hash,
            )
            created.append(user.username)
    table = TABLE_BY_ENTITY["customer"]
    if conn.execute(select(func.count()).select_from(table)).scalar_one() > 0:
        return SeedReport(created, 0, 0, 0, 0)

    factory = CustomerFactory(seed)
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    owners = _owner_picker(rnd)
    customer_rows, contacts, follow_ups, deals = [], [], [], []
    for i in range(customers):
        values = factory.customer_values()
        cid = new_record_id()
        values["id"] = cid
        values["owner_id"] = owners()
        if rnd.random() < 0.4:
            values["next_follow_up_at"] = now + timedelta(days=rnd.randrange(-3, 14), hours=2)
        customer_rows.append(values)
        for n in range(rnd.choice((1, 1, 2))):
            contacts.append(factory.contact_values(cid, values, primary=n == 0 and i % 3 != 0))
        for _ in range(rnd.choice((0, 1, 2, 3))):
            follow_ups.append(factory.follow_up_values(cid, now))
        if rnd.random() < 0.5:
            deals.append(factory.deal_values(cid, now))
    by = "admin"
    load_records(conn, "customer", customer_rows, by=by, at=now)
    load_records(conn, "contact", contacts, by=by, at=now)
    load_records(conn, "follow_up", follow_ups, by=by, at=now)
    load_records(conn, "deal", deals, by=by, at=now)
    return SeedReport(created, len(customer_rows), len(contacts), len(follow_ups), len(deals))


def _owner_picker(rnd: random.Random) -> Any:
    choices: list[tuple[str | None, float]] = [
        (u.username, u.share) for u in DEMO_USERS if u.share > 0
    ]
    choices.append((None, 1.0 - sum(share for _, share in choices)))  # the unassigned pool

    def pick() -> str | None:
        x = rnd.random()
        for owner, share in choices:
            if x < share:
                return owner
            x -= share
        return None

    return pick


def chunks(items: Iterable[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
