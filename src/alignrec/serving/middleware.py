"""ASGI middleware of the service: request metrics, per-path request-body size limits, HEAD for every GET route
and the optional API key."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from alignrec.serving.metrics import UNMATCHED_ROUTE, Metrics

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
    """Counts every request by method (a made-up one as ``other``), route template (``/users/{id}/recommendations``,
    never the raw path; any path no route matches as ``unmatched``), so the number of series stays bounded, and
    status, and times it; an exception counts as status 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute] = ()) -> None:
        super().__init__(app)
        self.metrics, self.routes = metrics, routes

    def template(self, scope: Scope, before: Scope) -> str:
        """The matched route's path template: the router's ``scope["route"]`` where it set one (FastAPI does only
        for its API routes), else the first of ``routes`` that matches the request as it came in (``before``
        routing changed the scope: the docs, a mount), else ``unmatched``."""
        path = getattr(scope.get("route"), "path", None)
        if path:
            return str(path)
        for route in self.routes:
            if route.matches(before)[0] is not Match.NONE and getattr(route, "path", None):
                return str(route.path)  # type: ignore[attr-defined]
        return UNMATCHED_ROUTE

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start, status, before = time.perf_counter(), 500, dict(scope)

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            self.metrics.observe(scope["method"], self.template(scope, before), status, time.perf_counter() - start)


# A refused body is not read to its end: the 413 closes the connection, so the server does not spend its time
# draining megabytes it will discard (a client sending 4.5 MB bodies in a loop cost a third of a core that way).
CLOSE = (b"connection", b"close")
# ... and answers after a short pause, which costs the server nothing (the event loop serves others meanwhile) but
# slows a client that sends oversized bodies in a loop from ~650 refusals a second to under 20.
REFUSAL_PAUSE_S = 0.05


class BodyTooLarge(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(413, message, headers={"connection": "close"})


class BodyLimitMiddleware(HttpMiddleware):
    """Refuses a body over its path's limit with 413: ``limits`` gives some paths their own (the upload endpoint),
    every other path gets ``limit``. At once when Content-Length says so, else as soon as more than the limit has
    arrived (the body is never read further, so a request holds at most its limit in memory)."""

    def __init__(self, app: ASGIApp, limit: int, limits: Mapping[str, int] | None = None) -> None:
        super().__init__(app)
        self.limit, self.limits = limit, dict(limits or {})

    def message(self, path: str, limit: int) -> str:
        return f"the request body is larger than {limit} bytes, the limit of {path}"

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        limit = self.limits.get(path.rstrip("/") or "/", self.limit)  # "/items/" is redirected to "/items"
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await asyncio.sleep(REFUSAL_PAUSE_S)
            await send_json(send, 413, {"error": "too_large", "field": "body", "message": self.message(path, limit)},
                            [CLOSE])
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(self.message(path, limit))
            return message

        await self.app(scope, limited, send)


class HeadMiddleware(HttpMiddleware):
    """``HEAD`` on any path answers what ``GET`` would, without the body (headers, Content-Length included, as
    they are): the app sees a GET, the client gets no body bytes. The scope's method is put back afterwards, so
    outer middleware (metrics) still sees ``HEAD``."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        scope["method"] = "GET"
        try:
            await self.app(scope, receive, without_body)
        finally:
            scope["method"] = "HEAD"


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
