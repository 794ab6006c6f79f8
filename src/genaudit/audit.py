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

>>> import numpy as np
>>> audit = Auditor(checks=("phash",)).audit_image(np.zeros((32, 32, 3), dtype=np.uint8))
>>> audit.status, audit.result("phash").status
('ok', 'ok')
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import errors as E
from ._version import __version__
from .checks.base import Check
from .config import AuditConfig
from .errors import ConfigError
from .io import LoadedImage, decode_bytes, iter_inputs, load_any, read_file
from .journal import RESULTS_FILE, ResultsWriter, load_previous
from .registry import create_check, extra_checks, get_spec, register_check
from .results import (
    SCHEMA_VERSION,
    CheckInfo,
    CheckResult,
    FileError,
    ImageAudit,
    RunInfo,
    ScanReport,
    ScanSummary,
)

ProgressCallback = Callable[[int, int], None]

# The report's ``config`` holds what determines the results; these only change how a run goes.
_RUNTIME_SETTINGS = ("jobs", "batch_size", "resume", "quiet", "report_dir")


# --------------------------------------------------------------------------------------------
# The per-process engine: reads, decodes and runs checks on batches of files
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Task:
    index: int
    path: str
    expected_sha256: str | None = None  # set when resuming: skip the file if unchanged


class _Engine:
    """Holds the instantiated checks of one process and applies them to batches."""

    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.checks: list[Check] = [create_check(n, config.options_for(n), seed=config.seed)
                                    for n in config.checks]

    def audit_loaded(self, images: Sequence[LoadedImage],
                     timings: dict[str, float] | None = None) -> list[tuple[CheckResult, ...]]:
        """Run every check over ``images``; one tuple of results per image, in check order."""
        per_image: list[dict[str, CheckResult]] = [{} for _ in images]
        for check in self.checks:
            t0 = time.perf_counter()
            for slot, r in zip(per_image, self._run_isolated(check, images), strict=True):
                slot[check.name] = r
            if timings is not None:
                timings[check.name] = timings.get(check.name, 0.0) + time.perf_counter() - t0
        return [tuple(slot[c.name] for c in self.checks) for slot in per_image]

    @staticmethod
    def _validate(check: Check, result: Any) -> CheckResult:
        if not isinstance(result, CheckResult):
            return CheckResult.error(check.name, f"check returned {type(result).__name__}, not a CheckResult")
        if result.check != check.name:
            return CheckResult.error(check.name, f"check returned a result named {result.check!r}")
        try:
            json.dumps(result.to_dict(), allow_nan=False)
        except (TypeError, ValueError) as exc:
            return CheckResult.error(check.name, f"check returned data that is not JSON-serialisable: {exc}")
        return result

    def _run_isolated(self, check: Check, images: Sequence[LoadedImage]) -> list[CheckResult]:
        if not images:
            return []
        try:
            check.ensure_setup()
        except Exception as exc:  # noqa: BLE001 - a check that cannot start is an error per image
            reason = f"check could not start: {type(exc).__name__}: {exc}"
            return [CheckResult.error(check.name, reason) for _ in images]
        try:
            results = check.run_batch(images)
            if len(results) != len(images):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(images)} images")
            return [self._validate(check, r) for r in results]
        except Exception:  # noqa: BLE001 - fall back to one image at a time to isolate the failure
            if len(images) == 1:
                return [self._run_one(check, images[0])]
            return [self._run_one(check, im) for im in images]

    def _run_one(self, check: Check, image: LoadedImage) -> CheckResult:
        try:
            return self._validate(check, check.run(image))
        except Exception as exc:  # noqa: BLE001
            return CheckResult.error(check.name, f"{type(exc).__name__}: {exc}")

    def process(self, tasks: Sequence[_Task]) -> tuple[list[tuple[int, dict[str, Any] | None, str | None]],
                                                       dict[str, float]]:
        """Read, decode and audit a batch. Returns ``(index, record | None, sha)`` per task,
        where ``None`` means "unchanged since the previous run" (resume), and the check timings.

        Image-by-image checks run on each image as soon as it is decoded (its pixels still in
        cache); batched checks then run once over the whole batch.
        """
        out: list[tuple[int, dict[str, Any] | None, str | None]] = []
        timings: dict[str, float] = {}
        immediate = [c for c in self.checks if not c.batched]
        batched = [c for c in self.checks if c.batched]
        pending: list[tuple[int, LoadedImage, dict[str, CheckResult]]] = []
        for task in tasks:
            try:
                data = read_file(task.path, self.limits)
            except E.ImageLoadError as exc:
                out.append((task.index, ImageAudit.failed(task.path, FileError(exc.code, exc.message)).to_dict(),
                            None))
                continue
            except Exception as exc:  # noqa: BLE001
                out.append((task.index, _internal_error(task.path, exc).to_dict(), None))
                continue
            sha = hashlib.sha256(data).hexdigest()
            if task.expected_sha256 == sha:
                out.append((task.index, None, sha))
                continue
            try:
                image = decode_bytes(data, path=task.path, limits=self.limits, sha256=sha)
            except E.ImageLoadError as exc:
                out.append((task.index, ImageAudit.failed(task.path, FileError(exc.code, exc.message), sha,
                                                          len(data)).to_dict(), sha))
                continue
            except Exception as exc:  # noqa: BLE001
                out.append((task.index, _internal_error(task.path, exc, sha, len(data)).to_dict(), sha))
                continue
            results: dict[str, CheckResult] = {}
            for check in immediate:
                t0 = time.perf_counter()
                results[check.name] = self._run_isolated(check, [image])[0]
                timings[check.name] = timings.get(check.name, 0.0) + time.perf_counter() - t0
            if batched:
                pending.append((task.index, image, results))
            else:
                out.append((task.index, self._record(image, results), sha))
        if pending:
            images = [im for _, im, _ in pending]
            for check in batched:
                t0 = time.perf_counter()
                for (_, _, results), r in zip(pending, self._run_isolated(check, images), strict=True):
                    results[check.name] = r
                timings[check.name] = timings.get(check.name, 0.0) + time.perf_counter() - t0
            out.extend((index, self._record(im, results), im.sha256) for index, im, results in pending)
        return out, timings

    def _record(self, image: LoadedImage, results: Mapping[str, CheckResult]) -> dict[str, Any]:
        return ImageAudit(path=image.path, status="ok", sha256=image.sha256, size_bytes=image.size_bytes,
                          image=image.info, checks=tuple(results[c.name] for c in self.checks)).to_dict()


def _split_batches(tasks: Sequence[_Task], batch_size: int, jobs: int) -> list[list[_Task]]:
    """Full batches first, then smaller ones towards the end, so that the workers finish
    together instead of one of them running a last full batch alone."""
    batches: list[list[_Task]] = []
    i = 0
    while i < len(tasks):
        remaining = len(tasks) - i
        size = batch_size if jobs <= 1 else max(1, min(batch_size, remaining // (2 * jobs)))
        batches.append(list(tasks[i:i + size]))
        i += size
    return batches


def _internal_error(path: str, exc: BaseException, sha: str | None = None, size: int | None = None) -> ImageAudit:
    return ImageAudit.failed(path, FileError(E.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"), sha, size)


_WORKER_ENGINE: _Engine | None = None


def _init_worker(config_dict: dict[str, Any], extra_checks: dict[str, tuple[str, str]]) -> None:
    global _WORKER_ENGINE
    for name, (target, description) in extra_checks.items():
        register_check(name, target, description)
    # Model checks run one process per core: keep each process's own thread pools to one thread.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _tune_malloc()
    _WORKER_ENGINE = _Engine(AuditConfig.from_mapping(config_dict))


def _tune_malloc() -> None:
    """Keep large image buffers on the heap (glibc only). By default every decoded image and
    file buffer above 128 KiB gets fresh pages from the kernel and returns them when freed; the
    page faults cost about as much as decoding a small PNG. Worker processes reuse buffers instead."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 256 << 20)
        libc.mallopt(m_trim_threshold, 512 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _start_method() -> str:
    """``fork`` when it is safe (no threads and no torch in this process yet: starts in
    milliseconds), else ``spawn``. ``GENAUDIT_MP_START`` overrides."""
    forced = os.environ.get("GENAUDIT_MP_START")
    if forced:
        return forced
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "spawn"


def _worker_process(tasks: list[_Task]) -> tuple[list[tuple[int, dict[str, Any] | None, str | None]],
                                                  dict[str, float]]:
    assert _WORKER_ENGINE is not None, "worker not initialised"
    return _WORKER_ENGINE.process(tasks)



# --------------------------------------------------------------------------------------------
# The Auditor
# --------------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dependency_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("numpy", "pillow", "imagehash", "scipy", "torch", "open_clip_torch", "c2pa-python",
                 "invisible-watermark"):
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
    """

    def __init__(self, config: AuditConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else AuditConfig()
        self.config = base.replace(**overrides) if overrides else base
        for name in self.config.options:
            get_spec(name)  # unknown check in an options table -> UnknownCheckError
        self._engine = _Engine(self.config)  # validates options; checks load models lazily

    # -- describing ----------------------------------------------------------------------------
    def check_infos(self) -> tuple[CheckInfo, ...]:
        return tuple(c.info() for c in self._engine.checks)

    def fingerprint(self) -> str:
        """Identifies everything that determines per-file results (for ``--resume``)."""
        doc = {
            "schema": SCHEMA_VERSION, "genaudit": __version__,
            "checks": [{"name": c.name, "version": c.version, "params": c.params()} for c in self._engine.checks],
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

        A path or bytes that cannot be decoded gives an ``ImageAudit`` with ``status == "error"``.
        """
        return self.audit_images([image])[0]

    def audit_images(self, images: Iterable[Any]) -> list[ImageAudit]:
        """Audit several in-memory images in one batch (checks batch their model inference)."""
        out: list[ImageAudit | None] = []
        loaded: list[tuple[int, LoadedImage]] = []
        for i, obj in enumerate(images):
            path = os.fspath(obj) if isinstance(obj, str | os.PathLike) else None
            try:
                im = load_any(obj)
            except E.ImageLoadError as exc:
                out.append(ImageAudit.failed(path, FileError(exc.code, exc.message)))
                continue
            out.append(None)
            loaded.append((i, im))
        results = self._engine.audit_loaded([im for _, im in loaded])
        for (i, im), res in zip(loaded, results, strict=True):
            out[i] = ImageAudit(path=im.path, status="ok", sha256=im.sha256, size_bytes=im.size_bytes or None,
                                image=im.info, checks=res)
        return [a for a in out if a is not None]

    # -- scanning ------------------------------------------------------------------------------
    def scan(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
             report_dir: str | os.PathLike[str] | None = None,
             progress: ProgressCallback | None = None) -> ScanReport:
        """Scan files and folders. Returns the :class:`~genaudit.results.ScanReport`.

        With ``report_dir``, results stream to ``report_dir/results.jsonl`` as files finish,
        ``resume`` (in the config) reuses finished files, and the reports named by
        ``config.formats`` are written there at the end.
        """
        cfg = self.config
        started, t0 = _now(), time.perf_counter()
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        inputs = [os.fspath(p) for p in paths]
        if not inputs:
            raise ConfigError("no input paths given")
        rdir = os.fspath(report_dir) if report_dir is not None else None
        if cfg.resume and rdir is None:
            raise ConfigError("resume needs a report directory")
        items = list(iter_inputs(inputs, exclude=cfg.exclude, exclude_dirs=[rdir] if rdir else []))
        total = len(items)
        fingerprint = self.fingerprint()
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

        tasks: list[_Task] = []
        for i, item in enumerate(items):
            if item.error is not None:
                rec = ImageAudit.failed(item.path, item.error).to_dict()
                accept(i, rec, write=previous.get(item.path) != rec)
            else:
                prev = previous.get(item.path)
                tasks.append(_Task(i, item.path, prev.get("sha256") if prev else None))
        if progress is not None:
            progress(done, total)

        def on_batch(results: list[tuple[int, dict[str, Any] | None, str | None]],
                     batch_timings: Mapping[str, float]) -> None:
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

        jobs = min(cfg.effective_jobs, max(1, -(-len(tasks) // cfg.batch_size)))
        batches = _split_batches(tasks, cfg.batch_size, jobs)
        try:
            if jobs <= 1:
                for batch in batches:
                    on_batch(*self._engine.process(batch))
            else:
                self._run_pool(batches, jobs, on_batch)
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
            summary=ScanSummary.from_files(files, cfg.checks, summaries), files=files,
            run=RunInfo(started_at=started, finished_at=_now(), duration_s=round(time.perf_counter() - t0, 3),
                        jobs=jobs, resumed_files=resumed,
                        check_seconds={k: round(v, 3) for k, v in sorted(timings.items())}))
        if rdir is not None:
            from .report import write_reports

            write_reports(report, rdir, cfg.formats)
        return report

    def _run_pool(self, batches: list[list[_Task]], jobs: int,
                  on_batch: Callable[[list[tuple[int, dict[str, Any] | None, str | None]], Mapping[str, float]],
                                     None]) -> None:
        """Run batches in worker processes; survive and isolate worker crashes."""
        pending: deque[list[_Task]] = deque(batches)
        suspects: deque[list[_Task]] = deque()  # single files retried alone after a crash
        ctx = multiprocessing.get_context(_start_method())
        config_dict = self.config.to_dict()
        pool: ProcessPoolExecutor | None = None
        inflight: dict[Future[Any], list[_Task]] = {}
        alone: set[Future[Any]] = set()
        def submit(queue: deque[list[_Task]]) -> Future[Any] | None:
            """Submit the queue's next batch; None (batch left queued) when the pool broke since the
            last wait: a worker died before any of its futures was seen to fail."""
            assert pool is not None
            batch = queue.popleft()
            try:
                fut = pool.submit(_worker_process, batch)
            except BrokenProcessPool:
                queue.appendleft(batch)
                return None
            inflight[fut] = batch
            return fut

        try:
            while pending or suspects or inflight:
                if pool is None:
                    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                               initargs=(config_dict, extra_checks()))
                if suspects:
                    if not inflight:  # a suspect runs alone, so a crash now can only be its own
                        fut = submit(suspects)
                        if fut is not None:
                            alone.add(fut)
                else:
                    while pending and len(inflight) < 2 * jobs and submit(pending) is not None:
                        pass
                if not inflight:  # broken with nothing in flight to report it: start a new pool
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
                    continue
                finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                broken = False
                for fut in finished:
                    batch = inflight.pop(fut)
                    was_alone = fut in alone
                    alone.discard(fut)
                    try:
                        on_batch(*fut.result())
                    except BrokenProcessPool:
                        broken = True
                        if was_alone:
                            # Alone in the pool and it still crashed it: this file is the cause.
                            t = batch[0]
                            rec = ImageAudit.failed(t.path, FileError(
                                E.INTERNAL_ERROR, "the worker process crashed while decoding or checking"
                                                  " this file")).to_dict()
                            on_batch([(t.index, rec, None)], {})
                        else:
                            suspects.extend([t] for t in batch)
                if broken:
                    for fut, batch in list(inflight.items()):
                        fut.cancel()
                        suspects.extend([t] for t in batch)
                    inflight.clear()
                    alone.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def scan(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
         config: AuditConfig | None = None, report_dir: str | os.PathLike[str] | None = None,
         progress: ProgressCallback | None = None, **overrides: Any) -> ScanReport:
    """Scan ``paths`` with ``config`` (or defaults) and keyword overrides; see :meth:`Auditor.scan`."""
    return Auditor(config, **overrides).scan(paths, report_dir=report_dir, progress=progress)
