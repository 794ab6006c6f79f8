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
Fourier-transformed once. A periodic pattern seen through rotation θ, scale s and any crop puts
its energy at frequencies ``R(θ)·k / (s·64)`` with a phase that encodes the translation, so each
(θ, s) hypothesis costs only a sampling of ~100 spectrum values and a 64×64 inverse FFT whose peak
gives the translation. At the best hypothesis the check frequencies are read out and tested.

**Decision.** The check signs are independent of everything the search used, so under the null
hypothesis the sign-corrected check values are symmetric about zero and the Wilcoxon signed-rank
statistic has its exact distribution (:mod:`.stats`). ``p_value`` is exact for any image; the
watermark is "detected" when ``p_value <= fpr`` (default 1e-6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
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
    confident_sync_z: float = 20.0
    """Stop trying further scales once a geometry scores this high."""
    comb_weight: float = 0.7
    geometry_penalty: float = 0.4
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

    y = pixels.astype(np.float64)
    if y.ndim == 3:
        y = y[:, :, :3] @ LUMA
    y = y - ndimage.uniform_filter(y, 9, mode="reflect")
    energy = np.maximum(ndimage.uniform_filter(y * y, 33, mode="reflect"), 0.0)
    return y / (np.sqrt(energy) + 2.0)


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

    def sample(self, f: np.ndarray) -> np.ndarray:
        """Spectrum at frequencies ``f`` (..., 2) = (fy, fx) cycles/pixel (nearest padded bin),
        origin at the image centre, divided by the noise floor."""
        iy, ix, neg = self._bins(f)
        v = self.G[iy, ix]
        return np.where(neg, np.conj(v), v) * self._centre(f)

    def exact(self, f: np.ndarray) -> np.ndarray:
        """Like :meth:`sample` but evaluated exactly at ``f`` (a direct, separable DFT) for (K, 2) ``f``."""
        ey = np.exp(-2j * np.pi * np.outer(np.arange(self.h), f[:, 0]))   # (h, K)
        ex = np.exp(-2j * np.pi * np.outer(np.arange(self.w), f[:, 1]))   # (w, K)
        v = np.einsum("hk,hk->k", ey, self.y @ ex)
        iy, ix, _ = self._bins(f)
        return v / self.floor[iy, ix] * self._centre(f)


def _rotations(thetas: np.ndarray) -> np.ndarray:
    c, s = np.cos(thetas), np.sin(thetas)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (n, 2, 2)


def _sync_search(spec: _Spectrum, lay: Layout, params: TiledParams, scale: float,
                 thetas: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """Best (score, θ, translation) over ``thetas`` at ``scale``; sub-pixel translation.

    The score adds two kinds of evidence that never look at the check signs: the coherent
    correlation peak of the sync pattern (whose position is the translation) and the excess
    energy at the other watermark frequencies (sign-blind), minus a small penalty for departing
    from the untouched geometry, which is by far the most common case.
    """
    p = params.period
    rot = _rotations(thetas)                                         # (n, 2, 2)
    f_sync = np.einsum("nij,kj->nki", rot, lay.k_sync) / (scale * p)  # (n, K, 2)
    g = spec.sample(f_sync)
    a = np.zeros((len(thetas), p, p // 2 + 1), dtype=np.complex128)
    a[:, lay.sync_idx[:, 0], lay.sync_idx[:, 1]] = g * np.conj(lay.sync_phase)[None, :]
    corr = np.fft.irfft2(a, s=(p, p))
    flat = corr.reshape(len(thetas), -1)
    peak = flat.argmax(axis=1)
    z_sync = (flat[np.arange(len(thetas)), peak] - flat.mean(axis=1)) / (flat.std(axis=1) + 1e-12)
    f_rest = np.einsum("nij,kj->nki", rot, lay.k_rest) / (scale * p)
    energy = (np.abs(spec.sample(f_rest)) ** 2).mean(axis=1)          # ≈ E|floor-normalised noise|² under H0
    z_comb = (energy - spec.noise_power) / (spec.noise_power * np.sqrt(1.0 / len(lay.k_rest)) + 1e-12)
    penalty = params.geometry_penalty * (np.abs(np.degrees(thetas)) / 5.0 + abs(math.log(scale)) / math.log(1.5))
    score = z_sync + params.comb_weight * z_comb - penalty
    best = int(score.argmax())
    ty, tx = divmod(int(peak[best]), p)
    c = corr[best]

    def vertex(m1: float, c0: float, p1: float) -> float:  # parabola through three samples
        d = m1 - 2 * c0 + p1
        return 0.0 if d >= 0 else float(np.clip(0.5 * (m1 - p1) / d, -0.5, 0.5))

    fy = vertex(c[(ty - 1) % p, tx], c[ty, tx], c[(ty + 1) % p, tx])
    fx = vertex(c[ty, (tx - 1) % p], c[ty, tx], c[ty, (tx + 1) % p])
    return float(score[best]), float(thetas[best]), (ty + fy, tx + fx)


def _readout(spec: _Spectrum, k: np.ndarray, phase: np.ndarray, theta: float, scale: float,
             t: tuple[float, float], period: int) -> np.ndarray:
    rot = _rotations(np.array([theta]))[0]
    f = (k @ rot.T) / (scale * period)
    on_grid = theta == 0.0 and scale == 1.0  # the padded FFT holds these frequencies exactly
    g = spec.sample(f) if on_grid else spec.exact(f)
    shift = np.exp(2j * np.pi * (k @ np.asarray(t, dtype=np.float64)) / period)
    return np.real(g * np.conj(phase) * shift)


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

    def details(self) -> dict[str, Any]:
        return {"sync_z": round(self.sync_z, 2), "rotation_deg": round(self.rotation_deg, 3), "scale": self.scale,
                "translation": [round(v, 2) for v in self.translation], "hypotheses": self.hypotheses,
                "payload_bit_errors_corrected": self.payload_errors}


def detect(pixels: np.ndarray, key: WatermarkKey, params: TiledParams) -> TiledDetection:
    """Search the geometry, read the check and payload frequencies, test."""
    lay = layout(key, params)
    spec = _Spectrum(pixels, params.period)
    step = math.radians(params.rotation_step)
    n_steps = round(params.max_rotation / params.rotation_step)
    thetas = np.arange(-n_steps, n_steps + 1) * step
    best: tuple[float, float, float, tuple[float, float]] = (-math.inf, 0.0, 1.0, (0.0, 0.0))
    hypotheses = 0
    for scale in params.scales:
        if scale * params.period > min(spec.h, spec.w) * 1.01 or params.band[1] / (scale * params.period) >= 0.5:
            continue  # the pattern would not fit, or its frequencies would alias
        z, theta, t = _sync_search(spec, lay, params, scale, thetas)
        hypotheses += len(thetas)
        if z > best[0]:
            best = (z, theta, scale, t)
        if best[0] >= params.confident_sync_z:
            break
    z, theta, scale, _ = best
    # Refine the angle around the best coarse one, then take the translation there.
    fine = theta + np.linspace(-step, step, 11)
    z, theta, t = _sync_search(spec, lay, params, scale, fine)
    hypotheses += len(fine)
    checks = _readout(spec, lay.k_check, lay.check_phase, theta, scale, t, params.period) * lay.check_sign
    p_value = signed_rank_pvalue(checks)
    bit_accuracy = float(np.mean(checks > 0))
    code_vals = _readout(spec, lay.k_payload, lay.payload_phase, theta, scale, t, params.period)
    code_bits = [int(b) for b in (code_vals > 0).astype(np.int64) ^ lay.scramble]
    payload, n_err = PayloadCode(params.code_t, params.code_m).decode(code_bits)
    return TiledDetection(p_value=p_value, bit_accuracy=bit_accuracy, payload=payload, payload_errors=n_err,
                          sync_z=z, rotation_deg=math.degrees(theta), scale=scale, translation=t,
                          hypotheses=hypotheses)


__all__ = ["PAYLOAD_BITS", "TiledDetection", "TiledParams", "detect", "embed", "layout", "tile"]
