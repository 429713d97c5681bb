"""ASGI middleware of the service: request metrics, a request-body size limit and the optional API key."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException

from alignrec.serving.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY_HEADER = "x-api-key"
API_KEY_COOKIE = "alignrec_api_key"
OPEN_PATHS = frozenset({"/health"})


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
                    ) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class HttpMiddleware:
    """Passes anything but HTTP requests (lifespan, websockets) and the paths in :meth:`skips` straight to the
    app; subclasses :meth:`handle` the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def skips(self, path: str) -> bool:
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.skips(scope["path"]):
            await self.app(scope, receive, send)
        else:
            await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class MetricsMiddleware(HttpMiddleware):
    """Counts every request by method, route template (``/users/{id}/recommendations``, never the raw path, so
    the number of series stays bounded) and status, and times it; an exception counts as status 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, status = time.perf_counter(), 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "unmatched")
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - start)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware(HttpMiddleware):
    """Refuses a body over ``limit`` bytes with 413: at once when its Content-Length says so, else as soon as
    more than ``limit`` bytes have arrived (the body is never read further)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await send_json(send, 413, {"error": "too_large", "field": "body",
                                        "message": f"the request body is larger than {self.limit} bytes"})
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


class ApiKeyMiddleware(HttpMiddleware):
    """With a key set, every path but ``/health`` needs it: header ``X-API-Key``, ``Authorization: Bearer KEY``,
    or the cookie that opening the page as ``/?api_key=KEY`` sets (so that the page's own requests and images
    carry it; ``SameSite=Strict``, ``HttpOnly``)."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        super().__init__(app)
        self.key = key

    def skips(self, path: str) -> bool:
        return path in OPEN_PATHS

    def _matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.key.encode())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        bearer = _header(scope, b"authorization") or ""
        cookie = SimpleCookie(_header(scope, b"cookie") or "").get(API_KEY_COOKIE)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key", [None])[0]
        if self._matches(_header(scope, API_KEY_HEADER.encode())) or self._matches(
                bearer[7:] if bearer.lower().startswith("bearer ") else None) or (
                cookie is not None and self._matches(cookie.value)):
            await self.app(scope, receive, send)
            return
        if self._matches(query):
            await self.app(scope, receive, self._with_cookie(send))
            return
        await send_json(send, 401, {"error": "unauthorized", "field": "X-API-Key",
                                    "message": "this service needs an API key: send it in the X-API-Key header (or "
                                               "Authorization: Bearer KEY), or open the page as /?api_key=KEY"},
                        [(b"www-authenticate", b'Bearer realm="alignrec"')])

    def _with_cookie(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{API_KEY_COOKIE}={self.key}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        return wrapped
