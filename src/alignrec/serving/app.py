"""The HTTP service (FastAPI): a thin layer over :class:`RecommenderService`; OpenAPI docs at ``/docs``.

Every error is JSON ``{"error": CODE, "message": ..., "field": ...}``: 400 malformed body, 401 missing API key,
404 unknown user / item / route, 405 wrong method, 413 body or upload too large, 415 an upload that is not an
image, 422 a value out of range or of the wrong type, an unknown field or query parameter, or something this run
cannot do. An unexpected failure answers 500 and is logged; the process stays up. Requests are strict and bounded
(:mod:`.schema`): a JSON body has a small limit sized for the largest valid request, only the multipart upload
``POST /items`` gets the upload limit; ``HEAD`` works wherever ``GET`` does.
"""

import logging
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from alignrec.errors import ConfigError
from alignrec.serving.errors import NotFound, RequestError, TooLarge
from alignrec.serving.metrics import CONTENT_TYPE, Metrics
from alignrec.serving.middleware import ApiKeyMiddleware, BodyLimitMiddleware, HeadMiddleware, MetricsMiddleware
from alignrec.serving.schema import UrlInt, id_length_limit, items_request_model, json_body_limit
from alignrec.serving.service import RecommenderService

STATIC = Path(__file__).parent / "static"
BODY_SLACK = 64 * 1024  # room for the form's text and multipart framing beside the largest allowed image
UPLOAD_PATH = "/items"  # the one endpoint with a multipart body; every other body is JSON with a small limit
OPEN_QUERY = frozenset({"api_key"})  # read by the API-key middleware on any path
log = logging.getLogger("alignrec.serving")


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "field": field}, status_code=status)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return _error(400, "malformed_json", f"the request body is not valid JSON ({detail})", "body")
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
    field = ".".join(loc) or "body"
    if first.get("type") == "extra_forbidden":
        return _error(422, "unknown_field", f"{field}: unknown field, not part of this request (see /docs)", field)
    return _error(422, "invalid_value", f"{field}: {first.get('msg', 'invalid')}", field)


def _known_query(request: Request) -> None:
    """Refuse a query parameter the matched route does not declare (a typo such as ``?kk=5`` would otherwise be
    ignored silently); the page ``/`` and ``api_key`` are left alone."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    declared = {p.alias for p in route.dependant.query_params} | OPEN_QUERY
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        takes = ", ".join(sorted(declared - OPEN_QUERY)) or "none"
        raise RequestError(f"unknown query parameter {unknown[0]!r} (this endpoint takes: {takes})", unknown[0])


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or ""
    if status == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
    if status == 405:
        detail = f"{request.method} is not allowed on {request.url.path} (see /docs)"
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "error")
    return JSONResponse({"error": code, "message": str(detail), "field": "body" if status in (400, 413) else None},
                        status_code=status, headers=getattr(exc, "headers", None))


def _request_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    return JSONResponse(exc.body(), status_code=exc.status)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "the service failed on this request; it is logged on the server")


def create_app(service: RecommenderService, api_key: str | None = None) -> FastAPI:
    """The FastAPI application for ``service``; with ``api_key`` every path but ``/health`` needs the key."""
    if api_key is not None and not re.fullmatch(r"[A-Za-z0-9._~+/=-]{8,}", api_key):
        raise ConfigError("the API key must be at least 8 characters of letters, digits and ._~+/=-")
    info = service.info()
    app = FastAPI(title="alignrec", version="1", dependencies=[Depends(_known_query)],
                  description=f"Recommendations from a trained {info['model']} run on {info['dataset']} "
                              f"({info['users']} users, {info['items']} items).")
    metrics = Metrics()
    app.state.service, app.state.metrics = service, metrics
    for exc_type, handler in ((RequestValidationError, _validation_error), (HTTPException, _http_error),
                              (RequestError, _request_error), (Exception, _internal_error)):
        app.add_exception_handler(exc_type, handler)
    if api_key is not None:
        app.add_middleware(ApiKeyMiddleware, key=api_key)
    id_length = id_length_limit(service.bundle.item_ids.tolist())
    limits = {"json_body_bytes": json_body_limit(service.options.max_request_items, id_length),
              "upload_body_bytes": service.options.max_upload_bytes + BODY_SLACK,
              "request_items": service.options.max_request_items, "id_length": id_length}
    app.add_middleware(BodyLimitMiddleware, limit=limits["json_body_bytes"],
                       limits={UPLOAD_PATH: limits["upload_body_bytes"]})
    app.add_middleware(HeadMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)  # the list the routes go into
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _routes(app, service, metrics, limits)
    return app


# FastAPI reads the routes' annotations at run time: no ``from __future__ import annotations`` in this module.
K = Annotated[UrlInt, Query(description="how many results (1 to the service's max_k, see /info)")]


def _routes(app: FastAPI, service: RecommenderService, metrics: Metrics, limits: dict[str, int]) -> None:
    ItemsRequest = items_request_model(limits["request_items"], limits["id_length"])  # noqa: N806 (a class)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness: always answers (no API key needed)."""
        return {"status": "ok", "model": service.info()["model"], "users": service.bundle.n_users,
                "items": service.bundle.n_items}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Request counts and latency histogram, Prometheus text format."""
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/info", tags=["service"])
    def info() -> dict[str, Any]:
        """The run behind the service: model, sizes, index, what new items can be described by, request limits."""
        return {**service.info(), "limits": limits}

    @app.get("/users", tags=["users"])
    def users(offset: Annotated[UrlInt, Query()] = 0, limit: Annotated[UrlInt, Query()] = 100) -> dict[str, Any]:
        """User ids in the run's order."""
        return service.list_users(offset, limit)

    @app.get("/users/{id}", tags=["users"])
    def user(id: str) -> dict[str, Any]:
        """A user's training items (their history)."""
        return service.user(id)

    @app.get("/users/{id}/recommendations", tags=["users"])
    def user_recommendations(id: str, k: K = 10) -> dict[str, Any]:
        """Top-k items with scores and text; the user's training items are left out."""
        return service.recommend_user(id, k)

    @app.post("/recommendations", tags=["users"])
    def recommendations(request: Annotated[ItemsRequest, Body()]) -> dict[str, Any]:  # type: ignore[valid-type]
        """Top-k for a user the model has never seen, from items they liked (folded in as the mean of the items'
        embeddings; the given items are left out)."""
        return service.recommend_items(list(request.items), request.k)  # type: ignore[attr-defined]

    @app.get("/items/{id}", tags=["items"])
    def item(id: str) -> dict[str, Any]:
        """An item's text, image link and training popularity."""
        card = service.item_card(service.item_index(id))
        return {**card, "popularity": int(service.bundle.popularity[service.item_index(id)])}

    @app.get("/items/{id}/image", tags=["items"], response_class=FileResponse)
    def image(id: str) -> FileResponse:
        """The item's image file (404 when it has none), typed by its own first bytes: JPEG, PNG, GIF or WebP."""
        path, media_type = service.image_file(id)
        if path is None:
            raise NotFound(f"item {id!r}'s image file is not served: {media_type}", "id")
        return FileResponse(path, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/items/{id}/similar", tags=["items"])
    def similar(id: str, k: K = 10, space: Annotated[str, Query(description="content or collaborative")]
                = "content") -> dict[str, Any]:
        """Nearest items by cosine: ``content`` (the run's content feature) or ``collaborative`` (item embeddings)."""
        return service.similar(id, k, space)

    @app.post("/items", tags=["items"])
    def new_item(text: Annotated[str | None, Form(description="the new item's text")] = None,
                 image: Annotated[UploadFile | None, File(description="the new item's image")] = None,
                 k: Annotated[UrlInt, Form(description="how many items and users")] = 10) -> dict[str, Any]:
        """Cold start: a new item, encoded with the run's stage-1 encoders (and MMEnc), its nearest catalogue items
        and the users most likely to want it."""
        data = None
        if image is not None:
            data = image.file.read(service.options.max_upload_bytes + 1)
            if len(data) > service.options.max_upload_bytes:
                raise TooLarge(f"the image is larger than {service.options.max_upload_bytes} bytes", "image")
            if not data:
                data = None if not image.filename else b""
        return service.new_item(text, data, k)
