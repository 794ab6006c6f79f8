"""genaudit: audit generated images and prove where they came from.

>>> import genaudit
>>> report = genaudit.Auditor(checks=("metadata",)).audit_image(b"not an image")
>>> report.status, report.error.code
('error', 'not_an_image')

Heavy dependencies (numpy, Pillow, torch, c2pa) are imported on first use, so
``import genaudit`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

_LAZY = {
    "Auditor": ".audit",
    "scan": ".audit",
    "wrap": ".release",
    "AuditConfig": ".config",
    "ScanReport": ".results",
    "ScanSummary": ".results",
    "ImageAudit": ".results",
    "CheckResult": ".results",
    "CheckInfo": ".results",
    "FileError": ".results",
    "ImageInfo": ".results",
    "open_image": ".io",
    "decode_bytes": ".io",
    "LoadedImage": ".io",
    "LoadLimits": ".io",
    "list_checks": ".registry",
    "register_check": ".registry",
    "Check": ".checks.base",
    "GenauditError": ".errors",
    "ConfigError": ".errors",
    "ImageLoadError": ".errors",
}

__all__ = [  # noqa: RUF022 - grouped by topic
    "__version__",
    "Auditor", "scan", "AuditConfig", "wrap",
    "ScanReport", "ScanSummary", "ImageAudit", "CheckResult", "CheckInfo", "FileError", "ImageInfo",
    "open_image", "decode_bytes", "LoadedImage", "LoadLimits",
    "list_checks", "register_check", "Check",
    "GenauditError", "ConfigError", "ImageLoadError",
]

if TYPE_CHECKING:  # pragma: no cover
    from .audit import Auditor, scan
    from .checks.base import Check
    from .config import AuditConfig
    from .errors import ConfigError, GenauditError, ImageLoadError
    from .io import LoadedImage, LoadLimits, decode_bytes, open_image
    from .registry import list_checks, register_check
    from .release import wrap
    from .results import CheckInfo, CheckResult, FileError, ImageAudit, ImageInfo, ScanReport, ScanSummary


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genaudit' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
