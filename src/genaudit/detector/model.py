"""A trained detector as data (:class:`DetectorModel`) and its file format.

A detector file is a safetensors file (no pickle: loading it never runs code) holding the probe's
arrays, the calibration map and the probe scores of the calibration split's real images (so that
the operating point can be re-chosen for any target false-positive rate), with a JSON header
(``__metadata__``) naming the format and its version, the feature blocks, the embedding weights'
sha256, the target FPR and the training record (data, seeds, validation metrics).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import GenauditError
from .probe import CALIBRATIONS, CONFIDENCE, Calibration, Probe, TreeProbe, threshold_for_fpr

PROBE_TYPES: dict[str, type[Probe] | type[TreeProbe]] = {"logistic": Probe, "trees": TreeProbe}

FORMAT = "genaudit-detector"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 256 * 1024 * 1024


class DetectorFileError(GenauditError):
    """A detector file is missing, corrupt, of another format or version, or does not fit the features."""


@dataclass(frozen=True, eq=False)
class DetectorModel:
    """Everything a trained detector is: probe, calibration, operating point, provenance."""

    probe: Probe | TreeProbe
    calibration: Calibration
    real_scores: np.ndarray
    """Probe scores of the calibration split's real images, sorted (the operating point's data)."""
    target_fpr: float
    """False-positive rate on real images that the operating point is chosen for."""
    features: tuple[str, ...]
    """Feature blocks, in order: ``npr-1`` (:mod:`.features`), ``efficientnet-lite0@SIZE``."""
    embedder_sha256: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """The training record: data counts and sources, seeds, options, validation metrics."""
    sha256: str = ""
    """sha256 of the file this model was loaded from ("" for a model not loaded from a file)."""
    confidence: float = CONFIDENCE
    """How sure the operating point is to keep the real-image FPR at or below the target
    (:func:`~.probe.allowed_false_positives`)."""

    def __post_init__(self) -> None:
        if not 0 < self.target_fpr < 1:
            raise ValueError(f"target_fpr must be between 0 and 1, got {self.target_fpr}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")

    @cached_property
    def threshold_score(self) -> float:
        """The probe score at and above which the verdict is "generated"."""
        return threshold_for_fpr(self.real_scores, self.target_fpr, self.confidence)

    @cached_property
    def threshold(self) -> float:
        """The operating point as a probability: p(generated) at :attr:`threshold_score`."""
        return float(self.calibration(np.array([self.threshold_score]))[0])

    def with_target_fpr(self, target_fpr: float | None) -> DetectorModel:
        """This model with its operating point re-chosen for ``target_fpr`` (``None``: unchanged).
        The calibration split holds a finite number of real images: below ``1 / n`` the rate
        cannot be checked, and asking for it is an error."""
        if target_fpr is None or target_fpr == self.target_fpr:
            return self
        n = len(self.real_scores)
        if not 0 < target_fpr < 1:
            raise ValueError(f"target FPR must be between 0 and 1, got {target_fpr}")
        if target_fpr * n < 1:
            raise ValueError(f"target FPR {target_fpr:g} is below what this detector's {n} calibration real"
                             f" images can check (at least {1 / n:.2g})")
        return replace(self, target_fpr=float(target_fpr))

    def info(self) -> dict[str, Any]:
        """What a report records about the model (JSON-serialisable)."""
        return {"format": FORMAT, "version": FORMAT_VERSION, "sha256": self.sha256, "features": list(self.features),
                "probe": self.probe.kind, "calibration": self.calibration.method, "target_fpr": self.target_fpr,
                "threshold": self.threshold, "confidence": self.confidence,
                "calibration_real_images": len(self.real_scores),
                "embedder_sha256": self.embedder_sha256}

    # -- file format ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        tensors = {**{f"probe.{k}": v for k, v in self.probe.arrays().items()},
                   "calibration_x": np.asarray(self.calibration.x, np.float64),
                   "calibration_y": np.asarray(self.calibration.y, np.float64),
                   "real_scores": np.sort(np.asarray(self.real_scores, np.float64))}
        header = {"format": FORMAT, "version": str(FORMAT_VERSION), "features": json.dumps(list(self.features)),
                  "probe": self.probe.kind,
                  "calibration": self.calibration.method, "target_fpr": repr(self.target_fpr),
                  "confidence": repr(self.confidence),
                  "embedder_sha256": self.embedder_sha256, "meta": json.dumps(dict(self.meta), sort_keys=True)}
        return bytes(save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=header))

    def save(self, path: str | os.PathLike[str], *, force: bool = False) -> str:
        """Write the model to ``path`` (atomically; an existing file only with ``force``)."""
        from ..io import refuse_existing, write_atomic

        refuse_existing([path], force)
        return write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "detector file") -> DetectorModel:
        import hashlib

        def bad(why: str) -> DetectorFileError:
            return DetectorFileError(f"{source} is not a usable genaudit detector: {why}")

        if len(data) < 8:
            raise bad("the file is too short to be a safetensors file")
        (n,) = struct.unpack("<Q", data[:8])
        if n > len(data) - 8 or n > 16 * 1024 * 1024:
            raise bad("not a safetensors file (bad header length)")
        try:
            header = json.loads(data[8:8 + n])
            meta = dict(header.get("__metadata__") or {})
        except (ValueError, AttributeError):
            raise bad("not a safetensors file (its header is not JSON)") from None
        if meta.get("format") != FORMAT:
            raise bad(f"format {meta['format']!r}, expected {FORMAT!r}" if "format" in meta
                      else "a safetensors file without a genaudit-detector header (a model checkpoint?)")
        if meta.get("version") != str(FORMAT_VERSION):
            raise bad(f"format version {meta.get('version')!r}; this genaudit reads version {FORMAT_VERSION}"
                      " (retrain it with `genaudit detector train`)")
        try:
            from safetensors.numpy import load

            t = load(data)
            kind = meta.get("probe", "")
            if kind not in PROBE_TYPES:
                raise bad(f"unknown probe {kind!r}")
            probe = PROBE_TYPES[kind].from_arrays({k[6:]: v for k, v in t.items() if k.startswith("probe.")})
            method = meta["calibration"]
            if method not in CALIBRATIONS:
                raise bad(f"unknown calibration {method!r}")
            calibration = Calibration(method, np.asarray(t["calibration_x"]), np.asarray(t["calibration_y"]))
            features = tuple(json.loads(meta["features"]))
            model = cls(probe=probe, calibration=calibration, real_scores=np.asarray(t["real_scores"], np.float64),
                        target_fpr=float(meta["target_fpr"]), features=features,
                        confidence=float(meta.get("confidence", CONFIDENCE)),
                        embedder_sha256=meta.get("embedder_sha256", ""), meta=json.loads(meta.get("meta", "{}")),
                        sha256=hashlib.sha256(data).hexdigest())
        except DetectorFileError:
            raise
        except ValueError as exc:
            raise bad(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - any malformed content is the same one-line error
            raise bad(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'malformed'}") from None
        if len(model.real_scores) == 0 or not np.isfinite(model.real_scores).all():
            raise bad("it holds no usable calibration scores")
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, expected_sha256: str | None = None) -> DetectorModel:
        """Read a detector file; any problem is one :class:`DetectorFileError` line naming the file."""
        from ..errors import ImageLoadError
        from ..io import LoadLimits, read_file

        path = os.fspath(path)
        try:
            data = read_file(path, LoadLimits(max_file_bytes=MAX_FILE_BYTES))
        except ImageLoadError as exc:
            raise DetectorFileError(f"detector file {path} cannot be read: {exc.code}: {exc.message}") from None
        model = cls.from_bytes(data, f"detector file {path}")
        if expected_sha256 and model.sha256 != expected_sha256:
            raise DetectorFileError(f"detector file {path} has sha256 {model.sha256}, expected {expected_sha256}"
                                    " (altered or truncated; reinstall genaudit)")
        return model
