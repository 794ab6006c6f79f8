"""Training-item sources: IDX rows, Fashion-MNIST specs and image files load back as indexed."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genaudit.datasets import load_fashion_mnist
from genaudit.errors import ImageLoadError
from genaudit.memorization.sources import SourceImages, is_idx_source, resolve_idx


def write_idx(path: Path, images: np.ndarray) -> None:
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", *images.shape) + images.astype(np.uint8).tobytes())


def test_idx_rows_fashion_mnist_and_files_load_back(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).integers(0, 256, (5, 7, 6), dtype=np.uint8)
    idx = tmp_path / "mine-images-idx3-ubyte"
    write_idx(idx, rows)
    png = tmp_path / "item:3.png"            # a colon and digits in a file name: still a file
    Image.fromarray(rows[0]).save(png)
    assert is_idx_source(str(idx)) and not is_idx_source(str(png))
    assert resolve_idx(str(idx)) == (str(idx), str(idx))
    loader = SourceImages(size=2)
    assert np.array_equal(loader.get(f"{idx}:4"), rows[4])
    assert np.array_equal(loader.get(f"{idx}:0"), rows[0])
    assert np.array_equal(np.asarray(loader.get(str(png)).convert("L")), rows[0])
    assert np.array_equal(loader.get("fashion-mnist:test:17"), load_fashion_mnist("test")[0][17])
    path, prefix = resolve_idx("fashion-mnist:test")
    assert path.endswith("t10k-images-idx3-ubyte.gz") and prefix == "fashion-mnist:test"


def test_missing_items_raise(tmp_path: Path) -> None:
    loader = SourceImages()
    with pytest.raises(ImageLoadError):
        loader.get(str(tmp_path / "gone.png"))
    with pytest.raises(ValueError, match="fashion-mnist:train or fashion-mnist:test"):
        resolve_idx("fashion-mnist:val")
    write_idx(tmp_path / "x-images-idx3-ubyte", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(IndexError):
        loader.get(f"{tmp_path / 'x-images-idx3-ubyte'}:2")
