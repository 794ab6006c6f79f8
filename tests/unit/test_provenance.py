"""C2PA provenance: real signing with c2pa-python and a locally generated dev chain, a tamper
suite on real PNG/JPEG files, scan integration and ``genaudit.wrap``."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from PIL import Image

import genaudit
from genaudit.provenance.c2pa import (
    AUDIT_LABEL,
    ManifestReport,
    ManifestSpec,
    ProvenanceError,
    SignerConfig,
    read_manifest,
    sign,
    sign_bytes,
)
from genaudit.provenance.certs import create_dev_chain, utc_now, write_dev_chain
from genaudit.samples import build_png, photo_crops, png_chunks, replace_png_pixels


@pytest.fixture(scope="module")
def chain():
    return create_dev_chain()


@pytest.fixture(scope="module")
def signer(chain):
    cfg = SignerConfig(chain.chain_pem, chain.private_key_pem)
    cfg.validate()
    return cfg


@pytest.fixture(scope="module")
def anchors(chain):
    return chain.root_cert_pem.decode()


def _photo(size: int = 96) -> Image.Image:
    _, img = next(photo_crops(size, 1, seed=3))
    return img if isinstance(img, Image.Image) else Image.fromarray(img)


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


SPEC = ManifestSpec(title="t", model_id="unit-model", model_version="7",
                    audit={"phash": {"status": "ok", "summary": "phash 8f3a11c0d2e4b697"}},
                    watermark={"method": "tiled", "key_id": "k1", "payload": "c0ffee42"})


# -- PNG / JPEG structure helpers (the tests edit real files) ------------------------------------
def _jpeg_split(data: bytes) -> tuple[list[bytes], bytes]:
    """(marker segments before SOS, the rest from SOS on)."""
    segs, i = [], 2
    while data[i] == 0xFF and data[i + 1] != 0xDA:
        (n,) = struct.unpack(">H", data[i + 2:i + 4])
        segs.append(data[i:i + 2 + n])
        i += 2 + n
    return segs, data[i:]


def change_one_pixel(signed: bytes, fmt: str) -> bytes:
    """Same file with one pixel changed and everything else (the manifest included) kept."""
    img = Image.open(io.BytesIO(signed)).convert("RGB")
    px = img.load()
    r, g, b = px[5, 5]
    px[5, 5] = ((r + 40) % 256, g, b)
    fresh = _encode(img, fmt)
    if fmt == "PNG":
        return replace_png_pixels(signed, fresh)
    segs, _ = _jpeg_split(signed)
    _, scan = _jpeg_split(fresh)
    return b"\xff\xd8" + b"".join(segs) + scan


def strip_manifest(signed: bytes, fmt: str) -> bytes:
    if fmt == "PNG":
        return build_png([c for c in png_chunks(signed) if c[0] != b"caBX"])
    segs, scan = _jpeg_split(signed)
    return b"\xff\xd8" + b"".join(s for s in segs if s[1] != 0xEB) + scan  # APP11 holds JUMBF


# -- round trip ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_round_trip_trusted_with_dev_root_untrusted_without(fmt, signer, anchors):
    src = _encode(_photo(), fmt)
    signed = sign(src, signer, SPEC)
    assert signed != src and Image.open(io.BytesIO(signed)).format == fmt
    # pixels unchanged by signing
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(signed))), np.asarray(Image.open(io.BytesIO(src))))
    trusted = read_manifest(signed, trust_anchors=anchors)
    assert trusted.status == "valid_trusted" and trusted.trusted and trusted.codes == ()
    assert trusted.ai_generated is True
    assert trusted.digital_source_types[0].endswith("/trainedAlgorithmicMedia")
    assert trusted.generator == {"name": "unit-model", "version": "7"}
    assert set(trusted.training_mining.values()) == {"notAllowed"} and len(trusted.training_mining) == 4
    assert trusted.audit["checks"]["phash"]["summary"] == "phash 8f3a11c0d2e4b697"
    assert trusted.watermark == {"method": "tiled", "key_id": "k1", "payload": "c0ffee42"}
    assert any(g.get("name") == "genaudit" for g in trusted.claim_generator)
    untrusted = read_manifest(signed)
    assert untrusted.status == "valid_untrusted" and not untrusted.trusted
    other_root = create_dev_chain("someone else").root_cert_pem.decode()
    elsewhere = read_manifest(signed, trust_anchors=other_root)
    assert elsewhere.status == "valid_untrusted" and "signingCredential.untrusted" in elsewhere.codes
    # results are data
    d = json.loads(json.dumps(trusted.to_dict()))
    assert ManifestReport.from_dict(d) == trusted


def test_policy_thumbnail_and_spec_validation(signer, anchors):
    src = _encode(_photo(64), "PNG")
    small = sign_bytes(src, signer, ManifestSpec(training_mining="allowed"))
    big = sign_bytes(src, signer, ManifestSpec(training_mining="constrained", constraint_info="licence://x",
                                               thumbnail=True))
    assert len(small) + 500 < len(big) < len(small) + 20_000  # a small JPEG inside the manifest
    assert read_manifest(big).thumbnail == "image/jpeg" and read_manifest(small).thumbnail is None
    assert set(read_manifest(small, trust_anchors=anchors).training_mining.values()) == {"allowed"}
    assert set(read_manifest(big, trust_anchors=anchors).training_mining.values()) == {"constrained"}
    with pytest.raises(ProvenanceError, match="training_mining"):
        ManifestSpec(training_mining="maybe")
    with pytest.raises(ProvenanceError, match="key"):
        ManifestSpec(watermark={"method": "tiled", "key": "secret"})
    with pytest.raises(ProvenanceError, match="not an image"):
        sign_bytes(b"plain text, not an image", signer, SPEC)


def test_callback_signer_for_hsm(chain, anchors):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(chain.private_key_pem, password=None)
    calls = []

    def hsm(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    cfg = SignerConfig(chain.chain_pem, callback=hsm)
    signed = sign_bytes(_encode(_photo(64), "PNG"), cfg, SPEC)
    assert calls and read_manifest(signed, trust_anchors=anchors).status == "valid_trusted"


# -- tamper suite ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_tamper_suite_each_case_has_its_status_and_none_reads_valid(fmt, signer, anchors):
    signed = sign(_encode(_photo(), fmt), signer, SPEC)
    results = {}
    results["pixel"] = read_manifest(change_one_pixel(signed, fmt), trust_anchors=anchors)
    i = signed.find(b"8f3a11c0d2e4b697")
    assert i > 0, "audit assertion text not found in the signed file"
    t = bytearray(signed)
    t[i] ^= 0x01
    results["assertion_byte"] = read_manifest(bytes(t), trust_anchors=anchors)
    results["stripped"] = read_manifest(strip_manifest(signed, fmt), trust_anchors=anchors)
    results["reencoded"] = read_manifest(_encode(Image.open(io.BytesIO(signed)), fmt), trust_anchors=anchors)
    results["truncated"] = read_manifest(signed[: len(signed) // 2], trust_anchors=anchors)
    results["non_image"] = read_manifest(b"%PDF-1.7 not an image at all", trust_anchors=anchors)

    assert results["pixel"].status == "invalid" and "assertion.dataHash.mismatch" in results["pixel"].codes
    assert results["assertion_byte"].status == "invalid"
    assert "assertion.hashedURI.mismatch" in results["assertion_byte"].codes
    assert results["stripped"].status == "no_manifest"
    assert results["reencoded"].status == "no_manifest"
    assert results["truncated"].status in ("error", "invalid") and results["truncated"].codes
    assert results["non_image"].status == "error" and results["non_image"].codes == ("genaudit.unsupported",)
    for name, r in results.items():
        assert not r.valid, name
        json.dumps(r.to_dict())


FIXED = dt.datetime(2031, 3, 14, 12, 0, tzinfo=dt.UTC)  # an injected "now"; nothing below reads the real one


def test_validity_is_checked_against_the_injected_clock(tmp_path):
    chain = create_dev_chain(valid_days=30, clock=lambda: FIXED)  # valid from FIXED - 5 min for 30 days
    leaf = x509.load_pem_x509_certificate(chain.signing_cert_pem)
    assert leaf.not_valid_before_utc == FIXED - dt.timedelta(minutes=5)
    assert leaf.not_valid_after_utc == FIXED + dt.timedelta(days=30, minutes=-5)

    def at(when: dt.datetime) -> SignerConfig:
        return SignerConfig(chain.chain_pem, chain.private_key_pem, clock=lambda: when)

    for inside in (FIXED - dt.timedelta(minutes=5), FIXED, leaf.not_valid_after_utc):
        at(inside).validate()
    for outside in (FIXED - dt.timedelta(minutes=5, seconds=1), leaf.not_valid_after_utc + dt.timedelta(seconds=1)):
        with pytest.raises(ProvenanceError, match=f"not now \\({outside:%Y-%m-%d %H:%M:%S} UTC\\): expired or not"):
            at(outside).validate()
    at(FIXED + dt.timedelta(days=400)).validate(when=FIXED)  # an explicit time wins over the clock
    keys = write_dev_chain(str(tmp_path / "keys"), chain)
    late = FIXED + dt.timedelta(days=31)
    with pytest.raises(ProvenanceError, match="expired or not yet valid"):
        SignerConfig.from_files(keys["chain"], keys["key"], clock=lambda: late)
    with pytest.raises(ProvenanceError, match="expired or not yet valid"):
        genaudit.wrap(lambda n, seed=0: [np.zeros((8, 8, 3), np.uint8)] * n, signer=at(late))
    assert SignerConfig(chain.chain_pem, chain.private_key_pem).clock is utc_now  # the real clock by default


def test_wrong_key_and_certificates_outside_their_window_are_refused_at_signing(chain):
    other = create_dev_chain()
    bad = SignerConfig(chain.chain_pem, other.private_key_pem)
    with pytest.raises(ProvenanceError, match="wrong key"):
        bad.validate()
    with pytest.raises(ProvenanceError, match="C2PA signing failed"):  # unvalidated config: the SDK refuses too
        sign_bytes(_encode(_photo(64), "PNG"), bad, SPEC)
    # The SDK checks the real clock: windows wholly in the past and in the future, set through the clock.
    now = utc_now()
    for when in (now - dt.timedelta(days=400), now + dt.timedelta(days=400)):
        outside = create_dev_chain(valid_days=30, clock=lambda when=when: when)
        cfg = SignerConfig(outside.chain_pem, outside.private_key_pem)
        with pytest.raises(ProvenanceError, match="expired or not yet valid"):
            cfg.validate()
        with pytest.raises(ProvenanceError, match="not valid at time of signing"):
            sign_bytes(_encode(_photo(64), "PNG"), cfg, SPEC)


DATA = Path(__file__).resolve().parents[1] / "data"


def test_certificate_expired_after_signing_reads_invalid():
    """A file signed while its certificate was valid, read after it expired: the SDK checks the
    real clock when it signs, so the file was made once (tests/data/make_expired_signed.py)."""
    signed = (DATA / "expired_signed.png").read_bytes()
    anchors = (DATA / "expired_signed_root.pem").read_text()
    for trust in (anchors, None):
        later = read_manifest(signed, trust_anchors=trust)
        assert later.status == "invalid" and "signingCredential.expired" in later.codes
        # expiry is the only fault: the pixels and the assertions are intact
        assert set(later.codes) <= {"signingCredential.expired", "signingCredential.untrusted"}
        assert later.generator == {"name": "expired-cert-fixture", "version": "1"}


# -- scan, CLI, wrap ---------------------------------------------------------------------------
def test_scan_reports_each_case_and_never_crashes(tmp_path, chain, signer):
    keys = write_dev_chain(str(tmp_path / "keys"), chain)
    d = tmp_path / "in"
    d.mkdir()
    signed = sign(_encode(_photo(), "PNG"), signer, SPEC)
    (d / "signed.png").write_bytes(signed)
    (d / "pixel.png").write_bytes(change_one_pixel(signed, "PNG"))
    (d / "plain.png").write_bytes(_encode(_photo(), "PNG"))
    (d / "truncated.png").write_bytes(signed[:2000])
    (d / "notes.png").write_text("not an image")
    report = genaudit.scan([str(d)], checks=("provenance",), jobs=1, report_dir=str(tmp_path / "rep"),
                           options={"provenance": {"trust_anchors": keys["root"]}})
    by_name = {a.path.rsplit("/", 1)[-1]: a for a in report.files}
    assert len(by_name) == 5
    prov = {n: a.result("provenance") for n, a in by_name.items()}
    assert prov["signed.png"].data["status"] == "valid_trusted" and prov["signed.png"].status == "finding"
    assert prov["pixel.png"].data["status"] == "invalid" and prov["pixel.png"].status == "finding"
    assert prov["plain.png"].data["status"] == "no_manifest" and prov["plain.png"].status == "ok"
    assert by_name["truncated.png"].status == "error" and by_name["notes.png"].status == "error"
    # the truncated file's bytes are still read (its manifest cannot be); text is not parsed at all
    assert prov["truncated.png"].data["status"] == "error" and prov["notes.png"] is None
    summary = report.summary.checks["provenance"]
    assert summary["statuses"] == {"error": 1, "invalid": 1, "no_manifest": 1, "valid_trusted": 1}


def test_cli_keys_sign_verify(tmp_path, run_cli):
    keys = tmp_path / "keys"
    r = run_cli("keys", "init", "-o", str(keys))
    assert r.returncode == 0 and "DEVELOPMENT" in r.stdout
    assert (keys / "signer.key").stat().st_mode & 0o077 == 0
    src = tmp_path / "a.jpg"
    src.write_bytes(_encode(_photo(), "JPEG"))
    r = run_cli("sign", str(src), "-o", str(tmp_path / "out"), "--cert", str(keys / "chain.pem"),
                "--key", str(keys / "signer.key"), "--model-id", "cli-model")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "a.jpg"
    r = run_cli("verify-manifest", str(out), "--trust-anchors", str(keys / "root.pem"), "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["status"] == "valid_trusted" and doc["generator"]["name"] == "cli-model"
    assert set(doc["audit"]["checks"]) == {"metadata", "phash"}
    r = run_cli("verify-manifest", str(src), "--trust-anchors", str(keys / "root.pem"))
    assert r.returncode == 1 and "no_manifest" in r.stdout
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "a.jpg").write_bytes(_encode(_photo(64), "JPEG"))
    r = run_cli("sign", str(src), str(tmp_path / "b" / "a.jpg"), "-o", str(tmp_path / "two"),
                "--cert", str(keys / "chain.pem"), "--key", str(keys / "signer.key"), "--checks", "none")
    assert r.returncode == 0 and len(list((tmp_path / "two").iterdir())) == 2  # same name, both kept
    other = tmp_path / "other"
    run_cli("keys", "init", "-o", str(other))
    r = run_cli("sign", str(src), "-o", str(tmp_path / "o2"), "--cert", str(keys / "chain.pem"),
                "--key", str(other / "signer.key"))
    assert r.returncode == 2 and "wrong key" in r.stderr and "Traceback" not in r.stderr


def test_wrap_watermarks_before_signing_and_both_verify(tmp_path, chain, signer, anchors):
    from genaudit.watermark import WatermarkKey, verify

    key = WatermarkKey.from_passphrase("wrap test")

    def my_generator(n, seed=0):  # any callable returning images
        rng = np.random.default_rng(seed)
        base = np.linspace(0, 255, 160, dtype=np.float32)
        return [np.clip(base[None, :, None] * 0.6 + rng.normal(60, 25, (160, 160, 3)), 0, 255).astype(np.uint8)
                for _ in range(n)]

    gen = genaudit.wrap(my_generator, watermark_key=key, signer=signer, model_id="toy-gen")
    outs = gen.sample(2, seed=4, out_dir=tmp_path)
    assert [o.index for o in outs] == [0, 1] and all(o.signed for o in outs)
    for o in outs:
        assert o.path and Path(o.path).read_bytes() == o.data
        m = read_manifest(o.data, trust_anchors=anchors)
        assert m.status == "valid_trusted" and m.generator["name"] == "toy-gen"
        v = verify(Image.open(io.BytesIO(o.data)), key)
        assert v.detected and v.payload == m.watermark["payload"] == o.watermark["payload"]
        assert m.watermark["payload_read_back"] is True and m.watermark["p_value"] <= 1e-6
        assert set(m.watermark) == {"method", "key_id", "payload", "payload_read_back", "p_value"}
        # the audit holds only the checks that ran; the watermark record is the soft binding
        assert set(m.audit["checks"]) == {"metadata", "phash"} and dict(o.audit) == m.audit["checks"]
        assert "key" not in m.watermark and key.key_id == m.watermark["key_id"]
    # same seed, same pixels (signatures differ only by their manifest ids)
    again = gen.sample(2, seed=4)
    for a, b in zip(outs, again, strict=True):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(a.data))), np.asarray(Image.open(io.BytesIO(b.data))))
    # the wrong order: watermarking a signed file is a new write that drops the manifest
    from genaudit.watermark import embed

    rewritten = _encode(embed(Image.open(io.BytesIO(outs[0].data)), key), "PNG")
    assert read_manifest(rewritten, trust_anchors=anchors).status == "no_manifest"


def test_wrap_reference_generator_needs_size_for_watermark(signer, anchors):
    from genaudit import models
    from genaudit.release import WrapError
    from genaudit.watermark import WatermarkKey, verify

    key = WatermarkKey.from_passphrase("wrap reference test")
    gan = models.load("gan-fmnist")
    with pytest.raises(WrapError, match="size="):
        genaudit.wrap(gan, watermark_key=key, signer=signer).sample(1, seed=0)
    out = genaudit.wrap(gan, watermark_key=key, signer=signer, size=128, fmt="JPEG").sample(2, labels=[3, 7], seed=2)
    assert [o.label for o in out] == [3, 7]
    # without labels, each output's label is the one the model's SampleOutput says it drew
    plain = genaudit.wrap(gan, checks=()).sample(3, seed=2)
    assert [o.label for o in plain] == list(gan.sample(3, seed=2).labels) == [0, 1, 2]
    assert Image.open(io.BytesIO(plain[1].data)).text["genaudit:label"] == "1"
    for o in out:
        assert Image.open(io.BytesIO(o.data)).size == (128, 128)
        assert verify(Image.open(io.BytesIO(o.data)), key).detected
        m = read_manifest(o.data, trust_anchors=anchors)
        assert m.status == "valid_trusted" and m.generator["name"] == "gan-fmnist"
        assert AUDIT_LABEL and m.watermark["key_id"] == key.key_id and "watermark" not in m.audit["checks"]
