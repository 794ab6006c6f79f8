"""AI-generation markers in real files, including a real C2PA-signed image."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

import genaudit
from genaudit.samples import jpeg_bytes, png_bytes, xmp_packet
from tests.corpus import encode, photo


def _meta(data: bytes | Image.Image) -> genaudit.CheckResult:
    r = genaudit.Auditor(checks=("metadata",)).audit_image(data).result("metadata")
    assert r is not None
    return r


def _kinds(r: genaudit.CheckResult) -> set[str]:
    return {m["kind"] for m in r.data["ai_markers"]}


def test_plain_photo_has_no_markers() -> None:
    r = _meta(encode(photo(), "JPEG"))
    assert r.status == "ok" and r.data["ai_markers"] == [] and r.data["c2pa"]["present"] is False
    assert (r.data["format"], r.data["width"], r.data["height"]) == ("jpeg", 96, 64)


@pytest.mark.parametrize("term", ["trainedAlgorithmicMedia", "compositeSynthetic",
                                  "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia"])
def test_xmp_digital_source_type_in_jpeg_and_png(term: str) -> None:
    for data in (jpeg_bytes(photo(), xmp=xmp_packet(term)), png_bytes(photo(), xmp=xmp_packet(term))):
        r = _meta(data)
        assert r.status == "finding"
        assert r.data["digital_source_types"] == [term]
        assert r.data["ai_markers"][0]["value"] == term


def test_camera_capture_source_type_is_not_a_finding() -> None:
    r = _meta(jpeg_bytes(photo(), xmp=xmp_packet("digitalCapture")))
    assert r.status == "ok" and r.data["digital_source_types"] == ["digitalCapture"]


@pytest.mark.parametrize(("chunks", "expected"), [
    ({"parameters": "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7"}, "generator_parameters"),
    ({"prompt": json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})}, "generator_parameters"),
    ({"invokeai_metadata": "{}"}, "generator_parameters"),
    ({"Comment": json.dumps({"steps": 28, "sampler": "k_euler", "seed": 5}), "Software": "NovelAI"},
     "generator_parameters"),
    ({"Software": "ComfyUI"}, "ai_software"),
])
def test_generator_text_chunks(chunks: dict[str, str], expected: str) -> None:
    r = _meta(png_bytes(photo(), text=chunks))
    assert r.status == "finding" and expected in _kinds(r)


@pytest.mark.parametrize("chunks", [{"prompt": "not a graph, just a word"}, {"Software": "GIMP 2.10"},
                                    {"Comment": "holiday 2019"}])
def test_ordinary_text_chunks_are_not_markers(chunks: dict[str, str]) -> None:
    assert _meta(png_bytes(photo(), text=chunks)).status == "ok"


def test_exif_user_comment_parameters_in_jpeg() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "Steps: 25, Sampler: DPM++ 2M, Seed: 3".encode("utf-16-be")
    buf = io.BytesIO()
    photo().save(buf, "JPEG", exif=exif)
    r = _meta(buf.getvalue())
    assert r.status == "finding"
    assert any(m["source"] == "EXIF 'UserComment'" for m in r.data["ai_markers"])


def _c2pa_signed(data: bytes, mime: str, source_type: str) -> bytes:
    """Sign ``data`` for real with c2pa-python and a fresh development chain."""
    import c2pa

    from genaudit.provenance.certs import create_dev_chain

    chain = create_dev_chain()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem,
                                                       chain.private_key_pem, None))
    manifest = {"claim_generator_info": [{"name": "genaudit-tests", "version": "0"}],
                "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": f"http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"}]}}]}
    dst = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, mime, io.BytesIO(data), dst)
    return dst.getvalue()


@pytest.mark.parametrize(("mime", "fmt", "container"), [("image/png", "PNG", "PNG caBX chunk"),
                                                         ("image/jpeg", "JPEG", "JPEG APP11 segments")])
def test_real_c2pa_manifest_is_found(mime: str, fmt: str, container: str) -> None:
    r = _meta(_c2pa_signed(encode(photo(), fmt), mime, "trainedAlgorithmicMedia"))
    assert r.data["c2pa"] == {"present": True, "container": container}
    assert r.status == "finding"
    assert r.data["ai_markers"][0]["source"] == "C2PA manifest"


def test_c2pa_presence_alone_is_a_finding_only_when_asked() -> None:
    signed = _c2pa_signed(encode(photo(), "PNG"), "image/png", "digitalCapture")
    r = _meta(signed)
    assert r.status == "ok" and r.data["c2pa"]["present"] and r.data["digital_source_types"] == ["digitalCapture"]
    flagged = genaudit.Auditor(checks=("metadata",), options={"metadata": {"flag_c2pa_presence": True}})
    assert flagged.audit_image(signed).result("metadata").status == "finding"
