"""The functional core of the detector: a linear probe on standardised features, its calibration
into probabilities, the operating point for a target false-positive rate, and the metrics.

All functions take and return numpy arrays; nothing here reads files or images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Probe:
    """Standardise, then a logistic-regression score ``s = ((x − mean) / scale) · coef + intercept``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def score(self, x: np.ndarray) -> np.ndarray:
        return (((x - self.mean) / self.scale) @ self.coef + self.intercept).astype(np.float64)


def fit_probe(x: np.ndarray, y: np.ndarray, *, c: float = 0.05, seed: int = 0) -> Probe:
    """An L2-regularised logistic regression (inverse strength ``c``) on standardised ``x``; ``y``
    is 1 for generated, 0 for real. Classes are weighted to count equally."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit((x - mean) / scale, y)
    return Probe(mean.astype(np.float32), scale.astype(np.float32), clf.coef_[0].astype(np.float32),
                 float(clf.intercept_[0]))


@dataclass(frozen=True, eq=False)
class Calibration:
    """A monotone map from probe score to probability: ``isotonic`` (piecewise linear through the
    isotonic regression's steps, so that it stays monotone and nearly strictly increasing) or
    ``platt`` (a sigmoid ``1 / (1 + exp(−(a·s + b)))``)."""

    method: str
    x: np.ndarray
    y: np.ndarray

    def __call__(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)
        if self.method == "platt":
            a, b = float(self.x[0]), float(self.x[1])
            return 1.0 / (1.0 + np.exp(-(a * s + b)))
        return np.interp(s, self.x, self.y)


CALIBRATIONS = ("isotonic", "platt")


def fit_calibration(scores: np.ndarray, y: np.ndarray, method: str = "isotonic") -> Calibration:
    """Fit :class:`Calibration` on held-out ``scores`` with labels ``y`` (data the probe was not fit on)."""
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), y)
        return Calibration("platt", np.array([lr.coef_[0, 0], lr.intercept_[0]]), np.zeros(0))
    if method != "isotonic":
        raise ValueError(f"unknown calibration {method!r}; choose from {', '.join(CALIBRATIONS)}")
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
    xs, ys = np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)
    # one point per step: the middle of each run of equal values (ends kept), so the map is
    # piecewise linear between step centres rather than a staircase
    keep_x, keep_y = [xs[0]], [ys[0]]
    start = 0
    for i in range(1, len(xs) + 1):
        if i == len(xs) or ys[i] != ys[start]:
            keep_x.append((xs[start] + xs[i - 1]) / 2)
            keep_y.append(ys[start])
            start = i
    keep_x.append(xs[-1])
    keep_y.append(ys[-1])
    px, py = np.asarray(keep_x), np.asarray(keep_y)
    order = np.argsort(px, kind="stable")
    return Calibration("isotonic", px[order], np.maximum.accumulate(py[order]))


def threshold_for_fpr(real_scores: np.ndarray, target_fpr: float) -> float:
    """The smallest score threshold ``t`` at which at most ``target_fpr`` of ``real_scores`` reach
    ``t`` (verdict "generated" when ``score ≥ t``).

    >>> threshold_for_fpr(np.arange(100.0), 0.05)
    95.0
    """
    if not 0 < target_fpr < 1:
        raise ValueError(f"target_fpr must be between 0 and 1, got {target_fpr}")
    s = np.sort(np.asarray(real_scores, np.float64))
    if s.size == 0:
        raise ValueError("no real scores to set a threshold on")
    allowed = int(np.floor(target_fpr * s.size + 1e-9))  # real images allowed at or above t
    if allowed == 0:
        return float(np.nextafter(s[-1], np.inf))
    t = s[s.size - allowed]
    if (s >= t).sum() > allowed:  # ties at t: move just above them
        t = np.nextafter(t, np.inf)
    return float(t)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE: the bin-weighted mean |accuracy − confidence| over ``bins`` equal-width bins of p(generated).

    >>> expected_calibration_error(np.array([0.0, 1.0]), np.array([0, 1]))
    0.0
    """
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(y[m].mean() - p[m].mean())
    return float(total / max(len(p), 1))


def metrics(p: np.ndarray, y: np.ndarray, scores: np.ndarray | None = None, threshold: float | None = None,
            *, at_fpr: float = 0.01) -> dict[str, Any]:
    """AUC, AP, ECE, TPR at ``at_fpr`` FPR, and — given the probe ``scores`` and the operating
    ``threshold`` on them — accuracy, TPR and FPR at that threshold. ``y`` is 1 for generated."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    p, y = np.asarray(p, np.float64), np.asarray(y, int)
    rank = p if scores is None else np.asarray(scores, np.float64)  # the score ranks without calibration ties
    out: dict[str, Any] = {"n_real": int((y == 0).sum()), "n_generated": int((y == 1).sum())}
    both = 0 < y.sum() < len(y)
    out["auc"] = float(roc_auc_score(y, rank)) if both else None
    out["ap"] = float(average_precision_score(y, rank)) if both else None
    if both:
        fpr, tpr, _ = roc_curve(y, rank)
        out[f"tpr_at_{at_fpr:g}_fpr"] = float(np.interp(at_fpr, fpr, tpr))
    else:
        out[f"tpr_at_{at_fpr:g}_fpr"] = None
    out["ece"] = expected_calibration_error(p, y)
    if scores is not None and threshold is not None:
        pred = np.asarray(scores) >= threshold
        out["accuracy"] = float((pred == (y == 1)).mean())
        out["tpr"] = float(pred[y == 1].mean()) if (y == 1).any() else None
        out["fpr"] = float(pred[y == 0].mean()) if (y == 0).any() else None
    return out
