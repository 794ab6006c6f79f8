"""Hamming index: exact against brute force, incremental adds, the checksummed index file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from genaudit.memorization.index import INDEX_MAGIC, INDEX_VERSION, HammingIndex, IndexFileError, TrainingIndex
from tests.conftest import CliRunner


def random_codes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)


def near(codes: np.ndarray, n_flips: int, seed: int) -> np.ndarray:
    """Copies of ``codes`` with exactly ``n_flips`` distinct bits flipped each."""
    rng = np.random.default_rng(seed)
    out = codes.copy()
    for i in range(len(out)):
        for b in rng.choice(64, n_flips, replace=False):
            out[i] ^= np.uint64(1) << np.uint64(b)
    return out


def brute(codes: np.ndarray, q: int, r: int) -> list[tuple[int, int]]:
    d = np.bitwise_count(codes ^ np.uint64(q)).astype(int)
    hits = np.nonzero(d <= r)[0]
    return sorted(((int(i), int(d[i])) for i in hits), key=lambda t: (t[1], t[0]))


@pytest.mark.parametrize("n", [500, 20_000])
def test_radius_search_equals_brute_force(n: int) -> None:
    codes = random_codes(n, seed=n)
    # cluster: many codes near a few centres, so radii catch real neighbours
    centres = codes[:20]
    codes[20:420] = near(np.repeat(centres, 20), 3, seed=1)
    index = HammingIndex(codes)
    assert (len(index.widths) > 0) == (n >= HammingIndex.BRUTE_FORCE_BELOW)
    queries = np.concatenate([near(centres, 2, seed=2), near(codes[500 % n:510 % n + 10][:10], 6, seed=3),
                              random_codes(10, seed=4)])
    index.add(near(centres, 1, seed=5))  # a delta the tables do not hold yet
    codes = np.concatenate([codes, near(centres, 1, seed=5)])
    for r in (0, 3, 4, 8, 12, 20):
        got = index.radius_search_batch(queries, r)
        for q, (ids, dists) in zip(queries, got, strict=True):
            assert list(zip(ids.tolist(), dists.tolist(), strict=True)) == brute(codes, int(q), r)
            ids1, dists1 = index.radius_search(q, r)  # one query at a time takes its own path
            assert np.array_equal(ids1, ids) and np.array_equal(dists1, dists)


def test_knn_matches_sorted_brute_force() -> None:
    codes = random_codes(30_000, seed=7)
    codes[:100] = near(np.repeat(codes[100:110], 10), 5, seed=8)
    index = HammingIndex(codes)
    queries = np.concatenate([near(codes[100:110], 1, seed=9), random_codes(5, seed=10)])
    ids, dists = index.knn(queries, k=7)
    for row, q in enumerate(queries):
        d = np.bitwise_count(codes ^ q).astype(int)
        order = np.lexsort((np.arange(len(codes)), d))[:7]
        assert ids[row].tolist() == order.tolist()
        assert dists[row].tolist() == d[order].tolist()
    small = HammingIndex(codes[:3])
    ids, dists = small.knn(queries[:1], k=5)
    assert ids[0, 3:].tolist() == [-1, -1] and dists[0, :3].max() <= 64


def test_incremental_add_equals_building_from_scratch(tmp_path: Path) -> None:
    a, b = random_codes(9_000, seed=11), random_codes(70_000, seed=12)
    b[:300] = near(a[:300], 4, seed=13)
    queries = np.concatenate([near(a[:50], 3, seed=14), near(b[1000:1050], 2, seed=15)])
    ti = TrainingIndex(("phash",))
    ti.add({"phash": a}, [f"a{i}" for i in range(len(a))])
    path = ti.save(tmp_path / "train.gaidx")
    loaded = TrainingIndex.load(path)
    loaded.add({"phash": b[:10]}, [f"b{i}" for i in range(10)])           # stays in the delta
    loaded.add({"phash": b[10:]}, [f"b{i}" for i in range(10, len(b))])  # triggers a rebuild
    scratch = HammingIndex(np.concatenate([a, b]))
    for r in (4, 8):
        inc = loaded.indexes["phash"].radius_search_batch(queries, r)
        ref = scratch.radius_search_batch(queries, r)
        for (i1, d1), (i2, d2) in zip(inc, ref, strict=True):
            assert i1.tolist() == i2.tolist() and d1.tolist() == d2.tolist()
    assert loaded.sources[len(a)] == "b0" and len(loaded) == len(a) + len(b)


def test_index_file_damage_is_an_error_never_an_answer(tmp_path: Path) -> None:
    ti = TrainingIndex(("phash", "dhash"))
    ti.add({"phash": random_codes(100, 1), "dhash": random_codes(100, 2)},
           [str(tmp_path / f"dir/näme {i}\n.png") for i in range(100)])
    path = Path(ti.save(tmp_path / "x.gaidx"))
    back = TrainingIndex.load(path)
    assert back.sources == ti.sources and back.families == ("phash", "dhash")
    assert np.array_equal(back.indexes["dhash"].codes, ti.indexes["dhash"].codes)
    data = path.read_bytes()

    flipped = bytearray(data)
    flipped[-40] ^= 0x01
    (tmp_path / "flip.gaidx").write_bytes(bytes(flipped))
    with pytest.raises(IndexFileError, match="corrupted"):
        TrainingIndex.load(tmp_path / "flip.gaidx")
    (tmp_path / "cut.gaidx").write_bytes(data[:-10])
    with pytest.raises(IndexFileError, match="truncated"):
        TrainingIndex.load(tmp_path / "cut.gaidx")
    (tmp_path / "v9.gaidx").write_bytes(data.replace(f'"version": {INDEX_VERSION}'.encode(), b'"version": 9', 1))
    with pytest.raises(IndexFileError, match="version 9"):
        TrainingIndex.load(tmp_path / "v9.gaidx")
    (tmp_path / "png.gaidx").write_bytes(b"\x89PNG\r\n\x1a\n" + data[:50])
    with pytest.raises(IndexFileError, match="not a genaudit hash index"):
        TrainingIndex.load(tmp_path / "png.gaidx")
    with pytest.raises(IndexFileError, match="cannot read"):
        TrainingIndex.load(tmp_path / "missing.gaidx")


def stored_sources(path: Path) -> list[str]:
    """The sources section of an index file, as written."""
    data = path.read_bytes()
    end = data.index(b"\n", len(INDEX_MAGIC))
    header = json.loads(data[len(INDEX_MAGIC):end])
    return json.loads(zlib.decompress(data[end + 1 + sum(s["bytes"] for s in header["sections"][:-1]):]))


def write_version_1(path: Path, codes: np.ndarray, sources: list[str]) -> None:
    """An index file as genaudit wrote it before version 2 (sources as given to the build)."""
    sections = [("codes:phash", codes.astype("<u8").tobytes()),
                ("sources", zlib.compress(json.dumps(sources).encode("ascii"), 6))]
    header = {"format": "genaudit-hash-index", "version": 1, "count": len(sources), "families": ["phash"],
              "hash_bits": 64, "sections": [{"name": n, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                                            for n, b in sections]}
    path.write_bytes(INDEX_MAGIC + json.dumps(header).encode() + b"\n" + b"".join(b for _, b in sections))


def test_sources_are_stored_relative_to_the_index_file_and_resolved_against_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = tmp_path / "a"
    (a / "idx").mkdir(parents=True)
    (a / "data").mkdir()
    monkeypatch.chdir(a / "data")
    ti = TrainingIndex(("phash",))
    ti.add({"phash": random_codes(4, 3)},
           ["x.png", str(a / "data" / "sub" / "y.png"), "extra-images-idx3-ubyte:4", "fashion-mnist:train:7"])
    path = Path(ti.save(a / "idx" / "t.gaidx"))
    assert stored_sources(path) == ["../data/x.png", "../data/sub/y.png", "../data/extra-images-idx3-ubyte:4",
                                    "fashion-mnist:train:7"]
    shutil.move(a, tmp_path / "b")            # the index and its data move together
    b = tmp_path / "b"
    moved = TrainingIndex.load(b / "idx" / "t.gaidx")
    assert moved.sources == [str(b / "data" / "x.png"), str(b / "data" / "sub" / "y.png"),
                             str(b / "data" / "extra-images-idx3-ubyte:4"), "fashion-mnist:train:7"]
    monkeypatch.chdir(b / "data" / "..")      # a relative index path: sources relative to the working directory
    rel = TrainingIndex.load(os.path.join("idx", "t.gaidx"))
    assert rel.sources[:3] == ["data/x.png", "data/sub/y.png", "data/extra-images-idx3-ubyte:4"]
    assert [os.path.abspath(s) for s in rel.sources[:3]] == moved.sources[:3]


def test_a_version_1_index_is_read_with_its_sources_as_stored_and_saved_as_version_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "idx").mkdir()
    monkeypatch.chdir(tmp_path)
    write_version_1(tmp_path / "idx" / "old.gaidx", random_codes(2, 5), ["train/x.png", "/abs/y.png"])
    old = TrainingIndex.load(tmp_path / "idx" / "old.gaidx")
    assert old.sources == ["train/x.png", "/abs/y.png"]         # relative to the working directory, as in v1
    old.save(tmp_path / "idx" / "old.gaidx")                     # e.g. after `genaudit index add`
    assert stored_sources(tmp_path / "idx" / "old.gaidx")[0] == "../train/x.png"
    assert TrainingIndex.load(tmp_path / "idx" / "old.gaidx").sources == [str(tmp_path / "train" / "x.png"),
                                                                          "/abs/y.png"]


def test_query_index_is_exact_and_is_what_index_query_prints(run_cli: CliRunner, tmp_path: Path) -> None:
    from PIL import Image

    from genaudit.features.hashing import hash_images
    from genaudit.io import open_image
    from genaudit.memorization import query_index
    from genaudit.samples import photo_crops

    photos = [im for _, im in photo_crops(64, 6, seed=17)]
    index = TrainingIndex(("phash", "dhash"))
    index.add({f: hash_images(photos[:5], f) for f in index.families}, [str(tmp_path / f"t{i}.png") for i in range(5)])
    idx = index.save(tmp_path / "t.gaidx")
    Image.fromarray(photos[2]).resize((50, 50)).save(tmp_path / "copy.png")
    Image.fromarray(photos[5]).save(tmp_path / "other.png")
    queries = [open_image(str(tmp_path / n)).pil for n in ("copy.png", "other.png")]
    found = query_index(index, queries, radius=8, k=3)
    codes = index.indexes["phash"].codes
    for res, q in zip(found, hash_images(queries, "phash"), strict=True):
        d = np.bitwise_count(codes ^ q).astype(int)
        by_distance = sorted(range(len(codes)), key=lambda i: (d[i], i))
        assert res.family == "phash" and res.hash == f"{int(q):016x}" and res.radius == 8
        assert [(n.id, n.distance) for n in res.matches] == [(i, d[i]) for i in by_distance if d[i] <= 8]
        assert [(n.id, n.distance) for n in res.nearest] == [(i, d[i]) for i in by_distance[:3]]
        assert all(n.source == index.sources[n.id] for n in res.matches + res.nearest)
    assert [n.source for n in found[0].matches][:1] == [str(tmp_path / "t2.png")]
    for name, res in zip(("copy.png", "other.png"), found, strict=True):
        path = str(tmp_path / name)
        r = run_cli("index", "query", idx, path, "--radius", "8", "-k", "3", "--json")
        assert json.loads(r.stdout) == {"path": path, "status": "match" if res.matches else "no_match",
                                        **res.to_dict()}
        r = run_cli("index", "query", idx, path, "--radius", "8", "-k", "3")
        assert r.stdout == (f"{path}: {len(res.matches)} within 8 bits; nearest {res.nearest[0].source}"
                            f" at {res.nearest[0].distance}\n")
