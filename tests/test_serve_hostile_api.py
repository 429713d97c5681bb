"""The HTTP API against hostile and sloppy clients (issue 27): body limits per route and a bounded items list
(point 1), a bounded number of metrics series (point 7), strict types and no unknown fields (point 8), HEAD on GET
routes (point 9), and a property-based test (Hypothesis) of every route with arbitrary methods, paths, query values
and bodies: never a 5xx, every answer in bounded time.

The app runs in-process on a small hand-made export (no training): 30 users, 40 items with content vectors, no
encoders (so ``POST /items`` answers 415/422 after its checks). ``ALIGNREC_FUZZ_EXAMPLES`` sets the property test's
total examples (default 250); ``ALIGNREC_FUZZ_REPORT=FILE`` writes its counts and slowest request there as JSON.
The last two tests run ``benchmarks/serve_hostile.py`` and ``serve_load.py --hostile`` on the suite's real service.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from alignrec.serving.app import create_app
from alignrec.serving.bundle import Bundle
from alignrec.serving.metrics import METHODS, method_label
from alignrec.serving.process import ServerProcess
from alignrec.serving.schema import MAX_ID_LENGTH, check_item_id, json_body_limit, url_int
from alignrec.serving.service import RecommenderService, ServiceOptions
from tests.conftest import SERVE_KEY
from tests.test_benchmarks import BENCH, run

KEY = "hostile-key-0123"
MAX_K, MAX_ITEMS, UPLOAD = 20, 1000, 1024 * 1024
JSON_LIMIT = json_body_limit(MAX_ITEMS, MAX_ID_LENGTH)
ITEM_IDS = [str(i) for i in range(38)] + ["B00ÄÖ-ü", "x" * 40]  # a non-ASCII and a long id beside plain ones
REQUEST_SECONDS = 2.0  # per request, on a busy 2-core machine; they take milliseconds
FUZZ_EXAMPLES = int(os.environ.get("ALIGNREC_FUZZ_EXAMPLES", "250"))


def quiet(line: str) -> None:
    pass


def hand_made_bundle(n_users: int = 30, d: int = 8, seed: int = 0) -> Bundle:
    """An in-memory export: ``n_users`` users with 3 training items each, the items of :data:`ITEM_IDS`, dot
    scoring, ``[n, d]`` embeddings and content vectors."""
    rng = np.random.default_rng(seed)
    n_items = len(ITEM_IDS)
    return Bundle(folder=Path("hand-made"), manifest={"model": "alignrec", "dataset": "hand-made",
                                                      "scoring": {"kind": "dot", "dim": d}},
                  user_ids=np.array([f"u{u}" for u in range(n_users)]), item_ids=np.array(ITEM_IDS),
                  item_text=[f"item {i}" for i in ITEM_IDS], item_image=[None] * n_items,
                  popularity=np.ones(n_items, dtype=np.int64), train_indptr=np.arange(0, 3 * n_users + 1, 3),
                  train_indices=rng.integers(0, n_items, 3 * n_users),
                  user_embeddings=rng.normal(size=(n_users, d)).astype(np.float32),
                  item_embeddings=rng.normal(size=(n_items, d)).astype(np.float32),
                  item_content=rng.normal(size=(n_items, d)).astype(np.float32))


def make_app(api_key: str | None = None) -> Any:
    options = ServiceOptions(max_k=MAX_K, max_request_items=MAX_ITEMS, max_upload_bytes=UPLOAD, index="exact")
    return create_app(RecommenderService(hand_made_bundle(), options, log=quiet), api_key)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


def expect(response: Any, status: int, message: str = "", field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert message in body["message"], body
    if field is not None:
        assert body["field"] == field, body
    return body


@contextmanager
def app_time() -> Iterator[list[float]]:
    """The seconds the block took (in the list it yields, once it ends), with the test process's cyclic GC off:
    its full collections walk Hypothesis's and torch's objects too, which is no part of the app's time."""
    took: list[float] = []
    gc.disable()
    start = time.perf_counter()
    try:
        yield took
    finally:
        took.append(time.perf_counter() - start)
        gc.enable()


def post_json(client: TestClient, path: str, body: bytes) -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def hostile_body(n: int = 1_500_000) -> bytes:
    """The issue's body: ``n`` empty objects as items (1.5 million: 4.5 MB)."""
    return b'{"items": [' + b",".join([b"{}"] * n) + b'], "k": 10}'


async def call_streamed(app: Any, path: str, body: bytes, chunk: int = 16 * 1024) -> tuple[int, int]:
    """Send ``body`` to ``app`` as a chunked upload (no Content-Length), as uvicorn would hand it over; returns the
    status and how many body bytes the app pulled before answering."""
    pulled, status = 0, 0
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)]

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if not chunks:
            return {"type": "http.disconnect"}
        part = chunks.pop(0)
        pulled += len(part)
        return {"type": "http.request", "body": part, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    return status, pulled


# --- point 1: memory per request is bounded before any parsing ------------------------------------------------


def test_point1_the_issues_body_is_refused_at_once(client: TestClient) -> None:
    body = hostile_body()
    assert len(body) > 4_000_000
    with app_time() as took:
        answer = post_json(client, "/recommendations", body)
    assert took[0] < 0.5
    expect(answer, 413, f"larger than {JSON_LIMIT} bytes, the limit of /recommendations", "body")
    assert answer.headers["connection"] == "close"  # the server does not drain the rest of the body
    # Without a Content-Length the app stops reading at the limit: it never holds more than that in memory.
    with app_time() as took:
        status, pulled = asyncio.run(call_streamed(client.app, "/recommendations", body))
    assert status == 413 and pulled <= JSON_LIMIT + 16 * 1024 and took[0] < 0.5


def test_point1_json_routes_have_a_small_limit_only_the_upload_gets_the_large_one(client: TestClient) -> None:
    assert JSON_LIMIT == MAX_ITEMS * (MAX_ID_LENGTH + 4) + 4096 < 300_000
    assert client.get("/info").json()["limits"] == {"json_body_bytes": JSON_LIMIT, "upload_body_bytes": UPLOAD + 65536,
                                                    "request_items": MAX_ITEMS, "id_length": MAX_ID_LENGTH}
    largest_valid = json.dumps({"items": ["x" * MAX_ID_LENGTH] * MAX_ITEMS, "k": MAX_K}).encode()
    assert len(largest_valid) <= JSON_LIMIT
    expect(post_json(client, "/recommendations", largest_valid), 404, "are not in this run's catalogue", "items")
    over = json.dumps({"items": ["1"] * (JSON_LIMIT // 5 + 1)}).encode()  # valid ids, just too many bytes
    assert JSON_LIMIT < len(over) < UPLOAD
    expect(post_json(client, "/recommendations", over), 413, f"larger than {JSON_LIMIT} bytes", "body")
    expect(post_json(client, "/users/u1/recommendations", over), 413, "larger than", "body")  # any other path too
    image = {"image": ("big.jpg", b"\xff" * (2 * JSON_LIMIT), "image/jpeg")}  # the upload: over the JSON limit
    expect(client.post("/items", files=image), 415, "the uploaded image", "image")  # past the limit, refused later
    too_big = {"image": ("big.jpg", b"\xff" * (UPLOAD + 100_000), "image/jpeg")}
    expect(client.post("/items", files=too_big), 413, "the limit of /items", "body")


def test_point1_items_has_a_max_length_in_the_schema(client: TestClient) -> None:
    """Under the body limit, a long list of anything is refused by its length alone: one error, not one per item."""
    many = b'{"items": [' + b",".join([b"{}"] * 60_000) + b"]}"
    assert len(many) < JSON_LIMIT
    with app_time() as took:
        answer = post_json(client, "/recommendations", many)
    assert took[0] < 0.5
    expect(answer, 422, "at most 1000 items", "items")
    expect(client.post("/recommendations", json={"items": ["1"] * (MAX_ITEMS + 1)}), 422, "at most 1000", "items")
    expect(client.post("/recommendations", json={"items": ["x" * (MAX_ID_LENGTH + 1)]}), 422,
           f"an item id may have at most {MAX_ID_LENGTH} characters", "items.0")
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ItemsRequest"]
    assert schema["properties"]["items"]["maxItems"] == MAX_ITEMS and schema["additionalProperties"] is False
    assert {"type": "string", "maxLength": MAX_ID_LENGTH} in schema["properties"]["items"]["items"]["anyOf"]


def test_point1_a_catalogue_id_longer_than_the_default_stays_sendable() -> None:
    bundle = hand_made_bundle()
    bundle.item_ids = np.array([*ITEM_IDS[:-1], "y" * 300])
    app = create_app(RecommenderService(bundle, ServiceOptions(index="exact"), log=quiet))
    with TestClient(app) as c:
        assert c.post("/recommendations", json={"items": ["y" * 300], "k": 3}).status_code == 200
        expect(c.post("/recommendations", json={"items": ["y" * 301]}), 422, "at most 300 characters", "items.0")


# --- point 7: metrics series stay bounded ---------------------------------------------------------------------


def test_point7_made_up_methods_and_paths_are_one_series_each() -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        for n in range(200):
            c.request(f"MADEUP{n}", "/health")
            c.get(f"/no/such/path/{n}")
        c.request("PATCH", "/health")
        text = c.get("/metrics").text
    series = [line for line in text.splitlines() if line.startswith("alignrec_http_requests_total{")]
    assert 'alignrec_http_requests_total{method="other",route="/health",status="405"} 200' in series
    assert 'alignrec_http_requests_total{method="PATCH",route="/health",status="405"} 1' in series
    assert 'alignrec_http_requests_total{method="GET",route="unmatched",status="404"} 200' in series
    assert len(series) == 3, series
    assert len([line for line in text.splitlines() if line.startswith("alignrec_http_request_duration_seconds_count")
                ]) == 2


def test_point7_method_label() -> None:
    assert {method_label(m) for m in METHODS} == METHODS
    assert method_label("get") == "other" and method_label("PROPFIND") == "other" and method_label("") == "other"


# --- point 8: strict types, no unknown fields -----------------------------------------------------------------


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"items": [True]}, "items.0", "an item id must be a JSON string or integer, got bool"),
    ({"items": [1.0]}, "items.0", "got float"),
    ({"items": [{}]}, "items.0", "got dict"),
    ({"items": [2 ** 70]}, "items.0", "must fit in 64 bits"),
    ({"items": ["1"], "k": True}, "k", "Input should be a valid integer"),
    ({"items": ["1"], "k": "5"}, "k", "Input should be a valid integer"),
    ({"items": ["1"], "k": 5.0}, "k", "Input should be a valid integer"),
    ({"items": ["1"], "kk": 5}, "kk", "unknown field"),
])
def test_point8_json_bodies_are_strictly_typed(client: TestClient, body: dict[str, Any], field: str,
                                               message: str) -> None:
    answer = expect(client.post("/recommendations", json=body), 422, message, field)
    assert answer["message"].startswith(f"{field}: "), answer


def test_point8_ids_may_be_strings_or_integers(client: TestClient) -> None:
    answer = client.post("/recommendations", json={"items": [1, "2", "B00ÄÖ-ü"], "k": 4})
    assert answer.status_code == 200 and answer.json()["items_given"] == 3 and len(answer.json()["items"]) == 4


@pytest.mark.parametrize(("query", "field", "message"), [
    ("k=5.0", "k", "Input should be a valid integer"),
    ("k=%205", "k", "Input should be a valid integer"),
    ("k=true", "k", "Input should be a valid integer"),
    ("k=" + "9" * 19, "k", "at most 18"),
    ("kk=5", "kk", "unknown query parameter 'kk' (this endpoint takes: k)"),
    ("k=5&spaces=content", "spaces", "unknown query parameter 'spaces'"),
])
def test_point8_query_parameters_are_checked(client: TestClient, query: str, field: str, message: str) -> None:
    path = "/items/1/similar" if "spaces" in query else "/users/u1/recommendations"
    expect(client.get(f"{path}?{query}"), 422, message, field)


def test_point8_integers_in_the_url_and_forms_still_work() -> None:
    with TestClient(make_app(KEY), raise_server_exceptions=False) as c:
        answer = c.get("/users/u1/recommendations?k=5", headers={"X-API-Key": KEY})
        assert answer.status_code == 200 and len(answer.json()["items"]) == 5
        assert c.get(f"/users/u1/recommendations?k=3&api_key={KEY}").status_code == 200  # the key in the URL
        assert c.get("/users?offset=2&limit=3", headers={"X-API-Key": KEY}).json()["users"] == ["u2", "u3", "u4"]
        expect(c.get("/users?limit=0", headers={"X-API-Key": KEY}), 422, "1 <= limit <= 10000", "limit")
        expect(c.get("/users/u1/recommendations?k=-3", headers={"X-API-Key": KEY}), 422, "got -3", "k")
        expect(c.post("/items", data={"text": "x", "k": "3.5"}, headers={"X-API-Key": KEY}), 422,
               "k: Input should be a valid integer", "k")
        expect(c.post("/items", data={"text": "x", "k": "3"}, headers={"X-API-Key": KEY}), 422,
               "this run cannot place a new item")


@pytest.mark.parametrize("value", ["5", "0", "-3", "007", "9" * 18])
def test_url_int_takes_decimal_digits(value: str) -> None:
    assert url_int(value) == int(value)


@pytest.mark.parametrize("value", ["5.0", " 5", "+5", "٥", "1e3", "", "9" * 19, True, 5.0, None])
def test_url_int_refuses_everything_else(value: Any) -> None:
    with pytest.raises(ValueError, match="valid integer"):  # pydantic's error is a ValueError
        url_int(value)


def test_check_item_id() -> None:
    assert check_item_id("a", 3) == "a" and check_item_id(12, 3) == "12" and check_item_id(-(2 ** 63), 3)
    for bad, message in ((True, "got bool"), (None, "got NoneType"), ("abcd", "at most 3"), (2 ** 63, "64 bits")):
        with pytest.raises(ValueError, match=message):
            check_item_id(bad, 3)


# --- point 9: HEAD --------------------------------------------------------------------------------------------


def test_point9_head_answers_wherever_get_does() -> None:
    with TestClient(make_app(KEY), raise_server_exceptions=False) as c:
        head, get = c.head("/health"), c.get("/health")  # no key needed there, HEAD included
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
        auth = {"X-API-Key": KEY}
        for path in ("/info", "/users/u1/recommendations?k=3", "/items/1/similar", "/", "/static/style.css"):
            head = c.head(path, headers=auth)
            assert head.status_code == 200 and head.content == b"", path
        assert c.head("/info").status_code == 401
        assert c.head("/users/nobody", headers=auth).status_code == 404
        head = c.head("/recommendations", headers=auth)
        assert head.status_code == 405 and head.headers["allow"] == "POST"
        metrics = c.get("/metrics", headers=auth).text
    assert 'alignrec_http_requests_total{method="HEAD",route="/health",status="200"} 1' in metrics
    assert 'method="HEAD",route="/static"' in metrics


# --- property-based: every route, arbitrary input ---------------------------------------------------------------


class Tally:
    """What the property tests sent: request count, 5xx count and the slowest request."""

    def __init__(self) -> None:
        self.requests, self.server_errors, self.slowest = 0, 0, (0.0, "")

    def record(self, response: Any, seconds: float, what: str) -> None:
        self.requests += 1
        self.server_errors += response.status_code >= 500
        if seconds > self.slowest[0]:
            self.slowest = (seconds, what[:300])


TALLY = Tally()


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[TestClient]:
    with TestClient(make_app(KEY), raise_server_exceptions=False) as c:
        yield c
    report = {"requests": TALLY.requests, "server_errors": TALLY.server_errors,
              "slowest_seconds": round(TALLY.slowest[0], 4), "slowest_request": TALLY.slowest[1],
              "examples": FUZZ_EXAMPLES}
    print(f"\nproperty tests: {json.dumps(report)}")
    if os.environ.get("ALIGNREC_FUZZ_REPORT"):
        Path(os.environ["ALIGNREC_FUZZ_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")


def operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path template, OpenAPI operation) of ``app``'s schema."""
    paths = app.openapi()["paths"]
    return [(method.upper(), path, op) for path, ops in paths.items() for method, op in ops.items()]


OPERATIONS = operations(make_app())
# No subnormal floats: a library loaded by other tests of the session may set flush-to-zero, and Hypothesis then
# refuses to draw them.
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=20)
ANY_JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
    st.text(max_size=8), inner, max_size=6), max_leaves=30)
IDS = st.sampled_from(ITEM_IDS) | st.integers(-5, 60) | st.text(max_size=12) | ANY_JSON
TEXT = st.text(max_size=40)
NUMBER_TEXT = st.integers(-(10 ** 20), 10 ** 20).map(str) | st.sampled_from(["", " 1", "1.0", "true", "nan", "5"])
QUERY_VALUE = NUMBER_TEXT | TEXT | st.sampled_from(["content", "collaborative"])
PATH_VALUE = st.sampled_from(["u1", "u7", "1", "39", "B00ÄÖ-ü", "no-such"]) | st.text(min_size=1, max_size=30)


@st.composite
def api_request(draw: st.DrawFn) -> dict[str, Any]:
    """A request to one of the schema's operations: its path filled with arbitrary ids, its query parameters
    (and sometimes an undeclared one) with arbitrary text, and a JSON or form body shaped like the schema or not."""
    method, template, op = draw(st.sampled_from(OPERATIONS))
    path = template
    for param in op.get("parameters", []):
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", quote(draw(PATH_VALUE), safe=""))
    query = {p["name"]: draw(QUERY_VALUE) for p in op.get("parameters", []) if p["in"] == "query"
             and draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        query[draw(st.text(min_size=1, max_size=8))] = draw(TEXT)
    request: dict[str, Any] = {"method": method, "url": path, "params": query}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        shaped = st.fixed_dictionaries({"items": st.lists(IDS, max_size=8)},
                                       optional={"k": ANY_JSON | st.integers(-3, 30), "x": ANY_JSON})
        kind = draw(st.sampled_from(["shaped", "json", "bytes"]))
        body = draw(st.binary(max_size=200)) if kind == "bytes" else json.dumps(  # NaN and Infinity included
            draw(shaped if kind == "shaped" else ANY_JSON)).encode()
        request.update(content=body, headers={"content-type": "application/json"})
    elif content:
        request["data"] = draw(st.fixed_dictionaries({}, optional={"text": TEXT, "k": NUMBER_TEXT, "other": TEXT}))
        if draw(st.booleans()):
            request["files"] = {"image": ("x.jpg", draw(st.binary(max_size=300)), draw(st.sampled_from(
                ["image/jpeg", "application/octet-stream", "text/plain"])))}
    return request


WILD_METHOD = st.sampled_from(sorted(METHODS)) | st.from_regex(r"[A-Z]{1,10}", fullmatch=True)
# Parts are never empty: the client itself refuses a path that starts with "//".
WILD_PATH = st.lists(st.text(min_size=1, max_size=12), max_size=4).map(lambda parts: "/" + "/".join(
    quote(p, safe="") for p in parts)) | st.sampled_from(["/static/app.js", "/static/../app.py", "/docs", "/items/"])


def send(client: TestClient, request: dict[str, Any], with_key: bool) -> None:
    headers = {**request.pop("headers", {}), **({"X-API-Key": KEY} if with_key else {})}
    what = json.dumps({**request, **{k: repr(request[k])[:200] for k in ("content", "files") if k in request}})
    with app_time() as took:
        response = client.request(**request, headers=headers)
    seconds = took[0]
    TALLY.record(response, seconds, what)
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    assert seconds < REQUEST_SECONDS, (what, seconds)
    if response.status_code >= 400 and request["method"] != "HEAD":
        assert response.headers["content-type"].startswith("application/json"), what
        assert set(response.json()) == {"error", "message", "field"}, (what, response.text[:300])


FUZZ = settings(max_examples=max(1, FUZZ_EXAMPLES * 4 // 5), deadline=2 * REQUEST_SECONDS * 1000, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(request=api_request(), with_key=st.integers(0, 9).map(lambda n: n > 0))
def test_every_route_survives_arbitrary_input(fuzz_client: TestClient, request: dict[str, Any],
                                              with_key: bool) -> None:
    send(fuzz_client, request, with_key)


@settings(FUZZ, max_examples=max(1, FUZZ_EXAMPLES // 5))
@given(method=WILD_METHOD, path=WILD_PATH, body=st.none() | st.binary(max_size=100))
def test_any_method_on_any_path_survives(fuzz_client: TestClient, method: str, path: str, body: bytes | None) -> None:
    send(fuzz_client, {"method": method, "url": path, "content": body}, True)


# --- the benchmarks run end to end at their smallest settings (on the real service of the shared test run) ----


def test_serve_hostile_benchmark_runs(tmp_path: Path, serve_run: Path) -> None:
    out = tmp_path / "hostile"
    run(tmp_path, str(BENCH / "serve_hostile.py"), "--run", str(serve_run), "--repeats", "2", "--out", str(out))
    result = json.loads(out.with_suffix(".json").read_text())
    assert {m: r["statuses"] for m, r in result["modes"].items()} == {
        "content-length": [413], "chunked": [413], "under-limit": [422]}
    assert result["server_alive"] and not result["traceback_in_log"]
    assert "| chunked |" in out.with_suffix(".md").read_text()


def test_serve_load_with_the_hostile_client(tmp_path: Path, serve_server: ServerProcess) -> None:
    out = tmp_path / "load"
    run(tmp_path, str(BENCH / "serve_load.py"), "--url", f"ml={serve_server.url}", "--users", "1", "--seconds", "3",
        "--hostile", "--out", str(out), env={"ALIGNREC_API_KEY": SERVE_KEY})
    level = json.loads(out.with_suffix(".json").read_text())["runs"]["ml"]["levels"][0]
    assert level["failures"] == 0 and level["server_5xx"] == 0
    assert level["hostile"]["requests"] > 0 and set(level["hostile"]["status_counts"]) == {"413"}
    assert "| ml | 1 | content-length |" in out.with_suffix(".md").read_text()
