"""The HTML report of a real scan, rendered in headless Chromium (Debian's, driven by playwright):
no console errors, no network requests, key elements present and visible, counts equal to
report.json, the memorization pair showing both images, tables that sort, filter and paginate.

The scan is the demo's: reference-generator samples, a near-copy of a training item (with an index
over the demo's training sample), broken files, C2PA-signed files and one edited after signing,
scanned with every check."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Debian's chromium (bash scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import run_cli_once

    root = tmp_path_factory.mktemp("html")
    r = run_cli_once("demo", "--out", "d", cwd=root, timeout=900)
    assert r.returncode == 0, r.stderr
    html_path = root / "d" / "report" / "report.html"
    assert f"report: {os.path.join('d', 'report', 'report.html')}" in r.stdout  # the demo points to it
    return html_path


@pytest.fixture(scope="module")
def browser() -> Any:
    """One headless Chromium for the module (playwright's sync API allows one running instance)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)  # a fresh profile
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(demo: Path, browser: Any) -> Any:
    console: list[str] = []
    requests: list[str] = []
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    pg.on("request", lambda req: requests.append(req.url))
    pg.goto(demo.as_uri())
    pg.wait_for_load_state("load")
    pg.screenshot(path=str(demo.parent / "report.png"), full_page=True)
    yield pg, console, requests
    pg.close()


def _report(demo: Path) -> dict[str, Any]:
    return json.loads((demo.parent / "report.json").read_text())


def test_no_console_errors_and_no_network(demo: Path, page: Any) -> None:
    _, console, requests = page
    assert console == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert (demo.parent / "report.png").stat().st_size > 10_000  # the screenshot was taken


def test_summary_cards_match_report_json(demo: Path, page: Any) -> None:
    pg, _, _ = page
    rep = _report(demo)
    s = rep["summary"]
    for card, value in (("summary-files", s["files"]), ("summary-errors", s["errors"]),
                        ("summary-findings", s["with_findings"])):
        assert pg.locator(f"#{card}").is_visible()
        assert pg.locator(f"#{card} b").inner_text() == str(value)
    labels: dict[str, int] = {}
    for f in rep["files"]:
        labels[f["verdict"]["label"]] = labels.get(f["verdict"]["label"], 0) + 1
    for label, n in labels.items():
        assert pg.locator(f"#verdict-{label} b").inner_text() == str(n)
    for check, counts in s["statuses"].items():
        assert pg.locator(f"#findings-{check} b").inner_text() == str(counts["finding"])
    assert {"memorized", "tampered", "generated", "unreadable"} <= set(labels)


def test_memorization_pair_shows_both_images(page: Any) -> None:
    pg, _, _ = page
    pair = pg.locator(".memorization-pair").first
    assert pair.is_visible()
    imgs = pair.locator("img")
    assert imgs.count() == 2
    for i in range(2):
        assert imgs.nth(i).is_visible()
        assert imgs.nth(i).evaluate("el => el.complete && el.naturalWidth > 0")
    assert "training:" in pair.inner_text()


def test_sections_for_every_check_and_the_footer(page: Any) -> None:
    pg, _, _ = page
    for section in ("verdicts", "gallery", "watermark", "detector", "memorization", "provenance", "bias",
                    "metadata", "file-errors", "reproducibility"):
        assert pg.locator(f"#{section}").is_visible(), section
    assert pg.locator("#detector + svg, #detector ~ svg").first.is_visible()  # the score histogram
    assert "threshold" in pg.locator("#detector ~ svg").first.inner_html()
    assert pg.locator(".bias-chart svg").first.is_visible()
    footer = pg.locator("#reproducibility").inner_text()
    assert "sha256" in footer and "genaudit" in footer


def test_verdict_table_sorts_filters_and_counts(demo: Path, page: Any) -> None:
    pg, _, _ = page
    rep = _report(demo)
    table = pg.locator("#verdict-table")
    rows = table.locator("tbody tr")
    assert table.locator(".muted").first.inner_text() == f"{len(rep['files'])} of {len(rep['files'])} rows"
    table.locator("select").select_option("tampered")
    tampered = [f for f in rep["files"] if f["verdict"]["label"] == "tampered"]
    assert rows.count() == len(tampered) >= 1
    assert rows.first.locator("td").nth(0).inner_text() == tampered[0]["path"]
    table.locator("select").select_option("")
    table.locator("input").fill("bomb")
    assert rows.count() == 1 and "too_large" in rows.first.inner_text()
    table.locator("input").fill("")
    table.locator("th").nth(0).click()  # sort by file name
    names = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert names == sorted(names)
    table.locator("th").nth(0).click()
    names_desc = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert names_desc == sorted(names, reverse=True)


def test_ten_thousand_files_stay_paginated_and_small(tmp_path: Path, browser: Any) -> None:
    """10,000 entries (no files on disk: no thumbnails): the verdict table shows 50 rows a page, the
    pager walks the pages, a filter narrows all 10,000, and the file stays a few MB."""
    from genaudit.report.html import PAGE, HtmlFormatter
    from genaudit.results import CheckResult, ImageAudit, RunInfo, ScanReport, ScanSummary

    files = []
    for i in range(10_000):
        det = CheckResult.finding("detector", {"p_generated": 0.9, "verdict": "generated", "threshold": 0.5},
                                  "generated") if i % 10 == 0 else CheckResult.ok(
            "detector", {"p_generated": (i % 50) / 100, "verdict": "real", "threshold": 0.5}, "real")
        files.append(ImageAudit(f"batch/img_{i:05d}.png", "ok", sha256="0" * 64, checks=(det,)))
    report = ScanReport(tool={"version": "test"}, config={}, inputs=("batch",), checks=(),
                        summary=ScanSummary.from_files(files, ["detector"]), files=tuple(files),
                        run=RunInfo("t0", "t1", 1.0, 1))
    path = tmp_path / "big.html"
    path.write_text(HtmlFormatter().format(report), encoding="utf-8")
    assert path.stat().st_size < 5_000_000
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    table = pg.locator("#verdict-table")
    assert table.locator("tbody tr").count() == PAGE
    assert f"page 1 / {10_000 // PAGE}" in table.locator(".pager").inner_text()
    table.locator(".pager button", has_text="next").click()
    assert f"page 2 / {10_000 // PAGE}" in table.locator(".pager").inner_text()
    assert table.locator("tbody tr").count() == PAGE
    table.locator("select").select_option("likely_generated")
    assert table.locator(".muted").first.inner_text() == "1000 of 10000 rows"
    assert pg.locator(".tile").count() == 300  # the gallery is capped
    assert errors == []
    pg.close()
