"""What a scan takes from its inputs: files in folders that are not images are counted as
ignored, not reported as file errors; a scan that finds nothing to audit is an error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import genaudit
from genaudit import errors as E
from genaudit.io import iter_inputs
from genaudit.results import SCHEMA_VERSION
from tests.conftest import CliRunner
from tests.corpus import encode, photo


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("genaudit: error: ")
    return lines[0]


def test_an_empty_folder_is_an_error(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    r = run_cli("scan", str(tmp_path / "empty"), "--report-dir", str(tmp_path / "rep"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert _one_error_line(r.stderr) == f"genaudit: error: no image files found in {tmp_path / 'empty'}"
    assert not (tmp_path / "rep" / "report.json").exists()
    with pytest.raises(E.NoImagesError, match="no image files found"):
        genaudit.scan(tmp_path / "empty", checks=("phash",), jobs=1, report_dir=None)


def test_a_folder_of_files_that_are_not_images_is_an_error(run_cli: CliRunner, tmp_path: Path) -> None:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "README.md").write_text("# notes\n")
    (d / "meta.json").write_text("{}\n")
    r = run_cli("scan", str(d), "--report-dir", str(tmp_path / "rep"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert _one_error_line(r.stderr) == f"genaudit: error: no image files found in {d} (2 files ignored: not images)"


def test_non_images_in_folders_are_ignored_and_counted_named_ones_reported(run_cli: CliRunner,
                                                                            tmp_path: Path) -> None:
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "a.png").write_bytes(encode(photo(), "PNG"))
    (d / "notes.txt").write_text("the seeds we used\n")
    (d / "params.json").write_text('{"steps": 20}\n')
    (d / "b.dat").write_bytes(encode(photo(1), "PNG"))  # an image whatever its name says: audited
    (d / "README").write_text("no extension: could be anything, so it is read and reported\n")
    (d / "c.jpg").write_text("named as an image: reported\n")
    rep = tmp_path / "rep"
    r = run_cli("scan", str(d), str(d / "notes.txt"), "--report-dir", str(rep), "--checks", "phash")
    assert r.returncode == 1, r.stderr  # README and c.jpg are not images, but were not ignored
    assert "scanned 5 files, 2 ok, 3 file errors, 0 with findings, 1 ignored (not images)" in r.stderr
    doc = json.loads((rep / "report.json").read_text(encoding="utf-8"))
    got = {os.path.basename(f["path"]): (f["error"] or {}).get("code", "ok") for f in doc["files"]}
    assert got == {"a.png": "ok", "b.dat": "ok", "README": "not_an_image", "c.jpg": "not_an_image",
                   "notes.txt": "not_an_image"}  # named on the command line: always reported
    assert doc["summary"]["ignored"] == 1
    assert doc["summary"]["ignored_examples"] == [str(d / "params.json")]
    assert doc["schema_version"] == SCHEMA_VERSION == "1.2"


def test_the_walk_never_opens_what_it_cannot_judge(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")  # opening a FIFO could block: it is reported, as before
    (tmp_path / "x.key").write_bytes(b"secret\n")
    ignored: list[str] = []
    items = list(iter_inputs([tmp_path, tmp_path / "x.key"], ignored=ignored))
    assert [os.path.basename(i.path) for i in items] == ["pipe.txt", "x.key"]
    assert ignored == []  # named after the walk ignored it: reported, not counted
    ignored = []
    assert [os.path.basename(i.path) for i in iter_inputs([tmp_path, tmp_path], ignored=ignored)] == ["pipe.txt"]
    assert ignored == [str(tmp_path / "x.key")]  # counted once
