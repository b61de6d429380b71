"""Talking to the Outpost server over HTTP (httpx): sign-in, pull, push.

Every answer is checked before the engine sees it: a reply that is not what the protocol
says (bad JSON, a missing field, a record of the wrong shape) raises
:class:`ProtocolError` and changes nothing locally. Errors are sorted by what the engine
should do about them:

* :class:`OfflineError` — no connection, a timeout, a 5xx, a 429: try again later (with
  ``retry_after`` when the server said so);
* :class:`AuthError` — 401: the token is gone; sign in again (the queue stays);
* :class:`ResyncRequired` — 410: the cursor is outdated; sync from scratch;
* :class:`ProtocolError` — the server's answer makes no sense: report it, keep the queue.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from sync import __version__, wire
from sync.outbox import Mutation

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

USER_AGENT = f"Outpost/{__version__} (+https://outpost.example/crm) httpx/{httpx.__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=60.0, pool=10.0)


class TransportError(Exception):
    """Something went wrong talking to the server."""


class OfflineError(TransportError):
    """The server could not be reached or is not answering properly: try later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(TransportError):
    """The server does not accept our credentials: sign in again."""


class ResyncRequired(TransportError):
    """The pull cursor is outdated (410): the replica must sync from scratch."""


class ProtocolError(TransportError):
    """The server's answer does not follow the protocol."""


class CertificateError(TransportError):
    """The server's TLS certificate is not trusted (a company CA: ``ca_file``); retrying
    does not help, so this is not an :class:`OfflineError`."""


class RequestRejected(TransportError):
    """The server refused the request itself (4xx other than the above)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code


# --- the protocol's answers, checked -------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UserInfo(_Strict):
    username: str
    display_name: str
    role: str
    team: str | None = None


class LoginReply(_Strict):
    token: str = Field(min_length=1)
    token_id: int
    user: UserInfo


if TYPE_CHECKING:
    WireRecord = dict[str, Any]
else:
    # Checked to be a JSON object, not copied key by key: a page holds thousands of
    # records, and the engine checks each field itself (``engine.decode_record``).
    WireRecord = InstanceOf[dict]


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class ChangeIn:
    """One change of a pulled page: a slotted dataclass rather than a model, since a page
    holds thousands (a model is three objects for the garbage collector to visit)."""

    seq: int
    entity: Literal["customer", "contact", "follow_up", "deal"]
    id: Annotated[str, Field(min_length=36, max_length=36)]
    op: Literal["upsert", "delete", "revoke"]
    version: int | None
    record: WireRecord | None


class PullReply(_Strict):
    changes: list[ChangeIn]
    cursor: str
    has_more: bool
    # Only when asked for (``count``) and the server knows how: the changes after the
    # request's cursor, this page's included. Older servers leave it out.
    remaining: int | None = Field(default=None, ge=0)


class ConflictFieldIn(_Strict):
    field: str
    mine: Any = None
    base: Any = None
    theirs: Any = None
    changed_by: str | None = None
    changed_at: str | None = None


class MutationResultIn(_Strict):
    mutation_id: str
    status: Literal["applied", "conflict", "rejected"]
    version: int | None = None
    kind: Literal["field", "deleted", "delete_vs_change"] | None = None
    conflicts: list[ConflictFieldIn] | None = None
    record: dict[str, Any] | None = None
    code: str | None = None
    message: str | None = None
    fields: dict[str, str] | None = None


class PushReply(_Strict):
    results: list[MutationResultIn]


@dataclass(frozen=True)
class ServerConfig:
    """Where the server is and how to trust it."""

    url: str
    ca_file: Path | None = None
    verify: bool = True
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)


class ServerClient:
    """One keep-alive HTTP connection pool to the server; thread-confined."""

    def __init__(
        self,
        config: ServerConfig,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.token = token
        verify: ssl.SSLContext | bool = config.verify
        if config.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(config.ca_file))
        self._http = httpx.Client(
            base_url=config.url.rstrip("/"),
            timeout=config.timeout,
            verify=verify,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"},
            transport=transport,
        )
        self.requests = 0  # for "a sync with nothing to do makes one request per direction"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- calls --------------------------------------------------------------------------

    def login(self, username: str, password: str, device_name: str) -> LoginReply:
        data = self._call(
            "POST",
            "/api/v1/auth/login",
            json={"username": username, "password": password, "device_name": device_name},
            authenticated=False,
        )
        reply = _parse(LoginReply, data)
        self.token = reply.token
        return reply

    def logout(self) -> None:
        self._call("POST", "/api/v1/auth/logout")

    def me(self) -> UserInfo:
        return _parse(UserInfo, self._call("GET", "/api/v1/me"))

    def pull(self, cursor: str, limit: int, *, count: bool = False) -> PullReply:
        """One page of the feed after ``cursor``. ``count`` asks the server how many
        changes remain (one COUNT on its side: the first page of a sync only)."""
        params: dict[str, Any] = {"cursor": cursor, "limit": limit}
        if count:
            params["count"] = "true"
        return _parse(PullReply, self._call("GET", "/api/v1/sync/pull", params=params))

    def push(self, client_id: str, mutations: Sequence[Mutation]) -> PushReply:
        body = {
            "client_id": client_id,
            "mutations": [
                {
                    "mutation_id": m.mutation_id,
                    "entity": m.entity,
                    "record_id": m.record_id,
                    "op": m.op,
                    "base_version": m.base_version,
                    "fields": {k: {"new": v.new, "base": v.base} for k, v in m.fields.items()},
                }
                for m in mutations
            ],
        }
        reply = _parse(PushReply, self._call("POST", "/api/v1/sync/push", content=wire.dumps(body)))
        sent = [m.mutation_id for m in mutations]
        got = [r.mutation_id for r in reply.results]
        if got != sent:
            raise ProtocolError("the server answered for other mutations than were pushed")
        return reply

    # --- plumbing -----------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        content: str | None = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> Any:
        headers: dict[str, str] = {}
        if authenticated:
            if not self.token:
                raise AuthError("not signed in")
            headers["Authorization"] = f"Bearer {self.token}"
        if content is not None:
            headers["Content-Type"] = "application/json"
        self.requests += 1
        try:
            response = self._http.request(
                method, path, json=json, content=content, params=params, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise OfflineError(f"the server did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            if _certificate_rejected(exc):
                raise CertificateError(f"the server's certificate is not trusted: {exc}") from exc
            raise OfflineError(f"cannot reach the server: {exc}") from exc
        return _check(response)


def _certificate_rejected(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # the ssl error sits a few causes down (httpx <- httpcore <- ssl)
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check(response: httpx.Response) -> Any:
    status = response.status_code
    if status == 200:
        try:
            return wire.loads(response.content)
        except wire.WireError as exc:
            raise ProtocolError(f"the server's answer is not JSON: {exc}") from None
    code, message = _error_of(response)
    if status == 401:
        raise AuthError(message or "sign in again")
    if status == 410:
        raise ResyncRequired(message or "sync from scratch")
    if status == 429 or status >= 500:
        raise OfflineError(
            f"the server is busy or failing ({status} {code}): {message}",
            _retry_after(response),
        )
    raise RequestRejected(status, code, message)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = wire.loads(response.content)
    except wire.WireError:
        return "http_error", response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("code", "http_error")), str(body.get("message", ""))
    return "http_error", response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(
            f"unexpected answer from the server at {where}: {first['msg']}"
        ) from None
