"""The contract every check honours.

A check is a class with a ``name``, a ``version``, an ``Options`` frozen dataclass and a
``run(image) -> CheckResult`` method (``run_batch`` for checks that batch model inference).
Checks never raise for a bad input: when they cannot run they return
``CheckResult.skipped(name, reason)``; the :class:`~genaudit.Auditor` turns any exception that
escapes anyway into a per-image ``error`` result, so one broken check never stops a scan.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..errors import ConfigError
from ..io import LoadedImage
from ..results import CheckInfo, CheckResult
from ..suggest import did_you_mean

_SETUP_LOCK = threading.RLock()  # setup() runs once per check even when threads race to it


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A check without options."""


def parse_options(options_type: type, values: Mapping[str, Any] | None, check: str) -> Any:
    """Build ``options_type`` from a mapping, with clear errors for unknown keys and bad values."""
    values = dict(values or {})
    names = [f.name for f in dataclasses.fields(options_type)]
    for key in values:
        if key not in names:
            known = ", ".join(names) or "none"
            raise ConfigError(f"unknown option {key!r} for check {check!r}{did_you_mean(key, names)};"
                              f" known options: {known}")
    for f in dataclasses.fields(options_type):
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    try:
        return options_type(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid options for check {check!r}: {exc}") from None


class Check:
    """Base class of all checks. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    batched: ClassVar[bool] = False
    """True for checks whose ``run_batch`` is faster than image-by-image (model inference).
    Other checks run on each image right after it is decoded, while its pixels are in cache."""
    needs_pixels: ClassVar[bool] = True
    """False for checks that read only the file's bytes, header and metadata (``raw``, ``info``,
    ``metadata``): they also run on a file whose pixels could not be decoded (corrupt, truncated),
    on a view without pixels (``image.decoded`` is False); checks that need pixels are skipped."""
    thread_safe: bool = False
    """True when ``run``/``run_batch`` may run on several threads at once on one instance (no
    mutable state, or state behind its own lock). Otherwise an ``Auditor`` shared between
    threads runs this check on one thread at a time. An instance may refine it from its options."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options(self.Options, options, self.name)
        self._ready = False

    # -- lifecycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models or other heavy state. Called once per process before the first image."""

    def ensure_setup(self) -> None:
        """Run :meth:`setup` once, even when several threads ask at the same time; after a
        failure, the next call tries again."""
        if self._ready:
            return
        with _SETUP_LOCK:
            if not self._ready:
                self.setup()
                self._ready = True

    # -- work ----------------------------------------------------------------------------------
    def run(self, image: LoadedImage) -> CheckResult:
        raise NotImplementedError

    def run_batch(self, images: Sequence[LoadedImage]) -> list[CheckResult]:
        """Run on several images; override to batch model inference."""
        return [self.run(im) for im in images]

    # -- description ---------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.options)

    def models(self) -> list[dict[str, Any]]:
        """Model files this check uses, each ``{"name", "path", "sha256"}``."""
        return []

    def info(self) -> CheckInfo:
        return CheckInfo(name=self.name, version=self.version, description=self.description,
                         params=self.params(), models=tuple(self.models()))

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        """Aggregate this check's per-image ``(path, result)`` pairs for the report summary."""
        return {}
