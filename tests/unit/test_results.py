"""Result dataclasses round-trip through JSON exactly, and validate themselves."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genaudit.results import (
    SCHEMA_VERSION,
    CheckInfo,
    CheckResult,
    FileError,
    FileWarning,
    ImageAudit,
    ImageInfo,
    RunInfo,
    ScanReport,
    ScanSummary,
)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def check_results(draw: st.DrawFn) -> CheckResult:
    status = draw(st.sampled_from(["ok", "finding", "skipped", "error"]))
    reason = draw(names) if status in ("skipped", "error") else None
    return CheckResult(draw(names), status, draw(st.text(max_size=30)),
                       draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4)), reason)


@st.composite
def image_audits(draw: st.DrawFn) -> ImageAudit:
    if draw(st.booleans()):
        return ImageAudit.failed(draw(names), FileError(draw(names), draw(st.text(max_size=40))))
    info = ImageInfo(draw(names), draw(st.integers(1, 10**5)), draw(st.integers(1, 10**5)), draw(names),
                     draw(st.sampled_from([1, 8, 16, 32])), draw(st.one_of(st.none(), st.integers(1, 99))),
                     draw(st.booleans()), draw(st.one_of(st.none(), st.integers(1, 8))),
                     tuple(draw(st.lists(st.builds(FileWarning, names, names), max_size=2))))
    checks = draw(st.lists(check_results(), max_size=3, unique_by=lambda c: c.check))
    return ImageAudit(draw(st.one_of(st.none(), names)), "ok", "0" * 64, draw(st.integers(0, 10**9)), None, info,
                      tuple(checks))


@given(check_results())
def test_check_result_round_trip(r: CheckResult) -> None:
    assert CheckResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


@given(image_audits())
def test_image_audit_round_trip(a: ImageAudit) -> None:
    assert ImageAudit.from_dict(json.loads(json.dumps(a.to_dict()))) == a


@given(st.lists(image_audits(), max_size=6))
def test_scan_report_round_trip_and_summary_counts(files: list[ImageAudit]) -> None:
    summary = ScanSummary.from_files(files, ["x"], {"x": {"n": 1}})
    assert summary.files == len(files)
    assert summary.ok + summary.errors == len(files)
    assert summary.with_findings == sum(any(c.status == "finding" for c in f.checks) for f in files)
    report = ScanReport(tool={"name": "genaudit"}, config={"checks": ["x"]}, inputs=("in",),
                        checks=(CheckInfo("x", "1", "d", {"p": 1}, ({"name": "m", "sha256": "ab"},)),),
                        summary=summary, files=tuple(files),
                        run=RunInfo("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", 1.0, 2, 0, {"x": 0.5}))
    back = ScanReport.from_dict(json.loads(report.to_json()))
    assert back == report


def test_validation() -> None:
    with pytest.raises(ValueError, match="invalid check status"):
        CheckResult("x", "maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a reason"):
        CheckResult("x", "skipped")
    with pytest.raises(ValueError, match="needs an error"):
        ImageAudit(path="p", status="error")
    with pytest.raises(ValueError, match="cannot carry an error"):
        ImageAudit(path="p", status="ok", error=FileError("a", "b"))


def test_incompatible_schema_is_refused() -> None:
    major = int(SCHEMA_VERSION.split(".")[0])
    with pytest.raises(ValueError, match="not compatible"):
        ScanReport.from_dict({"schema_version": f"{major + 1}.0"})


def test_exit_code_policy() -> None:
    finding = ImageAudit("a", "ok", checks=(CheckResult.finding("m"),))
    broken = ImageAudit.failed("b", FileError("truncated", "short"))
    check_error = ImageAudit("c", "ok", checks=(CheckResult.error("m", "bug"),))

    def report(*files: ImageAudit) -> ScanReport:
        return ScanReport({}, {}, (), (), ScanSummary.from_files(files, ["m"]), files, RunInfo("", "", 0, 1))

    assert report().exit_code() == 0
    assert report(finding).exit_code() == 1
    assert report(finding).exit_code(["errors"]) == 0
    assert report(broken).exit_code(["findings"]) == 0
    assert report(broken).exit_code(["errors"]) == 1
    assert report(check_error).exit_code(["errors"]) == 1
    assert report(finding, broken).exit_code(["never"]) == 0


def test_reports_of_schema_1_0_still_read() -> None:
    """1.1 added ``summary.ignored`` / ``ignored_examples`` and check results on error entries."""
    files = (ImageAudit("a.png", "ok", checks=(CheckResult.ok("m"),)),
             ImageAudit.failed("b.png", FileError("corrupt", "bad"), checks=(CheckResult.finding("p"),)))
    new = ScanReport({}, {}, ("d",), (), ScanSummary.from_files(files, ["m", "p"], ignored=["d/x.json"]), files,
                     RunInfo("", "", 0, 1))
    assert new.summary.ignored == 1 and new.summary.with_findings == 1
    old = new.to_dict()
    old["schema_version"] = "1.0"
    for key in ("ignored", "ignored_examples"):
        del old["summary"][key]
    old["files"][1]["checks"] = {}
    back = ScanReport.from_dict(old)
    assert back.schema_version == "1.0"
    assert (back.summary.ignored, back.summary.ignored_examples) == (0, ())
    assert ScanReport.from_dict(json.loads(new.to_json())) == new
