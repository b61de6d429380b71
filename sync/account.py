"""Which server and user a profile belongs to, and signing it in (Qt-free).

Shared by ``outpost-cli`` and the desktop app. A profile's replica keeps the server URL,
the user and an optional company CA file as replica facts; the device token lives only
in the system keyring (:mod:`sync.credentials`). With no usable keyring, or when the user
did not ask to be remembered, the token is kept in memory for this run only — never
written to a file.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sync import credentials
from sync.credentials import NoKeyringError
from sync.replica import Replica
from sync.transport import ServerClient, ServerConfig, TransportError

SERVER_URL_KEY = "server_url"
USER_KEY = "user_id"
CA_FILE_KEY = "ca_file"
DISPLAY_NAME_KEY = "display_name"


class ProfileMismatchError(ValueError):
    """The profile belongs to another server or user."""


@dataclass(frozen=True)
class ServerProfile:
    """The server a profile syncs with and the user it belongs to (replica facts)."""

    server_url: str
    user: str
    ca_file: Path | None = None

    def config(self) -> ServerConfig:
        return ServerConfig(self.server_url, ca_file=self.ca_file)


def server_profile(replica: Replica) -> ServerProfile | None:
    """The replica's server and user, or ``None`` if it never signed in."""
    url = replica.get_meta(SERVER_URL_KEY)
    user = replica.user_id
    if not url or not user:
        return None
    ca_file = replica.get_meta(CA_FILE_KEY)
    return ServerProfile(url, user, Path(ca_file) if ca_file else None)


def normalize_server_url(text: str) -> str:
    """``http(s)://HOST[:PORT][/path]`` without a trailing slash; ``ValueError`` otherwise."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http(s)://HOST[:PORT], got {text!r}")
    parts.port  # noqa: B018 - a bad port raises ValueError here
    return url


def check_ca_file(text: str) -> Path:
    """The absolute path of a readable PEM CA file; ``ValueError`` with the reason."""
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(f"{path} holds no usable PEM certificate: {exc}") from None
    return path


def device_name(program: str) -> str:
    """How this device appears in the server's token list."""
    return f"{program} on {socket.gethostname() or 'this computer'}"


def check_profile_owner(replica: Replica, server_url: str, user: str) -> None:
    """Refuse to sign a profile of one user (or server) in as another."""
    known_url = replica.get_meta(SERVER_URL_KEY)
    known_user = replica.user_id
    if known_url and known_url.rstrip("/") != server_url.rstrip("/"):
        raise ProfileMismatchError(
            f"this profile belongs to the server {known_url}, not {server_url}"
        )
    if known_user and known_user.casefold() != user.casefold():
        raise ProfileMismatchError(f"this profile belongs to the user {known_user}, not {user}")


@dataclass(frozen=True)
class SignIn:
    """The outcome of :func:`sign_in`."""

    profile: ServerProfile
    token: str
    display_name: str
    role: str
    team: str | None
    token_stored: bool  # in the keyring; otherwise in memory for this run only
    keyring_problem: str | None  # why it could not be stored, when remember was asked


def sign_in(
    replica: Replica,
    server_url: str,
    user: str,
    password: str,
    *,
    device: str,
    ca_file: Path | None = None,
    remember: bool = True,
) -> SignIn:
    """Sign ``replica``'s profile in: check the password on the server, record the server
    and user in the replica, keep the token in the keyring when ``remember`` (and a usable
    keyring exists). Raises :class:`ProfileMismatchError` and the transport errors
    (:class:`~sync.transport.AuthError` for a wrong password)."""
    server_url = normalize_server_url(server_url)
    check_profile_owner(replica, server_url, user)
    known_ca = replica.get_meta(CA_FILE_KEY)
    profile = ServerProfile(server_url, user, ca_file or (Path(known_ca) if known_ca else None))
    with ServerClient(profile.config()) as client:
        reply = client.login(user, password, device)
        username = reply.user.username
        try:
            check_profile_owner(replica, server_url, username)
        except ProfileMismatchError:
            with contextlib.suppress(TransportError):
                client.logout()
            raise
    profile = ServerProfile(server_url, username, profile.ca_file)
    replica.set_meta(SERVER_URL_KEY, server_url)
    replica.set_meta(USER_KEY, username)
    replica.set_meta(DISPLAY_NAME_KEY, reply.user.display_name)
    if ca_file is not None:
        replica.set_meta(CA_FILE_KEY, str(ca_file))
    stored = False
    problem: str | None = None
    old: str | None = None
    if remember:
        try:
            old = credentials.load_token(server_url, username)
            credentials.save_token(server_url, username, reply.token)
            stored = True
        except NoKeyringError as exc:
            problem = exc.reason
    if old and old != reply.token:
        revoke_quietly(profile, old)  # the previous sign-in of this profile
    return SignIn(
        profile=profile,
        token=reply.token,
        display_name=reply.user.display_name,
        role=str(reply.user.role),
        team=reply.user.team,
        token_stored=stored,
        keyring_problem=problem,
    )


def stored_token(profile: ServerProfile) -> str | None:
    """The profile's token from the keyring (``None``: not signed in on this device).
    Raises :class:`~sync.credentials.NoKeyringError` with no usable keyring."""
    return credentials.load_token(profile.server_url, profile.user)


def revoke_quietly(profile: ServerProfile, token: str) -> None:
    """Best effort: revoke ``token`` on the server (it may be gone already, or offline)."""
    try:
        client = ServerClient(profile.config(), token)
    except (ssl.SSLError, OSError):
        return  # the CA file is gone or spoilt: nothing can be revoked from here now
    with client, contextlib.suppress(TransportError):
        client.logout()


def sign_out(profile: ServerProfile, token: str | None) -> None:
    """Revoke the token on the server if possible and forget it in the keyring."""
    if token:
        revoke_quietly(profile, token)
    with contextlib.suppress(NoKeyringError):
        credentials.delete_token(profile.server_url, profile.user)
