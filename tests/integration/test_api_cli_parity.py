"""The Python API and ``genaudit scan`` say each setting one way: the configuration's
``report_dir`` and ``resume`` mean the same in both; ``quiet`` belongs to the command line only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import genaudit
from genaudit import errors as E
from genaudit.config import AuditConfig
from tests.conftest import CliRunner
from tests.corpus import encode, photo


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        (d / f"{i}.png").write_bytes(encode(photo(i, (40, 30)), "PNG"))
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    return d


def _files(report_dir: Path) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))["files"]
    return files


def test_api_scan_resume_works_like_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            run_cli: CliRunner) -> None:
    d = _folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    rdir = tmp_path / "genaudit-report"

    # `genaudit.scan(path, resume=True)` is `genaudit scan PATH --resume`: same folder, same files.
    first = genaudit.scan(str(d), checks=("phash",), jobs=1, resume=True)
    assert (rdir / "report.json").is_file() and (rdir / "results.jsonl").is_file()
    assert _files(rdir) == [f.to_dict() for f in first.files]

    # The CLI resumes what the API wrote ...
    r = run_cli("scan", str(d), "--checks", "phash", "-j", "1", "--resume", "-q", cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # the broken file
    cli_run = json.loads((rdir / "report.json").read_text(encoding="utf-8"))["run"]
    assert cli_run["resumed_files"] == 4  # every file, the broken one too (same path and sha256)
    assert _files(rdir) == [f.to_dict() for f in first.files]

    # ... and the API resumes what the CLI wrote.
    again = genaudit.scan(str(d), checks=("phash",), jobs=1, resume=True)
    assert again.run.resumed_files == 4
    assert [f.to_dict() for f in again.files] == [f.to_dict() for f in first.files]


def test_report_dir_from_pyproject_is_honoured_by_api_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              run_cli: CliRunner) -> None:
    d = _folder(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.genaudit]\nchecks = ["phash"]\njobs = 1\nreport_dir = "out"\nquiet = true\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = AuditConfig.discover()  # `quiet` is the CLI's: no error here, and not part of the audit
    report = genaudit.Auditor(cfg).scan([str(d)])
    api_files = _files(tmp_path / "out")
    assert api_files == [f.to_dict() for f in report.files]
    (tmp_path / "out" / "report.json").unlink()

    r = run_cli("scan", str(d), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout == "" and r.stderr == ""  # quiet = true in pyproject.toml: nothing on the terminal
    assert _files(tmp_path / "out") == api_files
    from genaudit.config import read_cli_settings

    assert read_cli_settings() == {"quiet": True}


def test_report_dir_none_keeps_the_scan_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    report = genaudit.scan(str(d), checks=("phash",), jobs=1, report_dir=None)
    assert len(report.files) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]
    auditor = genaudit.Auditor(checks=("phash",), jobs=1)
    auditor.scan([str(d)], report_dir=tmp_path / "here")  # a per-call directory overrides the config's
    assert (tmp_path / "here" / "report.json").is_file() and not (tmp_path / "genaudit-report").exists()
    with pytest.raises(E.ConfigError, match="resume needs a report directory"):
        genaudit.scan(str(d), checks=("phash",), resume=True, report_dir=None)


def test_quiet_is_a_command_line_setting() -> None:
    with pytest.raises(E.ConfigError, match=r"'quiet' is a setting of the command line .*--quiet"):
        genaudit.Auditor(quiet=True)
    with pytest.raises(E.ConfigError, match="'quiet' is a setting of the command line"):
        AuditConfig.from_mapping({"quiet": True})
