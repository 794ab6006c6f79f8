"""Third stage of the memorization check: register each candidate onto the query, then correlate.

An embedding says "these two look alike"; a copy is more than that: after undoing a small
geometric edit (rotation, zoom or crop, mirror, shift) its pixels agree with the original almost
everywhere. For every candidate this module searches those edits and returns the best normalised
cross-correlation (NCC) of the greyscale images:

* both images are reduced to ``size``² greyscale (the comparison is about structure, not fine
  texture, and a small size makes the search cheap);
* the candidate is warped by every rotation × scale × mirror hypothesis (bilinear, one batched
  ``grid_sample``), and the central ``window`` of the query (the border is where rotations and
  crops leave fill pixels) is correlated with each warp for every shift up to ``size``/8 at once
  (a small convolution), with the candidate's mean and energy taken under the shifted window (an exact
  NCC per shift);
* candidates that come close (``refine_from``) are refined to fractional shifts: their best warp
  is resampled with the best whole-pixel shift plus a grid of offsets over ±½ pixel folded into
  its translation (a crop whose edge falls between pixels is otherwise half a pixel off every
  tried shift, which costs a 28×28 garment up to 0.07 of correlation);
* the score is the largest NCC over warps and shifts, in [-1, 1]; brightness and contrast
  changes do not move it (NCC is invariant to affine changes of intensity).

A transformed copy scores 0.95–1.0; a different item of the same kind (another T-shirt, another
patch of sky) usually scores lower, because its details are elsewhere. On small, smooth images
such as 28×28 garments look-alikes reach 0.97–0.98, which is why the check's threshold is high.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class AlignParams:
    size: int = 32
    """Side of the greyscale images that are registered and correlated."""
    rotations: tuple[float, ...] = (-10.0, -7.5, -5.0, -2.5, 0.0, 2.5, 5.0, 7.5, 10.0)
    """Rotation hypotheses in degrees."""
    scales: tuple[float, ...] = (0.9, 1.0, 1.1)
    """Zoom hypotheses (a 10% crop resized back is a zoom of 1.1)."""
    mirror: bool = True
    window: float = 0.8
    """Share of the query's side (centred) that is compared; the border is where rotations and
    crops leave fill pixels."""
    subpixel: int = 2
    """Fractional shifts tried around each candidate's best whole-pixel shift: a (2·subpixel + 1)²
    grid over ±½ pixel (0: none)."""
    refine_from: float = 0.85
    """Only candidates whose whole-pixel score reaches this are refined (the others cannot reach
    the check's thresholds)."""

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 256:
            raise ValueError("align size must be in 8..256")
        if not 0.25 <= self.window <= 1.0:
            raise ValueError("align window must be in [0.25, 1]")
        if not 0 <= self.subpixel <= 8:
            raise ValueError("align subpixel must be in 0..8")
        if not self.rotations or not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError("align needs at least one rotation and one positive scale")


def grey_thumbnail(image: Any, size: int) -> np.ndarray:
    """``size``² float32 greyscale of a PIL image or array (antialiased, aspect not kept)."""
    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    if pil.mode not in ("L", "RGB"):
        pil = pil.convert("RGB")
    a = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=np.float32)
    return a @ LUMA if a.ndim == 3 else a


@lru_cache(maxsize=16)
def _affines(params: AlignParams, mirrored: bool | None = None) -> Any:
    """The warps to try: every rotation × scale, unmirrored and (with ``params.mirror``) mirrored;
    ``mirrored`` True or False keeps only that orientation."""
    import torch

    rows = []
    for deg in params.rotations:
        t = math.radians(deg)
        for s in params.scales:
            c, si = math.cos(t) / s, math.sin(t) / s
            if mirrored is not True:
                rows.append([[c, -si, 0.0], [si, c, 0.0]])
            if params.mirror and mirrored is not False:  # x -> -x, then the same rotation and scale
                rows.append([[-c, -si, 0.0], [-si, c, 0.0]])
    return torch.tensor(rows, dtype=torch.float32)


def aligned_correlation(query: np.ndarray, candidates: Sequence[np.ndarray],
                        params: AlignParams = AlignParams(),
                        mirrored: Sequence[bool | None] | None = None) -> np.ndarray:
    """Best NCC of each candidate thumbnail against the query thumbnail (both ``size``², from
    :func:`grey_thumbnail`) over the rotation × scale × mirror × shift search; shape (n,).
    ``mirrored``: per candidate, the one orientation to search when it is known (from the
    embedding stage: half the work), None for both (as when ``mirrored`` itself is None)."""
    if not len(candidates):
        return np.zeros(0, dtype=np.float64)
    if mirrored is not None and params.mirror:
        out = np.zeros(len(candidates))
        for flag in (False, True, None):
            sel = [j for j, m in enumerate(mirrored) if m is flag]
            if sel:
                out[sel] = _aligned(query, [candidates[j] for j in sel], params, flag)
        return out
    return _aligned(query, candidates, params, None)


def _aligned(query: np.ndarray, candidates: Sequence[np.ndarray], params: AlignParams,
             mirrored: bool | None) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    r = params.size
    q = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32))
    c = torch.from_numpy(np.stack([np.asarray(x, dtype=np.float32) for x in candidates]))
    if q.shape != (r, r) or c.shape[1:] != (r, r):
        raise ValueError(f"thumbnails must be {r}×{r}")
    affines = _affines(params, mirrored)
    n, m = len(c), len(affines)
    reach = max(1, r // 8)
    inner = max(4, round(r * params.window))
    lo = (r - inner) // 2
    with torch.inference_mode():
        grid = F.affine_grid(affines, [m, 1, r, r], align_corners=False)
        warped = F.grid_sample(c[:, None].repeat_interleave(m, 0), grid.repeat(n, 1, 1, 1), mode="bilinear",
                               padding_mode="border", align_corners=False)[:, 0]
        warped = warped - warped.mean(dim=(1, 2), keepdim=True)  # smaller numbers: exacter variances
        # The query's central window (the corners are where rotations and crops put fill pixels) is
        # correlated with every shift t in [-reach, reach]² of the warped candidate (zeros beyond
        # its edges), and the candidate's sum and energy are taken under the same shifted window, so
        # each shift's score is an exact NCC: one small convolution per quantity.
        win = q[lo:lo + inner, lo:lo + inner]
        qw = win - win.mean()
        span = inner + 2 * reach
        padded = F.pad(warped, (reach, reach, reach, reach))[:, lo:lo + span, lo:lo + span][:, None]
        kernels = torch.stack([qw, torch.ones_like(qw)])[:, None]
        sums = F.conv2d(padded, kernels)  # (n·m, 2, 2·reach + 1, 2·reach + 1)
        num, s1 = sums[:, 0], sums[:, 1]
        s2 = F.conv2d(padded * padded, kernels[1:])[:, 0]
        var = (s2 - s1 * s1 / (inner * inner)).clamp_min(0.0)
        q_energy = float((qw * qw).sum())
        ncc = num / torch.sqrt(var * q_energy).clamp_min(1e-6)
        # a window with (almost) no variation in the candidate says nothing
        ncc = torch.where(var > 1e-3 * inner * inner, ncc, torch.zeros_like(ncc))
        per_warp = ncc.reshape(n, m, -1)
        best = per_warp.amax(dim=2).amax(dim=1)
        near = torch.nonzero(best >= params.refine_from).flatten()
        if len(near) and params.subpixel:
            warp = per_warp[near].amax(dim=2).argmax(dim=1)
            shift = per_warp[near, warp].argmax(dim=1)
            side = 2 * reach + 1
            sy, sx = (shift // side - reach).float(), (shift % side - reach).float()
            refined = _subpixel(c[near], affines[warp], sx, sy, qw, lo, inner, params.subpixel)
            best[near] = torch.maximum(best[near], refined)
    if q_energy < 1e-3 * inner * inner:  # a flat query has no structure to correlate
        return np.zeros(n)
    return best.double().clamp(-1.0, 1.0).numpy()


def _subpixel(cands: Any, affines: Any, sx: Any, sy: Any, qw: Any, lo: int, inner: int, steps: int) -> Any:
    """Best NCC of each candidate over fractional shifts around its best whole-pixel one: the warp
    ``affines[i]`` with the shift ``(sx, sy) + δ`` folded into its translation, for δ on a
    ``(2·steps + 1)²`` grid over ±½ pixel (a copy that is half a pixel off the search grid — a crop
    whose edge falls between pixels — loses most on small, sharp images)."""
    import torch
    import torch.nn.functional as F

    r = cands.shape[-1]
    frac = torch.linspace(-0.5, 0.5, 2 * steps + 1)
    dy, dx = torch.meshgrid(frac, frac, indexing="ij")
    k = dy.numel()
    n = len(cands)
    # query pixel y is matched with warped pixel y + s; in normalised coordinates (align_corners
    # False) a shift of s pixels is 2s/r, and the warp maps it through its linear part
    shifts = torch.stack([(sx[:, None] + dx.flatten()[None]) * 2 / r,
                          (sy[:, None] + dy.flatten()[None]) * 2 / r], dim=-1)  # (n, k, 2): x, y
    lin = affines[:, :, :2]  # (n, 2, 2)
    theta = torch.cat([lin[:, None].expand(n, k, 2, 2),
                       (lin[:, None] @ shifts[..., None])], dim=-1).reshape(n * k, 2, 3)
    grid = F.affine_grid(theta, [n * k, 1, r, r], align_corners=False)
    warped = F.grid_sample(cands[:, None].repeat_interleave(k, 0), grid, mode="bilinear", padding_mode="border",
                           align_corners=False)[:, 0, lo:lo + inner, lo:lo + inner]
    w = warped - warped.mean(dim=(1, 2), keepdim=True)
    num = (w * qw).sum(dim=(1, 2))
    energy = (w * w).sum(dim=(1, 2))
    den = torch.sqrt(energy * (qw * qw).sum()).clamp_min(1e-6)
    ncc = torch.where(energy > 1e-3 * inner * inner, num / den, torch.zeros_like(num))
    return ncc.reshape(n, k).amax(dim=1)
