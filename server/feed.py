"""The change feed: ``GET /api/v1/sync/pull``.

Every change to a record gives the record a new change number (``seq``). Numbers are
taken by :func:`take_change_numbers` at the end of the writing transaction, under the
``feed_counter`` row lock, which is held until commit. A writer that took number 41 thus
commits before any other writer can take 42, so whenever a reader sees 42 it also sees 41:
a cursor that has passed 42 can never miss 41 later. (A plain sequence or auto-increment
would: 41 may commit after 42 was read.)

A page is cut in two steps: first the ``limit``-th change number after the cursor that the
account may see (the page boundary), then all visible changes up to it, read in one
repeatable-read snapshot. Changes are

* ``upsert`` — the full record at its version,
* ``delete`` — a tombstone (the record with ``deleted`` true), and
* ``revoke`` — the record left the account's sight (its customer changed owner): remove it
  from the replica.

A child record (contact, follow-up, deal) never arrives before its customer: if the
customer's latest change lies beyond the page, the customer rides along at the start of
the page (and comes again, unchanged, at its own place in the feed).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    func,
    select,
    union_all,
    update,
)

from server.accounts import Account, Role
from server.models import (
    CHILD_ENTITIES,
    TABLE_BY_ENTITY,
    FeedCounter,
    Revocation,
    ServerMeta,
    table_of,
)
from server.permissions import revocation_clause, visibility_fingerprint, visible_owner_clause
from server.records import record_to_wire, wire_columns

_customers = TABLE_BY_ENTITY["customer"]
_revocations = table_of(Revocation)
_counter = table_of(FeedCounter)
_meta = table_of(ServerMeta)

SERVER_ID_KEY = "server_id"
DEFAULT_PAGE = 1000
MAX_PAGE = 5000
_CURSOR_VERSION = 1


class CursorError(ValueError):
    """The cursor cannot be used: ``code`` says whether it is malformed or outdated."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PullPage:
    changes: list[dict[str, Any]]
    cursor: str
    has_more: bool
    # With ``count``: the visible changes after the request's cursor, this page's included
    # (the customers riding along at the start of a page are not counted: they come again
    # at their own place). None when not asked for.
    remaining: int | None = None


def take_change_numbers(conn: Connection, count: int) -> int:
    """Reserve ``count`` consecutive change numbers; return the first.

    Call it last in a writing transaction: the counter row stays locked until commit, which
    is what keeps change numbers in commit order.
    """
    last: int = conn.execute(
        update(_counter)
        .where(_counter.c.id == 1)
        .values(value=_counter.c.value + count)
        .returning(_counter.c.value)
    ).scalar_one()
    return last - count + 1


def reannounce_owner(conn: Connection, username: str, old_team: str | None) -> int:
    """``username`` moved from ``old_team`` to another team: who sees their customers
    changed. Revoke the customers and their children from those who saw them through the
    old team, and give them new change numbers so the new team's managers receive them.
    Returns how many records were re-announced."""
    cu = _customers
    customer_ids = list(
        conn.execute(select(cu.c.id).where(cu.c.owner_id == username).order_by(cu.c.id)).scalars()
    )
    if not customer_ids:
        return 0
    children: list[tuple[str, str, str]] = []  # (entity, id, customer id)
    for name in CHILD_ENTITIES:
        t = TABLE_BY_ENTITY[name]
        for start in range(0, len(customer_ids), 500):
            chunk = customer_ids[start : start + 500]
            children.extend(
                (name, rid, cid)
                for rid, cid in conn.execute(
                    select(t.c.id, t.c.customer_id)
                    .where(t.c.customer_id.in_(chunk), t.c.deleted.is_(False))
                    .order_by(t.c.id)
                )
            )
    revoked = [*children, *(("customer", cid, cid) for cid in customer_ids)]
    touched = [*(("customer", cid) for cid in customer_ids), *((e, r) for e, r, _ in children)]
    first = take_change_numbers(conn, len(revoked) + len(touched))
    conn.execute(
        _revocations.insert(),
        [
            {"seq": first + i, "entity": e, "record_id": r, "customer_id": c,
             "old_owner_id": username, "old_team": old_team}
            for i, (e, r, c) in enumerate(revoked)
        ],
    )  # fmt: skip
    seq = first + len(revoked)
    for name in ("customer", *CHILD_ENTITIES):
        t = TABLE_BY_ENTITY[name]
        rows = [{"b_id": r, "b_seq": 0} for e, r in touched if e == name]
        for row in rows:
            row["b_seq"] = seq
            seq += 1
        if rows:
            conn.execute(
                update(t).where(t.c.id == bindparam("b_id")).values(seq=bindparam("b_seq")), rows
            )
    return len(customer_ids) + len(children)


def server_id(conn: Connection) -> str:
    value: str = conn.execute(
        select(_meta.c.value).where(_meta.c.key == SERVER_ID_KEY)
    ).scalar_one()
    return value


def renew_server_id(conn: Connection) -> tuple[str, str]:
    """Give the database a new identity (after a backup was restored): every cursor
    handed out before is refused with 410, so clients pull everything again instead of
    skipping the change numbers the restored database hands out a second time. Returns
    (old, new)."""
    old = server_id(conn)
    new = str(uuid.uuid4())
    conn.execute(update(_meta).where(_meta.c.key == SERVER_ID_KEY).values(value=new))
    return old, new


def encode_cursor(server: str, seq: int, account: Account) -> str:
    doc = {"v": _CURSOR_VERSION, "db": server, "s": seq, "f": visibility_fingerprint(account)}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, server: str, account: Account) -> int:
    """The change number after which the page starts; empty cursor means the beginning."""
    if not cursor:
        return 0
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
        if not isinstance(doc, dict) or doc.get("v") != _CURSOR_VERSION:
            raise ValueError(cursor)
        seq = doc["s"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(cursor)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise CursorError("invalid_cursor", "the cursor is not one this server gave out") from None
    if doc.get("db") != server:
        raise CursorError(
            "resync_required", "the cursor belongs to another server database: sync from scratch"
        )
    if doc.get("f") != visibility_fingerprint(account):
        raise CursorError(
            "resync_required", "your role or team changed since this cursor: sync from scratch"
        )
    return seq


def _visible_seq_selects(account: Account, after: int, limit: int | None) -> list[Select[Any]]:
    """One ``SELECT seq`` per stream (four entities and the revocations), each bounded by
    ``limit`` (in change order) unless it is None."""

    def bounded(stmt: Select[Any], seq: Any) -> Select[Any]:
        return stmt if limit is None else stmt.order_by(seq).limit(limit)

    selects: list[Select[Any]] = []
    cu = _customers
    selects.append(
        bounded(
            select(cu.c.seq).where(cu.c.seq > after, visible_owner_clause(account, cu.c.owner_id)),
            cu.c.seq,
        )
    )
    for name in CHILD_ENTITIES:
        t = TABLE_BY_ENTITY[name]
        stmt = select(t.c.seq).where(t.c.seq > after)
        if account.role is not Role.ADMIN:
            stmt = stmt.join(cu, cu.c.id == t.c.customer_id).where(
                visible_owner_clause(account, cu.c.owner_id)
            )
        selects.append(bounded(stmt, t.c.seq))
    rv = _revocations
    selects.append(
        bounded(
            select(rv.c.seq)
            .join(cu, cu.c.id == rv.c.customer_id)
            .where(rv.c.seq > after, revocation_clause(account, cu.c.owner_id)),
            rv.c.seq,
        )
    )
    return selects


def count_after(conn: Connection, account: Account, after: int) -> int:
    """How many changes the account may see after change number ``after``: the page's own
    filters, unbounded. One COUNT per stream, summed in one statement."""
    counts = [
        select(func.count()).select_from(s.subquery()).scalar_subquery()
        for s in _visible_seq_selects(account, after, None)
    ]
    total: ColumnElement[Any] = counts[0]
    for part in counts[1:]:
        total = total + part
    found: int = conn.execute(select(total)).scalar_one()
    return found


def _page_boundary(conn: Connection, account: Account, after: int, limit: int) -> int | None:
    """The ``limit``-th visible change number after ``after``; None if there are fewer."""
    parts = [select(s.subquery().c.seq) for s in _visible_seq_selects(account, after, limit)]
    merged = union_all(*parts).subquery()
    stmt = select(merged.c.seq).order_by(merged.c.seq).limit(1).offset(limit - 1)
    boundary: int | None = conn.execute(stmt).scalar()
    return boundary


def pull(
    conn: Connection, account: Account, cursor: str, limit: int, *, count: bool = False
) -> PullPage:
    """One page of the account's feed after ``cursor``, in change order. With ``count``,
    also how many visible changes lie after ``cursor`` (:attr:`PullPage.remaining`), read
    in the page's snapshot."""
    server = server_id(conn)
    after = decode_cursor(cursor, server, account)
    committed: int = conn.execute(select(_counter.c.value).where(_counter.c.id == 1)).scalar_one()
    if after > committed:
        # The database is older than the cursor: restored from a backup. Changes numbered
        # again from there would be skipped.
        raise CursorError(
            "resync_required", "the server's database is older than this cursor: sync from scratch"
        )
    limit = max(1, min(limit, MAX_PAGE))
    boundary = _page_boundary(conn, account, after, limit)
    has_more = boundary is not None
    upper = boundary

    found: list[tuple[int, dict[str, Any]]] = []
    cu = _customers
    owner_ok = visible_owner_clause(account, cu.c.owner_id)
    ids_in_page: set[str] = set()
    parents_needed: set[str] = set()

    dialect = conn.dialect.name
    stmt = select(*wire_columns(cu, dialect)).where(cu.c.seq > after, owner_ok)
    if upper is not None:
        stmt = stmt.where(cu.c.seq <= upper)
    for row in conn.execute(stmt).mappings().all():
        found.append((row["seq"], _change("customer", row)))
        ids_in_page.add(row["id"])

    for name in CHILD_ENTITIES:
        t = TABLE_BY_ENTITY[name]
        if account.role is Role.ADMIN:
            # Everything is visible: no join. PostgreSQL hashed every customer to join a
            # page of children (a fifth of a full pull's database time); the parents that
            # must ride along are those changed after the page, usually none.
            in_page = (t.c.seq > after) if upper is None else t.c.seq.between(after + 1, upper)
            child_stmt = select(*wire_columns(t, dialect)).where(in_page)
            for row in conn.execute(child_stmt).mappings().all():
                found.append((row["seq"], _change(name, row)))
            if upper is not None:
                children = select(t.c.customer_id).where(in_page, t.c.deleted.is_(False))
                parents_needed.update(
                    conn.execute(
                        select(cu.c.id).where(cu.c.seq > upper, cu.c.id.in_(children))
                    ).scalars()
                )
            continue
        child_stmt = (
            select(*wire_columns(t, dialect), cu.c.seq.label("_parent_seq"))
            .join(cu, cu.c.id == t.c.customer_id)
            .where(t.c.seq > after, owner_ok)
        )
        if upper is not None:
            child_stmt = child_stmt.where(t.c.seq <= upper)
        for row in conn.execute(child_stmt).mappings().all():
            found.append((row["seq"], _change(name, row)))
            if not row["deleted"] and upper is not None and row["_parent_seq"] > upper:
                parents_needed.add(row["customer_id"])

    rv = _revocations
    rev_stmt = (
        select(rv)
        .join(cu, cu.c.id == rv.c.customer_id)
        .where(rv.c.seq > after, revocation_clause(account, cu.c.owner_id))
    )
    if upper is not None:
        rev_stmt = rev_stmt.where(rv.c.seq <= upper)
    for row in conn.execute(rev_stmt).mappings():
        found.append(
            (
                row["seq"],
                {
                    "seq": row["seq"],
                    "entity": row["entity"],
                    "id": row["record_id"],
                    "op": "revoke",
                    "version": None,
                    "record": None,
                },
            )
        )

    found.sort(key=lambda item: item[0])
    changes = [change for _, change in found]

    parents_needed -= ids_in_page
    if parents_needed:
        riders = conn.execute(
            select(*wire_columns(cu, dialect))
            .where(cu.c.id.in_(sorted(parents_needed)))
            .order_by(cu.c.seq)
        ).mappings()
        changes[:0] = [_change("customer", row) for row in riders]

    remaining: int | None = None
    if count:
        # On the last page the page itself is what remains (riders come only on pages
        # with more to follow): no COUNT for a sync with little or nothing to do.
        remaining = count_after(conn, account, after) if has_more else len(found)

    # At the end of the feed every number up to the committed counter value is committed
    # (commit order), so the next pull may start there and skip others' changes.
    last = upper if upper is not None else max(after, committed)
    return PullPage(changes, encode_cursor(server, last, account), has_more, remaining)


def _change(entity: str, row: Any) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "entity": entity,
        "id": row["id"],
        "op": "delete" if row["deleted"] else "upsert",
        "version": row["version"],
        "record": record_to_wire(entity, row),
    }
