"""Group metrics of attribute labels, each with a bootstrap confidence interval (functional core).

Vocabulary (Fairlearn / AIF360 / HEIM):

* **distribution** — share of each attribute group among the labelled (not abstained) images;
* **representation disparity** against a target distribution — total variation ½Σ|p−t|,
  KL(p‖t) (natural log) and the HEIM-style max |p−t|;
* **selection rate** of a group within each condition (prompt, class label, CSV group), with the
  **difference** (max − min) and **ratio** (min / max) between conditions, and the
  **four-fifths rule** flag (ratio < 0.8). Point estimates come from fairlearn's ``MetricFrame``.

Confidence intervals are percentile bootstrap intervals (images resampled with replacement,
within each condition for the selection metrics). **Confusion correction**: with a labelled
calibration sample, the classifier's confusion matrix ``C`` (true group → predicted group or
abstain) is estimated, and the true distribution is the ``p`` on the simplex that best explains
the observed one, ``Cᵀp ≈ p_obs`` (non-negative least squares). Its interval is the percentile
bootstrap of the unconstrained (adjusted-count) estimator, clipped to [0, 1] — the constrained one
is biased for groups near 0 — and the bootstrap resamples the calibration sample too, so the
interval carries the uncertainty of ``C``.

>>> import numpy as np
>>> d = distribution(np.array([0, 0, 1, -1]), ("a", "b"), n_boot=200, seed=0)
>>> d.shares.round(3).tolist(), d.abstained
([0.667, 0.333], 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BOOT = 1000
DEFAULT_CONFIDENCE = 0.95
FOUR_FIFTHS = 0.8


@dataclass(frozen=True, eq=False)
class Interval:
    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float | None]:
        return {"value": _num(self.value), "ci_low": _num(self.ci_low), "ci_high": _num(self.ci_high)}


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


def _ci(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    import warnings

    a = (1 - confidence) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no labelled image, CI is NaN
        lo = np.nanquantile(samples, a, axis=0)
        hi = np.nanquantile(samples, 1 - a, axis=0)
    return lo, hi


@dataclass(frozen=True, eq=False)
class Distribution:
    groups: tuple[str, ...]
    counts: np.ndarray
    """(k,) images labelled with each group."""
    abstained: int
    shares: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    boot: np.ndarray
    """(n_boot, k) bootstrap replicates of ``shares`` (NaN rows where a replicate had no labels)."""
    corrected: Distribution | None = None
    """The confusion-corrected distribution, when a calibration was given."""

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.abstained

    @property
    def labelled(self) -> int:
        return int(self.counts.sum())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n, "labelled": self.labelled, "abstained": self.abstained,
            "abstain_rate": round(self.abstained / self.n, 6) if self.n else None,
            "groups": {g: {"share": _num(self.shares[i]), "ci_low": _num(self.ci_low[i]),
                           "ci_high": _num(self.ci_high[i]), "n": int(self.counts[i])}
                       for i, g in enumerate(self.groups)},
        }
        if self.corrected is not None:
            out["corrected"] = {g: {"share": _num(self.corrected.shares[i]), "ci_low": _num(self.corrected.ci_low[i]),
                                    "ci_high": _num(self.corrected.ci_high[i])}
                                for i, g in enumerate(self.groups)}
        return out


def _counts(group_index: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    gi = np.asarray(group_index, dtype=np.int64)
    if gi.size and (gi.max() >= k or gi.min() < -1):
        raise ValueError(f"group indices must lie in -1..{k - 1}")
    return np.bincount(gi[gi >= 0], minlength=k).astype(np.int64), int((gi < 0).sum())


def distribution(group_index: np.ndarray, groups: Sequence[str], *, n_boot: int = DEFAULT_BOOT,
                 confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                 calibration: ConfusionEstimate | None = None) -> Distribution:
    """Shares of ``groups`` among labelled images (index -1 = abstained), with bootstrap CIs."""
    k = len(groups)
    counts, abstained = _counts(group_index, k)
    n = int(counts.sum()) + abstained
    rng = np.random.default_rng(seed)
    full = np.append(counts, abstained).astype(np.float64)
    if n == 0:
        nan = np.full(k, np.nan)
        return Distribution(tuple(groups), counts, abstained, nan, nan, nan, np.full((0, k), np.nan))
    boot_full = rng.multinomial(n, full / n, size=n_boot).astype(np.float64)
    lab = boot_full[:, :k].sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = np.where(lab > 0, boot_full[:, :k] / lab, np.nan)
        shares = counts / counts.sum() if counts.sum() else np.full(k, np.nan)
    lo, hi = _ci(boot, confidence)
    corrected = None
    if calibration is not None:
        corrected = _corrected(full, boot_full, calibration, tuple(groups), confidence, rng)
    return Distribution(tuple(groups), counts, abstained, shares, lo, hi, boot, corrected)


@dataclass(frozen=True, eq=False)
class ConfusionEstimate:
    """Counts of (true group, predicted group or abstain) on a labelled calibration sample."""

    groups: tuple[str, ...]
    counts: np.ndarray
    """(k, k + 1): row = true group, column = predicted group, last column = abstained."""

    @classmethod
    def from_labels(cls, groups: Sequence[str], true_index: np.ndarray,
                    predicted_index: np.ndarray) -> ConfusionEstimate:
        k = len(groups)
        t = np.asarray(true_index, np.int64)
        p = np.asarray(predicted_index, np.int64)
        keep = t >= 0
        cols = np.where(p[keep] < 0, k, p[keep])
        counts = np.zeros((k, k + 1), np.int64)
        np.add.at(counts, (t[keep], cols), 1)
        return cls(tuple(groups), counts)

    def matrix(self, counts: np.ndarray | None = None) -> np.ndarray:
        c = (self.counts if counts is None else counts).astype(np.float64)
        rows = c.sum(axis=1, keepdims=True)
        k = len(self.groups)
        eye = np.hstack([np.eye(k), np.zeros((k, 1))])
        return np.where(rows > 0, c / np.maximum(rows, 1), eye)

    @property
    def accuracy(self) -> float:
        k = len(self.groups)
        return float(np.trace(self.counts[:, :k]) / max(self.counts.sum(), 1))

    @property
    def missing_groups(self) -> tuple[str, ...]:
        return tuple(g for g, r in zip(self.groups, self.counts.sum(axis=1), strict=True) if r == 0)

    def to_dict(self) -> dict[str, Any]:
        return {"groups": list(self.groups), "counts": self.counts.tolist(), "accuracy": round(self.accuracy, 6),
                "n": int(self.counts.sum()), "missing_groups": list(self.missing_groups)}


def _system(observed: np.ndarray, matrix: np.ndarray, weight: float = 1e3) -> tuple[np.ndarray, np.ndarray]:
    """``Cᵀ p = p_obs`` with a heavily weighted ``Σp = 1`` row appended: (A, b)."""
    k = matrix.shape[0]
    a = np.vstack([matrix.T, weight * np.ones((1, k))])
    b = np.append(observed / max(observed.sum(), 1e-12), weight)
    return a, b


def unmix(observed: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The distribution ``p`` (on the simplex) minimising ‖matrixᵀ p − observed‖ (NNLS with a
    heavily weighted sum-to-one row).

    >>> m = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    >>> unmix(np.array([0.9 * 0.7 + 0.2 * 0.3, 0.1 * 0.7 + 0.8 * 0.3, 0.0]), m).round(6).tolist()
    [0.7, 0.3]
    """
    from scipy.optimize import nnls

    k = matrix.shape[0]
    p, _ = nnls(*_system(observed, matrix))
    s = p.sum()
    return p / s if s > 0 else np.full(k, 1.0 / k)


def unmix_unconstrained(observed: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The least-squares ``p`` with Σp = 1 but no sign constraint (the adjusted-count estimator):
    unbiased where :func:`unmix` is pulled away from the boundary, so its bootstrap gives the interval.

    >>> m = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    >>> unmix_unconstrained(np.array([0.9 * 0.95 + 0.2 * 0.05, 0.1 * 0.95 + 0.8 * 0.05, 0.0]), m).round(6).tolist()
    [0.95, 0.05]
    """
    p, *_ = np.linalg.lstsq(*_system(observed, matrix), rcond=None)
    return np.asarray(p, dtype=np.float64)


def _corrected(full: np.ndarray, boot_full: np.ndarray, cal: ConfusionEstimate, groups: tuple[str, ...],
               confidence: float, rng: np.random.Generator) -> Distribution:
    if cal.groups != groups:
        raise ValueError("the calibration's groups differ from the attribute's")
    k = len(groups)
    point = unmix(full, cal.matrix())
    n_boot = len(boot_full)
    rows = cal.counts.sum(axis=1)
    eye = np.hstack([np.eye(k), np.zeros((k, 1))])
    # (B, k, k + 1): each calibration row resampled with its own size; rows without data stay the identity
    mats = np.stack([rng.multinomial(r, cal.counts[i] / r, size=n_boot) / r if r
                     else np.broadcast_to(eye[i], (n_boot, k + 1)) for i, r in enumerate(rows)], axis=1)
    # the interval comes from the unconstrained estimator (no pull away from 0 for groups that are
    # absent), clipped to [0, 1]; the point estimate is the constrained one, which lies inside it
    reps = np.clip(np.stack([unmix_unconstrained(boot_full[b], mats[b]) for b in range(n_boot)]), 0.0, 1.0)
    lo, hi = _ci(reps, confidence)
    lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    n = int(full.sum())
    return Distribution(groups, np.round(point * n).astype(np.int64), 0, point, lo, hi, reps)


@dataclass(frozen=True, eq=False)
class Disparity:
    total_variation: Interval
    kl: Interval
    max_abs: Interval
    target: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"target": list(self.target), "total_variation": self.total_variation.to_dict(),
                "kl": self.kl.to_dict(), "max_abs_diff": self.max_abs.to_dict()}


def _disparity_values(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.atleast_2d(p)
    tv = 0.5 * np.abs(p - t).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / np.where(t > 0, t, 1e-12)), 0.0)
    kl = terms.sum(axis=1)
    mx = np.abs(p - t).max(axis=1)
    return tv, kl, mx


def disparity(dist: Distribution, target: Sequence[float], confidence: float = DEFAULT_CONFIDENCE,
              corrected: bool = False) -> Disparity:
    """Representation disparity of ``dist`` (or its corrected version) against ``target``.

    >>> d = distribution(np.array([0] * 70 + [1] * 30), ("a", "b"), n_boot=100, seed=0)
    >>> round(disparity(d, (0.5, 0.5)).total_variation.value, 3)
    0.2
    """
    src = dist.corrected if corrected and dist.corrected is not None else dist
    t = np.asarray(target, np.float64)
    if t.shape != src.shares.shape:
        raise ValueError(f"target has {t.size} shares for {src.shares.size} groups")
    point = _disparity_values(src.shares, t)
    boot = _disparity_values(src.boot, t) if len(src.boot) else (np.array([np.nan]),) * 3
    out = []
    for v, b in zip(point, boot, strict=True):
        lo, hi = _ci(b[np.isfinite(b)] if np.isfinite(b).any() else b, confidence)
        out.append(Interval(float(v[0]), float(lo), float(hi)))
    return Disparity(out[0], out[1], out[2], tuple(float(x) for x in t))


@dataclass(frozen=True, eq=False)
class Selection:
    """Selection rate of one attribute group across conditions."""

    group: str
    conditions: tuple[str, ...]
    rates: np.ndarray
    rate_ci_low: np.ndarray
    rate_ci_high: np.ndarray
    n: np.ndarray
    difference: Interval
    ratio: Interval

    @property
    def four_fifths_violation(self) -> bool:
        return bool(np.isfinite(self.ratio.value) and self.ratio.value < FOUR_FIFTHS)

    def to_dict(self) -> dict[str, Any]:
        return {"by_condition": {c: {"rate": _num(self.rates[i]), "ci_low": _num(self.rate_ci_low[i]),
                                     "ci_high": _num(self.rate_ci_high[i]), "n": int(self.n[i])}
                                 for i, c in enumerate(self.conditions)},
                "difference": self.difference.to_dict(), "ratio": self.ratio.to_dict(),
                "four_fifths_violation": self.four_fifths_violation}


def selection(group_index: np.ndarray, conditions: Sequence[str], groups: Sequence[str], *,
              n_boot: int = DEFAULT_BOOT, confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> list[Selection]:
    """For each attribute group: its selection rate (share among labelled images) in each condition,
    the difference and ratio between conditions (fairlearn ``MetricFrame``), bootstrap CIs within
    conditions. Abstained images are left out; conditions with no labelled image are left out."""
    from fairlearn.metrics import MetricFrame, selection_rate

    gi = np.asarray(group_index, np.int64)
    cond = np.asarray([str(c) for c in conditions], dtype=object)
    keep = gi >= 0
    gi, cond = gi[keep], cond[keep]
    names = sorted(set(cond.tolist()))
    if len(names) < 2:
        return []
    rng = np.random.default_rng(seed)
    k = len(groups)
    counts = np.stack([np.bincount(gi[cond == c], minlength=k) for c in names]).astype(np.float64)  # (C, k)
    n = counts.sum(axis=1)
    boot = np.stack([rng.multinomial(int(n[j]), counts[j] / n[j], size=n_boot) for j in range(len(names))],
                    axis=1) / n[None, :, None]  # (B, C, k)
    out = []
    for g in range(k):
        y = gi == g
        mf = MetricFrame(metrics=selection_rate, y_true=y, y_pred=y, sensitive_features=cond)
        rates = np.array([float(mf.by_group[c]) for c in names])
        r_lo, r_hi = _ci(boot[:, :, g], confidence)
        b_max, b_min = boot[:, :, g].max(axis=1), boot[:, :, g].min(axis=1)
        d_lo, d_hi = _ci(b_max - b_min, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(b_max > 0, b_min / b_max, np.nan)
        q_lo, q_hi = _ci(ratios, confidence)
        ratio = float(mf.ratio()) if rates.max() > 0 else float("nan")
        out.append(Selection(groups[g], tuple(names), rates, r_lo, r_hi, n.astype(np.int64),
                             Interval(float(mf.difference()), float(d_lo), float(d_hi)),
                             Interval(ratio, float(q_lo), float(q_hi))))
    return out
