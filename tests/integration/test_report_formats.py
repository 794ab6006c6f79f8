"""report.json against its published JSON Schema (docs/report.schema.json), the per-image × check
frame, and the csv / parquet report formats, on real scans of real and hostile files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

import genaudit
from genaudit.errors import ERROR_CODES
from genaudit.results import CHECK_STATUSES, ScanReport
from genaudit.verdict import LABELS, SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())


@pytest.fixture
def scanned(hostile: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[ScanReport, Path]:
    root, _ = hostile
    shutil.copy(ROOT / "tests" / "data" / "expired_signed.png", root / "declared_ai.png")  # IPTC + C2PA
    rep = tmp_path / "rep"
    report = genaudit.scan([str(root)], checks=("metadata", "phash", "provenance"), report_dir=str(rep),
                           formats=("json", "md", "csv", "parquet"), jobs=1)
    return report, rep


def test_schema_is_valid_and_its_enumerations_match_the_code() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    defs = SCHEMA["$defs"]
    assert defs["verdict"]["properties"]["label"]["enum"] == list(LABELS)
    assert defs["verdict"]["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert defs["checkResult"]["properties"]["status"]["enum"] == list(CHECK_STATUSES)
    error = next(s for s in defs["file"]["properties"]["error"]["oneOf"] if s.get("type") == "object")
    assert error["properties"]["code"]["enum"] == sorted(ERROR_CODES)
    assert SCHEMA["properties"]["schema_version"]["pattern"] == "^1\\.[0-9]+$"


def test_real_report_validates_and_broken_ones_do_not(scanned: tuple[ScanReport, Path]) -> None:
    _report, rep = scanned
    doc = json.loads((rep / "report.json").read_text())
    validator = Draft202012Validator(SCHEMA)
    assert list(validator.iter_errors(doc)) == []
    labels = {f["verdict"]["label"] for f in doc["files"]}
    assert {"unreadable", "generated"} <= labels  # the hostile files, the declared one
    broken = json.loads(json.dumps(doc))
    del broken["files"][0]["verdict"]
    assert not validator.is_valid(broken)
    bad_error = json.loads(json.dumps(doc))
    ok_entry = next(f for f in bad_error["files"] if f["status"] == "ok")
    ok_entry["error"] = {"code": "truncated", "message": "x"}  # an ok file cannot carry an error
    assert not validator.is_valid(bad_error)
    unknown_code = json.loads(json.dumps(doc))
    next(f for f in unknown_code["files"] if f["status"] == "error")["error"]["code"] = "no_such_code"
    assert not validator.is_valid(unknown_code)


def test_frame_has_one_row_per_image_and_check(scanned: tuple[ScanReport, Path]) -> None:
    report, rep = scanned
    frame = report.to_frame()
    expected_rows = sum(max(len(f.checks), 1) for f in report.files)
    assert len(frame) == expected_rows
    declared = frame[frame["path"].str.endswith("declared_ai.png")]
    assert set(declared["check"]) == {"metadata", "phash", "provenance"}
    assert set(declared["verdict"]) == {"generated"}
    meta = declared[declared["check"] == "metadata"].iloc[0]
    assert meta["check_status"] == "finding"
    assert json.loads(meta["data_json"])["ai_markers"]
    unreadable = frame[frame["file_status"] == "error"]
    assert set(unreadable["verdict"]) == {"unreadable"} and unreadable["error_code"].notna().all()
    from_csv = pd.read_csv(rep / "report.csv", keep_default_na=False, na_values=[""])
    assert list(from_csv.columns) == list(frame.columns) and len(from_csv) == len(frame)
    assert sorted(from_csv["path"]) == sorted(frame["path"])
    from_parquet = pd.read_parquet(rep / "report.parquet")
    pd.testing.assert_frame_equal(from_parquet, frame)


def test_unknown_format_suggests_one(tmp_path: Path) -> None:
    from genaudit.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'parquet'"):
        genaudit.scan([str(tmp_path)], formats=("parqet",), report_dir=str(tmp_path / "r"))
