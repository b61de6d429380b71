"""The HTTP API (FastAPI): auth, change feed, push, health, metrics.

The application holds no state of its own besides a connection pool: tokens, throttling,
change numbers and idempotency all live in the database, so any number of server
processes may serve one PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from server import accounts, feed
from server import push as push_logic
from server.accounts import Account, ThrottlePolicy
from server.api_models import (
    ErrorBody,
    HealthResponse,
    LoginRequest,
    LoginResponse,
    OkResponse,
    PullResponse,
    PushRequest,
    PushResponse,
    TokenOut,
    UserOut,
)
from server.db import (
    create_server_engine,
    default_database_url,
    read_transaction,
    write_transaction,
)
from server.metrics import MUTATIONS, MetricsMiddleware, render
from sync import __version__

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    database_url: str
    max_body_bytes: int = DEFAULT_MAX_BODY
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    pool_size: int = 10

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings for worker processes, which get them from ``serve`` through the
        environment."""
        env = os.environ
        policy = ThrottlePolicy(
            max_failures=int(env.get("OUTPOST_LOGIN_MAX_FAILURES", "5")),
            max_failures_per_address=int(env.get("OUTPOST_LOGIN_MAX_FAILURES_PER_ADDRESS", "20")),
            lockout=timedelta(seconds=float(env.get("OUTPOST_LOGIN_LOCKOUT_SECONDS", "30"))),
        )
        return cls(
            database_url=env.get("OUTPOST_SERVER_DB") or default_database_url(),
            max_body_bytes=int(env.get("OUTPOST_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY))),
            throttle=policy,
            pool_size=int(env.get("OUTPOST_DB_POOL_SIZE", "10")),
        )

    def to_env(self) -> dict[str, str]:
        return {
            "OUTPOST_SERVER_DB": self.database_url,
            "OUTPOST_MAX_BODY_BYTES": str(self.max_body_bytes),
            "OUTPOST_LOGIN_MAX_FAILURES": str(self.throttle.max_failures),
            "OUTPOST_LOGIN_MAX_FAILURES_PER_ADDRESS": str(self.throttle.max_failures_per_address),
            "OUTPOST_LOGIN_LOCKOUT_SECONDS": str(self.throttle.lockout.total_seconds()),
            "OUTPOST_DB_POOL_SIZE": str(self.pool_size),
        }


class ApiError(Exception):
    """An answer other than success, with its status, code and message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over the limit with 413 — by Content-Length up front, and by
    counting for chunked bodies — before anything parses them."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_413(send, self.limit)
                    return
        seen = 0
        started = False
        over = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen, over
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if over and not started:
                # The app caught _BodyTooLarge while reading the body (FastAPI turns any
                # error there into its own 400): answer 413 instead of what it says.
                started = True
                await _send_413(send, self.limit)
                return
            if over:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_413(send, self.limit)


async def _send_413(send: Any, limit: int) -> None:
    body = orjson.dumps(
        {"code": "body_too_large", "message": f"request bodies are limited to {limit} bytes"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = extra.pop("headers", None)
    return _json({"code": code, "message": message, **extra}, status, headers)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Malformed request (such as an unusable cursor)",
        401: "Missing, unknown or revoked token",
        404: "No such thing",
        410: "The cursor is outdated: sync from scratch",
        413: "Request body too large",
        422: "Invalid request body or parameters",
        429: "Too many failed logins: wait Retry-After seconds",
        503: "The database is unreachable",
    }
    return {c: {"model": ErrorBody, "description": meaning[c]} for c in codes}


# Each Argon2 check takes 64 MiB: a burst of logins must not take a worker's memory with it.
_PASSWORD_CHECKS = threading.BoundedSemaphore(4)

_bearer = HTTPBearer(auto_error=False, description="Device token from /api/v1/auth/login")


def get_engine(request: Request) -> Engine:
    db: Engine = request.app.state.engine
    return db


EngineDep = Annotated[Engine, Depends(get_engine)]


def current_login(
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Account, int]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "unauthorized",
            "sign in first: no bearer token given",
            {"WWW-Authenticate": "Bearer"},
        )
    with read_transaction(engine) as conn:
        found = accounts.authenticate_token(conn, credentials.credentials)
    if found is None:
        raise ApiError(
            401,
            "unauthorized",
            "the token is unknown or was revoked",
            {"WWW-Authenticate": "Bearer"},
        )
    account, token_id, stale = found
    if stale:
        write_transaction(engine, lambda conn: accounts.touch_token(conn, token_id))
    return account, token_id


LoginDep = Annotated[tuple[Account, int], Depends(current_login)]


def create_app(settings: ServerSettings, *, engine: Engine | None = None) -> FastAPI:
    """The server application over the database in ``settings``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        app.state.engine = engine or create_server_engine(
            settings.database_url, pool_size=settings.pool_size
        )
        try:
            yield
        finally:
            if own:
                app.state.engine.dispose()

    app = FastAPI(
        title="Outpost sync server",
        version=__version__,
        description="Accounts, change feed and idempotent push for Outpost clients.",
        lifespan=lifespan,
    )
    # Level 6: level 9 (the default) costs twice the CPU on a pull page for 2 % less size.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)

    # --- errors ---------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        detail = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return _error(422, "invalid_request", f"{where}: {first['msg']}", detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer when json.loads fails with something other than a
            # JSONDecodeError (a body that is not UTF-8, nesting too deep): malformed too.
            return _error(422, "invalid_request", "body: the request body is not valid JSON")
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return _error(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return _error(500, "internal_error", "the server failed; the error was logged")

    # --- auth -----------------------------------------------------------------------

    @app.post(
        "/api/v1/auth/login",
        response_model=LoginResponse,
        responses=_responses(401, 413, 422, 429),
        tags=["auth"],
    )
    def login(body: LoginRequest, request: Request, engine: EngineDep) -> LoginResponse:
        """Exchange a user name and password for a device token."""
        address = request.client.host if request.client else None
        try:
            with read_transaction(engine) as conn:
                accounts.check_throttle(conn, body.username, address)
                account, password_hash = accounts.login_candidate(conn, body.username)
        except accounts.LoginThrottled as exc:
            raise ApiError(
                429, "too_many_attempts", str(exc), {"Retry-After": str(exc.retry_after)}
            ) from None
        with _PASSWORD_CHECKS:
            good = accounts.check_password(password_hash, body.password)
        if not good or account is None or account.disabled:
            write_transaction(
                engine,
                lambda conn: accounts.record_failure(
                    conn, body.username, address, settings.throttle
                ),
            )
            raise ApiError(401, "invalid_credentials", "wrong user name or password")

        def sign_in(conn: Any) -> tuple[str, accounts.TokenInfo]:
            accounts.clear_failures(conn, account.username)
            return accounts.issue_token(conn, account.username, body.device_name)

        token, info = write_transaction(engine, sign_in)
        return LoginResponse(token=token, token_id=info.id, user=_user_out(account))

    @app.post(
        "/api/v1/auth/logout", response_model=OkResponse, responses=_responses(401), tags=["auth"]
    )
    def logout(login: LoginDep, engine: EngineDep) -> OkResponse:
        """Revoke the token this request carries."""
        write_transaction(engine, lambda conn: accounts.revoke_token(conn, login[1]))
        return OkResponse()

    @app.get(
        "/api/v1/auth/tokens",
        response_model=list[TokenOut],
        responses=_responses(401),
        tags=["auth"],
    )
    def tokens(login: LoginDep, engine: EngineDep) -> list[TokenOut]:
        """The devices signed in to this account."""
        account, current = login
        with read_transaction(engine) as conn:
            found = accounts.list_tokens(conn, account.username)
        return [
            TokenOut(
                id=t.id,
                device_name=t.device_name,
                created_at=_iso(t.created_at) or "",
                last_used_at=_iso(t.last_used_at),
                current=t.id == current,
            )
            for t in found
        ]

    @app.delete(
        "/api/v1/auth/tokens/{token_id}",
        response_model=OkResponse,
        responses=_responses(401, 404, 422),
        tags=["auth"],
    )
    def revoke(token_id: int, login: LoginDep, engine: EngineDep) -> OkResponse:
        """Sign one of this account's devices out."""
        # Ids are 32-bit; a bigger number would overflow the database driver (a 500).
        done = 0 < token_id < 2**31 and write_transaction(
            engine, lambda conn: accounts.revoke_token(conn, token_id, username=login[0].username)
        )
        if not done:
            raise ApiError(404, "not_found", f"no active token {token_id} of yours")
        return OkResponse()

    @app.get("/api/v1/me", response_model=UserOut, responses=_responses(401), tags=["auth"])
    def me(login: LoginDep) -> UserOut:
        """The signed-in account."""
        return _user_out(login[0])

    @app.get(
        "/api/v1/users", response_model=list[UserOut], responses=_responses(401), tags=["auth"]
    )
    def users(login: LoginDep, engine: EngineDep) -> list[UserOut]:
        """Everyone a customer can be assigned to (names for owner columns and pickers)."""
        with read_transaction(engine) as conn:
            return [_user_out(a) for a in accounts.list_accounts(conn)]

    # --- sync -----------------------------------------------------------------------

    @app.get(
        "/api/v1/sync/pull",
        response_model=None,
        responses={
            200: {"model": PullResponse, "description": "One page of changes"},
            **_responses(400, 401, 410, 422),
        },
        tags=["sync"],
    )
    def pull(
        login: LoginDep,
        engine: EngineDep,
        cursor: Annotated[str, Query(max_length=1000)] = "",
        limit: Annotated[int, Query(ge=1, le=feed.MAX_PAGE)] = feed.DEFAULT_PAGE,
        count: Annotated[
            bool,
            Query(
                description="Also answer ``remaining``: how many changes this account may "
                "see after ``cursor`` (this page's included). Costs one COUNT when more "
                "pages follow: ask on the first page of a sync only."
            ),
        ] = False,
    ) -> Response:
        """The changes after ``cursor`` that this account may see, oldest first."""
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    # One snapshot for the whole page (SQLite read transactions are one).
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    page = feed.pull(conn, login[0], cursor, limit, count=count)
        except feed.CursorError as exc:
            status = 400 if exc.code == "invalid_cursor" else 410
            raise ApiError(status, exc.code, exc.message) from None
        body: dict[str, Any] = {
            "changes": page.changes,
            "cursor": page.cursor,
            "has_more": page.has_more,
        }
        if page.remaining is not None:
            body["remaining"] = page.remaining
        return _json(body)

    @app.post(
        "/api/v1/sync/push",
        response_model=None,
        responses={
            200: {"model": PushResponse, "description": "One result per mutation"},
            **_responses(401, 413, 422),
        },
        tags=["sync"],
    )
    def push(body: PushRequest, login: LoginDep, engine: EngineDep) -> Response:
        """Apply a batch of mutations; each is applied, a conflict or rejected on its own.
        Pushing the same mutation ids again returns the first results."""
        mutations = [
            push_logic.MutationIn(
                mutation_id=m.mutation_id,
                entity=m.entity,
                record_id=m.record_id,
                op=m.op,
                base_version=m.base_version,
                fields={k: (v.new, v.base) for k, v in m.fields.items()},
            )
            for m in body.mutations
        ]
        results = write_transaction(
            engine, lambda conn: push_logic.push(conn, login[0], body.client_id, mutations)
        )
        for r in results:
            MUTATIONS.labels(r["status"]).inc()
        return _json({"results": results})

    # --- operations -----------------------------------------------------------------

    @app.get(
        "/api/v1/health",
        response_model=HealthResponse,
        responses=_responses(503),
        tags=["operations"],
    )
    def health(engine: EngineDep) -> Any:
        """Whether the server can reach its database."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("health check: database unreachable: %s", exc)
            # An error body like any other ({code, message}, as documented), still
            # carrying the health fields for probes that read ``status``.
            body = {
                "code": "database_unreachable",
                "message": "the server cannot reach its database",
                "status": "unavailable",
                "database": "unreachable",
                "version": __version__,
            }
            return _json(body, 503)
        return HealthResponse(status="ok", database="ok", version=__version__)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    return app


def _user_out(account: Account) -> UserOut:
    return UserOut(
        username=account.username,
        display_name=account.display_name,
        role=account.role.value,
        team=account.team,
        disabled=account.disabled,
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text_value: str = value.isoformat(timespec="seconds").replace("+00:00", "Z")
    return text_value


def app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes (``serve --workers N``)."""
    return create_app(ServerSettings.from_env())


Factory = Callable[[], FastAPI]
