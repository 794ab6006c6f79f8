"""The CLI's one output layer: exit codes, one-line errors and progress on stderr, the scan summary.

Exit codes: 0 clean; 1 findings or file/check errors; 2 usage or configuration error (one line
on stderr, no traceback); 3 internal error (a bug).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def err(message: str) -> None:
    click.echo(f"genaudit: error: {message}", err=True)


class Progress:
    """Progress on stderr: a live bar on a terminal, a line every 10 s otherwise."""

    def __init__(self, enabled: bool, label: str = "scanning") -> None:
        self.enabled = enabled
        self.label = label
        self.tty = sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._t0 = self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            if self._bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

                self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                     MofNCompleteColumn(), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=True)
                self._bar.start()
                self._task = self._bar.add_task(self.label, total=total)
            self._bar.update(self._task, completed=done, total=total)
        else:
            now = time.monotonic()
            if now - self._last >= 10.0 and done < total:
                self._last = now
                rate = done / max(now - self._t0, 1e-9)
                click.echo(f"genaudit: {self.label} {done}/{total} files ({rate:.0f} files/s)", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_summary(report: Any, report_dir: str, formats: tuple[str, ...]) -> None:
    s = report.summary
    parts = [f"{s.files} files", f"{s.ok} ok", f"{s.errors} file errors", f"{s.with_findings} with findings"]
    click.echo(f"genaudit: scanned {', '.join(parts)} in {report.run.duration_s:.1f} s"
               + (f" ({report.run.resumed_files} reused from the previous run)" if report.run.resumed_files else ""),
               err=True)
    for name, counts in s.statuses.items():
        click.echo(f"  {name:<14} " + "  ".join(f"{k} {v}" for k, v in counts.items()), err=True)
    if s.error_codes:
        click.echo("  file errors:   " + ", ".join(f"{k} {v}" for k, v in s.error_codes.items()), err=True)
    ext = {"json": "report.json", "md": "report.md"}
    for f in formats:
        click.echo(f"report: {os.path.join(report_dir, ext[f])}")


def image_inputs(paths: tuple[str, ...]) -> list[Any]:
    from ..io import iter_inputs

    return list(iter_inputs(paths))
