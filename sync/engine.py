"""The sync engine: push the outbox, apply the answers, pull the feed, apply the pages.

One :meth:`SyncEngine.sync_once` is DESIGN §4's loop: push the queue in batches (each
answer applied in one replica transaction), pull pages until the feed is done (each page
and its cursor in one transaction), and push again if edits arrived meanwhile. Nothing in
here keeps state that the replica does not: killed at any point, the next run continues
from what was committed.

* **applied** — the outbox row goes; the record's base moves to the server's version.
* **conflict** — the outbox row goes and a row in the conflicts inbox takes its place,
  with mine / base / theirs per field; the fields the server took are merged.
* **rejected** — the row stays, marked failed with the server's reason; later edits of
  that record wait behind it, other records go on.

A customer's delete goes before the deletes of its children queued with it (a delete with
cascade): they wait while it is queued, so that a delete the server does not apply (a
conflict, a refusal) leaves the children on the server too.

A pulled record without local edits is overwritten. One with edits gets the server's
values as its new base and in every field the user has not changed; fields with pending
edits keep the user's values (their outbox rows keep their own base values, so the server
still sees a conflict). A record deleted or revoked on the server leaves the replica,
unless the user has edits of it: then it becomes a conflict the user decides.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from sync import ingest, outbox, search, wire
from sync.outbox import Mutation
from sync.replica import Replica, defer_indexes, restore_indexes
from sync.replica_models import CONFLICTS_TABLE, OUTBOX_TABLE, RESYNC_SEEN_TABLE, TABLE_BY_ENTITY
from sync.schema import CUSTOMER, ENTITIES, EntitySpec
from sync.transport import (
    AuthError,
    ChangeIn,
    MutationResultIn,
    OfflineError,
    ProtocolError,
    PullReply,
    RequestRejected,
    ResyncRequired,
    ServerClient,
    TransportError,
)

log = logging.getLogger(__name__)

_outbox = OUTBOX_TABLE
_conflicts = CONFLICTS_TABLE

CURSOR_KEY = "pull_cursor"
LAST_SYNC_KEY = "last_sync_at"
PUSH_BATCH = 200
# The server's largest page. Against 2,000, an initial sync of 800,000 records pays the
# fixed costs of a page (request, page boundary, transaction) 161 times instead of 401:
# about a tenth faster, for the same peak memory; a page's transaction holds the write
# lock for a few hundred milliseconds at most.
PULL_LIMIT = 5000
CHILD_ENTITIES = tuple(name for name, spec in ENTITIES.items() if spec.parent == "customer")


class SyncState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    SYNCING = "syncing"
    NEEDS_SIGN_IN = "needs_sign_in"
    ERROR = "error"


@dataclass(frozen=True)
class SyncStatus:
    """What the UI shows about sync; a new value is announced on every change."""

    state: SyncState
    pending: int = 0
    failed: int = 0
    conflicts: int = 0
    last_success: datetime | None = None
    # Progress of the pull: changes of the feed applied by the running (or last) sync, and
    # how many it will apply in all; None when the server does not say (an older server).
    done: int = 0
    total: int | None = None
    message: str | None = None


@dataclass
class SyncReport:
    """What one sync did."""

    pushed: int = 0
    applied: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0
    pages: int = 0
    requests: int = 0


Listener = Callable[[SyncStatus], None]


class SyncEngine:
    """Synchronises one replica with one server. Not thread-safe: one sync at a time
    (:meth:`run` in a background thread is the usual owner)."""

    def __init__(
        self,
        replica: Replica,
        client: ServerClient,
        *,
        push_batch: int = PUSH_BATCH,
        pull_limit: int = PULL_LIMIT,
    ) -> None:
        self.replica = replica
        self.client = client
        self.push_batch = push_batch
        self.pull_limit = pull_limit
        self._listeners: list[Listener] = []
        self._status = SyncStatus(SyncState.OFFLINE)
        self._status = self._counted(self._status)
        self._wake = threading.Event()
        self._progress = _Progress()

    # --- status -------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(status)`` on every status change (from the syncing thread)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    @property
    def status(self) -> SyncStatus:
        return self._status

    def _counted(self, status: SyncStatus) -> SyncStatus:
        with self.replica.read() as conn:
            counts = outbox.counts(conn)
            conflicts = conn.execute(select(func.count()).select_from(_conflicts)).scalar_one()
        last = self.replica.get_meta(LAST_SYNC_KEY)
        return replace(
            status,
            pending=counts["pending"],
            failed=counts["failed"],
            conflicts=int(conflicts),
            last_success=datetime.fromisoformat(last) if last else None,
        )

    def _announce(self, status: SyncStatus, *, recount: bool = True) -> None:
        self._status = self._counted(status) if recount else status
        for listener in list(self._listeners):
            try:
                listener(self._status)
            except Exception:  # a broken listener must not break sync
                log.exception("sync status listener failed")

    # --- one sync -----------------------------------------------------------------------

    def sync_once(self) -> SyncReport:
        """Push, pull, push again if needed. Raises the :mod:`sync.transport` errors after
        announcing the matching state; the queue is never emptied or reordered by one."""
        report = SyncReport()
        before = self.client.requests
        self._progress = _Progress()
        self._announce(SyncStatus(SyncState.SYNCING))
        try:
            self._push_all(report)
            self._pull_all(report)
            if self._pushable(limit=1):
                self._push_all(report)
        except AuthError as exc:
            self._announce(SyncStatus(SyncState.NEEDS_SIGN_IN, message=str(exc)))
            raise
        except OfflineError as exc:
            self._announce(SyncStatus(SyncState.OFFLINE, message=str(exc)))
            raise
        except (ProtocolError, RequestRejected, TransportError) as exc:
            self._announce(SyncStatus(SyncState.ERROR, message=str(exc)))
            raise
        except Exception as exc:  # a local failure (disk full, a bug): never stay "syncing"
            log.exception("sync failed")
            self._announce(SyncStatus(SyncState.ERROR, message=f"sync failed: {exc}"))
            raise
        report.requests = self.client.requests - before
        self.replica.set_meta(LAST_SYNC_KEY, datetime.now(UTC).isoformat())
        progress = self._progress
        self._announce(SyncStatus(SyncState.ONLINE, done=progress.done, total=progress.total))
        return report

    # --- push ---------------------------------------------------------------------------

    def _pushable(self, limit: int) -> list[Mutation]:
        """Pending mutations in queue order, except those behind a failed edit of the same
        record (it must be looked at first) and the deletes of children whose customer's
        delete is still queued (:func:`held_child_deletes`)."""
        with self.replica.read() as conn:
            blocked = {
                (e, r): seq
                for e, r, seq in conn.execute(
                    select(_outbox.c.entity, _outbox.c.record_id, func.min(_outbox.c.seq))
                    .where(_outbox.c.status == "failed")
                    .group_by(_outbox.c.entity, _outbox.c.record_id)
                )
            }
            held = held_child_deletes(conn)
            found: list[Mutation] = []
            offset = 0
            while len(found) < limit:
                page = outbox.list_mutations(conn, status="pending", limit=limit, offset=offset)
                if not page:
                    break
                offset += len(page)
                for m in page:
                    if m.seq in held:
                        continue
                    first_failed = blocked.get((m.entity, m.record_id))
                    if first_failed is None or m.seq < first_failed:
                        found.append(m)
        return found[:limit]

    def _push_all(self, report: SyncReport) -> None:
        while True:
            batch = self._pushable(self.push_batch)
            if not batch:
                return
            try:
                reply = self.client.push(self.replica.client_id, batch)
            except TransportError as exc:
                self._note_attempt(batch, str(exc))
                raise
            with self.replica.write() as conn:
                for mutation, result in zip(batch, reply.results, strict=True):
                    apply_push_result(conn, mutation, result)
            report.pushed += len(batch)
            for result in reply.results:
                if result.status == "applied":
                    report.applied += 1
                elif result.status == "conflict":
                    report.conflicts += 1
                else:
                    report.rejected += 1
            self._announce(replace(self._status, state=SyncState.SYNCING))

    def _note_attempt(self, batch: Sequence[Mutation], error: str) -> None:
        with self.replica.write() as conn:
            conn.execute(
                update(_outbox)
                .where(_outbox.c.seq.in_([m.seq for m in batch]))
                .values(attempts=_outbox.c.attempts + 1, last_error=error[:500])
            )

    # --- pull ---------------------------------------------------------------------------

    def _pull_all(self, report: SyncReport) -> None:
        # While a page is applied, the next one is already asked for (its cursor came with
        # the page): the server prepares it as we write. The replica sees pages one by one
        # as before: a page is applied only after the one before it committed with its
        # cursor, and a failed request of the next page raises only once we come to it,
        # so a failure loses or skips nothing.
        ahead: _Prefetch | None = None
        self._defer_indexes_if_empty()
        # The first page of a sync asks how many changes are waiting (one COUNT on the
        # server), for the progress total; the pages after it do not.
        first = True
        try:
            while True:
                cursor = self.replica.get_meta(CURSOR_KEY) or ""
                asked, ahead = ahead, None
                try:
                    if asked is not None and asked.cursor == cursor:
                        page = asked.result()
                    else:
                        if asked is not None:
                            asked.discard()
                        page = self.client.pull(cursor, self.pull_limit, count=first)
                except ResyncRequired:
                    log.warning("the server asks for a full resync")
                    with self.replica.write() as conn:
                        start_resync(conn, self.replica)
                    self._progress = _Progress()
                    first = True
                    continue
                if first and page.remaining is not None:
                    self._progress.total = self._progress.done + page.remaining
                first = False
                if page.has_more:
                    ahead = _Prefetch(self.client, page.cursor, self.pull_limit)
                self._apply_page(page, report)
                if not page.has_more:
                    return
        except BaseException:
            self._restore_indexes()
            raise
        finally:
            if ahead is not None:
                ahead.discard()  # never leave a request running on the client

    def _defer_indexes_if_empty(self) -> None:
        """An initial sync into an empty replica loads its tables without their secondary
        indexes; the page that ends the pull builds them (:func:`sync.replica.defer_indexes`).
        Cut short by an error they are built at once, by a kill when the replica is next
        opened: they are missing only while the initial sync runs."""
        if self.replica.get_meta(CURSOR_KEY):
            return
        with self.replica.write() as conn:
            tables = (*TABLE_BY_ENTITY.values(), _outbox)
            if not any(
                conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {t.name})").scalar()
                for t in tables
            ):
                defer_indexes(conn)

    def _restore_indexes(self) -> None:
        try:
            with self.replica.write() as conn:
                restore_indexes(conn)
        except Exception:  # the error that stopped the pull matters more
            log.exception("cannot build the replica's indexes now; the next start will")

    def _apply_page(self, page: PullReply, report: SyncReport) -> None:
        """One page and its cursor in one transaction."""
        with self.replica.write() as conn:
            apply_pull_page(conn, page.changes)
            resyncing = self.replica.get_meta(RESYNC_KEY) == "1"
            if resyncing:
                mark_seen(conn, page.changes)
                if not page.has_more:
                    finish_resync(conn, self.replica)
            if not page.has_more:
                restore_indexes(conn)
            self.replica.set_meta(CURSOR_KEY, page.cursor, conn)
        report.pulled += len(page.changes)
        report.pages += 1
        progress = self._progress
        progress.advance(page)
        self._announce(
            SyncStatus(SyncState.SYNCING, done=progress.done, total=progress.total),
            recount=not page.has_more,
        )

    # --- background loop ----------------------------------------------------------------

    def request_sync(self) -> None:
        """Ask :meth:`run` to sync now ("sync now" button, a local edit)."""
        self._wake.set()

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        """Sync until ``stop`` is set: every ``interval`` seconds, at once when asked, and
        after failures with exponential backoff (honouring the server's Retry-After). Stops
        on an authentication error: only signing in again helps."""
        backoff = backoff or Backoff()
        while not stop.is_set():
            # Cleared before the sync, not after: a request_sync() made while it runs (an
            # edit, "sync now") must start the next sync at once instead of being lost.
            self._wake.clear()
            try:
                self.sync_once()
                backoff.reset()
                wait = interval
            except AuthError:
                return
            except OfflineError as exc:
                wait = backoff.next_delay(exc.retry_after)
            except TransportError:
                wait = backoff.next_delay()
            # Wait for the interval, a request_sync() or the stop, whichever comes first.
            deadline = time.monotonic() + wait
            while not stop.is_set() and not self._wake.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(min(remaining, 0.25))
            if stop.is_set():
                return


@dataclass
class _Progress:
    """How far the pull of one sync is, counted in changes of the feed: a customer riding
    along at the start of a page (ahead of its own place, for a child in the page) is not
    counted there, since the server counts it only at its own place."""

    done: int = 0
    total: int | None = None

    def advance(self, page: PullReply) -> None:
        changes = page.changes
        if changes:
            # Riders have change numbers beyond the page's last change; the rest are in
            # order up to it.
            last = changes[-1].seq
            self.done += sum(1 for c in changes if c.seq <= last)
        if self.total is not None:
            # Changes committed after the count arrive too: the total grows with them, and
            # is exact once the feed is done.
            self.total = self.done if not page.has_more else max(self.total, self.done)


class _Prefetch:
    """One pull request running in a thread of its own while the engine applies the page
    before it. The client is used by one thread at a time: the engine does not touch it
    until :meth:`result` or :meth:`discard` has waited for the request to end."""

    def __init__(self, client: ServerClient, cursor: str, limit: int) -> None:
        self.cursor = cursor
        self._reply: PullReply | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(client, cursor, limit), name="outpost-pull", daemon=True
        )
        self._thread.start()

    def _run(self, client: ServerClient, cursor: str, limit: int) -> None:
        try:
            self._reply = client.pull(cursor, limit)
        except BaseException as exc:  # handed to the engine's thread by result()
            self._error = exc

    def result(self) -> PullReply:
        """The page, or the error the request ended with (raised here, as if the request
        had been made now)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._reply is not None
        return self._reply

    def discard(self) -> None:
        """Wait for the request to end and forget its answer."""
        self._thread.join()


@dataclass
class Backoff:
    """Exponential backoff with full jitter and a cap."""

    base: float = 1.0
    cap: float = 300.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self, retry_after: float | None = None) -> float:
        self.attempt += 1
        delay = self.rng.uniform(0, min(self.cap, self.base * 2 ** min(self.attempt, 20)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def reset(self) -> None:
        self.attempt = 0


# --- applying push results ---------------------------------------------------------------


def apply_push_result(conn: Connection, mutation: Mutation, result: MutationResultIn) -> None:
    """Apply the server's answer to one pushed mutation (in the caller's transaction)."""
    if result.status == "rejected":
        # "blocked": refused only because an earlier edit of the record in the batch was;
        # it stays pending behind that one (and goes again once that is dealt with).
        blocked = result.code == "blocked"
        conn.execute(
            update(_outbox)
            .where(_outbox.c.seq == mutation.seq)
            .values(
                status="pending" if blocked else "failed",
                attempts=_outbox.c.attempts + 1,
                last_error=f"{result.code}: {result.message}"[:500],
            )
        )
        return
    exists = conn.execute(select(_outbox.c.seq).where(_outbox.c.seq == mutation.seq)).first()
    if exists is None:
        return  # answered before (a retried push): nothing left to do
    conn.execute(delete(_outbox).where(_outbox.c.seq == mutation.seq))
    spec = ENTITIES[mutation.entity]
    table = TABLE_BY_ENTITY[spec.name]
    row = conn.execute(select(table).where(table.c.id == mutation.record_id)).mappings().first()
    if row is None:
        return
    if result.status == "applied":
        _applied(conn, spec, mutation, result, dict(row))
    else:
        _conflicted(conn, spec, mutation, result, dict(row))


def _queued_fields(conn: Connection, entity: str, record_id: str) -> tuple[set[str], bool, bool]:
    """(fields with queued edits, whether anything is queued, whether a delete is)."""
    names: set[str] = set()
    queued = False
    deleting = False
    for m in outbox.list_mutations(conn, record_id=record_id):
        if m.entity != entity:
            continue
        queued = True
        names.update(m.fields)
        deleting = deleting or m.op == "delete"
    return names, queued, deleting


def _has_conflict(conn: Connection, entity: str, record_id: str) -> bool:
    found = conn.execute(
        select(_conflicts.c.id).where(
            _conflicts.c.entity == entity, _conflicts.c.record_id == record_id
        )
    ).first()
    return found is not None


def _conflict_kind(conn: Connection, entity: str, record_id: str) -> str | None:
    kind: str | None = conn.execute(
        select(_conflicts.c.kind).where(
            _conflicts.c.entity == entity, _conflicts.c.record_id == record_id
        )
    ).scalar()
    return kind


def _conflict_fields(conn: Connection, entity: str, record_id: str) -> set[str]:
    raw = conn.execute(
        select(_conflicts.c.fields).where(
            _conflicts.c.entity == entity, _conflicts.c.record_id == record_id
        )
    ).scalar()
    return {d["field"] for d in wire.loads(raw)} if raw else set()


def _children_have_edits(conn: Connection, customer_id: str) -> bool:
    for name in CHILD_ENTITIES:
        table = TABLE_BY_ENTITY[name]
        children = select(table.c.id).where(table.c.customer_id == customer_id)
        found = conn.execute(
            select(_outbox.c.seq)
            .where(_outbox.c.entity == name, _outbox.c.record_id.in_(children))
            .limit(1)
        ).first()
        if found is not None:
            return True
    return False


def _drop_clean_children(conn: Connection, customer_id: str) -> bool:
    """Remove the customer's children that have no queued edit; True if any remain."""
    remain = False
    for name in CHILD_ENTITIES:
        table = TABLE_BY_ENTITY[name]
        queued = select(_outbox.c.record_id).where(_outbox.c.entity == name)
        conn.execute(
            delete(table).where(table.c.customer_id == customer_id, table.c.id.not_in(queued))
        )
        left = conn.execute(
            select(table.c.id).where(table.c.customer_id == customer_id).limit(1)
        ).first()
        remain = remain or left is not None
    return remain


def held_child_deletes(conn: Connection) -> set[int]:
    """Outbox seqs of child deletes held back because a delete of their customer is queued
    (pending or failed). The customer's delete goes first: if the server applies it, its
    children go with it; if it conflicts or is refused, the children's deletes have not
    reached the server, so that keeping the customer (or discarding the failed delete)
    keeps its children as the server has them."""
    deleting = select(_outbox.c.record_id).where(
        _outbox.c.entity == CUSTOMER.name, _outbox.c.op == "delete"
    )
    if conn.execute(deleting.limit(1)).first() is None:
        return set()  # the usual case: no customer delete queued
    held: set[int] = set()
    for name in CHILD_ENTITIES:
        table = TABLE_BY_ENTITY[name]
        held.update(
            conn.execute(
                select(_outbox.c.seq)
                .join(table, table.c.id == _outbox.c.record_id)
                .where(
                    _outbox.c.entity == name,
                    _outbox.c.op == "delete",
                    table.c.customer_id.in_(deleting),
                )
            ).scalars()
        )
    return held


# The repository queues a cascade's child deletes right before the customer's, in the same
# transaction; an edit made by hand a moment before is not taken for one of them.
CASCADE_WINDOW = timedelta(seconds=2)


def cascade_deletes(conn: Connection, customer_delete: Mutation) -> list[Mutation]:
    """The child deletes queued together with ``customer_delete`` (a delete with
    ``cascade=True``): the deletes of its children immediately before it in the outbox,
    with consecutive seq numbers (one transaction), made at most
    :data:`CASCADE_WINDOW` before it. An earlier, separate delete of one of its children is
    not one of them (it is a decision of its own)."""
    if customer_delete.entity != CUSTOMER.name or customer_delete.op != "delete":
        return []
    children: set[tuple[str, str]] = set()
    for name in CHILD_ENTITIES:
        table = TABLE_BY_ENTITY[name]
        children.update(
            (name, i)
            for i in conn.execute(
                select(table.c.id).where(table.c.customer_id == customer_delete.record_id)
            ).scalars()
        )
    if not children:
        return []
    earliest = customer_delete.created_at - CASCADE_WINDOW
    found: list[Mutation] = []
    expected = customer_delete.seq - 1
    rows = conn.execute(
        select(_outbox)
        .where(_outbox.c.seq < customer_delete.seq, _outbox.c.seq >= expected - len(children))
        .order_by(_outbox.c.seq.desc())
    )
    for row in rows:
        m = outbox.to_mutation(row)
        if (
            m.seq != expected
            or m.op != "delete"
            or (m.entity, m.record_id) not in children
            or m.created_at < earliest
        ):
            break
        found.append(m)
        expected -= 1
    found.reverse()
    return found


def _applied(
    conn: Connection,
    spec: EntitySpec,
    mutation: Mutation,
    result: MutationResultIn,
    row: dict[str, Any],
) -> None:
    version = result.version if result.version is not None else row["version"]
    if mutation.op == "delete":
        _, queued, _ = _queued_fields(conn, spec.name, mutation.record_id)
        if queued:
            return
        # A customer: the server's delete took its children along, so those without queued
        # edits leave the replica with it. Those with edits (their own deletes, held back
        # until now) stay until the server has answered them; so does the customer's row,
        # which the pull then removes with its tombstone.
        if spec is CUSTOMER and _drop_clean_children(conn, mutation.record_id):
            return
        remove_records(conn, spec.name, [mutation.record_id])
        return
    if result.version is not None and result.version == mutation.base_version + 1:
        # Nobody else changed the record in between: later edits of it were made on top of
        # this one, so they are based on the new version.
        conn.execute(
            update(_outbox)
            .where(
                _outbox.c.entity == spec.name,
                _outbox.c.record_id == mutation.record_id,
                _outbox.c.base_version == mutation.base_version,
            )
            .values(base_version=version)
        )
    _, queued, _ = _queued_fields(conn, spec.name, mutation.record_id)
    if not queued and not _has_conflict(conn, spec.name, mutation.record_id):
        values: dict[str, Any] = {"version": version, "base": None}
    else:
        base = _base_of(spec, row)
        base.update({k: v.new for k, v in mutation.fields.items()})
        values = {"version": version, "base": wire.dumps(base)}
    table = TABLE_BY_ENTITY[spec.name]
    conn.execute(update(table).where(table.c.id == mutation.record_id).values(values))


def _base_of(spec: EntitySpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """The record's last known server values (wire-encoded synced fields)."""
    if row["base"]:
        base: dict[str, Any] = wire.loads(row["base"])
        return base
    return {f.name: wire.encode_value(f, row[f.name]) for f in spec.synced_fields}


def _conflicted(
    conn: Connection,
    spec: EntitySpec,
    mutation: Mutation,
    result: MutationResultIn,
    row: dict[str, Any],
) -> None:
    server = result.record or {}
    details = [c.model_dump() for c in (result.conflicts or [])]
    if result.kind == "delete_vs_change" and not details:
        details = []
    record_conflict(
        conn,
        spec.name,
        mutation.record_id,
        kind=result.kind or "field",
        server_version=result.version,
        server_record=server or None,
        fields=details,
        mutation_id=mutation.mutation_id,
    )
    if result.kind == "delete_vs_change" and spec is CUSTOMER:
        # The children's deletes queued with this one (delete with cascade) were held back
        # and never reached the server. They are part of the customer's delete, which is
        # now the user's to decide: keep brings the children back with the customer,
        # delete deletes the customer again and the server takes its children along. The
        # children stay hidden (local tombstones without a queued edit) until then.
        for child in cascade_deletes(conn, mutation):
            conn.execute(delete(_outbox).where(_outbox.c.seq == child.seq))
    if not server:
        return
    # Merge: the server's record is the new base; fields the user is not fighting over and
    # has no queued edits of take the server's values.
    decoded = decode_record(spec, server)
    pending, _, _ = _queued_fields(conn, spec.name, mutation.record_id)
    keep = pending | {d["field"] for d in details}
    values: dict[str, Any] = {
        "version": result.version if result.version is not None else row["version"],
        "base": wire.dumps({f.name: server.get(f.name) for f in spec.synced_fields}),
    }
    if result.kind == "field":
        for f in spec.synced_fields:
            if f.name not in keep:
                values[f.name] = decoded[f.name]
    for name in ("updated_at", "updated_by", "created_at"):
        values[name] = decoded[name]
    _write_row(conn, spec, row, values)


def record_conflict(
    conn: Connection,
    entity: str,
    record_id: str,
    *,
    kind: str,
    server_version: int | None,
    server_record: Mapping[str, Any] | None,
    fields: list[dict[str, Any]],
    mutation_id: str | None,
) -> None:
    """Open (or add to) the record's conflict in the inbox."""
    existing = conn.execute(
        select(_conflicts.c.id, _conflicts.c.fields).where(
            _conflicts.c.entity == entity, _conflicts.c.record_id == record_id
        )
    ).first()
    values = {
        "kind": kind,
        "server_version": server_version,
        "server_record": wire.dumps(server_record) if server_record is not None else None,
        "mutation_id": mutation_id,
    }
    if existing is None:
        conn.execute(
            insert(_conflicts).values(
                entity=entity,
                record_id=record_id,
                fields=wire.dumps(fields),
                created_at=datetime.now(UTC),
                **values,
            )
        )
        return
    merged = {d["field"]: d for d in wire.loads(existing.fields)}
    merged.update({d["field"]: d for d in fields})
    conn.execute(
        update(_conflicts)
        .where(_conflicts.c.id == existing.id)
        .values(fields=wire.dumps(list(merged.values())), **values)
    )


# --- applying pulled pages ---------------------------------------------------------------


def decode_record(spec: EntitySpec, record: Mapping[str, Any]) -> dict[str, Any]:
    """A wire record (every field) as Python values; :class:`ProtocolError` if malformed
    (a value of the wrong type, a missing required value, an unknown choice, too long:
    :func:`sync.ingest.record_rules`, the same rules the fast path of a pull applies)."""
    try:
        decoded = {f.name: wire.decode_value(f, record.get(f.name)) for f in spec.fields}
        ingest.check_rules(spec.name, decoded)
    except wire.WireError as exc:
        raise ProtocolError(f"malformed {spec.name} from the server: {exc}") from None
    return decoded


def apply_pull_page(conn: Connection, changes: Sequence[ChangeIn]) -> None:
    """Apply one page of the feed (in the caller's transaction, with its cursor)."""
    clean: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
    gone: dict[str, list[str]] = {name: [] for name in ENTITIES}
    flagged = _with_edits_or_conflicts(conn, changes)
    for change in changes:
        spec = ENTITIES[change.entity]
        if change.op != "revoke" and change.record is None:
            raise ProtocolError(f"{change.entity} {change.id}: a change without its record")
        pending: set[str] = set()
        queued = deleting = conflicted = False
        # Only records the page-wide look-up flagged (and removed customers, whose children
        # may carry edits) need a closer look; nothing in this loop queues an edit or opens
        # a conflict for any other record than the one at hand.
        if (spec.name, change.id) in flagged or (spec.name == "customer" and change.op != "upsert"):
            pending, queued, deleting = _queued_fields(conn, spec.name, change.id)
            conflicted = _has_conflict(conn, spec.name, change.id)
            if conflicted:
                # Fields in an open conflict keep the user's value until they decide.
                pending |= _conflict_fields(conn, spec.name, change.id)
            if spec.name == "customer" and change.op != "upsert" and not queued:
                # Its children go with it: edits queued on them must not vanish silently.
                queued = _children_have_edits(conn, change.id)
        if not queued and not conflicted:
            if change.op == "upsert":
                assert change.record is not None
                if change.record.get("id") != change.id:
                    raise ProtocolError(f"{change.entity} {change.id}: record id differs")
                clean[spec.name][change.id] = change.record  # checked as it is stored
                if gone[spec.name]:
                    gone[spec.name] = [i for i in gone[spec.name] if i != change.id]
            else:
                clean[spec.name].pop(change.id, None)
                gone[spec.name].append(change.id)
            continue
        _merge_pulled(conn, spec, change, pending, deleting)
    for name in ("customer", *CHILD_ENTITIES):
        if clean[name]:
            _store_clean(conn, name, list(clean[name].values()))
    for name in (*CHILD_ENTITIES, "customer"):
        if gone[name]:
            remove_records(conn, name, gone[name], cascade=True)


def _with_edits_or_conflicts(conn: Connection, changes: Sequence[ChangeIn]) -> set[tuple[str, str]]:
    """(entity, id) of the page's records that have queued edits or an open conflict: a few
    set-wise queries per page instead of two look-ups per change."""
    found: set[tuple[str, str]] = set()
    tables = [
        t.name
        for t in (_outbox, _conflicts)
        if conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {t.name})").scalar()
    ]
    if not tables:
        return found  # nothing queued, no conflict: the usual case of a long pull
    ids: dict[str, dict[str, None]] = {}
    for change in changes:
        ids.setdefault(change.entity, {})[change.id] = None
    for name, unique in ids.items():
        record_ids = list(unique)
        for start in range(0, len(record_ids), 500):
            chunk = (name, *record_ids[start : start + 500])
            marks = ", ".join("?" * (len(chunk) - 1))
            for table in tables:
                sql = f"SELECT record_id FROM {table} WHERE entity = ? AND record_id IN ({marks})"
                found.update((name, r) for r in conn.exec_driver_sql(sql, chunk).scalars())
    return found


def _store_clean(conn: Connection, entity: str, records: list[dict[str, Any]]) -> None:
    """Store pulled records without local edits: wire values go straight to their stored
    form (:mod:`sync.ingest`), checked by the same rules as :func:`decode_record`."""
    try:
        ingest.store_wire_records(conn, entity, records)
    except wire.WireError as exc:
        raise ProtocolError(f"malformed {entity} from the server: {exc}") from None


def _merge_pulled(
    conn: Connection, spec: EntitySpec, change: ChangeIn, pending: set[str], deleting: bool
) -> None:
    table = TABLE_BY_ENTITY[spec.name]
    row = conn.execute(select(table).where(table.c.id == change.id)).mappings().first()
    kind = _conflict_kind(conn, spec.name, change.id)
    if change.op in ("delete", "revoke"):
        if row is None:
            return
        if deleting or kind == "delete_vs_change":
            # Both sides want it gone (a delete here that met a change there, and now the
            # record is deleted there too: nothing left to decide).
            conn.execute(
                delete(_outbox).where(
                    _outbox.c.entity == spec.name, _outbox.c.record_id == change.id
                )
            )
            conn.execute(
                delete(_conflicts).where(
                    _conflicts.c.entity == spec.name, _conflicts.c.record_id == change.id
                )
            )
            if spec is CUSTOMER:
                # Its children leave with it; their deletes (held behind the customer's)
                # have nothing left to do.
                for name in CHILD_ENTITIES:
                    ct = TABLE_BY_ENTITY[name]
                    children = select(ct.c.id).where(ct.c.customer_id == change.id)
                    conn.execute(
                        delete(_outbox).where(
                            _outbox.c.entity == name,
                            _outbox.c.op == "delete",
                            _outbox.c.record_id.in_(children),
                        )
                    )
            remove_records(conn, spec.name, [change.id], cascade=True)
            return
        # Edited here, deleted (or taken away) there: the user decides. The queued edits
        # are kept in the conflict as "mine".
        mine = dict(row)
        details = [
            {
                "field": name,
                "mine": wire.encode_value(spec.field(name), mine[name]),
                "base": _base_of(spec, mine).get(name),
                "theirs": None,
                "changed_by": change.record.get("updated_by") if change.record else None,
                "changed_at": change.record.get("updated_at") if change.record else None,
            }
            for name in sorted(pending)
        ]
        record_conflict(
            conn,
            spec.name,
            change.id,
            kind="deleted",
            server_version=change.version,
            server_record=change.record,
            fields=details,
            mutation_id=None,
        )
        conn.execute(
            delete(_outbox).where(_outbox.c.entity == spec.name, _outbox.c.record_id == change.id)
        )
        if change.version is not None:
            conn.execute(
                update(table).where(table.c.id == change.id).values(version=change.version)
            )
        return
    assert change.record is not None
    decoded = decode_record(spec, change.record)
    if row is None:
        return  # queued edits of a record we do not hold: nothing to merge into
    if kind == "delete_vs_change":
        # Deleted here, changed there, and changed there again: "keep" must take back the
        # server's latest record, and "delete" must be based on its latest version.
        conn.execute(
            update(_conflicts)
            .where(_conflicts.c.entity == spec.name, _conflicts.c.record_id == change.id)
            .values(server_version=change.version, server_record=wire.dumps(change.record))
        )
    values: dict[str, Any] = {
        "version": decoded["version"],
        "base": wire.dumps({f.name: change.record.get(f.name) for f in spec.synced_fields}),
        "updated_at": decoded["updated_at"],
        "updated_by": decoded["updated_by"],
        "created_at": decoded["created_at"],
    }
    for f in spec.synced_fields:
        if f.name not in pending:
            values[f.name] = decoded[f.name]
    _write_row(conn, spec, dict(row), values)


def _write_row(
    conn: Connection, spec: EntitySpec, row: Mapping[str, Any], values: dict[str, Any]
) -> None:
    table = TABLE_BY_ENTITY[spec.name]
    if spec is CUSTOMER:
        merged = {**row, **values}
        derived = search.customer_search_columns(merged)
        values.update(derived)
        if derived["search_text"] != row["search_text"]:
            search.unindex_rows(conn, [(row["row_id"], row["search_text"])])
            search.index_row(conn, row["row_id"], derived["search_text"])
    conn.execute(update(table).where(table.c.id == row["id"]).values(values))


def remove_records(
    conn: Connection, entity: str, record_ids: Iterable[str], *, cascade: bool = False
) -> None:
    """Delete records from the replica (not a user edit: nothing is queued). With
    ``cascade``, a customer's children go too: callers keep a customer whose children
    carry edits (``_children_have_edits``, :func:`finish_resync`)."""
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return
    table = TABLE_BY_ENTITY[entity]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if entity == "customer":
            if cascade:
                for child in CHILD_ENTITIES:
                    ct = TABLE_BY_ENTITY[child]
                    conn.execute(delete(ct).where(ct.c.customer_id.in_(chunk)))
            rows = conn.execute(
                select(table.c.row_id, table.c.search_text).where(table.c.id.in_(chunk))
            ).all()
            search.unindex_rows(conn, [(r[0], r[1]) for r in rows])
        conn.execute(delete(table).where(table.c.id.in_(chunk)))


# --- full resync (410) ------------------------------------------------------------------

RESYNC_KEY = "resync"


def start_resync(conn: Connection, replica: Replica) -> None:
    """Start pulling from scratch; records the full pull does not bring back are dropped
    at its end (unless they carry local edits)."""
    conn.exec_driver_sql("DELETE FROM resync_seen")
    replica.set_meta(RESYNC_KEY, "1", conn)
    replica.set_meta(CURSOR_KEY, "", conn)


def mark_seen(conn: Connection, changes: Sequence[ChangeIn]) -> None:
    rows = [{"e": c.entity, "r": c.id} for c in changes if c.op != "revoke"]
    if rows:
        conn.execute(
            insert(RESYNC_SEEN_TABLE).prefix_with("OR IGNORE"),
            [{"entity": r["e"], "record_id": r["r"]} for r in rows],
        )


def finish_resync(conn: Connection, replica: Replica) -> None:
    for name in (*CHILD_ENTITIES, "customer"):
        table = TABLE_BY_ENTITY[name]
        seen = select(RESYNC_SEEN_TABLE.c.record_id).where(RESYNC_SEEN_TABLE.c.entity == name)
        queued = select(_outbox.c.record_id).where(_outbox.c.entity == name)
        conditions = [table.c.id.not_in(seen), table.c.id.not_in(queued), table.c.version > 0]
        if name == "customer":
            # A customer whose children carry edits stays (with them) until those are
            # sent or refused: removing it would take the edited children along.
            for child in CHILD_ENTITIES:
                ct = TABLE_BY_ENTITY[child]
                edited = select(_outbox.c.record_id).where(_outbox.c.entity == child)
                conditions.append(
                    table.c.id.not_in(select(ct.c.customer_id).where(ct.c.id.in_(edited)))
                )
        stale = conn.execute(select(table.c.id).where(*conditions)).scalars()
        remove_records(conn, name, list(stale), cascade=True)
    conn.exec_driver_sql("DELETE FROM resync_seen")
    replica.set_meta(RESYNC_KEY, "0", conn)
