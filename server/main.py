"""``outpost-server``: run the central sync server and administer it.

    outpost-server serve [--db URL] [--host 127.0.0.1] [--port 8750] [--workers N]
    outpost-server db upgrade|current
    outpost-server user add|list|disable|enable|set-password|set-role|tokens|revoke-token
    outpost-server audit --customer ID
    outpost-server seed-demo

The database is a SQLite file by default (the embedded set-up); production uses
PostgreSQL (``--db postgresql+psycopg://user@host/db``), shared by any number of server
processes. ``--db`` may also come from ``OUTPOST_SERVER_DB``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from sync import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_READY = 3

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750


class CommandError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _database_url(args: argparse.Namespace) -> str:
    from server.db import default_database_url, normalise_url

    return normalise_url(args.db or os.environ.get("OUTPOST_SERVER_DB") or default_database_url())


def _engine(args: argparse.Namespace, *, upgrade_empty: bool = True) -> Any:
    """An engine on a database at the current schema.

    An empty database gets the schema created; one at an older schema must be upgraded on
    purpose (``db upgrade``) — other server processes may still be using it.
    """
    from server import migrate
    from server.db import create_server_engine

    url = _database_url(args)
    engine = create_server_engine(url, pool_size=2)
    try:
        current = migrate.current_revision(engine)
    except Exception as exc:
        raise CommandError(f"cannot open the database {_redact(url)}: {exc}") from None
    if current is None and upgrade_empty:
        migrate.upgrade(engine)
    elif current != migrate.head_revision():
        raise CommandError(
            f"the database is at schema {current}, this server needs {migrate.head_revision()}: "
            "run 'outpost-server db upgrade' first",
            EXIT_NOT_READY,
        )
    return engine


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"


# --- serve ----------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.accounts import ThrottlePolicy
    from server.app import ServerSettings

    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandError("--tls-cert and --tls-key go together", EXIT_USAGE)
    if args.workers < 1:
        raise CommandError("--workers must be at least 1", EXIT_USAGE)
    engine = _engine(args)
    engine.dispose()

    from datetime import timedelta

    settings = ServerSettings(
        database_url=_database_url(args),
        max_body_bytes=args.max_body_bytes,
        throttle=ThrottlePolicy(
            max_failures=args.login_max_failures,
            max_failures_per_address=args.login_max_failures_per_address,
            lockout=timedelta(seconds=args.login_lockout_seconds),
        ),
        pool_size=args.pool_size,
    )
    os.environ.update(settings.to_env())
    metrics_dir = None
    if args.workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="outpost-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    host, port = sock.getsockname()[:2]
    scheme = "https" if args.tls_cert else "http"
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host

    config = uvicorn.Config(
        "server.app:app_from_env",
        factory=True,
        workers=args.workers,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        timeout_graceful_shutdown=args.graceful_timeout,
        log_level=args.log_level,
        access_log=args.access_log,
        server_header=False,
    )
    print(
        f"Outpost server {__version__} listening on {scheme}://{shown_host}:{port} "
        f"(database: {_redact(settings.database_url)}, workers: {args.workers})",
        flush=True,
    )
    # uvicorn finishes the requests in flight on SIGTERM/SIGINT, then raises the signal
    # again for the previous handler: this one, so a graceful stop exits with status 0.
    stopped: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopped.append(signum))
    try:
        if args.workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return EXIT_OK


# --- db -------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from alembic.util import CommandError as AlembicError

    from server import migrate
    from server.db import create_server_engine

    engine = create_server_engine(_database_url(args), pool_size=1)
    before = migrate.current_revision(engine)
    try:
        migrate.upgrade(engine)
    except AlembicError as exc:
        raise CommandError(
            f"cannot upgrade from schema {before}: {exc} (is this database from a newer "
            "Outpost server?)"
        ) from None
    after = migrate.current_revision(engine)
    if before == after:
        print(f"database already at schema {after}")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return EXIT_OK


def cmd_db_current(args: argparse.Namespace) -> int:
    from server import migrate
    from server.db import create_server_engine

    engine = create_server_engine(_database_url(args), pool_size=1)
    current = migrate.current_revision(engine)
    head = migrate.head_revision()
    state = "up to date" if current == head else f"needs upgrade to {head}"
    print(f"{_redact(_database_url(args))}: schema {current or 'empty'} ({state})")
    return EXIT_OK if current == head else EXIT_NOT_READY


def cmd_db_restored(args: argparse.Namespace) -> int:
    from server import feed

    def renew(conn: Any) -> tuple[str, str]:
        return feed.renew_server_id(conn)

    old, new = _write(args, renew)
    print(
        f"database identity changed from {old} to {new}: every client's next sync pulls "
        "everything again (its queued edits are kept and sent)"
    )
    return EXIT_OK


# --- users ----------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords differ")
    else:
        raise CommandError("no terminal to ask for a password: use --password-stdin", EXIT_USAGE)
    return password


def _write(args: argparse.Namespace, work: Callable[[Any], Any]) -> Any:
    from server.accounts import AccountError
    from server.db import write_transaction

    engine = _engine(args)
    try:
        return write_transaction(engine, work)
    except AccountError as exc:
        raise CommandError(exc.message) from None
    finally:
        engine.dispose()


def cmd_user_add(args: argparse.Namespace) -> int:
    from server import accounts

    password = _read_password(args)
    try:
        accounts.check_password_rules(password)
    except accounts.AccountError as exc:
        raise CommandError(exc.message) from None
    account = _write(
        args,
        lambda conn: accounts.add_user(
            conn,
            args.username,
            password,
            role=accounts.Role(args.role),
            team=args.team,
            display_name=args.display_name,
        ),
    )
    print(f"added {account.username} ({account.role.value}, team {account.team or '-'})")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    from server import accounts
    from server.db import read_transaction

    engine = _engine(args)
    with read_transaction(engine) as conn:
        found = accounts.list_accounts(conn)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "username": a.username,
                        "display_name": a.display_name,
                        "role": a.role.value,
                        "team": a.team,
                        "disabled": a.disabled,
                    }
                    for a in found
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return EXIT_OK
    if not found:
        print("no users yet: add one with 'outpost-server user add NAME'")
    for a in found:
        state = "  (disabled)" if a.disabled else ""
        print(f"{a.username:<20} {a.role.value:<8} {a.team or '-':<12} {a.display_name}{state}")
    return EXIT_OK


def cmd_user_disable(args: argparse.Namespace) -> int:
    from server import accounts

    account = _write(args, lambda conn: accounts.set_disabled(conn, args.username, True))
    print(f"disabled {account.username}; all its devices are signed out")
    return EXIT_OK


def cmd_user_enable(args: argparse.Namespace) -> int:
    from server import accounts

    account = _write(args, lambda conn: accounts.set_disabled(conn, args.username, False))
    print(f"enabled {account.username}")
    return EXIT_OK


def cmd_user_set_password(args: argparse.Namespace) -> int:
    from server import accounts

    password = _read_password(args)
    account = _write(args, lambda conn: accounts.set_password(conn, args.username, password))
    print(f"password of {account.username} changed; its devices must sign in again")
    return EXIT_OK


def cmd_user_set_role(args: argparse.Namespace) -> int:
    from server import accounts

    account = _write(
        args,
        lambda conn: accounts.set_role(conn, args.username, accounts.Role(args.role), args.team),
    )
    print(f"{account.username} is now {account.role.value} in team {account.team or '-'}")
    return EXIT_OK


def cmd_user_tokens(args: argparse.Namespace) -> int:
    from server import accounts
    from server.db import read_transaction

    engine = _engine(args)
    with read_transaction(engine) as conn:
        try:
            accounts.get_account(conn, args.username)
        except accounts.AccountError as exc:
            raise CommandError(exc.message) from None
        found = accounts.list_tokens(conn, args.username.lower(), include_revoked=args.all)
    if not found:
        print(f"{args.username} is signed in on no device")
    for t in found:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        revoked = f"  revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else ""
        print(
            f"{t.id:>6}  {t.device_name:<30} since {t.created_at:%Y-%m-%d %H:%M}"
            f"  last used {used}{revoked}"
        )
    return EXIT_OK


def cmd_user_revoke_token(args: argparse.Namespace) -> int:
    from server import accounts

    if args.all:

        def revoke_all(conn: Any) -> int:
            account = accounts.get_account(conn, args.username)  # an unknown user is an error
            return accounts.revoke_all_tokens(conn, account.username)

        count = _write(args, revoke_all)
        print(f"revoked {count} token(s) of {args.username}")
        return EXIT_OK
    if args.token_id is None:
        raise CommandError("give a token id (see 'user tokens') or --all", EXIT_USAGE)
    done = _write(
        args,
        lambda conn: accounts.revoke_token(conn, args.token_id, username=args.username.lower()),
    )
    if not done:
        raise CommandError(f"{args.username} has no active token {args.token_id}")
    print(f"revoked token {args.token_id} of {args.username}")
    return EXIT_OK


# --- audit and demo data --------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    from server import audit
    from server.db import read_transaction

    engine = _engine(args)
    with read_transaction(engine) as conn:
        entries = audit.customer_history(conn, args.customer)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "at": e.at.isoformat(),
                        "user": e.username,
                        "entity": e.entity,
                        "id": e.record_id,
                        "op": e.op,
                        "version": e.version,
                        "changes": e.changes,
                        "mutation_id": e.mutation_id,
                    }
                    for e in entries
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        if not entries:
            raise CommandError(f"no history for customer {args.customer}")
        print(audit.format_history(entries))
    return EXIT_OK


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from server import seed

    password = _read_password(args) if args.password_stdin else seed.DEMO_PASSWORD
    report = _write(
        args, lambda conn: seed.seed_demo(conn, customers=args.customers, password=password)
    )
    if report.users_created:
        print(
            f"users added: {', '.join(report.users_created)} (password: "
            f"{'as given' if args.password_stdin else seed.DEMO_PASSWORD})"
        )
    if report.customers:
        print(
            f"added {report.customers} customers, {report.contacts} contacts, "
            f"{report.follow_ups} follow-ups and {report.deals} deals"
        )
    elif not report.users_created:
        print("the database already has demo data: nothing added")
    else:
        print("the database already has customers: no demo customers added")
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database: a SQLite file path or URL, or postgresql+psycopg://user@host/db "
        "(default: $OUTPOST_SERVER_DB, else a SQLite file in the user data directory)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outpost-server",
        description="Outpost central sync server: accounts, change feed, idempotent push.",
        epilog="Run 'outpost-server COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"outpost-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server")
    _add_db(serve)
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one and prints it)",
    )
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    serve.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=8 * 1024 * 1024,
        help="larger request bodies get 413 (default 8 MiB)",
    )
    serve.add_argument(
        "--login-max-failures",
        type=int,
        default=5,
        help="failed logins per user before a lockout (default 5)",
    )
    serve.add_argument(
        "--login-max-failures-per-address",
        type=int,
        default=20,
        help="failed logins per client address before a lockout (default 20)",
    )
    serve.add_argument(
        "--login-lockout-seconds",
        type=float,
        default=30.0,
        help="first lockout, doubling with each further failure (default 30)",
    )
    serve.add_argument(
        "--pool-size", type=int, default=10, help="database connections per worker (default 10)"
    )
    serve.add_argument(
        "--graceful-timeout",
        type=int,
        default=30,
        help="seconds to finish requests in flight on shutdown (default 30)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="server database schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_commands.add_parser("upgrade", help="create or upgrade the schema (Alembic)")
    _add_db(up)
    up.set_defaults(func=cmd_db_upgrade)
    cur = db_commands.add_parser("current", help="show the schema revision")
    _add_db(cur)
    cur.set_defaults(func=cmd_db_current)
    restored = db_commands.add_parser(
        "restored",
        help="after restoring a backup: give the database a new identity, so every client "
        "resyncs in full instead of skipping the changes the backup lost",
    )
    _add_db(restored)
    restored.set_defaults(func=cmd_db_restored)

    user = commands.add_parser("user", help="manage accounts")
    users = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    roles = ["sales", "manager", "admin"]

    add = users.add_parser("add", help="create an account (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=roles, default="sales")
    add.add_argument("--team", help="team name (managers see their team's customers)")
    add.add_argument("--display-name", help="name shown in the app")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=cmd_user_add)

    lst = users.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_user_list)

    dis = users.add_parser("disable", help="disable an account and sign out its devices")
    dis.add_argument("username")
    dis.set_defaults(func=cmd_user_disable)
    en = users.add_parser("enable", help="enable a disabled account")
    en.add_argument("username")
    en.set_defaults(func=cmd_user_enable)

    pw = users.add_parser("set-password", help="change a password (signs out all devices)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.set_defaults(func=cmd_user_set_password)

    sr = users.add_parser("set-role", help="change role and optionally team")
    sr.add_argument("username")
    sr.add_argument("role", choices=roles)
    sr.add_argument("--team", help="new team ('' for none)")
    sr.set_defaults(func=cmd_user_set_role)

    tk = users.add_parser("tokens", help="devices an account is signed in on")
    tk.add_argument("username")
    tk.add_argument("--all", action="store_true", help="include revoked tokens")
    tk.set_defaults(func=cmd_user_tokens)

    rv = users.add_parser("revoke-token", help="sign a device out")
    rv.add_argument("username")
    rv.add_argument("token_id", type=int, nargs="?")
    rv.add_argument("--all", action="store_true", help="every device of the account")
    rv.set_defaults(func=cmd_user_revoke_token)

    for sub in (lst, dis, en, pw, sr, tk, rv, add):
        _add_db(sub)

    aud = commands.add_parser("audit", help="history of a customer and its records")
    _add_db(aud)
    aud.add_argument("--customer", required=True, metavar="ID", help="customer id")
    aud.add_argument("--json", action="store_true")
    aud.set_defaults(func=cmd_audit)

    demo = commands.add_parser("seed-demo", help="demo accounts and a few hundred customers")
    _add_db(demo)
    demo.add_argument("--customers", type=int, default=300, help="how many (default 300)")
    demo.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the demo password from stdin (default {DEMO_PASSWORD_HINT})",
    )
    demo.set_defaults(func=cmd_seed_demo)
    return parser


DEMO_PASSWORD_HINT = "outpost-demo"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
        return result
    except CommandError as exc:
        print(f"outpost-server: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
