"""A check selected without what it needs is a configuration error at start (exit 2, one line
naming the missing option), never a `skipped` result on every file with exit 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import genaudit
from genaudit.errors import ConfigError
from genaudit.provenance.c2pa import DIGITAL_SOURCE_TYPE, ManifestSpec, SignerConfig, sign_bytes
from genaudit.provenance.certs import create_dev_chain, write_dev_chain
from tests.conftest import CliRunner
from tests.corpus import encode, photo

WATERMARK_MISSING = ("the watermark check needs option watermark.key_file: give --watermark-key-file KEY"
                     " or -O watermark.key_file=KEY")
ANCHORS_MISSING = ("the provenance check with require_trusted needs option provenance.trust_anchors: give"
                   " --trust-anchors PEM or -O provenance.trust_anchors=PEM")


def test_watermark_without_a_key_fails_at_construction() -> None:
    for make in (lambda: genaudit.Auditor(checks=("metadata", "watermark")),
                 lambda: genaudit.wrap(lambda n, seed=0: np.zeros((n, 8, 8), np.uint8), checks=("watermark",))):
        with pytest.raises(ConfigError) as info:
            make()
        assert str(info.value) == WATERMARK_MISSING


class CameraSpec(ManifestSpec):
    """A manifest without an AI claim (a camera capture), so that trust alone decides."""

    def to_manifest(self) -> dict:
        text = json.dumps(super().to_manifest())
        return json.loads(text.replace(DIGITAL_SOURCE_TYPE, DIGITAL_SOURCE_TYPE.replace(
            "trainedAlgorithmicMedia", "digitalCapture")))


def test_provenance_require_trusted_needs_anchors_plain_provenance_does_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        genaudit.Auditor(checks=("provenance",), options={"provenance": {"require_trusted": "yes"}})
    assert str(info.value) == ANCHORS_MISSING
    # Signed by one development chain, checked against another's root: valid but untrusted.
    ours, theirs = create_dev_chain("ours"), create_dev_chain("theirs")
    anchors = write_dev_chain(str(tmp_path / "ours"), ours)["root"]
    signed = tmp_path / "theirs.png"
    signed.write_bytes(sign_bytes(encode(photo(6, (120, 90)), "PNG"),
                                  SignerConfig(theirs.chain_pem, theirs.private_key_pem), CameraSpec()))
    plain = genaudit.Auditor(checks=("provenance",)).audit_image(str(signed)).result("provenance")
    assert plain is not None and (plain.status, plain.data["status"]) == ("ok", "valid_untrusted"), plain
    assert plain.data["ai_generated"] is False
    strict = genaudit.Auditor(checks=("provenance",), options={"provenance": {
        "trust_anchors": anchors, "require_trusted": True}}).audit_image(str(signed)).result("provenance")
    assert strict is not None and (strict.status, strict.data["status"]) == ("finding", "valid_untrusted")
    assert "not trusted" in strict.summary


@pytest.mark.parametrize(("args", "line"), [
    (["--checks", "watermark"], WATERMARK_MISSING),
    (["--checks", "metadata,provenance", "-O", "provenance.require_trusted=true"], ANCHORS_MISSING),
])
def test_cli_exits_2_before_scanning(run_cli: CliRunner, tmp_path: Path, args: list[str], line: str) -> None:
    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    r = run_cli("scan", "a.png", "--report-dir", "rep", *args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.splitlines() == [f"genaudit: error: {line}"]
    assert r.stdout == "" and not (tmp_path / "rep").exists()


def test_cli_require_trusted_with_anchors_runs(run_cli: CliRunner, tmp_path: Path) -> None:
    chain = create_dev_chain("cli")
    anchors = write_dev_chain(str(tmp_path / "keys"), chain)["root"]
    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    r = run_cli("scan", "a.png", "--report-dir", "rep", "-q", "--trust-anchors", anchors,
                "-O", "provenance.require_trusted=true", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert rep["files"][0]["checks"]["provenance"]["data"]["status"] == "no_manifest"
    assert next(c for c in rep["checks"] if c["name"] == "provenance")["params"]["require_trusted"] is True
