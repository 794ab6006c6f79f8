"""Feature extraction for the detector: the blocks a model names, computed in batches.

Blocks: ``npr-1`` — :func:`.features.residual_features` at the image's own size (66 values);
``efficientnet-lite0@SIZE`` — the shared EfficientNet-Lite0 embedding (:mod:`genaudit.features.embedding`,
ImageNet weights) of the whole image resized to SIZE² (1280 values, L2-normalised).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import features as npr

EMBEDDING_PREFIX = "efficientnet-lite0@"
DEFAULT_BLOCKS = ("npr-1", "efficientnet-lite0@128")


def parse_blocks(blocks: Sequence[str]) -> tuple[str, ...]:
    """Validate block names.

    >>> parse_blocks(["npr-1", "efficientnet-lite0@96"])
    ('npr-1', 'efficientnet-lite0@96')
    >>> parse_blocks(["sift"])
    Traceback (most recent call last):
    ...
    ValueError: unknown feature block 'sift'; known: npr-1, efficientnet-lite0@SIZE (SIZE 32..1024)
    """
    out = []
    for b in blocks:
        ok = b == npr.VERSION
        if b.startswith(EMBEDDING_PREFIX):
            size = b[len(EMBEDDING_PREFIX):]
            ok = size.isdigit() and 32 <= int(size) <= 1024
        if not ok:
            raise ValueError(f"unknown feature block {b!r}; known: {npr.VERSION},"
                             f" {EMBEDDING_PREFIX}SIZE (SIZE 32..1024)")
        out.append(b)
    if not out:
        raise ValueError("a detector needs at least one feature block")
    return tuple(out)


class FeatureExtractor:
    """Computes the blocks ``blocks`` for a batch of images (PIL or uint8 arrays).

    Every image must be at least :data:`.features.MIN_SIDE` pixels on a side
    (:func:`.features.check_size`; callers skip smaller ones before).
    """

    def __init__(self, blocks: Sequence[str] = DEFAULT_BLOCKS, *, embedder: Any = None, batch_size: int = 32,
                 device: str = "cpu") -> None:
        self.blocks = parse_blocks(blocks)
        self.batch_size = batch_size
        self._embedder = embedder
        self._device = device
        sizes = {int(b[len(EMBEDDING_PREFIX):]) for b in self.blocks if b.startswith(EMBEDDING_PREFIX)}
        if len(sizes) > 1:
            raise ValueError("at most one embedding block")
        self.embed_size = sizes.pop() if sizes else None

    @property
    def embedder(self) -> Any:
        """The shared image embedder (loaded on first use); ``None`` without an embedding block."""
        if self.embed_size is None:
            return None
        if self._embedder is None:
            from ..features.embedding import ImageEmbedder

            self._embedder = ImageEmbedder(device=self._device, batch_size=self.batch_size,
                                           input_size=self.embed_size)
        return self._embedder

    @property
    def embedder_sha256(self) -> str:
        return self.embedder.sha256 if self.embedder is not None else ""

    def __call__(self, images: Sequence[Any], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Features of ``images``, float32 (n, dim), computed ``batch_size`` images at a time."""
        parts = []
        n = len(images)
        for a in range(0, n, self.batch_size):
            batch = [npr.as_array(im) for im in images[a:a + self.batch_size]]
            cols = []
            for block in self.blocks:
                if block == npr.VERSION:
                    cols.append(np.stack([npr.residual_features(im) for im in batch]))
                else:
                    cols.append(self.embedder.embed(batch))
            parts.append(np.concatenate(cols, axis=1).astype(np.float32))
            if progress is not None:
                progress(min(a + self.batch_size, n), n)
        if not parts:
            return np.empty((0, self.dim), np.float32)
        return np.concatenate(parts)

    @property
    def dim(self) -> int:
        return sum(npr.DIM if b == npr.VERSION else 1280 for b in self.blocks)
