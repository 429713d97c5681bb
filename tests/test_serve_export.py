"""The serving export: what training writes, that it holds no pickle, that a crafted checkpoint is refused, and that
FAISS's exact top-k is the model's own full ranking."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrec import RunConfig, RuntimeOptions, train
from alignrec.cli import main
from alignrec.data.dataset import apply_removal
from alignrec.data.removal import Removal
from alignrec.errors import RunDirError
from alignrec.evaluation import top_k_items
from alignrec.runs import load_run
from alignrec.runs.export import export_run, export_status, write_export
from alignrec.serving.bundle import load_bundle
from alignrec.serving.errors import NotFound, Unsupported
from alignrec.serving.service import RecommenderService, ServiceOptions
from tests.conftest import POSTERS_IN_SERVE_RUN, RealData

MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK\x03\x04", ".parquet": b"PAR1", ".json": b"{", ".jpg": b"\xff\xd8\xff"}


class Payload:
    """Unpickling this runs a shell command: what a crafted checkpoint would do to ``torch.load`` without
    ``weights_only``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def quiet_log(line: str) -> None:
    pass


def test_training_writes_the_export(serve_run: Path) -> None:
    manifest = json.loads((serve_run / "export" / "manifest.json").read_text())
    assert manifest["format"] == "alignrec-export" and manifest["format_version"] == 2
    assert manifest["scoring"] == {"kind": "dot", "dim": 64}
    content = manifest["content"]
    assert content["feature"] == "unified" and content["encoders"] == {"image": "efficientnet-lite0", "text": "minilm"}
    assert content["new_items"] == {"possible": True, "modalities": ["image", "text"]}
    assert content["mmenc"]["file"] == "mmenc.npz" and content["mmenc"]["modalities"] == ["image", "text"]
    assert manifest["images"]["with_image"] == POSTERS_IN_SERVE_RUN
    for file in (serve_run / "export").rglob("*"):  # open formats only: every file starts with its format's magic
        assert file.is_dir() or file.read_bytes()[:len(MAGIC[file.suffix])] == MAGIC[file.suffix], file.name
    assert export_status(serve_run) is None

    run, bundle = load_run(serve_run), load_bundle(serve_run)
    with torch.no_grad():
        users, items = run.model.embeddings()
    assert np.allclose(bundle.user_embeddings, users.numpy()) and np.allclose(bundle.item_embeddings, items.numpy())
    assert np.array_equal(bundle.item_content, run.dataset.features["unified"])
    train_items = run.dataset.train[run.dataset.train[:, 0] == 3, 1]
    assert sorted(bundle.history(3).tolist()) == sorted(train_items.tolist())
    assert bundle.item_text == run.dataset.item_text


def test_faiss_exact_top_k_is_the_models_full_ranking(serve_run: Path) -> None:
    run = load_run(serve_run)
    service = RecommenderService(load_bundle(serve_run), ServiceOptions(index="exact"), log=quiet_log)
    users = np.arange(run.dataset.n_users)
    k = 20
    with torch.no_grad():
        model_top = top_k_items(run.model.score, users, run.dataset.matrix("train"), k)
        model_scores = run.model.score(torch.from_numpy(users)).numpy()
    bundle = service.bundle
    faiss_scores, faiss_top = service.items.search(bundle.user_embeddings, k, [bundle.history(u) for u in users])
    same = (faiss_top == model_top).all(1)
    # Rows may differ only where two items' scores tie to float precision (then either order is right).
    for u in np.flatnonzero(~same):
        assert np.allclose(np.sort(model_scores[u, faiss_top[u]]), np.sort(model_scores[u, model_top[u]]), atol=1e-5)
    assert same.mean() > 0.99
    assert np.allclose(faiss_scores, np.take_along_axis(model_scores, faiss_top, 1), atol=1e-4)


def test_export_command_and_staleness(serve_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run"
    shutil.copytree(serve_run, copy)
    shutil.rmtree(copy / "export")
    assert export_status(copy) == "missing"
    assert main(["export", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "content space: unified; new items: from ['image', 'text']" in out
    assert export_status(copy) is None
    saved = torch.load(copy / "best.pt", weights_only=True)
    saved["epoch"] += 1
    torch.save(saved, copy / "best.pt")
    assert export_status(copy).startswith("stale: best.pt changed")


def test_a_model_without_embeddings_is_exported_as_its_score_matrix(real_data: RealData, tmp_path: Path) -> None:
    result = train(RunConfig(data=real_data.config(), model="pop"), run_dir=tmp_path / "pop",
                   runtime=RuntimeOptions(progress=False))
    service = RecommenderService(load_bundle(tmp_path / "pop"), log=quiet_log)
    assert service.scoring == "matrix"
    user = str(result.dataset.user_ids[7])
    top = top_k_items(result.model.score, np.array([7]), result.dataset.matrix("train"), 10)[0]
    popularity = result.dataset.item_popularity()
    got = [service.item_pos[r["item"]] for r in service.recommend_user(user, 10)["items"]]
    assert popularity[got].tolist() == popularity[top].tolist()
    with pytest.raises(Unsupported, match="no item embeddings to fold a new user in"):
        service.recommend_items([r["item"] for r in service.recommend_user(user, 3)["items"]], 5)


def test_a_checkpoint_with_a_pickle_payload_is_refused(serve_run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run"
    shutil.copytree(serve_run, copy)
    marker = tmp_path / "code-ran"
    torch.save({"epoch": 1, "model": Payload(marker)}, copy / "best.pt")
    with pytest.raises(RunDirError, match="refused to load: it holds something other than tensors"):
        load_run(copy)
    assert main(["export", str(copy)]) == 2
    assert "best.pt: refused to load" in capsys.readouterr().err
    assert main(["serve", str(copy), "--port", "1"]) == 2  # the stale export is re-made first, and refused
    assert "best.pt: refused to load" in capsys.readouterr().err
    assert not marker.exists()


def test_a_crafted_mmenc_checkpoint_disables_new_items(serve_run: Path, tmp_path: Path) -> None:
    run = load_run(serve_run)
    folder = Path(run.config.data.path)
    copy = tmp_path / "data"
    shutil.copytree(folder, copy, symlinks=True)
    marker = tmp_path / "code-ran"
    torch.save({"model": Payload(marker), "config": {}, "dims": []}, copy / "pretrain" / "mmenc.pt")
    card = json.loads((copy / "unified_feat.json").read_text())
    (copy / "unified_feat.json").write_text(json.dumps({**card, "mmenc": str(copy / "pretrain" / "mmenc.pt")}))
    run.config.data.path = str(copy)
    run_dir = tmp_path / "run"
    shutil.copytree(serve_run, run_dir)
    (run_dir / "config.json").write_text(json.dumps(run.config.to_dict()))
    manifest = export_run(run_dir)
    assert manifest["content"]["new_items"]["possible"] is False
    assert "refused to load" in manifest["content"]["new_items"]["reason"]
    assert not marker.exists()


def test_a_forget_request_is_honoured_by_the_export_and_the_service(serve_run: Path, tmp_path: Path) -> None:
    run = load_run(serve_run)
    before = RecommenderService(load_bundle(serve_run), log=quiet_log)
    kept_user, gone_user = str(run.dataset.user_ids[5]), str(run.dataset.user_ids[3])
    gone_item = before.recommend_user(kept_user, 5)["items"][0]["item"]
    item_index = before.item_pos[gone_item]
    apply_removal(run.dataset, Removal(users=[3], items=[item_index]))
    (tmp_path / "forgot").mkdir()
    manifest = write_export(run, tmp_path / "forgot")
    assert manifest["removed"] == {"users": 1, "items": 1}
    service = RecommenderService(load_bundle(tmp_path / "forgot"), log=quiet_log)
    bundle = service.bundle
    assert bundle.item_text[item_index] == "" and bundle.item_image[item_index] is None
    assert not bundle.item_embeddings[item_index].any() and not bundle.user_embeddings[3].any()
    with pytest.raises(NotFound, match=f"user '{gone_user}' was removed from this run"):
        service.recommend_user(gone_user, 5)
    with pytest.raises(NotFound, match=f"item '{gone_item}' was removed from this run"):
        service.similar(gone_item, 5, "content")
    with pytest.raises(NotFound, match="were removed from this run"):
        service.recommend_items([gone_item], 5)
    assert gone_item not in {r["item"] for r in service.recommend_user(kept_user, 50)["items"]}
    liked = [r["item"] for r in before.recommend_user(kept_user, 6)["items"][1:]]
    assert gone_item not in {r["item"] for r in service.recommend_items(liked, 50)["items"]}
    for space in ("content", "collaborative"):
        assert gone_item not in {r["item"] for r in service.similar(liked[0], 50, space)["similar"]}
    assert gone_user not in service.list_users(0, 10_000)["users"]


def test_a_second_stage1_feature_is_served_through_its_own_mmenc(serve_run: Path, tmp_path: Path) -> None:
    """AlignRec trained on ``unified_cf`` (from ``alignrec pretrain --name unified_cf``) exports that feature's own
    MMEnc, and a new item with a catalogue item's text lands on that item's ``unified_cf`` row."""
    run = load_run(serve_run)
    copy = tmp_path / "data"
    shutil.copytree(Path(run.config.data.path), copy, symlinks=True)
    assert main(["pretrain", str(copy), "--out", str(copy), "--split", "random", "--rating-threshold", "4",
                 "--collaborative", "--name", "unified_cf", "--set", "epochs=1", "--set", "width=64",
                 "--set", "out_dim=32", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
    config = RunConfig.from_dict({**run.config.to_dict(), "params": {"feature": "unified_cf"}}, "test")
    config.data.path, config.data.cache_dir = str(copy), str(tmp_path / "cache")
    train(config, run_dir=tmp_path / "run", runtime=RuntimeOptions(progress=False))
    content = json.loads((tmp_path / "run" / "export" / "manifest.json").read_text())["content"]
    assert content["feature"] == "unified_cf" and content["new_items"] == {"possible": True,
                                                                         "modalities": ["image", "text"]}
    assert content["mmenc"]["checkpoint"] == str(copy / "pretrain-unified_cf" / "mmenc.pt")
    service = RecommenderService(load_bundle(tmp_path / "run"), log=quiet_log)
    bundle = service.bundle
    no_poster = next(i for i in range(bundle.n_items) if bundle.item_image[i] is None and bundle.item_text[i])
    answer = service.new_item(bundle.item_text[no_poster], None, 3)
    assert answer["used"] == ["text"] and answer["similar"][0]["score"] > 0.999
