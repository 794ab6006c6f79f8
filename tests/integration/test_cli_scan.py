"""`genaudit scan` end to end on real files, through the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from genaudit.results import ScanReport
from tests.conftest import CliRunner, permissions_enforced
from tests.corpus import IGNORED_IN_SCANS


def _report(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def test_hostile_corpus_every_input_once_with_specific_codes(
        hostile: tuple[Path, dict[str, str]], run_cli: CliRunner, tmp_path: Path) -> None:
    root, expected = hostile
    out = tmp_path / "rep"
    r = run_cli("scan", str(root), "--report-dir", str(out), "--jobs", "2", "--batch-size", "4",
                obey_permissions=True)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "3 ignored (not images)" in r.stderr
    rep = _report(out)
    rels = [os.path.relpath(f["path"], root) for f in rep["files"]]
    expected = {k: v for k, v in expected.items() if k not in IGNORED_IN_SCANS}
    assert sorted(rels) == sorted(expected), "every input exactly once, files that are not images left out"
    got = {os.path.relpath(f["path"], root): ("ok" if f["status"] == "ok" else f["error"]["code"])
           for f in rep["files"]}
    if not permissions_enforced():
        expected = {**expected, "unreadable.png": "ok"}
    assert got == expected
    for f in rep["files"]:
        if f["status"] == "error" and f["error"]["code"] in ("corrupt", "truncated"):
            # parsed, then damaged: checks that read bytes ran, those that need pixels were skipped
            assert f["error"]["message"], f
            assert f["checks"]["metadata"]["status"] == "ok"
            assert f["checks"]["phash"]["status"] == "skipped"
            assert f["checks"]["phash"]["reason"] == f"the image could not be decoded: {f['error']['code']}"
        elif f["status"] == "error":
            assert f["error"]["message"], f
            assert f["checks"] == {}
        else:
            assert len(f["sha256"]) == 64
            assert set(f["checks"]) == {"metadata", "phash"}
            assert all(c["status"] in ("ok", "finding", "skipped") for c in f["checks"].values())
    s = rep["summary"]
    assert s["ignored"] == len(IGNORED_IN_SCANS)
    assert sorted(os.path.relpath(p, root) for p in s["ignored_examples"]) == sorted(IGNORED_IN_SCANS)
    assert s["files"] == len(expected)
    assert s["errors"] == sum(v != "ok" for v in expected.values())
    assert s["with_findings"] == 1  # the PNG carrying a `parameters` chunk
    by_path = {os.path.relpath(f["path"], root): f for f in rep["files"]}
    assert by_path["marked/parameters.png"]["checks"]["metadata"]["status"] == "finding"
    assert by_path["modes/grey16.png"]["image"]["bit_depth"] == 16
    assert by_path["modes/cmyk.jpg"]["image"]["original_mode"] == "CMYK"
    assert by_path["modes/animated.gif"]["image"]["n_frames"] == 3
    # The markdown report exists and names every failing file.
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Ignored 3 file(s) found in folders that are not images" in md
    for rel, want in expected.items():
        if want != "ok":
            assert rel.split("/")[-1] in md
    # The JSON report reads back into the typed object.
    assert ScanReport.from_dict(rep).summary.files == len(expected)


def test_clean_folder_exits_zero_and_fail_on_controls_exit(run_cli: CliRunner, tmp_path: Path) -> None:
    from tests.corpus import encode, photo

    d = tmp_path / "clean"
    d.mkdir()
    for i in range(3):
        (d / f"{i}.png").write_bytes(encode(photo(i), "PNG"))
    r = run_cli("scan", str(d), "--report-dir", str(tmp_path / "r1"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and r.stdout == ""
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert run_cli("scan", str(d), "--report-dir", str(tmp_path / "r2"), "-q").returncode == 1
    assert run_cli("scan", str(d), "--report-dir", str(tmp_path / "r3"), "-q", "--fail-on", "never").returncode == 0
    assert run_cli("scan", str(d), "--report-dir", str(tmp_path / "r4"), "-q", "--fail-on",
                   "findings").returncode == 0
    assert run_cli("scan", str(d), "--report-dir", str(tmp_path / "r5"), "-q", "--fail-on",
                   "errors").returncode == 1


@pytest.mark.parametrize(("args", "needle"), [
    (["scan", "x", "--checks", "phahs"], "did you mean 'phash'"),
    (["scan", "x", "--format", "pdf"], "unknown report format 'pdf'"),
    (["scan", "x", "--fail-on", "sometimes"], "unknown --fail-on value"),
    (["scan", "x", "--jobs", "-3"], "--jobs"),
    (["scan", "x", "-O", "phash.hashes=[\"md5\"]"], "hashes must be"),
    (["scan", "x", "-O", "phash.colour=1"], "unknown option 'colour'"),
    (["scan", "x", "-O", "nonsense"], "CHECK.KEY=VALUE"),
    (["scan"], "Missing argument"),
    (["scna", "x"], "No such command"),
])
def test_usage_errors_exit_2_with_one_line(run_cli: CliRunner, tmp_path: Path, args: list[str],
                                           needle: str) -> None:
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("genaudit: error:")
    assert needle in lines[0]


def test_pyproject_config_is_used_and_cli_overrides_it(run_cli: CliRunner, tmp_path: Path) -> None:
    from tests.corpus import encode, photo

    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(encode(photo(), "PNG"))
    (tmp_path / "imgs" / "skip.me").write_bytes(b"junk")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.genaudit]\nchecks = ["phash"]\nformats = ["json"]\nreport_dir = "out"\nexclude = ["*.me"]\n'
        '[tool.genaudit.options.phash]\nhashes = ["phash", "whash"]\n', encoding="utf-8")
    r = run_cli("scan", "imgs", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = _report(tmp_path / "out")
    assert not (tmp_path / "out" / "report.md").exists()
    assert [f["path"] for f in rep["files"]] == [os.path.join("imgs", "a.png")]
    assert set(rep["files"][0]["checks"]) == {"phash"}
    assert set(rep["files"][0]["checks"]["phash"]["data"]) == {"phash", "whash", "bits"}
    r = run_cli("scan", "imgs", "-q", "--checks", "metadata", "--report-dir", "out2", cwd=tmp_path)
    assert r.returncode == 0
    assert set(_report(tmp_path / "out2")["files"][0]["checks"]) == {"metadata"}
    (tmp_path / "pyproject.toml").write_text('[tool.genaudit]\njobz = 2\n', encoding="utf-8")
    r = run_cli("scan", "imgs", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'jobs'" in r.stderr


def test_report_dir_inside_scanned_folder_is_not_scanned(run_cli: CliRunner, tmp_path: Path) -> None:
    from tests.corpus import encode, photo

    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    for _ in range(2):  # the second run would see report files from the first
        r = run_cli("scan", ".", "-q", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert [f["path"] for f in _report(tmp_path / "genaudit-report")["files"]] == [os.path.join(".", "a.png")]


def test_checks_command_lists_registered_checks(run_cli: CliRunner) -> None:
    r = run_cli("checks", "--json")
    assert r.returncode == 0
    names = [c["name"] for c in json.loads(r.stdout)]
    assert {"metadata", "phash"} <= set(names)
    assert run_cli("--version").stdout.startswith("genaudit, version")


def test_demo_runs_and_points_to_its_report(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("demo", "--out", "d", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"report: {os.path.join('d', 'report', 'report.json')}" in r.stdout
    rep = _report(tmp_path / "d" / "report")
    codes = {f["error"]["code"] for f in rep["files"] if f["error"]}
    assert {"truncated", "empty_file", "not_an_image", "too_large"} <= codes
    assert rep["summary"]["with_findings"] >= 2
    assert rep["summary"]["ok"] >= 8
    # the release pipeline: 4 signed + watermarked GAN samples and one edited after signing
    prov = rep["summary"]["checks"]["provenance"]
    assert prov["statuses"].get("valid_trusted") == 4 and prov["statuses"].get("invalid") == 1
    assert prov["failure_codes"] == {"assertion.dataHash.mismatch": 1}
    assert rep["summary"]["checks"]["watermark"]["detected"] == {"tiled": 5}


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 header declares width×height (the scan data is missing)."""
    from tests.corpus import encode, photo

    data = bytearray(encode(photo(), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_more_hostile_inputs(run_cli: CliRunner, tmp_path: Path) -> None:
    import zlib

    from PIL.PngImagePlugin import PngInfo

    from tests.corpus import encode, photo

    root = tmp_path / "h"
    root.mkdir()
    (root / os.fsdecode(b"not-utf8-\xff.png")).write_bytes(encode(photo(), "PNG"))
    deep = root / "deep"
    deep.mkdir()
    cwd = os.getcwd()
    try:  # 1,100 nested folders: deeper than Python's recursion limit
        os.chdir(deep)
        for _ in range(1100):
            os.mkdir("d")
            os.chdir("d")
        with open("bottom.png", "wb") as fh:
            fh.write(encode(photo(), "PNG"))
    finally:
        os.chdir(cwd)
    (root / "folder.png").mkdir()
    os.mkfifo(root / "pipe.jpg")
    info = PngInfo()
    info.add_text("bomb", "A" * 30_000_000, zip=True)  # a zTXt chunk inflating to 30 MB
    (root / "ztxt_bomb.png").write_bytes(encode(photo(), "PNG", pnginfo=info))
    (root / "huge.jpg").write_bytes(_jpeg_declaring(65_000, 65_000))
    assert len(zlib.compress(b"A" * 30_000_000)) < 100_000
    out = tmp_path / "rep"
    try:
        r = run_cli("scan", str(root), "--report-dir", str(out), "-q", timeout=120)
    finally:  # pytest's own clean-up recurses and cannot remove a tree this deep
        subprocess.run(["rm", "-rf", str(deep)], check=True)
    assert r.returncode == 1, r.stderr
    rep = _report(out)
    got = {os.path.relpath(f["path"], root).split(os.sep)[-1]: (f["error"] or {}).get("code", "ok")
           for f in rep["files"]}
    assert got == {os.fsdecode(b"not-utf8-\xff.png"): "ok", "bottom.png": "ok", "pipe.jpg": "not_a_regular_file",
                   "ztxt_bomb.png": "too_large", "huge.jpg": "too_large"}
    # The report is valid UTF-8 JSON and gives back the exact (undecodable) file name.
    paths = [f["path"] for f in rep["files"]]
    assert str(root / os.fsdecode(b"not-utf8-\xff.png")) in paths
