"""A bias audit of a set of images: zero-shot labels per attribute, grouped by condition, with metrics.

>>> # images: PIL images or uint8 arrays; conditions: the prompt/label each was generated for
>>> # report = audit_bias(images, conditions, load_attribute_set("fashion-mnist"), ClipEmbedder.default())
>>> # report.to_dict()["attributes"]["class"]["overall"]["groups"]["Dress"] -> share, ci_low, ci_high, n
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .attributes import Attribute, AttributeSet
from .labels import Labels, ZeroShotLabeler
from .metrics import (
    DEFAULT_BOOT,
    DEFAULT_CONFIDENCE,
    ConfusionEstimate,
    Disparity,
    Distribution,
    Selection,
    disparity,
    distribution,
    selection,
)

OVERALL = "(all)"


@dataclass(frozen=True)
class BiasOptions:
    n_boot: int = DEFAULT_BOOT
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0
    attributes: tuple[str, ...] = ()
    """Only these attributes of the set (empty: all)."""

    def __post_init__(self) -> None:
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be at least 100, got {self.n_boot}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence}")


@dataclass(frozen=True, eq=False)
class AttributeResult:
    attribute: Attribute
    labels: Labels
    overall: Distribution
    by_condition: Mapping[str, Distribution]
    disparity: Mapping[str, Disparity]
    """Per condition (and :data:`OVERALL`) against the attribute's target; empty without a target."""
    corrected_disparity: Mapping[str, Disparity]
    selection: Sequence[Selection]
    calibration: ConfusionEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "groups": list(self.attribute.group_names),
            "abstain_below": self.attribute.abstain_below,
            "target": list(self.attribute.target) if self.attribute.target is not None else None,
            "overall": self.overall.to_dict(),
            "by_condition": {c: d.to_dict() for c, d in self.by_condition.items()},
            "disparity": {c: d.to_dict() for c, d in self.disparity.items()},
            "selection": {s.group: s.to_dict() for s in self.selection},
            "four_fifths_violations": [s.group for s in self.selection if s.four_fifths_violation],
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
            out["corrected_disparity"] = {c: d.to_dict() for c, d in self.corrected_disparity.items()}
        return out


@dataclass(frozen=True, eq=False)
class BiasReport:
    attribute_set: AttributeSet
    model: Mapping[str, Any]
    paths: tuple[str, ...]
    conditions: tuple[str, ...]
    results: Mapping[str, AttributeResult]
    options: BiasOptions
    errors: tuple[Mapping[str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        from .. import __version__

        return {
            "schema": "genaudit.bias/1",
            "genaudit_version": __version__,
            "attribute_set": {"name": self.attribute_set.name, "source": self.attribute_set.source,
                              "caveats": list(self.attribute_set.caveats)},
            "clip": dict(self.model),
            "n_images": len(self.conditions),
            "conditions": {c: int(n) for c, n in zip(*np.unique(np.asarray(self.conditions, dtype=str),
                                                                 return_counts=True), strict=True)},
            "bootstrap": {"n_boot": self.options.n_boot, "confidence": self.options.confidence,
                          "seed": self.options.seed, "method": "percentile"},
            "attributes": {name: r.to_dict() for name, r in self.results.items()},
            "errors": [dict(e) for e in self.errors],
        }

    def to_frame(self) -> Any:
        """One row per attribute × condition × group: share, CI, n (and corrected share when calibrated)."""
        import pandas as pd

        rows = []
        for name, r in self.results.items():
            for cond, d in [(OVERALL, r.overall), *r.by_condition.items()]:
                for i, g in enumerate(d.groups):
                    row = {"attribute": name, "condition": cond, "group": g, "share": d.shares[i],
                           "ci_low": d.ci_low[i], "ci_high": d.ci_high[i], "n": int(d.counts[i]),
                           "labelled": d.labelled, "abstained": d.abstained}
                    if d.corrected is not None:
                        row.update(corrected_share=d.corrected.shares[i], corrected_ci_low=d.corrected.ci_low[i],
                                   corrected_ci_high=d.corrected.ci_high[i])
                    rows.append(row)
        return pd.DataFrame(rows)

    def labels_frame(self) -> Any:
        """One row per image: its path, condition and label per attribute (None = abstained)."""
        import pandas as pd

        data: dict[str, Any] = {"path": list(self.paths), "condition": list(self.conditions)}
        for name, r in self.results.items():
            data[name] = r.labels.names()
            data[f"{name}_p"] = r.labels.probabilities.max(axis=1) if len(r.labels.probabilities) else []
        return pd.DataFrame(data)


def analyse(labels: Labels, attribute: Attribute, conditions: Sequence[str], options: BiasOptions,
            calibration: ConfusionEstimate | None = None) -> AttributeResult:
    """Metrics of one attribute's labels (the functional core behind :func:`audit_bias`)."""
    cond = np.asarray([str(c) for c in conditions], dtype=object)
    overall = distribution(labels.group_index, attribute.group_names, seed=options.seed, calibration=calibration,
                           n_boot=options.n_boot, confidence=options.confidence)
    by_condition = {}
    names = sorted(set(cond.tolist()))
    if len(names) > 1:
        for j, c in enumerate(names):
            by_condition[c] = distribution(labels.group_index[cond == c], attribute.group_names,
                                           seed=options.seed + 1 + j, calibration=calibration,
                                           n_boot=options.n_boot, confidence=options.confidence)
    disp: dict[str, Disparity] = {}
    corr: dict[str, Disparity] = {}
    if attribute.target is not None:
        for c, d in [(OVERALL, overall), *by_condition.items()]:
            if d.labelled:
                disp[c] = disparity(d, attribute.target, options.confidence)
                if d.corrected is not None:
                    corr[c] = disparity(d, attribute.target, options.confidence, corrected=True)
    sel = selection(labels.group_index, list(cond), attribute.group_names, seed=options.seed,
                    n_boot=options.n_boot, confidence=options.confidence)
    return AttributeResult(attribute, labels, overall, by_condition, disp, corr, sel, calibration)


def audit_bias(images: Sequence[Any], conditions: Sequence[str] | None, attribute_set: AttributeSet,
               embedder: Any, options: BiasOptions | None = None, *, paths: Sequence[str] | None = None,
               keys: Sequence[str] | None = None, calibration: Mapping[str, ConfusionEstimate] | None = None,
               progress: Callable[[int, int], None] | None = None,
               errors: Sequence[Mapping[str, str]] = ()) -> BiasReport:
    """Label ``images`` (PIL or uint8 arrays) for every attribute of ``attribute_set`` with ``embedder``
    (:class:`~.clip.ClipEmbedder`) and compute the metrics, grouped by ``conditions`` (one per image:
    its prompt, class label or any group; ``None``: one group). ``keys`` (image sha256s) feed the
    embedding cache; ``calibration``: a :class:`ConfusionEstimate` per attribute name for corrected figures."""
    options = options or BiasOptions()
    conds = tuple(str(c) for c in conditions) if conditions is not None else ("all",) * len(images)
    if len(conds) != len(images):
        raise ValueError(f"got {len(conds)} conditions for {len(images)} images")
    wanted = options.attributes or tuple(a.name for a in attribute_set.attributes)
    attrs = [attribute_set.attribute(n) for n in wanted]
    emb = embedder.embed(list(images), keys=keys, progress=progress) if len(images) else np.empty((0, 0))
    results = {}
    for a in attrs:
        labels = ZeroShotLabeler(embedder, a).label_embeddings(emb)
        results[a.name] = analyse(labels, a, conds, options, (calibration or {}).get(a.name))
    model = embedder.describe() if hasattr(embedder, "describe") else {"model_id": getattr(embedder, "model_id", "")}
    return BiasReport(attribute_set, model, tuple(paths or [""] * len(images)), conds, results, options,
                      tuple(errors))


def estimate_calibration(images: Sequence[Any], true_groups: Sequence[str | None], attribute_set: AttributeSet,
                         embedder: Any, attributes: Sequence[str] = ()) -> dict[str, ConfusionEstimate]:
    """Confusion matrices of the zero-shot labels on a labelled sample, for every attribute whose
    group names the labels use (case-insensitive). Images whose label names no group are left out."""
    emb = embedder.embed(list(images))
    out = {}
    for a in attribute_set.attributes:
        if attributes and a.name not in attributes:
            continue
        truth = np.array([a.index_of(t) if t else -1 for t in true_groups], np.int64)
        if (truth >= 0).sum() == 0:
            continue
        pred = ZeroShotLabeler(embedder, a).label_embeddings(emb).group_index
        out[a.name] = ConfusionEstimate.from_labels(a.group_names, truth, pred)
    return out
