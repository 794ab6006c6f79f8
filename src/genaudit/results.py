"""Result data: frozen dataclasses that serialise to plain JSON and back.

Every object here has ``to_dict()`` (JSON-serialisable: str, int, float, bool, None, list,
dict) and a ``from_dict()`` classmethod that reverses it exactly. ``ScanReport`` carries a
``schema_version``; :func:`ScanReport.from_dict` refuses a report of another major version.

>>> r = CheckResult.ok("phash", {"phash": "ffd8a0c0e0f0f8fc"}, summary="1 hash")
>>> CheckResult.from_dict(r.to_dict()) == r
True
>>> r.status
'ok'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

SCHEMA_VERSION = "1.2"  # 1.1: summary.ignored / ignored_examples; checks on error entries. 1.2: verdict per file

CheckStatus = Literal["ok", "finding", "skipped", "error"]
FileStatus = Literal["ok", "error"]
CHECK_STATUSES: tuple[str, ...] = ("ok", "finding", "skipped", "error")
FAIL_ON_CHOICES: tuple[str, ...] = ("findings", "errors", "never")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps_json(obj: Any, indent: int | None = None) -> str:
    """JSON text that is always valid UTF-8.

    File names that are not valid UTF-8 reach Python as lone surrogates (``\\udcff``); they are
    written as ``\\u`` escapes, which ``json.loads`` turns back into the same string.
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _plain(value: Any) -> Any:
    """Convert tuples/mappings recursively into JSON-friendly lists/dicts."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class _CodedMessage:
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return cls(code=str(d["code"]), message=str(d["message"]))


@dataclass(frozen=True)
class FileError(_CodedMessage):
    """Why a file could not be audited. ``code`` is one of :data:`genaudit.errors.ERROR_CODES`."""


@dataclass(frozen=True)
class FileWarning(_CodedMessage):
    """A non-fatal observation about a file (e.g. its extension does not match its content)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the loader learned about an image while decoding it."""

    format: str
    width: int
    height: int
    original_mode: str
    bit_depth: int
    n_frames: int | None = 1
    has_alpha: bool = False
    exif_orientation: int | None = None
    warnings: tuple[FileWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "original_mode": self.original_mode,
            "bit_depth": self.bit_depth,
            "n_frames": self.n_frames,
            "has_alpha": self.has_alpha,
            "exif_orientation": self.exif_orientation,
            "warnings": [w.to_dict() for w in self.warnings],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageInfo:
        return cls(
            format=str(d["format"]),
            width=int(d["width"]),
            height=int(d["height"]),
            original_mode=str(d["original_mode"]),
            bit_depth=int(d["bit_depth"]),
            n_frames=None if d.get("n_frames") is None else int(d["n_frames"]),
            has_alpha=bool(d.get("has_alpha", False)),
            exif_orientation=None if d.get("exif_orientation") is None else int(d["exif_orientation"]),
            warnings=tuple(FileWarning.from_dict(w) for w in d.get("warnings", ())),
        )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one image.

    ``status`` is ``ok`` (ran, nothing to report), ``finding`` (ran and found something the
    user should look at), ``skipped`` (could not run on this input; ``reason`` says why) or
    ``error`` (the check failed; ``reason`` says how). ``data`` holds the check's
    JSON-serialisable measurements.
    """

    check: str
    status: CheckStatus
    summary: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in CHECK_STATUSES:
            raise ValueError(f"invalid check status {self.status!r}; expected one of {CHECK_STATUSES}")
        if self.status in ("skipped", "error") and not self.reason:
            raise ValueError(f"a {self.status} result needs a reason")

    @classmethod
    def ok(cls, check: str, data: Mapping[str, Any] | None = None, summary: str = "") -> CheckResult:
        return cls(check, "ok", summary, dict(data or {}))

    @classmethod
    def finding(cls, check: str, data: Mapping[str, Any] | None = None, summary: str = "") -> CheckResult:
        return cls(check, "finding", summary, dict(data or {}))

    @classmethod
    def skipped(cls, check: str, reason: str, data: Mapping[str, Any] | None = None) -> CheckResult:
        return cls(check, "skipped", f"skipped: {reason}", dict(data or {}), reason)

    @classmethod
    def error(cls, check: str, reason: str) -> CheckResult:
        return cls(check, "error", f"error: {reason}", {}, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "data": _plain(self.data),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CheckResult:
        return cls(
            check=str(d["check"]),
            status=d["status"],
            summary=str(d.get("summary", "")),
            data=dict(d.get("data") or {}),
            reason=d.get("reason"),
        )


@dataclass(frozen=True)
class ImageAudit:
    """Everything genaudit found about one input file (or one in-memory image)."""

    path: str | None
    status: FileStatus
    sha256: str | None = None
    size_bytes: int | None = None
    error: FileError | None = None
    image: ImageInfo | None = None
    checks: tuple[CheckResult, ...] = ()

    def __post_init__(self) -> None:
        if self.status == "error" and self.error is None:
            raise ValueError("an ImageAudit with status 'error' needs an error")
        if self.status == "ok" and self.error is not None:
            raise ValueError("an ImageAudit with status 'ok' cannot carry an error")

    @property
    def has_findings(self) -> bool:
        return any(c.status == "finding" for c in self.checks)

    @property
    def verdict(self) -> Any:
        """The :class:`~genaudit.verdict.Verdict` joining this image's evidence (derived from the
        check results, never stored separately)."""
        from .verdict import verdict_of

        return verdict_of(self.status, self.error, self.checks)

    def result(self, check: str) -> CheckResult | None:
        """The result of ``check`` for this image, or None if it did not run."""
        for c in self.checks:
            if c.check == check:
                return c
        return None

    @classmethod
    def failed(cls, path: str | None, error: FileError, sha256: str | None = None, size_bytes: int | None = None,
               checks: tuple[CheckResult, ...] = ()) -> ImageAudit:
        """A file that could not be audited; ``checks``: those that read bytes only may still run."""
        return cls(path=path, status="error", sha256=sha256, size_bytes=size_bytes, error=error, checks=checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "error": None if self.error is None else self.error.to_dict(),
            "image": None if self.image is None else self.image.to_dict(),
            "checks": {c.check: c.to_dict() for c in self.checks},
            "verdict": self.verdict.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageAudit:
        checks = d.get("checks") or {}
        items = checks.values() if isinstance(checks, Mapping) else checks
        return cls(
            path=d.get("path"),
            status=d["status"],
            sha256=d.get("sha256"),
            size_bytes=d.get("size_bytes"),
            error=None if d.get("error") is None else FileError.from_dict(d["error"]),
            image=None if d.get("image") is None else ImageInfo.from_dict(d["image"]),
            checks=tuple(CheckResult.from_dict(c) for c in items),
        )


@dataclass(frozen=True)
class CheckInfo:
    """What ran: a check's name, version, parameters and any model files (with sha256)."""

    name: str
    version: str
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    models: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "params": _plain(self.params),
            "models": [_plain(m) for m in self.models],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CheckInfo:
        return cls(
            name=str(d["name"]),
            version=str(d["version"]),
            description=str(d.get("description", "")),
            params=dict(d.get("params") or {}),
            models=tuple(dict(m) for m in d.get("models") or ()),
        )


@dataclass(frozen=True)
class ScanSummary:
    """Counts over a scan, plus each check's own aggregate (``checks[name]``). ``ignored``: files
    found in folders that are not images (not in ``files``), with the first few paths."""

    files: int
    ok: int
    errors: int
    with_findings: int
    error_codes: Mapping[str, int] = field(default_factory=dict)
    statuses: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ignored: int = 0
    ignored_examples: tuple[str, ...] = ()

    @classmethod
    def from_files(cls, files: Sequence[ImageAudit], check_names: Iterable[str],
                   check_summaries: Mapping[str, Mapping[str, Any]] | None = None,
                   ignored: Sequence[str] = ()) -> ScanSummary:
        names = list(check_names)
        error_codes: dict[str, int] = {}
        statuses: dict[str, dict[str, int]] = {n: dict.fromkeys(CHECK_STATUSES, 0) for n in names}
        for f in files:
            if f.error is not None:
                error_codes[f.error.code] = error_codes.get(f.error.code, 0) + 1
            for c in f.checks:
                statuses.setdefault(c.check, dict.fromkeys(CHECK_STATUSES, 0))[c.status] += 1
        return cls(
            files=len(files),
            ok=sum(1 for f in files if f.status == "ok"),
            errors=sum(1 for f in files if f.status == "error"),
            with_findings=sum(1 for f in files if f.has_findings),
            error_codes=dict(sorted(error_codes.items())),
            statuses=statuses,
            checks=dict(check_summaries or {}),
            ignored=len(ignored),
            ignored_examples=tuple(ignored[:5]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "ok": self.ok,
            "errors": self.errors,
            "with_findings": self.with_findings,
            "error_codes": dict(self.error_codes),
            "statuses": _plain(self.statuses),
            "checks": _plain(self.checks),
            "ignored": self.ignored,
            "ignored_examples": list(self.ignored_examples),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScanSummary:
        return cls(
            files=int(d["files"]),
            ok=int(d["ok"]),
            errors=int(d["errors"]),
            with_findings=int(d["with_findings"]),
            error_codes=dict(d.get("error_codes") or {}),
            statuses={k: dict(v) for k, v in (d.get("statuses") or {}).items()},
            checks={k: dict(v) for k, v in (d.get("checks") or {}).items()},
            ignored=int(d.get("ignored", 0)),  # absent before schema 1.1
            ignored_examples=tuple(d.get("ignored_examples") or ()),
        )


@dataclass(frozen=True)
class RunInfo:
    """How this particular run went: timing and resume statistics (not part of the findings)."""

    started_at: str
    finished_at: str
    duration_s: float
    jobs: int
    resumed_files: int = 0
    check_seconds: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "jobs": self.jobs,
            "resumed_files": self.resumed_files,
            "check_seconds": dict(self.check_seconds),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunInfo:
        return cls(
            started_at=str(d["started_at"]),
            finished_at=str(d["finished_at"]),
            duration_s=float(d["duration_s"]),
            jobs=int(d["jobs"]),
            resumed_files=int(d.get("resumed_files", 0)),
            check_seconds={k: float(v) for k, v in (d.get("check_seconds") or {}).items()},
        )


@dataclass(frozen=True)
class ScanReport:
    """The result of :meth:`genaudit.Auditor.scan`: one entry per input, a summary and provenance.

    ``tool`` records genaudit's and its dependencies' versions; ``config`` the parameters;
    ``checks`` every check's version, parameters and model checksums; ``run`` the timing.
    """

    tool: Mapping[str, Any]
    config: Mapping[str, Any]
    inputs: tuple[str, ...]
    checks: tuple[CheckInfo, ...]
    summary: ScanSummary
    files: tuple[ImageAudit, ...]
    run: RunInfo
    schema_version: str = SCHEMA_VERSION

    def exit_code(self, fail_on: Iterable[str] = ("findings", "errors")) -> int:
        """0 when clean; 1 when findings or file/check errors happened that ``fail_on`` names."""
        modes = set(fail_on)
        if "never" in modes:
            return 0
        if "findings" in modes and self.summary.with_findings:
            return 1
        if "errors" in modes and (self.summary.errors or any(
                c.status == "error" for f in self.files for c in f.checks)):
            return 1
        return 0

    def file(self, path: str) -> ImageAudit:
        """The entry for ``path`` (as it appears in the report)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool": _plain(self.tool),
            "config": _plain(self.config),
            "inputs": list(self.inputs),
            "checks": [c.to_dict() for c in self.checks],
            "summary": self.summary.to_dict(),
            "files": [f.to_dict() for f in self.files],
            "run": self.run.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return dumps_json(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScanReport:
        version = str(d.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(
                f"report schema version {version!r} is not compatible with {SCHEMA_VERSION!r}")
        return cls(
            schema_version=version,
            tool=dict(d["tool"]),
            config=dict(d["config"]),
            inputs=tuple(d.get("inputs") or ()),
            checks=tuple(CheckInfo.from_dict(c) for c in d["checks"]),
            summary=ScanSummary.from_dict(d["summary"]),
            files=tuple(ImageAudit.from_dict(f) for f in d["files"]),
            run=RunInfo.from_dict(d["run"]),
        )

    def to_frame(self) -> Any:
        """One row per image × check (pandas): the file's path, sha256, status, error code and
        verdict, then the check's name, status, summary, reason and its data as JSON text. A file
        no check ran on (unreadable) has one row with ``check`` empty."""
        import pandas as pd

        rows = []
        for f in self.files:
            v = f.verdict
            base: dict[str, Any] = {"path": f.path, "sha256": f.sha256, "file_status": f.status,
                                    "error_code": f.error.code if f.error else None,
                                    "verdict": v.label, "verdict_severity": v.severity,
                                    "verdict_reasons": "; ".join(r.kind for r in v.reasons)}
            for c in f.checks or (None,):
                rows.append({**base, "check": c.check if c else None, "check_status": c.status if c else None,
                             "summary": c.summary if c else None, "reason": c.reason if c else None,
                             "data_json": dumps_json(_plain(c.data)) if c else None})
        columns = ["path", "sha256", "file_status", "error_code", "verdict", "verdict_severity", "verdict_reasons",
                   "check", "check_status", "summary", "reason", "data_json"]
        return pd.DataFrame(rows, columns=columns)

    def to_pandas(self) -> Any:
        """One row per file: path, status, error code and each check's status (needs pandas)."""
        import pandas as pd

        names = [c.name for c in self.checks]
        rows = []
        for f in self.files:
            row: dict[str, Any] = {
                "path": f.path, "status": f.status, "sha256": f.sha256,
                "error_code": f.error.code if f.error else None,
            }
            for n in names:
                r = f.result(n)
                row[n] = r.status if r else None
            rows.append(row)
        return pd.DataFrame(rows)
