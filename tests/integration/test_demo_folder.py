"""`genaudit demo --out DIR` never deletes what it did not write: a folder it did not make is
refused unless empty, and a re-run on its own folder removes only its own, unchanged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner

MARKER = ".genaudit-demo.json"   # genaudit.demo.MARKER, spelled out: the file users will see


def _files(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def test_a_folder_the_demo_did_not_make_is_refused_and_left_alone(run_cli: CliRunner, tmp_path: Path) -> None:
    thesis = tmp_path / "d" / "samples" / "thesis.tex"
    thesis.parent.mkdir(parents=True)
    thesis.write_text("five years of work\n", encoding="utf-8")
    r = run_cli("demo", "--out", "d", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "genaudit: error: refusing to use d for the demo: it is not empty and was not made by genaudit demo"
        f" (no readable {MARKER}); choose a new or empty folder with --out (nothing was changed)"]
    assert thesis.read_text(encoding="utf-8") == "five years of work\n"
    assert _files(tmp_path / "d") == {os.path.join("samples", "thesis.tex")}
    from genaudit.demo import MARKER as marker_name
    from genaudit.demo import DemoFolderError, prepare_demo

    assert marker_name == MARKER
    with pytest.raises(DemoFolderError):
        prepare_demo(str(tmp_path / "d"))
    assert _files(tmp_path / "d") == {os.path.join("samples", "thesis.tex")}


def test_rerun_on_its_own_folder_works_and_keeps_what_others_wrote(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()                     # an empty folder is fine
    r = run_cli("demo", "--out", "d", "-j", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first = _files(tmp_path / "d")
    marker = json.loads((tmp_path / "d" / MARKER).read_text(encoding="utf-8"))
    assert marker["complete"] is True
    assert first - {MARKER} <= set(marker["files"])  # every file the demo wrote is listed
    r = run_cli("demo", "--out", "d", "-j", "1", cwd=tmp_path)   # again, on its own folder
    assert r.returncode == 0, r.stderr
    assert _files(tmp_path / "d") == first
    report = json.loads((tmp_path / "d" / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["files"] == len([f for f in first if f.startswith("samples" + os.sep)])
    # someone else's file in the demo's folders, or a demo file edited since: refused, nothing removed
    notes = tmp_path / "d" / "samples" / "photos" / "my-notes.txt"
    notes.write_text("mine\n", encoding="utf-8")
    edited = tmp_path / "d" / "keys" / "watermark.key"
    edited.write_bytes(edited.read_bytes() + b"\n")
    before = _files(tmp_path / "d")
    r = run_cli("demo", "--out", "d", "-j", "1", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"genaudit: error: refusing to use d for the demo: {os.path.join('d', 'keys', 'watermark.key')} and 1 more"
        " were not written by genaudit demo (or changed since); move them away or choose another --out"
        " (nothing was changed)"]
    assert _files(tmp_path / "d") == before and notes.read_text(encoding="utf-8") == "mine\n"
