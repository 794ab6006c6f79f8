"""Markdown report: a summary a person reads first, with the findings and errors listed."""

from __future__ import annotations

from typing import Any

from ..results import CHECK_STATUSES, ScanReport

MAX_ROWS = 25
"""Rows per table: the report stays short enough for a pull-request comment (report.json has all)."""
MAX_CELL = 240


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL - 1] + "…"
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


def _share(row: dict[str, Any] | None) -> str:
    if not row or row.get("share") is None:
        return "—"
    return f"{row['share']:.1%} [{row['ci_low']:.1%}, {row['ci_high']:.1%}] n={row['n']}"


def _bias_section(summary: dict[str, Any], max_conditions: int = 6) -> list[str]:
    """Per attribute: each group's share with its CI overall and per condition, abstentions,
    disparity against the target and the groups that break the four-fifths rule."""
    boot = summary.get("bootstrap", {})
    out = ["", "## Bias", "",
           f"Attribute set `{summary.get('attribute_set')}`, {summary.get('labelled_images', 0)} images;"
           f" shares among labelled images with {int(boot.get('confidence', 0.95) * 100)}% bootstrap CIs"
           f" ({boot.get('n_boot')} resamples, seed {boot.get('seed')})."]
    for name, a in (summary.get("attributes") or {}).items():
        conds = list(a.get("by_condition", {}))
        shown = conds[:max_conditions]
        ov = a["overall"]
        out += ["", f"### {name}", "",
                f"{ov['labelled']} labelled, {ov['abstained']} abstained"
                f" (top probability below {a['abstain_below']:g})."]
        rows = [[g, _share(ov["groups"].get(g)), *[_share(a["by_condition"][c]["groups"].get(g)) for c in shown]]
                for g in a["groups"]]
        out += ["", *_table(["group", "all", *shown], rows)]
        if len(conds) > len(shown):
            out += ["", f"…and {len(conds) - len(shown)} more conditions: see report.json."]
        d = (a.get("disparity") or {}).get("(all)")
        if d:
            tv = d["total_variation"]
            out += ["", f"Against the target: total variation {tv['value']:.3f}"
                        f" [{tv['ci_low']:.3f}, {tv['ci_high']:.3f}],"
                        f" KL {d['kl']['value']:.3f}, max |p − target| {d['max_abs_diff']['value']:.3f}."]
        if a.get("four_fifths_violations"):
            out += ["", "Four-fifths rule broken (selection-rate ratio between conditions < 0.8) for: "
                    + ", ".join(f"{g} ({a['selection'][g]['ratio']['value']:.2f})"
                                for g in a["four_fifths_violations"])
                    + "."]
    for c in summary.get("caveats", []):
        out += ["", f"> {c}"]
    return out


def _verdicts(report: ScanReport) -> list[str]:
    """The report leads with one verdict per image: counts by label, then the images that have one."""
    from ..verdict import LABELS, SEVERITIES

    verdicts = [(f.path, f.verdict) for f in report.files]
    counts = {label: sum(1 for _, v in verdicts if v.label == label) for label in LABELS}
    out = ["", "## Verdicts", "", *_table([label for label in LABELS if counts[label]] or ["files"],
                                          [[counts[label] for label in LABELS if counts[label]] or [0]])]
    flagged = sorted((v for v in verdicts if v[1].label != "no_evidence"),
                     key=lambda pv: (-SEVERITIES.index(pv[1].severity), str(pv[0])))
    rows = [[p, f"**{v.label}**", v.severity, "; ".join(f"{r.kind} ({r.check}): {r.detail}" for r in v.reasons)]
            for p, v in flagged]
    if rows:
        out += _capped("Images with a verdict", ["file", "verdict", "severity", "reasons"], rows)[1:]
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
        ]
        lines += _verdicts(report)
        lines += [
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
            if summary and c.name == "bias":
                continue  # its own section below
            if summary:
                lines += ["", f"**{c.name}**: " + "; ".join(f"{k}: {v}" for k, v in summary.items()
                                                          if not isinstance(v, list | dict) or len(str(v)) < 200)]
        if s.checks.get("bias", {}).get("attributes"):
            lines += _bias_section(dict(s.checks["bias"]))
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
