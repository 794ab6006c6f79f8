"""Perceptual hashes in batches, bit-identical to ``imagehash``, as uint64 codes.

Per image, only what must follow Pillow exactly runs image by image: the greyscale conversion and
the Lanczos down-scaling (``imagehash`` hashes Pillow's output, so any other resampler would give
other bits). Everything after that — DCT, medians, means, wavelets, comparisons and bit packing —
runs on the whole batch at once. A code packs the hash bits row-major with the first bit as the
most significant, so ``f"{code:016x}" == str(imagehash.phash(img))``.

>>> import numpy as np
>>> from PIL import Image
>>> import imagehash
>>> img = Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8))
>>> codes = hash_images([img], "phash")
>>> f"{int(codes[0]):016x}" == str(imagehash.phash(img))
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

FAMILIES: tuple[str, ...] = ("phash", "dhash", "ahash", "whash")
HASH_SIZE = 8


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown hash family {family!r}; choose from {', '.join(FAMILIES)}")


def _as_pil(obj: Any) -> Any:
    from PIL import Image

    if isinstance(obj, Image.Image):
        return obj
    a = np.asarray(obj)
    if a.dtype != np.uint8:
        raise ValueError(f"arrays must be uint8, got {a.dtype}")
    return Image.fromarray(a)


def _resized(images: Sequence[Any], size: tuple[int, int]) -> np.ndarray:
    """Greyscale + Lanczos resize exactly as imagehash does, stacked as (n, h, w) uint8."""
    from PIL import Image

    w, h = size
    out = np.empty((len(images), h, w), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(_as_pil(img).convert("L").resize((w, h), Image.Resampling.LANCZOS))
    return out


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans → uint64 codes, first bit most significant (imagehash's hex order)."""
    if bits.shape[1] != 64:
        raise ValueError("only 64-bit hashes pack into uint64 codes")
    return np.packbits(bits.astype(np.uint8), axis=1).view(">u8").ravel().astype(np.uint64)


def unpack_bits(codes: np.ndarray) -> np.ndarray:
    """uint64 codes → (n, 64) booleans (inverse of :func:`pack_bits`)."""
    return np.unpackbits(np.asarray(codes, dtype=">u8").view(np.uint8).reshape(-1, 8), axis=1).astype(bool)


def _phash_bits(images: Sequence[Any]) -> np.ndarray:
    import scipy.fftpack

    px = _resized(images, (HASH_SIZE * 4, HASH_SIZE * 4))
    dct = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=1), axis=2)
    low = dct[:, :HASH_SIZE, :HASH_SIZE].reshape(len(px), -1)
    return low > np.median(low, axis=1, keepdims=True)


def _dhash_bits(images: Sequence[Any]) -> np.ndarray:
    px = _resized(images, (HASH_SIZE + 1, HASH_SIZE))
    return (px[:, :, 1:] > px[:, :, :-1]).reshape(len(px), -1)


def _ahash_bits(images: Sequence[Any]) -> np.ndarray:
    px = _resized(images, (HASH_SIZE, HASH_SIZE))
    flat = px.reshape(len(px), -1)
    # imagehash: pixels > numpy.mean(pixels) on the 2-D array; the mean of a flat copy is the same value
    means = np.array([np.mean(p) for p in px])
    return flat > means[:, None]


def _whash_bits(images: Sequence[Any]) -> np.ndarray:
    import pywt

    pils = [_as_pil(im) for im in images]
    scales = [max(2 ** int(np.log2(min(p.size))), HASH_SIZE) for p in pils]
    out = np.empty((len(pils), HASH_SIZE * HASH_SIZE), dtype=bool)
    level = int(np.log2(HASH_SIZE))
    for scale in sorted(set(scales)):
        rows = [i for i, s in enumerate(scales) if s == scale]
        px = _resized([pils[i] for i in rows], (scale, scale)) / 255.0
        ll_max = int(np.log2(scale))
        coeffs = list(pywt.wavedec2(px, "haar", level=ll_max, axes=(1, 2)))
        coeffs[0] = coeffs[0] * 0
        px = pywt.waverec2(coeffs, "haar", axes=(1, 2))
        low = pywt.wavedec2(px, "haar", level=ll_max - level, axes=(1, 2))[0].reshape(len(rows), -1)
        out[rows] = low > np.median(low, axis=1, keepdims=True)
    return out


_BITS = {"phash": _phash_bits, "dhash": _dhash_bits, "ahash": _ahash_bits, "whash": _whash_bits}


def hash_images(images: Iterable[Any], family: str = "phash", *, batch_size: int = 4096) -> np.ndarray:
    """uint64 codes of ``family`` (phash, dhash, ahash, whash; 64 bits) for PIL images or uint8 arrays."""
    _check_family(family)
    out: list[np.ndarray] = []
    batch: list[Any] = []
    for img in images:
        batch.append(img)
        if len(batch) == batch_size:
            out.append(pack_bits(_BITS[family](batch)))
            batch = []
    if batch:
        out.append(pack_bits(_BITS[family](batch)))
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


def to_hex(code: int | np.integer) -> str:
    """imagehash's hex form of a 64-bit code."""
    return f"{int(code):016x}"
