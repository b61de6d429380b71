"""The repository API over the replica: what the app and the command line use.

Every create, update and delete writes the record **and** exactly one outbox row in one
transaction (a customer delete with ``cascade=True`` writes one row per deleted record, all
in the same transaction). Reads return immutable :class:`Record` values.

Each write returns a :class:`Change` — which record, which fields, which mutation — so the
app can announce what changed and refresh only the rows concerned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    and_,
    case,
    column,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from sync import outbox, search, wire
from sync.outbox import FieldChange
from sync.replica_models import CONFLICTS_TABLE, OUTBOX_TABLE, TABLE_BY_ENTITY
from sync.schema import CUSTOMER, ENTITIES, EntitySpec, FieldKind, new_record_id
from sync.validation import FieldError, ValidationError, clean_value, clean_values

if TYPE_CHECKING:
    from sync.replica import Replica

# What the user sees of a record's way to the server. When several apply, the first wins:
# an open conflict (the user must decide), then a failed edit (the server refused it: the
# user must fix it), then edits waiting to be sent, else synced.
SyncState = Literal["synced", "pending", "conflict", "failed"]
SYNC_STATES: tuple[SyncState, ...] = ("conflict", "failed", "pending", "synced")
FilterOp = Literal[
    "eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "has_tag", "is_null", "not_null"
]

MAX_PAGE = 1000
_outbox = OUTBOX_TABLE
_conflicts = CONFLICTS_TABLE


class RecordNotFoundError(LookupError):
    """No live record with that id in the replica."""

    def __init__(self, entity_name: str, record_id: str) -> None:
        self.entity = entity_name
        self.record_id = record_id
        super().__init__(f"no {entity_name} with id {record_id}")


class HasChildrenError(RuntimeError):
    """A customer still has contacts, follow-ups or deals; delete with cascade=True."""

    def __init__(self, record_id: str, counts: Mapping[str, int]) -> None:
        self.record_id = record_id
        self.counts = dict(counts)
        detail = ", ".join(f"{n} {name}(s)" for name, n in counts.items() if n)
        super().__init__(f"customer {record_id} still has {detail}")


@dataclass(frozen=True, slots=True)
class Record:
    """A record as the user sees it now (local edits included)."""

    entity: str
    id: str
    values: Mapping[str, Any]
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    updated_by: str | None
    deleted: bool
    sync_state: SyncState

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


@dataclass(frozen=True, slots=True)
class Change:
    """What one repository write changed."""

    entity: str
    record_id: str
    op: Literal["create", "update", "delete"]
    fields: tuple[str, ...]
    mutation_id: str | None  # None when the edit changed nothing (no outbox row)
    children: tuple[Change, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition of a query: ``Filter("status", "in", ["lead", "active"])``.

    ``field`` may also be ``"sync_state"`` (synced / pending / conflict / failed, see
    :data:`SyncState`), with ``eq`` or ``in``.
    """

    field: str
    op: FilterOp
    value: Any = None


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Which customers a long list shows, and in which order (see
    :meth:`EntityRepository.list_frame`). ``sort`` ``None`` is name order (pinyin)."""

    filters: tuple[Filter, ...] = ()
    search: str | None = None
    sort: Sort | None = None


@dataclass(frozen=True, slots=True)
class ListFrame:
    """A list prepared for paging: its row count and what :meth:`EntityRepository.list_window`
    needs. A snapshot: valid until the records change; prepare a new one then."""

    query: ListQuery
    count: int
    # Deleted rows (sort value, row_id) in list order, when windows are read from the sort
    # key's index alone (no filter, no search); None when they are read with the filters.
    tombstones: tuple[tuple[Any, int], ...] | None = None
    # Rows in the table (deleted ones too) when the list is filtered or searched: how
    # :meth:`EntityRepository.list_window` chooses to read a window.
    table_rows: int = 0


@dataclass(frozen=True, slots=True)
class ListRow:
    """One row of a list window: the columns asked for, in their order, and its state."""

    id: str
    values: tuple[Any, ...]
    sync_state: SyncState
    sync_error: str | None  # the server's reason, when sync_state is "failed"


class EntityRepository:
    """Create, update, delete, get and query one entity's records in the replica."""

    def __init__(self, replica: Replica, spec: EntitySpec) -> None:
        self._replica = replica
        self.spec = spec
        self.table = TABLE_BY_ENTITY[spec.name]
        self._synced = tuple(f.name for f in spec.synced_fields)
        self._is_customer = spec is CUSTOMER

    # --- writes -----------------------------------------------------------------------

    def create(self, values: Mapping[str, Any], *, record_id: str | None = None) -> Change:
        """Create a record from the user's ``values``; defaults fill what is not given.

        ``owner_id`` defaults to the signed-in user. Raises :class:`ValidationError`.
        """
        given = dict(values)
        if "owner_id" not in given:
            given["owner_id"] = self._replica.user_id
        clean = clean_values(self.spec, given, for_create=True)
        rid = record_id or new_record_id()
        if record_id is not None:
            _check_id(self.spec, record_id)
        now = datetime.now(UTC)
        row = {
            **clean,
            "id": rid,
            "version": 0,
            "created_at": now,
            "updated_at": now,
            "updated_by": self._replica.user_id,
            "deleted": False,
            "base": None,
        }
        fields = {
            name: FieldChange(wire.encode_value(self.spec.field(name), value), None)
            for name, value in clean.items()
        }
        with self._replica.write() as conn:
            self._check_parent(conn, clean)
            try:
                if self._is_customer:
                    row.update(search.customer_search_columns(clean))
                    row_id: int = conn.execute(
                        insert(self.table).values(row).returning(self.table.c.row_id)
                    ).scalar_one()
                    search.index_row(conn, row_id, row["search_text"])
                else:
                    conn.execute(insert(self.table).values(row))
            except IntegrityError as exc:
                raise ValidationError(
                    self.spec.name, [FieldError("id", "duplicate_id", f"id {rid} exists")]
                ) from exc
            mutation_id = outbox.append(
                conn,
                client_id=self._replica.client_id,
                entity=self.spec.name,
                record_id=rid,
                op="create",
                base_version=0,
                fields=fields,
            )
        return Change(self.spec.name, rid, "create", tuple(clean), mutation_id)

    def update(self, record_id: str, changes: Mapping[str, Any]) -> Change:
        """Change some fields of a record; only fields whose value differs are written.

        An update that changes nothing writes nothing and returns a :class:`Change` with
        no mutation id. Raises :class:`ValidationError` or :class:`RecordNotFoundError`.
        """
        clean = clean_values(self.spec, changes, for_create=False)
        with self._replica.write() as conn:
            row = self._live_row(conn, record_id)
            current = {name: row._mapping[name] for name in self._synced}
            changed = {k: v for k, v in clean.items() if current[k] != v}
            if not changed:
                return Change(self.spec.name, record_id, "update", (), None)
            self._check_parent(conn, changed)
            values: dict[str, Any] = dict(changed)
            if row.base is None and row.version > 0:
                # First local divergence from the server's version: remember that version.
                values["base"] = wire.dumps(wire.encode_values(self.spec, current))
            if self._is_customer:
                derived = search.customer_search_columns({**current, **changed})
                values.update(derived)
                if derived["search_text"] != row.search_text:
                    search.unindex_rows(conn, [(row.row_id, row.search_text)])
                    search.index_row(conn, row.row_id, derived["search_text"])
            conn.execute(update(self.table).where(self.table.c.id == record_id).values(values))
            fields = {
                name: FieldChange(
                    wire.encode_value(self.spec.field(name), value),
                    wire.encode_value(self.spec.field(name), current[name]),
                )
                for name, value in changed.items()
            }
            mutation_id = outbox.append(
                conn,
                client_id=self._replica.client_id,
                entity=self.spec.name,
                record_id=record_id,
                op="update",
                base_version=row.version,
                fields=fields,
            )
        return Change(self.spec.name, record_id, "update", tuple(changed), mutation_id)

    def delete(self, record_id: str, *, cascade: bool = False) -> Change:
        """Delete a record (a tombstone until the server confirms).

        A customer with live contacts, follow-ups or deals is refused with
        :class:`HasChildrenError` unless ``cascade`` is true; then each child gets its own
        delete mutation, queued before the customer's, in the same transaction.
        """
        with self._replica.write() as conn:
            row = self._live_row(conn, record_id)
            children: list[Change] = []
            if self._is_customer:
                live = {
                    name: _live_children(conn, name, record_id)
                    for name, spec in ENTITIES.items()
                    if spec.parent == "customer"
                }
                if any(live.values()) and not cascade:
                    raise HasChildrenError(record_id, {k: len(v) for k, v in live.items()})
                for name, rows in live.items():
                    for child in rows:
                        children.append(
                            self._delete_row(conn, ENTITIES[name], child.id, child.version)
                        )
            change = self._delete_row(conn, self.spec, record_id, row.version)
        return Change(
            change.entity, change.record_id, "delete", (), change.mutation_id, tuple(children)
        )

    def _delete_row(
        self, conn: Connection, spec: EntitySpec, record_id: str, version: int
    ) -> Change:
        table = TABLE_BY_ENTITY[spec.name]
        conn.execute(update(table).where(table.c.id == record_id).values(deleted=True))
        mutation_id = outbox.append(
            conn,
            client_id=self._replica.client_id,
            entity=spec.name,
            record_id=record_id,
            op="delete",
            base_version=version,
            fields={},
        )
        return Change(spec.name, record_id, "delete", (), mutation_id)

    def _live_row(self, conn: Connection, record_id: str) -> Row[Any]:
        row = conn.execute(
            select(self.table).where(self.table.c.id == record_id, self.table.c.deleted.is_(False))
        ).first()
        if row is None:
            raise RecordNotFoundError(self.spec.name, record_id)
        return row

    def _check_parent(self, conn: Connection, values: Mapping[str, Any]) -> None:
        parent_id = values.get("customer_id")
        if self.spec.parent is None or parent_id is None:
            return
        customers = TABLE_BY_ENTITY["customer"]
        alive = conn.execute(
            select(customers.c.id).where(
                customers.c.id == parent_id, customers.c.deleted.is_(False)
            )
        ).first()
        if alive is None:
            raise ValidationError(
                self.spec.name,
                [FieldError("customer_id", "unknown_parent", f"no customer with id {parent_id}")],
            )

    # --- reads ------------------------------------------------------------------------

    def get(self, record_id: str, *, include_deleted: bool = False) -> Record | None:
        """The record with ``record_id``, or ``None``."""
        stmt = self._select().where(self.table.c.id == record_id)
        if not include_deleted:
            stmt = stmt.where(self.table.c.deleted.is_(False))
        with self._replica.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._to_record(row)

    def query(
        self,
        *,
        filters: Sequence[Filter] = (),
        search: str | None = None,
        sort: Sequence[Sort] = (),
        limit: int = 100,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[Record]:
        """Records matching every filter (and the search, for customers), sorted, paged.

        Filtering, searching, sorting and paging all run in SQL. Without ``sort``, customers
        come in name order (pinyin), other records newest first.
        """
        if not 0 < limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        if offset < 0:
            raise ValueError("offset must not be negative")
        stmt = self._select()
        conditions = self._conditions(filters, search, include_deleted)
        if conditions is None:
            return []
        stmt = stmt.where(*conditions).order_by(*self._order(sort)).limit(limit).offset(offset)
        with self._replica.read() as conn:
            return [self._to_record(row) for row in conn.execute(stmt)]

    def count(
        self,
        *,
        filters: Sequence[Filter] = (),
        search: str | None = None,
        include_deleted: bool = False,
    ) -> int:
        """How many records :meth:`query` would page through."""
        conditions = self._conditions(filters, search, include_deleted)
        if conditions is None:
            return 0
        stmt = select(func.count()).select_from(self.table).where(*conditions)
        with self._replica.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def distinct_values(self, field_name: str, *, limit: int = 500) -> list[Any]:
        """The different values of a field, sorted, nulls left out: the choices of a filter
        (owners, cities). Deleted records awaiting the server count too, so that an index on
        the field alone answers (a scan of the index alone: ~10 ms at 100,000 customers)."""
        col = self._field_column(field_name)
        stmt = select(col).where(col.is_not(None)).distinct().order_by(col).limit(limit)
        with self._replica.read() as conn:
            return list(conn.execute(stmt).scalars())

    # --- long lists: windows by position ------------------------------------------------
    #
    # A list of 100,000 customers is shown a window of ~200 rows at a time, at any position
    # the scroll bar asks for. OFFSET makes SQLite step over every row before the window,
    # and checking ``deleted`` on each costs a look-up of the (wide) table row: 130 ms at
    # row 90,000. So an unfiltered list sorted by an indexed column is paged over that index
    # alone (its entries hold the key and the row id: 1-3 ms at row 90,000), and the few
    # deleted rows awaiting the server — found once per frame — are skipped in Python.
    # Filtered and searched lists page over the matching rows' row ids; either way only the
    # window's rows are read in full. The order is the sort key (nulls last), then row_id.
    #
    # A short search ("z", "13") matches 5,000-40,000 customers. Looking each match up in
    # the (wide) table to check ``deleted`` and to sort it cost 20-50 ms at 100,000
    # customers, to count and again for the first window. So a search alone is counted in
    # the full-text index (every customer row is in it, deleted ones too: ~1 ms), less the
    # deleted rows among the matches (found by their own small index); and a window of
    # many matches is read by walking the sort key's index in order, testing each entry's
    # row id against the matches, until the window is full (see _walks_sort_index).

    def list_frame(self, list_query: ListQuery) -> ListFrame:
        """Prepare a customer list for :meth:`list_window`: count its rows (a few ms at
        100,000 customers for the unfiltered list and a search alone; a filtered list's
        count reads its matching rows)."""
        key, _ = self._list_key(list_query)
        conditions = self._list_conditions(list_query)
        with self._replica.read() as conn:
            if conditions is None:
                return ListFrame(list_query, 0)
            if self._pages_by_index(list_query, conditions):
                dead = select(key, self.table.c.row_id).where(self.table.c.deleted.is_not(False))
                compare = _list_compare(_descending(list_query))
                pairs = [(value, int(rid)) for value, rid in conn.execute(dead)]
                tombstones = sorted(pairs, key=cmp_to_key(compare))
                total = conn.execute(select(func.count()).select_from(self.table)).scalar_one()
                return ListFrame(list_query, int(total) - len(tombstones), tuple(tombstones))
            rows = conn.execute(select(func.count()).select_from(self.table)).scalar_one()
            plan = search.plan_search(list_query.search) if list_query.search else None
            if plan is not None and not plan.needles and not list_query.filters:
                count = self._count_matches(conn, plan.match)
            else:
                stmt = select(func.count()).select_from(self.table).where(*conditions)
                count = int(conn.execute(stmt).scalar_one())
            return ListFrame(list_query, count, table_rows=int(rows))

    def _count_matches(self, conn: Connection, match: str) -> int:
        """Live customers matching an FTS expression, without reading their rows: the
        index's count less the deleted rows it finds."""
        fts = search.FTS_TABLE
        every = text(f"SELECT count(*) FROM {fts} WHERE {fts} MATCH :match")
        # The deleted rows come from ix_customers_tombstones (few); each is checked with a
        # row id look-up in the full-text index.
        deleted = text(
            f"SELECT count(*) FROM {self.table.name} WHERE deleted IS NOT 0 AND EXISTS "
            f"(SELECT 1 FROM {fts} WHERE {fts} MATCH :match "
            f"AND rowid = {self.table.name}.row_id)"
        )
        params = {"match": match}
        total = int(conn.execute(every, params).scalar_one())
        return total - int(conn.execute(deleted, params).scalar_one())

    def list_window(
        self, frame: ListFrame, columns: Sequence[str], offset: int, limit: int
    ) -> list[ListRow]:
        """Rows ``offset`` to ``offset + limit`` of the list (fewer at its end): the values
        of ``columns`` (field names) and the sync state of each."""
        if not 0 < limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        if offset < 0:
            raise ValueError("offset must not be negative")
        cols = [self._field_column(name) for name in columns]
        key, order = self._list_key(frame.query)
        walk = (
            frame.tombstones is None
            and self._has_sort_index(key)
            and _walks_sort_index(frame, offset + limit)
        )
        conditions = self._list_conditions(frame.query, walk_sort_index=walk)
        if conditions is None:
            return []
        with self._replica.read() as conn:
            if frame.tombstones is not None:
                row_ids = self._index_window(conn, frame, key, order, offset, limit)
            else:
                stmt = select(self.table.c.row_id).where(*conditions).order_by(*order)
                row_ids = list(conn.execute(stmt.limit(limit).offset(offset)).scalars())
            if not row_ids:
                return []
            mine = and_(
                _outbox.c.entity == self.spec.name,
                _outbox.c.record_id == self.table.c.id,
                _outbox.c.status == "failed",
            )
            error = select(_outbox.c.last_error).where(mine).order_by(_outbox.c.seq).limit(1)
            stmt = select(
                self.table.c.row_id,
                self.table.c.id,
                self._sync_state(),
                error.scalar_subquery(),
                *cols,
            ).where(self.table.c.row_id.in_(row_ids))
            found = {row[0]: row for row in conn.execute(stmt)}
        return [
            ListRow(row[1], tuple(row[4:]), row[2], row[3])
            for row in (found.get(r) for r in row_ids)
            if row is not None
        ]

    def list_position(self, frame: ListFrame, record_id: str) -> int | None:
        """Where the record is in the list (0-based), or ``None`` if the list leaves it out.
        One counting query: a few ms for an unfiltered list, more for a large filtered one."""
        key, _ = self._list_key(frame.query)
        conditions = self._list_conditions(frame.query)
        if conditions is None:
            return None
        row_id = self.table.c.row_id
        descending = _descending(frame.query)
        with self._replica.read() as conn:
            found = conn.execute(
                select(key, row_id).where(self.table.c.id == record_id, *conditions)
            ).first()
            if found is None:
                return None
            value, rid = found[0], int(found[1])
            if value is None:
                before = key.is_not(None) | (row_id > rid if descending else row_id < rid)
            elif descending:
                before = (key > value) | and_(key == value, row_id > rid)
            else:
                before = (key < value) | and_(key == value, row_id < rid)
            if frame.tombstones is None:
                stmt = select(func.count()).select_from(self.table).where(*conditions, before)
                return int(conn.execute(stmt).scalar_one())
            stmt = select(func.count()).select_from(self.table).where(before)
            entries = int(conn.execute(stmt).scalar_one())
        compare = _list_compare(descending)
        dead = sum(1 for t in frame.tombstones if compare(t, (value, rid)) < 0)
        return entries - dead

    def _index_window(
        self,
        conn: Connection,
        frame: ListFrame,
        key: ColumnElement[Any],
        order: list[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> list[int]:
        """Row ids of a window read from the sort key's index, deleted rows skipped."""
        stmt = select(key, self.table.c.row_id).order_by(*order)
        tombstones = frame.tombstones or ()
        if not tombstones:
            return [int(r) for _, r in conn.execute(stmt.limit(limit).offset(offset))]
        dead = {rid for _, rid in tombstones}
        compare = _list_compare(_descending(frame.query))
        # Index position p holds live row p - (deleted rows before p): look for the p where
        # that is ``offset``. Each step only moves forward; there are few deleted rows.
        position = offset
        while True:
            entries = conn.execute(stmt.limit(limit + len(tombstones)).offset(position)).all()
            if not entries:
                return []
            first = (entries[0][0], int(entries[0][1]))
            before = sum(1 for t in tombstones if compare(t, first) < 0)
            if position - before >= offset:
                live = [int(rid) for _, rid in entries if rid not in dead]
                return live[:limit]
            position = offset + before

    def _list_key(self, list_query: ListQuery) -> tuple[ColumnElement[Any], list[Any]]:
        """The sort key's column and the list's ORDER BY."""
        if not self._is_customer:
            raise ValueError(f"lists page customers, not {self.spec.name}")
        sort = list_query.sort or Sort("name")
        if not self.spec.has_field(sort.field):
            raise ValueError(f"cannot sort {self.spec.name} by {sort.field!r}")
        name = f"{sort.field}_sort" if sort.field in ("name", "company") else sort.field
        key: ColumnElement[Any] = self.table.c[name]
        row_id = self.table.c.row_id
        if sort.descending:
            # SQLite puts NULLs last in DESC order, and both columns descending is the
            # index read backwards.
            return key, [key.desc(), row_id.desc()]
        return key, [key.asc().nulls_last(), row_id.asc()]

    def _list_conditions(
        self, list_query: ListQuery, *, walk_sort_index: bool = False
    ) -> list[ColumnElement[bool]] | None:
        return self._conditions(
            list_query.filters, list_query.search, False, search_by_row_id=not walk_sort_index
        )

    def _pages_by_index(self, list_query: ListQuery, conditions: list[ColumnElement[bool]]) -> bool:
        """Whether the list is every live customer, sorted by a column with an index."""
        key, _ = self._list_key(list_query)
        return len(conditions) == 1 and self._has_sort_index(key)

    def _has_sort_index(self, key: ColumnElement[Any]) -> bool:
        """Whether an index orders the table by ``key`` (then row id)."""
        name = getattr(key, "name", None)
        return any(
            len(index.columns) == 1 and index.columns[0].name == name
            for index in self.table.indexes
        )

    def _field_column(self, name: str) -> ColumnElement[Any]:
        if not self.spec.has_field(name):
            raise ValueError(f"{self.spec.name} has no field {name!r}")
        column: ColumnElement[Any] = self.table.c[name]
        return column

    def _select(self) -> Select[Any]:
        return select(self.table, self._sync_state().label("sync_state"))

    def _sync_state(self) -> ColumnElement[str]:
        mine = and_(_outbox.c.entity == self.spec.name, _outbox.c.record_id == self.table.c.id)
        conflicted = and_(
            _conflicts.c.entity == self.spec.name, _conflicts.c.record_id == self.table.c.id
        )
        # The order of the cases is the precedence documented at SyncState.
        return case(
            (exists().where(conflicted), literal("conflict")),
            (exists().where(mine, _outbox.c.status == "failed"), literal("failed")),
            (exists().where(mine), literal("pending")),
            else_=literal("synced"),
        )

    def _conditions(
        self,
        filters: Sequence[Filter],
        search_text: str | None,
        include_deleted: bool,
        *,
        search_by_row_id: bool = True,
    ) -> list[ColumnElement[bool]] | None:
        """The WHERE terms of a query. ``search_by_row_id`` false keeps
        SQLite from looking the search's matches up by row id (a unary ``+`` makes the term
        unfit for an index), so that it walks the ORDER BY's index instead."""
        conditions: list[ColumnElement[bool]] = []
        if not include_deleted:
            conditions.append(self.table.c.deleted.is_(False))
        for f in filters:
            conditions.append(self._condition(f))
        if search_text is not None and search_text.strip():
            if not self._is_customer:
                raise ValueError(f"full-text search is for customers, not {self.spec.name}")
            plan = search.plan_search(search_text)
            if plan is None:
                return conditions
            matches = text(
                f"SELECT rowid FROM {search.FTS_TABLE} WHERE {search.FTS_TABLE} MATCH :match"
            ).bindparams(match=plan.match)
            row_id: ColumnElement[Any] = self.table.c.row_id
            if not search_by_row_id:
                row_id = literal_column(f"+{self.table.name}.row_id", Integer)
            conditions.append(row_id.in_(matches.columns(column("rowid"))))
            for needle in plan.needles:
                conditions.append(func.instr(self.table.c.search_text, needle) > 0)
        return conditions

    def _condition(self, f: Filter) -> ColumnElement[bool]:
        if f.field == "sync_state":
            state = self._sync_state()
            if f.op == "eq":
                same: ColumnElement[bool] = state == f.value
                return same
            if f.op == "in":
                return state.in_(list(f.value))
            raise ValueError("sync_state filters take eq or in")
        if not self.spec.has_field(f.field):
            raise ValueError(f"{self.spec.name} has no field {f.field!r}")
        col: ColumnElement[Any] = self.table.c[f.field]
        spec = self.spec.field(f.field)
        value = f.value
        match f.op:
            case "eq":
                return col.is_(None) if value is None else col == value
            case "ne":
                return col.is_not(None) if value is None else (col != value) | col.is_(None)
            case "lt":
                return _as_condition(col < value)
            case "le":
                return _as_condition(col <= value)
            case "gt":
                return _as_condition(col > value)
            case "ge":
                return _as_condition(col >= value)
            case "in":
                return col.in_(list(value))
            case "is_null":
                return col.is_(None)
            case "not_null":
                return col.is_not(None)
            case "contains":
                return col.contains(str(value), autoescape=True)
            case "has_tag":
                if spec.kind is not FieldKind.TAGS:
                    raise ValueError(f"{f.field} is not a tags field")
                each = func.json_each(col).table_valued("value")
                return exists().select_from(each).where(each.c.value == str(value))
        raise ValueError(f"unknown filter operation {f.op!r}")

    def _order(self, sort: Sequence[Sort]) -> list[ColumnElement[Any]]:
        if not sort:
            if self._is_customer:
                sort = (Sort("name"),)
            elif self.spec.name == "follow_up":
                sort = (Sort("happened_at", descending=True),)
            else:
                sort = (Sort("created_at", descending=True),)
        order: list[ColumnElement[Any]] = []
        for s in sort:
            if not self.spec.has_field(s.field):
                raise ValueError(f"cannot sort {self.spec.name} by {s.field!r}")
            name = s.field
            if self._is_customer and name in ("name", "company"):
                name = f"{name}_sort"  # pinyin order for Chinese names
            col = self.table.c[name]
            order.append(col.desc().nulls_last() if s.descending else col.asc().nulls_last())
        order.append(self.table.c.id)  # a stable order, so that pages never overlap
        return order

    def _to_record(self, row: Row[Any]) -> Record:
        m = row._mapping
        return Record(
            entity=self.spec.name,
            id=m["id"],
            values={name: m[name] for name in self._synced},
            version=m["version"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            updated_by=m["updated_by"],
            deleted=bool(m["deleted"]),
            sync_state=m["sync_state"],
        )


# Costs measured at 100,000 customers (mmap on): looking a match up in the table and
# sorting it, and testing one entry of a sort key's index while walking it.
_LOOKUP_US = 0.65
_WALK_US = 0.3
# Matches may cluster in the sort order, so a walk may have to go that much further than
# an even spread would need.
_WALK_CLUSTERING = 4


def _walks_sort_index(frame: ListFrame, window_end: int) -> bool:
    """Whether a window ending at ``window_end`` of a search is cheaper to read by walking
    the sort key's index (and testing each entry against the matches) than by looking every
    match up and sorting them all. Only a search alone qualifies: filters would be tested
    on each entry's table row."""
    query = frame.query
    if frame.count <= 0 or not query.search or query.filters or frame.table_rows <= 0:
        return False
    plan = search.plan_search(query.search)
    if plan is None:
        return False
    spread = window_end * frame.table_rows / frame.count * _WALK_CLUSTERING
    walked = min(frame.table_rows, spread)
    if plan.name_prefix and (query.sort is None or query.sort.field == "name"):
        # Names starting with "w" sit together near the end of name order: a walk would
        # step over most of the list before finding them (25-40 ms).
        walked = frame.table_rows
    return walked * _WALK_US < frame.count * _LOOKUP_US


def _descending(list_query: ListQuery) -> bool:
    return list_query.sort is not None and list_query.sort.descending


_Pair = tuple[Any, int]


def _list_compare(descending: bool) -> Callable[[_Pair, _Pair], int]:
    """Compares (sort value, row_id) pairs as the list's ORDER BY does. SQLite orders NULL
    first, text by code point (UTF-8 bytes), like Python's ``str``."""

    def ascending_nulls_first(pair: _Pair) -> tuple[bool, Any, int]:
        value, rid = pair
        return (value is not None, "" if value is None else value, rid)

    def compare(a: _Pair, b: _Pair) -> int:
        ka, kb = ascending_nulls_first(a), ascending_nulls_first(b)
        if descending:  # key DESC, row_id DESC: exactly the reverse, NULLs last
            ka, kb = kb, ka
        elif (a[0] is None) != (b[0] is None):  # ascending, NULLS LAST
            return 1 if a[0] is None else -1
        return (ka > kb) - (ka < kb)

    return compare


def _as_condition(expression: Any) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = expression
    return condition


def _live_children(conn: Connection, entity_name: str, customer_id: str) -> list[Row[Any]]:
    table = TABLE_BY_ENTITY[entity_name]
    return list(
        conn.execute(
            select(table.c.id, table.c.version).where(
                table.c.customer_id == customer_id, table.c.deleted.is_(False)
            )
        )
    )


def _check_id(spec: EntitySpec, record_id: str) -> None:
    if clean_value(spec.field("id"), record_id) != record_id:
        raise ValidationError(
            spec.name, [FieldError("id", "invalid_id", "ids are lowercase canonical UUIDs")]
        )
