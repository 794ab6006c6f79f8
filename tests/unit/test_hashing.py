"""Perceptual hashes (genaudit.features.hashing): bit-identical to imagehash at every hash size."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genaudit.datasets import load_fashion_mnist
from genaudit.features.hashing import (
    FAMILIES,
    bits_to_hex,
    check_hash,
    hash_bits,
    hash_images,
    pack_bits,
    to_hex,
    unpack_bits,
)
from genaudit.samples import photo_crops
from tests.corpus import photo

REFERENCE = {"phash": imagehash.phash, "dhash": imagehash.dhash, "ahash": imagehash.average_hash,
             "whash": imagehash.whash}
SIZES = (2, 3, 4, 5, 7, 8, 11, 16, 17, 32, 64)


def varied_images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    out = [Image.fromarray(x) for x in load_fashion_mnist("test")[0][:60]]
    out += [Image.fromarray(im) for _, im in photo_crops(160, 6, seed=5)]
    out += [Image.fromarray(rng.integers(0, 256, (int(rng.integers(9, 200)), int(rng.integers(9, 200)), 3),
                                         dtype=np.uint8)) for _ in range(15)]
    out += [Image.fromarray(np.full((40, 33), v, np.uint8)) for v in (0, 77, 255)]   # flat: all-equal medians
    out += [Image.fromarray(rng.integers(0, 256, (48, 64, 4), dtype=np.uint8), "RGBA"),
            Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (20, 1)))]
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_hashes_are_bit_identical_to_imagehash(family: str) -> None:
    images = varied_images()
    codes = hash_images(images, family, batch_size=17)  # batches of odd size mix image sizes
    assert [to_hex(c) for c in codes] == [str(REFERENCE[family](im)) for im in images]


def test_bit_packing_round_trip() -> None:
    codes = np.random.default_rng(3).integers(0, 2**64, 50, dtype=np.uint64, endpoint=False)
    assert np.array_equal(pack_bits(unpack_bits(codes)), codes)
    h = imagehash.phash(Image.fromarray(load_fashion_mnist("test")[0][0]))
    assert int(pack_bits(h.hash.reshape(1, -1))[0]) == int(str(h), 16)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FAMILIES), st.sampled_from(SIZES), st.sampled_from(["RGB", "L", "RGBA"]),
       st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300), st.integers(0, 10_000)), min_size=1, max_size=3),
       st.integers(1, 3))
def test_every_hash_size_and_odd_image_size_is_bit_identical_to_imagehash(
        family: str, size: int, mode: str, shapes: list[tuple[int, int, int]], batch_size: int) -> None:
    if family == "whash":
        size = 1 << (size.bit_length() - 1)   # whash: a power of two
    images = [photo(seed, (w, h)).convert(mode) for w, h, seed in shapes]
    bits = hash_bits(images, family, size, batch_size=batch_size)
    assert bits.shape == (len(images), size * size) and bits.dtype == bool
    assert bits_to_hex(bits) == [str(REFERENCE[family](im, hash_size=size)) for im in images]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_hex_form_is_imagehash_for_any_number_of_bits(bits: list[bool]) -> None:
    assert bits_to_hex(np.array([bits])) == [str(imagehash.ImageHash(np.array(bits)))]


def test_bad_families_and_sizes_are_refused() -> None:
    img = photo(1, (40, 40))
    for family, size, message in (("md5", 8, "unknown hash family"), ("phash", 1, "at least 2"),
                                  ("whash", 12, "power-of-two")):
        with pytest.raises(ValueError, match=message):
            hash_bits([img], family, size)
    with pytest.raises(ValueError, match="unknown hash family"):
        hash_images([img], "md5")
    check_hash("whash", 64)
    assert hash_bits([], "ahash", 4).shape == (0, 16) and hash_images([], "ahash").shape == (0,)
    with pytest.raises(ValueError, match="uint8"):
        hash_images([np.zeros((9, 9), np.float32)])
