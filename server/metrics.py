"""Request counts and latencies per endpoint, in the Prometheus text format (``/metrics``).

With several worker processes (``--workers N``) each process counts its own requests;
``serve`` then points ``PROMETHEUS_MULTIPROC_DIR`` at a shared directory and ``/metrics``
adds up every worker's figures.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "outpost_http_requests_total", "HTTP requests answered", ["method", "path", "status"]
)
LATENCY = Histogram(
    "outpost_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_PROGRESS = Gauge(
    "outpost_http_requests_in_progress",
    "HTTP requests being answered",
    ["method", "path"],
    multiprocess_mode="livesum",
)
MUTATIONS = Counter("outpost_mutations_total", "Pushed mutations decided", ["status"])


def render() -> tuple[bytes, str]:
    """The metrics page and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by its route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = {"code": 500}
        start = time.perf_counter()
        raw_path = scope.get("path", "")
        gauge = IN_PROGRESS.labels(method, _bounded(raw_path))
        gauge.inc()

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            gauge.dec()
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(method, path, str(status["code"])).inc()
            LATENCY.labels(method, path).observe(time.perf_counter() - start)


# Exact paths, not prefixes: any /api/v1/<random> would otherwise become a label of its own.
_KNOWN_PATHS = frozenset(
    {
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/tokens",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/sync/pull",
        "/api/v1/sync/push",
        "/api/v1/health",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)


def _bounded(path: str) -> str:
    """Label for the in-progress gauge before routing: known paths only (bounded labels)."""
    if path.startswith("/api/v1/auth/tokens/") and path.count("/") == 5:
        return "/api/v1/auth/tokens/{token_id}"
    return path if path in _KNOWN_PATHS else "other"
