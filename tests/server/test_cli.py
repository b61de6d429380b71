"""``outpost-server`` administration commands, run as real subprocesses on a fresh database
of each backend: schema, users, demo data, the audit log, refusing an outdated schema."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, select, text

from server import accounts, migrate
from server.db import create_server_engine, read_transaction, write_transaction
from server.models import TABLE_BY_ENTITY, ServerBase
from server.seed import DEMO_PASSWORD
from tests.server.conftest import (
    BACKENDS,
    PASSWORD,
    ApiClient,
    fresh_database_url,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def launch(*args: str, stdin: str | None = None) -> subprocess.Popen[str]:
    """Start ``outpost-server ARGS`` (``stdin`` is written and closed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.main", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin or "")
    proc.stdin.close()
    proc.stdin = None  # communicate() must not touch it again
    return proc


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Wait for a launched command (killing it if it hangs, such as a ``serve`` that
    should have refused to start)."""
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``outpost-server ARGS`` and return the finished process."""
    return finish(launch(*args, stdin=stdin))


def cli_together(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands at the same time (saves the start-up time of each)."""
    return [finish(proc) for proc in [launch(*command) for command in commands]]


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    """Check that a command succeeded; return its standard output."""
    assert done.returncode == 0, f"{done.args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def failed(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Check that a command failed with ``code`` and a one-line message; return stderr."""
    assert done.returncode == code, (
        f"{done.args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("outpost-server: "), done.stderr
    return done.stderr


def ok(*args: str, stdin: str | None = None) -> str:
    """Run a command that must succeed; return its standard output."""
    return succeeded(cli(*args, stdin=stdin))


def fails(code: int, *args: str, stdin: str | None = None) -> str:
    """Run a command that must fail with ``code`` and a message; return its stderr."""
    return failed(cli(*args, stdin=stdin), code)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (SQLite file, or a fresh PostgreSQL schema)."""
    return fresh_database_url(request.param, tmp_path, request)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A direct connection pool on ``db_url`` for assertions."""
    created = create_server_engine(db_url, pool_size=2)
    yield created
    created.dispose()


def test_db_upgrade_builds_the_models_schema_and_current_reports_it(
    db_url: str, engine: Engine
) -> None:
    """``db current`` tells an empty database (exit 3) from an up-to-date one (exit 0);
    ``db upgrade`` creates the schema once and is a no-op the second time. The migrated
    schema is exactly ``server.models``: tables, columns, types, indexes, constraints."""
    head = migrate.head_revision()
    done = cli("db", "current", "--db", db_url)
    assert done.returncode == 3, done.stderr
    assert f"schema empty (needs upgrade to {head})" in done.stdout

    assert f"upgraded from empty to {head}" in ok("db", "upgrade", "--db", db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, ServerBase.metadata) == []
        assert set(ServerBase.metadata.tables) <= set(engine.dialect.get_table_names(conn))

    current, again = cli_together(
        ("db", "current", "--db", db_url), ("db", "upgrade", "--db", db_url)
    )
    assert f"schema {head} (up to date)" in succeeded(current)
    assert f"already at schema {head}" in succeeded(again)


def test_user_commands(db_url: str, engine: Engine) -> None:
    """``user add/list/set-role/disable/enable/tokens/revoke-token`` do what they say;
    duplicates, weak passwords and unknown users fail with exit 1 and a message."""
    db = ("--db", db_url)
    out = ok(
        "user", "add", "Alice", "--role", "manager", "--team", "east",
        "--display-name", "艾丽斯 Alice", "--password-stdin", *db, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert "added alice (manager, team east)" in out
    with read_transaction(engine) as conn:
        candidate, password_hash = accounts.login_candidate(conn, "alice")
    assert candidate is not None and accounts.check_password(password_hash, PASSWORD)

    procs = [
        launch("user", "add", "alice", "--password-stdin", *db, stdin="another pass\n"),
        launch("user", "add", "bob", "--password-stdin", *db, stdin="short\n"),
        launch("user", "list", "--json", *db),
        launch("user", "tokens", "nobody", *db),
        launch("user", "revoke-token", "nobody", "--all", *db),
    ]
    duplicate, weak, listing, *unknown = map(finish, procs)
    assert "user 'alice' already exists" in failed(duplicate, 1)
    assert "at least 8 characters" in failed(weak, 1)
    assert json.loads(succeeded(listing)) == [
        {
            "username": "alice",
            "display_name": "艾丽斯 Alice",
            "role": "manager",
            "team": "east",
            "disabled": False,
        }
    ]
    for done in unknown:
        assert "no user 'nobody'" in failed(done, 1)

    def sign_in(conn: Connection) -> None:
        accounts.issue_token(conn, "alice", "Alice's laptop")
        accounts.issue_token(conn, "alice", "Alice's phone")

    write_transaction(engine, sign_in)
    role, tokens = cli_together(
        ("user", "set-role", "alice", "sales", "--team", "west", *db),
        ("user", "tokens", "alice", *db),
    )
    assert "alice is now sales in team west" in succeeded(role)
    out = succeeded(tokens)
    assert "Alice's laptop" in out and "Alice's phone" in out
    assert "revoked 2 token(s) of alice" in ok("user", "revoke-token", "alice", "--all", *db)
    with read_transaction(engine) as conn:
        assert accounts.list_tokens(conn, "alice") == []
        assert len(accounts.list_tokens(conn, "alice", include_revoked=True)) == 2

    assert "disabled alice" in ok("user", "disable", "alice", *db)
    out = ok("user", "list", *db)
    line = next(line for line in out.splitlines() if line.startswith("alice"))
    assert line.split()[:3] == ["alice", "sales", "west"] and "(disabled)" in line
    assert "enabled alice" in ok("user", "enable", "alice", *db)
    with read_transaction(engine) as conn:
        alice = accounts.get_account(conn, "alice")
    assert (alice.role, alice.team, alice.disabled) == (accounts.Role.SALES, "west", False)


def test_seed_demo_once(db_url: str, engine: Engine) -> None:
    """``seed-demo`` adds the demo users (password outpost-demo) and customers with
    contacts, follow-ups and deals; a second run adds nothing and says so."""
    out = ok("seed-demo", "--customers", "40", "--db", db_url)
    assert "users added: admin, chen.jing, demo, li.lei" in out
    assert "added 40 customers" in out

    def counts() -> dict[str, int]:
        with read_transaction(engine) as conn:
            return {
                entity: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for entity, table in TABLE_BY_ENTITY.items()
            }

    seeded = counts()
    assert seeded["customer"] == 40
    assert seeded["contact"] >= 40 and seeded["follow_up"] > 0 and seeded["deal"] > 0
    with read_transaction(engine) as conn:
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM contacts c LEFT JOIN customers k ON k.id = c.customer_id "
                "WHERE k.id IS NULL"
            )
        ).scalar_one()
        assert orphans == 0
        names = [a.username for a in accounts.list_accounts(conn)]
        assert sorted(names) == ["admin", "chen.jing", "demo", "li.lei"]
        for name in names:
            account, password_hash = accounts.login_candidate(conn, name)
            assert account is not None and not account.disabled
            assert accounts.check_password(password_hash, DEMO_PASSWORD), name

    assert "already has demo data: nothing added" in ok(
        "seed-demo", "--customers", "40", "--db", db_url
    )
    assert counts() == seeded


def test_audit_shows_who_changed_what(db_url: str, engine: Engine, tmp_path: Path) -> None:
    """After a create, an update of two fields, and a contact added then deleted over HTTP,
    ``audit --customer ID`` lists each change with its user, op and old → new values, in
    order; ``--json`` gives the same entries as data."""
    proc, base_url = start_server(db_url, tmp_path / "server.log")
    try:
        write_transaction(
            engine,
            lambda conn: accounts.add_user(
                conn, "wang.fang", PASSWORD, role=accounts.Role.SALES, team="east"
            ),
        )
        with httpx.Client(base_url=base_url, timeout=60) as anonymous:
            response = anonymous.post(
                "/api/v1/auth/login",
                json={"username": "wang.fang", "password": PASSWORD, "device_name": "pytest"},
            )
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        with http:
            api = ApiClient(http, "wang.fang", token)
            customer_id, created = api.new_customer("上海宏达贸易", company="宏达")
            updated = api.push_one(
                api.update(
                    "customer",
                    customer_id,
                    created["version"],
                    {"status": ("prospect", "lead"), "city": ("上海", None)},
                )
            )
            assert updated["status"] == "applied", updated
            contact = api.create("contact", {"customer_id": customer_id, "name": "张伟"})
            added = api.push_one(contact)
            assert added["status"] == "applied", added
            gone = api.push_one(api.delete("contact", contact["record_id"], added["version"]))
            assert gone["status"] == "applied", gone
    finally:
        assert stop_server(proc) == 0

    out = ok("audit", "--customer", customer_id, "--db", db_url)
    lines = out.splitlines()
    heads = [line for line in lines if not line.startswith(" ")]
    assert len(heads) == 4, out
    assert [h.split()[4:6] for h in heads] == [
        ["create", "customer"],
        ["update", "customer"],
        ["create", "contact"],
        ["delete", "contact"],
    ]
    assert all(h.split()[3] == "wang.fang" for h in heads)
    assert "    name: ∅ → 上海宏达贸易" in lines
    assert "    status: lead → prospect" in lines
    assert "    city: ∅ → 上海" in lines
    assert "    name: ∅ → 张伟" in lines

    entries = json.loads(ok("audit", "--customer", customer_id, "--json", "--db", db_url))
    assert [(e["op"], e["entity"], e["version"]) for e in entries] == [
        ("create", "customer", 1),
        ("update", "customer", 2),
        ("create", "contact", 1),
        ("delete", "contact", 2),
    ]
    assert {e["user"] for e in entries} == {"wang.fang"}
    assert entries[1]["changes"] == {"status": ["lead", "prospect"], "city": [None, "上海"]}
    assert entries[2]["id"] == entries[3]["id"] == contact["record_id"]
    assert entries[0]["mutation_id"] and entries[0]["at"] <= entries[3]["at"]

    assert "no history for customer" in fails(
        1, "audit", "--customer", str(uuid.uuid4()), "--db", db_url
    )


def test_commands_refuse_a_database_at_another_schema(db_url: str, engine: Engine) -> None:
    """A database at a schema revision this server does not know is not touched: ``serve``
    exits 3 telling to run ``db upgrade``; ``db current`` exits 3 showing the revision.
    (An empty database is different: ``serve`` creates the schema.)"""
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_elsewhere'"))

    serve, current = cli_together(
        ("serve", "--db", db_url, "--host", "127.0.0.1", "--port", "0"),
        ("db", "current", "--db", db_url),
    )
    err = failed(serve, 3)
    assert "schema 0000_elsewhere" in err and "run 'outpost-server db upgrade' first" in err
    assert current.returncode == 3
    assert f"schema 0000_elsewhere (needs upgrade to {migrate.head_revision()})" in current.stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == (
            "0000_elsewhere"
        )


HELP: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("serve", "db", "user", "audit", "seed-demo", "--version"),
    ("serve",): (
        "--db", "--host", "--port", "--workers", "--tls-cert", "--tls-key",
        "--max-body-bytes", "--login-max-failures", "--login-max-failures-per-address",
        "--login-lockout-seconds",
        "--pool-size", "--graceful-timeout", "--log-level", "--access-log",
    ),
    ("db",): ("upgrade", "current"),
    ("db", "upgrade"): ("--db",),
    ("db", "current"): ("--db",),
    ("user",): (
        "add", "list", "disable", "enable", "set-password", "set-role", "tokens",
        "revoke-token",
    ),
    ("user", "add"): ("--role", "--team", "--display-name", "--password-stdin", "--db"),
    ("user", "list"): ("--json", "--db"),
    ("user", "disable"): ("username", "--db"),
    ("user", "enable"): ("username", "--db"),
    ("user", "set-password"): ("username", "--password-stdin", "--db"),
    ("user", "set-role"): ("username", "role", "--team", "--db"),
    ("user", "tokens"): ("username", "--all", "--db"),
    ("user", "revoke-token"): ("username", "token_id", "--all", "--db"),
    ("audit",): ("--customer", "--json", "--db"),
    ("seed-demo",): ("--customers", "--password-stdin", "--db"),
}  # fmt: skip


def test_every_command_answers_help() -> None:
    """``outpost-server --help`` and each command's ``--help`` exit 0 and name its options."""
    running = {command: launch(*command, "--help") for command in HELP}
    for command, proc in running.items():
        out = succeeded(finish(proc))
        assert out.startswith(f"usage: outpost-server {' '.join(command)}".rstrip()), out
        missing = [word for word in HELP[command] if word not in out]
        assert not missing, f"'{' '.join(command)} --help' does not mention {missing}:\n{out}"


def test_db_restored_makes_clients_resync_in_full_keeping_their_edits(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """After a backup is restored, ``db restored`` gives the database a new identity: a
    client's cursor from before gets 410, it pulls everything again, and the edit it had
    queued still reaches the server — nothing skipped, nothing lost."""
    from tests.helpers.sync_devices import open_device, seed_users, server_record
    from tests.server.conftest import CAST, PASSWORD, start_server, stop_server

    ok("db", "upgrade", "--db", db_url)
    seed_users(engine, CAST, PASSWORD)
    proc, base_url = start_server(db_url, tmp_path / "server.log")
    device = open_device(tmp_path, "a", base_url, "s1", PASSWORD)
    try:
        customer_id = device.replica.customers.create({"name": "备份前的客户"}).record_id
        device.sync()
        device.replica.customers.update(customer_id, {"city": "宁波"})  # queued, not sent

        out = ok("db", "restored", "--db", db_url)
        assert "every client's next sync pulls everything again" in out

        device.sync()
        assert device.replica.get_meta("resync") == "0"  # the full resync finished
        on_server = server_record(engine, "customer", customer_id)
        assert on_server is not None and on_server["city"] == "宁波"
        assert device.record("customer", customer_id) == on_server
        assert device.outbox() == []
        assert device.sync().requests == 1  # the new cursor works
    finally:
        device.close()
        assert stop_server(proc) == 0
