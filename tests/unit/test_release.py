"""``genaudit.release``: the library sign pipeline (``sign_files``) and the soft-binding schema it
shares with ``wrap``, on real files with real c2pa signing and real watermarks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

import genaudit
from genaudit.provenance.c2pa import ProvenanceError, SignerConfig, read_manifest
from genaudit.provenance.certs import create_dev_chain
from genaudit.release import SIGN_FAILED, SignedFile, sign_files
from genaudit.samples import photo_crops
from genaudit.watermark import WatermarkKey, embed, save_key

SCHEMA = {"method", "key_id", "payload", "payload_read_back", "p_value"}


def same_binding(read: dict | None, written: dict | None) -> bool:
    """The manifest's soft binding is what was written (the p-value may lose its last bit in C2PA's CBOR)."""
    if read is None or written is None:
        return read is written
    return read == {**written, "p_value": pytest.approx(written["p_value"], rel=1e-12)}


@pytest.fixture(scope="module")
def chain():
    return create_dev_chain("release tests")


@pytest.fixture(scope="module")
def signer(chain):
    return SignerConfig(chain.chain_pem, chain.private_key_pem)


@pytest.fixture(scope="module")
def anchors(chain):
    return chain.root_cert_pem.decode()


def _photos(n: int, size: int = 192) -> list[Image.Image]:
    return [Image.fromarray(img) for _, img in photo_crops(size, n, seed=17)]


def test_sign_files_gives_one_typed_result_per_input(tmp_path: Path, signer, anchors) -> None:
    key = WatermarkKey.from_passphrase("release sign test")
    plain, marked, other = _photos(3)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    plain.save(src / "a.png")
    other.save(src / "sub" / "a.png")                                 # same name in another folder
    embed(marked, key, payload="c0ffee42").save(src / "marked.png")
    plain.save(src / "photo.bmp")                                      # readable, but C2PA cannot sign BMP
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = src / "signed"                                               # inside the input folder
    results = list(sign_files([src], out, signer, model_id="m1", model_version="2", watermark_key=key))
    assert all(isinstance(r, SignedFile) for r in results)
    by_rel = {os.path.relpath(r.path, src): r for r in results}
    # every input once; the outputs written into `signed/` are never signed again
    assert sorted(by_rel) == ["a.png", "broken.png", "marked.png", "photo.bmp", os.path.join("sub", "a.png")]
    assert by_rel["broken.png"].status == "error" and by_rel["broken.png"].error.code == "truncated"
    assert by_rel["broken.png"].output is None
    bmp = by_rel["photo.bmp"]
    assert bmp.status == "error" and bmp.error.code == SIGN_FAILED and "unsupported" in bmp.error.message
    signed = [r for r in results if r.status == "signed"]
    # the input tree is mirrored under the output folder
    assert sorted(os.path.relpath(r.output, out) for r in signed) == ["a.png", "marked.png",
                                                                      os.path.join("sub", "a.png")]
    assert sorted(os.listdir(out)) == ["a.png", "marked.png", "sub"]
    for r in signed:
        data = Path(r.output).read_bytes()
        assert r.bytes_added == len(data) - Path(r.path).stat().st_size > 0
        m = read_manifest(data, trust_anchors=anchors)
        assert m.status == "valid_trusted" and m.generator["name"] == "m1"
        assert m.audit["checks"] == dict(r.audit) and set(r.audit) == {"metadata", "phash"}
        assert same_binding(m.watermark, dict(r.watermark) if r.watermark else None)
        assert json.loads(json.dumps(r.to_dict()))["status"] == "signed"
    mark = by_rel["marked.png"].watermark
    assert mark is not None and set(mark) == SCHEMA
    assert mark["key_id"] == key.key_id and mark["payload"] == "c0ffee42" and mark["payload_read_back"] is True
    assert mark["p_value"] <= 1e-6
    assert by_rel["a.png"].watermark is None                          # no mark of this key: no soft binding


def test_sign_files_without_checks_records_no_audit(tmp_path: Path, signer, anchors) -> None:
    _photos(1, 64)[0].save(tmp_path / "a.jpg", quality=90)
    [r] = sign_files([tmp_path / "a.jpg"], tmp_path / "out", signer, checks=("none",))
    assert r.status == "signed" and r.audit is None and r.watermark is None
    m = read_manifest(r.output, trust_anchors=anchors)
    assert m.status == "valid_trusted" and m.audit is None and os.path.basename(r.output) == "a.jpg"


def test_sign_files_refuses_a_bad_signer_or_policy_before_any_file(tmp_path: Path, chain) -> None:
    other = create_dev_chain("someone else")
    _photos(1, 64)[0].save(tmp_path / "a.png")
    with pytest.raises(ProvenanceError, match="training_mining"):
        sign_files([tmp_path / "a.png"], tmp_path / "o1", SignerConfig(chain.chain_pem, chain.private_key_pem),
                   training_mining="sometimes")
    with pytest.raises(ProvenanceError, match="key"):
        sign_files([tmp_path / "a.png"], tmp_path / "o2", SignerConfig(chain.chain_pem, other.private_key_pem))
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_wrap_records_the_same_soft_binding_and_runs_the_real_watermark_check_when_asked(
        tmp_path: Path, signer, anchors) -> None:
    key = WatermarkKey.from_passphrase("release wrap test")
    key_file = save_key(key, tmp_path / "wm.key")

    def gen(n: int, seed: int = 0) -> list[Image.Image]:
        return [Image.fromarray(img) for _, img in photo_crops(192, n, seed=seed)]

    [out] = genaudit.wrap(gen, watermark_key=key, signer=signer, model_id="toy", payload="0badcafe",
                          checks=("metadata", "watermark"),
                          check_options={"watermark": {"key_file": key_file}}).sample(1, seed=1)
    m = read_manifest(out.data, trust_anchors=anchors)
    assert m.status == "valid_trusted"
    assert set(out.watermark) == SCHEMA and same_binding(m.watermark, dict(out.watermark))
    assert out.watermark["payload"] == "0badcafe" and out.watermark["key_id"] == key.key_id
    # the audit's watermark entry is the real check's result on the released pixels
    wm = m.audit["checks"]["watermark"]
    assert wm["status"] == "finding" and wm["data"]["detected"] is True and wm["data"]["key_id"] == key.key_id
    assert wm["data"]["methods"]["tiled"]["payload"] == "0badcafe"
