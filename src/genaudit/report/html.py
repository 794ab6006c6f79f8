"""Self-contained HTML report: one file, inline CSS/JS/SVG, thumbnails as ``data:`` URIs, no network.

Layout: summary cards (files, errors, verdicts, findings per check); the verdict table of every
file (sortable, filterable, paginated in the browser from JSON embedded in the page, so 10,000
files stay one light DOM); a gallery of flagged images with thumbnails (memorization hits beside
their training match); per-check sections (watermark detections with p-values and payloads, the
detector's score histogram with its threshold, bias distributions with CI whiskers, provenance
states and failure codes, metadata markers); a reproducibility footer (versions, model sha256s,
configuration, seeds).

Size: thumbnails are downscaled to :data:`THUMB` px and at most :data:`MAX_GALLERY` flagged images
get one; every other figure is a row of text. A 10,000-file report is a few MB (docs/reports.md).
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..results import CHECK_STATUSES, ScanReport, dumps_json

THUMB = 96
MAX_GALLERY = 300
PAGE = 50

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def _asset(name: str) -> str:
    with open(os.path.join(ASSETS, name), encoding="utf-8") as fh:
        return fh.read()


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class _Tables:
    """Collects the JSON payloads of the interactive tables."""

    def __init__(self) -> None:
        self.payloads: list[tuple[str, str]] = []

    def add(self, tid: str, columns: Sequence[str], rows: list[list[Any]], *, facet: int | None = None,
            classes: dict[int, str] | None = None) -> str:
        payload = {"columns": list(columns), "rows": rows, "facet": facet,
                   "classes": {str(k): v for k, v in (classes or {}).items()}}
        # "</" cannot close the script element early: escaped inside the JSON text
        self.payloads.append((f"{tid}-data", dumps_json(payload).replace("</", "<\\/")))
        return f'<div class="table" id="{tid}" data-table data-source="{tid}-data"></div>'


def _thumb(path: str | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    try:
        from ..io import open_image, thumbnail_data_uri

        return thumbnail_data_uri(open_image(path).pil, THUMB)
    except Exception:  # noqa: BLE001 - a file changed since the scan: no thumbnail, never a crash
        return None


def _bar_chart(items: Sequence[tuple[str, float, float | None, float | None]], title: str, width: int = 520) -> str:
    """Horizontal bars (share 0..1) with CI whiskers, as inline SVG."""
    row, left = 20, 150
    h = row * len(items) + 30
    scale = width - left - 60
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{h}" viewBox="0 0 {width} {h}">']
    for i, (name, share, lo, hi) in enumerate(items):
        y = 10 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{_e(name[:24])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{max(share, 0) * scale:.1f}" height="12" fill="#6b9bd1"/>')
        if lo is not None and hi is not None:
            parts.append(f'<line x1="{left + lo * scale:.1f}" x2="{left + hi * scale:.1f}" y1="{y + 8}" y2="{y + 8}"'
                         ' stroke="#1d2330" stroke-width="1.5"/>')
        parts.append(f'<text x="{left + max(share, hi or 0) * scale + 4:.1f}" y="{y + 12}">{share:.1%}</text>')
    axis_y = 10 + len(items) * row + 4
    parts.append(f'<line x1="{left}" x2="{left + scale}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for t in (0, 0.5, 1):
        parts.append(f'<text x="{left + t * scale:.1f}" y="{axis_y + 12}" text-anchor="middle">{t:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: Sequence[float], threshold: float | None, title: str, bins: int = 20) -> str:
    width, height, pad = 520, 170, 30
    counts = [0] * bins
    for v in values:
        counts[min(int(max(v, 0.0) * bins), bins - 1)] += 1
    top = max(counts) or 1
    bw = (width - 2 * pad) / bins
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}"'
             f' viewBox="0 0 {width} {height}">']
    for i, c in enumerate(counts):
        bh = (height - 2 * pad) * c / top
        parts.append(f'<rect x="{pad + i * bw:.1f}" y="{height - pad - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}"'
                     f' fill="#6b9bd1"><title>{i / bins:.2f}–{(i + 1) / bins:.2f}: {c}</title></rect>')
    parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{height - pad}" y2="{height - pad}" stroke="#999"/>')
    for t in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{pad + t * (width - 2 * pad):.1f}" y="{height - pad + 14}" '
                     f'text-anchor="middle">{t:g}</text>')
    parts.append(f'<text x="{pad}" y="{pad - 10}">max {top} per bin · p(generated)</text>')
    if threshold is not None:
        x = pad + min(max(threshold, 0.0), 1.0) * (width - 2 * pad)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad - 4}" y2="{height - pad}" stroke="#b3261e"'
                     f' stroke-dasharray="4 3"/><text x="{x + 4:.1f}" y="{pad + 6}" fill="#b3261e">threshold'
                     f' {threshold:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


class HtmlFormatter:
    name = "html"
    extension = "html"

    def format(self, report: ScanReport) -> str:
        tables = _Tables()
        s = report.summary
        verdicts = [(f, f.verdict) for f in report.files]
        out: list[str] = []
        out.append(f"<h1>genaudit scan report</h1><p class='muted'>genaudit {_e(report.tool.get('version'))} ·"
                   f" schema {_e(report.schema_version)} · started {_e(report.run.started_at)} ·"
                   f" {report.run.duration_s:.1f} s · {report.run.jobs} worker(s) · inputs: "
                   + ", ".join(f"<code>{_e(p)}</code>" for p in report.inputs) + "</p>")
        out.append(self._cards(report, verdicts))
        out.append("<h2 id='verdicts'>Verdicts</h2><p class='muted'>One verdict per file, joining the evidence of"
                   " every check (most severe first). Click a column to sort; filter by text or verdict.</p>")
        order = {"error": 0, "high": 1, "medium": 2, "low": 3, "info": 4, "none": 5}
        rows = [[f.path, v.label, v.severity, "; ".join(f"{r.kind} ({r.check}): {r.detail}" for r in v.reasons)]
                for f, v in sorted(verdicts, key=lambda fv: (order.get(fv[1].severity, 9), str(fv[0].path)))]
        out.append(tables.add("verdict-table", ["file", "verdict", "severity", "reasons"], rows, facet=1,
                              classes={2: "sev-"}))
        out.append(self._gallery(verdicts))
        for c in report.checks:
            section = getattr(self, f"_section_{c.name}", None)
            if section is not None:
                out.append(section(report, tables))
        out.append(self._checks_table(report, tables))
        errors = [[f.path, f.error.code, f.error.message] for f in report.files if f.error is not None]
        out.append(f"<h2 id='file-errors'>File errors ({len(errors)})</h2>")
        out.append(tables.add("error-table", ["file", "code", "reason"], errors, facet=1) if errors
                   else "<p>None.</p>")
        out.append(self._footer(report))
        scripts = "".join(f'<script type="application/json" id="{tid}">{payload}</script>'
                          for tid, payload in tables.payloads)
        return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:;"
                " style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>genaudit report — {s.files} files</title><style>{_asset('report.css')}</style></head><body>"
                + "".join(out) + scripts
                + "<script>" + _asset("report.js").replace("%PAGE%", str(PAGE)) + "</script></body></html>")

    # -- parts ---------------------------------------------------------------------------------
    @staticmethod
    def _cards(report: ScanReport, verdicts: list[tuple[Any, Any]]) -> str:
        s = report.summary
        cards = [("files", s.files, "summary-files"), ("audited", s.ok, "summary-ok"),
                 ("file errors", s.errors, "summary-errors"), ("with findings", s.with_findings, "summary-findings")]
        labels = Counter(v.label for _, v in verdicts)
        cards += [(f"verdict: {k}", n, f"verdict-{k}") for k, n in sorted(labels.items())]
        cards += [(f"{name} findings", st.get("finding", 0), f"findings-{name}") for name, st in s.statuses.items()]
        return "<div class='cards' id='summary'>" + "".join(
            f"<div class='card' id='{_e(i)}'><b>{n}</b><span>{_e(t)}</span></div>" for t, n, i in cards) + "</div>"

    @staticmethod
    def _gallery(verdicts: list[tuple[Any, Any]]) -> str:
        flagged = [(f, v) for f, v in verdicts if v.label not in ("no_evidence", "unreadable")]
        sev = {"high": 0, "medium": 1, "low": 2, "info": 3}
        flagged.sort(key=lambda fv: (sev.get(fv[1].severity, 9), str(fv[0].path)))
        tiles = []
        for f, v in flagged[:MAX_GALLERY]:
            thumb = _thumb(f.path)
            img = (f"<img alt='{_e(os.path.basename(f.path or ''))}' src='{thumb}'>" if thumb
                   else "<div class='muted'>(file no longer readable)</div>")
            mem = f.result("memorization")
            body = img
            if mem is not None and mem.status == "finding" and mem.data.get("match_thumbnail"):
                best = (mem.data.get("closest") or [{}])[0]
                scores = ", ".join(f"{k} {best[k]:.3f}" for k in ("similarity", "aligned")
                                   if isinstance(best.get(k), int | float))
                body = (f"<div class='pair memorization-pair'><figure>{img}<figcaption>generated</figcaption></figure>"
                        f"<figure><img alt='training match' src='{mem.data['match_thumbnail']}'>"
                        f"<figcaption>training: {_e(best.get('source'))}</figcaption></figure></div>"
                        f"<div class='muted'>{_e(scores)}</div>")
            reasons = "".join(f"<li class='sev-{_e(r.severity)}'>{_e(r.kind)}: {_e(r.detail)}</li>" for r in v.reasons)
            tiles.append(f"<div class='tile' data-verdict='{_e(v.label)}'>{body}<div class='label'>{_e(v.label)}"
                         f" <span class='sev-{_e(v.severity)}'>({_e(v.severity)})</span></div>"
                         f"<div class='path'>{_e(f.path)}</div><ul>{reasons}</ul></div>")
        more = (f"<p class='muted'>…and {len(flagged) - MAX_GALLERY} more flagged files: see the verdict table.</p>"
                if len(flagged) > MAX_GALLERY else "")
        return (f"<h2 id='gallery'>Flagged images ({len(flagged)})</h2>"
                + (f"<div class='gallery'>{''.join(tiles)}</div>{more}" if tiles else "<p>None.</p>"))

    @staticmethod
    def _section_watermark(report: ScanReport, tables: _Tables) -> str:
        rows = []
        for f in report.files:
            r = f.result("watermark")
            if r is None or r.status not in ("ok", "finding"):
                continue
            for method, res in (r.data.get("methods") or {}).items():
                if isinstance(res, dict):
                    rows.append([f.path, method, "detected" if res.get("detected") else "not detected",
                                 res.get("p_value"), res.get("payload")])
        found = sum(1 for r in rows if r[2] == "detected")
        return (f"<h2 id='watermark'>Watermark ({found} detected)</h2>"
                + tables.add("watermark-table", ["file", "method", "verdict", "p-value", "payload"], rows, facet=2))

    @staticmethod
    def _section_detector(report: ScanReport, tables: _Tables) -> str:
        ps, rows, threshold = [], [], None
        for f in report.files:
            r = f.result("detector")
            if r is None or r.data.get("p_generated") is None:
                continue
            ps.append(float(r.data["p_generated"]))
            threshold = r.data.get("threshold", threshold)
            rows.append([f.path, r.data.get("verdict"), float(r.data["p_generated"]), r.data.get("target_fpr")])
        info = next((c for c in report.checks if c.name == "detector"), None)
        if info is not None and threshold is None:
            threshold = info.params.get("threshold")
        return ("<h2 id='detector'>Real-vs-fake detector</h2>"
                + _histogram(ps, threshold if isinstance(threshold, int | float) else None,
                             "histogram of p(generated)")
                + tables.add("detector-table", ["file", "verdict", "p(generated)", "target FPR"], rows, facet=1))

    @staticmethod
    def _section_memorization(report: ScanReport, tables: _Tables) -> str:
        rows = []
        for f in report.files:
            r = f.result("memorization")
            if r is None or r.status != "finding":
                continue
            best = (r.data.get("closest") or [{}])[0]
            rows.append([f.path, best.get("source"), json.dumps(best.get("hash_distance")), best.get("similarity"),
                         best.get("aligned")])
        rate = report.summary.checks.get("memorization", {}).get("memorization_rate") or {}
        line = (f"<p>Memorization rate: {rate['memorized']} of {rate['audited']} images, 95% CI"
                f" [{rate['ci95'][0]:.3f}, {rate['ci95'][1]:.3f}].</p>" if rate.get("audited") else "")
        return (f"<h2 id='memorization'>Memorization ({len(rows)} near-copies)</h2>" + line
                + tables.add("memorization-table", ["file", "training item", "hash distance", "similarity",
                                                    "aligned correlation"], rows))

    @staticmethod
    def _section_provenance(report: ScanReport, tables: _Tables) -> str:
        rows: list[list[Any]] = []
        states: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        for f in report.files:
            r = f.result("provenance")
            if r is None or r.status not in ("ok", "finding"):
                continue
            st = r.data.get("status")
            states[str(st)] += 1
            codes.update(r.data.get("codes") or [])
            rows.append([f.path, st, ", ".join(r.data.get("codes") or []), r.data.get("ai_generated"),
                         (r.data.get("generator") or {}).get("name") if isinstance(r.data.get("generator"), dict)
                         else r.data.get("generator")])
        state_txt = ", ".join(f"{_e(k)}: {n}" for k, n in sorted(states.items(), key=lambda kv: str(kv[0])))
        code_txt = ", ".join(f"<code>{_e(k)}</code> {n}" for k, n in codes.most_common())
        return (f"<h2 id='provenance'>C2PA provenance</h2><p>States: {state_txt or 'none'}."
                f" Failure codes: {code_txt or 'none'}.</p>"
                + tables.add("provenance-table", ["file", "state", "codes", "AI-generated", "generator"], rows,
                             facet=1))

    @staticmethod
    def _section_metadata(report: ScanReport, tables: _Tables) -> str:
        summary = report.summary.checks.get("metadata", {})
        kinds = summary.get("marker_kinds") or {}
        return ("<h2 id='metadata'>Metadata</h2><p>AI-generation markers: "
                + (", ".join(f"{_e(k)}: {n}" for k, n in kinds.items()) or "none") + "</p>")

    @staticmethod
    def _section_bias(report: ScanReport, tables: _Tables) -> str:
        summary = report.summary.checks.get("bias", {})
        parts = [f"<h2 id='bias'>Bias ({summary.get('labelled_images', 0)} images,"
                 f" attribute set {_e(summary.get('attribute_set'))})</h2>"]
        for name, a in (summary.get("attributes") or {}).items():
            ov = a["overall"]
            items = [(g, row["share"] or 0.0, row["ci_low"], row["ci_high"]) for g, row in ov["groups"].items()]
            parts.append(f"<h3>{_e(name)}</h3><p class='muted'>{ov['labelled']} labelled, {ov['abstained']} abstained;"
                         " bars: share among labelled images, whiskers: 95% bootstrap CI.</p>")
            parts.append(f"<div class='bias-chart' data-attribute='{_e(name)}'>"
                         + _bar_chart(items, f"{name} distribution") + "</div>")
            rows = [[cond, g, r["share"], r["ci_low"], r["ci_high"], r["n"]]
                    for cond, d in a.get("by_condition", {}).items() for g, r in d["groups"].items()]
            if rows:
                parts.append(tables.add(f"bias-{len(tables.payloads)}", ["condition", "group", "share", "CI low",
                                                                          "CI high", "n"], rows, facet=0))
            if a.get("four_fifths_violations"):
                parts.append("<p class='sev-medium'>Four-fifths rule broken for: "
                             + ", ".join(_e(g) for g in a["four_fifths_violations"]) + "</p>")
        for c in summary.get("caveats", []):
            parts.append(f"<p class='muted'>Note: {_e(c)}</p>")
        return "".join(parts)

    @staticmethod
    def _checks_table(report: ScanReport, tables: _Tables) -> str:
        rows = [[c.name, c.version, *[report.summary.statuses.get(c.name, {}).get(st, 0) for st in CHECK_STATUSES]]
                for c in report.checks]
        return "<h2 id='checks'>Checks</h2>" + tables.add("checks-table", ["check", "version", *CHECK_STATUSES], rows)

    @staticmethod
    def _footer(report: ScanReport) -> str:
        models = [[c.name, m.get("name"), m.get("path"), m.get("sha256")] for c in report.checks for m in c.models]
        model_rows = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td><td>{_e(p)}</td><td><code>{_e(h)}</code></td></tr>"
                             for a, b, p, h in models)
        params = {c.name: {"version": c.version, "params": dict(c.params)} for c in report.checks}
        deps = ", ".join(f"{_e(k)} {_e(v)}" for k, v in (report.tool.get("dependencies") or {}).items())
        return ("<footer id='reproducibility'><h2>Reproducibility</h2>"
                f"<p>genaudit {_e(report.tool.get('version'))}, Python {_e(report.tool.get('python'))} on"
                f" {_e(report.tool.get('platform'))}; {deps}</p>"
                "<table><thead><tr><th>check</th><th>model</th><th>path</th><th>sha256</th></tr></thead>"
                f"<tbody>{model_rows or '<tr><td colspan=4>no model files</td></tr>'}</tbody></table>"
                f"<h3>Configuration</h3><pre>{_e(json.dumps(dict(report.config), indent=1, default=str))}</pre>"
                f"<h3>Check parameters (seeds included)</h3><pre>{_e(json.dumps(params, indent=1, default=str))}</pre>"
                "</footer>")
