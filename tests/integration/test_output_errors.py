"""A file a scan writes that cannot be written (disk full, file too large, permissions) is one
clear error line and exit 2, never "internal error"; what was written before can be resumed."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

import genaudit
from genaudit import journal
from genaudit.journal import RESULTS_FILE, ResultsWriter, load_previous
from tests.conftest import CliRunner, permissions_enforced
from tests.corpus import encode, photo

N_IMAGES = 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("imgs")
    for i in range(N_IMAGES):
        (d / f"{i:02d}.png").write_bytes(encode(photo(i), "PNG"))
    (d / "zz_broken.png").write_bytes(encode(photo(99), "PNG")[:300])
    return d


class FullDisk:
    """A text file on a disk with room for ``lines`` more lines: every later write fails with
    ENOSPC, as on a full disk (what was written before stays in the file)."""

    def __init__(self, path: str, mode: str, lines: int) -> None:
        self.fh = open(path, mode, encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.room = lines

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= text.count("\n")
        n = self.fh.write(text)
        self.fh.flush()  # what was written is on the "disk"
        return n

    def flush(self) -> None:
        self.fh.flush()

    def fileno(self) -> int:
        return self.fh.fileno()

    def close(self) -> None:
        self.fh.close()


def full_after(lines: int) -> Any:
    def opener(path: str, mode: str) -> IO[str]:
        return FullDisk(path, mode, lines)  # type: ignore[return-value]
    return opener


def test_the_journal_fails_as_one_output_error_keeping_what_it_wrote(tmp_path: Path) -> None:
    from genaudit.errors import OutputError

    path = str(tmp_path / RESULTS_FILE)
    writer = ResultsWriter(path, {"fingerprint": "f"}, append=False, opener=full_after(1 + 3))
    for i in range(3):
        writer.record({"path": f"{i}.png", "status": "ok"})
    with pytest.raises(OutputError) as info:
        writer.record({"path": "3.png", "status": "ok"})
    assert str(info.value) == (f"cannot write {path}: No space left on device; the files recorded before are kept:"
                               " re-run with --resume to continue")
    writer.flush()
    writer.close()  # closed already: nothing more to fail
    assert sorted(load_previous(path, "f")) == ["0.png", "1.png", "2.png"]


def _files(report: genaudit.ScanReport) -> list[dict[str, Any]]:
    return [f.to_dict() for f in report.files]


def test_a_scan_whose_disk_fills_up_resumes_to_the_uninterrupted_result(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genaudit.errors import OutputError

    opts: dict[str, Any] = {"checks": ("metadata", "phash"), "jobs": 1, "batch_size": 2}
    full = genaudit.scan(folder, report_dir=None, **opts)
    rep = tmp_path / "rep"
    monkeypatch.setattr(journal, "_open_text", full_after(1 + 3))  # the header and 3 records fit
    with pytest.raises(OutputError, match=r"cannot write .*results\.jsonl: No space left on device; .*--resume"):
        genaudit.scan(folder, report_dir=rep, **opts)
    assert not (rep / "report.json").exists()
    monkeypatch.undo()
    resumed = genaudit.scan(folder, report_dir=rep, resume=True, **opts)
    assert resumed.run.resumed_files == 3
    assert _files(resumed) == _files(full)


def _limited(*args: str, max_file_bytes: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process that may not make any file larger than ``max_file_bytes``
    (RLIMIT_FSIZE: a write past it fails with EFBIG, "File too large", like a full disk)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run([sys.executable, "-m", "genaudit", *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limit, timeout=300, check=False)


def _report_files(rep: Path) -> list[dict[str, Any]]:
    return json.loads((rep / "report.json").read_text(encoding="utf-8"))["files"]


def test_cli_disk_full_while_streaming_results_is_exit_2_and_resumable(
        folder: Path, run_cli: CliRunner, tmp_path: Path) -> None:
    scan = ("scan", str(folder), "-q", "--jobs", "1", "--batch-size", "2", "--report-dir")
    assert run_cli(*scan, str(tmp_path / "full")).returncode == 1  # the broken file
    jsonl_size = (tmp_path / "full" / RESULTS_FILE).stat().st_size
    rep = tmp_path / "rep"
    r = _limited(*scan, str(rep), max_file_bytes=jsonl_size // 2, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"genaudit: error: cannot write {rep / RESULTS_FILE}: File too large;"
                                " the files recorded before are kept: re-run with --resume to continue")
    assert not (rep / "report.json").exists()
    kept = len(load_previous(str(rep / RESULTS_FILE), json.loads(
        (rep / RESULTS_FILE).read_text(encoding="utf-8").splitlines()[0])["fingerprint"]))
    assert 0 < kept < N_IMAGES
    r = run_cli(*scan, str(rep), "--resume")
    assert r.returncode == 1, r.stderr
    assert json.loads((rep / "report.json").read_text(encoding="utf-8"))["run"]["resumed_files"] == kept
    assert _report_files(rep) == _report_files(tmp_path / "full")


def test_cli_disk_full_while_writing_reports_is_exit_2_and_resumable(
        folder: Path, run_cli: CliRunner, tmp_path: Path) -> None:
    scan = ("scan", str(folder), "-q", "--jobs", "1", "--report-dir")
    assert run_cli(*scan, str(tmp_path / "full")).returncode == 1
    jsonl_size = (tmp_path / "full" / RESULTS_FILE).stat().st_size
    report_size = (tmp_path / "full" / "report.json").stat().st_size
    assert jsonl_size < report_size
    rep = tmp_path / "rep"
    r = _limited(*scan, str(rep), max_file_bytes=(jsonl_size + report_size) // 2, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"genaudit: error: cannot write {rep / 'report.json'}: "
                                                   "File too large; results.jsonl holds every file's result")
    assert not (rep / "report.json").exists() and not [p for p in rep.iterdir() if p.name.startswith(".tmp-")]
    r = run_cli(*scan, str(rep), "--resume")
    assert r.returncode == 1, r.stderr
    assert json.loads((rep / "report.json").read_text(encoding="utf-8"))["run"]["resumed_files"] == N_IMAGES + 1
    assert _report_files(rep) == _report_files(tmp_path / "full")


@pytest.mark.skipif(not permissions_enforced(), reason="file permissions are not enforced here")
def test_cli_unwritable_report_dir_is_exit_2(folder: Path, run_cli: CliRunner, tmp_path: Path) -> None:
    rep = tmp_path / "rep"
    rep.mkdir()
    rep.chmod(0o555)
    try:
        r = run_cli("scan", str(folder), "-q", "--report-dir", str(rep), obey_permissions=True)
    finally:
        rep.chmod(0o755)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"genaudit: error: cannot write {rep / RESULTS_FILE}: Permission denied"
