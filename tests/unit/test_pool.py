"""The worker pool's state machine, driven deterministically by a fake executor.

No processes and no clocks: :class:`FakeProcessPool` runs each batch as it is submitted and breaks
the way ``ProcessPoolExecutor`` does when a worker dies. The scan-level test with real processes is
``test_a_crashing_worker_is_isolated_to_its_file`` in test_audit.py; this one makes each race happen
every time, in particular a worker that dies between ``wait`` and the next ``submit``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from genaudit import errors as E
from genaudit.engine import BatchOutcome, FileOutcome, Task
from genaudit.pool import CRASH_MESSAGE, run_batches


class WorkerDied(Exception):
    """Raised by the fake work to say: the worker process running this batch died."""


class FakeProcessPool(Executor):
    """Runs every batch at ``submit`` (as a pool with an idle worker would) and breaks like
    ``ProcessPoolExecutor``: once a worker has died, the pool is noticed to be broken after
    ``lag`` more submits, which are accepted but whose futures fail with ``BrokenProcessPool``
    (batches queued behind the crash); from then on ``submit`` itself raises it."""

    def __init__(self, log: list[tuple[str, int, tuple[int, ...]]], number: int, lag: int) -> None:
        self.log, self.number, self.lag = log, number, lag
        self.dead = False
        self.accepted_after_death = 0
        self.refusals = 0
        self.is_shut_down = False

    def kill_a_worker(self) -> None:
        """A worker dies while idle, and the pool notices before the next submit."""
        self.dead = True
        self.lag = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self.is_shut_down:
            raise RuntimeError("cannot schedule new futures after shutdown")
        (batch,) = args
        files = tuple(t.index for t in batch)
        if self.dead and self.accepted_after_death >= self.lag:
            self.refusals += 1
            if self.refusals > 20:  # fail instead of hanging the test run
                raise AssertionError("the scan keeps submitting to a pool it knows is broken")
            self.log.append(("refused", self.number, files))
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()
        if self.dead:
            self.accepted_after_death += 1
            self.log.append(("lost", self.number, files))
            fut.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return fut
        try:
            result = fn(*args, **kwargs)
        except WorkerDied:
            self.dead = True
            self.log.append(("crashed", self.number, files))
            fut.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
        else:
            self.log.append(("ran", self.number, files))
            fut.set_result(result)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.is_shut_down = True


class Scenario:
    """Files 0..n-1; ``crashers`` kill the worker that runs them; ``dies_after`` kills a worker of
    the current pool just as the scan receives that file's outcome, i.e. after ``wait`` returned
    and before the next ``submit``."""

    def __init__(self, n: int, *, crashers: frozenset[int] = frozenset(), dies_after: int | None = None,
                 lag: int = 0) -> None:
        self.tasks = [Task(i, f"img_{i:02d}.png") for i in range(n)]
        self.crashers, self.dies_after, self.lag = crashers, dies_after, lag
        self.pools: list[FakeProcessPool] = []
        self.log: list[tuple[str, int, tuple[int, ...]]] = []
        self.outcomes: list[FileOutcome] = []

    def make_pool(self) -> FakeProcessPool:
        self.pools.append(FakeProcessPool(self.log, len(self.pools), self.lag))
        return self.pools[-1]

    def work(self, batch: list[Task]) -> BatchOutcome:
        if any(t.index in self.crashers for t in batch):
            raise WorkerDied
        return [(t.index, {"path": t.path, "status": "ok"}, f"sha-{t.index}") for t in batch], {"fake": 1.0}

    def on_batch(self, outcomes: list[FileOutcome], timings: Mapping[str, float]) -> None:
        self.outcomes.extend(outcomes)
        self.log.append(("received", len(self.pools) - 1, tuple(i for i, _, _ in outcomes)))
        if self.dies_after is not None and any(i == self.dies_after for i, _, _ in outcomes):
            self.pools[-1].kill_a_worker()

    def run(self, batch_sizes: list[int], jobs: int) -> None:
        batches, i = [], 0
        for size in batch_sizes:
            batches.append(self.tasks[i:i + size])
            i += size
        assert i == len(self.tasks)
        run_batches(batches, jobs, self.on_batch, executor_factory=self.make_pool, work=self.work)

    def by_file(self) -> dict[int, dict[str, Any]]:
        counts = Counter(i for i, _, _ in self.outcomes)
        assert sorted(counts) == [t.index for t in self.tasks], "a file got no outcome"
        assert all(c == 1 for c in counts.values()), f"a file got more than one outcome: {counts}"
        return {i: rec for i, rec, _ in self.outcomes if rec is not None}

    def events(self, kind: str) -> list[tuple[int, tuple[int, ...]]]:
        return [(pool, files) for k, pool, files in self.log if k == kind]


def _assert_normal(rec: dict[str, Any], index: int) -> None:
    assert rec == {"path": f"img_{index:02d}.png", "status": "ok"}


def test_worker_dying_between_wait_and_submit_keeps_the_batch_queued() -> None:
    # One worker, two batches in flight: after the first wait both have finished, and the worker
    # dies as the scan records file 3. The pool is broken, but no future will ever say so: the
    # next submit raises BrokenProcessPool. That batch must stay queued and run on a new pool.
    s = Scenario(8, dies_after=3)
    s.run([2, 2, 2, 2], jobs=1)
    files = s.by_file()
    for i in range(8):
        _assert_normal(files[i], i)
    assert s.events("refused") == [(0, (4, 5))]
    assert (1, (4, 5)) in s.events("ran")
    assert sorted(f for _, batch in s.events("ran") for f in batch) == list(range(8))  # each ran once
    assert len(s.pools) == 2 and all(p.is_shut_down for p in s.pools)


def test_worker_dying_between_wait_and_submit_of_a_lone_suspect() -> None:
    # File 1 crashes its batch and the batch behind it is lost with it (lag=1), so 0..5 are
    # retried alone. The worker that ran 0 alone dies as 0's outcome is recorded: submitting 1
    # raises, 1 stays queued, a new pool runs it alone (so it is found to be the cause) and every
    # other file still gets its normal result.
    s = Scenario(6, crashers=frozenset({1}), dies_after=0, lag=1)
    s.run([3, 3], jobs=1)
    files = s.by_file()
    assert files[1]["status"] == "error"
    assert files[1]["error"] == {"code": E.INTERNAL_ERROR, "message": CRASH_MESSAGE}
    for i in (0, 2, 3, 4, 5):
        _assert_normal(files[i], i)
    assert s.events("lost") == [(0, (3, 4, 5))]
    assert s.events("refused") == [(1, (1,))]  # the only refusal: between wait and submit
    assert s.events("crashed") == [(0, (0, 1, 2)), (2, (1,))]  # retried alone on the next pool
    assert len(s.pools) == 4 and all(p.is_shut_down for p in s.pools)


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_a_crashing_batch_is_retried_one_file_at_a_time(lag: int) -> None:
    # Batches of 3 with two workers (up to four batches in flight); file 4 kills any worker that
    # runs it. The batches submitted after the crash are lost with it (the first ``lag`` of them)
    # or refused by the broken pool (the rest).
    s = Scenario(12, crashers=frozenset({4}), lag=lag)
    s.run([3, 3, 3, 3], jobs=2)
    files = s.by_file()
    assert files[4]["path"] == "img_04.png" and files[4]["status"] == "error"
    assert files[4]["error"] == {"code": E.INTERNAL_ERROR, "message": CRASH_MESSAGE}
    for i in set(range(12)) - {4}:
        _assert_normal(files[i], i)

    lost = [batch for _, batch in s.events("lost")]
    refused = [batch for _, batch in s.events("refused")]
    assert lost == [(6, 7, 8), (9, 10, 11)][:lag]
    assert refused == [(6, 7, 8), (9, 10, 11)][lag:lag + 1]  # the first refusal ends that round
    suspects = {3, 4, 5} | {f for batch in lost for f in batch}
    # Every suspect is retried alone: a one-file batch whose outcome is received before
    # anything else is submitted.
    for j, (kind, pool, batch) in enumerate(s.log):
        if pool > 0 and kind in ("ran", "crashed") and set(batch) & suspects:
            assert len(batch) == 1
            assert s.log[j + 1] == ("received", pool, batch)
    ran = Counter(f for _, batch in s.events("ran") for f in batch)
    assert ran == Counter(set(range(12)) - {4})  # each other file ran exactly once
    assert s.events("crashed") == [(0, (3, 4, 5)), (1, (4,))]
    for batch in [(6, 7, 8), (9, 10, 11)][lag:]:  # not lost: run whole once the suspects are done
        assert (2, batch) in s.events("ran")
    assert len(s.pools) == 3 and all(p.is_shut_down for p in s.pools)
