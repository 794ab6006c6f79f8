"""Training data sources: Fashion-MNIST IDX files and any folder of images.

>>> images, labels = load_fashion_mnist("test")
>>> images.shape, labels.shape
((10000, 28, 28), (10000,))
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
N_CLASSES = len(CLASSES)


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally gzipped): uint8 images (N, H, W) or labels (N,)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        header = fh.read(4)
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
            raise ValueError(f"{path} is not an unsigned-byte IDX file")
        ndim = header[3]
        dims = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
        data = np.frombuffer(fh.read(), dtype=np.uint8)
    expected = int(np.prod(dims))
    if data.size != expected:
        raise ValueError(f"{path}: header declares {dims} = {expected} values, file holds {data.size}")
    return data.reshape(dims)


def load_fashion_mnist(split: str = "train", directory: str = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``train`` (60k) or ``test`` (10k): images (N, 28, 28) uint8, labels (N,) uint8."""
    prefix = {"train": "train", "test": "t10k"}[split]
    img = os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz")
    lbl = os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz")
    if not os.path.isfile(img):
        raise FileNotFoundError(f"{img} not found: install the Debian package dataset-fashion-mnist"
                                " (bash scripts/setup.sh does)")
    images, labels = read_idx(img), read_idx(lbl)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{img} and {lbl} hold different numbers of items")
    return images, labels


def load_image_folder(directory: str, size: int = 28) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Any folder of images as a training set: one sub-folder per class (sorted names are the
    labels), or images directly in ``directory`` (all label 0). Images become ``size``² greyscale.

    Files that cannot be decoded are reported in the exception message, not skipped silently.
    """
    from PIL import Image

    from .errors import ImageLoadError
    from .io import iter_inputs, open_image

    subdirs = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    groups = [(i, os.path.join(directory, d)) for i, d in enumerate(subdirs)] or [(0, directory)]
    class_names = subdirs or [os.path.basename(os.path.normpath(directory))]
    images, labels, bad = [], [], []
    for label, folder in groups:
        for item in iter_inputs([folder]):
            if item.error is not None:
                bad.append(f"{item.path}: {item.error.code}")
                continue
            try:
                img = open_image(item.path)
            except ImageLoadError as exc:
                bad.append(f"{item.path}: {exc.code}")
                continue
            grey = img.pil.convert("L").resize((size, size), Image.Resampling.LANCZOS)
            images.append(np.asarray(grey, dtype=np.uint8))
            labels.append(label)
    if bad:
        raise ValueError(f"{len(bad)} file(s) in {directory} are not usable images: " + "; ".join(bad[:10]))
    if not images:
        raise ValueError(f"no images found in {directory}")
    return np.stack(images), np.asarray(labels, dtype=np.uint8), class_names
