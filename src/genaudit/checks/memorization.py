"""``memorization`` check: does a generated image (nearly) copy an item of the training set?

An adapter over :class:`genaudit.memorization.search.NearCopySearch`, which does the work:

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from ..errors import ConfigError
from ..io import LoadedImage
from ..memorization.search import NearCopySearch, SearchParams
from ..results import CheckResult
from .base import Check, group_of
from .rates import finding_rates


@dataclass(frozen=True)
class MemorizationOptions(SearchParams):
    """The search engine's options (:class:`~genaudit.memorization.search.SearchParams`: same names,
    defaults and validation) plus the check's own."""

    index: str | None = None
    """Index file written by ``genaudit index build`` (required: without it, or with an empty index,
    the check is a configuration error at construction)."""
    rerank: bool = True
    """Use the embedding stage (False: hash distance only)."""
    report: int = 3
    """Closest training items listed per image."""

    def search_params(self) -> SearchParams:
        """The options of the search engine, as :class:`~genaudit.memorization.search.SearchParams`."""
        return SearchParams(**{f.name: getattr(self, f.name) for f in fields(SearchParams)})


class MemorizationCheck(Check):
    name = "memorization"
    version = "1"
    description = "near-copies of training images: hash candidates from an index, embedding rerank"
    Options = MemorizationOptions
    batched = True
    required: ClassVar[Mapping[str, str]] = {"index": "--index IDX or -O memorization.index=IDX"}

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        from ..memorization.index import IndexFileError, TrainingIndex

        path = self.options.index  # set: ``required`` made a missing index a ConfigError in super().__init__
        if not os.path.isfile(path):
            raise ConfigError(f"memorization index {path} not found"
                              " (build one with `genaudit index build SRC... -o IDX`)")
        try:
            self.index = TrainingIndex.load(path)
        except IndexFileError as exc:
            raise ConfigError(str(exc)) from None
        if len(self.index) == 0:
            raise ConfigError(f"memorization index {path} holds no training items"
                              " (rebuild it with `genaudit index build SRC... -o IDX`)")
        spec = self.index.embedding
        if spec is not None and self.options.rerank:
            from ..memorization.build import EmbeddingMismatchError, embedder_for

            try:
                embedder_for(spec)  # the installed weights must be the ones that made the stored vectors
            except (EmbeddingMismatchError, FileNotFoundError, RuntimeError) as exc:
                raise ConfigError(f"memorization index {path}: {exc}") from None
        self._search: NearCopySearch | None = None

    def params(self) -> dict[str, Any]:
        d = dict(super().params())
        d["index_items"] = len(self.index)
        d["index_families"] = list(self.index.families)
        d["index_sha256"] = self.index.file_sha256  # a rebuilt index changes the resume fingerprint
        spec = self.index.embedding
        d["index_embedding"] = None if spec is None else spec.to_dict()
        d["index_vector_search"] = None if self.index.vectors is None else self.index.vectors.describe()
        # stored: stage 2 reads the index's vectors and searches them; on-demand: an index without
        # vectors (older, or built with --no-embed) has its hash candidates embedded at query time
        d["embedding_stage"] = ("off" if not self.options.rerank else "stored" if spec is not None else "on-demand")
        return d

    def models(self) -> list[dict[str, Any]]:
        if not self.options.rerank:
            return []
        try:
            return [self._embedder().model_info()]
        except (FileNotFoundError, RuntimeError):
            return []

    def _embedder(self) -> Any:
        """The embedder of stage 2: the one that made the index's stored vectors (same weights, same
        input size), or the default one for an index without vectors."""
        spec = self.index.embedding
        if spec is not None:
            from ..memorization.build import embedder_for

            return embedder_for(spec)
        from ..features.embedding import ImageEmbedder

        return ImageEmbedder()

    def setup(self) -> None:
        embedder = self._embedder() if self.options.rerank else None
        self._search = NearCopySearch(self.index, self.options.search_params(), embedder=embedder)

    def run(self, image: LoadedImage) -> CheckResult:
        return self.run_batch([image])[0]

    def run_batch(self, images: Sequence[LoadedImage]) -> list[CheckResult]:
        self.ensure_setup()
        assert self._search is not None
        first = self.index.families[0]
        results = []
        for image, found in zip(images, self._search.search([im.pil for im in images]), strict=True):
            matches = found.matches
            data = {"hashes": found.hashes, "closest": found.candidates[:self.options.report],
                    "matches": len(matches), "candidates": len(found.candidates), "reranked": found.reranked,
                    "registered": found.registered, "generator": group_of(image)}
            if found.errors:
                results.append(self._unreadable(found.errors, data, matches))
            elif matches:
                best = matches[0]
                thumb = self._match_thumbnail(int(best["id"]))
                if thumb is not None:  # shown beside the image in the HTML report
                    data["match_thumbnail"] = thumb
                sim_txt = f", similarity {best['similarity']:.3f}" if best["similarity"] is not None else ""
                if best["aligned"] is not None:
                    sim_txt += f", aligned correlation {best['aligned']:.3f}"
                results.append(CheckResult.finding(
                    self.name, data, summary=f"near-copy of training item {best['source']} (hash distance "
                                             f"{best['hash_distance'].get(first)}{sim_txt})"))
            else:
                results.append(CheckResult.ok(self.name, data, summary="no near-copy of a training item"))
        return results

    def _match_thumbnail(self, item: int) -> str | None:
        """A 96-px thumbnail (``data:`` URI) of training item ``item``, made once per item and kept
        (bounded) like the search's own training-side work."""
        from collections import OrderedDict

        cache: OrderedDict[int, str | None] = self.__dict__.setdefault("_thumbs", OrderedDict())
        if item in cache:
            cache.move_to_end(item)
            return cache[item]
        assert self._search is not None
        image = self._search.training_image(item)
        from ..io import thumbnail_data_uri

        cache[item] = thumbnail_data_uri(image, 96) if image is not None else None
        if len(cache) > 4096:
            cache.popitem(last=False)
        return cache[item]

    def _unreadable(self, errors: list[str], data: dict[str, Any], matches: list[dict[str, Any]]) -> CheckResult:
        """An image some of whose candidates could not be loaded: the index and its training data
        disagree, so no verdict is given (``error``); what was found is kept in ``data``."""
        data["unreadable_training_items"] = errors
        reason = (f"{len(errors)} training item(s) among its candidates could not be read (rebuild the index or"
                  f" restore its training data): {'; '.join(errors[:3])}{'; ...' if len(errors) > 3 else ''}")
        if matches:
            reason += f"; it matches {', '.join(m['source'] for m in matches[:3])}"
        return CheckResult(self.name, "error", f"error: {reason}", data, reason)

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        unreadable: set[str] = set()
        affected = 0
        for _, r in items:
            lost = r.data.get("unreadable_training_items") or []
            unreadable.update(lost)
            affected += bool(lost)
        overall, by_generator = finding_rates(items, "memorized")
        return {"memorization_rate": overall, "by_generator": by_generator,
                "unreadable_training_items": len(unreadable), "images_with_unreadable_training_items": affected}
