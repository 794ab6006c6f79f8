"""The phash check gives exactly imagehash's hashes for the same image."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import genaudit
from genaudit.io import decode_bytes
from tests.corpus import encode, photo

ALL = ("phash", "dhash", "ahash", "whash")
REFERENCE = {"phash": imagehash.phash, "dhash": imagehash.dhash, "ahash": imagehash.average_hash,
             "whash": imagehash.whash}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(8, 300), st.integers(8, 300), st.sampled_from(["RGB", "L"]),
       st.sampled_from(["PNG", "JPEG"]))
def test_bit_identical_to_imagehash(seed: int, w: int, h: int, mode: str, fmt: str) -> None:
    data = encode(photo(seed, (w, h)).convert(mode), fmt)
    auditor = genaudit.Auditor(checks=("phash",), options={"phash": {"hashes": list(ALL)}})
    result = auditor.audit_image(data).result("phash")
    assert result is not None and result.status == "ok"
    original = Image.open(io.BytesIO(data))  # imagehash's own path: straight from the file
    for name in ALL:
        assert result.data[name] == str(REFERENCE[name](original)), name


def test_hash_size_changes_length_and_distance_reflects_similarity() -> None:
    auditor = genaudit.Auditor(checks=("phash",), options={"phash": {"hash_size": 16}})
    a = auditor.audit_image(photo(1, (200, 150))).result("phash")
    assert a is not None and len(a.data["phash"]) == 64 and a.data["bits"] == 256
    small = genaudit.Auditor(checks=("phash",))
    base = photo(7, (256, 256))
    near = base.resize((200, 200)).filter(__import__("PIL.ImageFilter").ImageFilter.GaussianBlur(1))
    far = photo(8, (256, 256))
    results = [small.audit_image(x).result("phash") for x in (base, near, far)]
    h = [imagehash.hex_to_hash(r.data["phash"]) for r in results if r is not None]
    assert h[0] - h[1] <= 6 < h[0] - h[2]


@pytest.mark.parametrize("size", [(1, 1), (7, 100), (100, 3)])
def test_too_small_images_are_skipped_with_reason(size: tuple[int, int]) -> None:
    r = genaudit.Auditor(checks=("phash",)).audit_image(np.zeros((size[1], size[0], 3), np.uint8)).result("phash")
    assert r is not None and r.status == "skipped"
    assert f"{size[0]}×{size[1]}" in (r.reason or "")


def test_summary_groups_identical_phashes(tmp_path: Path) -> None:
    for name, img in (("a.png", photo(1, (64, 64))), ("b.png", photo(1, (64, 64))), ("c.png", photo(2, (64, 64)))):
        (tmp_path / name).write_bytes(encode(img, "PNG"))
    report = genaudit.scan(tmp_path, checks=("phash",), jobs=1, report_dir=None)
    s = report.summary.checks["phash"]
    assert s["identical_phash_groups"] == 1 and s["files_in_identical_groups"] == 2
    assert [p.rsplit("/", 1)[-1] for p in s["largest_groups"][0]] == ["a.png", "b.png"]
    assert decode_bytes(encode(photo(1, (64, 64)), "PNG")).sha256 == report.files[0].sha256


@pytest.mark.parametrize("hash_size", [2, 5, 16, 64])
def test_every_hash_size_is_bit_identical_to_imagehash(hash_size: int) -> None:
    families = [h for h in ALL if h != "whash" or hash_size & (hash_size - 1) == 0]
    data = encode(photo(hash_size, (131, 97)), "PNG")
    result = genaudit.Auditor(checks=("phash",), options={"phash": {"hashes": families, "hash_size": hash_size}}
                              ).audit_image(data).result("phash")
    assert result is not None and result.status == "ok" and result.data["bits"] == hash_size ** 2
    original = Image.open(io.BytesIO(data))
    for name in families:
        assert result.data[name] == str(REFERENCE[name](original, hash_size=hash_size)), name
