"""The per-process engine of a scan: reads, decodes and runs the checks on batches of files.

The :class:`~genaudit.audit.Auditor` holds one :class:`Engine` for in-memory images and ``jobs=1``
scans; every worker process of the pool (:mod:`genaudit.pool`) builds its own in
:func:`init_worker` and runs batches through :func:`run_in_worker`. A file that cannot be read or
decoded becomes an error record, a check that raises an ``error`` result for that image only.

>>> import numpy as np
>>> from genaudit.config import AuditConfig
>>> from genaudit.io import load_array
>>> engine = Engine(AuditConfig(checks=("phash",)))
>>> [r.status for r in engine.audit_loaded([load_array(np.zeros((8, 8), np.uint8))])[0]]
['ok']
>>> records, timings = engine.process([Task(0, "/no/such/file.png")])
>>> records[0][1]["status"], records[0][1]["error"]["code"], list(timings)
('error', 'not_found', [])
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from . import errors as E
from .checks.base import Check
from .config import AuditConfig
from .io import LoadedImage, decode_bytes, read_file
from .io.decode import undecoded_view
from .registry import create_check, register_check
from .results import CheckResult, FileError, ImageAudit

#: one file's outcome: (input index, ImageAudit record, sha256 of the bytes read); the record is
#: None when resuming and the file is unchanged since the previous run
FileOutcome = tuple[int, dict[str, Any] | None, str | None]
#: a batch's outcomes and the seconds each check took over it
BatchOutcome = tuple[list[FileOutcome], dict[str, float]]


@dataclass(frozen=True)
class Task:
    """One file of a scan: its place in the input order, its path, and (resuming) the sha256 of
    the previous run's read, to skip the file when it is unchanged."""

    index: int
    path: str
    expected_sha256: str | None = None  # set when resuming: skip the file if unchanged


class Engine:
    """Holds the instantiated checks of one process and applies them to batches."""

    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.checks: list[Check] = [create_check(n, config.options_for(n)) for n in config.checks]
        # Checks that are not thread-safe run on one thread at a time (an Auditor shared by threads).
        self._locks = {c.name: threading.Lock() for c in self.checks if not c.thread_safe}

    def _guard(self, check: Check) -> AbstractContextManager[Any]:
        lock = self._locks.get(check.name)
        return lock if lock is not None else nullcontext()

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
            with self._guard(check):
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
            with self._guard(check):
                result = check.run(image)
            return self._validate(check, result)
        except Exception as exc:  # noqa: BLE001
            return CheckResult.error(check.name, f"{type(exc).__name__}: {exc}")

    def process(self, tasks: Sequence[Task]) -> BatchOutcome:
        """Read, decode and audit a batch. Returns ``(index, record | None, sha)`` per task,
        where ``None`` means "unchanged since the previous run" (resume), and the check timings.

        Image-by-image checks run on each image as soon as it is decoded (its pixels still in
        cache); batched checks then run once over the whole batch.
        """
        out: list[FileOutcome] = []
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
                checks = self.without_pixels(data, task.path, sha, exc, timings)
                out.append((task.index, ImageAudit.failed(task.path, FileError(exc.code, exc.message), sha,
                                                          len(data), checks).to_dict(), sha))
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

    def without_pixels(self, data: bytes, path: str | None, sha: str, exc: E.ImageLoadError,
                       timings: dict[str, float]) -> tuple[CheckResult, ...]:
        """A file whose pixels could not be decoded after it was parsed (corrupt, truncated): the
        checks that read bytes only run on its bytes-only view, the others are skipped with the
        reason. Other load errors (limits, not an image) give no results: nothing was parsed."""
        try:
            view = undecoded_view(data, exc, path=path, limits=self.limits, sha256=sha)
        except Exception:  # noqa: BLE001 - the file error is reported anyway
            view = None
        if view is None:
            return ()
        results = []
        for check in self.checks:
            if check.needs_pixels:
                results.append(CheckResult.skipped(check.name, f"the image could not be decoded: {exc.code}"))
                continue
            t0 = time.perf_counter()
            results.append(self._run_isolated(check, [view])[0])
            timings[check.name] = timings.get(check.name, 0.0) + time.perf_counter() - t0
        return tuple(results)

    def _record(self, image: LoadedImage, results: Mapping[str, CheckResult]) -> dict[str, Any]:
        return ImageAudit(path=image.path, status="ok", sha256=image.sha256, size_bytes=image.size_bytes,
                          image=image.info, checks=tuple(results[c.name] for c in self.checks)).to_dict()


def _internal_error(path: str, exc: BaseException, sha: str | None = None, size: int | None = None) -> ImageAudit:
    return ImageAudit.failed(path, FileError(E.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"), sha, size)


_WORKER_ENGINE: Engine | None = None


def init_worker(config_dict: dict[str, Any], extra_checks: dict[str, tuple[str, str]]) -> None:
    """Set up a worker process: the checks registered at run time (``register_check``; a spawned
    process does not inherit them), one thread per native pool, malloc tuning, and the engine."""
    global _WORKER_ENGINE
    for name, (target, description) in extra_checks.items():
        register_check(name, target, description)
    # Model checks run one process per core: keep each process's own thread pools to one thread.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _tune_malloc()
    _WORKER_ENGINE = Engine(AuditConfig.from_mapping(config_dict))


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


def run_in_worker(tasks: list[Task]) -> BatchOutcome:
    """:meth:`Engine.process` in a worker process set up by :func:`init_worker`."""
    assert _WORKER_ENGINE is not None, "worker not initialised"
    return _WORKER_ENGINE.process(tasks)

