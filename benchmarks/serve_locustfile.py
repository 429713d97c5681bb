"""Locust users for ``benchmarks/serve_load.py``: a mix of the service's requests over real ids of the run.

The ids come from the JSON file named by ``ALIGNREC_LOAD_SAMPLE`` (``users``, ``items``, ``texts`` and the status
``POST /items`` answers, 200 or 422 when the run cannot encode new items), the API key
(if any) from ``ALIGNREC_API_KEY``. Deliberately bad requests expect their 4xx; any 5xx is a failure.
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, constant, task

SAMPLE = json.loads(open(os.environ["ALIGNREC_LOAD_SAMPLE"]).read())
KEY = os.environ.get("ALIGNREC_API_KEY")
BAD = [("GET", "/users/no-such-user/recommendations", 404), ("GET", "/users/{user}/recommendations?k=0", 422),
       ("GET", "/items/{item}/similar?space=visual", 422), ("POST", "/recommendations", 400)]


class ServiceUser(HttpUser):
    wait_time = constant(0)  # closed loop: each user sends its next request as soon as the last one is answered

    def on_start(self) -> None:
        if KEY:
            self.client.headers["X-API-Key"] = KEY

    def expect(self, method: str, path: str, name: str, status: int = 200, **kwargs: object) -> None:
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code == status:
                response.success()
            else:
                response.failure(f"status {response.status_code}, expected {status}")

    @task(6)
    def user_recommendations(self) -> None:
        user = random.choice(SAMPLE["users"])
        self.expect("GET", f"/users/{user}/recommendations?k=20", "GET /users/{id}/recommendations")

    @task(2)
    def similar_items(self) -> None:
        item, space = random.choice(SAMPLE["items"]), random.choice(["content", "collaborative"])
        self.expect("GET", f"/items/{item}/similar?k=20&space={space}", "GET /items/{id}/similar")

    @task(2)
    def unseen_user(self) -> None:
        items = random.sample(SAMPLE["items"], 5)
        self.expect("POST", "/recommendations", "POST /recommendations", json={"items": items, "k": 20})

    @task(1)
    def new_item(self) -> None:  # 422 on a run that cannot encode new items: that answer is part of the mix
        self.expect("POST", "/items", "POST /items", SAMPLE["new_item_status"],
                    data={"text": random.choice(SAMPLE["texts"]), "k": "20"})

    @task(1)
    def bad_request(self) -> None:
        method, path, status = random.choice(BAD)
        path = path.format(user=random.choice(SAMPLE["users"]), item=random.choice(SAMPLE["items"]))
        body = {"content": b'{"items": [', "headers": {"content-type": "application/json"}} if method == "POST" else {}
        self.expect(method, path, f"bad request ({status})", status, **body)

    @task(1)
    def health(self) -> None:
        self.expect("GET", "/health", "GET /health")
