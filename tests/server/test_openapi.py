"""The OpenAPI description at ``/openapi.json`` against the real server over HTTP: it lists
exactly the real endpoints, every error is documented as ``ErrorBody``, a schemathesis run
finds no 500 and no response outside the documented statuses, schemas and content types,
and the operations it leaves out (login, logout, revoking a token) answer as documented
too — on SQLite and PostgreSQL.

The schemathesis run fuzzes as a fresh account of its own and leaves out the operations
that would spoil the shared session server: failed logins (they lock 127.0.0.1 out) and
logout / token revocation (they would sign its own token out half-way through the run).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.engine import make_url

from server.accounts import Role

from .conftest import (
    LOGIN_MAX_FAILURES,
    MAX_BODY_BYTES,
    PASSWORD,
    LiveServer,
    fresh_database_url,
    start_server,
    stop_server,
)

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
TOKENS = "/api/v1/auth/tokens"
TOKEN = "/api/v1/auth/tokens/{token_id}"
PUSH = "/api/v1/sync/push"
HEALTH = "/api/v1/health"

EXPECTED_OPERATIONS = {
    ("post", LOGIN),
    ("post", LOGOUT),
    ("get", TOKENS),
    ("delete", TOKEN),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/sync/pull"),
    ("post", PUSH),
    ("get", HEALTH),
}
PUBLIC_OPERATIONS = {("post", LOGIN), ("get", HEALTH)}
NOT_FUZZED = (LOGIN, LOGOUT, TOKEN)
ERROR_BODY_REF = "#/components/schemas/ErrorBody"

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
MAX_EXAMPLES = 50
SEED = 20240607
# Any warning fails the run: above all ``missing_auth`` (operations answering only 401,
# i.e. a run that tested nothing behind the token).
SCHEMATHESIS_CONFIG = "[warnings]\nfail-on = true\n"


def _spec(server: LiveServer) -> dict[str, Any]:
    response = server.http().get("/openapi.json")
    assert response.status_code == 200, response.text
    spec: dict[str, Any] = response.json()
    return spec


def _schema(server: LiveServer) -> OpenApiSchema:
    return schemathesis.openapi.from_dict(_spec(server), config=schemathesis.Config())


def _conforms(schema: OpenApiSchema, method: str, path: str, response: httpx.Response) -> None:
    """``response`` has a status the operation documents, is JSON, and matches the
    documented schema for that status."""
    operation = schema[path][method.upper()]
    documented = operation.definition.raw["responses"]
    assert str(response.status_code) in documented, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    operation.validate_response(response)


# --- the description itself ---------------------------------------------------------------


def test_openapi_lists_exactly_the_real_operations(server: LiveServer) -> None:
    """/openapi.json lists exactly the nine API operations (no /metrics), each one reachable
    at its documented method: an unauthenticated call gets a documented answer, never a
    404/405, and the wrong method on a documented path is 405."""
    spec = _spec(server)
    listed = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert listed == EXPECTED_OPERATIONS
    schema = schemathesis.openapi.from_dict(spec, config=schemathesis.Config())
    http = server.http()
    for method, path in sorted(EXPECTED_OPERATIONS):
        url = path.replace("{token_id}", "1")
        body: dict[str, Any] | None = {} if method == "post" else None
        response = http.request(method.upper(), url, json=body)
        assert response.status_code not in (404, 405), (method, path, response.text)
        _conforms(schema, method, path, response)
        if (method, path) not in PUBLIC_OPERATIONS:
            assert response.status_code == 401, (method, path, response.text)
    assert http.get(LOGOUT).status_code == 405
    assert http.put(PUSH, json={}).status_code == 405


def test_every_operation_documents_its_errors_as_error_body(server: LiveServer) -> None:
    """Every operation documents at least one error status, every documented 4xx/5xx uses
    the ErrorBody schema ({code, message} required), and every operation behind a token
    declares the bearer scheme and documents 401."""
    spec = _spec(server)
    error_body = spec["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "message"}
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            responses: dict[str, Any] = op["responses"]
            assert "200" in responses, (method, path)
            errors = {code: r for code, r in responses.items() if int(code) >= 400}
            assert errors, f"{method} {path} documents no error response"
            for code, documented in errors.items():
                schema = documented["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_BODY_REF}, (method, path, code, schema)
            if (method, path) in PUBLIC_OPERATIONS:
                assert not op.get("security"), (method, path)
            else:
                assert op.get("security") == [{"HTTPBearer": []}], (method, path)
                assert "401" in responses, (method, path)
            if op.get("requestBody") or op.get("parameters"):
                assert "422" in responses, (method, path)
            if op.get("requestBody"):
                assert "413" in responses, (method, path)


# --- schemathesis ---------------------------------------------------------------------


def test_schemathesis_finds_no_failures(server: LiveServer, tmp_path: Path) -> None:
    """A seeded schemathesis run (positive and negative cases, bounded examples) signed in
    as a fresh account finds no 500, no undocumented status, no wrong content type and no
    response outside its schema; it really got past authentication on every operation, and
    afterwards the cast can still sign in and their tokens still work."""
    cast_before = server.login("s1", device="before-openapi-fuzz")
    user = server.add_user(Role.SALES, prefix="fuzz")
    fuzzer = server.login(user, device="schemathesis")

    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    report = tmp_path / "report.json"
    excluded = [arg for path in NOT_FUZZED for arg in ("--exclude-path", path)]
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", f"{server.base_url}/openapi.json",
        "--header", f"Authorization: Bearer {fuzzer.token}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--no-shrink",
        "--workers", "1",
        "--request-timeout", "10",
        "--generation-database", "none",
        "--report", "json", "--report-json-path", str(report),
        *excluded,
    ]  # fmt: skip
    try:
        run = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"schemathesis did not finish in {exc.timeout} s:\n{exc.stdout!r}")
    output = f"$ st run ... (exit {run.returncode})\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, output
    result = json.loads(report.read_text())
    assert result["exit_code"] == 0 and result["complete"], output
    assert result["failures"] == [] and result["errors"] == [], output
    assert not any(result["warnings"].values()), output
    fuzzed = len(EXPECTED_OPERATIONS) - len(NOT_FUZZED)
    assert result["operations"]["tested"] == fuzzed, output
    assert len(result["valid_rates"]) == fuzzed, output
    for label, phases in result["valid_rates"].items():
        accepted = sum(phase["accepted"] for phase in phases.values())
        assert accepted > 0, f"{label}: no case got past validation and auth\n{output}"

    # Nothing the run did spoils the session: the fuzzing token, the cast's token and
    # signing in from 127.0.0.1 all still work.
    assert fuzzer.http.get("/api/v1/me").status_code == 200
    assert cast_before.http.get("/api/v1/me").status_code == 200
    assert server.login("s1", device="after-openapi-fuzz").http.get("/api/v1/me").is_success


# --- the operations left out of the fuzzing, by hand ------------------------------------


def test_login_answers_as_documented(server: LiveServer) -> None:
    """Login's 200, 401, 413, 422 (bad shape, or a body that is not even UTF-8) and 429
    all come with the documented status, content type and schema."""
    schema = _schema(server)
    http = server.http()
    user = server.add_user(prefix="oalogin")

    def login(**body: Any) -> httpx.Response:
        return http.post(LOGIN, json=body)

    ok = login(username=user, password=PASSWORD, device_name="openapi")
    _conforms(schema, "post", LOGIN, ok)
    assert ok.status_code == 200 and ok.json()["user"]["username"] == user

    for bad in (
        login(username=user),
        login(username=user, password=PASSWORD, surprise=1),
        login(username="", password=PASSWORD),
        http.post(LOGIN, content=b"\xff\xfe\xfd", headers={"Content-Type": "application/json"}),
        http.post(LOGIN, content=b'{"username": ', headers={"Content-Type": "application/json"}),
    ):
        assert bad.status_code == 422, bad.text
        assert bad.json()["code"] == "invalid_request"
        _conforms(schema, "post", LOGIN, bad)

    too_big = http.post(
        LOGIN,
        content=b'{"username": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413, too_big.text
    _conforms(schema, "post", LOGIN, too_big)

    for _ in range(LOGIN_MAX_FAILURES):
        wrong = login(username=user, password="not the password")
        assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
        _conforms(schema, "post", LOGIN, wrong)
    locked = login(username=user, password=PASSWORD)
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) >= 1
    _conforms(schema, "post", LOGIN, locked)


def test_logout_and_token_revocation_answer_as_documented(server: LiveServer) -> None:
    """Revoking another device's token (200, then 404), a non-numeric id (422), no token
    (401), logging out (200) and using the token afterwards (401) all match the schema."""
    schema = _schema(server)
    user = server.add_user(prefix="oatoken")
    first = server.login(user, device="first")
    second_response = server.http().post(
        LOGIN, json={"username": user, "password": PASSWORD, "device_name": "second"}
    )
    second_id = second_response.json()["token_id"]
    second = server.http(second_response.json()["token"])

    listed = first.http.get(TOKENS)
    _conforms(schema, "get", TOKENS, listed)
    assert {t["id"] for t in listed.json()} >= {second_id}

    revoked = first.http.delete(f"{TOKENS}/{second_id}")
    assert revoked.status_code == 200 and revoked.json() == {"ok": True}
    _conforms(schema, "delete", TOKEN, revoked)
    again = first.http.delete(f"{TOKENS}/{second_id}")
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    _conforms(schema, "delete", TOKEN, again)
    not_a_number = first.http.delete(f"{TOKENS}/abc")
    assert not_a_number.status_code == 422, not_a_number.text
    _conforms(schema, "delete", TOKEN, not_a_number)
    anonymous = server.http().delete(f"{TOKENS}/{second_id}")
    assert anonymous.status_code == 401
    _conforms(schema, "delete", TOKEN, anonymous)
    assert second.get("/api/v1/me").status_code == 401

    out = first.http.post(LOGOUT)
    assert out.status_code == 200 and out.json() == {"ok": True}
    _conforms(schema, "post", LOGOUT, out)
    after = first.http.post(LOGOUT)
    assert after.status_code == 401 and after.json()["code"] == "unauthorized"
    _conforms(schema, "post", LOGOUT, after)


# --- /health when the database is gone ----------------------------------------------------


class _CuttableProxy:
    """A TCP relay to PostgreSQL; :meth:`cut` drops every connection and refuses new
    ones, so the server behind it finds its database unreachable."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.mark.postgres
def test_health_503_matches_its_documented_error_body(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A server whose PostgreSQL becomes unreachable answers /health with 503, and that
    answer is the documented ErrorBody (code, message) while still saying
    status=unavailable for probes."""
    db_url = fresh_database_url("postgres", tmp_path, request)
    real = make_url(db_url)
    proxy = _CuttableProxy(real.host or "127.0.0.1", real.port or 5432)
    via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proc, base_url = start_server(via_proxy, tmp_path / f"server-{uuid.uuid4().hex[:6]}.log")
    try:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            spec = http.get("/openapi.json").json()
            schema = schemathesis.openapi.from_dict(spec, config=schemathesis.Config())
            healthy = http.get(HEALTH)
            assert healthy.status_code == 200, healthy.text
            _conforms(schema, "get", HEALTH, healthy)
            proxy.cut()
            down = http.get(HEALTH)
            assert down.status_code == 503, down.text
            _conforms(schema, "get", HEALTH, down)
            body = down.json()
            assert body["code"] == "database_unreachable" and body["message"]
            assert body["status"] == "unavailable" and body["database"] == "unreachable"
    finally:
        proxy.cut()
        stop_server(proc)
