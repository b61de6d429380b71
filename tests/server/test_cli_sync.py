"""``outpost-cli`` as a sync client: login / logout, sync, status and the conflicts inbox,
against the session's real server process (SQLite, then PostgreSQL) over HTTP.

The commands run in-process through :func:`sync.cli.main` (one end-to-end check runs the
real console command in subprocesses). Every test has its own Outpost data directory —
which also holds the test keyring (``keyrings.alt`` plaintext file, see tests/conftest.py)
— and its own fresh server account, so nothing leaks between tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringLocked

from server import accounts
from server.accounts import Role
from server.db import create_server_engine, read_transaction, write_transaction
from sync import credentials
from sync.account import SERVER_URL_KEY
from sync.cli import (
    EXIT_AUTH,
    EXIT_CONFLICTS,
    EXIT_FAILURE,
    EXIT_OFFLINE,
    EXIT_OK,
    EXIT_USAGE,
    main,
)
from sync.credentials import NoKeyringError
from sync.profile import LAST_PROFILE_FILE, profile_dir_for
from sync.replica import Replica
from tests.server.conftest import PASSWORD, LiveServer, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """What one run of ``outpost-cli`` gave."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Run]


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Outpost's data directory (profiles, the last-profile pointer) and the test keyring's
    file, both in this test's own folder."""
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("OUTPOST_PROFILE", raising=False)
    return home


@pytest.fixture
def cli(
    data_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """Run ``outpost-cli ARGS`` in-process; ``stdin`` is what standard input holds (not a
    terminal)."""

    def run(*args: str, stdin: str = "") -> Run:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return Run(code, out, err)

    return run


@pytest.fixture
def user(server: LiveServer) -> str:
    """A fresh salesperson of team east (sees own customers and the unassigned pool)."""
    return server.add_user(Role.SALES, team="east", prefix="cli")


def login(cli: Cli, server: LiveServer, user: str, profile: Path | None, *extra: str) -> Run:
    where = ["--profile", str(profile)] if profile is not None else []
    return cli(
        *where,
        "login",
        "--server",
        server.base_url,
        "--user",
        user,
        "--password-stdin",
        *extra,
        stdin=f"{PASSWORD}\n",
    )


def in_profile(cli: Cli, profile: Path) -> Cli:
    """``cli`` with ``--profile profile`` in front."""

    def run(*args: str, stdin: str = "") -> Run:
        return cli("--profile", str(profile), *args, stdin=stdin)

    return run


def active_tokens(server: LiveServer, user: str) -> list[accounts.TokenInfo]:
    with read_transaction(server.engine) as conn:
        return accounts.list_tokens(conn, user)


def server_customer(server: LiveServer, user: str, record_id: str) -> dict[str, Any]:
    record: dict[str, Any] = server.login(user).current("customer", record_id)["record"]
    return record


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def keyring_backend(backend: KeyringBackend) -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield
    finally:
        keyring.set_keyring(previous)


# --- sign-in, sync, status ----------------------------------------------------------------


def test_login_sync_status(server: LiveServer, cli: Cli, user: str, tmp_path: Path) -> None:
    """Login keeps the token in the keyring and the server and user in the profile (and
    refuses another user's profile, or a wrong password, with their exit codes); a sync
    sends a local edit and records its outcome for ``status``; a rejected edit makes
    ``sync`` exit with 4; later commands without ``--profile`` use the last login's."""
    profile = tmp_path / "laptop"
    run = in_profile(cli, profile)
    before = run("--json", "status")
    assert before.code == EXIT_OK
    assert before.json()["signed_in"] == "no" and before.json()["server"] is None

    done = login(cli, server, user, profile)
    assert done.code == EXIT_OK, done.err
    assert f"Signed in to {server.base_url} as {user}" in done.out
    assert (credentials.load_token(server.base_url, user) or "").startswith("opt_")

    status = run("--json", "status").json()
    assert status["server"] == server.base_url and status["user"] == user
    assert status["signed_in"] == "yes"
    assert status["cursor"] is False and status["last_sync"]["state"] is None

    added = run("--json", "customers", "add", "--name", "命令行客户", "--set", "city=杭州")
    assert added.code == EXIT_OK
    customer_id = added.json()["id"]
    synced = run("--json", "sync")
    assert synced.code == EXIT_OK, synced.err
    report = synced.json()
    assert report["result"] == "ok" and report["report"]["applied"] == 1
    assert report["pending"] == 0 and report["conflicts"] == 0
    assert server_customer(server, user, customer_id)["city"] == "杭州"

    status = run("--json", "status").json()
    assert status["last_sync"]["state"] == "ok" and status["last_success"]
    assert status["cursor"] is True and status["pending"] == 0
    text = run("status").out
    assert "Last success:" in text and "never" not in text.split("Last success:")[1].split()[0]

    # Without --profile: the profile of the last login.
    assert cli("--json", "status").json()["profile"] == str(profile)

    # The profile belongs to this user on this server: another one is refused, before
    # the password is even read.
    other = server.add_user(Role.SALES, team="east", prefix="cli")
    refused = login(cli, server, other, profile)
    assert refused.code == EXIT_USAGE
    assert f"belongs to the user {user}" in refused.err
    assert run("--json", "status").json()["user"] == user
    elsewhere = cli(
        "--profile", str(profile), "login", "--server", closed_port_url(), "--user", user,
        "--password-stdin", stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert elsewhere.code == EXIT_USAGE and "belongs to the server" in elsewhere.err
    no_scheme = cli("login", "--server", "crm.example.com", "--user", user, "--password-stdin")
    assert no_scheme.code == EXIT_USAGE and "http(s)://" in no_scheme.err

    wrong = cli(
        "--profile",
        str(tmp_path / "other"),
        "login",
        "--server",
        server.base_url,
        "--user",
        other,
        "--password-stdin",
        stdin="not the password\n",
    )
    assert wrong.code == EXIT_AUTH and "wrong user name or password" in wrong.err

    # An edit the server rejects (an unknown owner) stays as failed: sync says 4.
    run("customers", "edit", customer_id, "--set", "owner_id=nobody-such")
    failed = run("sync")
    assert failed.code == EXIT_CONFLICTS, failed.err
    assert "1 failed edit" in failed.err
    assert run("--json", "pending").json()[0]["status"] == "failed"


def test_two_profiles_conflict_list_show_resolve(
    server: LiveServer, cli: Cli, user: str, tmp_path: Path
) -> None:
    """Two devices of one user edit the same field offline: the later one's sync exits
    with 4 and one conflict; ``conflicts list/show`` show mine / base / theirs; bad
    resolutions are refused without touching it; ``--mine`` resolves it and after two
    more syncs both replicas and the server agree. Then delete-vs-edit: the editor's
    conflict is resolved with ``--delete`` and the record leaves that replica."""
    a, b = tmp_path / "a", tmp_path / "b"
    run_a, run_b = in_profile(cli, a), in_profile(cli, b)
    assert login(cli, server, user, a, "--device", "desk").code == EXIT_OK
    assert login(cli, server, user, b, "--device", "phone").code == EXIT_OK

    customer_id = run_a("--json", "customers", "add", "--name", "冲突客户").json()["id"]
    assert run_a("sync", "--quiet").code == EXIT_OK
    assert run_b("sync").code == EXIT_OK
    assert run_b("--json", "customers", "show", customer_id).json()["name"] == "冲突客户"

    run_a("customers", "edit", customer_id, "--set", "phone=021-1111111", "--set", "city=苏州")
    run_b("customers", "edit", customer_id, "--set", "phone=021-2222222")
    assert run_a("sync").code == EXIT_OK
    conflicted = run_b("sync")
    assert conflicted.code == EXIT_CONFLICTS
    assert "1 conflict" in conflicted.out and "1 open conflict" in conflicted.err

    (conflict,) = run_b("--json", "conflicts", "list").json()
    assert conflict["kind"] == "field" and conflict["record_id"] == customer_id
    assert [f["field"] for f in conflict["fields"]] == ["phone"]
    (phone,) = conflict["fields"]
    assert (phone["mine"], phone["theirs"]) == ("021-2222222", "021-1111111")
    assert phone["changed_by"] == user
    listed = run_b("conflicts", "list").out
    assert "冲突客户" in listed and "phone" in listed
    cid = str(conflict["id"])
    shown = run_b("conflicts", "show", cid)
    assert shown.code == EXIT_OK
    for text in ("Mine", "Base", "Theirs", "Changed by", "021-2222222", "021-1111111", user):
        assert text in shown.out
    # Merged meanwhile: the field nobody fought over took the other device's value.
    assert run_b("--json", "customers", "show", customer_id).json()["city"] == "苏州"

    for bad in (
        [],  # no choice for phone
        ["--theirs", "city"],  # not in the conflict
        ["--mine", "phone", "--theirs", "phone"],  # chosen twice
        ["--keep"],  # not a delete conflict
    ):
        refused = run_b("conflicts", "resolve", cid, *bad)
        assert refused.code == EXIT_USAGE, bad
    assert run_b("conflicts", "resolve", "999999", "--all-mine").code == EXIT_FAILURE
    assert len(run_b("--json", "conflicts", "list").json()) == 1

    resolved = run_b("--json", "conflicts", "resolve", cid, "--mine", "phone")
    assert resolved.code == EXIT_OK
    assert resolved.json()["mutation_id"]
    assert run_b("--json", "conflicts", "list").json() == []
    assert run_b("sync").code == EXIT_OK
    assert run_a("sync").code == EXIT_OK
    for run in (run_a, run_b):
        record = run("--json", "customers", "show", customer_id).json()
        assert (record["phone"], record["city"]) == ("021-2222222", "苏州")
    on_server = server_customer(server, user, customer_id)
    assert (on_server["phone"], on_server["city"]) == ("021-2222222", "苏州")

    # Delete on A, edit on B: B's edit meets a deleted record.
    assert run_a("customers", "delete", customer_id, "--cascade").code == EXIT_OK
    assert run_a("sync").code == EXIT_OK
    run_b("customers", "edit", customer_id, "--set", "notes=还在跟进")
    assert run_b("sync").code == EXIT_CONFLICTS
    (gone,) = run_b("--json", "conflicts", "list").json()
    assert gone["kind"] == "deleted"
    assert "--keep" in run_b("conflicts", "show", str(gone["id"])).out
    assert run_b("conflicts", "resolve", str(gone["id"]), "--all-mine").code == EXIT_USAGE
    assert run_b("conflicts", "resolve", str(gone["id"]), "--delete").code == EXIT_OK
    assert run_b("customers", "show", customer_id).code == EXIT_FAILURE
    assert run_b("sync").code == EXIT_OK
    assert run_b("--json", "status").json()["conflicts"] == 0


def test_offline_exit_3_keeps_edits(
    server: LiveServer, cli: Cli, user: str, tmp_path: Path
) -> None:
    """With the server unreachable (its URL pointing at a closed port), ``sync`` exits with
    3, says how many edits are queued and keeps them; back online, they arrive."""
    profile = tmp_path / "p"
    run = in_profile(cli, profile)
    assert login(cli, server, user, profile).code == EXIT_OK
    assert run("sync").code == EXIT_OK
    customer_id = run("--json", "customers", "add", "--name", "离线客户").json()["id"]

    down = closed_port_url()
    token = credentials.load_token(server.base_url, user)
    assert token is not None
    credentials.save_token(down, user, token)
    with Replica.open(profile) as replica:
        replica.set_meta(SERVER_URL_KEY, down)
    offline = run("sync")
    assert offline.code == EXIT_OFFLINE
    assert "offline" in offline.err and "1 queued edit kept" in offline.err
    queued = run("--json", "pending").json()
    assert [m["record_id"] for m in queued] == [customer_id]
    assert queued[0]["status"] == "pending"
    status = run("--json", "status").json()
    assert status["last_sync"]["state"] == "offline" and status["pending"] == 1
    assert run("--json", "sync").json()["result"] == "offline"

    with Replica.open(profile) as replica:
        replica.set_meta(SERVER_URL_KEY, server.base_url)
    assert run("sync").code == EXIT_OK
    assert server_customer(server, user, customer_id)["name"] == "离线客户"


def test_revoked_token_exit_5_then_login_again(
    server: LiveServer, cli: Cli, user: str, tmp_path: Path
) -> None:
    """A token revoked on the server makes ``sync`` exit with 5 ("sign in again") with the
    queue intact and the dead token dropped from the keyring; after a new login the queued
    edit goes through."""
    profile = tmp_path / "p"
    run = in_profile(cli, profile)
    assert login(cli, server, user, profile).code == EXIT_OK
    customer_id = run("--json", "customers", "add", "--name", "吊销客户").json()["id"]
    revoked = write_transaction(server.engine, lambda c: accounts.revoke_all_tokens(c, user))
    assert revoked == 1

    refused = run("sync")
    assert refused.code == EXIT_AUTH
    assert "login" in refused.err and "1 queued edit kept" in refused.err
    assert len(run("--json", "pending").json()) == 1
    status = run("--json", "status").json()
    assert status["signed_in"] == "no" and status["last_sync"]["state"] == "needs_sign_in"
    assert credentials.load_token(server.base_url, user) is None

    assert login(cli, server, user, profile).code == EXIT_OK
    assert run("sync").code == EXIT_OK
    assert server_customer(server, user, customer_id)["name"] == "吊销客户"


def test_logout_revokes_and_forgets_the_token(
    server: LiveServer, cli: Cli, user: str, tmp_path: Path
) -> None:
    """``logout`` revokes the token on the server and removes it from the keyring; a sync
    afterwards asks to sign in (5); a second logout has nothing to do. A second login of
    the same profile revokes the token of the first."""
    profile = tmp_path / "p"
    run = in_profile(cli, profile)
    assert login(cli, server, user, profile).code == EXIT_OK
    first = credentials.load_token(server.base_url, user)
    assert login(cli, server, user, profile).code == EXIT_OK
    token = credentials.load_token(server.base_url, user)
    assert token and token != first
    assert len(active_tokens(server, user)) == 1

    out = run("logout")
    assert out.code == EXIT_OK and "Signed out" in out.out
    assert credentials.load_token(server.base_url, user) is None
    assert active_tokens(server, user) == []
    assert server.http(token).get("/api/v1/me").status_code == 401
    again = run("sync")
    assert again.code == EXIT_AUTH and "not signed in" in again.err
    assert run("--json", "logout").json()["signed_in"] is False


# --- no usable keyring ----------------------------------------------------------------------


def test_no_keyring_asks_the_password_per_run(
    server: LiveServer, cli: Cli, user: str, data_home: Path, tmp_path: Path
) -> None:
    """With the ``fail`` keyring backend: login says clearly that the token cannot be
    stored and the password will be asked per run, and leaves no token valid on the
    server; ``sync`` without a password source exits with 5, with ``--password-stdin`` it
    signs in for that run and out again; no file of Outpost's holds a token or the
    password."""
    with keyring_backend(fail.Keyring()):
        done = login(cli, server, user, None)
        assert done.code == EXIT_OK, done.err
        assert "no usable keyring" in done.err
        assert "password will be asked on every run" in done.err
        profile = profile_dir_for(server.base_url, user)
        assert f"Profile: {profile}" in done.out
        assert active_tokens(server, user) == []

        status = cli("--json", "status").json()  # the last login's profile
        assert status["profile"] == str(profile) and status["signed_in"] == "per_run"
        cli("customers", "add", "--name", "无钥匙客户")

        no_password = cli("sync")
        assert no_password.code == EXIT_AUTH and "--password-stdin" in no_password.err
        wrong = cli("sync", "--password-stdin", stdin="wrong password\n")
        assert wrong.code == EXIT_AUTH
        assert len(cli("--json", "pending").json()) == 1

        synced = cli("--json", "sync", "--password-stdin", stdin=f"{PASSWORD}\n")
        assert synced.code == EXIT_OK, synced.err
        assert synced.json()["report"]["applied"] == 1
        assert active_tokens(server, user) == []  # signed out at the end of the run
        assert cli("logout").code == EXIT_OK

    assert (data_home / "Outpost" / LAST_PROFILE_FILE).read_text().strip() == str(profile)
    assert not (data_home / "python_keyring").exists()
    for path in [*data_home.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            assert PASSWORD.encode() not in content, path
            assert b"opt_" not in content, path


class _LockedKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the keyring is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the keyring is locked")


class _ForgetfulKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        pass

    def delete_password(self, service: str, username: str) -> None:
        pass


@pytest.mark.parametrize(
    "make",
    [fail.Keyring, null.Keyring, _LockedKeyring, _ForgetfulKeyring, "empty-chainer"],
    ids=["fail", "null", "locked", "forgetful", "empty-chainer"],
)
def test_unusable_keyrings_are_detected(
    make: Any, data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kind of unusable keyring — the fail and null backends, a locked one, one that
    silently keeps nothing, a chainer with nothing to chain — raises our NoKeyringError
    with the advice that the password will be asked per run; a usable one round-trips."""
    if make == "empty-chainer":
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
        backend: KeyringBackend = chainer.ChainerBackend()
    else:
        backend = make()
    with keyring_backend(backend):
        with pytest.raises(NoKeyringError) as caught:
            credentials.save_token("https://crm.example.com/", "zs", "opt_x")
        assert "password will be asked on every run" in str(caught.value)
        if make is not _ForgetfulKeyring:  # that one merely finds nothing
            with pytest.raises(NoKeyringError):
                credentials.load_token("https://crm.example.com", "zs")
            with pytest.raises(NoKeyringError):
                credentials.delete_token("https://crm.example.com", "zs")

    credentials.save_token("https://crm.example.com/", "zs", "opt_y")
    assert credentials.load_token("https://crm.example.com", "zs") == "opt_y"
    assert credentials.load_token("https://crm.example.com", "ls") is None
    assert credentials.delete_token("https://crm.example.com", "zs") is True
    assert credentials.delete_token("https://crm.example.com", "zs") is False


@pytest.mark.slow
def test_login_over_https_with_a_company_ca(cli: Cli, tmp_path: Path, data_home: Path) -> None:
    """Against an HTTPS server with a self-signed certificate, login verifies TLS by
    default and refuses it with a hint about ``--ca-file`` (exit 1, not "offline"); with
    ``--ca-file`` it signs in, the profile remembers the CA file, and ``sync`` uses it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    db_url = f"sqlite:///{tmp_path / 'tls.sqlite3'}"
    proc, base_url = start_server(
        db_url, tmp_path / "tls.log", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    engine = create_server_engine(db_url, pool_size=1)
    try:
        write_transaction(engine, lambda c: accounts.add_user(c, "tls_user", PASSWORD))
        profile = tmp_path / "p"
        args = ["--profile", str(profile), "login", "--server", base_url, "--user", "tls_user"]
        untrusted = cli(*args, "--password-stdin", stdin=f"{PASSWORD}\n")
        assert untrusted.code == EXIT_FAILURE
        assert "certificate is not trusted" in untrusted.err and "--ca-file" in untrusted.err
        bad_ca = cli(*args, "--password-stdin", "--ca-file", str(tmp_path / "missing.pem"))
        assert bad_ca.code == EXIT_USAGE

        trusted = cli(*args, "--password-stdin", "--ca-file", str(cert), stdin=f"{PASSWORD}\n")
        assert trusted.code == EXIT_OK, trusted.err
        status = cli("--profile", str(profile), "--json", "status").json()
        assert status["ca_file"] == str(cert.resolve())
        assert cli("--profile", str(profile), "sync").code == EXIT_OK
    finally:
        engine.dispose()
        assert stop_server(proc) == 0


# --- terminal and console script --------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal(
    server: LiveServer, cli: Cli, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal ``sync`` rewrites one progress line (a bar, the percentage, records
    pulled of the total the server announced) and clears it; on a pipe, or with
    ``--quiet``, nothing of the sort is printed."""
    server.login(user).new_customer("进度客户")
    profile = tmp_path / "p"
    assert login(cli, server, user, profile).code == EXIT_OK
    terminal = _Terminal()
    with contextlib.redirect_stderr(terminal):
        code = main(["--profile", str(profile), "sync"])
    assert code == EXIT_OK
    shown = terminal.getvalue()
    assert "\rSyncing… [" in shown and "records pulled" in shown
    assert "] 100% " in shown  # the last page: done of total, all of it
    assert shown.endswith("\r")  # cleared before the summary
    assert "Synced:" in capsys.readouterr().out

    piped = cli("--profile", str(profile), "sync")
    assert piped.code == EXIT_OK and "\r" not in piped.err and "Synced:" in piped.out
    quiet = _Terminal()
    with contextlib.redirect_stderr(quiet):
        assert main(["--profile", str(profile), "sync", "--quiet"]) == EXIT_OK
    assert quiet.getvalue() == "" and capsys.readouterr().out == ""


@pytest.mark.slow
def test_console_command_end_to_end(
    server: LiveServer, user: str, data_home: Path, tmp_path: Path
) -> None:
    """The real command in subprocesses: login with the password on stdin, ``sync --json``
    (no progress on a pipe), then ``status`` finds the profile by itself."""
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}

    def command(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync.cli", *args],
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            timeout=60,
            check=False,
        )

    server.login(user).new_customer("子进程客户")
    signed = command(
        "login", "--server", server.base_url, "--user", user, "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert signed.returncode == EXIT_OK, signed.stderr
    synced = command("--json", "sync")
    assert synced.returncode == EXIT_OK, synced.stderr
    assert json.loads(synced.stdout)["report"]["pulled"] >= 1
    assert "\r" not in synced.stderr
    status = command("status")
    assert status.returncode == EXIT_OK
    assert f"Server:        {server.base_url}" in status.stdout
    assert str(profile_dir_for(server.base_url, user)) in status.stdout


# --- pending discard / retry -------------------------------------------------------------


def test_pending_discard_and_retry(server: LiveServer, cli: Cli, user: str, tmp_path: Path) -> None:
    """An owner the server does not know (refused: invalid_owner) with a city edit queued
    behind it. ``pending`` lists it as failed and says how to deal with it; ``pending
    discard SEQ --json`` says what it dropped, kept and changed; the next ``sync`` sends
    the city (exit 0) and the server has the city and the old owner. Then another refused
    owner, ``pending retry`` by mutation id: queued again under a new id, refused again
    by the next sync (exit 4), and discarded for good."""
    profile = tmp_path / "p"
    run = in_profile(cli, profile)
    assert login(cli, server, user, profile).code == EXIT_OK
    customer_id = run("--json", "customers", "add", "--name", "命令行客户").json()["id"]
    assert run("sync", "--quiet").code == EXIT_OK

    assert run("customers", "edit", customer_id, "--set", "owner_id=nobody-such").code == EXIT_OK
    assert run("customers", "edit", customer_id, "--set", "city=扬州").code == EXIT_OK
    assert run("sync").code == EXIT_CONFLICTS
    listed = run("pending")
    assert "failed" in listed.out and "invalid_owner" in listed.out
    assert "pending discard SEQ" in listed.out and "pending retry SEQ" in listed.out
    failed, waiting = run("--json", "pending").json()
    assert (failed["status"], waiting["status"]) == ("failed", "pending")

    assert run("pending", "discard", str(waiting["seq"])).code == EXIT_FAILURE  # not failed
    assert run("pending", "discard", "999999").code == EXIT_FAILURE
    discarded = run("--json", "pending", "discard", str(failed["seq"]))
    assert discarded.code == EXIT_OK, discarded.err
    assert discarded.json() == {
        "mutation_id": failed["mutation_id"],
        "entity": "customer",
        "record_id": customer_id,
        "op": "update",
        "discarded": [failed["mutation_id"]],
        "kept": [waiting["mutation_id"]],
        "changed": {"customer": [customer_id]},
        "removed": {},
    }
    shown = run("--json", "customers", "show", customer_id).json()
    assert (shown["owner_id"], shown["city"], shown["sync_state"]) == (user, "扬州", "pending")
    assert run("sync").code == EXIT_OK
    on_server = server_customer(server, user, customer_id)
    assert (on_server["owner_id"], on_server["city"]) == (user, "扬州")

    run("customers", "edit", customer_id, "--set", "owner_id=nobody-else")
    assert run("sync").code == EXIT_CONFLICTS
    (again,) = run("--json", "pending").json()
    retried = run("--json", "pending", "retry", again["mutation_id"])
    assert retried.code == EXIT_OK, retried.err
    new_id = retried.json()["mutation_id"]
    assert retried.json()["old_mutation_id"] == again["mutation_id"] != new_id
    assert [(m["mutation_id"], m["status"]) for m in run("--json", "pending").json()] == [
        (new_id, "pending")
    ]
    assert run("sync").code == EXIT_CONFLICTS  # the server refuses it again
    (refused,) = run("--json", "pending").json()
    assert (refused["mutation_id"], refused["status"]) == (new_id, "failed")
    text = run("pending", "discard", new_id)
    assert text.code == EXIT_OK and "Discarded the failed update" in text.out
    assert run("pending").out.strip() == "No queued edits."
    assert run("sync").code == EXIT_OK
    assert run("--json", "customers", "show", customer_id).json()["owner_id"] == user
