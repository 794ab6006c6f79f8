"""Low-level traces of image generators: neighbouring-pixel relations, gradient and intensity
statistics, and the radial power spectrum, as one fixed-length vector per image.

Generators paint pixels through upsampling layers (transposed convolutions, nearest or bilinear
upsampling, patch unembeddings) and squash them through ``tanh``/``sigmoid`` and a quantiser; the
traces are in how neighbouring pixels relate, not in what the image shows. Following NPR
(Tan et al., CVPR 2024, "Rethinking the up-sampling operations in CNN-based generative network"),
each 2×2 block's pixels are compared with the block's anchor pixel; gradient histograms, intensity
histograms (exact black/white, the number of grey levels used) and the radial power spectrum add
what the quantiser and the frequency response leave behind.

Resize policy — the residual view never resamples (resampling erases these traces): the image is
converted to luminance (colour spread becomes features of its own), and an image larger than
:data:`MAX_SIDE` on a side is centre-cropped to it. Images smaller than :data:`MIN_SIDE` on a side
carry too few neighbouring pixels and are refused (:class:`TooSmallError`); everything in between
is used at its own size.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

VERSION = "npr-1"
MIN_SIDE = 8
MAX_SIDE = 256
_GRAD_EDGES = np.array([-1.0, -0.25, -0.1, -0.05, -0.02, -0.008, -0.002, 0.002, 0.008, 0.02, 0.05, 0.1, 0.25, 1.0])
_RADIAL_BINS = 8


class TooSmallError(ValueError):
    """The image is below :data:`MIN_SIDE` pixels on a side."""


def as_array(image: Any) -> np.ndarray:
    """A PIL image or array as a uint8 array, (H, W) or (H, W, 3) (alpha dropped, palette expanded)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA", "I", "I;16", "F") else "RGB")
        return np.asarray(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (1, 2):
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected an image array of shape (H, W) or (H, W, 3), got {arr.shape}")
    return arr


def check_size(arr: np.ndarray) -> None:
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise TooSmallError(f"{w}×{h} is too small for the detector (it needs at least {MIN_SIDE} px a side)")


def _centre_crop(arr: np.ndarray, side: int) -> np.ndarray:
    h, w = arr.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return arr[y:y + side, x:x + side]


def _hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin of ``edges`` (values outside counted in the end bins; bins
    closed on the left, the last also on the right — as ``np.histogram`` of the clipped values)."""
    v = values.ravel()
    at_or_above = np.array([v.size] + [np.count_nonzero(v >= e) for e in edges[1:-1]] + [0])
    return (at_or_above[:-1] - at_or_above[1:]) / max(v.size, 1)


@functools.lru_cache(maxsize=32)
def _rings(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The radial bin of each frequency of an ``h``×``w`` centred spectrum, and the bins' sizes."""
    yy, xx = np.indices((h, w))
    rad = np.hypot((yy - h // 2) / max(h / 2, 1), (xx - w // 2) / max(w / 2, 1))
    ring = np.minimum((rad / np.sqrt(2) * _RADIAL_BINS).astype(int), _RADIAL_BINS - 1).ravel()
    sizes = np.maximum(np.bincount(ring, minlength=_RADIAL_BINS), 1)
    ring.setflags(write=False)  # shared between calls (cached)
    sizes.setflags(write=False)
    return ring, sizes


def residual_features(image: Any) -> np.ndarray:
    """The feature vector (float32, :data:`DIM` values) of one image (PIL or uint8 array).

    >>> rng = np.random.default_rng(0)
    >>> f = residual_features(rng.integers(0, 256, (28, 28), dtype=np.uint8))
    >>> f.shape, f.dtype, bool(np.isfinite(f).all())
    ((66,), dtype('float32'), True)
    """
    arr = _centre_crop(as_array(image), MAX_SIDE)
    check_size(arr)
    rgb = arr.astype(np.float32) / 255.0
    if arr.ndim == 3:
        g = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        d = [np.abs(rgb[:, :, c] - g) for c in range(3)]  # each channel's distance from the luminance
        colour = [float((d[0] + d[1] + d[2]).mean() / 3), float(np.maximum(np.maximum(d[0], d[1]), d[2]).mean()),
                  float(np.abs(rgb[:, :, 0] - rgb[:, :, 2]).mean())]
    else:
        g = rgb
        colour = [0.0, 0.0, 0.0]
    h, w = g.shape
    feats: list[float] = []
    # NPR: each pixel of a 2×2 block minus the block's anchor (top-left) pixel
    e = g[:h - h % 2, :w - w % 2]
    anchor = e[0::2, 0::2]
    npr = [e[0::2, 1::2] - anchor, e[1::2, 0::2] - anchor, e[1::2, 1::2] - anchor]
    # the same relations across block borders (anchor of the next block), for comparison
    cross = g[:, 2::2][:, :anchor.shape[1] - 1] - g[:, 1::2][:, :anchor.shape[1] - 1]
    for r in npr:
        feats += [float(np.abs(r).mean()), float(r.std())]
    within = float(np.abs(npr[0]).mean())  # horizontal neighbours inside a block ...
    across = float(np.abs(cross).mean()) if cross.size else 0.0  # ... and across a block border
    feats.append(within / (within + across + 1e-6))
    # first differences and the Laplacian, as histograms
    dx, dy = g[:, 1:] - g[:, :-1], g[1:, :] - g[:-1, :]
    feats += list(_hist(np.concatenate([dx.ravel(), dy.ravel()]), _GRAD_EDGES))
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    feats += list(_hist(lap.ravel(), _GRAD_EDGES))
    feats += [float(np.abs(dx).mean()), float(np.abs(lap).mean())]
    # intensities: histogram, exact extremes, grey levels in use
    q = arr if arr.ndim == 2 else np.round(g * 255).astype(np.uint8)
    levels = np.bincount(q.ravel(), minlength=256)
    feats += list(levels.reshape(16, 16).sum(axis=1) / q.size)
    feats += [float(levels[0] / q.size), float(levels[255] / q.size), int((levels > 0).sum()) / 256.0,
              float(levels[1:8].sum() / q.size)]
    # radial power spectrum of the luminance, log power relative to its mean
    f = np.fft.fftshift(np.fft.fft2(g - g.mean()))
    spec = f.real ** 2 + f.imag ** 2
    ring, sizes = _rings(h, w)
    power = np.bincount(ring, weights=spec.ravel(), minlength=_RADIAL_BINS) / sizes
    logp = np.log10(power + 1e-8)
    feats += list(logp - logp.mean())
    feats += colour
    return np.asarray(feats, dtype=np.float32)


DIM = 66
