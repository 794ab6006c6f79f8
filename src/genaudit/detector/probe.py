"""The functional core of the detector: a linear probe on standardised features, its calibration
into probabilities, the operating point for a target false-positive rate, and the metrics.

All functions take and return numpy arrays; nothing here reads files or images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

PROBES = ("trees", "logistic")


@dataclass(frozen=True, eq=False)
class Probe:
    """Linear probe: standardise, then ``s = ((x − mean) / scale) · coef + intercept`` (a logit)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    kind: ClassVar[str] = "logistic"

    @property
    def input_dim(self) -> int:
        return len(self.mean)

    def score(self, x: np.ndarray) -> np.ndarray:
        return (((x - self.mean) / self.scale) @ self.coef + self.intercept).astype(np.float64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef,
                "intercept": np.array([self.intercept], np.float64)}

    @classmethod
    def from_arrays(cls, t: Mapping[str, np.ndarray]) -> Probe:
        probe = cls(np.asarray(t["mean"], np.float32), np.asarray(t["scale"], np.float32),
                    np.asarray(t["coef"], np.float32), float(t["intercept"][0]))
        if not (len(probe.scale) == len(probe.coef) == len(probe.mean)):
            raise ValueError("its arrays do not fit together")
        if not (np.isfinite(probe.coef).all() and np.isfinite(probe.mean).all() and (probe.scale > 0).all()):
            raise ValueError("its weights are not finite")
        return probe


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
class TreeProbe:
    """Gradient-boosted trees on ``[x[:, :keep], PCA(standardised x[:, keep:])]``.

    The first ``keep`` columns (the low-level residual block) are used as they are; the rest (the
    embedding) is standardised and projected on its ``components``. The score is the boosted sum
    of the trees' leaf values plus ``baseline`` (a logit). The trees are plain arrays — node
    ``i`` tests ``z[feature[i]] <= threshold[i]`` (missing values go where ``missing_left[i]``
    says) and goes to ``left[i]`` or ``right[i]`` until a leaf — so a model file holds no code.
    """

    keep: int
    emb_mean: np.ndarray
    emb_scale: np.ndarray
    components: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    roots: np.ndarray
    baseline: float
    kind: ClassVar[str] = "trees"

    @property
    def input_dim(self) -> int:
        return self.keep + len(self.emb_mean)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return _project(x, self.keep, self.emb_mean, self.emb_scale, self.components)

    def score(self, x: np.ndarray) -> np.ndarray:
        z = self.transform(x)
        n = len(z)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()  # (images, trees)
        rows = np.arange(n)[:, None]
        for _ in range(64):  # deeper than any tree the trainer grows
            inner = ~self.is_leaf[node]
            if not inner.any():
                break
            v = z[rows, self.feature[node]]
            go_left = np.where(np.isnan(v), self.missing_left[node], v <= self.threshold[node])
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        return self.baseline + self.value[node].sum(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"keep": np.array([self.keep], np.int64), "emb_mean": self.emb_mean, "emb_scale": self.emb_scale,
                "components": self.components, "feature": self.feature, "threshold": self.threshold,
                "left": self.left, "right": self.right, "is_leaf": self.is_leaf.astype(np.uint8),
                "value": self.value, "missing_left": self.missing_left.astype(np.uint8), "roots": self.roots,
                "baseline": np.array([self.baseline], np.float64)}

    @classmethod
    def from_arrays(cls, t: Mapping[str, np.ndarray]) -> TreeProbe:
        probe = cls(int(t["keep"][0]), np.asarray(t["emb_mean"], np.float64), np.asarray(t["emb_scale"], np.float64),
                    np.asarray(t["components"], np.float64), np.asarray(t["feature"], np.int64),
                    np.asarray(t["threshold"], np.float64), np.asarray(t["left"], np.int64),
                    np.asarray(t["right"], np.int64), np.asarray(t["is_leaf"]).astype(bool),
                    np.asarray(t["value"], np.float64), np.asarray(t["missing_left"]).astype(bool),
                    np.asarray(t["roots"], np.int64), float(t["baseline"][0]))
        nodes = len(probe.feature)
        width = probe.keep + len(probe.components)
        same = {len(a) for a in (probe.threshold, probe.left, probe.right, probe.is_leaf, probe.value,
                                 probe.missing_left)}
        if same != {nodes} or len(probe.emb_mean) != len(probe.emb_scale) or (
                len(probe.components) and probe.components.shape[1] != len(probe.emb_mean)):
            raise ValueError("its arrays do not fit together")
        inner = ~probe.is_leaf
        if (len(probe.roots) == 0 or probe.roots.min() < 0 or probe.roots.max() >= nodes
                or (inner & ((probe.left < 0) | (probe.left >= nodes) | (probe.right < 0) | (probe.right >= nodes)
                             | (probe.feature < 0) | (probe.feature >= width))).any()):
            raise ValueError("its trees point outside themselves")
        if (inner & ((probe.left <= np.arange(nodes)) | (probe.right <= np.arange(nodes)))).any():
            raise ValueError("its trees are not trees (a child before its parent)")
        if not (np.isfinite(probe.value).all() and (probe.emb_scale > 0).all()):
            raise ValueError("its weights are not finite")
        return probe


def _project(x: np.ndarray, keep: int, mean: np.ndarray, scale: np.ndarray, components: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if not len(mean):
        return x[:, :keep]
    return np.concatenate([x[:, :keep], ((x[:, keep:] - mean) / scale) @ components.T], axis=1)


def fit_tree_probe(x: np.ndarray, y: np.ndarray, *, keep: int, n_components: int = 64, max_iter: int = 300,
                   learning_rate: float = 0.1, seed: int = 0) -> TreeProbe:
    """Fit :class:`TreeProbe`: PCA of the standardised columns after ``keep`` (at most
    ``n_components``), then scikit-learn's histogram gradient boosting, classes weighted equally;
    the fitted trees are copied out into arrays."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.asarray(x, np.float64)
    emb = x[:, keep:]
    if emb.shape[1]:
        mean = emb.mean(axis=0)
        scale = emb.std(axis=0)
        scale = np.where(scale > 1e-8, scale, 1.0)
        k = min(n_components, emb.shape[1], len(emb) - 1)
        _, _, vt = np.linalg.svd((emb - mean) / scale, full_matrices=False)
        components = vt[:k]
    else:
        mean = scale = np.zeros(0)
        components = np.zeros((0, 0))
    z = _project(x, keep, mean, scale, components)
    clf = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate, class_weight="balanced",
                                         early_stopping=False, random_state=seed)
    clf.fit(z, y)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "is_leaf",
                                                           "value", "missing_left")}
    roots, offset = [], 0
    for (tree,) in clf._predictors:  # one tree per boosting iteration (binary)
        nodes = tree.nodes
        if nodes["is_categorical"].any():  # pragma: no cover - no categorical features are declared
            raise RuntimeError("categorical splits are not supported")
        roots.append(offset)
        parts["feature"].append(nodes["feature_idx"].astype(np.int64))
        parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
        parts["left"].append(nodes["left"].astype(np.int64) + offset)
        parts["right"].append(nodes["right"].astype(np.int64) + offset)
        parts["is_leaf"].append(nodes["is_leaf"].astype(bool))
        parts["value"].append(nodes["value"].astype(np.float64))
        parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
        offset += len(nodes)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    # leaves point nowhere: make their children themselves, so arrays stay in range
    idx = np.arange(offset)
    arrays["left"] = np.where(arrays["is_leaf"], idx, arrays["left"])
    arrays["right"] = np.where(arrays["is_leaf"], idx, arrays["right"])
    return TreeProbe(keep, mean, scale, components, arrays["feature"], arrays["threshold"], arrays["left"],
                     arrays["right"], arrays["is_leaf"], arrays["value"], arrays["missing_left"],
                     np.asarray(roots, np.int64), float(np.ravel(clf._baseline_prediction)[0]))


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


CONFIDENCE = 0.9
"""How sure the operating point is to keep the false-positive rate at or below its target."""


def allowed_false_positives(n: int, target_fpr: float, confidence: float = CONFIDENCE) -> int:
    """How many of ``n`` calibration real images may reach the threshold so that the true rate
    stays at or below ``target_fpr`` with probability ``confidence``: the largest ``k`` with
    P(Binomial(n, target_fpr) ≤ k) ≤ 1 − confidence. An empirical quantile (``k = n·target``) is
    as often above the target as below; this is the conservative side of it.

    >>> allowed_false_positives(2000, 0.01), allowed_false_positives(100, 0.01)
    (13, 0)
    """
    from scipy.stats import binom

    k = int(binom.ppf(1 - confidence, n, target_fpr))
    while k > 0 and binom.cdf(k, n, target_fpr) > 1 - confidence:
        k -= 1
    return max(k, 0)


def threshold_for_fpr(real_scores: np.ndarray, target_fpr: float, confidence: float | None = CONFIDENCE) -> float:
    """The smallest score threshold ``t`` (verdict "generated" when ``score ≥ t``) at which at most
    :func:`allowed_false_positives` of ``real_scores`` reach ``t`` (``confidence=None``: at most
    ``target_fpr`` of them, the plain empirical quantile).

    >>> threshold_for_fpr(np.arange(100.0), 0.05, confidence=None)
    95.0
    >>> threshold_for_fpr(np.arange(100.0), 0.05)  # P(Bin(100, 0.05) <= 1) = 0.04: 1 allowed
    99.0
    """
    if not 0 < target_fpr < 1:
        raise ValueError(f"target_fpr must be between 0 and 1, got {target_fpr}")
    s = np.sort(np.asarray(real_scores, np.float64))
    if s.size == 0:
        raise ValueError("no real scores to set a threshold on")
    if confidence is None:
        allowed = int(np.floor(target_fpr * s.size + 1e-9))  # real images allowed at or above t
    else:
        allowed = allowed_false_positives(s.size, target_fpr, confidence)
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
