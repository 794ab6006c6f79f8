"""The Auditor: per-file and per-check isolation, worker crashes, the in-memory API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genaudit
from genaudit import errors as E
from genaudit.registry import _EXTRA, register_check
from tests.corpus import encode, photo
from tests.plugins import misbehaving


@pytest.fixture
def misbehaving_checks() -> None:
    for name, cls in (("raising", "RaisingCheck"), ("crashing", "CrashingCheck"), ("badresult", "BadResultCheck")):
        register_check(name, f"tests.plugins.misbehaving:{cls}", "test check")
    yield
    for name in ("raising", "crashing", "badresult"):
        _EXTRA.pop(name, None)


def _folder(tmp_path: Path, widths: list[int]) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for i, w in enumerate(widths):
        (d / f"{i:02d}_w{w}.png").write_bytes(encode(photo(i, (w, 20)), "PNG"))
    return d


@pytest.mark.usefixtures("misbehaving_checks")
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_raising_check_only_fails_its_image(tmp_path: Path, jobs: int) -> None:
    d = _folder(tmp_path, [20, misbehaving.RAISE_WIDTH, 30, 40])
    report = genaudit.scan(d, checks=("raising", "phash"), jobs=jobs, batch_size=4, report_dir=None)
    statuses = [(f.result("raising").status, f.result("phash").status) for f in report.files]
    assert statuses == [("ok", "ok"), ("error", "ok"), ("ok", "ok"), ("ok", "ok")]
    assert "boom on purpose" in (report.files[1].result("raising").reason or "")
    assert report.exit_code() == 1
    assert report.exit_code(["findings"]) == 0


@pytest.mark.usefixtures("misbehaving_checks")
@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_a_crashing_worker_is_isolated_to_its_file(tmp_path: Path, batch_size: int) -> None:
    widths = [20, 21, 22, misbehaving.CRASH_WIDTH, 23, 24, 25, 26, 27]
    d = _folder(tmp_path, widths)
    report = genaudit.scan(d, checks=("crashing",), jobs=2, batch_size=batch_size, report_dir=None)
    assert [f.status for f in report.files] == ["ok"] * 3 + ["error"] + ["ok"] * 5
    crashed = report.files[3]
    assert crashed.error is not None and crashed.error.code == E.INTERNAL_ERROR
    assert "crashed" in crashed.error.message
    assert [f.result("crashing").data["width"] for f in report.files if f.status == "ok"] == \
        [w for w in widths if w != misbehaving.CRASH_WIDTH]


@pytest.mark.usefixtures("misbehaving_checks")
def test_non_serialisable_check_output_becomes_an_error() -> None:
    audit = genaudit.Auditor(checks=("badresult",)).audit_image(np.zeros((8, 8, 3), np.uint8))
    r = audit.result("badresult")
    assert r is not None and r.status == "error" and "JSON" in (r.reason or "")


def test_audit_image_accepts_pil_array_bytes_and_paths(tmp_path: Path) -> None:
    img = photo(3)
    p = tmp_path / "x.png"
    img.save(p)
    auditor = genaudit.Auditor(checks=("phash",))
    from_pil = auditor.audit_image(img)
    from_array = auditor.audit_image(np.asarray(img))
    from_bytes = auditor.audit_image(p.read_bytes())
    from_path = auditor.audit_image(str(p))
    hashes = {a.result("phash").data["phash"] for a in (from_pil, from_array, from_bytes, from_path)}
    assert len(hashes) == 1
    assert from_path.path == str(p) and from_pil.path is None
    bad = auditor.audit_image(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert bad.status == "error" and bad.error is not None and bad.error.code in (E.TRUNCATED, E.CORRUPT)


def test_audit_images_keeps_order_and_isolates_bad_inputs() -> None:
    auditor = genaudit.Auditor(checks=("metadata",))
    results = auditor.audit_images([photo(1), b"nope", Image.new("L", (9, 9), 3)])
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert results[2].image is not None and results[2].image.original_mode == "L"


def test_progress_callback_sees_every_file(tmp_path: Path) -> None:
    d = _folder(tmp_path, [20, 21, 22, 23, 24])
    seen: list[tuple[int, int]] = []
    genaudit.scan(d, checks=("phash",), jobs=1, batch_size=2, report_dir=None,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_config_errors_raise_before_scanning() -> None:
    with pytest.raises(E.UnknownCheckError, match="did you mean 'metadata'"):
        genaudit.Auditor(checks=("metadta",))
    with pytest.raises(E.ConfigError, match="unknown option"):
        genaudit.Auditor(options={"phash": {"size": 8}})
    with pytest.raises(E.UnknownCheckError):
        genaudit.Auditor(options={"nope": {}})
    with pytest.raises(E.ConfigError, match="no input"):
        genaudit.scan([])


def test_report_records_versions_parameters_and_sha256(tmp_path: Path) -> None:
    d = _folder(tmp_path, [20, 21])
    report = genaudit.scan(d, checks=("phash",), options={"phash": {"hashes": ["ahash"]}}, jobs=1,
                           report_dir=None)
    assert report.tool["version"] == genaudit.__version__
    assert "pillow" in report.tool["dependencies"] and "PyWavelets" in report.tool["dependencies"]
    assert report.checks[0].params == {"hashes": ("ahash",), "hash_size": 8}
    # What determines the results, and nothing that only changes how the run went.
    assert sorted(report.config) == ["checks", "exclude", "fail_on", "formats", "max_file_bytes", "max_pixels",
                                     "options"]
    import hashlib

    for f in report.files:
        assert f.sha256 == hashlib.sha256(Path(f.path).read_bytes()).hexdigest()
    df = report.to_pandas()
    assert list(df["phash"]) == ["ok", "ok"]
