"""An interrupted scan resumed with --resume gives the same report as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.corpus import encode, photo

N_FILES = 360


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("many")
    for i in range(N_FILES):
        sub = d / f"part{i % 4}"
        sub.mkdir(exist_ok=True)
        (sub / f"img_{i:04d}.png").write_bytes(encode(photo(i, (384, 384)), "PNG", compress_level=6))
    (d / "part0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return d


def _findings(report_dir: Path) -> dict:
    rep = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    rep.pop("run")
    return rep


def _count_records(jsonl: Path) -> int:
    try:
        return jsonl.read_bytes().count(b'"type": "file"')
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_kill_then_resume_equals_uninterrupted(big_folder: Path, run_cli: CliRunner, tmp_path: Path) -> None:
    full = tmp_path / "full"
    r = run_cli("scan", str(big_folder), "--report-dir", str(full), "-q", "--jobs", "2")
    assert r.returncode == 1, r.stderr  # the broken file

    part = tmp_path / "part"
    jsonl = part / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "genaudit", "scan", str(big_folder), "--report-dir", str(part),
                             "-q", "--jobs", "1", "--batch-size", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while _count_records(jsonl) < N_FILES // 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be interrupted"
    done_before = _count_records(jsonl)
    assert 0 < done_before < N_FILES
    assert not (part / "report.json").exists()

    r = run_cli("scan", str(big_folder), "--report-dir", str(part), "-q", "--jobs", "2", "--resume")
    assert r.returncode == 1, r.stderr
    resumed = json.loads((part / "report.json").read_text(encoding="utf-8"))["run"]["resumed_files"]
    assert done_before - 2 <= resumed <= done_before  # every finished image file was reused
    assert _findings(part) == _findings(full)


def test_resume_recomputes_changed_files_and_survives_a_cut_line(run_cli: CliRunner, tmp_path: Path) -> None:
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(5):
        (d / f"{i}.png").write_bytes(encode(photo(i), "PNG"))
    rep = tmp_path / "rep"
    assert run_cli("scan", str(d), "--report-dir", str(rep), "-q").returncode == 0
    jsonl = rep / "results.jsonl"
    jsonl.write_bytes(jsonl.read_bytes()[:-40])  # as if killed while writing the last line
    (d / "0.png").write_bytes(encode(photo(99), "PNG"))  # changed since the first run
    assert run_cli("scan", str(d), "--report-dir", str(rep), "-q", "--resume", "--jobs", "1").returncode == 0
    report = json.loads((rep / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["resumed_files"] == 3  # 5 files − the changed one − the cut-off one
    fresh = tmp_path / "fresh"
    assert run_cli("scan", str(d), "--report-dir", str(fresh), "-q").returncode == 0
    report.pop("run")
    assert report == _findings(fresh)


def test_resume_refuses_results_from_other_checks(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    rep = tmp_path / "rep"
    assert run_cli("scan", str(tmp_path / "a.png"), "--report-dir", str(rep), "-q", "--checks", "phash").returncode == 0
    r = run_cli("scan", str(tmp_path / "a.png"), "--report-dir", str(rep), "-q", "--checks", "metadata", "--resume")
    assert r.returncode == 2
    assert "run without --resume" in r.stderr and len(r.stderr.strip().splitlines()) == 1
