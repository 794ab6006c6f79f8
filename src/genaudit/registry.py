"""Check registry: name → check class, loaded lazily so heavy dependencies stay unimported.

Third-party packages can add checks through the ``genaudit.checks`` entry-point group
(``name = "package.module:CheckClass"``).

>>> "phash" in [spec.name for spec in list_checks()]
True
>>> get_check_class("phahs")
Traceback (most recent call last):
...
genaudit.errors.UnknownCheckError: unknown check 'phahs' (did you mean 'phash'?); available: bias, detector, ...
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, UnknownCheckError
from .suggest import did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from .checks.base import Check


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its name, where its class lives, and a one-line description."""

    name: str
    target: str
    description: str

    def load(self) -> type[Check]:
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"check {self.name!r} cannot be loaded: {exc}") from None
        cls = getattr(module, attr)
        if getattr(cls, "name", None) != self.name:
            raise ConfigError(f"check class {self.target} declares name {getattr(cls, 'name', None)!r},"
                              f" registered as {self.name!r}")
        return cls


_BUILTIN: dict[str, CheckSpec] = {
    s.name: s for s in (
        CheckSpec("metadata", "genaudit.checks.metadata:MetadataCheck",
                  "format, size and mode; AI-generation markers in the file (IPTC digitalSourceType,"
                  " generator text chunks, C2PA manifest store)"),
        CheckSpec("phash", "genaudit.checks.phash:PerceptualHashCheck",
                  "perceptual hashes (phash, dhash, ahash, whash; imagehash-compatible hex)"),
        CheckSpec("watermark", "genaudit.checks.watermark:WatermarkCheck",
                  "keyed invisible watermark (genaudit tiled, dwtDct, dwtDctSvd, rivaGan):"
                  " detected / not detected with an exact p-value"),
        CheckSpec("memorization", "genaudit.checks.memorization:MemorizationCheck",
                  "near-copies of training images: hash candidates from a training index, embedding rerank;"
                  " memorization rate per generator"),
        CheckSpec("detector", "genaudit.checks.detector:DetectorCheck",
                  "real-vs-fake detector: calibrated p(generated) and a verdict at a target false-positive rate"
                  " on real images (shipped model or --detector MODEL)"),
        CheckSpec("bias", "genaudit.checks.bias:BiasCheck",
                  "CLIP zero-shot attribute labels per image; attribute distributions, disparity and"
                  " selection rates between conditions with bootstrap CIs in the summary"),
        CheckSpec("provenance", "genaudit.checks.provenance:ProvenanceCheck",
                  "C2PA manifest: no manifest, valid-trusted, valid-untrusted or invalid (C2PA status codes);"
                  " AI-generation claim, generator, training-mining policy"),
    )
}
_EXTRA: dict[str, CheckSpec] = {}
_entry_points_loaded = False


def register_check(name: str, target: str, description: str) -> None:
    """Register a check class given as ``"module:Class"``."""
    if name in _BUILTIN:
        raise ConfigError(f"check name {name!r} is taken by a built-in check")
    if ":" not in target:
        raise ConfigError(f"check target must look like 'package.module:Class', got {target!r}")
    _EXTRA[name] = CheckSpec(name, target, description)


def extra_checks() -> dict[str, tuple[str, str]]:
    """Checks registered at run time (not built in): name → (target, description).

    Worker processes receive these so that a check registered in the parent runs there too.
    """
    return {n: (s.target, s.description) for n, s in _EXTRA.items()}


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="genaudit.checks"):
        if ep.name not in _BUILTIN and ep.name not in _EXTRA:
            _EXTRA[ep.name] = CheckSpec(ep.name, ep.value, f"(plugin from {ep.value})")


def _all() -> dict[str, CheckSpec]:
    _load_entry_points()
    return {**_BUILTIN, **_EXTRA}


def list_checks() -> list[CheckSpec]:
    """All registered checks, sorted by name."""
    return sorted(_all().values(), key=lambda s: s.name)


def get_spec(name: str) -> CheckSpec:
    specs = _all()
    if name not in specs:
        names = sorted(specs)
        raise UnknownCheckError(f"unknown check {name!r}{did_you_mean(name, names)};"
                                f" available: {', '.join(names)}")
    return specs[name]


def get_check_class(name: str) -> type[Check]:
    """The class registered as ``name`` (imports its module on first use)."""
    return get_spec(name).load()


def create_check(name: str, options: Mapping[str, Any] | None = None) -> Check:
    """An instance of check ``name`` with validated options."""
    return get_check_class(name)(options)
