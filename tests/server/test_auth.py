"""Accounts over real HTTP: login, device tokens, logout and revocation, login throttling,
and the account commands of the CLI signing devices out — on SQLite and PostgreSQL.

Failed logins from 127.0.0.1 also count against the per-address limit (20 in 15 minutes,
shared by every test of the session), so these tests fail as few logins as they can; the
per-address rule itself is tested on the throttling functions with a made-up address.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server import accounts
from server.accounts import Role, ThrottlePolicy
from server.db import read_transaction, write_transaction
from server.models import DeviceToken, table_of

from .conftest import CAST, LOGIN_LOCKOUT_SECONDS, LOGIN_MAX_FAILURES, PASSWORD, LiveServer

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/api/v1/auth/login"
PULL = "/api/v1/sync/pull"
PUSH = "/api/v1/sync/push"


def _login(
    server: LiveServer, username: str, password: str = PASSWORD, device: str = "pytest"
) -> httpx.Response:
    return server.http().post(
        LOGIN, json={"username": username, "password": password, "device_name": device}
    )


def _assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def _pull_status(server: LiveServer, token: str) -> httpx.Response:
    return server.http(token).get(PULL, params={"limit": 1})


def _push_status(server: LiveServer, token: str) -> httpx.Response:
    return server.http(token).post(
        PUSH, json={"client_id": f"test-{uuid.uuid4().hex[:8]}", "mutations": []}
    )


def _cli(server: LiveServer, *args: str, stdin: str | None = None) -> str:
    """Run ``python -m server.main ARGS --db URL``; return its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "server.main", *args, "--db", server.db_url],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- login ----------------------------------------------------------------------------


def test_login_returns_opaque_token_that_authenticates(server: LiveServer) -> None:
    """Login answers an opaque token (neither name nor password in it), its id and the
    user; the token works on /me."""
    name = server.add_user(Role.SALES, "east", prefix="login")
    response = _login(server, name, device="laptop")
    assert response.status_code == 200, response.text
    body = response.json()
    token = body["token"]
    assert isinstance(token, str) and len(token) >= 32
    assert name not in token and PASSWORD not in token
    assert PASSWORD.replace(" ", "") not in token
    assert isinstance(body["token_id"], int) and not isinstance(body["token_id"], bool)
    assert body["user"] == {
        "username": name,
        "display_name": name,
        "role": "sales",
        "team": "east",
        "disabled": False,
    }
    me = server.http(token).get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == name
    # Two logins give two different tokens.
    again = _login(server, name, device="phone").json()
    assert again["token"] != token and again["token_id"] != body["token_id"]


def test_wrong_password_and_unknown_user_answer_alike(server: LiveServer) -> None:
    """A wrong password and an unknown user name both get 401 invalid_credentials with
    the very same message (nothing tells which accounts exist)."""
    name = server.add_user(prefix="wrongpw")
    wrong = _login(server, name, "not the password")
    unknown = _login(server, f"nobody{uuid.uuid4().hex[:10]}", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_credentials"
    assert wrong.json() == unknown.json()
    # The failure did not lock the account: the right password works.
    assert _login(server, name).status_code == 200


def test_tokens_are_stored_hashed(server: LiveServer) -> None:
    """The database keeps only the SHA-256 of a token, never the token itself."""
    name = server.add_user(prefix="hashed")
    body = _login(server, name).json()
    token, token_id = body["token"], body["token_id"]
    tokens = table_of(DeviceToken)
    with read_transaction(server.engine) as conn:
        row = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().one()
        every_row = [dict(r) for r in conn.execute(select(tokens)).mappings()]
    assert row["username"] == name
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for r in every_row for value in r.values())


# --- logout and device list -----------------------------------------------------------


def test_logout_revokes_only_the_calling_token(server: LiveServer) -> None:
    """After logout the token gets 401 on pull and push; the user's other device keeps
    working."""
    name = server.add_user(prefix="logout")
    first = server.login(name, device="laptop")
    second = server.login(name, device="phone")
    assert _pull_status(server, first.token).status_code == 200
    out = first.http.post("/api/v1/auth/logout")
    assert out.status_code == 200, out.text
    assert out.json() == {"ok": True}
    _assert_unauthorized(_pull_status(server, first.token))
    _assert_unauthorized(_push_status(server, first.token))
    _assert_unauthorized(first.http.post("/api/v1/auth/logout"))
    assert _pull_status(server, second.token).status_code == 200
    assert _push_status(server, second.token).status_code == 200


def test_device_list_and_revoking_another_device(server: LiveServer) -> None:
    """GET /auth/tokens lists the account's devices with the calling one marked current;
    DELETE /auth/tokens/{id} signs another device out; someone else's token id is 404."""
    name = server.add_user(prefix="devices")
    laptop_body = _login(server, name, device="laptop").json()
    phone_body = _login(server, name, device="phone").json()
    laptop = server.http(laptop_body["token"])
    listed = laptop.get("/api/v1/auth/tokens")
    assert listed.status_code == 200, listed.text
    devices = {t["id"]: t for t in listed.json()}
    assert set(devices) == {laptop_body["token_id"], phone_body["token_id"]}
    assert devices[laptop_body["token_id"]]["device_name"] == "laptop"
    assert devices[laptop_body["token_id"]]["current"] is True
    assert devices[phone_body["token_id"]]["device_name"] == "phone"
    assert devices[phone_body["token_id"]]["current"] is False
    assert devices[phone_body["token_id"]]["created_at"].endswith("Z")

    # Someone else's token: 404, and it keeps working.
    other = server.add_user(prefix="devother")
    other_body = _login(server, other).json()
    foreign = laptop.delete(f"/api/v1/auth/tokens/{other_body['token_id']}")
    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["code"] == "not_found"
    assert _pull_status(server, other_body["token"]).status_code == 200

    gone = laptop.delete(f"/api/v1/auth/tokens/{phone_body['token_id']}")
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"ok": True}
    _assert_unauthorized(_pull_status(server, phone_body["token"]))
    assert laptop.delete(f"/api/v1/auth/tokens/{phone_body['token_id']}").status_code == 404
    assert [t["id"] for t in laptop.get("/api/v1/auth/tokens").json()] == [laptop_body["token_id"]]
    assert laptop.get("/api/v1/me").status_code == 200


# --- throttling -----------------------------------------------------------------------


def test_login_lockout_after_repeated_failures(server: LiveServer) -> None:
    """LOGIN_MAX_FAILURES wrong passwords lock the user name (429 with Retry-After, even
    for the right password) without touching other users; once the lockout has passed the
    right password works and clears the count."""
    name = server.add_user(prefix="lock")
    bystander = server.add_user(prefix="bystander")
    for _ in range(LOGIN_MAX_FAILURES):
        response = _login(server, name, "wrong password!")
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_credentials"

    locked = _login(server, name)
    assert locked.status_code == 429, locked.text
    assert locked.json()["code"] == "too_many_attempts"
    assert locked.json()["message"]
    retry_after = int(locked.headers["retry-after"])  # an integer number of seconds
    assert 1 <= retry_after <= int(LOGIN_LOCKOUT_SECONDS + 0.999)
    # The lock is per user name: another account signs in at once.
    assert _login(server, bystander).status_code == 200

    deadline = time.monotonic() + LOGIN_LOCKOUT_SECONDS + 10
    while True:
        response = _login(server, name)
        if response.status_code == 200:
            break
        assert response.status_code == 429, response.text
        assert time.monotonic() < deadline, "the lockout did not expire"
        time.sleep(0.1)

    # The successful login cleared the count: one more failure does not lock again.
    assert _login(server, name, "wrong password!").status_code == 401
    assert _login(server, name).status_code == 200


def test_per_address_limit_locks_every_name_from_that_address(server: LiveServer) -> None:
    """Failures from one address under many user names lock that address (for any user
    name) once they reach the per-address limit; other addresses are not affected."""
    policy = ThrottlePolicy(
        max_failures=5, max_failures_per_address=20, lockout=timedelta(seconds=30)
    )
    address = f"2001:db8::{uuid.uuid4().hex[:4]}"
    other_address = f"2001:db8::1:{uuid.uuid4().hex[:4]}"

    def fail(name: str) -> None:
        def work(conn: Any) -> None:
            accounts.check_throttle(conn, name, address)
            accounts.record_failure(conn, name, address, policy)

        write_transaction(server.engine, work)

    for _ in range(policy.max_failures_per_address - 1):
        fail(f"guess{uuid.uuid4().hex[:10]}")
    fresh = f"guess{uuid.uuid4().hex[:10]}"
    with read_transaction(server.engine) as conn:
        accounts.check_throttle(conn, fresh, address)  # 19 failures: still open
    fail(fresh)
    with read_transaction(server.engine) as conn:
        with pytest.raises(accounts.LoginThrottled) as caught:
            accounts.check_throttle(conn, f"other{uuid.uuid4().hex[:10]}", address)
        assert 1 <= caught.value.retry_after <= 30
        accounts.check_throttle(conn, fresh, other_address)  # another address: open
        accounts.check_throttle(conn, fresh, None)


# --- the CLI signs devices out --------------------------------------------------------


def test_disabling_a_user_revokes_its_tokens(server: LiveServer) -> None:
    """`user disable` signs every device out at once and the account cannot log in; after
    `enable` the old tokens stay revoked but a new login works."""
    name = server.add_user(prefix="disable")
    first = server.login(name, device="laptop")
    second = server.login(name, device="phone")
    assert _pull_status(server, first.token).status_code == 200

    _cli(server, "user", "disable", name)
    for client in (first, second):
        _assert_unauthorized(_pull_status(server, client.token))
        _assert_unauthorized(_push_status(server, client.token))
    refused = _login(server, name)
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "invalid_credentials"

    write_transaction(server.engine, lambda conn: accounts.set_disabled(conn, name, False))
    _assert_unauthorized(_pull_status(server, first.token))
    assert _login(server, name).status_code == 200


def test_set_password_signs_devices_out(server: LiveServer) -> None:
    """`user set-password --password-stdin` revokes the account's tokens; the new password
    works and the old one no longer does."""
    name = server.add_user(prefix="setpw")
    client = server.login(name)
    new_password = f"new password {uuid.uuid4().hex[:6]}"
    _cli(server, "user", "set-password", name, "--password-stdin", stdin=new_password + "\n")
    _assert_unauthorized(_pull_status(server, client.token))
    assert _login(server, name, new_password).status_code == 200
    old = _login(server, name, PASSWORD)
    assert old.status_code == 401 and old.json()["code"] == "invalid_credentials"


# --- who is who -----------------------------------------------------------------------


def test_users_lists_the_cast_and_me_shows_role_and_team(server: LiveServer) -> None:
    """/users lists every account with role and team; /me is the signed-in account."""
    client = server.login("s1")
    response = client.http.get("/api/v1/users")
    assert response.status_code == 200, response.text
    listed = {u["username"]: u for u in response.json()}
    for name, (role, team) in CAST.items():
        assert listed[name]["role"] == role.value
        assert listed[name]["team"] == team
        assert listed[name]["disabled"] is False
    assert all("password" not in key for u in response.json() for key in u)
    for name in ("m_east", "s3", "admin"):
        me = server.login(name).http.get("/api/v1/me")
        assert me.status_code == 200, me.text
        role, team = CAST[name]
        assert me.json() == {
            "username": name,
            "display_name": name,
            "role": role.value,
            "team": team,
            "disabled": False,
        }
    _assert_unauthorized(server.http().get("/api/v1/users"))
