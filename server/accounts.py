"""Accounts, passwords, device tokens and login throttling.

* Passwords are hashed with Argon2id (memory-hard; argon2-cffi's RFC 9106 profile).
* A login gives the device an opaque random token; only its SHA-256 is stored, so a copy
  of the database does not let anyone sign in. Tokens are listed per user and revocable.
* Failed logins are counted per user name and per client address in the database, so
  every server process sharing it applies the same limits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, delete, select, update

from server.models import DeviceToken, LoginThrottle, User, table_of

_users = table_of(User)
_tokens = table_of(DeviceToken)
_throttle = table_of(LoginThrottle)


class Role(StrEnum):
    SALES = "sales"
    MANAGER = "manager"
    ADMIN = "admin"


_hasher = PasswordHasher()
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


# Verifying against this keeps an unknown user name as slow as a wrong password.
@cache
def _dummy_hash() -> str:
    # Made on first use: an Argon2 hash costs tens of milliseconds at every import.
    return _hasher.hash("outpost-no-such-user")


class AccountError(ValueError):
    """A request about accounts that cannot be done; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the rest of the server sees it (no password hash)."""

    username: str
    display_name: str
    role: Role
    team: str | None
    disabled: bool


def _account(user: Any) -> Account:
    return Account(user.username, user.display_name, Role(user.role), user.team, user.disabled)


def now() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            "weak_password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("weak_password", "that password is too long")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME_RE.match(name):
        raise AccountError(
            "invalid_username",
            "a user name is 1-64 characters: lowercase letters, digits, '.', '_' or '-'",
        )
    return name


# --- user management (the ``outpost-server user`` commands) ---------------------------


def add_user(
    conn: Connection,
    username: str,
    password: str,
    *,
    role: Role = Role.SALES,
    team: str | None = None,
    display_name: str | None = None,
    password_hash: str | None = None,
) -> Account:
    """Create an account. ``password_hash`` lets bulk tools reuse one computed hash."""
    name = normalise_username(username)
    if conn.execute(select(User.username).where(User.username == name)).first():
        raise AccountError("user_exists", f"user {name!r} already exists")
    user = {
        "username": name,
        "display_name": (display_name or name).strip()[:100] or name,
        "role": Role(role).value,
        "team": (team or None),
        "password_hash": password_hash or hash_password(password),
        "disabled": False,
        "created_at": now(),
    }
    conn.execute(_users.insert().values(**user))
    return get_account(conn, name)


def get_account(conn: Connection, username: str) -> Account:
    row = conn.execute(select(_users).where(_users.c.username == username.strip().lower())).first()
    if row is None:
        raise AccountError("no_such_user", f"no user {username!r}")
    return _account(row)


def find_account(conn: Connection, username: str) -> Account | None:
    try:
        return get_account(conn, username)
    except AccountError:
        return None


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(_users).order_by(_users.c.team, _users.c.username))
    return [_account(u) for u in rows]


def _set(conn: Connection, username: str, **values: object) -> Account:
    name = username.strip().lower()
    done = conn.execute(update(User).where(User.username == name).values(**values))
    if done.rowcount == 0:
        raise AccountError("no_such_user", f"no user {username!r}")
    return get_account(conn, name)


def set_password(conn: Connection, username: str, password: str) -> Account:
    """Change the password and sign the user out everywhere (all tokens revoked)."""
    account = _set(conn, username, password_hash=hash_password(password))
    revoke_all_tokens(conn, account.username)
    return account


def set_role(conn: Connection, username: str, role: Role, team: str | None = None) -> Account:
    """Change a user's role and (when ``team`` is given; ``""`` for none) team.

    A new team changes who sees the user's customers: they are re-announced through the
    change feed (revoked from the old team's managers, delivered to the new team's). The
    user's own cursors stop working either way (they remember role and team).
    """
    before = get_account(conn, username)
    values: dict[str, object] = {"role": Role(role).value}
    if team is not None:
        values["team"] = team or None
    account = _set(conn, username, **values)
    if account.team != before.team:
        from server.feed import reannounce_owner  # the feed builds on accounts

        reannounce_owner(conn, account.username, before.team)
    return account


def set_disabled(conn: Connection, username: str, disabled: bool) -> Account:
    """Disable (or enable) an account; disabling revokes its tokens at once."""
    account = _set(conn, username, disabled=disabled)
    if disabled:
        revoke_all_tokens(conn, account.username)
    return account


# --- tokens ---------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    username: str
    device_name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _token_info(t: Any) -> TokenInfo:
    return TokenInfo(t.id, t.username, t.device_name, t.created_at, t.last_used_at, t.revoked_at)


def issue_token(conn: Connection, username: str, device_name: str) -> tuple[str, TokenInfo]:
    token = "opt_" + secrets.token_urlsafe(32)
    result = conn.execute(
        _tokens.insert()
        .values(
            username=username,
            token_hash=_token_hash(token),
            device_name=device_name.strip()[:100] or "unnamed device",
            created_at=now(),
            last_used_at=now(),
        )
        .returning(_tokens.c.id)
    )
    token_id = result.scalar_one()
    row = conn.execute(select(_tokens).where(_tokens.c.id == token_id)).one()
    return token, _token_info(row)


_TOUCH_EVERY = timedelta(minutes=5)


def authenticate_token(conn: Connection, token: str) -> tuple[Account, int, bool] | None:
    """The account and token id behind a bearer token, and whether its "last used" time is
    due for a refresh; ``None`` if the token is not valid. Only reads: every request
    authenticates, and on SQLite a write here would queue behind every pushing writer."""
    if not token or len(token) > 200:
        return None
    device = conn.execute(select(_tokens).where(_tokens.c.token_hash == _token_hash(token))).first()
    if device is None or device.revoked_at is not None:
        return None
    user = conn.execute(select(_users).where(_users.c.username == device.username)).first()
    if user is None or user.disabled:
        return None
    stale = device.last_used_at is None or now() - device.last_used_at > _TOUCH_EVERY
    return _account(user), device.id, stale


def touch_token(conn: Connection, token_id: int) -> None:
    """Record that a token was just used (kept roughly current, not on every request)."""
    conn.execute(update(DeviceToken).where(DeviceToken.id == token_id).values(last_used_at=now()))


def list_tokens(
    conn: Connection, username: str, *, include_revoked: bool = False
) -> list[TokenInfo]:
    stmt = select(_tokens).where(_tokens.c.username == username).order_by(_tokens.c.id)
    if not include_revoked:
        stmt = stmt.where(_tokens.c.revoked_at.is_(None))
    return [_token_info(t) for t in conn.execute(stmt)]


def revoke_token(conn: Connection, token_id: int, *, username: str | None = None) -> bool:
    """Revoke one token (only the given user's, when ``username`` is set)."""
    stmt = (
        update(DeviceToken)
        .where(DeviceToken.id == token_id, DeviceToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    if username is not None:
        stmt = stmt.where(DeviceToken.username == username)
    return conn.execute(stmt).rowcount > 0


def revoke_all_tokens(conn: Connection, username: str) -> int:
    stmt = (
        update(DeviceToken)
        .where(DeviceToken.username == username, DeviceToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    return conn.execute(stmt).rowcount


# --- login and throttling -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """After ``max_failures`` failed logins within ``window`` a key is locked for
    ``lockout``, doubling with each further failure up to ``max_lockout``."""

    max_failures: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(seconds=30)
    max_lockout: timedelta = timedelta(minutes=15)


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginFailed(Exception):
    """Wrong user name or password (deliberately not saying which)."""


def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
    keys = [("user", f"user:{username.strip().lower()[:100]}")]
    if address:
        keys.append(("addr", f"addr:{address[:100]}"))
    return keys


def check_throttle(conn: Connection, username: str, address: str | None) -> None:
    """Raise :class:`LoginThrottled` when the user name or the address is locked out."""
    moment = now()
    wait = 0.0
    for _, key in _keys(username, address):
        locked_until = conn.execute(
            select(LoginThrottle.locked_until).where(LoginThrottle.key == key)
        ).scalar()
        if locked_until is not None and locked_until > moment:
            wait = max(wait, (locked_until - moment).total_seconds())
    if wait > 0:
        raise LoginThrottled(max(1, int(wait + 0.999)))


def record_failure(
    conn: Connection, username: str, address: str | None, policy: ThrottlePolicy
) -> None:
    moment = now()
    for kind, key in _keys(username, address):
        limit = policy.max_failures if kind == "user" else policy.max_failures_per_address
        row = conn.execute(
            select(_throttle).where(_throttle.c.key == key).with_for_update()
        ).first()
        if row is None or moment - row.first_failure_at > policy.window:
            failures, first = 1, moment
            conn.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
            conn.execute(
                _throttle.insert().values(
                    key=key, failures=1, first_failure_at=moment, locked_until=None
                )
            )
        else:
            failures, first = row.failures + 1, row.first_failure_at
        locked_until = None
        if failures >= limit:
            extra = failures - limit
            lock = min(policy.max_lockout, policy.lockout * (2 ** min(extra, 20)))
            locked_until = moment + lock
        conn.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key)
            .values(failures=failures, first_failure_at=first, locked_until=locked_until)
        )


def clear_failures(conn: Connection, username: str) -> None:
    conn.execute(delete(LoginThrottle).where(LoginThrottle.key == _keys(username, None)[0][1]))


def login_candidate(conn: Connection, username: str) -> tuple[Account | None, str]:
    """The account named ``username`` (None if there is none) and the hash to check the
    password against. Checking happens outside any transaction: Argon2 takes tens of
    milliseconds and must not hold a database lock."""
    try:
        name = normalise_username(username)
    except AccountError:
        return None, _dummy_hash()
    row = conn.execute(select(_users).where(_users.c.username == name)).first()
    if row is None:
        return None, _dummy_hash()
    return _account(row), row.password_hash


def check_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; unknown users are checked against a dummy hash so
    they take as long as a wrong password."""
    return _verify(password_hash, password)
