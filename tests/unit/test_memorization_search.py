"""The near-copy search engine (genaudit.memorization.search), used without a scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genaudit.errors import ConfigError
from genaudit.features.embedding import ImageEmbedder
from genaudit.features.hashing import hash_images
from genaudit.memorization import TrainingIndex, matching_ids
from genaudit.memorization.search import NearCopySearch, SearchParams
from genaudit.memorization.sources import SourceImages
from genaudit.registry import create_check
from genaudit.samples import photo_crops
from genaudit.watermark import attacks


@pytest.fixture(scope="module")
def embedder() -> ImageEmbedder:
    return ImageEmbedder()


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [im for _, im in photo_crops(96, 6, seed=41)]


def indexed(photos: list[np.ndarray], root: Path, missing: int | None = None) -> TrainingIndex:
    root.mkdir(exist_ok=True)
    sources = []
    for i, p in enumerate(photos):
        path = root / f"t{i}.png"
        if i != missing:
            Image.fromarray(p).save(path)
        sources.append(str(path))
    index = TrainingIndex(("phash", "dhash"))
    index.add({f: hash_images(photos, f) for f in index.families}, sources)
    return index


def test_edited_copy_matches_its_source_and_scores_are_consistent(photos: list[np.ndarray], embedder: ImageEmbedder,
                                                                  tmp_path: Path) -> None:
    index = indexed(photos, tmp_path)
    search = NearCopySearch(index, SearchParams(candidates=4, align_top=3), embedder=embedder)
    copy = attacks.apply("rotate_5", photos[2], seed=0)
    [found, other] = search.search([copy, np.full((50, 70, 3), 128, np.uint8)])
    assert found.reranked and not found.errors
    assert [c["source"] for c in found.matches] == [index.sources[2]]
    assert found.hashes["phash"] == f"{int(hash_images([copy])[0]):016x}"
    assert found.registered == 3 == sum(c["aligned"] is not None for c in found.candidates)
    # the engine's verdicts are the rule's verdicts on its own (rounded) scores
    scored = [(c["id"], c["hash_distance"].get("phash", 65), c["similarity"], c["aligned"]) for c in found.candidates]
    assert matching_ids(scored, **search.params.rule()) == {2}
    assert other.matches == [] and len(other.candidates) == len(photos)


def test_unreadable_training_item_is_reported_once_and_never_raised(photos: list[np.ndarray], embedder: ImageEmbedder,
                                                                   tmp_path: Path) -> None:
    index = indexed(photos, tmp_path, missing=1)
    search = NearCopySearch(index, SearchParams(candidates=6, align_top=6), embedder=embedder)
    [found] = search.search([photos[1]])
    assert len(found.errors) == 1 and found.errors[0].startswith(index.sources[1])   # stages 2 and 3: one note
    missing = next(c for c in found.candidates if c["id"] == 1)
    assert missing["similarity"] is None and missing["aligned"] is None
    assert missing["match"] and missing["hash_distance"]["phash"] == 0            # an exact copy by hash alone


def test_empty_index_and_bad_parameters() -> None:
    [found] = NearCopySearch(TrainingIndex(("phash",))).search([np.zeros((20, 20, 3), np.uint8)])
    assert found.candidates == [] and found.hashes == {"phash": "0000000000000000"} and not found.reranked
    with pytest.raises(ValueError, match=r"candidates must be in 1\.\.1000"):
        SearchParams(candidates=0)
    with pytest.raises(ConfigError, match=r"invalid options for check .memorization.: align_top must be in 1\.\.1000"):
        create_check("memorization", {"align_top": 0})


def test_the_checks_options_are_the_search_params_plus_its_own() -> None:
    from dataclasses import fields

    from genaudit.checks.memorization import MemorizationOptions

    assert issubclass(MemorizationOptions, SearchParams)   # one definition of the search options
    engine = {f.name: f.default for f in fields(SearchParams)}
    assert {f.name: f.default for f in fields(MemorizationOptions)} == {
        **engine, "index": None, "rerank": True, "report": 3}
    assert set(engine) == {"candidates", "neighbours", "exact_radius", "similarity", "aligned", "support", "align_top",
                           "aligned_margin", "align", "margin"}
    opts = MemorizationOptions(index="x.gaidx", candidates=7, aligned=0.99, rerank=False)
    assert opts.search_params() == SearchParams(candidates=7, aligned=0.99)
    assert type(opts.search_params()) is SearchParams
    with pytest.raises(ValueError, match="candidates must be in"):
        MemorizationOptions(index="x.gaidx", candidates=0)


class CountingEmbedder:
    """The real embedder, counting the images it is given."""

    def __init__(self, inner: ImageEmbedder) -> None:
        self.inner = inner
        self.images = 0

    def embed(self, images: list) -> np.ndarray:
        self.images += len(images)
        return self.inner.embed(images)


class CountingSources(SourceImages):
    """The real loader (keeping no decoded image), counting how often each training item is loaded."""

    def __init__(self) -> None:
        super().__init__(size=0)
        self.loads: dict[str, int] = {}

    def _load(self, source: str) -> Any:
        self.loads[source] = self.loads.get(source, 0) + 1
        return super()._load(source)


def test_training_items_are_loaded_and_embedded_once_across_calls(embedder: ImageEmbedder, tmp_path: Path) -> None:
    train = [im for _, im in photo_crops(48, 80, seed=5)]
    index = indexed(train, tmp_path)
    counting, loader = CountingEmbedder(embedder), CountingSources()
    search = NearCopySearch(index, SearchParams(candidates=40, align_top=8), embedder=counting, sources=loader)
    copies = [attacks.apply("rotate_5", train[i], seed=0) for i in (0, 1, 40)]
    first = search.search(copies)
    assert [m.matches[0]["id"] for m in first] == [0, 1, 40]
    seen = {c["source"] for m in first for c in m.candidates}
    assert len(seen) > 64                                  # more training items than a small image cache holds
    assert loader.loads == dict.fromkeys(seen, 1)           # every candidate loaded once, for all three stages
    assert counting.images == 2 * len(copies) + len(seen)   # queries + mirror images + each candidate once
    counting.images = 0
    again = search.search([copies[1], copies[0][:, ::-1]])   # the same candidates (a mirror image has its image's)
    assert {c["source"] for m in again for c in m.candidates} <= seen
    assert counting.images == 2 * 2                        # only the two queries and their mirror images
    assert loader.loads == dict.fromkeys(seen, 1)           # no training item loaded again
    assert again[0].candidates == first[1].candidates       # the same answer from the cache
    assert again[1].matches[0]["id"] == 0 and again[1].matches[0]["mirrored"]
