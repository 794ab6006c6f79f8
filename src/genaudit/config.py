"""One frozen :class:`AuditConfig` from defaults, ``[tool.genaudit]`` in pyproject.toml and overrides.

Precedence: explicit overrides (CLI flags, keyword arguments) > pyproject.toml > defaults.

>>> cfg = AuditConfig.from_mapping({"checks": "metadata,phash", "jobs": 2})
>>> cfg.checks, cfg.jobs
(('metadata', 'phash'), 2)
>>> AuditConfig.from_mapping({"job": 2})
Traceback (most recent call last):
...
genaudit.errors.ConfigError: unknown setting 'job' in configuration (did you mean 'jobs'?)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError
from .io import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS, LoadLimits
from .results import FAIL_ON_CHOICES
from .suggest import did_you_mean

DEFAULT_CHECKS: tuple[str, ...] = ("metadata", "phash")
REPORT_FORMATS: tuple[str, ...] = ("json", "md", "html", "csv", "parquet")
DEFAULT_REPORT_DIR = "genaudit-report"

#: ``[tool.genaudit]`` keys that only the command line reads: how it shows a scan, not what the
#: scan does (the Python API never prints). :meth:`AuditConfig.from_pyproject` leaves them to
#: :func:`read_cli_settings`; passing one to :class:`AuditConfig` is an error that says so.
CLI_SETTINGS: dict[str, bool] = {"quiet": False}
#: options that have a setting of their own on the command line (``--index IDX``): name → (check, option)
SHORTCUTS: dict[str, tuple[str, str]] = {"watermark_key_file": ("watermark", "key_file"),
                                         "index": ("memorization", "index"),
                                         "trust_anchors": ("provenance", "trust_anchors"),
                                         "detector": ("detector", "model")}


def _as_tuple(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        raise ConfigError(f"{what} must be a list or a comma-separated string, got {type(value).__name__}")
    return tuple(i for i in items if i)


def _as_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be an integer, got {value!r}") from None
    if n < minimum:
        raise ConfigError(f"{what} must be at least {minimum}, got {n}")
    return n


@dataclass(frozen=True)
class AuditConfig:
    """Everything that controls a scan. Immutable; use :meth:`replace` to derive a variant."""

    checks: tuple[str, ...] = DEFAULT_CHECKS
    jobs: int = 0
    """Worker processes; 0 means one per CPU core."""
    batch_size: int = 16
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    report_dir: str | None = DEFAULT_REPORT_DIR
    """Where ``results.jsonl`` and the reports go, for the CLI and :meth:`genaudit.Auditor.scan`
    alike (relative paths from the working directory). None: the scan stays in memory (nothing
    written, so no ``resume``)."""
    formats: tuple[str, ...] = ("json", "md", "html")
    fail_on: tuple[str, ...] = ("findings", "errors")
    resume: bool = False
    exclude: tuple[str, ...] = ()
    """Glob patterns (relative path or file name) left out of directory walks."""
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-check options, e.g. ``{"phash": {"hashes": ["phash", "dhash"]}}``."""
    dask_scheduler: str | None = None
    """Run the scan's batches on this Dask scheduler's workers (``tcp://host:8786``), or on a
    ``LocalCluster`` started for the scan (``local``, ``local:N``); None: local processes
    (``jobs``). See :mod:`genaudit.cluster`."""

    def __post_init__(self) -> None:
        for name in ("checks", "formats", "fail_on", "exclude"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, _as_tuple(value, name))
        if "both" in self.fail_on:  # --fail-on both = findings,errors
            expanded = [v for f in self.fail_on for v in (("findings", "errors") if f == "both" else (f,))]
            object.__setattr__(self, "fail_on", tuple(dict.fromkeys(expanded)))
        if not self.checks:
            raise ConfigError("no checks selected")
        if len(set(self.checks)) != len(self.checks):
            raise ConfigError(f"a check is listed twice in {','.join(self.checks)}")
        for f in self.formats:
            if f not in REPORT_FORMATS:
                raise ConfigError(f"unknown report format {f!r}{did_you_mean(f, REPORT_FORMATS)};"
                                  f" choose from {', '.join(REPORT_FORMATS)}")
        if "parquet" in self.formats:
            import importlib.util

            if importlib.util.find_spec("pyarrow") is None:
                raise ConfigError("--format parquet needs pyarrow: pip install pyarrow (or use --format csv)")
        for f in self.fail_on:
            if f not in FAIL_ON_CHOICES:
                raise ConfigError(f"unknown --fail-on value {f!r}{did_you_mean(f, FAIL_ON_CHOICES)};"
                                  f" choose from {', '.join(FAIL_ON_CHOICES)} or both (= findings,errors)")
        if "never" in self.fail_on and len(self.fail_on) > 1:
            raise ConfigError("--fail-on never cannot be combined with other values")
        if self.report_dir is not None:
            if not isinstance(self.report_dir, str | os.PathLike) or not os.fspath(self.report_dir):
                raise ConfigError(f"report_dir must be a directory path or None, got {self.report_dir!r}")
            object.__setattr__(self, "report_dir", os.fspath(self.report_dir))
        if self.dask_scheduler is not None:
            if not isinstance(self.dask_scheduler, str) or not self.dask_scheduler.strip():
                raise ConfigError("dask_scheduler must be a scheduler address (tcp://host:8786) or local[:N],"
                                  f" got {self.dask_scheduler!r}")
            object.__setattr__(self, "dask_scheduler", self.dask_scheduler.strip())
        object.__setattr__(self, "jobs", _as_int(self.jobs, "jobs", 0))
        object.__setattr__(self, "batch_size", _as_int(self.batch_size, "batch_size", 1))
        object.__setattr__(self, "max_pixels", _as_int(self.max_pixels, "max_pixels", 1))
        object.__setattr__(self, "max_file_bytes", _as_int(self.max_file_bytes, "max_file_bytes", 1))
        if not isinstance(self.options, Mapping) or not all(
                isinstance(v, Mapping) for v in self.options.values()):
            raise ConfigError("options must map check names to tables of settings")
        object.__setattr__(self, "options", {str(k): dict(v) for k, v in self.options.items()})

    # -- derived -------------------------------------------------------------------------------
    @property
    def limits(self) -> LoadLimits:
        return LoadLimits(max_pixels=self.max_pixels, max_file_bytes=self.max_file_bytes)

    @property
    def effective_jobs(self) -> int:
        return self.jobs or (os.cpu_count() or 1)

    def options_for(self, check: str) -> dict[str, Any]:
        return dict(self.options.get(check, {}))

    # -- construction ----------------------------------------------------------------------------
    def replace(self, **changes: Any) -> AuditConfig:
        """A copy with ``changes`` applied (validated like the original)."""
        names = [f.name for f in fields(self)]
        for k in changes:
            _refuse_cli_setting(k)
            if k not in names:
                raise ConfigError(f"unknown setting {k!r}{did_you_mean(k, names)}")
        return replace(self, **changes)

    def with_overrides(self, settings: Mapping[str, Any] | None = None, *,
                       options: Iterable[tuple[str, str, Any]] = (), exclude: Sequence[str] = (),
                       shortcuts: Mapping[str, Any] | None = None) -> AuditConfig:
        """This configuration with command-line style overrides, the one way ``genaudit scan``
        turns its flags into a configuration.

        ``settings``: values for fields (``None`` leaves a field as it is). ``options``: ``(check,
        option, value)`` triples merged into the check options (values converted by each option's
        declared type when the check is built). ``exclude``: patterns added to the configured ones.
        ``shortcuts``: :data:`SHORTCUTS` names → value (``index="train.gaidx"``); each sets its
        check's option and adds the check, unless ``settings`` names the checks explicitly.

        >>> cfg = AuditConfig().with_overrides({"jobs": 2, "formats": None}, shortcuts={"index": "t.gaidx"})
        >>> cfg.jobs, cfg.checks, cfg.options["memorization"]
        (2, ('metadata', 'phash', 'memorization'), {'index': 't.gaidx'})
        >>> AuditConfig().with_overrides({"checks": "phash"}, shortcuts={"index": "t.gaidx"}).checks
        ('phash',)
        """
        changes = {k: v for k, v in (settings or {}).items() if v is not None}
        explicit_checks = "checks" in changes
        checks = list(_as_tuple(changes.get("checks", self.checks), "checks"))
        triples = list(options)
        for name, value in (shortcuts or {}).items():
            if name not in SHORTCUTS:
                raise ConfigError(f"unknown shortcut {name!r}{did_you_mean(name, list(SHORTCUTS))}")
            if value is None:
                continue
            check, option = SHORTCUTS[name]
            triples.append((check, option, value))
            if not explicit_checks and check not in checks:
                checks.append(check)
        if checks != list(self.checks):
            changes["checks"] = tuple(checks)
        if exclude:
            changes["exclude"] = (*self.exclude, *exclude)
        if triples:
            merged = {k: dict(v) for k, v in self.options.items()}
            for check, option, value in triples:
                merged.setdefault(check, {})[option] = value
            changes["options"] = merged
        return self.replace(**changes) if changes else self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "configuration",
                     base: AuditConfig | None = None) -> AuditConfig:
        """Build from a plain mapping (TOML table, JSON, keyword arguments)."""
        names = [f.name for f in fields(cls)]
        aliases = {"format": "formats", "check": "checks", "fail-on": "fail_on", "report-dir": "report_dir",
                   "batch-size": "batch_size", "max-pixels": "max_pixels", "max-file-bytes": "max_file_bytes",
                   "dask-scheduler": "dask_scheduler"}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            k = aliases.get(key, key.replace("-", "_"))
            _refuse_cli_setting(k)
            if k not in names:
                raise ConfigError(f"unknown setting {key!r} in {source}{did_you_mean(k, names)}")
            kwargs[k] = value
        try:
            return replace(base, **kwargs) if base is not None else cls(**kwargs)
        except ConfigError as exc:
            if source == "configuration":
                raise
            raise ConfigError(f"{source}: {exc}") from None
        except TypeError as exc:  # pragma: no cover - defensive
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_pyproject(cls, path: str | os.PathLike[str], *, base: AuditConfig | None = None) -> AuditConfig:
        """Read ``[tool.genaudit]`` from a pyproject.toml (missing table → defaults)."""
        p = os.fspath(path)
        # [tool.genaudit.release] belongs to release-check (genaudit.release_check), not to scans
        table = {k: v for k, v in read_genaudit_table(p).items() if k not in CLI_SETTINGS and k != "release"}
        return cls.from_mapping(table, source=f"[tool.genaudit] in {p}", base=base)

    @classmethod
    def discover(cls, cwd: str | os.PathLike[str] | None = None) -> AuditConfig:
        """Defaults, overlaid with ``[tool.genaudit]`` from ``cwd/pyproject.toml`` if present."""
        path = os.path.join(os.fspath(cwd) if cwd is not None else os.getcwd(), "pyproject.toml")
        if os.path.isfile(path):
            return cls.from_pyproject(path)
        return cls()

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data (``from_mapping`` reads it back)."""
        return {
            "checks": list(self.checks),
            "jobs": self.jobs,
            "batch_size": self.batch_size,
            "max_pixels": self.max_pixels,
            "max_file_bytes": self.max_file_bytes,
            "report_dir": self.report_dir,
            "formats": list(self.formats),
            "fail_on": list(self.fail_on),
            "resume": self.resume,
            "exclude": list(self.exclude),
            "options": {k: dict(v) for k, v in self.options.items()},
            "dask_scheduler": self.dask_scheduler,
        }


def _refuse_cli_setting(key: str) -> None:
    if key in CLI_SETTINGS:
        raise ConfigError(f"{key!r} is a setting of the command line (genaudit scan --{key}), not of an audit:"
                          " the Python API never prints")


def read_genaudit_table(path: str) -> Mapping[str, Any]:
    """``[tool.genaudit]`` of a pyproject.toml (empty when absent); unreadable files are ConfigErrors."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    table = doc.get("tool", {}).get("genaudit", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[tool.genaudit] in {path} must be a table")
    return table


def read_cli_settings(config_file: str | os.PathLike[str] | None = None,
                      cwd: str | os.PathLike[str] | None = None) -> dict[str, bool]:
    """The command line's own settings (:data:`CLI_SETTINGS`) from ``[tool.genaudit]`` of
    ``config_file``, or of ``cwd/pyproject.toml`` when there is one; defaults otherwise.

    >>> read_cli_settings(cwd="/nonexistent")
    {'quiet': False}
    """
    if config_file is not None:
        path = os.fspath(config_file)
    else:
        path = os.path.join(os.fspath(cwd) if cwd is not None else os.getcwd(), "pyproject.toml")
        if not os.path.isfile(path):
            return dict(CLI_SETTINGS)
    table = read_genaudit_table(path)
    out = dict(CLI_SETTINGS)
    for key in CLI_SETTINGS:
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"[tool.genaudit] in {path}: {key} must be true or false, got {table[key]!r}")
            out[key] = table[key]
    return out
