"""Stored embeddings in a training index: made once at build time, searched by faiss, used by the
memorization check instead of embedding candidates at query time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genaudit.features.embedding import ImageEmbedder
from genaudit.features.hashing import hash_images
from genaudit.memorization import TrainingIndex
from genaudit.memorization.build import build_index, embed_index
from genaudit.memorization.index import INDEX_MAGIC, IndexFileError
from genaudit.memorization.search import NearCopySearch, SearchParams
from genaudit.memorization.sources import SourceImages
from genaudit.memorization.vectors import EmbeddingSpec, VectorIndex, parse_regions, region_crop
from genaudit.samples import photo_crops
from tests.conftest import CliRunner


@pytest.fixture(scope="module")
def embedder() -> ImageEmbedder:
    return ImageEmbedder(input_size=128)


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vectors") / "train"
    root.mkdir()
    for i, (_, im) in enumerate(photo_crops(96, 16, seed=61)):
        Image.fromarray(im).save(root / f"t{i:02d}.png")
    return root


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    v = rng.normal(size=shape).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_vector_index_returns_each_item_once_by_its_best_region() -> None:
    rng = np.random.default_rng(0)
    spec = EmbeddingSpec("test", "0" * 64, 224, 32, ("whole", "left", "top"))
    vi = VectorIndex(spec)
    items = _unit(rng, 50, 3, 32)
    vi.add(items)
    assert len(vi) == 50 and vi.nbytes == 50 * 3 * 32 * 2
    q = np.stack([items[7, 1], items[30, 2]])
    ids, sims, regions = vi.search(q, k=4)
    assert ids[0, 0] == 7 and regions[0][0] == "left" and sims[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert ids[1, 0] == 30 and regions[1][0] == "top"
    assert len(set(ids[0])) == 4  # distinct items, not the same item's regions
    exact = (items[ids[0, 1:]] @ q[0]).max(axis=1)  # the reported similarity is the best region's cosine
    assert np.allclose(sims[0, 1:], exact, atol=2e-3)
    assert np.allclose(vi.vectors([7, 30]), items[[7, 30]], atol=2e-3)  # float16 storage
    with pytest.raises(ValueError, match="shape"):
        vi.add(items[:, :2])
    ids, sims, _ = VectorIndex(spec).search(q, k=2)  # empty index: padded rows
    assert (ids == -1).all() and (sims == -2).all()


def test_regions_parse_and_crop() -> None:
    assert parse_regions("all")[0] == "whole" and len(parse_regions("all")) == 6
    assert parse_regions("top,whole,top") == ("whole", "top")
    with pytest.raises(ValueError, match="unknown region"):
        parse_regions("middle")
    img = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    left = np.asarray(region_crop(img, "left"))
    assert left.shape == (40, 30, 3) and np.array_equal(left, img[:, :30])
    assert np.asarray(region_crop(img, "center")).shape == (30, 45, 3)


def test_index_file_keeps_the_vectors_and_refuses_damaged_ones(train_dir: Path, embedder: ImageEmbedder,
                                                               tmp_path: Path) -> None:
    spec = EmbeddingSpec.of(embedder, ("whole", "left"))
    index, report = build_index([str(train_dir)], index=TrainingIndex(("phash",), embedding=spec), jobs=1)
    assert report.added == 16 and index.vectors is not None and len(index.vectors) == 16
    path = index.save(tmp_path / "i.gaidx")
    data = Path(path).read_bytes()
    header = json.loads(data[len(INDEX_MAGIC):data.index(b"\n", len(INDEX_MAGIC))])
    assert header["version"] == 3 and header["embedding"]["regions"] == ["whole", "left"]
    assert header["embedding"]["bytes_per_item"] == 2 * 2 * 1280 and header["embedding"]["input_size"] == 128
    again = TrainingIndex.load(path)
    assert again.embedding == spec
    assert again.vectors is not None
    # the stored vectors are the embedder's vectors of the items and their regions (float16)
    img = Image.open(train_dir / "t03.png")
    direct = embedder.embed([img, region_crop(img, "left")])
    pos = again.sources.index(str(train_dir / "t03.png"))
    assert np.allclose(again.vectors.vectors([pos])[0], direct, atol=2e-3)
    # a flipped byte in the vectors section is caught by its checksum
    broken = bytearray(data)
    broken[-100] ^= 0xFF
    (tmp_path / "b.gaidx").write_bytes(bytes(broken))
    with pytest.raises(IndexFileError, match="vectors"):
        TrainingIndex.load(tmp_path / "b.gaidx")


class CountingSources(SourceImages):
    def __init__(self) -> None:
        super().__init__(size=0)
        self.loads = 0

    def _load(self, source: str) -> Any:
        self.loads += 1
        return super()._load(source)


def test_search_uses_stored_vectors_and_finds_what_hashes_miss(train_dir: Path, embedder: ImageEmbedder) -> None:
    spec = EmbeddingSpec.of(embedder)
    index, _ = build_index([str(train_dir)], index=TrainingIndex(("phash",), embedding=spec), jobs=1)
    loader = CountingSources()
    search = NearCopySearch(index, SearchParams(candidates=2, align_top=2), embedder=embedder, sources=loader)
    src = np.asarray(Image.open(train_dir / "t05.png"))
    target = index.sources.index(str(train_dir / "t05.png"))
    half = np.ascontiguousarray(src[:, :48])
    rotated = np.asarray(Image.fromarray(src).rotate(10, resample=Image.Resampling.BICUBIC))
    unrelated = next(photo_crops(96, 1, seed=999))[1]
    mirrored = np.ascontiguousarray(rotated[:, ::-1])
    found = search.search([half, rotated, unrelated, mirrored])
    # the half is far from its source in hash space: only the embedding stage can bring it in
    hashed = index.indexes["phash"].knn(hash_images([Image.fromarray(half)], "phash"), 2)[0][0]
    assert target not in hashed
    assert [m["id"] for m in found[0].matches] == [target]
    assert found[0].matches[0]["region"] == "left"
    assert [m["id"] for m in found[1].matches] == [target]
    assert found[2].matches == []
    assert [m["id"] for m in found[3].matches] == [target] and found[3].matches[0]["aligned"] > 0.95
    # stage 2 loaded nothing: only the registered candidates were loaded (2 per query at most)
    assert loader.loads <= 2 * 4
    with pytest.raises(ValueError, match="would not compare"):
        NearCopySearch(index, embedder=ImageEmbedder(input_size=96))


def _scan_finds_half_of_t07(run_cli: CliRunner, train_dir: Path, index: Path, tmp_path: Path) -> None:
    """``genaudit scan`` of the left half of training item t07 flags t07 (report in tmp_path/rep)."""
    Image.open(train_dir / "t07.png").crop((0, 0, 48, 96)).save(tmp_path / "half.png")
    r = run_cli("scan", str(tmp_path / "half.png"), "--checks", "memorization", "--index", str(index), "--json", "-q",
                "--report-dir", str(tmp_path / "rep"))
    assert r.returncode == 1, r.stderr
    rec = json.loads(r.stdout.splitlines()[0])["checks"]["memorization"]
    assert rec["status"] == "finding" and rec["data"]["closest"][0]["source"].endswith("t07.png")


def test_cli_build_embed_migration_and_mismatch(run_cli: CliRunner, train_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.gaidx"
    r = run_cli("index", "build", str(train_dir), "-o", str(old), "--no-embed", "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert "no embeddings" in r.stdout and TrainingIndex.load(old).embedding is None
    r = run_cli("index", "embed", str(old), "--regions", "whole,left", "--embed-size", "128", "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    migrated = TrainingIndex.load(old)
    assert migrated.embedding is not None and migrated.embedding.regions == ("whole", "left")
    assert migrated.vectors is not None and len(migrated.vectors) == len(migrated) == 16
    r = run_cli("index", "embed", str(old), "-j", "1", "-q")
    assert r.returncode == 2 and "already stores embeddings" in r.stderr
    # adding items embeds them the same way
    extra = tmp_path / "extra"
    extra.mkdir()
    Image.fromarray(next(photo_crops(80, 1, seed=5))[1]).save(extra / "x.png")
    r = run_cli("index", "add", str(old), str(extra), "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    grown = TrainingIndex.load(old)
    assert grown.vectors is not None and len(grown.vectors) == 17
    # a half image of a training item is found through the CLI with the migrated index
    _scan_finds_half_of_t07(run_cli, train_dir, old, tmp_path)
    # vectors made by other weights cannot be compared: a configuration error before the scan
    fake = TrainingIndex.load(old)
    assert fake.vectors is not None
    fake.vectors = VectorIndex.from_bytes(EmbeddingSpec("efficientnet-lite0 (ImageNet)", "f" * 64, 128, 1280,
                                                        ("whole", "left")), fake.vectors.to_bytes())
    fake.save(tmp_path / "fake.gaidx")
    r = run_cli("scan", str(tmp_path / "half.png"), "--checks", "memorization", "--index", str(tmp_path / "fake.gaidx"),
                "-q", "--report-dir", str(tmp_path / "rep2"))
    assert r.returncode == 2 and "rebuild the index" in r.stderr


def test_migration_is_all_or_nothing(train_dir: Path, embedder: ImageEmbedder, tmp_path: Path) -> None:
    index, _ = build_index([str(train_dir)], jobs=1)
    index.sources[3] = str(tmp_path / "gone.png")
    with pytest.raises(Exception, match="could not be loaded"):
        embed_index(index, EmbeddingSpec.of(embedder, ("whole",)), jobs=1)
    assert index.vectors is None


def test_partitioned_vectors_search_like_exhaustive_ones_and_survive_saving() -> None:
    rng = np.random.default_rng(3)
    spec = EmbeddingSpec("test", "0" * 64, 224, 32, ("whole", "left"))
    centres = _unit(rng, 12, 32)  # clustered rows, as embeddings of a real training set are
    items = centres[rng.integers(0, 12, size=(600, 2))] + 0.3 * rng.normal(size=(600, 2, 32)).astype(np.float32)
    items /= np.linalg.norm(items, axis=-1, keepdims=True)
    exact = VectorIndex(spec)
    exact.add(items)
    part = VectorIndex.from_bytes(spec, exact.to_bytes())
    part.partition(16, 16)  # every cell scanned: the same answers as the exhaustive search
    assert part.partitioned and (part.lists, part.nprobe) == (16, 16) and not exact.partitioned
    assert part.describe() == {"search": "ivf", "lists": 16, "nprobe": 16} and exact.describe() == {"search": "exact"}
    assert part.nbytes == exact.nbytes + 16 * 1200
    q = _unit(rng, 40, 32)
    e_ids, e_sims, e_regions = exact.search(q, k=5)
    p_ids, p_sims, p_regions = part.search(q, k=5)
    assert np.array_equal(e_ids, p_ids) and np.allclose(e_sims, p_sims, atol=1e-5) and e_regions == p_regions
    # rows keep their order: an item's vectors are read back from the inverted file
    assert np.allclose(part.vectors([5, 599]), items[[5, 599]], atol=2e-3)
    # one cell scanned: a stored row is still found (its own cell is the one nearest to it)
    part.set_nprobe(1)
    ids, _, regions = part.search(items[[17, 333], 1], k=1)
    assert ids[:, 0].tolist() == [17, 333] and regions == [["left"], ["left"]]
    # the file keeps the cells and nprobe; rows added later go to their cells
    again = VectorIndex.from_bytes(spec, part.to_bytes())
    assert again.partitioned and (again.lists, again.nprobe) == (16, 1)
    extra = _unit(rng, 3, 2, 32)
    again.add(extra)
    assert len(again) == 603 and again.search(extra[[2], 0], k=1)[0][0, 0] == 602
    # and back to exhaustive search, same rows
    again.unpartition()
    assert not again.partitioned and np.allclose(again.vectors([5, 601]), np.stack([items[5], extra[1]]), atol=2e-3)
    with pytest.raises(ValueError, match="one per row"):
        VectorIndex.from_bytes(spec, exact.to_bytes()).partition(5000, 4)
    with pytest.raises(ValueError, match="partition them first"):
        exact.set_nprobe(4)


def test_cli_partitions_an_index_and_the_check_uses_it(run_cli: CliRunner, train_dir: Path, tmp_path: Path) -> None:
    idx = tmp_path / "p.gaidx"
    r = run_cli("index", "build", str(train_dir), "-o", str(idx), "--regions", "whole,left", "--embed-size", "128",
                "--partition", "4", "--nprobe", "2", "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert "ivf 4 lists, nprobe 2" in r.stdout
    built = TrainingIndex.load(idx)
    assert built.vectors is not None and (built.vectors.lists, built.vectors.nprobe) == (4, 2)
    # the half of a training item is found through the partitioned vectors, and the report says how
    _scan_finds_half_of_t07(run_cli, train_dir, idx, tmp_path)
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    [info] = [c for c in report["checks"] if c["name"] == "memorization"]
    assert info["params"]["index_vector_search"] == {"search": "ivf", "lists": 4, "nprobe": 2}
    # only nprobe changes; then back to exhaustive search; the items' vectors stay the same
    r = run_cli("index", "partition", str(idx), "--partition", "4", "--nprobe", "4")
    assert r.returncode == 0 and "nprobe 4" in r.stdout, r.stderr
    r = run_cli("index", "partition", str(idx), "--partition", "off")
    assert r.returncode == 0 and "exact search" in r.stdout, r.stderr
    flat = TrainingIndex.load(idx)
    assert flat.vectors is not None and not flat.vectors.partitioned
    assert np.allclose(flat.vectors.vectors([3]), built.vectors.vectors([3]), atol=1e-6)
    # a small index is left exhaustive by default, and bad values are refused before any work
    r = run_cli("index", "build", str(train_dir), "-o", str(tmp_path / "q.gaidx"), "--regions", "whole",
                "--embed-size", "128", "-j", "1", "-q")
    assert r.returncode == 0 and "exact search" in r.stdout, r.stderr
    # ... unless an nprobe is asked for: that is asking for a partitioned index
    r = run_cli("index", "build", str(train_dir), "-o", str(tmp_path / "n.gaidx"), "--regions", "whole",
                "--embed-size", "128", "--nprobe", "1", "-j", "1", "-q")
    assert r.returncode == 0 and "nprobe 1" in r.stdout, r.stderr
    n_index = TrainingIndex.load(tmp_path / "n.gaidx")
    assert n_index.vectors is not None and n_index.vectors.partitioned and n_index.vectors.nprobe == 1
    # an nprobe no search would use is refused before any work
    for extra in (["--partition", "off"], ["--no-embed"]):
        r = run_cli("index", "build", str(train_dir), "-o", str(tmp_path / "o.gaidx"), "--nprobe", "2", *extra, "-q")
        assert r.returncode == 2 and "--nprobe applies to" in r.stderr and not (tmp_path / "o.gaidx").exists()
    r = run_cli("index", "partition", str(idx), "--partition", "off", "--nprobe", "2")
    assert r.returncode == 2 and "--nprobe applies to" in r.stderr
    for bad in ("0", "many"):
        r = run_cli("index", "build", str(train_dir), "-o", str(tmp_path / "b.gaidx"), "--partition", bad, "-q")
        assert r.returncode == 2 and "--partition" in r.stderr and not (tmp_path / "b.gaidx").exists()
    r = run_cli("index", "partition", str(idx), "--partition", "99")
    assert r.returncode == 2 and "one per row" in r.stderr
