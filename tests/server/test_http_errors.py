"""Errors over real HTTP: every failure is a JSON ``{code, message}`` with the right
status, bad input never makes a 500, oversized bodies get 413, one bad mutation does not
fail its batch; plus compression, health and metrics — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import MAX_BODY_BYTES, ApiClient, LiveServer

PULL = "/api/v1/sync/pull"
PUSH = "/api/v1/sync/push"


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with a JSON error body of ``code``; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def _mutation(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mutation_id": f"m-{uuid.uuid4().hex[:12]}",
        "entity": "customer",
        "record_id": str(uuid.uuid4()),
        "op": "create",
        "base_version": 0,
        "fields": {"name": {"new": "错误测试", "base": None}, "status": {"new": "lead"}},
    }
    base.update(overrides)
    return base


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.fixture
def sales(server: LiveServer) -> ApiClient:
    return server.login("s1")


# --- status codes and the error body --------------------------------------------------


def test_missing_or_bad_token_is_401_json(server: LiveServer) -> None:
    """No token, an unknown token or another scheme: 401 unauthorized with a
    WWW-Authenticate challenge, on every protected route."""
    plain = server.http()
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/logout"),
        ("DELETE", "/api/v1/auth/tokens/1"),
        ("GET", PULL),
        ("POST", PUSH),
    ]:
        response = plain.request(method, path)
        _assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    _assert_error(server.http("opt_not-a-real-token").get("/api/v1/me"), 401, "unauthorized")
    _assert_error(server.http("x" * 5000).get("/api/v1/me"), 401, "unauthorized")
    basic = plain.get("/api/v1/me", headers={"Authorization": "Basic czE6cGFzc3dvcmQ="})
    _assert_error(basic, 401, "unauthorized")


def test_unknown_route_and_wrong_method(server: LiveServer, sales: ApiClient) -> None:
    """An unknown path is 404 not_found and a wrong method 405, both as JSON."""
    _assert_error(sales.http.get("/api/v1/no-such-thing"), 404, "not_found")
    _assert_error(server.http().get("/nothing/here"), 404, "not_found")
    _assert_error(sales.http.get(PUSH), 405, "method_not_allowed")
    _assert_error(sales.http.delete(PULL), 405, "method_not_allowed")
    _assert_error(server.http().get("/api/v1/auth/login"), 405, "method_not_allowed")


def test_malformed_push_bodies_are_422(sales: ApiClient) -> None:
    """Bodies that are not JSON, or not the push shape, are 422 invalid_request with the
    offending places in ``detail``."""
    http = sales.http
    headers = {"Content-Type": "application/json"}
    not_json = http.post(PUSH, content=b'{"client_id": "x", "mutations": [', headers=headers)
    _assert_error(not_json, 422, "invalid_request")
    cases: list[tuple[Any, str]] = [
        ({"client_id": "c", "mutations": "not a list"}, "mutations"),
        ({"client_id": "c", "mutations": [_mutation(base_version=-1)]}, "base_version"),
        ({"client_id": "c", "mutations": [], "extra": 1}, "extra"),
        ({"mutations": []}, "client_id"),
        ({"client_id": "", "mutations": []}, "client_id"),
        ({"client_id": "c", "mutations": [_mutation(fields={"name": "x"})]}, "fields"),
        ({"client_id": "c", "mutations": [{**_mutation(), "surprise": True}]}, "surprise"),
        ({"client_id": "c", "mutations": [_mutation(base_version="one")]}, "base_version"),
        # NUL cannot be stored in PostgreSQL text: refused up front on both backends.
        ({"client_id": "a\x00b", "mutations": []}, "client_id"),
        ({"client_id": "c", "mutations": [_mutation(mutation_id="a\x00b")]}, "mutation_id"),
    ]
    for body, place in cases:
        response = http.post(PUSH, json=body)
        error = _assert_error(response, 422, "invalid_request")
        assert any(place in item["loc"] for item in error["detail"]), (body, error)
    login = http.post("/api/v1/auth/login", json={"username": "s\x001", "password": "x"})
    error = _assert_error(login, 422, "invalid_request")
    assert any("username" in item["loc"] for item in error["detail"])


def test_pull_limit_out_of_range_is_422(sales: ApiClient) -> None:
    """limit must be 1..5000."""
    for limit in ("0", "-1", "5001", "999999", "ten"):
        response = sales.http.get(PULL, params={"limit": limit})
        _assert_error(response, 422, "invalid_request")
    assert sales.http.get(PULL, params={"limit": "5000"}).status_code == 200


def test_garbage_cursor_is_400_invalid_cursor(sales: ApiClient) -> None:
    """A cursor that this server cannot have given out is 400 invalid_cursor."""
    garbage = [
        "abc",
        "!!!!",
        _b64(b"hello, not json"),
        _b64(b"\xff\xfe\x00garbage"),
        _b64(json.dumps([1, 2, 3]).encode()),
        _b64(json.dumps({"v": 1}).encode()),
        _b64(json.dumps({"v": 1, "s": "12"}).encode()),
        _b64(json.dumps({"v": 1, "s": -5}).encode()),
        _b64(json.dumps({"v": 1, "s": True}).encode()),
        _b64(json.dumps({"v": 99, "s": 1, "db": "x", "f": "y"}).encode()),
        _b64(json.dumps({"wrong": "fields"}).encode()),
    ]
    for cursor in garbage:
        response = sales.http.get(PULL, params={"cursor": cursor})
        _assert_error(response, 400, "invalid_cursor")


def test_bad_input_never_causes_a_server_error(server: LiveServer, sales: ApiClient) -> None:
    """A table of hostile bodies and parameters: every answer is a 4xx (or a 200 with
    per-mutation rejections), never a 500, and errors are always JSON with a code."""
    nul = "a\x00b"
    huge = 2**70
    raw_bodies: list[bytes] = [
        b"",
        b"null",
        b"[]",
        b"42",
        b'"text"',
        b"{}",
        b"\xff\xfe\xfd",
        b'{"client_id": NaN, "mutations": []}',
        b"[" * 5000 + b"]" * 5000,
        b'{"client_id": "c", "mutations": [' + b"[" * 2000 + b"]" * 2000 + b"]}",
    ]
    push_bodies: list[Any] = [
        {"client_id": "c", "mutations": None},
        {"client_id": 5, "mutations": []},
        {"client_id": "c" * 101, "mutations": []},
        {"client_id": nul, "mutations": []},
        {"client_id": "c", "mutations": [None]},
        {"client_id": "c", "mutations": [[]]},
        {"client_id": "c", "mutations": [{}]},
        {"client_id": "c", "mutations": [_mutation(base_version=huge)]},
        {"client_id": "c", "mutations": [_mutation(base_version=1.5)]},
        {"client_id": "c", "mutations": [_mutation(mutation_id="")]},
        {"client_id": "c", "mutations": [_mutation(mutation_id="m" * 201)]},
        {"client_id": f"c-{uuid.uuid4().hex}", "mutations": [_mutation(mutation_id=nul)]},
        {"client_id": "c", "mutations": [_mutation(entity=nul)]},
        {"client_id": "c", "mutations": [_mutation(entity=["customer"])]},
        {"client_id": "c", "mutations": [_mutation(op=nul)]},
        {"client_id": "c", "mutations": [_mutation(record_id=nul)]},
        {"client_id": "c", "mutations": [_mutation(record_id="x" * 101)]},
        {"client_id": "c", "mutations": [_mutation(record_id=str(uuid.uuid4()).upper())]},
        {"client_id": "c", "mutations": [_mutation(record_id="{" + str(uuid.uuid4()) + "}")]},
        {"client_id": "c", "mutations": [_mutation(fields=None)]},
        {"client_id": "c", "mutations": [_mutation(fields={"name": {"new": {"a": [1]}}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"name": {"new": nul}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"notes": {"new": nul}})]},
        {"client_id": "c", "mutations": [_mutation(fields={nul: {"new": 1}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"tags": {"new": [nul, 5]}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"tags": {"new": "x" * 10000}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"owner_id": {"new": nul}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"owner_id": {"new": 12}})]},
        {"client_id": "c", "mutations": [_mutation(fields={"next_follow_up_at": {"new": "x"}})]},
        {
            "client_id": "c",
            "mutations": [_mutation(fields={"next_follow_up_at": {"new": "9999-12-31T23:59Z"}})],
        },
        {"client_id": "c", "mutations": [_mutation(op="update", base_version=huge)]},
        {"client_id": "c", "mutations": [_mutation(op="delete", record_id=str(uuid.uuid4()))]},
        {
            "client_id": "c",
            "mutations": [
                _mutation(
                    entity="deal",
                    fields={
                        "customer_id": {"new": nul},
                        "title": {"new": "t"},
                        "amount": {"new": "1e400"},
                    },
                )
            ],
        },
        {
            "client_id": "c",
            "mutations": [
                _mutation(
                    entity="deal",
                    fields={"customer_id": {"new": str(uuid.uuid4())}, "title": {"new": "t"}},
                )
            ],
        },
        {
            "client_id": "c",
            "mutations": [
                _mutation(
                    entity="deal",
                    fields={
                        "customer_id": {"new": "not-a-uuid"},
                        "title": {"new": "t"},
                        "amount": {"new": "99999999999999999"},
                        "expected_close": {"new": "2024-02-30"},
                        "probability": {"new": 10**30},
                    },
                )
            ],
        },
    ]
    login_bodies: list[Any] = [
        {},
        {"username": "", "password": ""},
        {"username": nul, "password": "x"},
        {"username": f"nobody{uuid.uuid4().hex[:6]}", "password": nul},
        {"username": 5, "password": 5},
        {"username": "x" * 201, "password": "x"},
        {"username": "s1", "password": "x" * 2000},
        {"username": f"nobody{uuid.uuid4().hex[:6]}", "password": "x", "device_name": nul},
        {"username": "s1", "password": "x", "extra": 1},
    ]
    pull_params: list[dict[str, str]] = [
        {"cursor": nul},
        {"cursor": "%00"},
        {"cursor": "x" * 1001},
        {"cursor": _b64(b"\x00" * 30)},
        {"cursor": _b64(json.dumps({"v": 1, "s": huge, "db": "x", "f": "y"}).encode())},
        {"cursor": _b64(json.dumps({"v": 1, "s": 10**400}).encode())},
        {"limit": "1e3"},
        {"limit": str(huge)},
        {"limit": ""},
    ]

    answers: list[tuple[Any, httpx.Response]] = []
    for raw in raw_bodies:
        headers = {"Content-Type": "application/json"}
        answers.append((raw[:40], sales.http.post(PUSH, content=raw, headers=headers)))
    for body in push_bodies:
        answers.append((body, sales.http.post(PUSH, json=body)))
    # Only one of these reaches the password check (failed logins count per address).
    anonymous = server.http()
    for body in login_bodies:
        answers.append((body, anonymous.post("/api/v1/auth/login", json=body)))
    for params in pull_params:
        answers.append((params, sales.http.get(PULL, params=params)))
    answers.append(("tokens/x", sales.http.delete("/api/v1/auth/tokens/not-a-number")))
    answers.append(("tokens/huge", sales.http.delete(f"/api/v1/auth/tokens/{huge}")))
    answers.append(("tokens/-1", sales.http.delete("/api/v1/auth/tokens/-1")))

    for sent, response in answers:
        assert response.status_code < 500, (sent, response.status_code, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("code"), str) and body.get("message"), (sent, body)
        elif response.request.url.path == PUSH:
            for result in response.json()["results"]:
                assert result["status"] in ("applied", "rejected"), (sent, result)
    # The server is still fine.
    assert sales.http.get("/api/v1/me").status_code == 200


# --- body size and batch size ---------------------------------------------------------


def _big_push_body() -> bytes:
    """A syntactically fine push body just over the limit."""
    filler = "x" * (MAX_BODY_BYTES + 100)
    return json.dumps({"client_id": "c", "mutations": [], "pad": filler}).encode()


def test_body_over_the_limit_with_content_length_is_413(
    server: LiveServer, sales: ApiClient
) -> None:
    """A body whose Content-Length is over MAX_BODY_BYTES is refused with 413 before it is
    read; the server answers the next request normally."""
    with server.http(sales.token) as http:
        response = http.post(
            PUSH, content=_big_push_body(), headers={"Content-Type": "application/json"}
        )
        _assert_error(response, 413, "body_too_large")
    assert sales.http.get("/api/v1/me").status_code == 200
    assert sales.push([]) == []


def test_chunked_body_over_the_limit_is_413(server: LiveServer, sales: ApiClient) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused with 413
    once it passes MAX_BODY_BYTES; the server answers the next request normally."""
    body = _big_push_body()

    def chunks() -> Iterator[bytes]:
        step = 64 * 1024
        for start in range(0, len(body), step):
            yield body[start : start + step]

    with server.http(sales.token) as http:
        request = http.build_request(
            "POST", PUSH, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in request.headers
        response = http.send(request)
        _assert_error(response, 413, "body_too_large")
    assert sales.http.get("/api/v1/me").status_code == 200
    assert sales.push([]) == []


def test_a_body_just_under_the_limit_is_accepted(sales: ApiClient) -> None:
    """The limit is not hit by a body near it: a batch of 500 mutations with long notes
    (under MAX_BODY_BYTES) is decided normally."""
    notes = "n" * 1500
    mutations = [sales.create("customer", {"name": f"big {i}", "notes": notes}) for i in range(500)]
    size = len(json.dumps({"client_id": sales.client_id, "mutations": mutations}).encode())
    assert size < MAX_BODY_BYTES
    results = sales.push(mutations)
    assert [r["status"] for r in results] == ["applied"] * 500


def test_batch_over_500_mutations_is_422(sales: ApiClient) -> None:
    """At most 500 mutations per push: 501 is refused as a whole with 422 and nothing is
    applied."""
    mutations = [sales.create("customer", {"name": f"batch {i}"}) for i in range(501)]
    response = sales.http.post(PUSH, json={"client_id": sales.client_id, "mutations": mutations})
    error = _assert_error(response, 422, "invalid_request")
    assert any("mutations" in item["loc"] for item in error["detail"])
    # Nothing was applied: the same first mutation is new to the server.
    assert sales.push_one(mutations[0])["status"] == "applied"


# --- per-mutation rejections ----------------------------------------------------------


def test_bad_mutations_are_rejected_one_by_one(sales: ApiClient) -> None:
    """One batch mixing a valid create with broken mutations: results come in order, the
    valid one is applied, each broken one is rejected with its own code (and, for bad
    values, ``fields`` naming each field's problem)."""
    customer_id, _ = sales.new_customer("拒绝测试")
    cursor = sales.cursor_at_end()
    good = sales.create("customer", {"name": "好客户", "status": "active"})

    def customer(fields: dict[str, Any]) -> dict[str, Any]:
        return sales.create("customer", {"name": "c", **fields})

    mutations = [
        good,
        {**sales.create("customer", {"name": "x"}), "entity": "invoice"},
        {**sales.create("customer", {"name": "x"}), "op": "upsert"},
        {**sales.create("customer", {"name": "x"}), "record_id": "not-a-uuid"},
        customer({"name": "n" * 201}),
        customer({"status": "nonsense"}),
        customer({"email": "not-an-email"}),
        sales.create("deal", {"customer_id": customer_id, "title": "t", "amount": "12.345"}),
        customer({"favourite_colour": "blue"}),
        customer({"version": 7}),
        sales.update("customer", customer_id, 1, {"status": ("nonsense", "lead")}),
        sales.update("customer", str(uuid.uuid4()), 1, {"name": ("x", "y")}),
        sales.create("deal", {"customer_id": str(uuid.uuid4()), "title": "orphan"}),
    ]
    results = sales.push(mutations)
    assert [r["mutation_id"] for r in results] == [m["mutation_id"] for m in mutations]
    assert results[0]["status"] == "applied" and results[0]["version"] == 1
    assert all(r["status"] == "rejected" for r in results[1:]), results
    for r in results[1:]:
        assert r["message"], r
    expected: list[tuple[str, dict[str, str] | None]] = [
        ("unknown_entity", None),
        ("invalid_op", None),
        ("invalid_id", None),
        ("invalid", {"name": "too_long"}),
        ("invalid", {"status": "invalid_choice"}),
        ("invalid", {"email": "invalid_email"}),
        ("invalid", {"amount": "invalid_type"}),
        ("invalid", {"favourite_colour": "unknown_field"}),
        ("invalid", {"version": "not_editable"}),
        ("invalid", {"status": "invalid_choice"}),
        ("not_found", None),
        ("parent_missing", None),
    ]
    for result, (code, fields) in zip(results[1:], expected, strict=True):
        assert result["code"] == code, result
        assert result.get("fields") == fields, result

    # Only the valid create (and nothing of the rejected ones) reaches the feed.
    changes, _ = sales.pull_all(cursor)
    assert [(c["entity"], c["id"]) for c in changes] == [("customer", good["record_id"])]
    assert changes[0]["record"]["status"] == "active"
    # The untouched customer is still at version 1 with its old status.
    again = sales.push_one(sales.update("customer", customer_id, 1, {"city": ("上海", None)}))
    assert again["status"] == "applied" and again["version"] == 2


# --- compression, health, metrics -----------------------------------------------------


def test_big_pull_page_is_gzipped(sales: ApiClient) -> None:
    """A pull page over the compression threshold comes back gzip-encoded when asked."""
    cursor = sales.cursor_at_end()
    mutations = [
        sales.create("customer", {"name": f"gzip {i}", "notes": "压缩测试 " * 50})
        for i in range(20)
    ]
    assert all(r["status"] == "applied" for r in sales.push(mutations))
    response = sales.http.get(
        PULL, params={"cursor": cursor, "limit": 100}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(response.content)
    page = response.json()
    assert {c["id"] for c in page["changes"]} == {m["record_id"] for m in mutations}
    plain = sales.http.get(
        PULL, params={"cursor": cursor, "limit": 100}, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    assert plain.json() == page


def test_health(server: LiveServer) -> None:
    """/health needs no token and reports the database reachable."""
    response = server.http().get("/api/v1/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert isinstance(body["version"], str) and body["version"]


def test_metrics_count_requests_by_route_template(server: LiveServer, sales: ApiClient) -> None:
    """/metrics is Prometheus text counting requests per route template (never the raw
    path, so labels stay bounded)."""
    sales.pull()
    stray = f"/api/v1/stray-{uuid.uuid4().hex}"
    assert sales.http.get(stray).status_code == 404
    response = server.http().get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE outpost_http_requests_total counter" in text
    pulls = [
        line
        for line in text.splitlines()
        if line.startswith("outpost_http_requests_total{")
        and 'path="/api/v1/sync/pull"' in line
        and 'method="GET"' in line
        and 'status="200"' in line
    ]
    assert pulls, text
    assert float(pulls[0].rsplit(" ", 1)[1]) >= 1
    assert "outpost_http_request_duration_seconds_bucket" in text
    assert stray not in text
