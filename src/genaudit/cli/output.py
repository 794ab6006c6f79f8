"""The CLI's one output layer: exit codes, one-line errors and progress on stderr, the scan
summary, and per-file results (:class:`FileResults`).

Exit codes, the same for every command: 0 all good; 1 findings or file errors; 2 usage or
configuration error (one line on stderr, no traceback); 3 internal error (a bug).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import click

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def err(message: str) -> None:
    """The one line a failed command gets on stderr."""
    click.echo(f"genaudit: error: {message}", err=True)


def run(group: click.Group, args: list[str]) -> int:
    """Run a command line and map its outcome to the exit-code policy: the command's own code
    (0 or 1); 2 for usage and configuration errors and any :class:`~genaudit.errors.GenauditError`
    (one line on stderr, no traceback); 130 when interrupted; 3 for anything else, a bug
    (``GENAUDIT_DEBUG=1`` re-raises it for the traceback)."""
    from ..errors import GenauditError

    try:
        rv = group.main(args=args, prog_name="genaudit", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        return EXIT_USAGE
    except click.UsageError as exc:
        err(exc.format_message().strip().splitlines()[0] if exc.format_message().strip() else "usage error")
        return EXIT_USAGE
    except click.exceptions.Abort:
        err("interrupted")
        return 130
    except click.ClickException as exc:
        err(exc.format_message())
        return EXIT_USAGE
    except GenauditError as exc:  # ConfigError included
        err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("interrupted; re-run with --resume to continue")
        return 130
    except Exception as exc:
        if os.environ.get("GENAUDIT_DEBUG"):
            raise
        err(f"internal error: {type(exc).__name__}: {exc} (set GENAUDIT_DEBUG=1 for a traceback)")
        return EXIT_INTERNAL
    return rv if isinstance(rv, int) else EXIT_OK


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


def print_summary(report: Any, report_dir: str, formats: tuple[str, ...], *, limit: int | None = 5,
                  paths_on_stdout: bool = True) -> None:
    """The scan summary on stderr: counts, each check's statuses, the first ``limit`` files with
    errors and with findings (then how many more), and the report paths (``report: PATH`` lines, on
    stdout unless ``paths_on_stdout`` is false)."""
    s = report.summary
    parts = [f"{s.files} files", f"{s.ok} ok", f"{s.errors} file errors", f"{s.with_findings} with findings"]
    if s.ignored:
        parts.append(f"{s.ignored} ignored (not images)")
    click.echo(f"genaudit: scanned {', '.join(parts)} in {report.run.duration_s:.1f} s"
               + (f" ({report.run.resumed_files} reused from the previous run)" if report.run.resumed_files else ""),
               err=True)
    for name, counts in s.statuses.items():
        click.echo(f"  {name:<14} " + "  ".join(f"{k} {v}" for k, v in counts.items()), err=True)
    if s.error_codes:
        click.echo("  file errors:   " + ", ".join(f"{k} {v}" for k, v in s.error_codes.items()), err=True)
    for line in file_lines(report.files, limit):
        click.echo(f"  {line}", err=True)
    from ..report import FORMATTERS

    for f in formats:
        click.echo(f"report: {os.path.join(report_dir, 'report.' + FORMATTERS[f].extension)}",
                   err=not paths_on_stdout)


def file_lines(files: Iterable[Any], limit: int | None = 5) -> list[str]:
    """One line per file with an error (a file error or a check that failed), then one per file
    with findings: the first ``limit`` of each, then how many more.

    >>> from genaudit.results import CheckResult, FileError, ImageAudit
    >>> files = [ImageAudit.failed(f"b{i}.png", FileError("truncated", "ends early")) for i in range(3)]
    >>> files.append(ImageAudit("a.png", "ok", checks=(CheckResult.finding("metadata", summary="AI marker"),)))
    >>> print("\\n".join(file_lines(files, limit=2)))
    error:   b0.png: truncated: ends early
    error:   b1.png: truncated: ends early
    … and 1 more file with errors (see the report)
    finding: a.png: AI marker
    """
    errors: list[str] = []
    findings: list[str] = []
    for f in files:
        if f.error is not None:
            errors.append(f"error:   {f.path}: {f.error.code}: {f.error.message}")
        failed = [r for r in f.checks if r.status == "error"]
        if failed:
            errors.append(f"error:   {f.path}: " + "; ".join(f"check {r.check} failed: {r.reason}" for r in failed))
        if f.has_findings:
            findings.append(f"finding: {f.path}: " + "; ".join(r.summary or r.check for r in f.checks
                                                                 if r.status == "finding"))
    out: list[str] = []
    for lines, what in ((errors, "with errors"), (findings, "with findings")):
        shown = lines if limit is None else lines[:limit]
        out.extend(shown)
        if len(lines) > len(shown):
            n = len(lines) - len(shown)
            out.append(f"… and {n} more file{'s' if n > 1 else ''} {what} (see the report)")
    return out


F = TypeVar("F", bound=Callable[..., Any])


def json_option(f: F) -> F:
    """``--json`` for a command that reports per-file results (see :class:`FileResults`)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="One JSON object per input on stdout (with path and status), nothing else.")(f)


def echo_ignored(paths: Sequence[str]) -> None:
    """One stderr line naming the files a folder walk left out because they are not images."""
    if paths:
        n = len(paths)
        shown = ", ".join(paths[:3]) + (", …" if n > 3 else "")
        what = "files that are not images" if n != 1 else "file that is not an image"
        click.echo(f"genaudit: ignored {n} {what}: {shown}", err=True)


def file_error_line(path: str, code: str, message: str) -> str:
    """The one line a file error gets on stderr, for every command."""
    return f"error: {path}: {code}: {message}"


class FileResults:
    """Per-file results, reported the same way by every command that has them.

    With ``--json``: one JSON object per input on stdout, each with ``path`` and ``status``
    (``error`` with ``error: {code, message}`` for a file that could not be processed), and nothing
    else on stdout. Otherwise: one text line per result on stdout, and one
    ``error: PATH: CODE: MESSAGE`` line per file error on stderr.

    :attr:`exit_code` is 0 when every input was good and 1 when any was not (a finding, a
    failed test or a file error). Usage errors (2) and bugs (3) are raised, never reported here.
    Files in input folders that are not images (``README.md``, ``.json``) are not results: walks
    collect them in :attr:`ignored`, and :meth:`finish` says how many on stderr — or, when nothing
    at all was found, raises :class:`~genaudit.errors.NoImagesError` (exit 2), as a scan does.

    >>> out = FileResults(as_json=True)
    >>> out.result({"path": "a.png", "status": "ok"}, "a.png: ok")
    {"path": "a.png", "status": "ok"}
    >>> out.exit_code
    0
    >>> out.error("b.png", "truncated", "the file ends early")
    {"path": "b.png", "status": "error", "error": {"code": "truncated", "message": "the file ends early"}}
    >>> out.exit_code, out.counts
    (1, {'ok': 1, 'error': 1})
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.counts: dict[str, int] = {}
        self.all_good = True
        self.ignored: list[str] = []

    def result(self, doc: Mapping[str, Any], text: str, *, good: bool = True) -> None:
        """Report one input's outcome: ``doc`` (``path``, ``status``, …) or ``text``."""
        if "path" not in doc or "status" not in doc:
            raise ValueError("a per-file result needs a path and a status")
        status = str(doc["status"])
        self.counts[status] = self.counts.get(status, 0) + 1
        self.all_good &= good
        if self.as_json:
            click.echo(json.dumps(dict(doc)))
        else:
            click.echo(text)

    def error(self, path: str, code: str, message: str, **fields: Any) -> None:
        """Report a file that could not be processed (``fields`` add command-specific keys)."""
        doc = {"path": path, "status": "error", **fields, "error": {"code": code, "message": message}}
        self.counts["error"] = self.counts.get("error", 0) + 1
        self.all_good = False
        if self.as_json:
            click.echo(json.dumps(doc))
        else:
            click.echo(file_error_line(path, code, message), err=True)

    def readable(self, paths: Iterable[str], **error_fields: Any) -> Iterator[str]:
        """The files under ``paths`` (folders walked, sorted); those that cannot even be opened
        are reported as errors here and not yielded."""
        from ..io import iter_inputs

        for item in iter_inputs(paths, ignored=self.ignored):
            if item.error is not None:
                self.error(item.path, item.error.code, item.error.message, **error_fields)
            else:
                yield item.path

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.all_good else EXIT_FINDINGS

    def finish(self, inputs: Sequence[str]) -> int:
        """The exit code, after one stderr line naming the ignored files (if any); nothing found at
        all is :class:`~genaudit.errors.NoImagesError`."""
        from ..errors import NoImagesError
        from ..io import no_images_message

        if not self.counts:
            raise NoImagesError(no_images_message(inputs, len(self.ignored)))
        echo_ignored(self.ignored)
        return self.exit_code
