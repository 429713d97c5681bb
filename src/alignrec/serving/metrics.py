"""Request counts and a latency histogram, rendered in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# RFC 9110's methods and PATCH: anything else a client sends is counted as one series, "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    """The ``method`` label of a request: the method itself if it is a standard one, else ``"other"`` (so a client
    that invents methods cannot add series)."""
    return method if method in METHODS else OTHER_METHOD


def _labels(**values: str) -> str:
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in values.items())
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """Thread-safe counters by (method, route template, status) and a latency histogram by route; ``method`` is
    passed through :func:`method_label`, so the number of series is bounded by the app's routes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method_label(method), route, str(status))] += 1
            counts = self._buckets.setdefault(route, [0] * len(BUCKETS))
            for n, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[n] += 1
            self._sum[route] += seconds
            self._count[route] += 1

    def render(self) -> str:
        with self._lock:
            lines = ["# HELP alignrec_http_requests_total HTTP requests by method, route and status code.",
                     "# TYPE alignrec_http_requests_total counter"]
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(f"alignrec_http_requests_total{_labels(method=method, route=route, status=status)} {n}")
            lines += ["# HELP alignrec_http_request_duration_seconds Time to answer a request, by route.",
                      "# TYPE alignrec_http_request_duration_seconds histogram"]
            name = "alignrec_http_request_duration_seconds"
            for route in sorted(self._buckets):
                for bound, n in zip(BUCKETS, self._buckets[route]):
                    lines.append(f"{name}_bucket{_labels(route=route, le=repr(bound))} {n}")
                lines.append(f"{name}_bucket{_labels(route=route, le='+Inf')} {self._count[route]}")
                lines.append(f"{name}_sum{_labels(route=route)} {self._sum[route]:.6f}")
                lines.append(f"{name}_count{_labels(route=route)} {self._count[route]}")
        return "\n".join(lines) + "\n"
