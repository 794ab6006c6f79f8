"""genaudit's own watermark: a keyed, tile-periodic spread-spectrum pattern in luminance.

**Embedding.** A 64×64 tile is built in the Fourier domain from the band of 3.2–14 cycles per tile
(0.05–0.22 cycles/pixel: below what JPEG, blur and 2× down-scaling remove, above most image
energy). Its ~290 half-plane frequencies are split by the key into three disjoint sets with
key-random phases:

* **sync** (96 frequencies) — a known pattern for finding rotation, scale and translation;
* **check** (96) — each frequency's sign is a key-random coin flip; they decide "detected";
* **payload** (95) — a 32-bit payload in a BCH(127, t = 10) codeword, scrambled by the key.

The tile repeats over the whole image and is added to R, G and B alike (a luminance change; alpha
and greyscale are preserved). Its amplitude is shaped by tone: full in the mid-tones, tapering to
``tone_floor`` towards pure black and white, where clipping (at embedding, or after a brightness or
contrast edit) would erase it anyway; the overall amplitude is then calibrated so that the image's
PSNR after rounding and clipping is the target.

**Verification.** The luminance is whitened locally (mean removed, divided by local contrast) and
Fourier-transformed once. A geometry is a 2×2 matrix T: the tile's frequency k shows at T·k / 64
cycles per pixel (T = I untouched, R(θ)/s for a rotation and resize, diag(1/sy, 1/sx) for an
aspect change, det T < 0 for a mirror), with a phase that encodes the translation. Hypotheses
come, cheapest first, from

1. the untouched geometry;
2. the **period lattice**: a tile-periodic pattern seen through any affine map is periodic on the
   mapped lattice, so the autocorrelation of the whitened image peaks at every lattice vector.
   Pairs of peaks give candidate bases (Gauss-reduced, scored by the sum of the autocorrelation
   over all their lattice points, refined by least squares on the sub-pixel peaks); each basis
   gives eight geometries, one per symmetry of the square tile (quarter turns, mirrors). The
   geometry is then sharpened on the spectrum: the peak of every watermark frequency is located
   by interpolation and T is fitted to all of them by weighted least squares — hundreds of
   frequencies pin T to ~1e-4, which no grid step or lag peak can;
3. a **grid**, when neither was convincing: a fine sweep of unrotated uniform resizes (where the
   lattice is faint: small or busy images), the per-axis sweep (:func:`_axis_sweep`: the energy at
   every pair of axis magnifications, for aspect changes the lattice cannot see), then rotations
   ±8° × a list of scales.

Each hypothesis costs a sampling of ~300 spectrum values (large sets are first narrowed by the
sign-blind energy at all the watermark's frequencies) and a 64×64 inverse FFT of the sync pattern,
whose peak gives the translation and whose height (the sync z, at most ≈ 13.9) says whether the
geometry is right; the search stops at the first stage that reaches ``confident_sync_z``. At the
best geometry the check and payload frequencies are read out exactly (a direct DFT at the mapped
frequencies); those above this image's Nyquist frequency (lost to a downscale) are left out.

**Decision.** The check signs are independent of everything the search used (magnitudes, the
sync pattern, the payload), however many geometries it tried, so under the null hypothesis the
sign-corrected check values are symmetric about zero and the Wilcoxon signed-rank statistic has
its exact distribution (:mod:`.stats`). ``p_value`` is exact for any image — including one that
carries another key's watermark, whose lattice the search does find — and the watermark is
"detected" when ``p_value <= fpr`` (default 1e-6).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from .ecc import PAYLOAD_BITS, PayloadCode
from .keys import WatermarkKey
from .stats import signed_rank_pvalue

LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class TiledParams:
    """Parameters of the tiled method (recorded with every result)."""

    period: int = 64
    band: tuple[float, float] = (3.2, 14.0)
    psnr: float = 38.3
    """Target PSNR of the embedding (measured after rounding and clipping to 0..255)."""
    tone_range: tuple[float, float] = (32.0, 208.0)
    """Tones (0..255) between which the pattern has full amplitude; outside, it tapers linearly
    towards ``tone_floor`` at 0 and 255. A brightness or contrast edit of ±20% clips the extreme
    tones, so amplitude there is mostly lost; it is spent on the mid-tones instead."""
    tone_floor: float = 0.2
    max_gain: float = 2.0
    """Cap on the calibration gain that makes up for clipping (limits how much a mostly black or
    white image concentrates the pattern in its few mid-tones)."""
    n_sync: int = 96
    n_check: int = 96
    check_gain: float = 1.15
    """Amplitude of the check frequencies relative to the sync and payload ones."""
    code_t: int = 10
    code_m: int = 7
    max_rotation: float = 8.0
    rotation_step: float = 0.25
    scales: tuple[float, ...] = (1.0, 0.75, 0.5, 0.667, 0.8, 0.9, 1.25, 1.5, 2.0)
    confident_sync_z: float = 8.0
    """Stop searching once the sync correlation alone reaches this z (its ceiling is about 13.9;
    wrong geometries stay below about 5.5)."""
    comb_weight: float = 0.7
    geometry_penalty: float = 0.4
    min_scale: float = 0.3
    """Smallest magnification the lattice search looks for (a 512² image resized to 154²)."""
    max_scale: float = 2.3
    """Largest magnification the lattice search looks for (a 512² image resized to 1178²)."""
    fine_scale_below: int = 1_000_000
    """Images whose shorter side is below this (by default all) also get a fine sweep of uniform
    resizes when the lattice finds nothing convincing: on small or busy images its peaks are faint
    (a 5% enlargement of some 512² photos is found by the sweep alone)."""
    min_size: int = 128

    def __post_init__(self) -> None:
        if self.period < 16 or self.period % 2:
            raise ValueError("period must be an even number >= 16")
        if not 0 < self.band[0] < self.band[1] < self.period / 2:
            raise ValueError("band must satisfy 0 < low < high < period / 2")
        if not 20.0 <= self.psnr <= 60.0:
            raise ValueError("psnr target must be between 20 and 60 dB")
        if not 0.0 <= self.tone_range[0] < self.tone_range[1] <= 255.0:
            raise ValueError("tone_range must satisfy 0 <= low < high <= 255")
        if not 0.0 < self.tone_floor <= 1.0 or self.max_gain < 1.0:
            raise ValueError("tone_floor must be in (0, 1] and max_gain >= 1")
        if self.min_size < self.period:
            raise ValueError("min_size must be at least one period")


@dataclass(frozen=True)
class Layout:
    """The key-derived frequency plan of one key under one set of parameters."""

    sync_idx: np.ndarray   # (n, 2) rfft2 indices into a period×(period//2+1) array
    check_idx: np.ndarray
    payload_idx: np.ndarray
    sync_phase: np.ndarray  # unit complex
    check_phase: np.ndarray
    payload_phase: np.ndarray
    check_sign: np.ndarray  # ±1
    scramble: np.ndarray    # 0/1 per payload code bit
    k_sync: np.ndarray      # (n, 2) signed frequency vectors (ky, kx) in cycles per tile
    k_check: np.ndarray
    k_payload: np.ndarray

    @property
    def k_rest(self) -> np.ndarray:
        """Every non-sync frequency (check and payload), whose energy is sign-blind evidence."""
        return np.concatenate([self.k_check, self.k_payload])


def _band_coords(period: int, band: tuple[float, float]) -> np.ndarray:
    ky = np.fft.fftfreq(period) * period
    kx = np.arange(period // 2 + 1)
    KX, KY = np.meshgrid(kx, ky)
    r = np.hypot(KX, KY)
    # One of each ±k pair: the rfft half-plane without the redundant half of its kx = 0 column,
    # and without the Nyquist column.
    mask = (r >= band[0]) & (r <= band[1]) & ~((KX == 0) & (KY < 0)) & (period // 2 > KX)
    return np.argwhere(mask)


def _signed(idx: np.ndarray, period: int) -> np.ndarray:
    ky = np.where(idx[:, 0] > period // 2, idx[:, 0] - period, idx[:, 0])
    return np.stack([ky, idx[:, 1]], axis=1).astype(np.float64)


@lru_cache(maxsize=32)
def _layout_cached(secret: bytes, params: TiledParams) -> Layout:
    key = WatermarkKey(secret)
    coords = _band_coords(params.period, params.band)
    code_len = PayloadCode(params.code_t, params.code_m).length
    need = params.n_sync + params.n_check + code_len
    if need > len(coords):
        raise ValueError(f"the band holds {len(coords)} frequencies; sync + check + payload need {need}")
    rng = key.rng("tiled/layout")
    perm = rng.permutation(len(coords))
    sync_idx = coords[perm[:params.n_sync]]
    check_idx = coords[perm[params.n_sync:params.n_sync + params.n_check]]
    payload_idx = coords[perm[params.n_sync + params.n_check:need]]

    def phases(label: str, n: int) -> np.ndarray:
        return np.exp(2j * np.pi * key.rng(label).random(n))

    return Layout(
        sync_idx=sync_idx, check_idx=check_idx, payload_idx=payload_idx,
        sync_phase=phases("tiled/sync-phase", len(sync_idx)),
        check_phase=phases("tiled/check-phase", len(check_idx)),
        payload_phase=phases("tiled/payload-phase", len(payload_idx)),
        check_sign=key.rng("tiled/check-sign").integers(0, 2, len(check_idx)) * 2 - 1,
        scramble=key.rng("tiled/payload-scramble").integers(0, 2, len(payload_idx)),
        k_sync=_signed(sync_idx, params.period), k_check=_signed(check_idx, params.period),
        k_payload=_signed(payload_idx, params.period))


def layout(key: WatermarkKey, params: TiledParams) -> Layout:
    return _layout_cached(key.secret, params)


def tile(key: WatermarkKey, params: TiledParams, payload: int | None) -> np.ndarray:
    """The unit-RMS watermark tile (period × period) for ``payload`` (None: payload set to 0)."""
    lay = layout(key, params)
    p = params.period
    code = PayloadCode(params.code_t, params.code_m).encode(payload or 0)
    bits = np.asarray(code, dtype=np.int64) ^ lay.scramble
    spec = np.zeros((p, p // 2 + 1), dtype=np.complex128)
    spec[lay.sync_idx[:, 0], lay.sync_idx[:, 1]] = lay.sync_phase
    spec[lay.check_idx[:, 0], lay.check_idx[:, 1]] = params.check_gain * lay.check_phase * lay.check_sign
    spec[lay.payload_idx[:, 0], lay.payload_idx[:, 1]] = lay.payload_phase * (2 * bits - 1)
    w = np.fft.irfft2(spec, s=(p, p))
    return w / w.std()


def _tone_weight(color: np.ndarray, params: TiledParams) -> np.ndarray:
    """Per-pixel amplitude weight in [tone_floor, 1] from the tones of (H, W) or (H, W, 3) pixels."""
    from scipy import ndimage

    lo, hi = params.tone_range
    c = color.astype(np.float32)
    room = np.minimum(c / lo if lo > 0 else np.inf, (255.0 - c) / (255.0 - hi) if hi < 255 else np.inf)
    room = np.clip(room, 0.0, 1.0)
    if room.ndim == 3:  # every channel carries the pattern; weigh their clipping by their share of luminance
        room = room @ LUMA.astype(np.float32)
    room = ndimage.uniform_filter(room, 9, mode="reflect")  # smooth: no sharp edges in the pattern
    return params.tone_floor + (1.0 - params.tone_floor) * room


def embed(pixels: np.ndarray, key: WatermarkKey, payload: int | None, params: TiledParams) -> np.ndarray:
    """Add the watermark to uint8 pixels (H, W) or (H, W, C≥3; channels after the third untouched)."""
    h, w = pixels.shape[:2]
    if min(h, w) < params.min_size:
        raise ValueError(f"image is {w}×{h}; the tiled method needs at least {params.min_size}×{params.min_size}")
    t = tile(key, params, payload)
    reps = (h // params.period + 1, w // params.period + 1)
    color = pixels if pixels.ndim == 2 else pixels[:, :, :3]
    shaped = (np.tile(t, reps)[:h, :w] * _tone_weight(color, params)).astype(np.float32)
    base = color.astype(np.float32)
    target_mse = (255.0 * 10 ** (-params.psnr / 20.0)) ** 2

    def render(a: float) -> np.ndarray:
        d = a * shaped
        return np.clip(np.rint(base + (d if base.ndim == 2 else d[:, :, None])), 0, 255)

    # Calibrate the amplitude so that the PSNR after rounding and clipping is the target: clipping
    # removes part of the pattern (more in bright or dark images), rounding adds a little.
    a = math.sqrt(target_mse / max(float(np.mean(shaped.astype(np.float64) ** 2)), 1e-12))
    a_max = params.max_gain * a
    for _ in range(4):
        mse = float(np.mean((render(a) - base) ** 2, dtype=np.float64))
        a_next = min(a * math.sqrt(target_mse / max(mse, 1e-12)), a_max)
        if abs(a_next - a) <= 1e-3 * a:
            a = a_next
            break
        a = a_next
    out = pixels.copy()
    if out.ndim == 2:
        out[:] = render(a).astype(np.uint8)
    else:
        out[:, :, :3] = render(a).astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------

def _whitened_luma(pixels: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    y = pixels.astype(np.float32)
    if y.ndim == 3:
        y = y[:, :, :3] @ LUMA.astype(np.float32)
    y = y - ndimage.uniform_filter(y, 9, mode="reflect")
    energy = np.maximum(ndimage.uniform_filter(y * y, 33, mode="reflect"), 0.0)
    return y / (np.sqrt(energy) + 2.0)


def _phasors(n: int, f: np.ndarray) -> np.ndarray:
    """exp(-2πi·j·f) for j = 0..n-1 (rows) and each frequency f (columns), complex64, from a
    coarse and a fine table (n = 32a + b) instead of n·K complex exponentials."""
    a = np.arange(-(-n // 32))[:, None, None] * 32
    b = np.arange(32)[None, :, None]
    coarse = np.exp(-2j * np.pi * a * f[None, None, :])
    fine = np.exp(-2j * np.pi * b * f[None, None, :])
    return (coarse * fine).reshape(-1, len(f))[:n].astype(np.complex64)


class _Spectrum:
    """Zero-padded spectrum of the whitened luminance, sampled at arbitrary frequencies.

    The padded size is a multiple of the period and at least twice the image, so the watermark's
    own frequencies fall exactly on bins when the geometry is untouched, and other frequencies
    are at most a quarter of a natural bin away. Each sample is divided by the local noise floor
    (the mean magnitude of the surrounding bins), so frequencies where the image itself is strong
    count for less: a matched filter for a pattern hidden in coloured noise.
    """

    def __init__(self, pixels: np.ndarray, period: int) -> None:
        import scipy.fft as sfft
        from scipy import ndimage

        self.y = _whitened_luma(pixels)
        self.h, self.w = self.y.shape
        self.mh = -(-2 * self.h // period) * period
        self.mw = -(-2 * self.w // period) * period
        G = sfft.rfft2(self.y, s=(self.mh, self.mw))
        self.floor = ndimage.uniform_filter(np.abs(G), 7, mode="wrap") + 1e-12
        self.G = G / self.floor
        self.noise_power = float(np.mean(np.abs(self.G[::3, ::3]) ** 2))

    @cached_property
    def magnitude(self) -> np.ndarray:
        """|spectrum| / noise floor at every padded bin (computed once, shared by the refinements)."""
        return np.abs(self.G)

    def _bins(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fy, fx = f[..., 0], f[..., 1]
        neg = fx < 0
        sy = np.where(neg, -fy, fy)
        sx = np.where(neg, -fx, fx)
        iy = np.rint(sy * self.mh).astype(np.int64) % self.mh
        ix = np.minimum(np.rint(sx * self.mw).astype(np.int64), self.mw // 2)
        return iy, ix, neg

    def _centre(self, f: np.ndarray) -> np.ndarray:
        return np.exp(2j * np.pi * (f[..., 0] * (self.h / 2) + f[..., 1] * (self.w / 2)))

    def power(self, f: np.ndarray) -> np.ndarray:
        """|spectrum|² at frequencies ``f`` (nearest padded bin), divided by the noise floor²."""
        iy, ix, _ = self._bins(f)
        v = self.G[iy, ix]
        return v.real ** 2 + v.imag ** 2

    def sample(self, f: np.ndarray) -> np.ndarray:
        """Spectrum at frequencies ``f`` (..., 2) = (fy, fx) cycles/pixel (nearest padded bin),
        origin at the image centre, divided by the noise floor."""
        iy, ix, neg = self._bins(f)
        v = self.G[iy, ix]
        return np.where(neg, np.conj(v), v) * self._centre(f)

    def exact(self, f: np.ndarray) -> np.ndarray:
        """Like :meth:`sample` but evaluated exactly at ``f`` (a direct, separable DFT) for (K, 2) ``f``."""
        ey = _phasors(self.h, f[:, 0])   # (h, K)
        ex = _phasors(self.w, f[:, 1])   # (w, K)
        # y · ex as two real single-precision products (y is real): half the work of a complex one
        yx = (self.y @ np.ascontiguousarray(ex.real)) + 1j * (self.y @ np.ascontiguousarray(ex.imag))
        v = np.einsum("hk,hk->k", ey, yx)
        iy, ix, _ = self._bins(f)
        return v / self.floor[iy, ix] * self._centre(f)


def _rotations(thetas: np.ndarray) -> np.ndarray:
    c, s = np.cos(thetas), np.sin(thetas)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (n, 2, 2)


# A geometry is a 2×2 matrix T (rows and columns in (y, x) order): the watermark frequency k
# (cycles per tile) appears in the examined image at T·k / period cycles per pixel. The untouched
# image has T = I; a resize by s with a rotation θ has T = R(θ) / s; a resize by (sy, sx) has
# T = diag(1/sy, 1/sx); a mirror flip has det T < 0.

_SIGNED_PERMUTATIONS = np.array([[[a, 0], [0, b]] for a in (1, -1) for b in (1, -1)]
                                + [[[0, a], [b, 0]] for a in (1, -1) for b in (1, -1)], dtype=np.float64)


def _decompose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(scale, rotation in degrees, aspect log-ratio, mirrored) of each geometry in (n, 2, 2) ``T``.

    ``scale`` is the image's linear magnification relative to the embedding (1 / sqrt|det T|),
    ``rotation`` the angle of the nearest similarity (mirror removed first), ``aspect`` the log of
    the ratio of the two singular values (0 for a uniform resize)."""
    det = T[:, 0, 0] * T[:, 1, 1] - T[:, 0, 1] * T[:, 1, 0]
    mirrored = det < 0
    Tm = T.copy()
    Tm[mirrored, :, 1] *= -1  # undo a mirror about the y axis before measuring the rotation
    theta = np.degrees(np.arctan2(Tm[:, 1, 0] - Tm[:, 0, 1], Tm[:, 0, 0] + Tm[:, 1, 1]))
    sv = np.linalg.svd(T, compute_uv=False)
    return 1.0 / np.sqrt(np.abs(det) + 1e-300), theta, np.log(sv[:, 0] / np.maximum(sv[:, 1], 1e-300)), mirrored


def _penalty(T: np.ndarray, params: TiledParams) -> np.ndarray:
    """A small prior in favour of the geometries edits produce most: untouched first, then mild."""
    scale, theta, aspect, mirrored = _decompose(T)
    quarter = np.rint(theta / 90.0)  # EXIF-style quarter turns are ordinary: a fixed cost, not 18 per degree
    return params.geometry_penalty * (np.abs(theta - 90.0 * quarter) / 5.0 + (quarter != 0)
                                      + np.abs(np.log(scale)) / math.log(1.5) + aspect / math.log(1.5)
                                      + 2.0 * mirrored)


def _mapped(T: np.ndarray, k: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies T·k / period (n, K, 2) for geometries (n, 2, 2), and which are below Nyquist."""
    f = np.matmul(k[None, :, :], np.swapaxes(T, 1, 2)) / period
    return f, np.maximum(np.abs(f[..., 0]), np.abs(f[..., 1])) < 0.5


def _energy_z(spec: _Spectrum, k: np.ndarray, T: np.ndarray, period: int) -> np.ndarray:
    """Sign-blind evidence for each geometry in ``T``: the excess power at the frequencies ``k``
    over the noise floor, as a z-score (frequencies above Nyquist in this image are left out)."""
    f, live = _mapped(T, k, period)
    n = np.maximum(live.sum(axis=1), 1)
    energy = (spec.power(f) * live).sum(axis=1) / n  # ≈ noise power under H0
    return (energy - spec.noise_power) / (spec.noise_power * np.sqrt(1.0 / n) + 1e-12)


def _sync_search(spec: _Spectrum, lay: Layout, params: TiledParams, T: np.ndarray,
                 keep: int = 16) -> tuple[float, float, int, tuple[float, float]]:
    """Best (score, its sync z, index into ``T``, translation) over the geometries ``T`` (n, 2, 2).

    The score adds two kinds of evidence that never look at the check signs: the coherent
    correlation peak of the sync pattern (whose position is the translation) and the excess
    energy at the other watermark frequencies (sign-blind), minus a small penalty for departing
    from the untouched geometry, which is by far the most common case. Large sets are first
    narrowed to the ``keep`` geometries with the most energy at all the watermark's frequencies.

    The sync z alone is the trustworthy sign of a match: energy also appears at a wrong geometry
    that samples sub-harmonics of the true lattice (identity on a half-size image), while the
    coherent sync peak needs the right geometry. With n sync frequencies of equal amplitude its
    largest possible value is about sqrt(2n) (13.9 for 96); over thousands of wrong hypotheses it
    rarely exceeds 5.5.
    """
    import scipy.fft as sfft

    p = params.period
    penalty = _penalty(T, params)
    idx = np.arange(len(T))
    if len(T) > keep:
        pre = _energy_z(spec, np.concatenate([lay.k_sync, lay.k_rest]), T, p) - penalty
        idx = np.sort(np.argpartition(-pre, keep)[:keep])
    Tk = T[idx]
    f_sync, live = _mapped(Tk, lay.k_sync, p)  # frequencies above Nyquist were lost or aliased
    g = spec.sample(f_sync) * live
    a = np.zeros((len(Tk), p, p // 2 + 1), dtype=np.complex64)
    a[:, lay.sync_idx[:, 0], lay.sync_idx[:, 1]] = g * np.conj(lay.sync_phase)[None, :]
    corr = sfft.irfft2(a, s=(p, p))
    flat = corr.reshape(len(Tk), -1)
    peak = flat.argmax(axis=1)
    z_sync = (flat[np.arange(len(Tk)), peak] - flat.mean(axis=1)) / (flat.std(axis=1) + 1e-12)
    score = z_sync + params.comb_weight * _energy_z(spec, lay.k_rest, Tk, p) - penalty[idx]
    best = int(score.argmax())
    ty, tx = divmod(int(peak[best]), p)
    c = corr[best]
    fy = _vertex(c[(ty - 1) % p, tx], c[ty, tx], c[(ty + 1) % p, tx])
    fx = _vertex(c[ty, (tx - 1) % p], c[ty, tx], c[ty, (tx + 1) % p])
    return float(score[best]), float(z_sync[best]), int(idx[best]), (ty + fy, tx + fx)


def _vertex(m1: float, c0: float, p1: float) -> float:
    """Offset of the vertex of the parabola through three equally spaced samples, in [-0.5, 0.5]."""
    return float(_vertices(np.asarray(m1), np.asarray(c0), np.asarray(p1)))


# --------------------------------------------------------------------------------------------
# Geometry from the period lattice
# --------------------------------------------------------------------------------------------

def _autocorrelation(spec: _Spectrum, params: TiledParams) -> np.ndarray:
    """Autocorrelation of the whitened image, restricted to the band the watermark can occupy at
    any supported scale, centred (lag 0 at the middle) and scaled to unit noise deviation.

    A tile-periodic pattern seen through any affine map is periodic on the mapped lattice, so its
    autocorrelation peaks at every lattice vector; the image's own (whitened) autocorrelation
    is concentrated near lag 0. Every other padded bin of the spectrum is the spectrum of the
    image folded to the padded half size: enough for lags up to half the image."""
    import scipy.fft as sfft
    from scipy import ndimage

    # Whiten with a floor so wide that no single watermark peak raises it (the matched-filter
    # floor of :class:`_Spectrum` dips around each peak, which would bias short lags).
    mag = np.abs(spec.G[::2, ::2] * spec.floor[::2, ::2])
    P = (mag / (ndimage.uniform_filter(mag, 15, mode="wrap") + 1e-12)) ** 2
    H, W = spec.mh // 2, spec.mw // 2
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.rfftfreq(W)[None, :]
    r = np.hypot(fy, fx)
    lo = params.band[0] / (params.period * params.max_scale)
    # Drop the two axes of the spectrum too: straight edges in the image and the wrap-around
    # discontinuity of the FFT put their energy there, and it would draw lines through lag 0.
    axes = (np.abs(fy) * H < 1.5) | (fx * W < 1.5)
    band = (r >= lo) & (r <= 0.5) & ~axes
    # A slight Gaussian smoothing of the lags (σ = 0.8 px, applied as a taper of the spectrum)
    # keeps a peak visible at its nearest integer lag whatever its sub-pixel position.
    taper = np.exp(-2.0 * (np.pi * 0.8 * r) ** 2)
    P = np.where(band, (P - P[band].mean()) * taper, 0.0)
    ac = np.fft.fftshift(sfft.irfft2(P, s=(H, W)))
    cy, cx = H // 2, W // 2
    ring = np.ones_like(ac, dtype=bool)
    ring[cy - 3:cy + 4, cx - 3:cx + 4] = False
    return ac / (ac[ring].std() + 1e-12)


def _lattice_bases(spec: _Spectrum, params: TiledParams, top: int = 20) -> list[np.ndarray]:
    """Candidate period lattices (2×2, columns are the two basis vectors in pixels, (y, x))
    estimated from the autocorrelation peaks, best first; refined by least squares over every
    visible lattice point."""
    from scipy import ndimage

    ac = _autocorrelation(spec, params)
    H, W = ac.shape
    cy, cx = H // 2, W // 2
    p = params.period
    r_min = 0.9 * p * params.min_scale
    r_max = min(1.25 * p * params.max_scale, 0.5 * min(spec.h, spec.w))
    if r_max <= r_min:
        return []
    R = int(r_max) + 3  # look for peaks in the window of lags up to r_max only
    win = ac[max(cy - R, 0):cy + R + 1, max(cx - R, 0):cx + R + 1]
    oy, ox = max(cy - R, 0), max(cx - R, 0)
    ly = np.arange(win.shape[0])[:, None] + oy - cy
    lx = np.arange(win.shape[1])[None, :] + ox - cx
    dist = np.hypot(ly, lx)
    half = (ly > 0) | ((ly == 0) & (lx > 0))
    region = half & (dist >= r_min) & (dist <= r_max)
    peaks = region & (win == ndimage.maximum_filter(win, size=3, mode="nearest")) & (win > 4.0)
    pys, pxs = np.nonzero(peaks)
    pys, pxs = pys + oy, pxs + ox
    order = np.argsort(ac[pys, pxs])[::-1][:top]
    vecs = [np.array([pys[i] - cy, pxs[i] - cx], dtype=np.float64) for i in order]
    bases: list[tuple[float, np.ndarray]] = []
    seen: set[tuple[int, ...]] = set()
    r_comb = min(0.5 * min(spec.h, spec.w), 4.0 * r_max)
    for i in range(len(vecs)):
        for j in range(i + 1, len(vecs)):
            a, b = vecs[i], vecs[j]
            cross = a[0] * b[1] - a[1] * b[0]
            if abs(cross) < 0.5 * np.linalg.norm(a) * np.linalg.norm(b):
                continue
            V = _reduce(np.stack([a, b], axis=1))
            if abs(np.linalg.det(V)) < r_min ** 2:
                continue
            sig = tuple(np.rint(np.sort(np.abs(V).ravel())).astype(int))
            if sig in seen:
                continue
            seen.add(sig)
            # Integer peak positions put a far lattice point off by |n|/2 px: score on near points first.
            bases.append((_comb_z(ac, V, min(r_comb, 150.0)), V))
    bases.sort(key=lambda t: -t[0])
    refined = [_refine_lattice(ac, V, r_comb) for _, V in bases[:4]]
    ranked = sorted(((_comb_z(ac, V, r_comb), i, V) for i, V in enumerate(refined)), key=lambda t: (-t[0], t[1]))
    out = [V for z, _, V in ranked[:2] if z > 6.0]
    # A basis vector whose odd multiples are hidden by the image (or lost to the filter) shows up
    # doubled; offer the halved lattices too and let the sync pattern decide.
    for V in list(out):
        for h in ((0.5, 1.0), (1.0, 0.5), (0.5, 0.5)):
            Vh = V * np.asarray(h)[None, :]
            if min(np.linalg.norm(Vh[:, 0]), np.linalg.norm(Vh[:, 1])) >= r_min:
                out.append(_reduce(Vh))
    return out


def _reduce(V: np.ndarray) -> np.ndarray:
    """Lagrange–Gauss reduction: the two shortest vectors spanning the same lattice."""
    a, b = V[:, 0].copy(), V[:, 1].copy()
    if a @ a > b @ b:
        a, b = b, a
    for _ in range(32):
        mu = round(float(a @ b) / float(a @ a))
        b = b - mu * a
        if b @ b >= a @ a:
            break
        a, b = b, a
    return np.stack([a, b], axis=1)


def _lattice_points(V: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer coefficients n ≠ 0 (one of each ±n) and lags V·n with |V·n| <= r."""
    m = int(r / min(np.linalg.norm(V[:, 0]), np.linalg.norm(V[:, 1])) * 1.5) + 1
    n1, n2 = np.meshgrid(np.arange(-m, m + 1), np.arange(0, m + 1), indexing="ij")
    n = np.stack([n1.ravel(), n2.ravel()], axis=1).astype(np.float64)
    n = n[(n[:, 1] > 0) | ((n[:, 1] == 0) & (n[:, 0] > 0))]
    lags = n @ V.T
    keep = np.hypot(lags[:, 0], lags[:, 1]) <= r
    return n[keep], lags[keep]


def _comb_z(ac: np.ndarray, V: np.ndarray, r: float) -> float:
    """Sum of the (unit-noise) autocorrelation over the lattice points, over sqrt(count): a
    z-score that the true lattice beats both its sub-lattices and its refinements."""
    _, lags = _lattice_points(V, r)
    if len(lags) == 0:
        return 0.0
    cy, cx = ac.shape[0] // 2, ac.shape[1] // 2
    iy = np.clip(np.rint(lags[:, 0]).astype(int) + cy, 0, ac.shape[0] - 1)
    ix = np.clip(np.rint(lags[:, 1]).astype(int) + cx, 0, ac.shape[1] - 1)
    return float(ac[iy, ix].sum() / math.sqrt(len(lags)))


def _refine_lattice(ac: np.ndarray, V: np.ndarray, r: float) -> np.ndarray:
    """Least-squares fit of the basis to the sub-pixel peaks found near each predicted lattice point."""
    cy, cx = ac.shape[0] // 2, ac.shape[1] // 2
    Hh, Wh = ac.shape
    for _ in range(2):
        n, lags = _lattice_points(V, r)
        rows, targets, weights = [], [], []
        for nn, lag in zip(n, lags, strict=True):
            y0, x0 = round(float(lag[0])) + cy, round(float(lag[1])) + cx
            if not (2 <= y0 < Hh - 2 and 2 <= x0 < Wh - 2):
                continue
            win = ac[y0 - 1:y0 + 2, x0 - 1:x0 + 2]
            dy, dx = divmod(int(win.argmax()), 3)
            y1, x1 = y0 + dy - 1, x0 + dx - 1
            v = ac[y1, x1]
            if v < 3.0:
                continue
            oy = _vertex(ac[y1 - 1, x1], v, ac[y1 + 1, x1])
            ox = _vertex(ac[y1, x1 - 1], v, ac[y1, x1 + 1])
            rows.append(nn)
            targets.append([y1 - cy + oy, x1 - cx + ox])
            weights.append(v)
        N = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
        if len(rows) < 3 or np.linalg.matrix_rank(N) < 2:
            break
        L = np.asarray(targets)
        sw = np.sqrt(np.asarray(weights))[:, None]
        sol, *_ = np.linalg.lstsq(N * sw, L * sw, rcond=None)  # L ≈ N · Vᵀ
        if not np.all(np.isfinite(sol)) or np.abs(sol.T - V).max() > 0.1 * np.abs(V).max():
            break  # the peaks did not follow this lattice: keep the estimate from the two vectors
        V = sol.T
    return V


def _geometry_from_lattice(V: np.ndarray, period: int) -> np.ndarray:
    """A geometry T whose period lattice is V; :func:`_symmetries` gives the other seven."""
    return period * np.linalg.inv(V).T


def _symmetries(T: np.ndarray) -> np.ndarray:
    """The eight geometries with T's period lattice, one per symmetry of the square tile
    (quarter turns and mirrors): a lattice alone cannot tell them apart, the sync pattern can."""
    return np.stack([T @ Wm.T for Wm in _SIGNED_PERMUTATIONS])


def _refine_geometry(spec: _Spectrum, T: np.ndarray, k: np.ndarray, period: int, rounds: int = 2) -> np.ndarray:
    """Sharpen a geometry on the spectrum itself: find where each watermark frequency's peak
    really is (parabolic interpolation of the magnitude around the predicted padded bin) and fit
    T to all of them by weighted least squares. Sign-blind: only magnitudes are used. Hundreds of
    frequencies with lever arms up to 14 cycles per tile pin T down far more tightly than the
    autocorrelation peaks or any grid step."""
    mag = spec.magnitude
    mh, mw = spec.mh, spec.mw
    for _ in range(rounds):
        f = (k @ T.T) / period
        iy, ix, neg = spec._bins(f)
        ok = (np.abs(f).max(axis=1) < 0.45) & (ix >= 2) & (ix <= mw // 2 - 2)
        if ok.sum() < 12:
            return T
        iy, ix, neg, kk = iy[ok], ix[ok], neg[ok], k[ok]
        # move to the largest bin of the 3×3 neighbourhood, then interpolate around it
        best = np.full(len(iy), -1.0)
        by, bx = iy.copy(), ix.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                v = mag[(iy + dy) % mh, ix + dx]
                better = v > best
                best = np.where(better, v, best)
                by = np.where(better, (iy + dy) % mh, by)
                bx = np.where(better, ix + dx, bx)
        inside = (bx >= 1) & (bx <= mw // 2 - 1)
        c0 = mag[by, bx]
        oy = _vertices(mag[(by - 1) % mh, bx], c0, mag[(by + 1) % mh, bx])
        ox = _vertices(mag[by, np.maximum(bx - 1, 0)], c0, mag[by, np.minimum(bx + 1, mw // 2)])
        strong = inside & (c0 ** 2 > 4.0 * spec.noise_power)
        if strong.sum() < 12:
            return T
        sy = np.where(by > mh // 2, by - mh, by) + oy
        sx = bx + ox
        meas = np.stack([sy / mh, sx / mw], axis=1)
        meas[neg] *= -1  # the half-plane sample of -f
        w = np.sqrt(c0[strong])[:, None]
        sol, *_ = np.linalg.lstsq(kk[strong] / period * w, meas[strong] * w, rcond=None)  # f ≈ (k / p) · Tᵀ
        if not np.all(np.isfinite(sol)) or np.abs(sol.T - T).max() > 0.05 * np.abs(T).max():
            return T
        T = sol.T
    return T


def _vertices(m1: np.ndarray, c0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """:func:`_vertex` for arrays (0 where the three samples do not bend downwards)."""
    d = m1 - 2 * c0 + p1
    safe = np.where(d < 0, d, -1.0)
    return np.where(d < 0, np.clip(0.5 * (m1 - p1) / safe, -0.5, 0.5), 0.0)


def _readout(spec: _Spectrum, k: np.ndarray, phase: np.ndarray, T: np.ndarray, t: tuple[float, float],
             period: int) -> tuple[np.ndarray, np.ndarray]:
    """Phase-corrected real parts at the frequencies ``k`` under geometry ``T`` and translation
    ``t``, and which of them are below Nyquist in the examined image (the others were lost)."""
    fs, lives = _mapped(T[None], k, period)
    f, live = fs[0], lives[0]
    on_grid = bool(np.array_equal(T, np.eye(2)))  # the padded FFT holds these frequencies exactly
    g = spec.sample(f) if on_grid else spec.exact(f)
    shift = np.exp(2j * np.pi * (k @ np.asarray(t, dtype=np.float64)) / period)
    return np.real(g * np.conj(phase) * shift), live


@dataclass(frozen=True)
class TiledDetection:
    p_value: float
    bit_accuracy: float
    payload: int | None
    payload_errors: int
    sync_z: float
    rotation_deg: float
    scale: float
    translation: tuple[float, float]
    hypotheses: int
    geometry: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.0), (0.0, 1.0))
    aspect: float = 1.0
    mirrored: bool = False
    source: str = "identity"
    checks_used: int = 0

    def details(self) -> dict[str, Any]:
        return {"sync_z": round(self.sync_z, 2), "rotation_deg": round(self.rotation_deg, 3),
                "scale": round(self.scale, 4), "aspect": round(self.aspect, 4), "mirrored": self.mirrored,
                "geometry": [[round(float(v), 5) for v in row] for row in self.geometry],
                "geometry_source": self.source,
                "translation": [round(v, 2) for v in self.translation], "hypotheses": self.hypotheses,
                "checks_used": self.checks_used, "payload_bit_errors_corrected": self.payload_errors}


def _scale_ladder(params: TiledParams, c: float, n: float, fit: int) -> np.ndarray:
    """Magnifications from ``min_scale`` to ``max_scale``, each the previous × (1 + c·s / n) (the
    band's highest frequency then moves by a fixed number of bins between neighbours), keeping
    those at which a tile fits in ``fit`` px."""
    out = [params.min_scale]
    while out[-1] < params.max_scale:
        out.append(out[-1] * (1.0 + c * out[-1] / n))
    scales = np.asarray(out)
    return scales[scales * params.period <= fit]


def _fine_scales(params: TiledParams, spec: _Spectrum) -> np.ndarray:
    """Uniform resizes from ``min_scale`` to ``max_scale``, unrotated, spaced so that the band's
    highest frequency is never more than half a bin of this image away from one of them."""
    return _scale_ladder(params, 0.5 * params.period / params.band[1], max(spec.h, spec.w), min(spec.h, spec.w))


def _axis_scales(params: TiledParams, m: int, n: int) -> np.ndarray:
    """Magnifications of one image axis from ``min_scale`` to ``max_scale`` for the per-axis sweep,
    spaced so that the band's highest frequency moves by two bins of an ``m``-bin spectrum between
    neighbours (the power map is smoothed over ±1 bin); only those at which a tile fits in ``n`` px."""
    return _scale_ladder(params, 2.0 * params.period / (params.band[1] * m), 1, n)


def _axis_sweep(spec: _Spectrum, k: np.ndarray, params: TiledParams, top: int = 12) -> np.ndarray:
    """Geometries diag(1/sy, 1/sx) for the ``top`` local maxima of the watermark's energy over every
    pair of per-axis magnifications (aspect changes, crops stretched to fit, uniform resizes).

    Sign-blind, like the rest of the search: the map is the mean smoothed power at the mapped
    frequencies ``k``. It is computed separably — for each sy one spectrum row per distinct ky is
    gathered and the rows summed per kx, then every sx is a lookup of ~15 values — so the ~10⁵
    pairs at 512² cost about 35 ms. Large spectra are pooled
    to at most ~1,024 bins per axis first (their peaks are proportionally stronger)."""
    from scipy import ndimage

    p = params.period
    d = 1 << max(0, math.ceil(math.log2(max(spec.mh, spec.mw) / 1024)))
    power = np.square(spec.magnitude)
    pw = ndimage.uniform_filter(power, 2 * d + 1, mode="wrap")[::d, ::d]
    mh, mw = spec.mh // d, spec.mw // d
    s_y = _axis_scales(params, mh, spec.h)
    s_x = _axis_scales(params, mw, spec.w)
    if len(s_y) == 0 or len(s_x) == 0:
        return np.zeros((0, 2, 2))
    # Frequencies sharing a ky share a spectrum row and those sharing a kx a column, so each sy
    # gathers one row per distinct ky and an incidence matrix sums them per kx.
    ky, ky_of = np.unique(k[:, 0], return_inverse=True)
    kx, kx_of = np.unique(k[:, 1], return_inverse=True)
    incidence = np.zeros((len(kx), len(ky)), dtype=np.float32)
    np.add.at(incidence, (kx_of, ky_of), 1.0)
    pw = np.pad(pw.astype(np.float32), ((0, 1), (0, 1)))  # a zero row and column stand for frequencies above Nyquist
    zero_row, zero_col = pw.shape[0] - 1, pw.shape[1] - 1
    fx = kx[None, :] / (p * s_x[:, None])                   # (n_sx, n_kx)
    col_live = fx < 0.5
    cols = np.where(col_live, np.rint(fx * spec.mw / d).astype(np.int64), zero_col)
    fy = ky[None, :] / (p * s_y[:, None])                   # (n_sy, n_ky)
    row_live = np.abs(fy) < 0.5
    rows = np.where(row_live, np.rint(fy * spec.mh / d).astype(np.int64) % mh, zero_row)
    n_live = (row_live @ incidence.T.astype(np.float64)) @ col_live.T.astype(np.float64)  # (n_sy, n_sx)
    kx_index = np.arange(len(kx))[None, :]
    energy = np.empty((len(s_y), len(s_x)))
    for lo in range(0, len(s_y), 32):
        per_kx = incidence @ pw[rows[lo:lo + 32]]            # (≤32, n_kx, columns)
        energy[lo:lo + 32] = per_kx[:, kx_index, cols].sum(axis=2)
    energy /= np.maximum(n_live, 1.0)
    peaks = np.argwhere(energy == ndimage.maximum_filter(energy, 5, mode="nearest"))
    best = peaks[np.argsort(-energy[peaks[:, 0], peaks[:, 1]], kind="stable")[:top]]
    return np.stack([np.diag([1.0 / s_y[i], 1.0 / s_x[j]]) for i, j in best])


def _grid(params: TiledParams, spec: _Spectrum, k: np.ndarray) -> Iterator[np.ndarray]:
    """The fallback search, one (n, 2, 2) stack per step: a fine sweep of unrotated uniform
    resizes on images whose short side is under ``fine_scale_below`` (by default all), the
    per-axis sweep's best candidates, each also sharpened on the spectrum, then rotations × the
    listed scales."""
    if min(spec.h, spec.w) < params.fine_scale_below:
        eye = np.eye(2)[None]
        for s in np.array_split(_fine_scales(params, spec), 4):
            if len(s):
                yield eye / s[:, None, None]
        axes = _axis_sweep(spec, k, params)
        if len(axes):
            yield np.concatenate([axes, np.stack([_refine_geometry(spec, T, k, params.period) for T in axes])])
    step = math.radians(params.rotation_step)
    n_steps = round(params.max_rotation / params.rotation_step)
    rot = _rotations(np.arange(-n_steps, n_steps + 1) * step)
    for scale in params.scales:
        if scale * params.period > min(spec.h, spec.w) * 1.01 or params.band[1] / (scale * params.period) >= 0.5:
            continue  # the pattern would not fit, or its frequencies would alias
        yield rot / scale


def detect(pixels: np.ndarray, key: WatermarkKey, params: TiledParams) -> TiledDetection:
    """Recover the geometry, read the check and payload frequencies, test.

    Geometry hypotheses come, cheapest first, from the untouched geometry, the period lattice in
    the autocorrelation (any resize, aspect change, rotation, shear or mirror, continuous) and,
    when neither reaches ``confident_sync_z``, the grid (:func:`_grid`). Every hypothesis is scored
    without the check signs, so the signed-rank test on the check frequencies stays exact however
    many were tried.
    """
    lay = layout(key, params)
    spec = _Spectrum(pixels, params.period)
    k_all = np.concatenate([lay.k_sync, lay.k_rest])
    # best: (confident, score, sync z, T, translation, source); a confident sync peak outranks any score
    best: tuple[bool, float, float, np.ndarray, tuple[float, float], str] = (
        False, -math.inf, 0.0, np.eye(2), (0.0, 0.0), "identity")
    hypotheses = 0

    def consider(source: str, T: np.ndarray) -> bool:
        nonlocal best, hypotheses
        score, zs, i, t = _sync_search(spec, lay, params, T)
        hypotheses += len(T)
        cand = (zs >= params.confident_sync_z, score, zs, T[i], t, source)
        if cand[:2] > best[:2]:
            best = cand
        return best[0]

    def lattice() -> Iterator[tuple[str, np.ndarray]]:
        for V in _lattice_bases(spec, params):
            yield "lattice", _symmetries(_refine_geometry(spec, _geometry_from_lattice(V, params.period), k_all,
                                                          params.period))

    def grid() -> Iterator[tuple[str, np.ndarray]]:
        for T in _grid(params, spec, k_all):
            yield "grid", T

    # Cheapest first: the untouched geometry (most images), then the lattice, then the grid.
    for stage in (iter([("identity", np.eye(2)[None])]), lattice(), grid()):
        stop = False
        for source, T in stage:
            stop = consider(source, T)
            if stop and source == "grid":
                break
        if stop:
            break
    _, _, z, T, t, source = best
    if source == "grid":  # a grid point is only near the geometry: sharpen it on the spectrum
        T_fine = _refine_geometry(spec, T, k_all, params.period)
        _, z2, _, t2 = _sync_search(spec, lay, params, T_fine[None])
        hypotheses += 1
        if z2 > z:
            z, T, t = z2, T_fine, t2
    k_read = np.concatenate([lay.k_check, lay.k_payload])
    phase = np.concatenate([lay.check_phase, lay.payload_phase])
    values, live = _readout(spec, k_read, phase, T, t, params.period)
    n_check = len(lay.k_check)
    checks = (values[:n_check] * lay.check_sign)[live[:n_check]]
    p_value = signed_rank_pvalue(checks)
    bit_accuracy = float(np.mean(checks > 0)) if len(checks) else 0.5
    code_bits = [int(b) for b in (values[n_check:] > 0).astype(np.int64) ^ lay.scramble]
    payload, n_err = PayloadCode(params.code_t, params.code_m).decode(code_bits)
    scale, theta, aspect, mirrored = _decompose(T[None])
    return TiledDetection(p_value=p_value, bit_accuracy=bit_accuracy, payload=payload, payload_errors=n_err,
                          sync_z=z, rotation_deg=float(theta[0]), scale=float(scale[0]), translation=t,
                          hypotheses=hypotheses, geometry=(tuple(T[0]), tuple(T[1])),
                          aspect=float(np.exp(aspect[0])), mirrored=bool(mirrored[0]), source=source,
                          checks_used=len(checks))


__all__ = ["PAYLOAD_BITS", "TiledDetection", "TiledParams", "detect", "embed", "layout", "tile"]
