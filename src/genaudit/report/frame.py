"""Tabular reports: ``report.csv`` and ``report.parquet``, one row per image × check
(:meth:`~genaudit.results.ScanReport.to_frame`). Parquet needs pyarrow (``pip install pyarrow``)."""

from __future__ import annotations

import io

from ..errors import ConfigError
from ..results import ScanReport


class CsvFormatter:
    name = "csv"
    extension = "csv"

    def format(self, report: ScanReport) -> str:
        out: str = report.to_frame().to_csv(index=False)
        return out


class ParquetFormatter:
    name = "parquet"
    extension = "parquet"

    @staticmethod
    def available() -> None:
        """Raise :class:`ConfigError` with the install hint when pyarrow is missing."""
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install pyarrow (or use --format csv)") from None

    def format(self, report: ScanReport) -> bytes:
        self.available()
        buf = io.BytesIO()
        report.to_frame().to_parquet(buf, index=False)
        return buf.getvalue()
