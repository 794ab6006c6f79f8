"""Markdown report: a summary a person reads first, with the findings and errors listed."""

from __future__ import annotations

from typing import Any

from ..results import CHECK_STATUSES, ScanReport

MAX_ROWS = 200


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.replace("|", "\\|").split()) or " "


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _capped(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["", f"## {title} ({len(rows)})", ""]
    if not rows:
        return [*out, "None."]
    out += _table(header, rows[:MAX_ROWS])
    if len(rows) > MAX_ROWS:
        out += ["", f"…and {len(rows) - MAX_ROWS} more: see report.json."]
    return out


class MarkdownFormatter:
    name = "md"
    extension = "md"

    def format(self, report: ScanReport) -> str:
        s = report.summary
        lines = [
            "# genaudit scan report",
            "",
            f"genaudit {report.tool.get('version')} · schema {report.schema_version} · "
            f"started {report.run.started_at} · {report.run.duration_s:.1f} s · {report.run.jobs} worker(s)",
            "",
            "Inputs: " + ", ".join(f"`{p}`" for p in report.inputs),
            "",
            *_table(["files", "ok", "file errors", "with findings"], [[s.files, s.ok, s.errors, s.with_findings]]),
            *(["", f"Ignored {s.ignored} file(s) found in folders that are not images, e.g. "
                   + ", ".join(f"`{p}`" for p in s.ignored_examples) + "."] if s.ignored else []),
            "",
            "## Checks",
            "",
        ]
        rows = []
        for c in report.checks:
            counts = s.statuses.get(c.name, {})
            params = ", ".join(f"{k}={v}" for k, v in c.params.items())
            rows.append([f"`{c.name}` v{c.version}", *[counts.get(st, 0) for st in CHECK_STATUSES], params])
        lines += _table(["check", *CHECK_STATUSES, "parameters"], rows)
        for c in report.checks:
            summary = s.checks.get(c.name)
            if summary:
                lines += ["", f"**{c.name}**: " + "; ".join(f"{k}: {v}" for k, v in summary.items()
                                                          if not isinstance(v, list | dict) or len(str(v)) < 200)]
        if s.error_codes:
            lines += ["", "File errors by code: " + ", ".join(f"`{k}` {v}" for k, v in s.error_codes.items())]
        findings, skipped, check_errors, file_errors = [], [], [], []
        for f in report.files:
            if f.error is not None:
                file_errors.append([f.path, f"`{f.error.code}`", f.error.message])
            for r in f.checks:
                if r.status == "finding":
                    findings.append([f.path, r.check, r.summary])
                elif r.status == "skipped":
                    skipped.append([f.path, r.check, r.reason])
                elif r.status == "error":
                    check_errors.append([f.path, r.check, r.reason])
        lines += _capped("Findings", ["file", "check", "finding"], findings)
        lines += _capped("File errors", ["file", "code", "reason"], file_errors)
        lines += _capped("Check errors", ["file", "check", "reason"], check_errors)
        lines += _capped("Skipped", ["file", "check", "reason"], skipped)
        lines += ["", "---", "",
                  f"Python {report.tool.get('python')} on {report.tool.get('platform')}; "
                  + ", ".join(f"{k} {v}" for k, v in (report.tool.get('dependencies') or {}).items()), ""]
        return "\n".join(lines)
