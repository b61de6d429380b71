"""Unit tests of the transport's error sorting and of the backoff policy (pure logic: the
HTTP answers are canned with httpx's MockTransport; the end-to-end tests use the real
server)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from sync.engine import Backoff
from sync.outbox import FieldChange, Mutation
from sync.transport import (
    USER_AGENT,
    AuthError,
    OfflineError,
    ProtocolError,
    RequestRejected,
    ResyncRequired,
    ServerClient,
    ServerConfig,
)


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> ServerClient:
    return ServerClient(
        ServerConfig("http://outpost.test"), token="t", transport=httpx.MockTransport(handler)
    )


def _mutation(mid: str = "c:1") -> Mutation:
    return Mutation(
        seq=1,
        mutation_id=mid,
        entity="customer",
        record_id="0190f7a0-0000-7000-8000-000000000000",
        op="update",
        base_version=1,
        fields={"city": FieldChange("上海", "杭州")},
        created_at=datetime.now(UTC),
        attempts=0,
        last_error=None,
        status="pending",
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (410, ResyncRequired),
        (429, OfflineError),
        (500, OfflineError),
        (502, OfflineError),
        (503, OfflineError),
        (400, RequestRejected),
        (422, RequestRejected),
    ],
)
def test_http_statuses_are_sorted_by_what_to_do(status: int, error: type[Exception]) -> None:
    client = _client(lambda r: httpx.Response(status, json={"code": "x", "message": "why"}))
    with pytest.raises(error):
        client.pull("", 10)


def test_retry_after_is_read() -> None:
    client = _client(lambda r: httpx.Response(429, headers={"Retry-After": "7"}, json={}))
    with pytest.raises(OfflineError) as caught:
        client.pull("", 10)
    assert caught.value.retry_after == 7


def test_network_failures_and_timeouts_are_offline() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for handler in (refuse, slow):
        with pytest.raises(OfflineError):
            _client(handler).pull("", 10)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"changes": "nope", "cursor": "", "has_more": false}',
        b'{"changes": [{"seq": 1, "entity": "alien", "id": "x", "op": "upsert"}]}',
        b"[]",
    ],
)
def test_malformed_pull_replies_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        _client(lambda r: httpx.Response(200, content=body)).pull("", 10)


def test_a_push_reply_for_other_mutations_is_a_protocol_error() -> None:
    reply = {"results": [{"mutation_id": "c:2", "status": "applied", "version": 2}]}
    with pytest.raises(ProtocolError):
        _client(lambda r: httpx.Response(200, json=reply)).push("c", [_mutation("c:1")])


def test_requests_carry_user_agent_and_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"changes": [], "cursor": "c", "has_more": False})

    _client(handler).pull("", 10)
    assert seen[0].headers["User-Agent"] == USER_AGENT
    assert seen[0].headers["Authorization"] == "Bearer t"
    assert "gzip" in seen[0].headers["Accept-Encoding"]


def test_pull_asks_for_the_count_only_when_told_and_checks_it() -> None:
    """``count=True`` adds ``count=true`` to the query and the answer's ``remaining`` is
    read; without it nothing is added; an answer without ``remaining`` (an older server)
    gives None, and a negative one is a protocol error."""
    seen: list[httpx.Request] = []
    answers = iter([
        {"changes": [], "cursor": "c", "has_more": False, "remaining": 0},
        {"changes": [], "cursor": "c", "has_more": False},
        {"changes": [], "cursor": "c", "has_more": False},
        {"changes": [], "cursor": "c", "has_more": False, "remaining": -1},
    ])  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=next(answers))

    client = _client(handler)
    assert client.pull("", 10, count=True).remaining == 0
    assert client.pull("", 10, count=True).remaining is None
    assert client.pull("c", 10).remaining is None
    assert [r.url.params.get("count") for r in seen] == ["true", "true", None]
    with pytest.raises(ProtocolError, match="remaining"):
        client.pull("", 10, count=True)


def test_without_a_token_nothing_is_sent() -> None:
    client = ServerClient(ServerConfig("http://outpost.test"), transport=httpx.MockTransport(
        lambda r: pytest.fail("no request may be sent")  # type: ignore[arg-type,return-value]
    ))  # fmt: skip
    with pytest.raises(AuthError):
        client.pull("", 10)


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0 <= d <= 60 for d in delays)
    assert max(delays) > 10  # it does grow
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 2.0


def test_backoff_waits_at_least_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=300.0, rng=random.Random(1))
    assert backoff.next_delay(retry_after=42) >= 42
    assert backoff.next_delay(retry_after=10_000) <= 300
