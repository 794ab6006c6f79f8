"""``watermark`` check: is an invisible watermark of *our* key present? (exact p-value per method)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..io import LoadedImage
from ..results import CheckResult
from .base import Check


@dataclass(frozen=True)
class WatermarkOptions:
    key_file: str | None = None
    """Key file written by ``genaudit watermark keygen`` (required: without it the check is a
    configuration error)."""
    methods: tuple[str, ...] = ("tiled",)
    fpr: float = 1e-6
    """False-positive rate of each detection decision."""

    def __post_init__(self) -> None:
        from ..watermark import METHODS

        if isinstance(self.methods, str):
            object.__setattr__(self, "methods", tuple(m.strip() for m in self.methods.split(",") if m.strip()))
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {', '.join(METHODS)}; got {self.methods}")
        if not 0 < float(self.fpr) < 1:
            raise ValueError(f"fpr must be in (0, 1), got {self.fpr}")


class WatermarkCheck(Check):
    name = "watermark"
    version = "1"
    description = "keyed invisible watermark: detected / not detected with an exact p-value"
    Options = WatermarkOptions
    required: ClassVar[Mapping[str, str]] = {"key_file": "--watermark-key-file KEY or -O watermark.key_file=KEY"}

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)  # no key file: ConfigError (``required``)
        # genaudit's own method is pure numpy on a read-only key; invisible-watermark's rivaGan
        # loads a shared model on first use, so those methods run on one thread at a time.
        self.thread_safe = all(m == "tiled" for m in self.options.methods)
        from ..watermark import WatermarkKeyError, load_key

        try:
            self.key = load_key(self.options.key_file)
        except WatermarkKeyError as exc:
            raise ConfigError(str(exc)) from None

    def params(self) -> dict[str, Any]:
        return {"methods": list(self.options.methods), "fpr": self.options.fpr, "key_id": self.key.key_id}

    def run(self, image: LoadedImage) -> CheckResult:
        from ..watermark import verify

        results = {m: verify(image, self.key, m, fpr=self.options.fpr) for m in self.options.methods}
        ran = {m: r for m, r in results.items() if r.status == "ok"}
        data = {"key_id": self.key.key_id, "methods": {m: r.to_dict() for m, r in results.items()},
                "detected": any(r.detected for r in ran.values())}
        if not ran:
            reasons = "; ".join(f"{m}: {r.reason}" for m, r in results.items())
            return CheckResult.skipped(self.name, reasons, data)
        found = [m for m, r in ran.items() if r.detected]
        if found:
            parts = [f"{m} (p={ran[m].p_value:.2g}" + (f", payload {ran[m].payload}" if ran[m].payload else "") + ")"
                     for m in found]
            return CheckResult.finding(self.name, data, summary="watermark detected: " + ", ".join(parts))
        best = min(ran.values(), key=lambda r: r.p_value if r.p_value is not None else 1.0)
        return CheckResult.ok(self.name, data, summary=f"no watermark of key {self.key.key_id}"
                                                       f" (smallest p={best.p_value:.2g})")

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        detected: dict[str, int] = {}
        tested: dict[str, int] = {}
        payloads: dict[str, int] = {}
        for _, r in items:
            for m, d in (r.data.get("methods") or {}).items():
                if d.get("status") == "ok":
                    tested[m] = tested.get(m, 0) + 1
                    if d.get("detected"):
                        detected[m] = detected.get(m, 0) + 1
                        if d.get("payload"):
                            payloads[d["payload"]] = payloads.get(d["payload"], 0) + 1
        return {"tested": tested, "detected": detected, "payloads": dict(sorted(payloads.items())[:50])}
