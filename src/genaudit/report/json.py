"""JSON report: the full :class:`~genaudit.results.ScanReport`, readable back with ``from_dict``."""

from __future__ import annotations

from ..results import ScanReport


class JsonFormatter:
    name = "json"
    extension = "json"

    def format(self, report: ScanReport) -> str:
        return report.to_json(indent=2) + "\n"
