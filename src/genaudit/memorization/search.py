"""Near-copy search: which training items of an index does each image (nearly) copy?

Stage 1 — hashes: the image and its mirror image are hashed with every family of the index, and
the ``candidates`` nearest training items per family are taken (exact k-NN in Hamming space).
Stage 2 — embedding (with an embedder): the candidates are loaded from their sources
(:class:`~genaudit.memorization.sources.SourceImages`) and compared with the image in
EfficientNet-Lite0 feature space (cosine similarity, the larger of image and mirror image).
Stage 3 — registration (``align``): the ``align_top`` most similar candidates are warped onto the
image over a small rotation × zoom × mirror × shift search and correlated
(:mod:`genaudit.memorization.align`). Last, the verdict rule (:func:`~genaudit.memorization.rule.matching_ids`)
marks the matches. Training items recur across queries, so each is loaded once and its embedding
and thumbnail are kept by id (bounded, least recently used dropped first); a training item that
cannot be loaded is reported, never raised.

>>> import numpy as np
>>> from genaudit.features.hashing import hash_images
>>> from genaudit.memorization.index import TrainingIndex
>>> rng = np.random.default_rng(0)
>>> train = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
>>> index = TrainingIndex(("phash",))
>>> _ = index.add({"phash": hash_images(train, "phash")}, ["a.png", "b.png", "c.png"])
>>> found = NearCopySearch(index, SearchParams(align=False)).search([train[1], train[2][:, ::-1]])
>>> [(m.matches[0]["source"], m.matches[0]["mirrored"]) for m in found]
[('b.png', False), ('c.png', True)]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .index import TrainingIndex
from .rule import match_order, matching_ids
from .sources import SourceImages

NO_DISTANCE = 65
"""Hash distance of a candidate that the index's first family did not find (more than 64 bits)."""


@dataclass(frozen=True)
class SearchParams:
    """How candidates are found, scored and judged (the memorization check's options of the same names)."""

    candidates: int = 10
    """Nearest training items per hash family (and per mirror image) passed to the reranker."""
    neighbours: int = 10
    """Nearest training items by stored embedding (per orientation) added to the candidates, when
    the index stores embeddings: near-copies that no hash finds (crops, halves, rotations)."""
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

    def __post_init__(self) -> None:
        if not 1 <= int(self.candidates) <= 1000:
            raise ValueError("candidates must be in 1..1000")
        if not 0 <= int(self.neighbours) <= 1000:
            raise ValueError("neighbours must be in 0..1000")
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

    def rule(self) -> dict[str, Any]:
        """The verdict rule's thresholds, as :func:`~genaudit.memorization.rule.matching_ids` keywords.

        >>> SearchParams().rule()["aligned_margin"]
        0.01
        """
        return {"exact_radius": self.exact_radius, "similarity": self.similarity, "margin": self.margin,
                "aligned": self.aligned, "support": self.support, "aligned_margin": self.aligned_margin}


@dataclass(frozen=True)
class ImageMatches:
    """One image's search result.

    ``candidates``: every candidate, matches first, then best first (:func:`~genaudit.memorization.rule.match_order`),
    each ``{"id", "source", "hash_distance": {family: bits}, "mirrored" (when the first family found
    it: whether the mirror image was nearer), "similarity", "aligned", "match"}`` with None for a
    score a stage did not compute. ``errors``: training items that could not be loaded.
    """

    hashes: dict[str, str]
    candidates: list[dict[str, Any]]
    reranked: bool
    errors: list[str] = field(default_factory=list)

    @property
    def matches(self) -> list[dict[str, Any]]:
        """The matching candidates, best first."""
        return [c for c in self.candidates if c["match"]]

    @property
    def registered(self) -> int:
        """How many candidates stage 3 registered."""
        return sum(c["aligned"] is not None for c in self.candidates)


Record = tuple["np.ndarray | None", "np.ndarray | None"]
"""What a search keeps of a training item: its embedding (stage 2, when the index stores none) and
its thumbnails (stage 3: (regions, size, size), one per region of the index's embedding spec, or
the whole item only), None where the search does not need it."""


class NearCopySearch:
    """Searches images (PIL or uint8 arrays) against ``index``; ``embedder`` (an object with
    ``embed(images) -> (n, d)`` L2-normalised rows, e.g. :class:`genaudit.features.embedding.ImageEmbedder`)
    enables stage 2; without it, candidates are scored by hash distance and registration only.

    Training-side work is done once per item for the life of the search (the memorization check
    holds one search per process, so an :class:`~genaudit.Auditor` keeps it as long as it lives):
    an item is loaded from its source once, and its embedding and thumbnail are computed from that
    one load and kept (:attr:`cache_items`); decoded training images are not kept."""

    CACHE_ITEMS = 20_000
    """Default of :attr:`cache_items`: training items whose embedding (1,280 float32: 5,120 bytes)
    and registration thumbnail (32² float32: 4,096 bytes) are kept, least recently used dropped
    first; about 9.2 kB an item, 184 MB when full. With stored vectors no embedding is kept, but a
    thumbnail per region (32² float16 each: 12,288 bytes for six regions, 246 MB when full)."""
    ORIENTATION_GAP = 0.05
    """With stored vectors, a candidate is registered in one orientation only when the image's and
    its mirror image's similarities to it differ by at least this much (else in both)."""
    LOAD_CHUNK = 64
    """Training items decoded at a time (their images are dropped once embedded and reduced)."""

    def __init__(self, index: TrainingIndex, params: SearchParams | None = None, *, embedder: Any = None,
                 align: Any = None, sources: SourceImages | None = None, cache_items: int | None = None) -> None:
        from .align import AlignParams

        self.index = index
        self.params = params or SearchParams()
        self.embedder = embedder
        spec = index.embedding
        made_by = (getattr(embedder, "sha256", None), getattr(embedder, "input_size", None))
        if spec is not None and embedder is not None and made_by != (spec.sha256, spec.input_size):
            raise ValueError(f"the index's embeddings were made by {spec.model} (weights sha256 {spec.sha256[:12]}…,"
                             f" input {spec.input_size} px); the embedder given differs: its vectors would not compare")
        self.stored = spec is not None and embedder is not None
        """Stage 2 uses the index's stored vectors (and its nearest-neighbour search) instead of
        embedding the candidates at query time."""
        self.regions: tuple[str, ...] = spec.regions if spec is not None else ("whole",)
        self.align = align or AlignParams()
        self.cache_items = self.CACHE_ITEMS if cache_items is None else int(cache_items)
        if self.cache_items < 0:
            raise ValueError("cache_items must be >= 0")
        # IDX files are kept whole by the loader; decoded images are not: the records below are.
        self._sources = sources if sources is not None else SourceImages(size=0)
        self._items: OrderedDict[int, Record] = OrderedDict()

    def search(self, images: Sequence[Any]) -> list[ImageMatches]:
        """Candidates, scores and verdicts of each image, in order."""
        from PIL import Image, ImageOps

        pils = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        mirrors = [ImageOps.mirror(p) for p in pils]
        cand, own_hash, codes = self._hash_candidates(pils, mirrors)
        errors: list[list[str]] = [[] for _ in pils]
        items: dict[int, Record] = {}
        region_of: list[dict[int, int]] = [{} for _ in pils]
        orientation: list[dict[int, bool | None]] | None = None
        if self.stored:  # stage 2 from the stored vectors: nothing is loaded
            sims, region_of, orientation = self._stored_similarities(pils, mirrors, cand, codes)
        else:
            if self.embedder is not None:  # stage 2 needs every candidate: load and reduce each once
                rows_of: dict[int, list[int]] = {}
                for row, c in enumerate(cand):
                    for i in c:
                        rows_of.setdefault(i, []).append(row)
                items = self._items_for(sorted(rows_of), rows_of, errors)
            sims = self._similarities(pils, mirrors, cand, items)
        aligned = (self._register(pils, cand, sims, region_of, orientation, items, errors) if self.params.align
                   else [{} for _ in pils])
        first = self.index.families[0]
        rule = self.params.rule()
        out = []
        for row in range(len(pils)):
            scored = [(i, c["hash_distance"].get(first, NO_DISTANCE), sims[row].get(i), aligned[row].get(i))
                      for i, c in cand[row].items()]
            hits = matching_ids(scored, **rule)
            scored.sort(key=lambda c: (c[0] not in hits, match_order(c)))
            items_out = [{**cand[row][i], "similarity": None if sim is None else round(sim, 4),
                          "aligned": None if al is None else round(al, 4), "match": i in hits,
                          **({"region": self.regions[region_of[row][i]]} if i in region_of[row] else {})}
                         for i, _, sim, al in scored]
            out.append(ImageMatches({f: own_hash[f][row] for f in own_hash}, items_out, self.embedder is not None,
                                    errors[row]))
        return out

    def _hash_candidates(self, pils: Sequence[Any], mirrors: Sequence[Any]
                         ) -> tuple[list[dict[int, dict[str, Any]]], dict[str, list[str]],
                                    dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Stage 1: each image's candidates by id (nearest distance per family), its own hashes (hex)
        and, per family, the codes of the images and of their mirror images."""
        from ..features.hashing import hash_images, to_hex

        first = self.index.families[0]
        cand: list[dict[int, dict[str, Any]]] = [{} for _ in pils]
        own_hash: dict[str, list[str]] = {}
        codes_of: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for fam in self.index.families:
            hidx = self.index.indexes[fam]
            k = min(self.params.candidates, len(self.index))
            q = hash_images(pils, fam)
            qm = hash_images(mirrors, fam)
            own_hash[fam] = [to_hex(c) for c in q]
            codes_of[fam] = (q, qm)
            if k == 0:
                continue
            for codes, mirrored in ((q, False), (qm, True)):
                ids, dists = hidx.knn(codes, k)
                for row in range(len(pils)):
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
        return cand, own_hash, codes_of

    def _embed_both(self, pils: Sequence[Any], mirrors: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of the images and of their mirror images, in one batch."""
        assert self.embedder is not None
        both = self.embedder.embed([*pils, *mirrors])
        return both[:len(pils)], both[len(pils):]

    def _stored_similarities(self, pils: Sequence[Any], mirrors: Sequence[Any], cand: list[dict[int, dict[str, Any]]],
                             codes: dict[str, tuple[np.ndarray, np.ndarray]]
                             ) -> tuple[list[dict[int, float]], list[dict[int, int]], list[dict[int, bool | None]]]:
        """Stage 2 with stored vectors: the ``neighbours`` nearest items of the image and of its
        mirror image join the hash candidates (with their true hash distances), and every
        candidate's similarity is the largest cosine over its regions and the two orientations.
        Returns the similarities, each candidate's best region and the orientation to register it
        in (True: mirrored, False: as is, None: both — the embeddings do not tell)."""
        vectors = self.index.vectors
        assert vectors is not None and self.embedder is not None
        q_emb, m_emb = self._embed_both(pils, mirrors)
        if self.params.neighbours:
            for emb in (q_emb, m_emb):
                found, _, _ = vectors.search(emb, self.params.neighbours)
                for row in range(len(pils)):
                    for i in found[row]:
                        if i >= 0 and int(i) not in cand[row]:
                            cand[row][int(i)] = self._embedding_candidate(int(i), codes, row)
        sims: list[dict[int, float]] = [{} for _ in pils]
        region_of: list[dict[int, int]] = [{} for _ in pils]
        orientation: list[dict[int, bool | None]] = [{} for _ in pils]
        for row in range(len(pils)):
            ids = list(cand[row])
            if not ids:
                continue
            V = vectors.vectors(ids)  # (n, regions, dim)
            direct, mirror = V @ q_emb[row], V @ m_emb[row]
            s = np.minimum(np.maximum(direct, mirror), 1.0)  # (n, regions); float16 storage can pass 1
            best = s.argmax(axis=1)
            sims[row] = {i: float(s[j, best[j]]) for j, i in enumerate(ids)}
            region_of[row] = {i: int(best[j]) for j, i in enumerate(ids)}
            # the orientation to register, when the embeddings clearly tell (symmetric content does not)
            gap = mirror[np.arange(len(ids)), best] - direct[np.arange(len(ids)), best]
            orientation[row] = {i: (None if abs(gap[j]) < self.ORIENTATION_GAP else bool(gap[j] > 0))
                                for j, i in enumerate(ids)}
        return sims, region_of, orientation

    def _embedding_candidate(self, i: int, codes: dict[str, tuple[np.ndarray, np.ndarray]], row: int
                             ) -> dict[str, Any]:
        """A candidate found by its embedding: its hash distances to the image (the nearer of image
        and mirror image, per family) are computed, so the verdict rule sees true values."""
        first = self.index.families[0]
        c: dict[str, Any] = {"id": i, "source": self.index.sources[i], "hash_distance": {}}
        for fam in self.index.families:
            code = int(self.index.indexes[fam].codes[i])
            q, qm = (int(x[row]) for x in codes[fam])
            d, dm = (code ^ q).bit_count(), (code ^ qm).bit_count()
            c["hash_distance"][fam] = min(d, dm)
            if fam == first:
                c["mirrored"] = dm < d
        return c

    def _similarities(self, pils: Sequence[Any], mirrors: Sequence[Any], cand: list[dict[int, dict[str, Any]]],
                      items: dict[int, Record]) -> list[dict[int, float]]:
        """Stage 2: cosine similarity of each candidate to the image or its mirror image (the larger)."""
        sims: list[dict[int, float]] = [{} for _ in pils]
        if self.embedder is None:
            return sims
        q_emb, m_emb = self._embed_both(pils, mirrors)
        for row in range(len(pils)):
            embs = {i: e for i in cand[row] if i in items and (e := items[i][0]) is not None}
            keep = list(embs)
            if keep:
                mat = np.stack(list(embs.values()))
                s = np.maximum(mat @ q_emb[row], mat @ m_emb[row])
                sims[row] = {i: float(v) for i, v in zip(keep, s, strict=True)}
        return sims

    def _register(self, pils: Sequence[Any], cand: list[dict[int, Any]], sims: list[dict[int, float]],
                  region_of: list[dict[int, int]], orientation: list[dict[int, bool | None]] | None,
                  items: dict[int, Record], errors: list[list[str]]) -> list[dict[int, float]]:
        """Stage 3: aligned correlation of each image's ``align_top`` best candidates (with stored
        vectors: against the whole item and, when another region was more similar, that region
        too — the better of the two — in the orientation the embeddings found)."""
        from .align import aligned_correlation, grey_thumbnail

        first = self.index.families[0]

        def ranked(row: int) -> list[int]:  # most similar first (by hash distance without stage 2)
            return sorted(cand[row], key=lambda i: (-sims[row].get(i, -2.0),
                                                    cand[row][i]["hash_distance"].get(first, NO_DISTANCE)))

        best = [ranked(row)[:self.params.align_top] for row in range(len(pils))]
        if self.embedder is None or self.stored:  # stage 2 loaded nothing: load the registered candidates now
            rows_of: dict[int, list[int]] = {}
            for row, ids in enumerate(best):
                for i in ids:
                    rows_of.setdefault(i, []).append(row)
            items = self._items_for(sorted(rows_of), rows_of, errors)
        out: list[dict[int, float]] = []
        for row, pil in enumerate(pils):
            # each candidate against its whole item and, when another region was the most similar,
            # that region too: the region's embedding can win on an edit that keeps the whole
            # (a rotation), where only the whole item registers
            pairs = [(i, r) for i in best[row] if i in items and items[i][1] is not None
                     for r in dict.fromkeys((0, region_of[row].get(i, 0)))]
            thumbs = [items[i][1][r] for i, r in pairs]  # type: ignore[index]
            mirrored = [orientation[row][i] for i, _ in pairs] if orientation is not None else None
            scores = aligned_correlation(grey_thumbnail(pil, self.align.size), thumbs, self.align, mirrored)
            got: dict[int, float] = {}
            for (i, _), v in zip(pairs, scores, strict=True):
                got[i] = max(got.get(i, -1.0), float(v))
            out.append(got)
        return out

    def _items_for(self, ids: Sequence[int], rows_of: dict[int, list[int]], errors: list[list[str]]
                   ) -> dict[int, Record]:
        """The records of training items ``ids``: kept ones, and the others loaded from their sources
        (once, :attr:`LOAD_CHUNK` at a time), embedded in batches (with an embedder) and reduced to
        thumbnails (when registering). An item that cannot be loaded is left out, noted in the
        errors of the rows ``rows_of[i]``."""
        from .align import grey_thumbnail
        from .vectors import region_crop

        out: dict[int, Record] = {}
        todo = []
        for i in ids:
            rec = self._items.get(i)
            if rec is None:
                todo.append(i)
            else:
                self._items.move_to_end(i)
                out[i] = rec
        for a in range(0, len(todo), self.LOAD_CHUNK):
            loaded, keep = [], []
            for i in todo[a:a + self.LOAD_CHUNK]:
                img = self._training_image(i, errors, rows_of[i])
                if img is not None:
                    loaded.append(img)
                    keep.append(i)
            if not keep:
                continue
            embs = (list(self.embedder.embed(loaded)) if self.embedder is not None and not self.stored
                    else [None] * len(keep))
            for i, img, e in zip(keep, loaded, embs, strict=True):
                thumbs = (np.stack([grey_thumbnail(region_crop(img, r), self.align.size) for r in self.regions])
                          if self.params.align else None)
                if thumbs is not None and self.stored:  # one per region: half the memory (NCC moves < 1e-3)
                    thumbs = thumbs.astype(np.float16)
                out[i] = (e, thumbs)
                self._items[i] = out[i]
                if len(self._items) > self.cache_items:
                    self._items.popitem(last=False)
        return out

    def training_image(self, i: int) -> Any:
        """Training item ``i`` (an index id) as a PIL image, loaded from its source; ``None`` when
        it cannot be read."""
        return self._training_image(i, [[]], [0])

    def _training_image(self, i: int, errors: list[list[str]], rows: Sequence[int]) -> Any:
        """Training item ``i`` as loaded from its source, or None after noting why in those rows'
        errors (once per row). Never raises."""
        try:
            return self._sources.get(self.index.sources[i])
        except Exception as exc:  # noqa: BLE001 - a missing training file must not stop the scan
            msg = f"{self.index.sources[i]}: {exc}"
            for row in rows:
                if msg not in errors[row]:
                    errors[row].append(msg)
            return None
