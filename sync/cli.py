"""``outpost-cli``: Outpost's local replica from a terminal.

The command works on one *profile*: a directory holding the replica file
``replica.sqlite3``. It is chosen by ``--profile DIR``, else by the environment variable
``OUTPOST_PROFILE``, else it is the ``profiles/local`` folder in Outpost's data directory
(see :func:`resolve_profile_dir`). Every edit goes through the repository, so it is queued
in the outbox exactly as an edit made in the desktop app.

Examples::

    outpost-cli customers add --name 张三 --company 星辰科技 --set city=杭州
    outpost-cli customers list --search zs
    outpost-cli customers edit ID --set email=zhang@example.com --set level=A
    outpost-cli --json customers show ID
    outpost-cli pending
    outpost-cli info

``--json`` prints machine-readable JSON on stdout: field values in their wire encoding
(times as ISO text in UTC, money as decimal strings). Messages and errors go to stderr.

Exit codes:

* 0 — success.
* 1 — the command failed: no record with that id, a customer that still has contacts,
  follow-ups or deals (use ``--cascade``), a replica that cannot be opened or written.
* 2 — usage error: bad options or arguments, or invalid field values (each printed on
  stderr as ``field: message``); nothing was written.
* 6 — the replica file is damaged or is not an Outpost replica; it is left untouched.
  ``info`` also exits with 6 when the integrity check finds problems.
* 130 — interrupted (Ctrl-C).

Adding a subcommand: write a ``_register_*`` function that adds its parsers through
:class:`_Commands` (each leaf parser names its handler) and list it in ``_REGISTRARS``.
A handler takes the :class:`Context` and the parsed arguments and returns the exit code;
it opens the replica only by touching ``ctx.replica``, and ``main`` closes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import DatabaseError

from sync import __version__, outbox, wire
from sync.migrations import ReplicaTooNewError
from sync.outbox import Mutation
from sync.profile import PROFILE_ENV, resolve_profile_dir
from sync.replica import REPLICA_FILENAME, Replica, ReplicaCorruptError, ReplicaError
from sync.repository import (
    MAX_PAGE,
    Change,
    EntityRepository,
    Filter,
    HasChildrenError,
    Record,
    RecordNotFoundError,
    Sort,
)
from sync.schema import ENTITIES, EntitySpec, FieldKind
from sync.validation import FieldError, ValidationError, clean_values, parse_text

PROG = "outpost-cli"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CORRUPT = 6
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    the command failed: no record with that id, a customer that still has
       contacts, follow-ups or deals (use --cascade), a replica that cannot be opened
  2    usage error: bad options or arguments, or invalid field values (printed on
       stderr as "field: message"); nothing was written
  6    the replica file is damaged or is not an Outpost replica (left untouched);
       "info" also exits with 6 when the integrity check finds problems
  130  interrupted
"""

DEFAULT_LIMIT = 50

# --- profile ------------------------------------------------------------------------------


# --- running a command --------------------------------------------------------------------


class UsageError(Exception):
    """The command line asks for something impossible (exit code 2)."""


@dataclass
class Context:
    """What a command handler works with: the profile, the output streams, the replica.

    The replica is opened on first use of :attr:`replica`, at most once per command, and
    closed by :meth:`close`.
    """

    profile_dir: Path
    json: bool
    out: TextIO
    err: TextIO
    _replica: Replica | None = field(default=None, repr=False)

    @property
    def replica(self) -> Replica:
        """The profile's replica, opened (created or upgraded if need be) on first use."""
        if self._replica is None:
            if self.profile_dir.exists() and not self.profile_dir.is_dir():
                raise UsageError(f"the profile {self.profile_dir} is not a directory")
            try:
                self.profile_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ReplicaError(
                    f"cannot create the profile directory {self.profile_dir}: {exc}"
                ) from exc
            self._replica = Replica.open(self.profile_dir / REPLICA_FILENAME)
        return self._replica

    def repository(self, entity_name: str) -> EntityRepository:
        """The repository of ``entity_name`` in the replica."""
        return self.replica.repository(entity_name)

    def close(self) -> None:
        """Close the replica if this command opened it."""
        replica, self._replica = self._replica, None
        if replica is not None:
            replica.close()

    def print(self, text: str = "") -> None:
        """A line of human-readable output on stdout."""
        print(text, file=self.out)

    def print_json(self, data: Any) -> None:
        """``data`` as JSON on stdout."""
        print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default), file=self.out)


Handler = Callable[[Context, argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    """Run ``outpost-cli`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's usage errors
        if isinstance(exc.code, int):
            return exc.code
        return EXIT_OK if exc.code is None else EXIT_USAGE
    ctx = Context(resolve_profile_dir(args.profile), bool(args.json), sys.stdout, sys.stderr)
    handler: Handler = args.handler
    try:
        return handler(ctx, args)
    except ValidationError as exc:
        _error(ctx, f"invalid {exc.entity}; nothing was saved:")
        for error in exc.errors:
            print(f"{error.field}: {error.message}", file=ctx.err)
        return EXIT_USAGE
    except UsageError as exc:
        _error(ctx, str(exc))
        return EXIT_USAGE
    except ReplicaCorruptError as exc:
        _error(ctx, str(exc))
        return EXIT_CORRUPT
    except HasChildrenError as exc:
        _error(ctx, f"{exc}; use --cascade to delete them together")
        return EXIT_FAILURE
    except (RecordNotFoundError, ReplicaError, ReplicaTooNewError) as exc:
        _error(ctx, str(exc))
        return EXIT_FAILURE
    except DatabaseError as exc:
        message = str(exc.orig if exc.orig is not None else exc)
        if _looks_damaged(message):
            _error(ctx, f"the local database is damaged: {message}")
            return EXIT_CORRUPT
        _error(ctx, f"database error: {message}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _error(ctx, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILURE
    finally:
        # A damaged file may refuse the closing checkpoint; the command's error was reported.
        with contextlib.suppress(DatabaseError):
            ctx.close()


def _error(ctx: Context, message: str) -> None:
    print(f"{PROG}: error: {message}", file=ctx.err)


def _looks_damaged(message: str) -> bool:
    low = message.lower()
    return any(s in low for s in ("malformed", "not a database", "corrupt", "disk image"))


def _silence_stdout() -> None:
    """After a closed pipe (``outpost-cli ... | head``): no error at interpreter exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# --- the parser ---------------------------------------------------------------------------


class _Commands:
    """Adds (nested) subcommands that all accept the global options and share the epilog."""

    def __init__(
        self,
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
        common: argparse.ArgumentParser,
    ) -> None:
        self._subparsers = subparsers
        self._common = common

    def _parser(self, name: str, help_text: str, aliases: Sequence[str]) -> argparse.ArgumentParser:
        return self._subparsers.add_parser(
            name,
            aliases=list(aliases),
            help=help_text,
            description=help_text,
            parents=[self._common],
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def group(self, name: str, help_text: str, *, aliases: Sequence[str] = ()) -> _Commands:
        """A command that only holds subcommands (``customers`` -> ``customers list``)."""
        parser = self._parser(name, help_text, aliases)
        sub = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
        return _Commands(sub, self._common)

    def command(
        self, name: str, help_text: str, handler: Handler, *, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        """A command that runs ``handler``; add its own arguments to the returned parser."""
        parser = self._parser(name, help_text, aliases)
        parser.set_defaults(handler=handler)
        return parser


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Subcommands accept the global options too ("customers list --json"); their default
    # is SUPPRESS so that they never overwrite a value given before the subcommand.
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help=f"profile directory holding {REPLICA_FILENAME} "
        f"(default: ${PROFILE_ENV}, else the local profile in Outpost's data directory)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="machine-readable JSON output on stdout",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``outpost-cli`` with every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, top=False)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Outpost CRM on the command line: the local replica and its outbox.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, top=True)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = _Commands(subparsers, common)
    for register in _REGISTRARS:
        register(commands)
    return parser


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    return name, value


def _positive_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 < value <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PAGE}")
    return value


def _offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _add_set_option(parser: argparse.ArgumentParser, spec: EntitySpec, *, required: bool) -> None:
    names = ", ".join(f.name for f in spec.synced_fields)
    parser.add_argument(
        "--set",
        dest="assignments",
        metavar="FIELD=VALUE",
        action="append",
        type=_assignment,
        default=[],
        required=required,
        help="set a field (repeatable; an empty VALUE clears it; dates YYYY-MM-DD, times ISO"
        f" and local unless a zone is given, tags comma-separated). Fields: {names}",
    )


def _add_paging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit",
        type=_positive_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N records (default {DEFAULT_LIMIT}, at most {MAX_PAGE})",
    )
    parser.add_argument(
        "--offset", type=_offset, default=0, metavar="N", help="skip the first N records"
    )


# --- field values -------------------------------------------------------------------------


def parse_field_values(spec: EntitySpec, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``(field, typed text)`` pairs into values for ``spec``'s repository.

    Each text of a user-settable field goes through :func:`sync.validation.parse_text`;
    repeated fields are refused. The values are then checked against the schema (which
    also names unknown and server-only fields), so one :class:`ValidationError` reports
    every problem at once.
    """
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, text in pairs:
        if name in values or any(e.field == name for e in errors):
            errors.append(FieldError(name, "duplicate", f"{name} is given more than once"))
            continue
        if not (spec.has_field(name) and spec.field(name).synced):
            values[name] = text  # clean_values below says what is wrong with the name
            continue
        try:
            values[name] = parse_text(spec.field(name), text)
        except ValidationError as exc:
            errors.extend(exc.errors)
    try:
        clean_values(spec, values, for_create=False)
    except ValidationError as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationError(spec.name, errors)
    return values


def _pairs(args: argparse.Namespace, options: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(field, text)`` from dedicated options (``{attribute: field}``) and ``--set``."""
    pairs = [(name, getattr(args, attr)) for attr, name in options.items()]
    pairs = [(name, text) for name, text in pairs if text is not None]
    assignments: list[tuple[str, str]] = args.assignments
    return pairs + assignments


def _record_id(text: str) -> str:
    """A record id as typed, in canonical form when it is a UUID."""
    text = text.strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def format_value(value: Any) -> str:
    """A value as a person reads it: local-time ISO datetimes, decimal strings, yes/no."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone().isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def record_to_json(record: Record) -> dict[str, Any]:
    """A record as JSON-ready data: wire-encoded fields plus version and sync state."""
    spec = ENTITIES[record.entity]
    data: dict[str, Any] = {"id": record.id}
    data.update(wire.encode_values(spec, record.values))
    data.update(
        version=record.version,
        created_at=wire.encode_value(spec.field("created_at"), record.created_at),
        updated_at=wire.encode_value(spec.field("updated_at"), record.updated_at),
        updated_by=record.updated_by,
        deleted=record.deleted,
        sync_state=record.sync_state,
    )
    return data


def _change_to_json(change: Change) -> dict[str, Any]:
    return {
        "entity": change.entity,
        "id": change.record_id,
        "op": change.op,
        "fields": list(change.fields),
        "mutation_id": change.mutation_id,
        "children": [_change_to_json(c) for c in change.children],
    }


def _mutation_to_json(mutation: Mutation) -> dict[str, Any]:
    return {
        "seq": mutation.seq,
        "mutation_id": mutation.mutation_id,
        "entity": mutation.entity,
        "record_id": mutation.record_id,
        "op": mutation.op,
        "base_version": mutation.base_version,
        "fields": {k: {"new": v.new, "base": v.base} for k, v in mutation.fields.items()},
        "created_at": mutation.created_at,
        "attempts": mutation.attempts,
        "status": mutation.status,
        "last_error": mutation.last_error,
    }


# --- tables -------------------------------------------------------------------------------

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
ELLIPSIS = "…"


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters count two, combining
    marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf", "Mn"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _cell(text: str, max_width: int | None) -> str:
    text = _CONTROL_RE.sub(" ", text)
    if max_width is None or display_width(text) <= max_width:
        return text
    kept: list[str] = []
    width = display_width(ELLIPSIS)
    for ch in text:
        w = display_width(ch)
        if width + w > max_width:
            break
        kept.append(ch)
        width += w
    return "".join(kept) + ELLIPSIS


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


@dataclass(frozen=True)
class Column:
    """One table column: its header and how wide a cell may get."""

    header: str
    max_width: int | None = None


def render_table(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> list[str]:
    """Lines of a plain-text table whose columns line up, Chinese text included."""
    cells = [
        [_cell(text, col.max_width) for text, col in zip(row, columns, strict=True)] for row in rows
    ]
    widths = [display_width(c.header) for c in columns]
    for row in cells:
        widths = [max(w, display_width(text)) for w, text in zip(widths, row, strict=True)]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(_pad(t, w) for t, w in zip(texts, widths, strict=True)).rstrip()

    return [
        line([c.header for c in columns]),
        line(["-" * w for w in widths]),
        *(line(row) for row in cells),
    ]


def _print_table(ctx: Context, columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> None:
    for text in render_table(columns, rows):
        ctx.print(text)


def _print_record(ctx: Context, record: Record) -> None:
    spec = ENTITIES[record.entity]
    lines: list[tuple[str, str]] = [(spec.field("id").label, record.id)]
    for f in spec.synced_fields:
        lines.append((f.label, format_value(record.values.get(f.name))))
    lines += [
        ("Version", str(record.version)),
        ("Created", format_value(record.created_at)),
        ("Updated", format_value(record.updated_at)),
        ("Updated by", record.updated_by or ""),
        ("Sync state", record.sync_state),
    ]
    width = max(display_width(label) for label, _ in lines) + 1
    for label, value in lines:
        first, *more = value.splitlines() or [""]
        ctx.print(f"{_pad(label + ':', width)} {first}".rstrip())
        for extra in more:
            ctx.print(f"{' ' * width} {extra}".rstrip())


def _report_change(ctx: Context, change: Change) -> None:
    if ctx.json:
        ctx.print_json(_change_to_json(change))
        return
    label = ENTITIES[change.entity].label.lower()
    if change.op == "create":
        ctx.print(f"Created {label} {change.record_id}")
    elif change.op == "update":
        if change.mutation_id is None:
            ctx.print(f"No change: {label} {change.record_id} already has these values")
            return
        ctx.print(f"Updated {label} {change.record_id}: {', '.join(change.fields)}")
    else:
        for child in change.children:
            child_label = ENTITIES[child.entity].label.lower()
            ctx.print(f"Deleted {child_label} {child.record_id} (mutation {child.mutation_id})")
        ctx.print(f"Deleted {label} {change.record_id}")
    ctx.print(f"Mutation: {change.mutation_id}")


# --- record commands ----------------------------------------------------------------------


def _create(ctx: Context, entity_name: str, values: dict[str, Any]) -> int:
    change = ctx.repository(entity_name).create(values)
    _report_change(ctx, change)
    return EXIT_OK


def _edit(ctx: Context, entity_name: str, args: argparse.Namespace) -> int:
    repo = ctx.repository(entity_name)
    values = parse_field_values(repo.spec, _pairs(args, {}))
    change = repo.update(_record_id(args.id), values)
    _report_change(ctx, change)
    return EXIT_OK


def _customers_list(ctx: Context, args: argparse.Namespace) -> int:
    repo = ctx.repository("customer")
    filters: list[Filter] = []
    if args.status:
        filters.append(Filter("status", "eq", args.status))
    if args.level:
        filters.append(Filter("level", "eq", args.level))
    if args.owner:
        filters.append(Filter("owner_id", "eq", args.owner))
    sort = [Sort(args.sort or "name", descending=args.desc)] if args.sort or args.desc else []
    records = repo.query(
        filters=filters, search=args.search, sort=sort, limit=args.limit, offset=args.offset
    )
    if ctx.json:
        ctx.print_json([record_to_json(r) for r in records])
        return EXIT_OK
    total = repo.count(filters=filters, search=args.search)
    if not records:
        ctx.print("No customers found." if total == 0 else f"No customers past {args.offset}.")
        return EXIT_OK
    columns = [
        Column("ID"),
        Column("Name", 24),
        Column("Company", 28),
        Column("Mobile", 20),
        Column("City", 12),
        Column("Level"),
        Column("Status"),
        Column("Sync"),
    ]
    _print_table(
        ctx,
        columns,
        (
            [
                r.id,
                format_value(r["name"]),
                format_value(r["company"]),
                format_value(r["mobile"]),
                format_value(r["city"]),
                format_value(r["level"]),
                format_value(r["status"]),
                r.sync_state,
            ]
            for r in records
        ),
    )
    _print_count(ctx, len(records), args.offset, total, "customer")
    return EXIT_OK


def _print_count(ctx: Context, shown: int, offset: int, total: int, noun: str) -> None:
    plural = noun if total == 1 else f"{noun}s"
    if shown == total:
        ctx.print(f"{total} {plural}")
    else:
        ctx.print(f"{offset + 1}-{offset + shown} of {total} {plural} (see --limit, --offset)")


def _customers_show(ctx: Context, args: argparse.Namespace) -> int:
    record_id = _record_id(args.id)
    record = ctx.repository("customer").get(record_id)
    if record is None:
        raise RecordNotFoundError("customer", record_id)
    if ctx.json:
        ctx.print_json(record_to_json(record))
    else:
        _print_record(ctx, record)
    return EXIT_OK


def _customers_add(ctx: Context, args: argparse.Namespace) -> int:
    spec = ENTITIES["customer"]
    values = parse_field_values(spec, _pairs(args, {"name": "name", "company": "company"}))
    return _create(ctx, "customer", values)


def _customers_edit(ctx: Context, args: argparse.Namespace) -> int:
    return _edit(ctx, "customer", args)


def _customers_delete(ctx: Context, args: argparse.Namespace) -> int:
    change = ctx.repository("customer").delete(_record_id(args.id), cascade=args.cascade)
    _report_change(ctx, change)
    return EXIT_OK


def _contacts_add(ctx: Context, args: argparse.Namespace) -> int:
    spec = ENTITIES["contact"]
    values = parse_field_values(spec, _pairs(args, {"customer": "customer_id", "name": "name"}))
    return _create(ctx, "contact", values)


def _followups_add(ctx: Context, args: argparse.Namespace) -> int:
    spec = ENTITIES["follow_up"]
    values = parse_field_values(
        spec,
        _pairs(args, {"customer": "customer_id", "kind": "kind", "content": "content"}),
    )
    values.setdefault("happened_at", datetime.now(UTC))
    return _create(ctx, "follow_up", values)


def _followups_list(ctx: Context, args: argparse.Namespace) -> int:
    repo = ctx.repository("follow_up")
    customers = ctx.repository("customer")
    filters: list[Filter] = []
    if args.customer:
        customer_id = _record_id(args.customer)
        if customers.get(customer_id) is None:
            raise RecordNotFoundError("customer", customer_id)
        filters.append(Filter("customer_id", "eq", customer_id))
    if args.open:
        filters.append(Filter("done", "eq", False))
    records = repo.query(filters=filters, limit=args.limit, offset=args.offset)
    if ctx.json:
        ctx.print_json([record_to_json(r) for r in records])
        return EXIT_OK
    total = repo.count(filters=filters)
    if not records:
        ctx.print("No follow-ups found." if total == 0 else f"No follow-ups past {args.offset}.")
        return EXIT_OK
    ids = sorted({r["customer_id"] for r in records})
    names = {
        c.id: c["name"] for c in customers.query(filters=[Filter("id", "in", ids)], limit=MAX_PAGE)
    }
    columns = [
        Column("ID"),
        Column("Customer", 20),
        Column("Kind"),
        Column("Happened at"),
        Column("Content", 40),
        Column("Next action at"),
        Column("Done"),
        Column("Sync"),
    ]
    _print_table(
        ctx,
        columns,
        (
            [
                r.id,
                names.get(r["customer_id"], r["customer_id"]),
                r["kind"],
                format_value(r["happened_at"]),
                " ".join(str(r["content"]).split()),
                format_value(r["next_action_at"]),
                format_value(r["done"]),
                r.sync_state,
            ]
            for r in records
        ),
    )
    _print_count(ctx, len(records), args.offset, total, "follow-up")
    return EXIT_OK


def _deals_add(ctx: Context, args: argparse.Namespace) -> int:
    spec = ENTITIES["deal"]
    values = parse_field_values(spec, _pairs(args, {"customer": "customer_id", "title": "title"}))
    return _create(ctx, "deal", values)


def _deals_edit(ctx: Context, args: argparse.Namespace) -> int:
    return _edit(ctx, "deal", args)


# --- replica commands ---------------------------------------------------------------------


def _pending(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.replica.read() as conn:
        mutations = outbox.list_mutations(conn)
    if ctx.json:
        ctx.print_json([_mutation_to_json(m) for m in mutations])
        return EXIT_OK
    if not mutations:
        ctx.print("No queued edits.")
        return EXIT_OK
    columns = [
        Column("Seq"),
        Column("Mutation"),
        Column("Entity"),
        Column("Record"),
        Column("Op"),
        Column("Fields", 40),
        Column("Status"),
        Column("Last error", 50),
    ]
    _print_table(
        ctx,
        columns,
        (
            [
                str(m.seq),
                m.mutation_id,
                m.entity,
                m.record_id,
                m.op,
                ", ".join(m.fields),
                m.status,
                m.last_error or "",
            ]
            for m in mutations
        ),
    )
    failed = sum(m.status == "failed" for m in mutations)
    ctx.print(f"{len(mutations)} queued, {failed} failed")
    return EXIT_OK


def _info(ctx: Context, args: argparse.Namespace) -> int:
    replica = ctx.replica
    records = {name: replica.repository(name).count() for name in ENTITIES}
    with replica.read() as conn:
        queued = outbox.counts(conn)
    problems = replica.check_integrity()
    if ctx.json:
        ctx.print_json(
            {
                "profile": str(ctx.profile_dir),
                "replica": str(replica.path),
                "schema_version": replica.schema_version,
                "client_id": replica.client_id,
                "user_id": replica.user_id,
                "records": records,
                "outbox": queued,
                "integrity": {"ok": not problems, "problems": problems},
            }
        )
    else:
        lines = [
            ("Profile", str(ctx.profile_dir)),
            ("Replica", str(replica.path)),
            ("Schema version", str(replica.schema_version)),
            ("Client id", replica.client_id),
            ("User", replica.user_id or "(not signed in)"),
        ]
        lines += [(f"{ENTITIES[name].label}s", str(n)) for name, n in records.items()]
        lines += [
            ("Pending edits", str(queued.get("pending", 0))),
            ("Failed edits", str(queued.get("failed", 0))),
            ("Integrity", "ok" if not problems else f"{len(problems)} problem(s)"),
        ]
        width = max(len(label) for label, _ in lines) + 1
        for label, value in lines:
            ctx.print(f"{_pad(label + ':', width)} {value}")
        for problem in problems:
            ctx.print(f"  {problem}")
    return EXIT_OK if not problems else EXIT_CORRUPT


# --- registration -------------------------------------------------------------------------


def _register_customers(commands: _Commands) -> None:
    spec = ENTITIES["customer"]
    group = commands.group("customers", "list, show and edit customers")

    p = group.command("list", "list customers (filter, search, sort, page)", _customers_list)
    p.add_argument("--search", metavar="TEXT", help="name, pinyin or initials, phone, email…")
    p.add_argument("--status", choices=spec.field("status").choices)
    p.add_argument("--level", choices=spec.field("level").choices)
    p.add_argument("--owner", metavar="ID", help="only customers owned by this user")
    sortable = [f.name for f in spec.fields if f.kind is not FieldKind.TAGS]
    p.add_argument("--sort", metavar="FIELD", choices=sortable, help="sort by FIELD (default name)")
    p.add_argument("--desc", action="store_true", help="sort in descending order")
    _add_paging_options(p)

    p = group.command("show", "show every field of one customer", _customers_show)
    p.add_argument("id", metavar="ID")

    p = group.command("add", "create a customer", _customers_add)
    p.add_argument("--name", required=True)
    p.add_argument("--company")
    _add_set_option(p, spec, required=False)

    p = group.command("edit", "change fields of a customer", _customers_edit)
    p.add_argument("id", metavar="ID")
    _add_set_option(p, spec, required=True)

    p = group.command("delete", "delete a customer", _customers_delete)
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--cascade",
        action="store_true",
        help="also delete the customer's contacts, follow-ups and deals",
    )


def _register_contacts(commands: _Commands) -> None:
    group = commands.group("contacts", "add contacts of customers")
    p = group.command("add", "create a contact", _contacts_add)
    p.add_argument("--customer", metavar="ID", required=True, help="the customer's id")
    p.add_argument("--name", required=True)
    _add_set_option(p, ENTITIES["contact"], required=False)


def _register_followups(commands: _Commands) -> None:
    spec = ENTITIES["follow_up"]
    group = commands.group("followups", "add and list follow-ups", aliases=["follow-ups"])
    p = group.command("add", "record a follow-up (happened_at defaults to now)", _followups_add)
    p.add_argument("--customer", metavar="ID", required=True, help="the customer's id")
    p.add_argument("--kind", required=True, choices=spec.field("kind").choices)
    p.add_argument("--content", metavar="TEXT", required=True)
    _add_set_option(p, spec, required=False)

    p = group.command("list", "list follow-ups, newest first", _followups_list)
    p.add_argument("--customer", metavar="ID", help="only this customer's follow-ups")
    p.add_argument("--open", action="store_true", help="only follow-ups not done yet")
    _add_paging_options(p)


def _register_deals(commands: _Commands) -> None:
    spec = ENTITIES["deal"]
    group = commands.group("deals", "add and edit deals")
    p = group.command("add", "create a deal", _deals_add)
    p.add_argument("--customer", metavar="ID", required=True, help="the customer's id")
    p.add_argument("--title", required=True)
    _add_set_option(p, spec, required=False)

    p = group.command("edit", "change fields of a deal", _deals_edit)
    p.add_argument("id", metavar="ID")
    _add_set_option(p, spec, required=True)


def _register_replica(commands: _Commands) -> None:
    commands.command("pending", "list edits queued for the server", _pending)
    commands.command("info", "replica path, schema, client id, counts and integrity check", _info)


_REGISTRARS: tuple[Callable[[_Commands], None], ...] = (
    _register_customers,
    _register_contacts,
    _register_followups,
    _register_deals,
    _register_replica,
)


if __name__ == "__main__":
    raise SystemExit(main())
