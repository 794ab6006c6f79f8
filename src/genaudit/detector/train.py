"""Training a detector: split, fit the probe, calibrate, choose the operating point, validate.

Each class is split at random (``seed``) into train / calibration / validation parts. The probe
is fit on the train part; the calibration map and the operating point (the score threshold that
keeps the false-positive rate on real images at ``target_fpr``) on the calibration part; the
metrics are measured on the validation part, which neither saw.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._version import __version__
from .extract import DEFAULT_BLOCKS, FeatureExtractor
from .features import DIM as RESIDUAL_DIM
from .features import VERSION as RESIDUAL_BLOCK
from .model import DetectorModel
from .probe import PROBES, Probe, TreeProbe, fit_calibration, fit_probe, fit_tree_probe, metrics

MIN_PER_CLASS = 8


@dataclass(frozen=True)
class TrainOptions:
    """How a detector is trained (recorded in the model file)."""

    target_fpr: float = 0.01
    calibration: str = "isotonic"
    probe: str = "trees"
    """``trees`` (gradient-boosted trees on the residual block and a PCA of the embedding) or
    ``logistic`` (a linear probe on all features, UnivFD-style)."""
    c: float = 0.05
    """Inverse L2 strength of the logistic probe."""
    n_components: int = 64
    """PCA components of the embedding block the trees see."""
    max_iter: int = 300
    """Boosting iterations (trees)."""
    blocks: tuple[str, ...] = DEFAULT_BLOCKS
    cal_fraction: float = 0.25
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.target_fpr < 1:
            raise ValueError(f"target_fpr must be between 0 and 1, got {self.target_fpr}")
        if not (0 < self.cal_fraction < 1 and 0 <= self.val_fraction < 1
                and self.cal_fraction + self.val_fraction < 0.9):
            raise ValueError("cal_fraction and val_fraction must leave at least 10% for training")
        if self.c <= 0:
            raise ValueError(f"c must be positive, got {self.c}")
        if self.probe not in PROBES:
            raise ValueError(f"unknown probe {self.probe!r}; choose from {', '.join(PROBES)}")
        if self.n_components < 1 or self.max_iter < 1:
            raise ValueError("n_components and max_iter must be at least 1")


@dataclass(frozen=True, eq=False)
class TrainResult:
    model: DetectorModel
    validation: Mapping[str, Any]
    """Metrics on the validation part (AUC, AP, ECE, accuracy / TPR / FPR at the operating point)."""
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Images per class in each part."""


def split_indices(n: int, opts: TrainOptions, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train / calibration / validation indices of ``n`` items (each part non-empty)."""
    perm = rng.permutation(n)
    n_val = max(1, round(n * opts.val_fraction)) if opts.val_fraction > 0 else 0
    n_cal = max(1, round(n * opts.cal_fraction))
    return perm[n_val + n_cal:], perm[n_val:n_val + n_cal], perm[:n_val]


def fit_detector(x_real: np.ndarray, x_fake: np.ndarray, opts: TrainOptions = TrainOptions(), *,
                 embedder_sha256: str = "", meta: Mapping[str, Any] | None = None) -> TrainResult:
    """Train on precomputed features (rows: images; blocks as ``opts.blocks``)."""
    for what, x in (("real", x_real), ("generated", x_fake)):
        if len(x) < MIN_PER_CLASS:
            raise ValueError(f"need at least {MIN_PER_CLASS} {what} images to train a detector, got {len(x)}")
    rng = np.random.default_rng(opts.seed)
    r_tr, r_cal, r_val = split_indices(len(x_real), opts, rng)
    f_tr, f_cal, f_val = split_indices(len(x_fake), opts, rng)
    x_tr = np.concatenate([x_real[r_tr], x_fake[f_tr]])
    y_tr = np.r_[np.zeros(len(r_tr), int), np.ones(len(f_tr), int)]
    probe: Probe | TreeProbe
    if opts.probe == "logistic":
        probe = fit_probe(x_tr, y_tr, c=opts.c, seed=opts.seed)
    else:  # the residual block (first, when present) as it is; the rest through PCA
        keep = RESIDUAL_DIM if opts.blocks[0] == RESIDUAL_BLOCK else 0
        probe = fit_tree_probe(x_tr, y_tr, keep=keep, n_components=opts.n_components, max_iter=opts.max_iter,
                               seed=opts.seed)
    s_cal_real, s_cal_fake = probe.score(x_real[r_cal]), probe.score(x_fake[f_cal])
    calibration = fit_calibration(np.r_[s_cal_real, s_cal_fake],
                                  np.r_[np.zeros(len(r_cal), int), np.ones(len(f_cal), int)], opts.calibration)
    counts = {"real": {"train": len(r_tr), "calibration": len(r_cal), "validation": len(r_val)},
              "generated": {"train": len(f_tr), "calibration": len(f_cal), "validation": len(f_val)}}
    record = {"options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.__dict__.items()},
              "counts": counts, "genaudit": __version__, **(meta or {})}
    model = DetectorModel(probe=probe, calibration=calibration, real_scores=np.sort(s_cal_real),
                          target_fpr=opts.target_fpr, features=tuple(opts.blocks), embedder_sha256=embedder_sha256,
                          meta=record)
    validation: dict[str, Any] = {}
    if len(r_val) and len(f_val):
        s_val = np.r_[probe.score(x_real[r_val]), probe.score(x_fake[f_val])]
        y_val = np.r_[np.zeros(len(r_val), int), np.ones(len(f_val), int)]
        validation = metrics(calibration(s_val), y_val, s_val, model.threshold_score, at_fpr=0.01)
        model = replace(model, meta={**record, "validation": validation})
    return TrainResult(model, validation, counts)


def train_detector(real: Sequence[Any], fake: Sequence[Any], opts: TrainOptions = TrainOptions(), *,
                   extractor: FeatureExtractor | None = None, meta: Mapping[str, Any] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train on images (PIL or uint8 arrays, each at least 8 px a side): features, then :func:`fit_detector`."""
    extractor = extractor or FeatureExtractor(opts.blocks)
    if tuple(extractor.blocks) != tuple(opts.blocks):
        raise ValueError(f"the extractor computes {extractor.blocks}, the options ask for {opts.blocks}")
    total = len(real) + len(fake)

    def step(offset: int) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, _n: progress(offset + done, total))

    x_real = extractor(list(real), step(0))
    x_fake = extractor(list(fake), step(len(real)))
    return fit_detector(x_real, x_fake, opts, embedder_sha256=extractor.embedder_sha256, meta=meta)


@dataclass
class LoadedFolder:
    """Images read from folders for training, and what could not be used (never dropped silently)."""

    images: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """``(path, "code: reason")`` of files that could not be read or are too small."""
    ignored: list[str] = field(default_factory=list)
    """Files in the folders that are not images."""


def load_training_images(inputs: Sequence[str]) -> LoadedFolder:
    """Every image under ``inputs`` (files or folders, walked like a scan) as a uint8 array."""
    from ..errors import ImageLoadError
    from ..io import iter_inputs, open_image
    from .features import TooSmallError, as_array, check_size

    out = LoadedFolder()
    for item in iter_inputs(inputs, ignored=out.ignored):
        if item.error is not None:
            out.refused.append((item.path, f"{item.error.code}: {item.error.message}"))
            continue
        try:
            arr = as_array(open_image(item.path).pil)
            check_size(arr)
        except ImageLoadError as exc:
            out.refused.append((item.path, f"{exc.code}: {exc.message}"))
            continue
        except TooSmallError as exc:
            out.refused.append((item.path, f"too_small: {exc}"))
            continue
        out.images.append(arr)
        out.paths.append(item.path)
    return out


def model_card(result: TrainResult, model_path: str, sources: Mapping[str, Sequence[str]] | None = None) -> str:
    """The Markdown model card written beside a trained detector."""
    m = result.model
    v = result.validation

    def fmt(x: Any) -> str:
        return "n/a" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)

    lines = [f"# Detector model card: `{os.path.basename(model_path)}`", "",
             "A genaudit real-vs-fake detector: a probe (gradient-boosted trees or logistic regression) on image"
             " features, calibrated into"
             " p(generated), with an operating point chosen for a target false-positive rate on real images.", "",
             "## File", "", f"- sha256: `{m.sha256 or '(see the file)'}`",
             f"- features: {', '.join(f'`{b}`' for b in m.features)}",
             f"- embedding weights sha256: `{m.embedder_sha256 or 'none'}`",
             f"- calibration: {m.calibration.method}",
             f"- operating point: target FPR {m.target_fpr:g} on real images → threshold p(generated) ≥"
             f" {m.threshold:.4f} (from {len(m.real_scores)} calibration real images)", "",
             "## Training data", ""]
    for cls in ("real", "generated"):
        c = result.counts.get(cls, {})
        lines.append(f"- {cls}: {sum(c.values())} images (train {c.get('train')}, calibration"
                     f" {c.get('calibration')}, validation {c.get('validation')})")
        for src in (sources or {}).get(cls, []):
            lines.append(f"  - `{src}`")
    opts = m.meta.get("options", {})
    probe = (f"gradient-boosted trees ({opts.get('max_iter')} iterations) on the residual block and"
             f" {opts.get('n_components')} PCA components of the embedding" if m.probe.kind == "trees"
             else f"logistic regression (C {opts.get('c')})")
    lines += ["", f"- probe: {probe}; seed {opts.get('seed')}; genaudit {m.meta.get('genaudit')}", "",
              "## Validation (held out from training and calibration)", "",
              "| metric | value |", "|---|---|"]
    for key in ("auc", "ap", "tpr_at_0.01_fpr", "ece", "accuracy", "tpr", "fpr", "n_real", "n_generated"):
        if key in v:
            lines.append(f"| {key} | {fmt(v[key])} |")
    lines += ["", "## Limits", "",
              "- The detector knows the generators and the kinds of real images it was trained on. Scores on other"
              " generators or other kinds of real images are not calibrated: measure before relying on them"
              " (`benchmarks/detector_eval.py` shows how), and retrain on your own generator's samples.",
              "- Images smaller than 8 px on a side are skipped; larger than 256 px the residual features read"
              " the central 256² crop; the embedding sees the whole image resized.", ""]
    return "\n".join(lines)
