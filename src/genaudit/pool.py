"""The worker pool of a scan: batches run in worker processes, and a crash costs one file.

:func:`run_batches` keeps up to two batches per worker in flight and hands each finished batch to
``on_batch`` at once. When a worker process dies (a decoder bug, the OOM killer), the pool breaks
and every batch it held, finished or not, comes back with ``BrokenProcessPool``. Their files are
then retried one by one, each alone in a fresh pool, so that a second crash can only be that
file's own: it gets an ``internal_error`` record and every other file its normal result. Nothing
is lost and nothing is reported twice.

The executor is made by an injected factory (:func:`process_pool` for real scans), so the state
machine can be driven by a fake executor in tests, and ``work`` is what each batch is run
through (:func:`~genaudit.engine.run_in_worker`: the worker's :class:`~genaudit.engine.Engine`).

>>> from concurrent.futures import ThreadPoolExecutor
>>> seen = []
>>> def work(batch):
...     return [(t.index, {"path": t.path}, None) for t in batch], {"demo": 0.0}
>>> run_batches([[Task(0, "a.png"), Task(1, "b.png")], [Task(2, "c.png")]], 2,
...             lambda outcomes, timings: seen.extend(i for i, _, _ in outcomes),
...             executor_factory=lambda: ThreadPoolExecutor(2), work=work)
>>> sorted(seen)
[0, 1, 2]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from . import errors as E
from .config import AuditConfig
from .engine import BatchOutcome, FileOutcome, Task, init_worker, run_in_worker
from .registry import extra_checks
from .results import FileError, ImageAudit

#: called in the main process with each finished batch's outcomes and check timings
OnBatch = Callable[[list[FileOutcome], Mapping[str, float]], None]
#: makes a fresh executor: at the start and after every crash
ExecutorFactory = Callable[[], Executor]

CRASH_MESSAGE = "the worker process crashed while decoding or checking this file"


def split_batches(tasks: Sequence[Task], batch_size: int, jobs: int) -> list[list[Task]]:
    """Full batches first, then smaller ones towards the end, so that the workers finish
    together instead of one of them running a last full batch alone.

    >>> [len(b) for b in split_batches([Task(i, f"{i}.png") for i in range(20)], 8, jobs=2)]
    [5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1]
    >>> [len(b) for b in split_batches([Task(i, f"{i}.png") for i in range(20)], 8, jobs=1)]
    [8, 8, 4]
    """
    batches: list[list[Task]] = []
    i = 0
    while i < len(tasks):
        remaining = len(tasks) - i
        size = batch_size if jobs <= 1 else max(1, min(batch_size, remaining // (2 * jobs)))
        batches.append(list(tasks[i:i + size]))
        i += size
    return batches


def start_method() -> str:
    """``fork`` when it is safe (no threads and no torch in this process yet: starts in
    milliseconds), else ``spawn``. ``GENAUDIT_MP_START`` overrides."""
    forced = os.environ.get("GENAUDIT_MP_START")
    if forced:
        return forced
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "spawn"


def process_pool(config: AuditConfig, jobs: int) -> ExecutorFactory:
    """A factory of ``jobs``-process pools whose workers build their engine from ``config``.

    The start method is chosen now, once: a running pool's own threads would otherwise make the
    pools started after a crash use ``spawn``.
    """
    ctx = multiprocessing.get_context(start_method())
    config_dict = config.to_dict()

    def make() -> Executor:
        return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_worker,
                                   initargs=(config_dict, extra_checks()))

    return make


def run_batches(batches: Sequence[list[Task]], jobs: int, on_batch: OnBatch, *,
                executor_factory: ExecutorFactory,
                work: Callable[[list[Task]], BatchOutcome] = run_in_worker,
                crash: tuple[type[BaseException], ...] = (BrokenProcessPool,)) -> None:
    """Run ``batches`` through ``work`` in executors from ``executor_factory``; survive and
    isolate worker crashes (see the module docstring). ``on_batch`` gets every task's outcome
    exactly once; an exception it raises stops the run. ``crash``: the exceptions by which a
    future says its worker died (a Dask cluster's ``KilledWorker``, see :mod:`genaudit.cluster`)."""
    pending: deque[list[Task]] = deque(batches)
    suspects: deque[list[Task]] = deque()  # single files retried alone after a crash
    pool: Executor | None = None
    inflight: dict[Future[Any], list[Task]] = {}
    alone: set[Future[Any]] = set()

    def submit(queue: deque[list[Task]]) -> Future[Any] | None:
        """Submit the queue's next batch; None (batch left queued) when the pool broke since the
        last wait: a worker died before any of its futures was seen to fail."""
        assert pool is not None
        batch = queue.popleft()
        try:
            fut = pool.submit(work, batch)
        except crash:
            queue.appendleft(batch)
            return None
        inflight[fut] = batch
        return fut

    try:
        while pending or suspects or inflight:
            if pool is None:
                pool = executor_factory()
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
                except crash:
                    broken = True
                    if was_alone:
                        # Alone in the pool and it still crashed it: this file is the cause.
                        t = batch[0]
                        rec = ImageAudit.failed(t.path, FileError(E.INTERNAL_ERROR, CRASH_MESSAGE)).to_dict()
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
