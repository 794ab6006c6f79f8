"""Report formatters: one class per format, all working from the same :class:`ScanReport`.

>>> sorted(FORMATTERS)
['csv', 'html', 'json', 'md', 'parquet']
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError, OutputError
from ..io.write import write_atomic
from ..results import ScanReport
from .frame import CsvFormatter, ParquetFormatter
from .html import HtmlFormatter
from .json import JsonFormatter
from .markdown import MarkdownFormatter

FORMATTERS: dict[str, Any] = {f.name: f for f in (JsonFormatter, MarkdownFormatter, HtmlFormatter,
                                                 CsvFormatter, ParquetFormatter)}


def render(report: ScanReport, fmt: str) -> str | bytes:
    """The report in format ``fmt``: text, or bytes for binary formats (parquet)."""
    try:
        formatter = FORMATTERS[fmt]
    except KeyError:
        raise ConfigError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATTERS)}") from None
    return formatter().format(report)


def write_reports(report: ScanReport, directory: str | os.PathLike[str], formats: Iterable[str]) -> dict[str, str]:
    """Write ``report.<ext>`` for each format into ``directory`` (atomically, with the mode the
    user's umask gives new files: :func:`genaudit.io.write_atomic`). Returns format → path.

    A file that cannot be written (disk full, permissions) raises :class:`~genaudit.errors.OutputError`
    naming it; the report it would have replaced is left as it was.
    """
    d = os.fspath(directory)
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as exc:
        raise OutputError.from_os_error(d, exc) from None
    written = {}
    for fmt in formats:
        out = render(report, fmt)
        target = os.path.join(d, f"report.{FORMATTERS[fmt].extension}")
        data = out if isinstance(out, bytes) else out.encode("utf-8", errors="backslashreplace")
        try:
            written[fmt] = write_atomic(target, data)
        except OSError as exc:
            raise OutputError.from_os_error(target, exc) from None
    return written


__all__ = ["FORMATTERS", "CsvFormatter", "HtmlFormatter", "JsonFormatter", "MarkdownFormatter", "ParquetFormatter",
           "render", "write_reports"]
