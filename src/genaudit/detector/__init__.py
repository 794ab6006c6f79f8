"""Real-vs-fake detector: a calibrated p(generated) and a verdict at a stated operating point.

A linear probe (UnivFD-style) on two feature blocks — low-level neighbouring-pixel, gradient,
intensity and spectral statistics (:mod:`.features`, after NPR) and the shared EfficientNet-Lite0
embedding (:mod:`genaudit.features.embedding`) — calibrated on held-out data (isotonic or Platt)
into a probability. The verdict is "generated" when the probe's score reaches the threshold chosen
on held-out real images for a target false-positive rate (default 1%), recorded with each result.

The shipped detector (``detector-fmnist``) knows the three reference generators at 28² and
natural photos; for any other generator, retrain in minutes on its samples::

    genaudit detector train --real photos/ --fake my_model_outputs/ -o my.gadet

>>> import numpy as np
>>> det = Detector()
>>> p = det.predict_proba([np.zeros((28, 28), np.uint8)])
>>> p.shape, bool(0.0 <= p[0] <= 1.0)
((1,), True)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .extract import FeatureExtractor
from .features import TooSmallError, as_array, check_size
from .model import DetectorFileError, DetectorModel
from .train import TrainOptions, TrainResult, fit_detector, load_training_images, model_card, train_detector

DEFAULT_MODEL = "detector-fmnist"
VERDICTS = ("generated", "real")


def default_model_path() -> str:
    """The shipped detector's file (in the reference checkpoints folder)."""
    from ..checkpoints import checkpoint_dir

    return os.path.join(checkpoint_dir(), f"{DEFAULT_MODEL}.gadet")


def _shipped_sha256(path: str) -> str | None:
    try:
        with open(os.path.join(os.path.dirname(path), "manifest.json"), encoding="utf-8") as fh:
            entry = (json.load(fh).get("detectors") or {}).get(DEFAULT_MODEL) or {}
    except (OSError, ValueError):
        return None
    return entry.get("sha256")


def load_model(path: str | os.PathLike[str] | None = None) -> DetectorModel:
    """A detector file (``None``: the shipped one, verified against the checkpoint manifest)."""
    if path is None:
        default = default_model_path()
        return DetectorModel.load(default, expected_sha256=_shipped_sha256(default))
    return DetectorModel.load(path)


@dataclass(frozen=True)
class Prediction:
    """One image's outcome: ``p_generated`` and ``verdict`` ("generated" / "real"), or
    ``verdict`` "skipped" with a ``reason`` (an image the detector cannot read)."""

    p_generated: float | None
    verdict: str
    threshold: float
    target_fpr: float
    score: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Detector:
    """A loaded detector: :meth:`predict_proba` and :meth:`predict`, batched and deterministic.

    ``model``: a :class:`DetectorModel`, a path, or ``None`` for the shipped detector;
    ``target_fpr`` re-chooses the operating point (``None``: the model's own).
    """

    def __init__(self, model: DetectorModel | str | os.PathLike[str] | None = None, *,
                 target_fpr: float | None = None, batch_size: int = 32, device: str = "cpu",
                 embedder: Any = None) -> None:
        loaded = model if isinstance(model, DetectorModel) else load_model(model)
        try:
            self.model = loaded.with_target_fpr(target_fpr)
        except ValueError as exc:
            raise DetectorFileError(str(exc)) from None
        self.extractor = FeatureExtractor(self.model.features, embedder=embedder, batch_size=batch_size,
                                          device=device)
        if self.extractor.dim != self.model.probe.input_dim:
            raise DetectorFileError(f"detector's probe takes {self.model.probe.input_dim} values, its features are"
                                    f" {self.extractor.dim} values")
        if self.model.embedder_sha256 and self.extractor.embedder_sha256 != self.model.embedder_sha256:
            raise DetectorFileError(f"detector was trained on embedding weights {self.model.embedder_sha256[:12]}…,"
                                    f" these are {self.extractor.embedder_sha256[:12]}…")
    @property
    def threshold(self) -> float:
        """The operating point as p(generated) (the model's, at this detector's target FPR)."""
        return self.model.threshold

    def info(self) -> dict[str, Any]:
        return self.model.info()

    def scores(self, images: Sequence[Any]) -> np.ndarray:
        """Probe scores of ``images`` (each at least 8 px a side, else :class:`TooSmallError`)."""
        arrays = [as_array(im) for im in images]
        for i, a in enumerate(arrays):
            try:
                check_size(a)
            except TooSmallError as exc:
                raise TooSmallError(f"image {i}: {exc}") from None
        return self.model.probe.score(self.extractor(arrays))

    def predict_proba(self, images: Sequence[Any]) -> np.ndarray:
        """p(generated) of each image, float64 in [0, 1]; the same input always gives the same output."""
        return np.clip(self.model.calibration(self.scores(images)), 0.0, 1.0)

    def predict(self, images: Sequence[Any]) -> list[Prediction]:
        """One :class:`Prediction` per image; images too small or unreadable are ``skipped``."""
        out: list[Prediction | None] = [None] * len(images)
        usable, arrays = [], []
        for i, im in enumerate(images):
            try:
                a = as_array(im)
                check_size(a)
            except (TooSmallError, ValueError) as exc:
                out[i] = Prediction(None, "skipped", self.threshold, self.model.target_fpr, reason=str(exc))
                continue
            usable.append(i)
            arrays.append(a)
        if arrays:
            s = self.model.probe.score(self.extractor(arrays))
            p = np.clip(self.model.calibration(s), 0.0, 1.0)
            for i, si, pi in zip(usable, s, p, strict=True):
                verdict = "generated" if si >= self.model.threshold_score else "real"
                out[i] = Prediction(float(pi), verdict, self.threshold, self.model.target_fpr, float(si))
        return [o for o in out if o is not None]


__all__ = ["DEFAULT_MODEL", "Detector", "DetectorFileError", "DetectorModel", "Prediction", "TooSmallError",
           "TrainOptions", "TrainResult", "default_model_path", "fit_detector", "load_model",
           "load_training_images", "model_card", "train_detector"]
