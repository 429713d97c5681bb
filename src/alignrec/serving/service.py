"""The recommendation service over a run's export, independent of HTTP (the app in :mod:`.app` is a thin layer).

* Known users: their exported embedding against the item embeddings (FAISS, inner product), training items left
  out; a model exported as a score matrix is ranked from its row.
* A user the model has never seen, given items they liked (``recommend_items``): folded in as the mean of those
  items' embeddings, then ranked like a known user with the given items left out. For a dot-product model whose
  user vectors are aggregates of item vectors (LightGCN-style propagation, AlignRec's ``R̂ h`` content side) the
  mean is the simplest aggregation that needs no gradient step and no training code; it is the "average of item
  vectors" fold-in of item-based latent models (e.g. Kabbur, Ning, Karypis, "FISM", KDD 2013).
* Similar items: cosine similarity in the ``content`` space (the run's content feature) or the ``collaborative``
  space (the item embeddings).
* A new item (cold start): its content vector (:mod:`.newitem`), then the nearest catalogue items by cosine in the
  content space, and the users whose content profile is closest: a user's profile is the mean of the
  L2-normalised content vectors of their training items (items without content left out), compared by cosine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import scipy.sparse as sp

from alignrec.data.dataset import l2_normalise
from alignrec.errors import ConfigError, RunDirError
from alignrec.serving.bundle import Bundle
from alignrec.serving.errors import NotFound, RequestError, TooLarge, Unsupported
from alignrec.serving.index import VectorIndex, build_index
from alignrec.serving.newitem import NewItemEncoder, check_image

SPACES = ("content", "collaborative")
MAX_IMAGE_PIXELS = 25_000_000  # 25 megapixels (e.g. 6100 x 4100): about 75 MB once decoded as RGB


@dataclass
class ServiceOptions:
    """Limits and the index kind (``auto``, ``exact``, ``hnsw``, ``ivf``; see :mod:`.index`)."""

    max_k: int = 100
    max_request_items: int = 1000
    max_upload_bytes: int = 5 * 1024 * 1024
    index: str = "auto"
    recall_k: int = 20
    # An uploaded image is refused (413) when its header gives more pixels than this, before it is decoded.
    max_image_pixels: int = MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_k", "max_request_items", "max_upload_bytes", "recall_k", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


class RecommenderService:
    """Answers the service's questions from a :class:`Bundle`; raises :class:`RequestError` for bad requests."""

    def __init__(self, bundle: Bundle, options: ServiceOptions | None = None,
                 log: Callable[[str], Any] = print) -> None:
        self.bundle, self.options, self.log = bundle, options or ServiceOptions(), log
        b, kind = bundle, self.options.index
        self.user_pos = {u: n for n, u in enumerate(b.user_ids.tolist())}
        self.item_pos = {i: n for n, i in enumerate(b.item_ids.tolist())}
        # Users and items a forget request removed keep their rows but are neither served nor ranked.
        self.removed_users, self.removed_items = set(b.removed_users.tolist()), set(b.removed_items.tolist())
        self.listed_users = np.delete(b.user_ids, b.removed_users)
        self.scoring = b.manifest.get("scoring", {}).get("kind", "none")
        self.items: VectorIndex | None = None
        self.spaces: dict[str, VectorIndex] = {}
        recall_k = self.options.recall_k
        if self.scoring == "dot" and b.item_embeddings is not None:
            self.items = build_index(b.item_embeddings, kind, b.user_embeddings, recall_k, "recommendations", log)
            self.spaces["collaborative"] = build_index(b.item_embeddings, kind, None, recall_k, "collaborative", log,
                                                       cosine=True)
        self.profiles: VectorIndex | None = None
        if b.item_content is not None:
            self.spaces["content"] = build_index(b.item_content, kind, None, recall_k, "content", log, cosine=True)
            train = sp.csr_matrix((np.ones(len(b.train_indices), np.float32), b.train_indices, b.train_indptr),
                                  shape=(b.n_users, b.n_items))
            profiles = train @ l2_normalise(b.item_content)  # a zero (missing) content row adds nothing
            self.profiles = build_index(profiles, kind, None, recall_k, "user profiles", log, cosine=True)
        self.new_items = NewItemEncoder(b.manifest.get("content"), b.mmenc, b.encoder_specs or None,
                                        self.options.max_image_pixels)

    # --- validation -------------------------------------------------------------------------------------------

    def check_k(self, k: int, field: str = "k") -> int:
        if not 1 <= k <= self.options.max_k:
            raise RequestError(f"{field} must be between 1 and {self.options.max_k}, got {k}", field)
        return k

    def user_index(self, user: str) -> int:
        if user not in self.user_pos:
            raise NotFound(f"user {user!r} is not in this run's dataset ({len(self.listed_users)} users)", "id")
        if self.user_pos[user] in self.removed_users:
            raise NotFound(f"user {user!r} was removed from this run (a forget request)", "id")
        return self.user_pos[user]

    def item_index(self, item: str, field: str = "id") -> int:
        if item not in self.item_pos:
            raise NotFound(f"item {item!r} is not in this run's catalogue ({self.bundle.n_items} items)", field)
        if self.item_pos[item] in self.removed_items:
            raise NotFound(f"item {item!r} was removed from this run (a forget request)", field)
        return self.item_pos[item]

    def excluded(self, *items: np.ndarray) -> np.ndarray:
        """``items`` and the removed items: what a ranking leaves out."""
        return np.concatenate([*(np.asarray(i, dtype=np.int64) for i in items), self.bundle.removed_items])

    # --- answers ----------------------------------------------------------------------------------------------

    def item_card(self, item: int, score: float | None = None) -> dict[str, Any]:
        b = self.bundle
        item_id = str(b.item_ids[item])
        card: dict[str, Any] = {"item": item_id, "text": b.item_text[item],
                                "image": f"/items/{quote(item_id, safe='')}/image" if b.item_image[item] else None}
        if score is not None:
            card["score"] = float(score)
        return card

    def _ranked(self, scores: np.ndarray, ids: np.ndarray) -> list[dict[str, Any]]:
        return [{"rank": r, **self.item_card(int(i), s)} for r, (i, s) in enumerate(zip(ids, scores), start=1)
                if i >= 0]

    def info(self) -> dict[str, Any]:
        m = self.bundle.manifest
        return {"model": m.get("model"), "dataset": m.get("dataset"), "users": len(self.listed_users),
                "items": self.bundle.n_items, "best_epoch": m.get("best_epoch"), "scoring": self.scoring,
                "spaces": sorted(self.spaces), "index": self.items.describe() if self.items else None,
                "index_recall": self.items.recall if self.items else None, "max_k": self.options.max_k,
                "max_upload_bytes": self.options.max_upload_bytes, "max_image_pixels": self.options.max_image_pixels,
                "new_items": self.new_items.accepts(),
                "new_items_reason": None if self.new_items.possible else self.new_items.reason,
                "items_with_image": m.get("images", {}).get("with_image", 0)}

    def user(self, user: str) -> dict[str, Any]:
        u = self.user_index(user)
        return {"user": user, "history": [self.item_card(int(i)) for i in self.bundle.history(u)]}

    def list_users(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        if offset < 0 or not 1 <= limit <= 10_000:
            raise RequestError(f"need offset >= 0 and 1 <= limit <= 10000, got offset {offset}, limit {limit}",
                               "limit" if offset >= 0 else "offset")
        ids = self.listed_users[offset:offset + limit].tolist()
        return {"total": len(self.listed_users), "offset": offset, "users": ids}

    def recommend_user(self, user: str, k: int) -> dict[str, Any]:
        u, k = self.user_index(user), self.check_k(k)
        history = self.bundle.history(u)
        if self.scoring == "dot" and self.items is not None:
            scores, ids = self.items.search(self.bundle.user_embeddings[u], k,  # type: ignore[index]
                                            [self.excluded(history)])
            return {"user": user, "k": k, "items": self._ranked(scores[0], ids[0])}
        if self.scoring == "matrix" and self.bundle.scores is not None:
            row = self.bundle.scores[u].astype(np.float32).copy()
            row[self.excluded(history)] = -np.inf
            order = np.argsort(-row, kind="stable")[:k]
            order = order[np.isfinite(row[order])]
            return {"user": user, "k": k, "items": self._ranked(row[order], order)}
        raise Unsupported(f"this export cannot score users: {self.bundle.manifest.get('scoring', {}).get('reason')}")

    def recommend_items(self, items: list[str], k: int) -> dict[str, Any]:
        """Top ``k`` for a user the model has never seen, who liked ``items`` (fold-in: mean item embedding)."""
        k = self.check_k(k)
        if not items:
            raise RequestError("items must list at least one item id", "items")
        if len(items) > self.options.max_request_items:
            raise RequestError(f"items may list at most {self.options.max_request_items} ids, got {len(items)}",
                               "items")
        unknown = [i for i in items if i not in self.item_pos]
        if unknown:
            raise NotFound(f"item(s) {unknown[:10]} are not in this run's catalogue", "items")
        removed = [i for i in items if self.item_pos[i] in self.removed_items]
        if removed:
            raise NotFound(f"item(s) {removed[:10]} were removed from this run (a forget request)", "items")
        if self.scoring != "dot" or self.items is None:
            raise Unsupported(f"model {self.bundle.manifest.get('model')!r} has no item embeddings to fold a new "
                              "user in from their items", "items")
        index = np.unique([self.item_pos[i] for i in items])
        query = self.bundle.item_embeddings[index].mean(0)  # type: ignore[index]
        scores, ids = self.items.search(query, k, [self.excluded(index)])
        return {"items_given": len(index), "k": k, "fold_in": "mean of the given items' embeddings",
                "items": self._ranked(scores[0], ids[0])}

    def similar(self, item: str, k: int, space: str) -> dict[str, Any]:
        i, k = self.item_index(item), self.check_k(k)
        if space not in SPACES:
            raise RequestError(f"space must be one of {list(SPACES)}, got {space!r}", "space")
        if space not in self.spaces:
            raise Unsupported(f"this run has no {space} space (it has {sorted(self.spaces) or 'none'})", "space")
        vectors = self.bundle.item_content if space == "content" else self.bundle.item_embeddings
        query = l2_normalise(vectors[i:i + 1])  # type: ignore[index]
        if not np.any(query):
            raise Unsupported(f"item {item!r} has no {space} vector (no content of the modalities the run uses)",
                              "id")
        scores, ids = self.spaces[space].search(query, k, [self.excluded([i])])
        return {"item": self.item_card(i), "space": space, "k": k, "similar": self._ranked(scores[0], ids[0])}

    def new_item(self, text: str | None, image: bytes | None, k: int) -> dict[str, Any]:
        """Cold start: a new item's nearest catalogue items and the users most likely to want it."""
        k = self.check_k(k)
        text = (text or "").strip() or None
        if text is None and image is None:
            raise RequestError("give the new item's text and/or an image", "text")
        if text is not None and len(text) > 10_000:
            raise RequestError(f"text may have at most 10000 characters, got {len(text)}", "text")
        if image is not None:
            if len(image) > self.options.max_upload_bytes:
                raise TooLarge(f"the image has {len(image)} bytes; at most {self.options.max_upload_bytes} are "
                               "accepted", "image")
            check_image(image, max_pixels=self.options.max_image_pixels)
        vector, used = self.new_items.encode(text, image)
        if "content" not in self.spaces or self.profiles is None or not np.any(vector):
            raise Unsupported("the new item's content vector is empty, so it has no neighbours", "text")
        query = l2_normalise(vector[None, :])
        scores, ids = self.spaces["content"].search(query, k, [self.excluded()])
        u_scores, u_ids = self.profiles.search(query, k, [self.bundle.removed_users])
        users = [{"rank": r, "user": str(self.bundle.user_ids[u]), "score": float(s)}
                 for r, (u, s) in enumerate(zip(u_ids[0], u_scores[0]), start=1) if u >= 0]
        ignored = [m for m, given in (("text", text), ("image", image)) if given is not None and m not in used]
        return {"k": k, "used": used, "ignored": ignored, "similar": self._ranked(scores[0], ids[0]), "users": users,
                "users_by": "cosine between the item and each user's mean training-item content"}

    def image_file(self, item: str) -> tuple[Path | None, str]:
        """The item's image file and its media type (from the file's first bytes), checked again now by the rule
        the export was checked with at start (inside the export's ``images/``, a JPEG, PNG, GIF or WebP file);
        ``(None, why)`` when the file no longer passes. Raises :class:`NotFound` when the item has no image."""
        i = self.item_index(item)
        try:
            found = self.bundle.image_file(i)
        except RunDirError as exc:
            self.log(f"refused to serve an image: {exc}")
            return None, "it no longer passes the export's check; see the server's log"
        if found is None:
            raise NotFound(f"item {item!r} has no image", "id")
        return found
