"""Querying a training index with images: which training items lie within a Hamming radius of
each image's hash, and which are its ``k`` nearest (first hash family of the index).

This is what ``genaudit index query`` prints; the CLI only reads the files and formats the
results.

>>> import numpy as np
>>> from genaudit.features.hashing import hash_images
>>> rng = np.random.default_rng(0)
>>> train = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
>>> index = TrainingIndex(("phash",))
>>> _ = index.add({"phash": hash_images(train, "phash")}, ["a.png", "b.png", "c.png"])
>>> [found] = query_index(index, [train[1]], radius=4, k=2)
>>> [(n.source, n.distance) for n in found.matches], len(found.nearest)
([('b.png', 0)], 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .index import TrainingIndex


@dataclass(frozen=True)
class Neighbour:
    """A training item near a query: its id, source and Hamming distance (bits)."""

    id: int
    source: str
    distance: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "distance": self.distance}


@dataclass(frozen=True)
class QueryResult:
    """One image's answer: its hash (hex) in ``family``, the items within ``radius`` bits (by
    distance, then id) and its ``k`` nearest items (fewer when the index holds fewer)."""

    family: str
    hash: str
    radius: int
    matches: tuple[Neighbour, ...]
    nearest: tuple[Neighbour, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "hash": self.hash, "radius": self.radius,
                "matches": [n.to_dict() for n in self.matches], "nearest": [n.to_dict() for n in self.nearest]}


def query_index(index: TrainingIndex, images: Sequence[Any], radius: int = 8, k: int = 5) -> list[QueryResult]:
    """Hash ``images`` (PIL images or uint8 arrays) with the index's first family and search it:
    every item within ``radius`` bits, and the ``k`` nearest items, per image."""
    from ..features.hashing import hash_images, to_hex

    family = index.families[0]
    hamming = index.indexes[family]
    codes = hash_images(list(images), family)
    within = hamming.radius_search_batch(codes, radius)
    nn_ids, nn_d = hamming.knn(codes, k)

    def neighbours(ids: Any, dists: Any) -> tuple[Neighbour, ...]:
        return tuple(Neighbour(int(i), index.sources[int(i)], int(d)) for i, d in zip(ids, dists, strict=True)
                     if i >= 0)

    return [QueryResult(family, to_hex(code), radius, neighbours(*within[row]), neighbours(nn_ids[row], nn_d[row]))
            for row, code in enumerate(codes)]
