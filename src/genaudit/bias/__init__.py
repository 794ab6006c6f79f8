"""Bias metrics of image sets: CLIP zero-shot attribute labels, group metrics with bootstrap CIs.

* :mod:`.clip` — :class:`ClipEmbedder` on open_clip (local checkpoint, or an injected model), the
  project's own small CLIP (``genaudit-fmnist-vit``), an on-disk embedding cache;
* :mod:`.attributes` — attribute sets as TOML data (shipped: ``fashion-mnist``, ``people``);
* :mod:`.labels` — zero-shot labels with prompt ensembling and abstention;
* :mod:`.metrics` — distribution, representation disparity, selection rates (fairlearn
  ``MetricFrame``), four-fifths rule, confusion correction; bootstrap CIs for every figure;
* :mod:`.audit` — :func:`audit_bias` → :class:`BiasReport` (``to_dict``, ``to_frame``).
"""

from __future__ import annotations

from .attributes import Attribute, AttributeSet, Group, load_attribute_set, parse_attribute_set, shipped_sets
from .audit import AttributeResult, BiasOptions, BiasReport, analyse, audit_bias, estimate_calibration
from .clip import ClipEmbedder, EmbeddingCache, known_architectures, register_configs
from .labels import ABSTAIN, Labels, ZeroShotLabeler
from .metrics import (
    ConfusionEstimate,
    Disparity,
    Distribution,
    Selection,
    disparity,
    distribution,
    selection,
    unmix,
    unmix_unconstrained,
)

__all__ = [
    "ABSTAIN", "Attribute", "AttributeResult", "AttributeSet", "BiasOptions", "BiasReport", "ClipEmbedder",
    "ConfusionEstimate", "Disparity", "Distribution", "EmbeddingCache", "Group", "Labels", "Selection",
    "ZeroShotLabeler", "analyse", "audit_bias", "disparity", "distribution", "estimate_calibration",
    "known_architectures", "load_attribute_set", "parse_attribute_set", "register_configs", "selection",
    "shipped_sets", "unmix", "unmix_unconstrained",
]
