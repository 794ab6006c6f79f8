"""Scans on a ``dask.distributed`` cluster: the same batches, run by the cluster's workers.

``Auditor(dask_scheduler="tcp://host:8786").scan(...)`` (``genaudit scan --dask-scheduler``,
``dask_scheduler`` in ``[tool.genaudit]``) hands the batches that a local scan gives its process
pool to the workers of a running Dask scheduler instead; ``"local"`` or ``"local:N"`` starts a
``LocalCluster`` of N single-threaded worker processes for the duration of the scan. Everything
else stays in the scanning process: the file walk, ``results.jsonl`` (each batch's records are
appended as it comes back), ``--resume``, the summaries and the reports — so the report is the
one a local scan of the same files writes.

What travels: each batch is a list of (index, path, previous sha256) tasks and the configuration
as plain data; a worker builds its :class:`~genaudit.engine.Engine` from that configuration once
per process (checks, models and the index are loaded from the paths in it, so workers must see
the same files at the same paths: a shared file system, or the same image on every machine).

Failures: a worker that dies is the scheduler's to handle. Its in-flight batches are rerun on
other workers (``distributed.scheduler.allowed-failures`` times); when the scheduler gives up
(``KilledWorker``), the batch's files are retried one at a time, and a file that kills a worker
again on its own gets an ``internal_error`` record — the same rule as the local process pool
(:mod:`genaudit.pool`). No file is dropped and none is reported twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from .config import AuditConfig
from .engine import BatchOutcome, Task, init_worker, run_in_worker
from .errors import ConfigError
from .registry import extra_checks

_LOCAL = re.compile(r"^local(?::(\d+))?$")
CONNECT_TIMEOUT = "20s"

_WORKER_CONFIG: str | None = None
"""Digest of the configuration this worker process's engine was built from."""


def run_on_worker(config_dict: dict[str, Any], extras: dict[str, tuple[str, str]], digest: str,
                  tasks: list[Task]) -> BatchOutcome:
    """Run one batch on a Dask worker: the local pool's worker set-up (:func:`~genaudit.engine.init_worker`)
    once per process and configuration, then the same batch processing."""
    global _WORKER_CONFIG
    if digest != _WORKER_CONFIG:
        init_worker(config_dict, extras)
        _WORKER_CONFIG = digest
    return run_in_worker(tasks)


@dataclass
class DaskRun:
    """A connection to a Dask cluster for one scan: ``executor()`` makes executors over its
    workers, ``work`` runs a batch there, ``threads`` is how many batches run at once."""

    address: str
    config: AuditConfig
    client: Any = None
    cluster: Any = None
    work: Callable[[list[Task]], BatchOutcome] = field(init=False)

    def __post_init__(self) -> None:
        config_dict = self.config.to_dict()
        digest = hashlib.sha256(json.dumps(config_dict, sort_keys=True, default=str).encode()).hexdigest()
        self.work = functools.partial(run_on_worker, config_dict, extra_checks(), digest)

    def connect(self) -> DaskRun:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask[distributed] is a dependency
            raise ConfigError("--dask-scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
        m = _LOCAL.match(self.address)
        try:
            if m:
                n = int(m.group(1) or 0) or None
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
                self.client = Client(self.cluster)
            else:
                _probe(self.address)
                self.client = Client(self.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ConfigError(f"cannot reach the Dask scheduler at {self.address}: {exc}"
                              " (start one with `dask scheduler`, or use --dask-scheduler local)") from None
        if not self.threads:
            self.close()
            raise ConfigError(f"the Dask scheduler at {self.address} has no workers (start some with"
                              f" `dask worker {self.address}`)")
        return self

    @property
    def threads(self) -> int:
        return sum(self.client.nthreads().values()) if self.client is not None else 0

    @property
    def crash(self) -> tuple[type[BaseException], ...]:
        """The exceptions with which a Dask future reports that its worker died (after the
        scheduler's own retries)."""
        from dask.distributed import KilledWorker

        return (KilledWorker,)

    def executor(self) -> Executor:
        return _ClusterExecutor(self.client.get_executor(pure=False))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _probe(address: str) -> None:
    """Fail at once on a TCP address nobody listens on (the client would retry for 20 s)."""
    import socket

    rest = address.split("://", 1)[1] if "://" in address else address
    if "://" in address and not address.startswith("tcp://"):
        return  # tls://, ucx://, inproc://: leave it to the client
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"dask_scheduler {address!r} is not an address like tcp://host:8786 (or local[:N])")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
        pass


class _ClusterExecutor(Executor):
    """Dask's ``ClientExecutor`` with the ``shutdown(cancel_futures=)`` of the standard library."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and not cancel_futures)
