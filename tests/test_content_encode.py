"""Content encoders: real posters and texts, a corrupt JPEG, a missing file, empty text, the per-item cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alignrec.content.encode import encode_images_cached, encode_texts_cached
from alignrec.content.registry import build_encoder, encoder_kind
from alignrec.errors import ConfigError
from tests.conftest import POSTERS


@pytest.fixture(scope="module")
def image_encoder():
    return build_encoder("efficientnet-lite0")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four real posters from ../shared; on a plain clone, four small drawn JPEGs (only the file handling is
    under test here, not what the features are worth)."""
    if POSTERS.is_dir():
        return sorted(POSTERS.glob("*.jpg"))[:4]
    from PIL import Image, ImageDraw

    folder = tmp_path_factory.mktemp("drawn")
    paths = []
    for n in range(4):
        img = Image.new("RGB", (300, 450), (40 * n, 120, 200 - 40 * n))
        ImageDraw.Draw(img).ellipse((30 * n, 50, 200 + 20 * n, 400), fill=(250, 200 - 30 * n, 30))
        paths.append(folder / f"{n}.jpg")
        img.save(paths[-1], quality=90)
    return paths


def test_bad_images_are_masked_not_fatal(tmp_path: Path, image_encoder, images: list[Path]) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = images[:3]
    paths = [good[0], corrupt, tmp_path / "missing.jpg", None, good[1], good[2]]
    out = encode_images_cached(paths, image_encoder, tmp_path / "cache", batch_size=4, progress=False)
    assert out.matrix.shape == (6, 1280)
    assert out.mask.tolist() == [True, False, False, False, True, True]
    assert not out.matrix[~out.mask].any()
    assert out.report["unreadable"] == 1  # the corrupt file
    assert out.report["no_input"] == 2  # the missing file and the item without an image
    assert "corrupt.jpg" in out.report["unreadable_examples"][0]
    again = encode_images_cached(paths, image_encoder, tmp_path / "cache", batch_size=4, progress=False)
    assert again.report["from_cache"] == 3 and again.report["encoded"] == 0
    np.testing.assert_allclose(again.matrix, out.matrix, atol=1e-6)


def test_interrupted_encoding_resumes(tmp_path: Path, image_encoder, images: list[Path]) -> None:
    paths = images
    encode_images_cached(paths[:2], image_encoder, tmp_path / "cache", batch_size=1, progress=False)
    resumed = encode_images_cached(paths, image_encoder, tmp_path / "cache", batch_size=2, progress=False)
    assert resumed.report["from_cache"] == 2 and resumed.report["encoded"] == 2


def test_text_encoder_marks_empty_text_missing(tmp_path: Path) -> None:
    encoder = build_encoder("minilm")
    texts = ["Toy Story. 1995. Animation Children's Comedy", "", "   ", "Heat. 1995. Action Crime Thriller"]
    out = encode_texts_cached(texts, encoder, tmp_path / "cache", progress=False)
    assert out.matrix.shape == (4, 384)
    assert out.mask.tolist() == [True, False, False, True]
    np.testing.assert_allclose(np.linalg.norm(out.matrix[out.mask], axis=1), 1.0, atol=1e-5)


def test_registry_errors_are_clear(tmp_path: Path) -> None:
    assert encoder_kind("minilm") == "text" and encoder_kind("timm:resnet50:/x.pth") == "image"
    with pytest.raises(ConfigError, match="unknown encoder"):
        encoder_kind("word2vec")
    with pytest.raises(ConfigError, match="not found"):
        build_encoder(f"sentence-transformers:{tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match="timm"):
        build_encoder(f"timm:resnet18:{tmp_path / 'w.pth'}")
