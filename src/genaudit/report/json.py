"""JSON report: the full :class:`~genaudit.results.ScanReport`, readable back with ``from_dict``.

Layout: top-level keys one per line, and one line per file entry. It diffs and greps well, and
it is written with the C JSON encoder (pretty-printing with ``indent`` falls back to the pure-Python
encoder, about 10x slower on a 100k-file report).
"""

from __future__ import annotations

from ..results import ScanReport, dumps_json


class JsonFormatter:
    name = "json"
    extension = "json"

    def format(self, report: ScanReport) -> str:
        doc = report.to_dict()
        lines = ["{"]
        keys = list(doc)
        for n, key in enumerate(keys):
            comma = "," if n < len(keys) - 1 else ""
            value = doc[key]
            if key == "files" and value:
                lines.append(f"  {dumps_json(key)}: [")
                lines.extend(f"    {dumps_json(f)}{',' if i < len(value) - 1 else ''}" for i, f in enumerate(value))
                lines.append(f"  ]{comma}")
            else:
                lines.append(f"  {dumps_json(key)}: {dumps_json(value)}{comma}")
        lines.append("}")
        return "\n".join(lines) + "\n"
