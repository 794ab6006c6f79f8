"""``memorization`` check: does a generated image (nearly) copy an item of the training set?

Stage 1 — hashes: the image and its mirror image are hashed with every family of the index
(``genaudit index build``), and the ``candidates`` nearest training items per family are taken
(exact k-NN in Hamming space). Stage 2 — embedding: the candidates are loaded from their sources
and compared with the image in EfficientNet-Lite0 feature space (cosine similarity, the larger of
image and mirror image). Stage 3 — registration: the ``align_top`` most similar candidates are
warped onto the image over a small rotation × zoom × mirror × shift search and correlated
(:mod:`genaudit.memorization.align`); a copy agrees pixel for pixel once the edit is undone, a
look-alike does not. A candidate is a match when its hash distance is at most ``exact_radius``
(a near-exact copy), or its aligned correlation is at least ``aligned``, or its similarity is at
least ``similarity`` with an aligned correlation of at least ``support``. The summary gives the
memorization rate (share of audited images with a match) with a Wilson 95% interval, overall and
per generator (the ``genaudit:model`` PNG text chunk that ``genaudit models sample`` writes, else
the image's folder).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import LoadedImage
from ..memorization.rule import match_order, matching_ids
from ..memorization.sources import SourceImages
from ..memorization.stats import wilson_interval
from ..results import CheckResult
from .base import Check


@dataclass(frozen=True)
class MemorizationOptions:
    index: str | None = None
    """Index file written by ``genaudit index build`` (required to run)."""
    candidates: int = 10
    """Nearest training items per hash family (and per mirror image) passed to the reranker."""
    exact_radius: int = 2
    """Hash distance (bits, first family) at or below which a candidate is a match without reranking."""
    similarity: float = 0.94
    """Embedding cosine similarity at or above which a candidate is a match."""
    aligned: float = 0.98
    """Aligned correlation (stage 3) at or above which a candidate is a match; above 1 turns it off."""
    support: float = 0.95
    """Aligned correlation a candidate also needs to match by embedding similarity (0: none)."""
    align_top: int = 8
    """Candidates registered in stage 3: the most similar by embedding (by hash distance without it)."""
    aligned_margin: float = 0.01
    """With a margin > 0, only the best aligned candidate can match by aligned correlation, and only
    when it leads the next registered candidate by this much."""
    align: bool = True
    """Run stage 3 (False: hash distance and embedding similarity only)."""
    margin: float = 0.0
    """With a margin > 0, only the most similar candidate can match by similarity, and only when it
    is at least this much more similar than the next one (a copy has one source; a merely similar
    item has many look-alikes)."""
    rerank: bool = True
    """Use the embedding stage (False: hash distance only)."""
    report: int = 3
    """Closest training items listed per image."""

    def __post_init__(self) -> None:
        if not 1 <= int(self.candidates) <= 1000:
            raise ValueError("candidates must be in 1..1000")
        if not 0 <= int(self.exact_radius) <= 64:
            raise ValueError("exact_radius must be in 0..64")
        if not -1.0 <= float(self.similarity) <= 1.0:
            raise ValueError("similarity must be in [-1, 1]")
        if not 0.0 <= float(self.margin) <= 2.0:
            raise ValueError("margin must be in [0, 2]")
        if not -1.0 <= float(self.aligned) <= 2.0 or not -1.0 <= float(self.support) <= 1.0:
            raise ValueError("aligned must be in [-1, 2] and support in [-1, 1]")
        if not 1 <= int(self.align_top) <= 1000:
            raise ValueError("align_top must be in 1..1000")


class MemorizationCheck(Check):
    name = "memorization"
    version = "1"
    description = "near-copies of training images: hash candidates from an index, embedding rerank"
    Options = MemorizationOptions
    batched = True
    EMBEDDING_CACHE = 20_000
    """Training-item embeddings kept in memory per worker (1280 floats each)."""

    def __init__(self, options: Any = None, *, seed: int = 0) -> None:
        super().__init__(options, seed=seed)
        self.index: Any = None
        if self.options.index:
            from ..memorization.index import IndexFileError, TrainingIndex

            if not os.path.isfile(self.options.index):
                raise ConfigError(f"memorization index {self.options.index} not found"
                                  " (build one with `genaudit index build SRC... -o IDX`)")
            try:
                self.index = TrainingIndex.load(self.options.index)
            except IndexFileError as exc:
                raise ConfigError(str(exc)) from None
        self._embedder: Any = None
        self._sources = SourceImages(size=64)
        self._emb_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._thumbs: OrderedDict[int, np.ndarray] = OrderedDict()
        from ..memorization.align import AlignParams

        self._align = AlignParams()

    def params(self) -> dict[str, Any]:
        d = dict(super().params())
        if self.index is not None:
            d["index_items"] = len(self.index)
            d["index_families"] = list(self.index.families)
        return d

    def models(self) -> list[dict[str, Any]]:
        if not self.options.rerank:
            return []
        from ..features.embedding import ImageEmbedder

        try:
            return [ImageEmbedder().model_info()]
        except (FileNotFoundError, RuntimeError):
            return []

    def setup(self) -> None:
        if self.index is not None and self.options.rerank:
            from ..features.embedding import ImageEmbedder

            self._embedder = ImageEmbedder()

    def run(self, image: LoadedImage) -> CheckResult:
        return self.run_batch([image])[0]

    def run_batch(self, images: Sequence[LoadedImage]) -> list[CheckResult]:
        from PIL import ImageOps

        from ..features.hashing import hash_images, to_hex

        if self.index is None:
            return [CheckResult.skipped(self.name, "no training index configured (use --index IDX or"
                                                   " -O memorization.index=IDX)") for _ in images]
        if len(self.index) == 0:
            return [CheckResult.skipped(self.name, "the training index is empty") for _ in images]
        opt = self.options
        pils = [im.pil for im in images]
        mirrors = [ImageOps.mirror(p) for p in pils]
        first = self.index.families[0]
        cand: list[dict[int, dict[str, Any]]] = [{} for _ in images]
        own_hash: dict[str, list[str]] = {}
        for fam in self.index.families:
            hidx = self.index.indexes[fam]
            k = min(opt.candidates, len(self.index))
            q = hash_images(pils, fam)
            qm = hash_images(mirrors, fam)
            own_hash[fam] = [to_hex(c) for c in q]
            for codes, mirrored in ((q, False), (qm, True)):
                ids, dists = hidx.knn(codes, k)
                for row in range(len(images)):
                    for i, d in zip(ids[row], dists[row], strict=True):
                        if i < 0:
                            continue
                        c = cand[row].setdefault(int(i), {"id": int(i), "source": self.index.sources[int(i)]})
                        c.setdefault("hash_distance", {})
                        prev = c["hash_distance"].get(fam)
                        if prev is None or d < prev:
                            c["hash_distance"][fam] = int(d)
                            if fam == first:
                                c["mirrored"] = mirrored
        sims: list[dict[int, float]] = [{} for _ in images]
        errors: list[list[str]] = [[] for _ in images]
        if self._embedder is not None:
            q_emb = self._embedder.embed(pils)
            m_emb = self._embedder.embed(mirrors)
            self._embed_training({i for row in cand for i in row}, errors, cand)
            for row in range(len(images)):
                keep = [i for i in cand[row] if i in self._emb_cache]
                if keep:
                    e = np.stack([self._emb_cache[i] for i in keep])
                    s = np.maximum(e @ q_emb[row], e @ m_emb[row])
                    sims[row] = {i: float(v) for i, v in zip(keep, s, strict=True)}
        aligned = self._register(pils, cand, sims, errors) if opt.align else [{} for _ in images]
        results = []
        for row in range(len(images)):
            scored = [(i, c["hash_distance"].get(first, 65), sims[row].get(i), aligned[row].get(i))
                      for i, c in cand[row].items()]
            hits = matching_ids(scored, opt.exact_radius, opt.similarity, opt.margin, opt.aligned, opt.support,
                                 opt.aligned_margin)
            scored.sort(key=lambda c: (c[0] not in hits, match_order(c)))
            items = []
            for i, _, sim, al in scored:
                items.append({**cand[row][i], "similarity": None if sim is None else round(sim, 4),
                              "aligned": None if al is None else round(al, 4), "match": i in hits})
            matches = [c for c in items if c["match"]]
            data = {"hashes": {f: own_hash[f][row] for f in own_hash}, "closest": items[:opt.report],
                    "matches": len(matches), "candidates": len(items), "reranked": self._embedder is not None,
                    "registered": sum(c["aligned"] is not None for c in items),
                    "generator": _generator_of(images[row])}
            if errors[row]:
                data["unreadable_training_items"] = errors[row][:5]
            if matches:
                best = matches[0]
                sim_txt = f", similarity {best['similarity']:.3f}" if best["similarity"] is not None else ""
                if best["aligned"] is not None:
                    sim_txt += f", aligned correlation {best['aligned']:.3f}"
                results.append(CheckResult.finding(
                    self.name, data, summary=f"near-copy of training item {best['source']} (hash distance "
                                             f"{best['hash_distance'].get(first)}{sim_txt})"))
            else:
                results.append(CheckResult.ok(self.name, data, summary="no near-copy of a training item"))
        return results

    def _register(self, pils: Sequence[Any], cand: list[dict[int, Any]], sims: list[dict[int, float]],
                  errors: list[list[str]]) -> list[dict[int, float]]:
        """Stage 3: aligned correlation of each image's ``align_top`` best candidates."""
        from ..memorization.align import aligned_correlation, grey_thumbnail

        size = self._align.size
        out: list[dict[int, float]] = []
        first = self.index.families[0]
        for row, pil in enumerate(pils):
            best = sorted(cand[row], key=lambda i: (-sims[row].get(i, -2.0),
                                                    cand[row][i]["hash_distance"].get(first, 65)))
            ids, thumbs = [], []
            for i in best[:self.options.align_top]:
                t = self._thumbs.get(i)
                if t is None:
                    img = self._training_image(i, errors, [row])
                    if img is None:
                        continue
                    t = grey_thumbnail(img, size)
                    self._remember(self._thumbs, i, t)
                ids.append(i)
                thumbs.append(t)
            scores = aligned_correlation(grey_thumbnail(pil, size), thumbs, self._align)
            out.append({i: float(v) for i, v in zip(ids, scores, strict=True)})
        return out

    def _embed_training(self, ids: set[int], errors: list[list[str]], cand: list[dict[int, Any]]) -> None:
        """Embeddings of training items, cached by id (training items recur across queries)."""
        todo = sorted(i for i in ids if i not in self._emb_cache)
        loaded, keep = [], []
        for i in todo:
            img = self._training_image(i, errors, [row for row, c in enumerate(cand) if i in c])
            if img is not None:
                loaded.append(img)
                keep.append(i)
        if keep:
            for i, e in zip(keep, self._embedder.embed(loaded), strict=True):
                self._remember(self._emb_cache, i, e)

    def _training_image(self, i: int, errors: list[list[str]], rows: Sequence[int]) -> Any:
        """Training item ``i`` as loaded from its source, or None after noting why in those rows'
        errors (once per row: stages 2 and 3 may both ask for it). Never raises."""
        try:
            return self._sources.get(self.index.sources[i])
        except Exception as exc:  # noqa: BLE001 - a missing training file must not stop the scan
            msg = f"{self.index.sources[i]}: {exc}"
            for row in rows:
                if msg not in errors[row]:
                    errors[row].append(msg)
            return None

    def _remember(self, cache: OrderedDict[int, np.ndarray], i: int, value: np.ndarray) -> None:
        """Keep a per-training-item result, dropping the oldest beyond ``EMBEDDING_CACHE`` items."""
        cache[i] = value
        if len(cache) > self.EMBEDDING_CACHE:
            cache.popitem(last=False)

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        groups: dict[str, list[int]] = {}
        total = [0, 0]
        for _, r in items:
            if r.status not in ("ok", "finding"):
                continue
            hit = int(r.status == "finding")
            g = groups.setdefault(str(r.data.get("generator") or "unknown"), [0, 0])
            g[0] += hit
            g[1] += 1
            total[0] += hit
            total[1] += 1

        def rate(k: int, n: int) -> dict[str, Any]:
            lo, hi = wilson_interval(k, n)
            return {"memorized": k, "audited": n, "rate": k / n if n else None, "ci95": [lo, hi]}

        return {"memorization_rate": rate(*total), "by_generator": {g: rate(*v) for g, v in sorted(groups.items())}}


def _generator_of(image: LoadedImage) -> str:
    model = image.metadata.text.get("genaudit:model") if image.metadata else None
    if model:
        return model
    if image.path:
        return os.path.basename(os.path.dirname(os.path.abspath(image.path))) or "unknown"
    return "in-memory"
