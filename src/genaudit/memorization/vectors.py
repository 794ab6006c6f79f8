"""Stored embeddings of a training index: computed once at build time, searched with faiss.

Each training item is embedded (:class:`~genaudit.features.embedding.ImageEmbedder`) as a whole
and, optionally, in named **regions** — its halves and its centre — so that a generated image that
copies only part of an item (a crop stretched to fit, the left half) lies close to the vector of
that part even where it is far from the whole item's (copy-detection work such as Pizzi et al.'s
SSCD evaluation and Somepalli et al. uses multiple crops per item the same way). Region ``r`` of
item ``i`` is row ``i·R + r`` of the vector index.

Vectors are L2-normalised, so the inner product is the cosine similarity, and they are kept in
half precision (a faiss ``IndexScalarQuantizer`` with ``QT_fp16``: 2 bytes per dimension on disk
and in memory, searched exhaustively, exact up to float16 rounding — about 3e-5 on a cosine).
A large index is **partitioned** (:meth:`VectorIndex.partition`, ``genaudit index partition``):
the same float16 rows in an inverted file (``IndexIVFScalarQuantizer``) whose lists are the
k-means cells of a sample of the rows; a search scans only the ``nprobe`` cells nearest the query,
so its cost no longer grows with every row, at a measured loss of recall
(``benchmarks/memorization_vectors_scale.py``). Each row then costs 16 bytes more (its id in its
list, and its place in the direct map that :meth:`VectorIndex.vectors` reads).
The index records which model, weights (sha256) and input size made the vectors; a query must be
embedded the same way (checked by :func:`~genaudit.memorization.build.embedder_for` and
:class:`~genaudit.memorization.search.NearCopySearch`).

>>> import numpy as np
>>> spec = EmbeddingSpec(model="test", sha256="0" * 64, input_size=224, dim=4, regions=("whole", "left"))
>>> vi = VectorIndex(spec)
>>> rows = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]].reshape(2, 2, 4)  # 2 items × 2 regions
>>> vi.add(rows)
>>> ids, sims, regions = vi.search(np.array([[0.0, 0.0, 1.0, 0.0]], np.float32), k=2)
>>> int(ids[0, 0]), round(float(sims[0, 0]), 3), regions[0][0]
(1, 1.0, 'whole')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

REGIONS: dict[str, tuple[float, float, float, float]] = {
    "whole": (0.0, 1.0, 0.0, 1.0),
    "center": (0.125, 0.875, 0.125, 0.875),
    "left": (0.0, 1.0, 0.0, 0.5),
    "right": (0.0, 1.0, 0.5, 1.0),
    "top": (0.0, 0.5, 0.0, 1.0),
    "bottom": (0.5, 1.0, 0.0, 1.0),
}
"""Named regions of a training item as (top, bottom, left, right) fractions of its height and
width: the whole item, its central 75% (what a 25% crop resized to fit keeps), and its halves."""

DEFAULT_REGIONS = tuple(REGIONS)


def parse_regions(text: str | Sequence[str]) -> tuple[str, ...]:
    """Region names from ``"whole,left"`` or a sequence; ``"all"`` is every region. ``whole`` is
    always included, first.

    >>> parse_regions("left, whole")
    ('whole', 'left')
    """
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if names == ["all"]:
        return DEFAULT_REGIONS
    bad = [n for n in names if n not in REGIONS]
    if bad:
        raise ValueError(f"unknown region(s) {', '.join(bad)}; choose from {', '.join(REGIONS)} or all")
    return ("whole", *dict.fromkeys(n for n in names if n != "whole"))


def region_crop(image: Any, region: str) -> Any:
    """The named region of a PIL image or array, as a PIL image (``whole``: the image itself)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    if region == "whole":
        return image
    top, bottom, left, right = REGIONS[region]
    w, h = image.size

    def at(f: float, n: int) -> int:  # half up (round() would round 7.5 and 52.5 both to even)
        return int(f * n + 0.5)

    x0, y0 = at(left, w), at(top, h)
    return image.crop((x0, y0, max(at(right, w), x0 + 1), max(at(bottom, h), y0 + 1)))


@dataclass(frozen=True)
class EmbeddingSpec:
    """How the vectors of an index were made: a query must be embedded the same way."""

    model: str
    sha256: str
    input_size: int
    dim: int
    regions: tuple[str, ...] = ("whole",)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "regions": list(self.regions), "dtype": "float16",
                "bytes_per_item": 2 * self.dim * len(self.regions)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbeddingSpec:
        return cls(model=str(d["model"]), sha256=str(d["sha256"]), input_size=int(d["input_size"]),
                   dim=int(d["dim"]), regions=tuple(d["regions"]))

    @classmethod
    def of(cls, embedder: Any, regions: Sequence[str] = DEFAULT_REGIONS) -> EmbeddingSpec:
        """The spec of vectors made by ``embedder`` (an :class:`~genaudit.features.embedding.ImageEmbedder`)."""
        info = embedder.model_info()
        return cls(model=str(info["name"]), sha256=str(info["sha256"]), input_size=int(embedder.input_size),
                   dim=int(embedder.dim), regions=parse_regions(regions))


def embed_items(embedder: Any, images: Sequence[Any], regions: Sequence[str]) -> np.ndarray:
    """(n, R, dim) float32 vectors of every region of every image (PIL or arrays)."""
    if not len(images):
        return np.zeros((0, len(regions), embedder.dim), np.float32)
    crops = [region_crop(im, r) for im in images for r in regions]
    return embedder.embed(crops).reshape(len(images), len(regions), -1)


PARTITION_ROWS = 50_000
"""Rows from which ``genaudit index build`` partitions the vectors by default: an exhaustive search
of 50,000 rows of 1,280 float16 dimensions costs about 20 ms of one core per query vector, as much
as embedding the query at 112 px, and grows with every row."""


def default_nprobe(lists: int) -> int:
    """Cells a search scans by default: 1/16 of them (the setting measured in docs/benchmarks.md)."""
    return max(1, lists // 16)


def auto_partition(rows: int, *, any_size: bool = False) -> tuple[int, int] | None:
    """Default (lists, nprobe) for ``rows`` vectors: None (exhaustive) below :data:`PARTITION_ROWS`
    unless ``any_size``; else about √rows cells, a power of two (1,024 at 1M rows, 4,096 at 10M),
    with :func:`default_nprobe` of them scanned.

    >>> auto_partition(20_000) is None, auto_partition(60_000), auto_partition(1_000_000)
    (True, (256, 16), (1024, 64))
    >>> auto_partition(20_000, any_size=True)
    (128, 8)
    """
    if rows < PARTITION_ROWS and not any_size:
        return None
    lists = max(1, 1 << round(float(np.log2(np.sqrt(max(rows, 1))))))
    return lists, default_nprobe(lists)


class VectorIndex:
    """The stored vectors of an index's items (every region), searchable by cosine similarity."""

    def __init__(self, spec: EmbeddingSpec, faiss_index: Any = None) -> None:
        import faiss

        self.spec = spec
        self._faiss: Any = faiss_index if faiss_index is not None else faiss.IndexScalarQuantizer(
            spec.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        if self._faiss.d != spec.dim:
            raise ValueError(f"vector index has dimension {self._faiss.d}, the spec says {spec.dim}")
        if self._faiss.ntotal % len(spec.regions):
            raise ValueError("vector index rows are not a whole number of items")

    def __len__(self) -> int:
        """Items (not rows)."""
        return int(self._faiss.ntotal) // len(self.spec.regions)

    @property
    def nbytes(self) -> int:
        """Bytes the rows take (float16 vectors, plus ids and direct map when partitioned)."""
        per_row = 2 * self.spec.dim + (16 if self.partitioned else 0)
        return per_row * int(self._faiss.ntotal)

    @property
    def partitioned(self) -> bool:
        """Whether the rows are in an inverted file (searched approximately, :meth:`partition`)."""
        return hasattr(self._faiss, "nlist")

    @property
    def lists(self) -> int:
        """Cells of the inverted file (0: exhaustive search)."""
        return int(self._faiss.nlist) if self.partitioned else 0

    @property
    def nprobe(self) -> int:
        """Cells a search scans (0: exhaustive search)."""
        return int(self._faiss.nprobe) if self.partitioned else 0

    def describe(self) -> dict[str, Any]:
        """How the vectors are searched, for reports: ``exact`` or ``ivf`` with its lists and nprobe."""
        return ({"search": "ivf", "lists": self.lists, "nprobe": self.nprobe} if self.partitioned
                else {"search": "exact"})

    def partition(self, lists: int, nprobe: int, *, seed: int = 0, train_size: int | None = None,
                  batch: int = 65_536) -> None:
        """Move the rows into an inverted file of ``lists`` cells, ``nprobe`` of them scanned per
        search. The cells are k-means centroids of ``train_size`` rows drawn with ``seed`` (default
        64 per cell, at most all rows); rows are moved ``batch`` at a time (one float32 copy of a
        batch at once), so memory peaks at the two float16 copies. Rows keep their order: item
        ``i`` region ``r`` is still row ``i·R + r``. An inverted file is partitioned anew from its
        own rows (to change the number of cells); changing only ``nprobe`` is :meth:`set_nprobe`."""
        import faiss

        n = int(self._faiss.ntotal)
        if lists < 1 or nprobe < 1:
            raise ValueError(f"need lists ≥ 1 and nprobe ≥ 1, got {lists} and {nprobe}")
        if n < lists:
            raise ValueError(f"cannot cut {n} rows into {lists} cells: use fewer lists (at most one per row)")
        m = min(n, train_size or 64 * lists)
        sample = np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
        train = self._rows(sample)
        ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(self.spec.dim), self.spec.dim, int(lists),
                                            faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = int(seed)
        ivf.by_residual = False  # rows stored as they are: the same float16 values as the exhaustive index
        ivf.train(train)
        ivf.set_direct_map_type(faiss.DirectMap.Array)  # type: ignore[attr-defined]
        ivf.nprobe = min(int(nprobe), int(lists))
        self._move_rows(ivf, batch)

    def unpartition(self, batch: int = 65_536) -> None:
        """Move the rows back to an exhaustive (exact) index, in their order."""
        import faiss

        self._move_rows(faiss.IndexScalarQuantizer(self.spec.dim, faiss.ScalarQuantizer.QT_fp16,
                                                   faiss.METRIC_INNER_PRODUCT), batch)

    def _move_rows(self, target: Any, batch: int) -> None:
        """Copy every row, in order, into the empty (trained) faiss index ``target``, ``batch`` rows
        at a time, and search that index from now on."""
        n = int(self._faiss.ntotal)
        for a in range(0, n, batch):
            target.add(self._rows(np.arange(a, min(n, a + batch))))
        self._faiss = target

    def set_nprobe(self, nprobe: int) -> None:
        """Cells a search of a partitioned index scans (more: slower, closer to exact)."""
        if not self.partitioned:
            raise ValueError("the vectors are searched exhaustively: partition them first")
        if nprobe < 1:
            raise ValueError(f"need nprobe ≥ 1, got {nprobe}")
        self._faiss.nprobe = min(int(nprobe), self.lists)

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._faiss.reconstruct_batch(np.asarray(rows, dtype=np.int64)), dtype=np.float32)

    def add(self, vectors: np.ndarray) -> None:
        """Append items' vectors, (n, R, dim) with R = the spec's regions, L2-normalised rows."""
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 3 or v.shape[1:] != (len(self.spec.regions), self.spec.dim):
            raise ValueError(f"need vectors of shape (n, {len(self.spec.regions)}, {self.spec.dim}), got {v.shape}")
        if len(v):
            self._faiss.add(np.ascontiguousarray(v.reshape(-1, self.spec.dim)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """The ``k`` most similar items of each query (each item once, by its most similar region):
        (ids (Q, k), similarities (Q, k), region names); rows padded with id −1 / similarity −2."""
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        n_items = len(self)
        R = len(self.spec.regions)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        sims = np.full((len(q), k), -2.0, dtype=np.float32)
        names: list[list[str]] = [[] for _ in q]
        if not len(q) or not n_items:
            return ids, sims, names
        kk = min(k * R, n_items * R)  # enough rows for k distinct items, whatever the regions
        sim_rows, row_ids = self._faiss.search(q, kk)
        for row in range(len(q)):
            seen: set[int] = set()
            for d, r in zip(sim_rows[row], row_ids[row], strict=True):
                if r < 0:
                    continue
                item = int(r) // R
                if item in seen:
                    continue
                seen.add(item)
                j = len(seen) - 1
                ids[row, j], sims[row, j] = item, d
                names[row].append(self.spec.regions[int(r) % R])
                if len(seen) == k:
                    break
        return ids, sims, names

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """(len(ids), R, dim) float32 vectors of items ``ids`` (decoded from float16)."""
        R = len(self.spec.regions)
        rows = (np.asarray(ids, dtype=np.int64)[:, None] * R + np.arange(R)[None, :]).ravel()
        if not len(rows):
            return np.zeros((0, R, self.spec.dim), np.float32)
        return self._rows(rows).reshape(len(ids), R, self.spec.dim)

    def to_bytes(self) -> bytes:
        return bytes(self.serialized())

    def serialized(self) -> memoryview:
        """The faiss index's bytes, without the copy that :meth:`to_bytes` makes."""
        import faiss

        return memoryview(faiss.serialize_index(self._faiss).data)

    @classmethod
    def from_bytes(cls, spec: EmbeddingSpec, blob: bytes | memoryview) -> VectorIndex:
        import faiss

        return cls(spec, faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8)))


__all__ = ["DEFAULT_REGIONS", "PARTITION_ROWS", "REGIONS", "EmbeddingSpec", "VectorIndex", "auto_partition",
           "default_nprobe", "embed_items", "parse_regions", "region_crop"]
