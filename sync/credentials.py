"""Device tokens in the system keyring (service ``Outpost``, one entry per server and user).

Only the keyring ever holds a token: nothing here writes a token or a password to a file
of ours. When there is no usable keyring — the ``fail`` or ``null`` backend, a chainer
with nothing to chain, a locked or broken backend, or one that does not keep what it is
given — every function raises :class:`NoKeyringError`, whose message says what that means
for the user: the token cannot be stored, so the password is asked on every run.

The keyring entry's user name is ``f"{server_url}|{user}"`` (the URL without a trailing
slash), so signing in to two servers, or as two users, keeps two tokens apart.
"""

from __future__ import annotations

from typing import Any

import keyring
import keyring.errors
from keyring.backends import chainer, fail, null

SERVICE = "Outpost"

NO_KEYRING_ADVICE = (
    "the sign-in token cannot be stored, so the password will be asked on every run "
    "(at the terminal, or with --password-stdin). Install and unlock a system keyring "
    "(Secret Service, KWallet, macOS Keychain, Windows Credential Locker) to stay signed in"
)


class CredentialError(RuntimeError):
    """A token could not be stored, read or removed."""


class NoKeyringError(CredentialError):
    """There is no usable keyring: tokens cannot be stored, the password is asked per run."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no usable keyring ({reason}): {NO_KEYRING_ADVICE}")
        self.reason = reason


def account_key(server_url: str, user: str) -> str:
    """The keyring user name under which ``user``'s token for ``server_url`` is kept."""
    return f"{server_url.rstrip('/')}|{user}"


def backend() -> Any:
    """The keyring backend in use; :class:`NoKeyringError` if it cannot store anything."""
    try:
        found = keyring.get_keyring()
    except keyring.errors.KeyringError as exc:
        raise NoKeyringError(_describe(exc)) from None
    if isinstance(found, fail.Keyring | null.Keyring):
        raise NoKeyringError(f"the {type(found).__module__} backend stores nothing")
    if isinstance(found, chainer.ChainerBackend) and not list(found.backends):
        raise NoKeyringError("no keyring backend is installed")
    return found


def save_token(server_url: str, user: str, token: str) -> None:
    """Keep ``token`` in the keyring, replacing an older one; checks that it stayed."""
    store = backend()
    key = account_key(server_url, user)
    try:
        store.set_password(SERVICE, key, token)
        kept = store.get_password(SERVICE, key)
    except (keyring.errors.KeyringError, OSError) as exc:
        raise NoKeyringError(_describe(exc)) from None
    if kept != token:
        raise NoKeyringError("the keyring did not keep the token")


def load_token(server_url: str, user: str) -> str | None:
    """The token kept for ``user`` on ``server_url``, or None when there is none."""
    store = backend()
    try:
        token = store.get_password(SERVICE, account_key(server_url, user))
    except (keyring.errors.KeyringError, OSError) as exc:
        raise NoKeyringError(_describe(exc)) from None
    return token if isinstance(token, str) and token else None


def delete_token(server_url: str, user: str) -> bool:
    """Remove the token kept for ``user`` on ``server_url``; False if there was none."""
    store = backend()
    key = account_key(server_url, user)
    try:
        if store.get_password(SERVICE, key) is None:
            return False
        store.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        return False
    except (keyring.errors.KeyringError, OSError) as exc:
        raise NoKeyringError(_describe(exc)) from None
    return True


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
