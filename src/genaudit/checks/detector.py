"""``detector`` check: calibrated p(generated) of each image and a verdict at a stated operating point.

An adapter over :class:`genaudit.detector.Detector`. The verdict is ``generated`` (a finding) when
the detector's score reaches the threshold chosen for ``target_fpr`` — the share of real images of
the kind the detector was trained on that it calls generated — and ``real`` (ok) otherwise. Each
result records ``p_generated``, ``verdict``, ``threshold`` and ``target_fpr``; the report's check
info records the model file's sha256. Images smaller than 8 px on a side are ``skipped``.
The summary gives the share called generated with a Wilson 95% interval, overall and per folder
or generator.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..io import LoadedImage
from ..results import CheckResult
from .base import Check, group_of
from .rates import finding_rates


@dataclass(frozen=True)
class DetectorOptions:
    model: str | None = None
    """Detector file (``genaudit detector train``); default: the shipped ``detector-fmnist``."""
    target_fpr: float | None = None
    """False-positive rate on real images for the verdict (default: the model's own, 0.01 shipped)."""
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.target_fpr is not None and not 0 < self.target_fpr < 1:
            raise ValueError(f"target_fpr must be between 0 and 1, got {self.target_fpr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class DetectorCheck(Check):
    name = "detector"
    version = "1"
    description = "real-vs-fake detector: calibrated p(generated), verdict at a target false-positive rate"
    Options = DetectorOptions
    batched = True

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        from ..detector import DetectorFileError, load_model

        try:
            self.model = load_model(self.options.model).with_target_fpr(self.options.target_fpr)
        except (DetectorFileError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self._detector: Any = None

    def params(self) -> dict[str, Any]:
        d = dict(super().params())
        d["target_fpr"] = self.model.target_fpr
        d["threshold"] = self.model.threshold
        d["model_sha256"] = self.model.sha256  # another model changes the resume fingerprint
        return d

    def models(self) -> list[dict[str, Any]]:
        from ..detector import default_model_path

        path = self.options.model or default_model_path()
        out = [{"name": "detector", "path": os.path.abspath(path), "sha256": self.model.sha256}]
        if self.model.embedder_sha256:
            out.append({"name": "efficientnet-lite0 (ImageNet)", "sha256": self.model.embedder_sha256})
        return out

    def setup(self) -> None:
        from ..detector import Detector, DetectorFileError

        try:
            self._detector = Detector(self.model, batch_size=self.options.batch_size)
        except DetectorFileError as exc:
            raise ConfigError(str(exc)) from None

    def run(self, image: LoadedImage) -> CheckResult:
        return self.run_batch([image])[0]

    def run_batch(self, images: Sequence[LoadedImage]) -> list[CheckResult]:
        self.ensure_setup()
        predictions = self._detector.predict([im.pil for im in images])
        out = []
        for image, pred in zip(images, predictions, strict=True):
            data = {**pred.to_dict(), "generator": group_of(image)}
            if pred.verdict == "skipped":
                out.append(CheckResult.skipped(self.name, pred.reason))
            elif pred.verdict == "generated":
                out.append(CheckResult.finding(self.name, data, summary=f"generated (p={pred.p_generated:.3f} ≥"
                                                                         f" {pred.threshold:.3f})"))
            else:
                out.append(CheckResult.ok(self.name, data, summary=f"real (p={pred.p_generated:.3f} <"
                                                                    f" {pred.threshold:.3f})"))
        return out

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        overall, by_group = finding_rates(items, "generated")
        ps = [float(r.data["p_generated"]) for _, r in items
              if r.status in ("ok", "finding") and r.data.get("p_generated") is not None]
        return {"called_generated": overall, "mean_p_generated": sum(ps) / len(ps) if ps else None,
                "by_group": by_group}
