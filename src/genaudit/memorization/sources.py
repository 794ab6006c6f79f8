"""Training-item sources: the strings an index stores for its ids, and loading the items back.

A source is a path of an image file (decoded by genaudit's loader), or ``<spec>:<row>`` for row
``row`` of an IDX image file, where ``spec`` is ``fashion-mnist:train`` / ``fashion-mnist:test``
(the Debian package's files) or the path of an IDX image file (``*-images-idx3-ubyte[.gz]``).
An index file stores paths relative to its own folder (:func:`stored_source`) and resolves them
against the folder it is read from (:func:`loaded_source`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np

FMNIST_PREFIX = "fashion-mnist:"


def resolve_idx(spec: str) -> tuple[str, str]:
    """(IDX image file, id prefix) for a ``fashion-mnist:SPLIT`` spec or an IDX file path.

    >>> resolve_idx("/data/my-images-idx3-ubyte.gz")
    ('/data/my-images-idx3-ubyte.gz', '/data/my-images-idx3-ubyte.gz')
    >>> resolve_idx("fashion-mnist:validation")
    Traceback (most recent call last):
    ...
    ValueError: 'fashion-mnist:validation': use fashion-mnist:train or fashion-mnist:test
    """
    from ..datasets import FASHION_MNIST_DIR

    if spec.startswith(FMNIST_PREFIX):
        split = spec[len(FMNIST_PREFIX):]
        if split not in ("train", "test"):
            raise ValueError(f"{spec!r}: use fashion-mnist:train or fashion-mnist:test")
        prefix = {"train": "train", "test": "t10k"}[split]
        path = os.path.join(FASHION_MNIST_DIR, f"{prefix}-images-idx3-ubyte.gz")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: install the Debian package dataset-fashion-mnist"
                                    " (bash scripts/setup.sh does)")
        return path, spec
    return spec, spec


def stored_source(source: str, folder: str) -> str:
    """How a source is written into an index file in ``folder``: a path relative to that folder (an
    image file, or an IDX file's ``path:row``), a dataset name (``fashion-mnist:...``) as it is.

    >>> stored_source("/data/train/cat.png", "/data/indexes"), stored_source("fashion-mnist:test:3", "/x")
    ('../train/cat.png', 'fashion-mnist:test:3')
    """
    if source.startswith(FMNIST_PREFIX):
        return source
    try:
        rel = os.path.relpath(os.path.abspath(source), os.path.abspath(folder))
    except ValueError:  # another drive (Windows): no relative path exists
        return os.path.abspath(source)
    return f".{os.sep}{rel}" if rel.startswith(FMNIST_PREFIX) else rel


def loaded_source(stored: str, folder: str) -> str:
    """The source a stored one names, for an index file in ``folder`` (as given: a relative folder
    gives paths relative to the working directory, an absolute one absolute paths).

    >>> loaded_source("../train/cat.png", "/moved/indexes"), loaded_source("../train/cat.png", "idx")
    ('/moved/train/cat.png', 'train/cat.png')
    """
    if stored.startswith(FMNIST_PREFIX):
        return stored
    path = os.path.normpath(os.path.join(folder, stored))
    return f".{os.sep}{path}" if path.startswith(FMNIST_PREFIX) else path


def is_idx_source(spec: str) -> bool:
    """Whether ``spec`` names IDX rows (``fashion-mnist:SPLIT`` or an existing IDX image file).

    >>> is_idx_source("fashion-mnist:train"), is_idx_source("photos/cat.png")
    (True, False)
    """
    name = os.path.basename(spec)
    return spec.startswith(FMNIST_PREFIX) or ("idx3-ubyte" in name and os.path.isfile(spec))


class SourceImages:
    """Loads training items by source string (PIL image for a file, uint8 array for an IDX row),
    keeping the ``size`` most recently used items and every IDX file it has read.

    >>> import os, tempfile
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "item.png")
    >>> Image.new("RGB", (4, 3), (9, 9, 9)).save(path)
    >>> SourceImages().get(path).size
    (4, 3)
    """

    def __init__(self, size: int = 512) -> None:
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._idx: dict[str, np.ndarray] = {}
        self.size = size

    def get(self, source: str) -> Any:
        """The item of ``source``; raises what loading raises (ImageLoadError, OSError, ValueError...)."""
        hit = self._cache.get(source)
        if hit is not None:
            self._cache.move_to_end(source)
            return hit
        img = self._load(source)
        self._cache[source] = img
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return img

    def _load(self, source: str) -> Any:
        from ..datasets import read_idx
        from ..io import open_image

        spec, sep, number = source.rpartition(":")
        if sep and number.isdigit() and is_idx_source(spec):
            path, _ = resolve_idx(spec)
            arr = self._idx.get(path)
            if arr is None:
                arr = self._idx[path] = read_idx(path)
            return arr[int(number)]
        return open_image(source).pil
