"""stdout carries only what was asked for: no third-party chatter (EfficientNet's "Loaded pretrained
weights", once per worker), `scan --json` = one JSON line per file as it finishes and nothing else;
and the scan summary on stderr names the files with errors and findings (the first few, then a count)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import genaudit
from genaudit.results import ImageAudit
from genaudit.samples import png_bytes
from tests.conftest import CliRunner
from tests.corpus import encode, photo


def test_loading_the_embedding_model_prints_nothing(tmp_path: Path) -> None:
    code = ("import numpy as np\nfrom genaudit.features.embedding import ImageEmbedder\n"
            "v = ImageEmbedder().embed([np.zeros((32, 32, 3), np.uint8)])\nassert v.shape == (1, 1280)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""


@pytest.fixture(scope="module")
def memorization_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A training folder, its index, and a folder to scan: two copies of training images, one
    other photo, one broken file."""
    from genaudit.memorization.build import build_index

    root = tmp_path_factory.mktemp("stdout")
    (root / "train").mkdir()
    (root / "scan").mkdir()
    for i in range(2):
        (root / "train" / f"t{i}.png").write_bytes(encode(photo(40 + i, (128, 96)), "PNG"))
        (root / "scan" / f"copy{i}.png").write_bytes(encode(photo(40 + i, (128, 96)), "PNG"))
    (root / "scan" / "other.jpg").write_bytes(encode(photo(7, (128, 96)), "JPEG", quality=90))
    (root / "scan" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    index, _ = build_index([str(root / "train")], jobs=1)
    index.save(root / "train.gaidx")
    return root, sorted(os.path.join("scan", n) for n in os.listdir(root / "scan"))


def test_quiet_scan_with_workers_loading_the_model_keeps_stdout_empty(
        run_cli: CliRunner, memorization_case: tuple[Path, list[str]]) -> None:
    root, _ = memorization_case
    r = run_cli("scan", "scan", "--index", "train.gaidx", "-q", "-j", "2", "--batch-size", "1",
                "--report-dir", "rep-quiet", cwd=root)
    assert r.returncode == 1, r.stderr                       # the copies are findings
    assert r.stdout == ""


def test_scan_json_streams_one_line_per_file_and_nothing_else(
        run_cli: CliRunner, memorization_case: tuple[Path, list[str]]) -> None:
    root, files = memorization_case
    r = run_cli("scan", "scan", "--index", "train.gaidx", "--json", "-j", "2", "--batch-size", "1",
                "--report-dir", "rep-json", cwd=root)
    assert r.returncode == 1, r.stderr
    audits = [ImageAudit.from_dict(json.loads(line)) for line in r.stdout.splitlines()]
    assert sorted(a.path or "" for a in audits) == files      # every file once, nothing else
    report = json.loads((root / "rep-json" / "report.json").read_text(encoding="utf-8"))
    assert sorted(json.dumps(a.to_dict(), sort_keys=True) for a in audits) == \
        sorted(json.dumps(f, sort_keys=True) for f in report["files"])
    by_path = {a.path: a for a in audits}
    assert by_path[os.path.join("scan", "copy0.png")].result("memorization").status == "finding"
    assert by_path[os.path.join("scan", "broken.png")].error.code == "truncated"
    assert f"report: {os.path.join('rep-json', 'report.json')}" in r.stderr.splitlines()  # the summary: stderr
    assert "genaudit: scanned 4 files" in r.stderr


def test_auditor_scan_calls_on_file_as_each_file_finishes(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"p{i}.png").write_bytes(encode(photo(i), "PNG"))
    seen: list[tuple[str | None, bool]] = []

    def on_file(audit: ImageAudit) -> None:  # called before the scan ends: no report written yet
        seen.append((audit.path, (tmp_path / "rep" / "report.json").exists()))

    report = genaudit.Auditor(checks=("phash",), jobs=1, batch_size=1).scan(
        [tmp_path], report_dir=tmp_path / "rep", on_file=on_file)
    assert sorted(p for p, _ in seen) == sorted(f.path for f in report.files)
    assert not any(written for _, written in seen)


def test_summary_names_the_files_with_errors_and_findings(run_cli: CliRunner, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for i in range(7):
        (d / f"broken{i}.png").write_bytes(b"")
    marked = png_bytes(photo(3), text={"parameters": "a photo\nSteps: 30, Sampler: Euler, Seed: 1"})
    for i in range(3):
        (d / f"gen{i}.png").write_bytes(marked)
    (d / "fine.png").write_bytes(encode(photo(4), "PNG"))
    r = run_cli("scan", "d", "--checks", "metadata", "--report-dir", "rep", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    errors = [line for line in lines if line.startswith("  error:   ")]
    assert errors == [f"  error:   {os.path.join('d', f'broken{i}.png')}: empty_file: the file is empty (0 bytes)"
                      for i in range(5)]
    assert "  … and 2 more files with errors (see the report)" in lines
    findings = [line for line in lines if line.startswith("  finding: ")]
    assert [f.split(": ")[1] for f in findings] == [os.path.join("d", f"gen{i}.png") for i in range(3)]
    assert all("generator_parameters" in f for f in findings)
    assert not any("fine.png" in line for line in lines)
    assert r.stdout.splitlines() == [f"report: {os.path.join('rep', 'report.json')}",
                                     f"report: {os.path.join('rep', 'report.md')}",
                                     f"report: {os.path.join('rep', 'report.html')}"]
