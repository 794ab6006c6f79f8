"""The :class:`Auditor`: the one orchestrator of every scan.

Flow: walk the inputs (:func:`genaudit.io.iter_inputs`) → split them into batches → each batch
is read, hashed (sha256) and decoded once, then every selected check runs on it, in a pool of
worker processes (``jobs``) → each finished file is appended to ``results.jsonl`` at once, so an
interrupted scan loses nothing → the :class:`~genaudit.results.ScanReport` is assembled in input
order and written as JSON / Markdown.

Failures are isolated at every level: a file that cannot be read or decoded becomes an error
entry; a check that raises becomes an ``error`` result for that image only; a worker process
that crashes (e.g. a decoder bug) is replaced and the files it held are retried one by one so
that only the file that crashes it is reported (``internal_error``).

The parts live in their own modules: :mod:`genaudit.engine` (what a process does with a batch),
:mod:`genaudit.pool` (the worker pool and its crash handling) and :mod:`genaudit.journal`
(``results.jsonl`` and resume); this module puts them together.

>>> import numpy as np
>>> audit = Auditor(checks=("phash",)).audit_image(np.zeros((32, 32, 3), dtype=np.uint8))
>>> audit.status, audit.result("phash").status
('ok', 'ok')
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from . import errors as E
from ._version import __version__
from .cluster import DaskRun
from .config import AuditConfig
from .engine import Engine, FileOutcome, Task
from .errors import ConfigError
from .io import LoadedImage, iter_inputs, load_any, no_images_message, read_file
from .journal import RESULTS_FILE, ResultsWriter, load_previous
from .pool import process_pool, run_batches, split_batches
from .registry import get_spec
from .results import (
    SCHEMA_VERSION,
    CheckInfo,
    FileError,
    ImageAudit,
    RunInfo,
    ScanReport,
    ScanSummary,
)

ProgressCallback = Callable[[int, int], None]

# The report's ``config`` holds what determines the results; these only change how a run goes.
_RUNTIME_SETTINGS = ("jobs", "batch_size", "resume", "report_dir", "dask_scheduler")


class _Default(enum.Enum):
    CONFIG = "the configuration's report_dir"


# --------------------------------------------------------------------------------------------
# The Auditor
# --------------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dependency_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("numpy", "pillow", "scipy", "PyWavelets", "torch", "efficientnet-lite-pytorch", "c2pa-python",
                 "invisible-watermark", "dask"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


class Auditor:
    """Runs the selected checks over files, folders or in-memory images.

    ``Auditor(config)`` or ``Auditor(checks=("metadata",), jobs=2, ...)`` (keyword arguments
    override the config). Construction validates the configuration: unknown checks or options
    raise :class:`~genaudit.errors.ConfigError` at once, not half way through a scan.

    **Threads.** One Auditor may be shared by any number of threads calling :meth:`audit_image`
    / :meth:`audit_images` (a moderation service): each call gives what it gives on one thread.
    Decoding changes no process-wide state (``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is never
    touched, yet no partial image is ever decoded; warnings are silenced for the decoding thread
    only), each check's ``setup`` runs once however many threads race to it, and a check that
    does not declare itself ``thread_safe`` runs on one thread at a time. Concurrent :meth:`scan`
    calls are safe too when they write to different report directories. A ``PIL.Image`` passed
    in must not be used by another thread during the call, as with any Pillow image.
    """

    def __init__(self, config: AuditConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else AuditConfig()
        self.config = base.replace(**overrides) if overrides else base
        for name in self.config.options:
            get_spec(name)  # unknown check in an options table -> UnknownCheckError
        self._engine = Engine(self.config)  # validates options; checks load models lazily

    # -- describing ----------------------------------------------------------------------------
    def check_infos(self) -> tuple[CheckInfo, ...]:
        return tuple(c.info() for c in self._engine.checks)

    def fingerprint(self) -> str:
        """Identifies everything that determines per-file results (for ``--resume``): genaudit's
        version, the schema, the limits, and every check's name, version, parameters (which carry
        the content hashes of their input files: key id, index sha256, trust anchors sha256) and
        the sha256 of every model file it uses."""
        doc = {
            "schema": SCHEMA_VERSION, "genaudit": __version__,
            "checks": [{"name": c.name, "version": c.version, "params": c.params(),
                        "models": [{"name": m.get("name"), "sha256": m.get("sha256")} for m in c.models()]}
                       for c in self._engine.checks],
            "max_pixels": self.config.max_pixels, "max_file_bytes": self.config.max_file_bytes,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()

    def tool_info(self) -> dict[str, Any]:
        return {
            "name": "genaudit", "version": __version__,
            "python": platform.python_version(), "platform": platform.platform(terse=True),
            "dependencies": _dependency_versions(),
        }

    # -- in-memory API -------------------------------------------------------------------------
    def audit_image(self, image: Any) -> ImageAudit:
        """Audit one in-memory image (``PIL.Image``, array, encoded bytes or a path).

        Never raises for a bad input: an object that is not an image, a path or bytes that
        cannot be decoded, or an input over ``max_pixels`` / ``max_file_bytes`` gives an
        ``ImageAudit`` with ``status == "error"`` and a coded :class:`~genaudit.results.FileError`.

        >>> audit = Auditor(checks=("metadata",)).audit_image(42)
        >>> audit.status, audit.error.code, audit.error.message
        ('error', 'invalid_input', 'expected a PIL image, a numpy array, encoded image bytes or a path; got int')
        """
        return self.audit_images([image])[0]

    def audit_images(self, images: Iterable[Any]) -> list[ImageAudit]:
        """Audit several in-memory images in one batch (checks batch their model inference).

        One ``ImageAudit`` per input, in input order; a bad input becomes its own error entry
        (see :meth:`audit_image`) and the others are audited as usual. The limits of the
        configuration apply to every input as they do to files in a scan.
        """
        limits = self._engine.limits
        out: list[ImageAudit | None] = []
        loaded: list[tuple[int, LoadedImage]] = []
        for i, obj in enumerate(images):
            path = None
            try:
                if isinstance(obj, str | os.PathLike):
                    path = os.fspath(obj)
                im = load_any(obj, limits=limits)
            except E.ImageLoadError as exc:
                out.append(self._failed(obj, path, exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad input never fails the batch
                out.append(ImageAudit.failed(path, FileError(E.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")))
                continue
            out.append(None)
            loaded.append((i, im))
        results = self._engine.audit_loaded([im for _, im in loaded])
        for (i, im), res in zip(loaded, results, strict=True):
            out[i] = ImageAudit(path=im.path, status="ok", sha256=im.sha256, size_bytes=im.size_bytes or None,
                                image=im.info, checks=res)
        return [a for a in out if a is not None]

    def _failed(self, obj: Any, path: str | None, exc: E.ImageLoadError) -> ImageAudit:
        """The error entry of an input that did not load. Encoded bytes (given, or read from a
        path) whose pixels could not be decoded still get the checks that read bytes only, as in a
        scan (e.g. the invalid C2PA manifest of a tampered file)."""
        data: bytes | None = None
        if isinstance(obj, bytes | bytearray | memoryview):
            data = bytes(obj)
        elif path is not None and exc.code in (E.CORRUPT, E.TRUNCATED):
            try:
                data = read_file(path, self._engine.limits)
            except E.ImageLoadError:
                data = None
        if not data:
            return ImageAudit.failed(path, FileError(exc.code, exc.message))
        sha = hashlib.sha256(data).hexdigest()
        checks = self._engine.without_pixels(data, path, sha, exc, {})
        return ImageAudit.failed(path, FileError(exc.code, exc.message), sha, len(data), checks)

    # -- scanning ------------------------------------------------------------------------------
    def scan(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
             report_dir: str | os.PathLike[str] | Literal[_Default.CONFIG] | None = _Default.CONFIG,
             progress: ProgressCallback | None = None,
             on_file: Callable[[ImageAudit], None] | None = None) -> ScanReport:
        """Scan files and folders. Returns the :class:`~genaudit.results.ScanReport`.

        The same scan as ``genaudit scan``: results stream to ``results.jsonl`` in the report
        directory as files finish, ``resume`` (in the config) reuses finished files, and the
        reports named by ``config.formats`` are written there at the end. The report directory is
        ``config.report_dir`` (default ``genaudit-report``, like the CLI), unless ``report_dir``
        is given for this call; ``None`` (here or in the config) writes nothing and keeps the scan
        in memory. ``progress(done, total)`` is called as files finish; nothing is printed.
        ``on_file`` is called with each file's :class:`~genaudit.results.ImageAudit` as it finishes
        (completion order, not input order).
        """
        cfg = self.config
        if report_dir is _Default.CONFIG:
            report_dir = cfg.report_dir
        started, t0 = _now(), time.perf_counter()
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        inputs = [os.fspath(p) for p in paths]
        if not inputs:
            raise ConfigError("no input paths given")
        rdir = os.fspath(report_dir) if report_dir is not None else None
        if cfg.resume and rdir is None:
            raise ConfigError("resume needs a report directory (report_dir is None)")
        ignored: list[str] = []
        items = list(iter_inputs(inputs, exclude=cfg.exclude, exclude_dirs=[rdir] if rdir else [], ignored=ignored))
        if not items:
            raise E.NoImagesError(no_images_message(inputs, len(ignored)))
        fingerprint = self.fingerprint()
        cluster = None
        if cfg.dask_scheduler is not None:  # connect before anything is written: a bad address is a config error
            cluster = DaskRun(cfg.dask_scheduler, cfg).connect()
        try:
            return self._scan_items(items, inputs, ignored, rdir, fingerprint, cluster, started, t0, progress,
                                    on_file)
        finally:
            if cluster is not None:
                cluster.close()

    def _scan_items(self, items: list[Any], inputs: list[str], ignored: list[str], rdir: str | None,
                    fingerprint: str, cluster: DaskRun | None, started: str, t0: float,
                    progress: ProgressCallback | None,
                    on_file: Callable[[ImageAudit], None] | None) -> ScanReport:
        cfg = self.config
        total = len(items)
        writer: ResultsWriter | None = None
        previous: dict[str, dict[str, Any]] = {}
        if rdir is not None:
            try:
                os.makedirs(rdir, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create report directory {rdir}: {exc.strerror or exc}") from None
            jsonl = os.path.join(rdir, RESULTS_FILE)
            if cfg.resume:
                previous = load_previous(jsonl, fingerprint)
            header = {"schema_version": SCHEMA_VERSION, "genaudit_version": __version__,
                      "fingerprint": fingerprint, "checks": list(cfg.checks), "started_at": started}
            writer = ResultsWriter(jsonl, header, append=cfg.resume and os.path.exists(jsonl))

        files_by_index: dict[int, ImageAudit] = {}
        timings: dict[str, float] = {}
        resumed = 0
        done = 0

        def accept(index: int, record: dict[str, Any], write: bool) -> None:
            nonlocal done
            files_by_index[index] = ImageAudit.from_dict(record)
            if writer is not None and write:
                writer.record(record)
            done += 1
            if on_file is not None:
                on_file(files_by_index[index])

        tasks: list[Task] = []
        for i, item in enumerate(items):
            if item.error is not None:
                rec = ImageAudit.failed(item.path, item.error).to_dict()
                accept(i, rec, write=previous.get(item.path) != rec)
            else:
                prev = previous.get(item.path)
                tasks.append(Task(i, item.path, prev.get("sha256") if prev else None))
        if progress is not None:
            progress(done, total)

        def on_batch(results: list[FileOutcome], batch_timings: Mapping[str, float]) -> None:
            nonlocal resumed
            for index, rec, _sha in results:
                if rec is None:
                    rec = previous[items[index].path]
                    resumed += 1
                    accept(index, rec, write=False)
                else:
                    accept(index, rec, write=True)
            for k, v in batch_timings.items():
                timings[k] = timings.get(k, 0.0) + v
            if writer is not None:
                writer.flush()
            if progress is not None:
                progress(done, total)

        try:
            if cluster is not None and tasks:
                jobs = cluster.threads
                run_batches(split_batches(tasks, cfg.batch_size, jobs), jobs, on_batch,
                            executor_factory=cluster.executor, work=cluster.work, crash=cluster.crash)
            else:
                jobs = min(cfg.effective_jobs, max(1, -(-len(tasks) // cfg.batch_size)))
                batches = split_batches(tasks, cfg.batch_size, jobs)
                if jobs <= 1:
                    for batch in batches:
                        on_batch(*self._engine.process(batch))
                else:
                    run_batches(batches, jobs, on_batch, executor_factory=process_pool(cfg, jobs))
        finally:
            if writer is not None:
                writer.close()

        files = tuple(files_by_index[i] for i in range(total))
        summaries = {}
        for check in self._engine.checks:
            pairs = [(f.path, r) for f in files if (r := f.result(check.name)) is not None]
            try:
                summaries[check.name] = type(check).summarize(pairs)
            except Exception as exc:  # noqa: BLE001 - a broken summary must not lose the scan
                summaries[check.name] = {"error": f"{type(exc).__name__}: {exc}"}
        config_doc = {k: v for k, v in cfg.to_dict().items() if k not in _RUNTIME_SETTINGS}
        report = ScanReport(
            tool=self.tool_info(), config=config_doc, inputs=tuple(inputs), checks=self.check_infos(),
            summary=ScanSummary.from_files(files, cfg.checks, summaries, ignored), files=files,
            run=RunInfo(started_at=started, finished_at=_now(), duration_s=round(time.perf_counter() - t0, 3),
                        jobs=jobs, resumed_files=resumed,
                        check_seconds={k: round(v, 3) for k, v in sorted(timings.items())}))
        if rdir is not None:
            from .report import write_reports

            try:
                write_reports(report, rdir, cfg.formats)
            except E.OutputError as exc:
                raise E.OutputError(f"{exc}; {RESULTS_FILE} holds every file's result: re-run with --resume"
                                    " to write the reports without scanning again") from None
        return report


def scan(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
         config: AuditConfig | None = None, progress: ProgressCallback | None = None,
         **overrides: Any) -> ScanReport:
    """Scan ``paths`` with ``config`` (or defaults) and keyword overrides of its settings; see
    :meth:`Auditor.scan`. ``genaudit.scan(path, resume=True)`` is ``genaudit scan PATH --resume``:
    both write to and resume from ``./genaudit-report``; ``report_dir=None`` writes nothing."""
    return Auditor(config, **overrides).scan(paths, progress=progress)
