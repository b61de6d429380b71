"""``outpost-cli``: Outpost's local replica from a terminal.

The command works on one *profile*: a directory holding the replica file
``replica.sqlite3``. It is chosen by ``--profile DIR``, else by the environment variable
``OUTPOST_PROFILE``, else it is the profile of the last ``login`` (its path is noted in the
file ``last_profile`` of Outpost's data directory), else the ``profiles/local`` folder
there (see :func:`choose_profile_dir`). Every edit goes through the repository, so it is
queued in the outbox exactly as an edit made in the desktop app.

Examples::

    outpost-cli login --server https://crm.example.com:8750 --user zhangsan
    outpost-cli customers add --name 张三 --company 星辰科技 --set city=杭州
    outpost-cli customers list --search zs
    outpost-cli customers edit ID --set email=zhang@example.com --set level=A
    outpost-cli --json customers show ID
    outpost-cli pending
    outpost-cli pending discard 7      # drop a failed edit (or: pending retry 7)
    outpost-cli sync
    outpost-cli conflicts list
    outpost-cli conflicts resolve 3 --mine phone --theirs city
    outpost-cli status
    outpost-cli info

Signing in: ``login`` (without ``--profile``: into the profile directory of that server and
user) records the server and user in the replica and keeps the device token in the
system keyring (service ``Outpost``, see :mod:`sync.credentials`); the password is never
stored. With no usable keyring it says so, and every ``sync`` asks for the password again
(at the terminal, or with ``--password-stdin``), signs in for that run only and signs out
at its end. ``logout`` revokes the token on the server and removes it from the keyring.

``--json`` prints machine-readable JSON on stdout: field values in their wire encoding
(times as ISO text in UTC, money as decimal strings). Messages and errors go to stderr.

Exit codes:

* 0 — success.
* 1 — the command failed: no record with that id, a customer that still has contacts,
  follow-ups or deals (use ``--cascade``), a replica that cannot be opened or written, no
  failed edit with that number to discard or retry.
* 2 — usage error: bad options or arguments, or invalid field values (each printed on
  stderr as ``field: message``); nothing was written. Also a ``login`` into a profile
  that belongs to another user or server.
* 3 — offline: the server cannot be reached (or is overloaded); queued edits are kept and
  sent by the next ``sync``.
* 4 — the sync worked but conflicts or failed edits need attention (``conflicts list``,
  ``pending``).
* 5 — authentication: not signed in, wrong password, or the server no longer accepts the
  token (revoked): sign in again with ``login``. Queued edits are kept.
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
import getpass
import json
import os
import re
import ssl
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.exc import DatabaseError

from sync import __version__, credentials, outbox, wire
from sync.account import (
    CA_FILE_KEY,
    SERVER_URL_KEY,
    ProfileMismatchError,
    ServerProfile,
    check_ca_file,
    check_profile_owner,
    device_name,
    normalize_server_url,
    revoke_quietly,
    server_profile,
    sign_in,
)
from sync.conflicts import (
    Choice,
    ConflictError,
    ConflictInfo,
    DiscardResult,
    FailedEditError,
    discard_failed,
    get_conflict,
    list_conflicts,
    resolve_delete,
    resolve_fields,
    resolve_keep,
    retry_failed,
)
from sync.credentials import CredentialError, NoKeyringError
from sync.engine import CURSOR_KEY, LAST_SYNC_KEY, SyncEngine, SyncReport, SyncState, SyncStatus
from sync.migrations import ReplicaTooNewError
from sync.outbox import Mutation
from sync.profile import (
    PROFILE_ENV,
    last_profile,
    profile_dir_for,
    remember_profile,
    resolve_profile_dir,
)
from sync.replica import REPLICA_FILENAME, Replica, ReplicaCorruptError, ReplicaError
from sync.replica_models import CONFLICTS_TABLE
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
from sync.transport import (
    AuthError,
    CertificateError,
    OfflineError,
    ServerClient,
    TransportError,
)
from sync.validation import FieldError, ValidationError, clean_values, parse_text

PROG = "outpost-cli"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_OFFLINE = 3
EXIT_CONFLICTS = 4
EXIT_AUTH = 5
EXIT_CORRUPT = 6
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    the command failed: no record with that id, a customer that still has
       contacts, follow-ups or deals (use --cascade), a replica that cannot be opened
  2    usage error: bad options or arguments, or invalid field values (printed on
       stderr as "field: message"); nothing was written; a login into a profile
       of another user or server
  3    offline: the server cannot be reached; queued edits are kept
  4    sync done, but conflicts or failed edits need attention
       (see "conflicts list" and "pending")
  5    authentication: not signed in, wrong password, or the token was revoked:
       run "login" again (queued edits are kept)
  6    the replica file is damaged or is not an Outpost replica (left untouched);
       "info" also exits with 6 when the integrity check finds problems
  130  interrupted
"""

DEFAULT_LIMIT = 50

# --- profile ------------------------------------------------------------------------------


def choose_profile_dir(explicit: str | None) -> Path:
    """The profile a command works on: ``--profile``, else ``OUTPOST_PROFILE``, else the
    profile of the last ``login`` (if it still exists), else the local profile."""
    if explicit or os.environ.get(PROFILE_ENV, "").strip():
        return resolve_profile_dir(explicit)
    return last_profile() or resolve_profile_dir(None)


def _profile_is_explicit(args: argparse.Namespace) -> bool:
    return bool(args.profile) or bool(os.environ.get(PROFILE_ENV, "").strip())


# --- running a command --------------------------------------------------------------------


class UsageError(Exception):
    """The command line asks for something impossible (exit code 2)."""


class SignInRequired(Exception):
    """Not signed in, or signing in failed (exit code 5); the message says what to do."""


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
    ctx = Context(choose_profile_dir(args.profile), bool(args.json), sys.stdout, sys.stderr)
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
    except SignInRequired as exc:
        _error(ctx, str(exc))
        return EXIT_AUTH
    except AuthError as exc:
        _error(ctx, f"the server refused the sign-in: {exc}")
        return EXIT_AUTH
    except OfflineError as exc:
        _error(ctx, f"offline: {exc}")
        return EXIT_OFFLINE
    except CertificateError as exc:
        _error(ctx, f"{exc}{CA_FILE_HINT}")
        return EXIT_FAILURE
    except TransportError as exc:
        _error(ctx, f"the server's answer cannot be used: {exc}")
        return EXIT_FAILURE
    except (
        RecordNotFoundError,
        ReplicaError,
        ReplicaTooNewError,
        ConflictError,
        FailedEditError,
        CredentialError,
    ) as exc:
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

    def command_with_actions(self, name: str, help_text: str, handler: Handler) -> _Commands:
        """A command that runs ``handler`` alone and may also be given a subcommand
        (``pending`` lists, ``pending discard ID`` discards)."""
        parser = self.command(name, help_text, handler)
        sub = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=False)
        return _Commands(sub, self._common)


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Subcommands accept the global options too ("customers list --json"); their default
    # is SUPPRESS so that they never overwrite a value given before the subcommand.
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help=f"profile directory holding {REPLICA_FILENAME} (default: ${PROFILE_ENV}, else "
        "the profile of the last login, else the local profile in Outpost's data directory)",
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
    if failed:
        ctx.print(
            f"A failed edit holds back later edits of its record: {PROG} pending discard SEQ "
            f"(back to the server's version) or {PROG} pending retry SEQ (send it again)"
        )
    return EXIT_OK


def _edit_key(text: str) -> int | str:
    """An outbox seq (a number) or a mutation id."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("give the edit's Seq or its mutation id")
    return int(text) if text.isdigit() else text


def _ids_to_json(ids: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    return {entity: sorted(found) for entity, found in ids.items()}


def _discard_to_json(result: DiscardResult) -> dict[str, Any]:
    return {
        "mutation_id": result.mutation_id,
        "entity": result.entity,
        "record_id": result.record_id,
        "op": result.op,
        "discarded": list(result.discarded),
        "kept": list(result.kept),
        "changed": _ids_to_json(result.changed),
        "removed": _ids_to_json(result.removed),
    }


def _pending_discard(ctx: Context, args: argparse.Namespace) -> int:
    result = discard_failed(ctx.replica, args.id)
    if ctx.json:
        ctx.print_json(_discard_to_json(result))
        return EXIT_OK
    label = ENTITIES[result.entity].label.lower()
    ctx.print(f"Discarded the failed {result.op} of {label} {result.record_id}.")
    also = result.discarded[1:]
    if also:
        ctx.print(f"Discarded with it: {', '.join(also)}")
    if result.removed:
        for entity, ids in sorted(result.removed.items()):
            names = ENTITIES[entity].label.lower()
            for record_id in sorted(ids):
                ctx.print(f"Removed {names} {record_id} (the server does not have it)")
    else:
        ctx.print(f"The {label} is back to the server's version in the fields it changed.")
    if result.kept:
        n = len(result.kept)
        ctx.print(
            f"{n} later edit{'' if n == 1 else 's'} of it stay{'s' if n == 1 else ''} "
            f"queued: {PROG} sync sends {'it' if n == 1 else 'them'}."
        )
    return EXIT_OK


def _pending_retry(ctx: Context, args: argparse.Namespace) -> int:
    result = retry_failed(ctx.replica, args.id)
    if ctx.json:
        ctx.print_json(
            {
                "old_mutation_id": result.old_mutation_id,
                "mutation_id": result.mutation_id,
                "entity": result.entity,
                "record_id": result.record_id,
            }
        )
        return EXIT_OK
    label = ENTITIES[result.entity].label.lower()
    ctx.print(
        f"The edit of {label} {result.record_id} is queued again as {result.mutation_id}; "
        f"{PROG} sync sends it."
    )
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


# --- signing in ---------------------------------------------------------------------------

# The outcome of the last sync this command ran (the engine keeps only the last success).
SYNC_STATE_KEY = "cli_last_sync_state"
SYNC_ATTEMPT_KEY = "cli_last_sync_at"
SYNC_MESSAGE_KEY = "cli_last_sync_message"
CA_FILE_HINT = f" (a company CA is trusted with {PROG} login ... --ca-file PEM)"


def _server_profile(ctx: Context) -> ServerProfile:
    """The profile's server and user; :class:`SignInRequired` if it never signed in."""
    profile = server_profile(ctx.replica)
    if profile is None:
        raise SignInRequired(
            f"the profile {ctx.profile_dir} is not signed in to a server: "
            f"run {PROG} login --server URL --user NAME"
        )
    return profile


def _server_url(text: str) -> str:
    try:
        return normalize_server_url(text)
    except ValueError as exc:
        raise UsageError(f"--server: {exc}") from None


def _ca_file(text: str | None) -> Path | None:
    if text is None:
        return None
    try:
        return check_ca_file(text)
    except ValueError as exc:
        raise UsageError(f"--ca-file: {exc}") from None


def _device_name() -> str:
    return device_name(PROG)


def _read_password(ctx: Context, args: argparse.Namespace, prompt: str) -> str:
    """The password from standard input (``--password-stdin``) or a terminal prompt."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: no password on standard input")
        return password
    if not _is_tty(sys.stdin):
        raise UsageError(
            "no terminal to ask for the password: pass it on standard input with --password-stdin"
        )
    try:
        password = getpass.getpass(prompt, stream=ctx.err)
    except EOFError:
        password = ""
    if not password:
        raise UsageError("no password given")
    return password


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _profile_mismatch(ctx: Context, exc: ProfileMismatchError) -> UsageError:
    """The refusal of :func:`sync.account.check_profile_owner` in the command's words."""
    message = str(exc).replace("this profile", f"the profile {ctx.profile_dir}", 1)
    whose = "that server's" if "belongs to the server" in message else "that user's"
    return UsageError(f"{message}: use another --profile (or none, for {whose} own profile)")


def _check_profile_owner(ctx: Context, server_url: str, user: str) -> None:
    """Refuse to sign a profile of one user (or server) in as another."""
    try:
        check_profile_owner(ctx.replica, server_url, user)
    except ProfileMismatchError as exc:
        raise _profile_mismatch(ctx, exc) from None


@contextlib.contextmanager
def _signed_in(
    ctx: Context, args: argparse.Namespace, profile: ServerProfile
) -> Iterator[ServerClient]:
    """A client signed in as the profile's user: with the keyring's token, or — with no
    usable keyring — with the password, for this run only (signed out at its end)."""
    per_run: NoKeyringError | None = None
    token: str | None = None
    try:
        token = credentials.load_token(profile.server_url, profile.user)
    except NoKeyringError as exc:
        per_run = exc
    try:
        client = ServerClient(profile.config(), token)
    except (ssl.SSLError, OSError) as exc:
        raise ReplicaError(f"cannot use the CA file {profile.ca_file}: {exc}") from None
    try:
        if per_run is not None:
            if not args.password_stdin:
                if not _is_tty(sys.stdin):
                    raise SignInRequired(
                        f"no usable keyring ({per_run.reason}), so no token is stored: pass "
                        "the password with --password-stdin, or run on a terminal"
                    )
                print(f"{PROG}: no usable keyring: signing in for this run only", file=ctx.err)
            password = _read_password(
                ctx, args, f"Password for {profile.user} at {profile.server_url}: "
            )
            try:
                client.login(profile.user, password, f"{device_name(PROG)} (one run)")
            except AuthError as exc:
                raise SignInRequired(f"the server refused the sign-in: {exc}") from None
        elif token is None:
            raise SignInRequired(
                f"not signed in to {profile.server_url} as {profile.user}: run "
                f"{PROG} login --server {profile.server_url} --user {profile.user}"
            )
        yield client
    finally:
        if per_run is not None and client.token:
            with contextlib.suppress(TransportError):
                client.logout()
        client.close()


# --- login, logout ------------------------------------------------------------------------


def _login(ctx: Context, args: argparse.Namespace) -> int:
    server_url = _server_url(args.server)
    user = args.user.strip()
    if not user:
        raise UsageError("--user: a user name is needed")
    ca_file = _ca_file(args.ca_file)
    if not _profile_is_explicit(args):
        ctx.profile_dir = profile_dir_for(server_url, user)
    _check_profile_owner(ctx, server_url, user)  # before asking for the password
    password = _read_password(ctx, args, f"Password for {user} at {server_url}: ")
    try:
        signed = sign_in(
            ctx.replica,
            server_url,
            user,
            password,
            device=args.device or _device_name(),
            ca_file=ca_file,
        )
    except ProfileMismatchError as exc:  # the server's spelling of the user name
        raise _profile_mismatch(ctx, exc) from None
    username = signed.profile.user
    no_keyring: NoKeyringError | None = None
    if signed.keyring_problem is not None:
        no_keyring = NoKeyringError(signed.keyring_problem)
        # The token cannot be kept: do not leave it valid on the server either.
        revoke_quietly(signed.profile, signed.token)
    with contextlib.suppress(OSError):  # only a convenience for later commands
        remember_profile(ctx.profile_dir)
    if ctx.json:
        ctx.print_json(
            {
                "server": server_url,
                "user": username,
                "display_name": signed.display_name,
                "role": signed.role,
                "team": signed.team,
                "profile": str(ctx.profile_dir),
                "token_stored": signed.token_stored,
                "message": str(no_keyring) if no_keyring else None,
            }
        )
    else:
        ctx.print(f"Signed in to {server_url} as {username} ({signed.display_name}).")
        ctx.print(f"Profile: {ctx.profile_dir}")
        ctx.print(f"Next: {PROG} sync")
    if no_keyring is not None:
        print(f"{PROG}: warning: {no_keyring}", file=ctx.err)
    return EXIT_OK


def _logout(ctx: Context, args: argparse.Namespace) -> int:
    replica = ctx.replica
    url = replica.get_meta(SERVER_URL_KEY)
    user = replica.user_id
    result: dict[str, Any] = {
        "server": url,
        "user": user,
        "signed_in": False,
        "revoked": False,
        "message": None,
    }
    token: str | None = None
    if url and user:
        try:
            token = credentials.load_token(url, user)
        except NoKeyringError as exc:
            result["message"] = f"no usable keyring ({exc.reason}): no token is stored"
    else:
        result["message"] = f"the profile {ctx.profile_dir} is not signed in to a server"
    if token is not None and url and user:
        result["signed_in"] = True
        profile = _server_profile(ctx)
        with ServerClient(profile.config(), token) as client:
            try:
                client.logout()
                result["revoked"] = True
            except AuthError:
                result["revoked"] = True  # revoked already (elsewhere, or expired)
            except TransportError as exc:
                result["message"] = (
                    f"the token could not be revoked on the server ({exc}); it was removed "
                    "here, and stays valid on the server until it is revoked there "
                    "(outpost-server user revoke-token) or the password changes"
                )
        credentials.delete_token(url, user)
    elif url and user and result["message"] is None:
        result["message"] = f"not signed in to {url} as {user}: nothing to do"
    if ctx.json:
        ctx.print_json(result)
        return EXIT_OK
    if result["signed_in"]:
        ctx.print(f"Signed out of {url} ({user}); the token was removed from the keyring.")
    if result["message"]:
        prefix = "warning: " if result["signed_in"] else ""
        print(f"{PROG}: {prefix}{result['message']}", file=ctx.err)
    return EXIT_OK


# --- sync, status -------------------------------------------------------------------------


PROGRESS_BAR_WIDTH = 20


def progress_text(status: SyncStatus) -> str:
    """The progress line: a bar and the percentage once the total is known."""
    if not status.total:
        return f"Syncing… {status.done:,} records pulled"
    share = min(1.0, status.done / status.total)
    filled = int(share * PROGRESS_BAR_WIDTH)
    bar = "#" * filled + "-" * (PROGRESS_BAR_WIDTH - filled)
    return (
        f"Syncing… [{bar}] {int(share * 100):3d}% {status.done:,} of {status.total:,} "
        "records pulled"
    )


class _Progress:
    """A one-line progress display on a terminal (``\\r``-rewritten)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.width = 0

    def __call__(self, status: SyncStatus) -> None:
        if status.state is not SyncState.SYNCING:
            return
        self._show(progress_text(status))

    def _show(self, text: str) -> None:
        pad = max(0, self.width - display_width(text))
        self.stream.write(f"\r{text}{' ' * pad}")
        self.stream.flush()
        self.width = display_width(text)

    def clear(self) -> None:
        if self.width:
            self.stream.write(f"\r{' ' * self.width}\r")
            self.stream.flush()
            self.width = 0


@dataclass(frozen=True)
class _Counts:
    pending: int
    failed: int
    conflicts: int


def _counts(ctx: Context) -> _Counts:
    with ctx.replica.read() as conn:
        queued = outbox.counts(conn)
        conflicts = conn.execute(select(func.count()).select_from(CONFLICTS_TABLE)).scalar_one()
    return _Counts(queued.get("pending", 0), queued.get("failed", 0), int(conflicts))


def _note_sync(ctx: Context, state: str, message: str | None) -> None:
    replica = ctx.replica
    with replica.write() as conn:
        replica.set_meta(SYNC_STATE_KEY, state, conn)
        replica.set_meta(SYNC_ATTEMPT_KEY, datetime.now(UTC).isoformat(), conn)
        replica.set_meta(SYNC_MESSAGE_KEY, message or "", conn)


def _edits(n: int) -> str:
    return f"{n} queued edit{'' if n == 1 else 's'}"


def _sync(ctx: Context, args: argparse.Namespace) -> int:
    profile = _server_profile(ctx)
    progress = _Progress(ctx.err) if not args.quiet and _is_tty(ctx.err) else None
    report: SyncReport | None = None
    state, message, code = "ok", None, EXIT_OK
    try:
        with _signed_in(ctx, args, profile) as client:
            engine = SyncEngine(ctx.replica, client)
            if progress is not None:
                engine.add_listener(progress)
            try:
                report = engine.sync_once()
            finally:
                if progress is not None:
                    progress.clear()
    except OfflineError as exc:
        state, message, code = "offline", str(exc), EXIT_OFFLINE
    except SignInRequired as exc:
        state, message, code = "needs_sign_in", str(exc), EXIT_AUTH
    except AuthError as exc:
        state, code = "needs_sign_in", EXIT_AUTH
        message = (
            f"the server no longer accepts this sign-in ({exc}): run {PROG} login "
            f"--server {profile.server_url} --user {profile.user}"
        )
        # The token is dead (revoked, or the password changed): do not keep it.
        with contextlib.suppress(CredentialError):
            credentials.delete_token(profile.server_url, profile.user)
    except CertificateError as exc:
        state, message, code = "error", f"sync failed: {exc}{CA_FILE_HINT}", EXIT_FAILURE
    except TransportError as exc:
        state, message, code = "error", f"sync failed: {exc}", EXIT_FAILURE
    _note_sync(ctx, state, message)
    counts = _counts(ctx)
    if code == EXIT_OK and (counts.conflicts or counts.failed):
        code = EXIT_CONFLICTS
    if ctx.json:
        ctx.print_json(
            {
                "result": state,
                "message": message,
                "report": None if report is None else _report_to_json(report),
                "pending": counts.pending,
                "failed": counts.failed,
                "conflicts": counts.conflicts,
                "last_success": ctx.replica.get_meta(LAST_SYNC_KEY),
                "exit_code": code,
            }
        )
        return code
    if state == "offline":
        _error(ctx, f"offline: {message}")
        print(
            f"{_edits(counts.pending + counts.failed)} kept; the next sync sends them.",
            file=ctx.err,
        )
    elif state != "ok":
        _error(ctx, message or state)
        if counts.pending + counts.failed:
            print(f"{_edits(counts.pending + counts.failed)} kept.", file=ctx.err)
    if report is not None and not args.quiet:
        ctx.print(
            f"Synced: pushed {report.pushed} ({report.applied} applied, {report.conflicts} "
            f"conflict{'' if report.conflicts == 1 else 's'}, {report.rejected} rejected), "
            f"pulled {report.pulled} record{'' if report.pulled == 1 else 's'}."
        )
    if code == EXIT_CONFLICTS:
        if counts.conflicts:
            print(
                f"{counts.conflicts} open conflict{'' if counts.conflicts == 1 else 's'}: "
                f"see {PROG} conflicts list",
                file=ctx.err,
            )
        if counts.failed:
            print(
                f"{counts.failed} failed edit{'' if counts.failed == 1 else 's'}: "
                f"see {PROG} pending",
                file=ctx.err,
            )
    return code


def _report_to_json(report: SyncReport) -> dict[str, int]:
    return {
        "pushed": report.pushed,
        "applied": report.applied,
        "conflicts": report.conflicts,
        "rejected": report.rejected,
        "pulled": report.pulled,
        "pages": report.pages,
        "requests": report.requests,
    }


def _status(ctx: Context, args: argparse.Namespace) -> int:
    replica = ctx.replica
    url = replica.get_meta(SERVER_URL_KEY)
    user = replica.user_id
    signed_in = "no"
    note: str | None = None
    if url and user:
        try:
            signed_in = "yes" if credentials.load_token(url, user) else "no"
        except NoKeyringError as exc:
            signed_in, note = "per_run", str(exc)
    counts = _counts(ctx)
    last_state = replica.get_meta(SYNC_STATE_KEY) or None
    last_attempt = replica.get_meta(SYNC_ATTEMPT_KEY) or None
    last_message = replica.get_meta(SYNC_MESSAGE_KEY) or None
    last_success = replica.get_meta(LAST_SYNC_KEY) or None
    cursor = bool(replica.get_meta(CURSOR_KEY))
    if ctx.json:
        ctx.print_json(
            {
                "profile": str(ctx.profile_dir),
                "server": url,
                "user": user,
                "ca_file": replica.get_meta(CA_FILE_KEY),
                "signed_in": signed_in,
                "keyring_problem": note,
                "last_sync": {"state": last_state, "at": last_attempt, "message": last_message},
                "last_success": last_success,
                "pending": counts.pending,
                "failed": counts.failed,
                "conflicts": counts.conflicts,
                "cursor": cursor,
            }
        )
        return EXIT_OK
    signed = {
        "yes": "yes (token in the keyring)",
        "no": f"no: run {PROG} login",
        "per_run": "password asked on every sync (no usable keyring)",
    }[signed_in]
    last = "never"
    if last_state:
        last = f"{last_state} at {_local_time(last_attempt)}"
        if last_message:
            last += f": {last_message}"
    lines = [
        ("Profile", str(ctx.profile_dir)),
        ("Server", url or "(none)"),
        ("User", user or "(none)"),
        ("Signed in", signed if url and user else f"no: run {PROG} login"),
        ("Last sync", last),
        ("Last success", _local_time(last_success) if last_success else "never"),
        ("Pending edits", str(counts.pending)),
        ("Failed edits", str(counts.failed)),
        ("Conflicts", str(counts.conflicts)),
        ("Pull cursor", "yes" if cursor else "none (the first sync downloads everything)"),
    ]
    width = max(len(label) for label, _ in lines) + 1
    for label, value in lines:
        ctx.print(f"{_pad(label + ':', width)} {value}")
    return EXIT_OK


def _local_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return format_value(datetime.fromisoformat(iso))
    except ValueError:
        return iso


# --- conflicts ----------------------------------------------------------------------------

_KIND_HELP = {
    "field": "both sides changed the same fields",
    "deleted": "you changed it; it was deleted on the server (or taken away from you)",
    "delete_vs_change": "you deleted it; it was changed on the server",
}


def _conflict_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a conflict number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("a conflict number is positive")
    return value


def _conflict_title(ctx: Context, info: ConflictInfo) -> str:
    record = info.server_record or {}
    title = record.get("name") or record.get("title")
    if not title:
        local = ctx.repository(info.entity).get(info.record_id)
        if local is not None:
            title = local.values.get("name") or local.values.get("title")
    return str(title or "")


def _conflict_to_json(ctx: Context, info: ConflictInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "entity": info.entity,
        "record_id": info.record_id,
        "title": _conflict_title(ctx, info),
        "kind": info.kind,
        "server_version": info.server_version,
        "created_at": info.created_at,
        "fields": [
            {
                "field": f.field,
                "mine": f.mine,
                "base": f.base,
                "theirs": f.theirs,
                "changed_by": f.changed_by,
                "changed_at": f.changed_at,
            }
            for f in info.fields
        ],
        "server_record": info.server_record,
    }


def _wire_text(entity: str, name: str, value: Any) -> str:
    """A wire-encoded field value as a person reads it."""
    if value is None:
        return "(empty)"
    spec = ENTITIES[entity]
    if spec.has_field(name):
        with contextlib.suppress(wire.WireError, ValueError, TypeError):
            return format_value(wire.decode_value(spec.field(name), value)) or "(empty)"
    return str(value)


def _conflicts_list(ctx: Context, args: argparse.Namespace) -> int:
    found = list_conflicts(ctx.replica)
    if ctx.json:
        ctx.print_json([_conflict_to_json(ctx, c) for c in found])
        return EXIT_OK
    if not found:
        ctx.print("No open conflicts.")
        return EXIT_OK
    columns = [
        Column("ID"),
        Column("Entity"),
        Column("Record"),
        Column("Title", 24),
        Column("Kind"),
        Column("Fields", 40),
        Column("Since"),
    ]
    _print_table(
        ctx,
        columns,
        (
            [
                str(c.id),
                c.entity,
                c.record_id,
                _conflict_title(ctx, c),
                c.kind,
                ", ".join(f.field for f in c.fields),
                format_value(c.created_at),
            ]
            for c in found
        ),
    )
    ctx.print(
        f"{len(found)} open conflict{'' if len(found) == 1 else 's'}; see {PROG} conflicts show ID"
    )
    return EXIT_OK


def _conflicts_show(ctx: Context, args: argparse.Namespace) -> int:
    info = get_conflict(ctx.replica, args.id)
    if ctx.json:
        ctx.print_json(_conflict_to_json(ctx, info))
        return EXIT_OK
    label = ENTITIES[info.entity].label.lower()
    title = _conflict_title(ctx, info)
    named = f"{label} {title} ({info.record_id})" if title else f"{label} {info.record_id}"
    ctx.print(f"Conflict {info.id}: {named}")
    ctx.print(f"Kind: {info.kind} — {_KIND_HELP.get(info.kind, info.kind)}")
    if info.server_version is not None:
        ctx.print(f"Server version: {info.server_version}")
    ctx.print(f"Since: {format_value(info.created_at)}")
    if info.fields:
        ctx.print()
        columns = [
            Column("Field"),
            Column("Mine", 30),
            Column("Base", 30),
            Column("Theirs", 30),
            Column("Changed by"),
            Column("Changed at"),
        ]
        theirs_gone = info.kind == "deleted"
        _print_table(
            ctx,
            columns,
            (
                [
                    f.field,
                    _wire_text(info.entity, f.field, f.mine),
                    _wire_text(info.entity, f.field, f.base),
                    "(deleted)" if theirs_gone else _wire_text(info.entity, f.field, f.theirs),
                    f.changed_by or "",
                    _local_time(f.changed_at),
                ]
                for f in info.fields
            ),
        )
    ctx.print()
    if info.kind == "field":
        ctx.print(
            f"Resolve: {PROG} conflicts resolve {info.id} --mine FIELD… --theirs FIELD… "
            "--set FIELD=VALUE (or --all-mine / --all-theirs)"
        )
    else:
        keep = (
            "restore it with your values"
            if info.kind == "deleted"
            else "take the server's record back"
        )
        delete = "let the delete stand" if info.kind == "deleted" else "delete it anyway"
        ctx.print(
            f"Resolve: {PROG} conflicts resolve {info.id} --keep ({keep}) or --delete ({delete})"
        )
    return EXIT_OK


def _conflicts_resolve(ctx: Context, args: argparse.Namespace) -> int:
    info = get_conflict(ctx.replica, args.id)
    by_field = bool(
        args.mine or args.theirs or args.assignments or args.all_mine or args.all_theirs
    )
    if info.kind == "field":
        if args.keep or args.delete:
            raise UsageError(
                f"conflict {info.id} is a field conflict: choose per field with --mine, "
                "--theirs or --set (or --all-mine / --all-theirs), not --keep / --delete"
            )
        choices = _field_choices(info, args)
        mutation_id = resolve_fields(ctx.replica, info.id, choices)
        resolution = "fields"
    else:
        if by_field:
            raise UsageError(
                f"conflict {info.id} is a {info.kind} conflict ({_KIND_HELP[info.kind]}): "
                "resolve it with --keep or --delete"
            )
        if not (args.keep or args.delete):
            raise UsageError(f"conflict {info.id}: say --keep or --delete")
        if args.keep:
            mutation_id, resolution = resolve_keep(ctx.replica, info.id), "keep"
        else:
            mutation_id, resolution = resolve_delete(ctx.replica, info.id), "delete"
    if ctx.json:
        ctx.print_json(
            {
                "conflict": info.id,
                "entity": info.entity,
                "record_id": info.record_id,
                "resolution": resolution,
                "choices": (
                    {n: _choice_to_json(c) for n, c in choices.items()}
                    if resolution == "fields"
                    else None
                ),
                "mutation_id": mutation_id,
            }
        )
        return EXIT_OK
    label = ENTITIES[info.entity].label.lower()
    ctx.print(f"Resolved conflict {info.id} ({label} {info.record_id}).")
    if mutation_id:
        ctx.print(f"Mutation: {mutation_id} (queued; {PROG} sync sends it)")
    else:
        ctx.print("Nothing to send: the server's values stand.")
    return EXIT_OK


def _field_choices(info: ConflictInfo, args: argparse.Namespace) -> dict[str, Choice]:
    """The user's choice for every field of a field conflict (refusing anything else)."""
    spec = ENTITIES[info.entity]
    names = [f.field for f in info.fields]
    choices: dict[str, Choice] = {}

    def choose(name: str, choice: Choice) -> None:
        if name not in names:
            raise UsageError(f"{name} is not in conflict {info.id}; its fields: {', '.join(names)}")
        if name in choices:
            raise UsageError(f"{name} is chosen more than once")
        choices[name] = choice

    for name in args.mine:
        choose(name, "mine")
    for name in args.theirs:
        choose(name, "theirs")
    assignments: list[tuple[str, str]] = args.assignments
    for name, text in assignments:
        value = parse_text(spec.field(name), text) if spec.has_field(name) else text
        choose(name, ("value", value))
    if args.all_mine or args.all_theirs:
        for name in names:
            choices.setdefault(name, "mine" if args.all_mine else "theirs")
    missing = [n for n in names if n not in choices]
    if missing:
        raise UsageError(
            f"conflict {info.id}: choose a value for {', '.join(missing)} with --mine, "
            "--theirs or --set FIELD=VALUE (or --all-mine / --all-theirs)"
        )
    return choices


def _choice_to_json(choice: Choice) -> Any:
    if isinstance(choice, tuple):
        return {"value": choice[1]}
    return choice


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
    pending = commands.command_with_actions(
        "pending",
        "list edits queued for the server; discard or retry a failed one",
        _pending,
    )
    p = pending.command(
        "discard",
        "drop a failed edit: its record goes back to the server's version (a failed create "
        "removes the record and its children); later edits of the record stay queued",
        _pending_discard,
    )
    p.add_argument("id", metavar="ID", type=_edit_key, help="the edit's Seq or mutation id")
    p = pending.command(
        "retry",
        "send a failed edit again (when the reason may have gone: a permission granted, "
        "an owner enabled again); an edit refused as invalid cannot be retried",
        _pending_retry,
    )
    p.add_argument("id", metavar="ID", type=_edit_key, help="the edit's Seq or mutation id")
    commands.command("info", "replica path, schema, client id, counts and integrity check", _info)


def _add_password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (default: ask on "
        "the terminal)",
    )


def _register_sync(commands: _Commands) -> None:
    p = commands.command(
        "login",
        "sign in to a server: the token goes to the system keyring, the server and user "
        "into the profile (default profile: that server's and user's own)",
        _login,
    )
    p.add_argument(
        "--server", metavar="URL", required=True, help="e.g. https://crm.example.com:8750"
    )
    p.add_argument("--user", metavar="NAME", required=True)
    _add_password_option(p)
    p.add_argument("--ca-file", metavar="PEM", help="trust the server certificates this CA signed")
    p.add_argument("--device", metavar="NAME", help=f"device name (default: {_device_name()})")

    commands.command(
        "logout",
        "revoke this profile's token on the server and remove it from the keyring",
        _logout,
    )

    p = commands.command(
        "sync",
        "send queued edits and fetch the server's changes (exit 3 offline, 4 conflicts or "
        "failed edits, 5 sign in again); with no usable keyring the password is asked",
        _sync,
    )
    p.add_argument("--quiet", action="store_true", help="no progress line and no summary")
    _add_password_option(p)

    commands.command(
        "status",
        "server, user, last sync, pending / failed edits, conflicts (no network needed)",
        _status,
    )

    group = commands.group("conflicts", "list, show and resolve sync conflicts")
    group.command("list", "open conflicts, oldest first", _conflicts_list)
    p = group.command(
        "show", "one conflict: field, mine, base, theirs, changed by / at", _conflicts_show
    )
    p.add_argument("id", metavar="ID", type=_conflict_id)
    p = group.command(
        "resolve",
        "resolve a conflict: per field (--mine / --theirs / --set), or --keep / --delete for "
        "a deleted record; the result is queued for the next sync",
        _conflicts_resolve,
    )
    p.add_argument("id", metavar="ID", type=_conflict_id)
    p.add_argument(
        "--mine", nargs="+", action="extend", default=[], metavar="FIELD", help="keep my value"
    )
    p.add_argument(
        "--theirs",
        nargs="+",
        action="extend",
        default=[],
        metavar="FIELD",
        help="take the server's value",
    )
    p.add_argument(
        "--set",
        dest="assignments",
        metavar="FIELD=VALUE",
        action="append",
        type=_assignment,
        default=[],
        help="type in a new value (repeatable; an empty VALUE clears the field)",
    )
    every = p.add_mutually_exclusive_group()
    every.add_argument("--all-mine", action="store_true", help="my value for every other field")
    every.add_argument(
        "--all-theirs", action="store_true", help="the server's value for every other field"
    )
    deleted = p.add_mutually_exclusive_group()
    deleted.add_argument(
        "--keep",
        action="store_true",
        help="keep the record (mine if deleted there, the server's if I deleted it)",
    )
    deleted.add_argument(
        "--delete", action="store_true", help="let it be deleted (or delete it anyway)"
    )


_REGISTRARS: tuple[Callable[[_Commands], None], ...] = (
    _register_sync,
    _register_customers,
    _register_contacts,
    _register_followups,
    _register_deals,
    _register_replica,
)


if __name__ == "__main__":
    raise SystemExit(main())
