"""The results journal of a scan: ``results.jsonl`` in the report directory.

A header line (schema, genaudit version, the fingerprint of everything that determines per-file
results, the checks, the start time), then one ``{"type": "file", "record": ...}`` line per
finished file, appended as soon as its batch is done, so that an interrupted scan loses nothing.
``--resume`` reads the records of a previous run with the same fingerprint back
(:func:`load_previous`); a line cut short by the interruption is ignored. When the file cannot be
written (disk full, I/O error), :class:`ResultsWriter` raises :class:`~genaudit.errors.OutputError`;
the records that reached the file before stay valid for ``--resume``.

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, RESULTS_FILE)
...     writer = ResultsWriter(path, {"fingerprint": "f1"}, append=False)
...     writer.record({"path": "a.png", "status": "ok"})
...     writer.close()
...     with open(path, "a", encoding="utf-8") as fh:
...         _ = fh.write('{"type": "file", "rec')  # killed mid-line
...     load_previous(path, "f1")
{'a.png': {'path': 'a.png', 'status': 'ok'}}
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

from .errors import OutputError, ResumeError
from .results import dumps_json

RESULTS_FILE = "results.jsonl"


def load_previous(path: str, fingerprint: str) -> dict[str, dict[str, Any]]:
    """Records of a previous run with the same fingerprint, by path (last record wins)."""
    records: dict[str, dict[str, Any]] = {}
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with-block below
    except FileNotFoundError:
        return records
    except OSError as exc:
        raise ResumeError(f"cannot read {path} to resume: {exc.strerror or exc}") from None
    with fh:
        first = fh.readline()
        try:
            header = json.loads(first)
        except ValueError:
            raise ResumeError(f"{path} has no valid header line; run without --resume to start over") from None
        if header.get("type") != "header":
            raise ResumeError(f"{path} does not start with a genaudit header; run without --resume")
        if header.get("fingerprint") != fingerprint:
            raise ResumeError(
                f"{path} was written with other checks, options or genaudit version"
                f" ({header.get('checks')}, genaudit {header.get('genaudit_version')});"
                " run without --resume to start over")
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by the interruption
            if rec.get("type") == "file" and isinstance(rec.get("record"), dict):
                r = rec["record"]
                if isinstance(r.get("path"), str):
                    records[r["path"]] = r
    return records


Opener = Callable[[str, str], IO[str]]


def _open_text(path: str, mode: str) -> IO[str]:
    return open(path, mode, encoding="utf-8")


class ResultsWriter:
    """Writes ``results.jsonl``: a new file with its header, or appended to (``append``) when
    resuming. Records reach the file at each :meth:`flush` and the disk (fsync) at most every 5 s.

    Any ``OSError`` becomes :class:`~genaudit.errors.OutputError` naming the file and the reason;
    the writer is then closed, and what reached the file before can be resumed from. ``opener``
    (``opener(path, mode)`` → text file) opens the file; tests pass one that fails.
    """

    RESUME_HINT = "the files recorded before are kept: re-run with --resume to continue"

    def __init__(self, path: str, header: dict[str, Any], append: bool, opener: Opener | None = None) -> None:
        self.path = path
        opener = opener or _open_text
        self.fh: IO[str] | None = None
        with self._failing_as_output_error(hint=""):  # no record written by this run yet
            if append and os.path.exists(path):
                with open(path, "rb") as fh:
                    size = fh.seek(0, os.SEEK_END)
                    last = b"\n"
                    if size:
                        fh.seek(size - 1)
                        last = fh.read(1)
                self.fh = opener(path, "a")
                if last != b"\n":  # the interrupted run stopped mid-line
                    self.fh.write("\n")
            else:
                self.fh = opener(path, "w")
                self._write({"type": "header", **header})
        self._last_flush = time.monotonic()

    @contextmanager
    def _failing_as_output_error(self, hint: str = RESUME_HINT) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            self._abandon()
            raise OutputError.from_os_error(self.path, exc, hint) from None

    def _abandon(self) -> None:
        """Close after a failed write; the buffered rest is lost (and fails again if flushed)."""
        fh, self.fh = self.fh, None
        if fh is not None:
            with suppress(OSError):
                fh.close()

    def _write(self, obj: dict[str, Any]) -> None:
        if self.fh is None:
            raise OutputError(f"{self.path} is closed after a failed write")
        with self._failing_as_output_error():
            self.fh.write(dumps_json(obj) + "\n")

    def record(self, record: dict[str, Any]) -> None:
        self._write({"type": "file", "record": record})

    def flush(self, force: bool = False) -> None:
        if self.fh is None:
            return
        now = time.monotonic()
        with self._failing_as_output_error():
            self.fh.flush()
            if force or now - self._last_flush > 5.0:
                os.fsync(self.fh.fileno())
                self._last_flush = now

    def close(self) -> None:
        """Flush, sync and close; nothing to do after a failed write (already closed)."""
        if self.fh is None:
            return
        self.flush(force=True)
        with self._failing_as_output_error():
            if self.fh is not None:
                self.fh.close()
                self.fh = None
