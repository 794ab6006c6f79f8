"""Perceptual hashes (phash, dhash, ahash, whash) in batches, bit-identical to ``imagehash``.

One implementation serves the ``phash`` check (any ``hash_size``, hex strings) and the
memorization index (64-bit codes packed in ``uint64``). Per image, only what must follow Pillow
exactly runs image by image: the greyscale conversion and the Lanczos down-scaling (``imagehash``
hashes Pillow's output, so any other resampler would give other bits). Everything after that —
DCT, medians, means, wavelets and comparisons — runs on the whole batch at once.

Bits are row-major, as ``imagehash``'s ``ImageHash.hash`` flattened: :func:`bits_to_hex` gives
``str(imagehash.<family>(img, hash_size))`` and a 64-bit code (:func:`hash_images`) has the first
bit as its most significant, so ``to_hex(code) == str(imagehash.phash(img))``.

>>> import numpy as np
>>> from PIL import Image
>>> import imagehash
>>> img = Image.fromarray((np.arange(64 * 48).reshape(48, 64) % 251).astype(np.uint8))
>>> to_hex(hash_images([img], "phash")[0]) == str(imagehash.phash(img))
True
>>> bits_to_hex(hash_bits([img], "dhash", hash_size=5))[0] == str(imagehash.dhash(img, hash_size=5))
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

FAMILIES: tuple[str, ...] = ("phash", "dhash", "ahash", "whash")
HASH_SIZE = 8
"""Bits per side of the hashes the index stores: 8 × 8 = 64-bit codes."""


def check_hash(family: str, hash_size: int = HASH_SIZE) -> None:
    """Raise ValueError for an unknown family or a size the family cannot hash at.

    >>> check_hash("whash", 6)
    Traceback (most recent call last):
    ...
    ValueError: whash needs a power-of-two hash_size, got 6
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown hash family {family!r}; choose from {', '.join(FAMILIES)}")
    if not isinstance(hash_size, (int, np.integer)) or hash_size < 2:
        raise ValueError(f"hash_size must be an integer of at least 2, got {hash_size!r}")
    if family == "whash" and hash_size & (hash_size - 1):
        raise ValueError(f"whash needs a power-of-two hash_size, got {hash_size}")


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


def _phash_bits(images: Sequence[Any], n: int) -> np.ndarray:
    import scipy.fftpack

    px = _resized(images, (n * 4, n * 4))
    dct = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=1), axis=2)
    low = dct[:, :n, :n].reshape(len(px), -1)
    return low > np.median(low, axis=1, keepdims=True)


def _dhash_bits(images: Sequence[Any], n: int) -> np.ndarray:
    px = _resized(images, (n + 1, n))
    return (px[:, :, 1:] > px[:, :, :-1]).reshape(len(px), -1)


def _ahash_bits(images: Sequence[Any], n: int) -> np.ndarray:
    px = _resized(images, (n, n))
    flat = px.reshape(len(px), -1)
    # imagehash: pixels > numpy.mean(pixels) on the 2-D array; the mean of a flat copy is the same value
    means = np.array([np.mean(p) for p in px])
    return flat > means[:, None]


def _whash_bits(images: Sequence[Any], n: int) -> np.ndarray:
    import pywt

    pils = [_as_pil(im) for im in images]
    scales = [max(2 ** int(np.log2(min(p.size))), n) for p in pils]
    out = np.empty((len(pils), n * n), dtype=bool)
    level = int(np.log2(n))
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


_BITS: dict[str, Callable[[Sequence[Any], int], np.ndarray]] = {
    "phash": _phash_bits, "dhash": _dhash_bits, "ahash": _ahash_bits, "whash": _whash_bits}


def _bit_batches(images: Iterable[Any], family: str, hash_size: int, batch_size: int) -> Iterator[np.ndarray]:
    check_hash(family, hash_size)
    batch: list[Any] = []
    for img in images:
        batch.append(img)
        if len(batch) == batch_size:
            yield _BITS[family](batch, hash_size)
            batch = []
    if batch:
        yield _BITS[family](batch, hash_size)


def hash_bits(images: Iterable[Any], family: str = "phash", hash_size: int = HASH_SIZE, *,
              batch_size: int = 4096) -> np.ndarray:
    """Hash bits of ``family`` for PIL images or uint8 arrays: booleans (n, hash_size²), row-major.

    ``hash_size`` is any integer ≥ 2 (a power of two for whash), as in ``imagehash``.

    >>> import numpy as np
    >>> hash_bits([np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))], "dhash", 3).astype(int)
    array([[1, 1, 1, 1, 1, 1, 1, 1, 1]])
    """
    out = list(_bit_batches(images, family, hash_size, batch_size))
    return np.concatenate(out) if out else np.empty((0, hash_size * hash_size), dtype=bool)


def hash_images(images: Iterable[Any], family: str = "phash", *, batch_size: int = 4096) -> np.ndarray:
    """64-bit codes (``HASH_SIZE`` = 8) of ``family`` for PIL images or uint8 arrays, as uint64.

    >>> import numpy as np
    >>> to_hex(hash_images([np.zeros((9, 9), np.uint8)], "ahash")[0])
    '0000000000000000'
    """
    out = [pack_bits(b) for b in _bit_batches(images, family, HASH_SIZE, batch_size)]
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans → uint64 codes, first bit most significant (imagehash's hex order)."""
    if bits.shape[1] != 64:
        raise ValueError("only 64-bit hashes pack into uint64 codes")
    return np.packbits(bits.astype(np.uint8), axis=1).view(">u8").ravel().astype(np.uint64)


def unpack_bits(codes: np.ndarray) -> np.ndarray:
    """uint64 codes → (n, 64) booleans (inverse of :func:`pack_bits`)."""
    return np.unpackbits(np.asarray(codes, dtype=">u8").view(np.uint8).reshape(-1, 8), axis=1).astype(bool)


def bits_to_hex(bits: np.ndarray) -> list[str]:
    """Each row of hash bits as ``imagehash`` writes it: the bits read as one binary number, first
    bit most significant, in ``ceil(bits / 4)`` hex digits (zero-padded).

    >>> import numpy as np
    >>> bits_to_hex(np.array([[1, 0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1, 1]], dtype=bool))
    ['101', '003']
    """
    b = np.asarray(bits, dtype=bool)
    if b.ndim != 2 or b.shape[1] == 0:
        raise ValueError("expected a non-empty (n, bits) array")
    width = -(-b.shape[1] // 4)
    padded = np.pad(b, ((0, 0), ((-b.shape[1]) % 8, 0)))  # leading zeros: whole bytes, same number
    return [row.tobytes().hex()[-width:] for row in np.packbits(padded, axis=1)]


def to_hex(code: int | np.integer) -> str:
    """imagehash's hex form of a 64-bit code.

    >>> to_hex(255)
    '00000000000000ff'
    """
    return f"{int(code):016x}"
