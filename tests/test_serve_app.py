"""The real service (``alignrec serve`` under uvicorn, in a child process) on a short real run: every endpoint, every
kind of bad request (status and message), the API key, the Prometheus metrics, and the web page in headless
Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from alignrec.serving.bundle import Bundle, load_bundle
from alignrec.serving.process import ServerProcess
from tests.conftest import SERVE_KEY, SERVE_MAX_K, SERVE_MAX_UPLOAD_MB
from tests.test_report import CHROMIUM_FLAGS, INSTALL_CHROMIUM

KEY, MAX_K, MAX_UPLOAD_MB = SERVE_KEY, SERVE_MAX_K, SERVE_MAX_UPLOAD_MB


@pytest.fixture(scope="module")
def server(serve_server: ServerProcess) -> ServerProcess:
    return serve_server


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def bundle(serve_run: Path) -> Bundle:
    return load_bundle(serve_run)


def user_with_posters(b: Bundle) -> tuple[str, int]:
    """A user with several items that have a poster in their history (for the page's images)."""
    counts = [sum(b.item_image[i] is not None for i in b.history(u)) for u in range(b.n_users)]
    u = int(np.argmax(counts))
    assert counts[u] >= 3
    return str(b.user_ids[u]), u


def expect(response: httpx.Response, status: int, message: str, field: str | None = None) -> dict[str, Any]:
    """A JSON error with this status, a message containing ``message`` and, when given, the field at fault."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert message in body["message"], body
    if field is not None:
        assert body["field"] == field, body
    return body


def test_every_endpoint_answers(client: httpx.Client, bundle: Bundle) -> None:
    user, u = user_with_posters(bundle)
    health = client.get("/health").json()
    assert health == {"status": "ok", "model": "alignrec", "users": bundle.n_users, "items": bundle.n_items}
    info = client.get("/info").json()
    assert info["new_items"] == ["image", "text"] and info["max_k"] == MAX_K and info["index"] == "exact"

    recs = client.get(f"/users/{user}/recommendations", params={"k": 7}).json()["items"]
    history = {str(bundle.item_ids[i]) for i in bundle.history(u)}
    assert [r["rank"] for r in recs] == list(range(1, 8)) and not history & {r["item"] for r in recs}
    scores = [r["score"] for r in recs]
    assert scores == sorted(scores, reverse=True) and all(r["text"] for r in recs)
    expected = np.dot(bundle.item_embeddings[[int(np.flatnonzero(bundle.item_ids == r["item"])[0]) for r in recs]],
                      bundle.user_embeddings[u])
    assert np.allclose(scores, expected, atol=1e-4)
    assert {r["item"] for r in client.get(f"/users/{user}").json()["history"]} == history

    liked = [str(bundle.item_ids[i]) for i in bundle.history(u)[:3]]
    folded = client.post("/recommendations", json={"items": liked, "k": 5}).json()
    mean = bundle.item_embeddings[bundle.history(u)[:3]].mean(0)
    top = [i for i in np.argsort(-(bundle.item_embeddings @ mean)) if str(bundle.item_ids[i]) not in liked][:5]
    assert [r["item"] for r in folded["items"]] == [str(bundle.item_ids[i]) for i in top]

    poster = next(i for i in bundle.history(u) if bundle.item_image[i] is not None)
    item = str(bundle.item_ids[poster])
    for space in ("content", "collaborative"):
        similar = client.get(f"/items/{item}/similar", params={"k": 6, "space": space}).json()
        assert similar["space"] == space and len(similar["similar"]) == 6
        assert item not in {r["item"] for r in similar["similar"]}
    image = client.get(f"/items/{item}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content == Path(bundle.item_image[poster]).read_bytes()
    assert client.get(f"/items/{item}").json()["popularity"] == int(bundle.popularity[poster])
    assert client.get("/docs").status_code == 200
    assert {"/users/{id}/recommendations", "/recommendations", "/items/{id}/similar", "/items", "/health",
            "/metrics"} <= set(client.get("/openapi.json").json()["paths"])


def test_new_items_are_placed_where_the_catalogue_puts_the_same_content(client: httpx.Client, bundle: Bundle) -> None:
    """Re-sending a catalogue item's own text (and poster) through POST /items finds that very item at cosine 1:
    the same encoders and MMEnc as in training."""
    no_poster = next(i for i in range(bundle.n_items) if bundle.item_image[i] is None and bundle.item_text[i])
    answer = client.post("/items", data={"text": bundle.item_text[no_poster], "k": "5"}).json()
    assert answer["used"] == ["text"] and answer["similar"][0]["score"] > 0.999
    assert str(bundle.item_ids[no_poster]) in {r["item"] for r in answer["similar"][:2]}
    assert len(answer["users"]) == 5 and answer["users"][0]["score"] >= answer["users"][-1]["score"]

    poster = next(i for i in range(bundle.n_items) if bundle.item_image[i] is not None)
    files = {"image": ("poster.jpg", Path(bundle.item_image[poster]).read_bytes(), "image/jpeg")}
    answer = client.post("/items", data={"text": bundle.item_text[poster], "k": "3"}, files=files).json()
    assert answer["used"] == ["text", "image"] and answer["similar"][0]["item"] == str(bundle.item_ids[poster])
    assert answer["similar"][0]["score"] > 0.999
    only_image = client.post("/items", files=files).json()
    assert only_image["used"] == ["image"] and len(only_image["similar"]) == 10


def test_bad_requests_get_a_4xx_that_says_what_was_wrong(server: ServerProcess, client: httpx.Client,
                                                         bundle: Bundle) -> None:
    user, item = str(bundle.user_ids[0]), str(bundle.item_ids[0])
    recs = f"/users/{user}/recommendations"
    expect(client.get("/users/no-such-user/recommendations"), 404, "user 'no-such-user' is not in this run's", "id")
    expect(client.get("/users/no-such-user"), 404, "user 'no-such-user'", "id")
    for k in (0, -3, MAX_K + 1):
        expect(client.get(recs, params={"k": k}), 422, f"k must be between 1 and {MAX_K}, got {k}", "k")
    expect(client.get(recs, params={"k": "ten"}), 422, "k: Input should be a valid integer", "k")
    expect(client.get("/items/no-such-item/similar"), 404, "item 'no-such-item' is not in this run's catalogue", "id")
    expect(client.get(f"/items/{item}/similar", params={"space": "visual"}), 422,
           "space must be one of ['content', 'collaborative']", "space")
    expect(client.get(f"/items/{item}/similar", params={"k": 0}), 422, "k must be between 1", "k")
    no_image = next(str(bundle.item_ids[i]) for i in range(bundle.n_items) if bundle.item_image[i] is None)
    expect(client.get(f"/items/{no_image}/image"), 404, "has no image", "id")

    post = "/recommendations"
    expect(client.post(post, content=b'{"items": ["1", ', headers={"content-type": "application/json"}), 400,
           "the request body is not valid JSON", "body")
    expect(client.post(post, json={"items": ["no-such-item", item]}), 404, "['no-such-item'] are not in", "items")
    expect(client.post(post, json={"items": []}), 422, "items must list at least one item id", "items")
    expect(client.post(post, json={"items": item}), 422, "items: Input should be a valid list", "items")
    expect(client.post(post, json={"k": 3}), 422, "items: Field required", "items")
    expect(client.post(post, json={"items": [item], "k": 0}), 422, "k must be between 1", "k")
    expect(client.post(post, json={"items": [item], "k": 10 * MAX_K}), 422, f"got {10 * MAX_K}", "k")

    expect(client.post("/items", data={"k": "3"}), 422, "give the new item's text and/or an image", "text")
    expect(client.post("/items", data={"text": "x", "k": "0"}), 422, "k must be between 1", "k")
    not_image = {"image": ("poster.jpg", b"GIF89a but not really an image", "image/jpeg")}
    expect(client.post("/items", files=not_image), 415, "is not an image that can be decoded", "image")
    big = {"image": ("big.jpg", b"\xff" * (MAX_UPLOAD_MB * 1024 * 1024 + 200_000), "image/jpeg")}
    expect(client.post("/items", files=big), 413, "larger than", "body")
    just_over = {"image": ("big.jpg", b"\xff" * (MAX_UPLOAD_MB * 1024 * 1024 + 10), "image/jpeg")}
    expect(client.post("/items", files=just_over), 413, "larger than", "image")
    expect(client.get("/no/such/path"), 404, "no such endpoint: GET /no/such/path")
    expect(client.delete("/health"), 405, "DELETE is not allowed on /health")

    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get("/health").status_code == 200  # the one path without a key
        for path in ("/info", recs, "/metrics", "/", "/docs"):
            expect(anonymous.get(path), 401, "this service needs an API key", "X-API-Key")
        expect(anonymous.get("/info", headers={"X-API-Key": "wrong-key-000"}), 401, "needs an API key")
        assert anonymous.get("/info", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        page = anonymous.get("/", params={"api_key": KEY})
        assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
        assert anonymous.get("/info").status_code == 200  # the cookie the page set

    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'alignrec_http_requests_total{method="GET",route="/users/{id}/recommendations",status="422"}' in text
    assert 'alignrec_http_request_duration_seconds_bucket{route="/items",le="+Inf"}' in text
    assert not [line for line in text.splitlines() if 'status="5' in line]
    assert server.alive()


def test_web_page_in_headless_chromium(server: ServerProcess, bundle: Bundle, tmp_path: Path) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip(f"chromium is not installed; install it with: {INSTALL_CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'alignrec[dev]' (playwright)")
    user, u = user_with_posters(bundle)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.on("request", lambda r: None if r.url.startswith((server.url, "data:")) else problems.append(r.url))
        page.goto(f"{server.url}/?api_key={KEY}")
        page.wait_for_function("document.getElementById('user-list').options.length > 0")
        page.fill("#user-input", user)
        page.fill("#k-input", "12")
        page.click("#user-form button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#recommendations li').length === 12")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
        shown = min(20, len(bundle.history(u)))
        assert page.locator("#history li").count() == shown
        assert len(images) >= 3 and all(width > 0 for _, width in images), images
        recs = page.eval_on_selector_all("#recommendations li", "els => els.map(e => e.dataset.item)")
        api = httpx.get(f"{server.url}/users/{user}/recommendations", params={"k": 12}, headers={"X-API-Key": KEY})
        assert recs == [r["item"] for r in api.json()["items"]]

        page.click("#history li:first-child")
        page.wait_for_function("document.querySelectorAll('#similar li').length === 12")
        page.check("input[name=space][value=collaborative]")
        page.wait_for_function("document.querySelectorAll('#similar li').length === 12")
        page.fill("#new-text", "A space adventure with robots. 1999. Sci-Fi Action")
        page.click("#new-item-form button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#new-similar li').length === 12")
        assert page.locator("#new-users li").count() == 12 and page.locator("#error").is_hidden()
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        browser.close()
    assert problems == []


def test_the_service_survived_everything(server: ServerProcess) -> None:
    assert server.alive(), server.output()
    assert "Traceback" not in server.output(), server.output()
