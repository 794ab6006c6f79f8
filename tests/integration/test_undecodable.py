"""A file whose pixels cannot be decoded is still read by the checks that need only its bytes:
a signed PNG tampered after signing reports the invalid C2PA manifest, not only ``corrupt``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import genaudit
from genaudit.errors import ImageLoadError
from genaudit.io import LoadLimits, decode_bytes, encode_png
from genaudit.provenance.c2pa import ManifestSpec, SignerConfig, sign_bytes
from genaudit.provenance.certs import create_dev_chain, write_dev_chain
from genaudit.registry import _EXTRA, register_check
from genaudit.results import ImageAudit
from genaudit.samples import png_declaring_size
from tests.conftest import CliRunner
from tests.corpus import encode, photo

SKIP_REASON = "the image could not be decoded: corrupt"


def flip_first_idat_byte(png: bytes) -> bytes:
    """One byte of the compressed pixels changed (the zlib header: the stream cannot be inflated);
    every chunk, the C2PA manifest included, left as it was."""
    i = png.index(b"IDAT") + 4
    return png[:i] + bytes([png[i] ^ 0xFF]) + png[i + 1:]


@pytest.fixture(scope="module")
def signed_then_tampered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder with the tampered PNG, root.pem of the dev chain that signed it)."""
    d = tmp_path_factory.mktemp("tampered")
    chain = create_dev_chain("tamper-test")
    keys = write_dev_chain(str(d / "keys"), chain)
    signed = sign_bytes(encode(photo(7), "PNG"), SignerConfig(chain.chain_pem, chain.private_key_pem),
                        ManifestSpec(title="t.png", model_id="tamper-model"))
    (d / "imgs").mkdir()
    (d / "imgs" / "tampered.png").write_bytes(flip_first_idat_byte(signed))
    return d / "imgs", Path(keys["root"])


def test_tampered_signed_png_reports_its_invalid_manifest(signed_then_tampered: tuple[Path, Path],
                                                          run_cli: CliRunner, tmp_path: Path) -> None:
    imgs, root = signed_then_tampered
    rep = tmp_path / "rep"
    r = run_cli("scan", str(imgs), "--checks", "metadata,provenance,phash", "--trust-anchors", str(root),
                "--report-dir", str(rep), "-q")
    assert r.returncode == 1, r.stderr
    doc = json.loads((rep / "report.json").read_text(encoding="utf-8"))
    (f,) = doc["files"]
    assert f["status"] == "error" and f["error"]["code"] == "corrupt"
    assert f["image"] is None and len(f["sha256"]) == 64
    prov = f["checks"]["provenance"]
    assert prov["status"] == "finding" and prov["data"]["status"] == "invalid"
    assert "assertion.dataHash.mismatch" in prov["data"]["codes"]
    assert f["checks"]["phash"]["status"] == "skipped" and f["checks"]["phash"]["reason"] == SKIP_REASON
    meta = f["checks"]["metadata"]  # read from the header and the manifest, without pixels
    assert meta["status"] == "finding" and meta["data"]["c2pa"]["present"]
    assert (meta["data"]["width"], meta["data"]["height"]) == (96, 64)
    s = doc["summary"]
    assert (s["files"], s["errors"], s["with_findings"]) == (1, 1, 1)
    assert s["checks"]["provenance"]["statuses"] == {"invalid": 1}
    assert s["statuses"]["phash"]["skipped"] == 1
    md = (rep / "report.md").read_text(encoding="utf-8")
    assert "C2PA manifest INVALID" in md and SKIP_REASON in md
    # resumed: the record, checks included, is reused as it was
    r = run_cli("scan", str(imgs), "--checks", "metadata,provenance,phash", "--trust-anchors", str(root),
                "--report-dir", str(rep), "-q", "--resume")
    assert r.returncode == 1, r.stderr
    again = json.loads((rep / "report.json").read_text(encoding="utf-8"))
    assert again["run"]["resumed_files"] == 1 and again["files"] == doc["files"]
    assert ImageAudit.from_dict(f).has_findings


def test_only_parsed_files_get_checks_and_pixel_checks_are_skipped(tmp_path: Path) -> None:
    png = encode(photo(3), "PNG")
    (tmp_path / "corrupt.png").write_bytes(flip_first_idat_byte(png))
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "bomb.png").write_bytes(png_declaring_size(100_000, 100_000))
    (tmp_path / "text.png").write_text("not an image")
    report = genaudit.scan(tmp_path, checks=("phash", "metadata"), jobs=1, report_dir=None)
    by_name = {Path(f.path).name: f for f in report.files}
    assert {n: f.error.code for n, f in by_name.items() if f.error} == {
        "corrupt.png": "corrupt", "truncated.png": "truncated", "bomb.png": "too_large", "text.png": "not_an_image"}
    for name, code in (("corrupt.png", "corrupt"), ("truncated.png", "truncated")):
        f = by_name[name]
        assert [(c.check, c.status) for c in f.checks] == [("phash", "skipped"), ("metadata", "ok")]
        assert f.result("phash").reason == f"the image could not be decoded: {code}"
    assert by_name["bomb.png"].checks == () and by_name["text.png"].checks == ()  # nothing was parsed
    assert report.summary.statuses["phash"]["skipped"] == 2


def test_the_view_has_no_pixels_and_a_check_that_claims_otherwise_gets_an_error(tmp_path: Path) -> None:
    from genaudit.io.decode import undecoded_view

    bad = flip_first_idat_byte(encode_png(photo(1), {"parameters": "Steps: 20, Sampler: Euler"}))
    with pytest.raises(ImageLoadError) as info:
        decode_bytes(bad)
    view = undecoded_view(bad, info.value, limits=LoadLimits())
    assert view is not None and not view.decoded
    with pytest.raises(ImageLoadError, match="could not be decoded"):
        _ = view.array
    register_check("pixelsanyway", "tests.plugins.misbehaving:PixelsAnywayCheck", "test check")
    try:
        (tmp_path / "bad.png").write_bytes(bad)
        (f,) = genaudit.scan(tmp_path / "bad.png", checks=("pixelsanyway", "metadata"), jobs=1, report_dir=None).files
    finally:
        _EXTRA.pop("pixelsanyway", None)
    assert f.result("pixelsanyway").status == "error"
    assert "could not be decoded" in (f.result("pixelsanyway").reason or "")
    assert f.result("metadata").status == "finding"  # the `parameters` chunk, read without pixels


def test_audit_image_of_tampered_bytes_or_path_runs_the_byte_checks(
        signed_then_tampered: tuple[Path, Path]) -> None:
    """The in-memory entry point keeps the scan's promise: bytes (or a path) whose pixels cannot be
    decoded still get the checks that read bytes, and report the invalid manifest."""
    imgs, root = signed_then_tampered
    path = imgs / "tampered.png"
    auditor = genaudit.Auditor(checks=("metadata", "provenance", "phash"),
                               options={"provenance": {"trust_anchors": str(root)}}, report_dir=None)
    by_scan = genaudit.scan(path, checks=("metadata", "provenance", "phash"),
                            options={"provenance": {"trust_anchors": str(root)}}, jobs=1, report_dir=None).files[0]
    for given in (path.read_bytes(), str(path)):
        audit = auditor.audit_image(given)
        assert audit.status == "error" and audit.error is not None and audit.error.code == "corrupt"
        assert audit.has_findings
        prov = audit.result("provenance")
        assert prov is not None and prov.data["status"] == "invalid"
        phash = audit.result("phash")
        assert phash is not None and phash.status == "skipped" and phash.reason == SKIP_REASON
        assert [r.to_dict() for r in audit.checks] == [r.to_dict() for r in by_scan.checks]
        assert audit.sha256 == by_scan.sha256
    # bytes that are not an image at all: nothing was parsed, so no checks ran
    junk = auditor.audit_image(b"not an image")
    assert junk.error is not None and junk.error.code == "not_an_image" and junk.checks == ()
