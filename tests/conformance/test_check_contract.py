"""Every registered check honours the same contract on tiny and odd images:
it never raises, returns a valid JSON-serialisable CheckResult named after itself,
is deterministic, batches consistently, and says *why* when it skips.

Checks that need configuration (a watermark key, a training index, trust anchors) are held to the
contract twice: with default options (their skip path, or the configuration error of a check that
cannot run at all without its option: memorization without an index) and configured with real files made here,
so that their working path meets the same rules."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genaudit.errors import ConfigError
from genaudit.io import LoadedImage, decode_bytes, load_array, load_pil
from genaudit.registry import create_check, list_checks
from genaudit.results import CheckResult
from tests.corpus import encode, photo

BUILTIN = [s.name for s in list_checks() if not s.description.startswith("(plugin")]
CONFIGURED = ["memorization", "provenance", "watermark"]


def odd_images() -> list[tuple[str, LoadedImage]]:
    rng = np.random.default_rng(0)
    return [
        ("1x1", load_array(np.zeros((1, 1, 3), np.uint8))),
        ("1x2000", load_array(rng.integers(0, 255, (2000, 1, 3), dtype=np.uint8))),
        ("2000x1", load_array(rng.integers(0, 255, (1, 2000, 3), dtype=np.uint8))),
        ("8x8 black", load_array(np.zeros((8, 8), np.uint8))),
        ("uniform white", load_array(np.full((64, 64, 3), 255, np.uint8))),
        ("noise", load_array(rng.integers(0, 255, (97, 131, 3), dtype=np.uint8))),
        ("rgba", load_pil(Image.new("RGBA", (40, 30), (10, 20, 30, 128)))),
        ("16-bit", load_array(np.linspace(0, 65535, 50 * 60).reshape(50, 60).astype(np.uint16))),
        ("photo png", decode_bytes(encode(photo(3, (300, 200)), "PNG"), path="photo.png")),
        ("photo jpeg", decode_bytes(encode(photo(4, (256, 256)), "JPEG"), path="photo.jpg")),
        ("gif", decode_bytes(encode(photo(5).convert("P"), "GIF"), path="x.gif")),
    ]


@pytest.fixture(scope="module")
def images() -> list[tuple[str, LoadedImage]]:
    return odd_images()


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Options that make each configurable check run, plus images its working path should see:
    a watermarked photo (watermark), a copy of a training item (memorization), a C2PA-signed
    photo from the development chain (provenance)."""
    from genaudit import watermark
    from genaudit.memorization.build import build_index
    from genaudit.provenance.c2pa import ManifestSpec, SignerConfig, sign_bytes
    from genaudit.provenance.certs import create_dev_chain, write_dev_chain

    root = tmp_path_factory.mktemp("configured")
    key = watermark.generate_key()
    key_file = watermark.save_key(key, root / "wm.key")
    train = root / "train"
    train.mkdir()
    for i, img in enumerate([photo(3, (300, 200)), photo(11, (80, 80)), photo(12, (64, 96))]):
        img.save(train / f"t{i}.png")
    index, report = build_index([str(train)], families=("phash", "dhash"), jobs=1)
    assert report.added == 3 and not report.errors
    chain = create_dev_chain()
    anchors = write_dev_chain(str(root / "chain"), chain)["root"]
    signed = sign_bytes(encode(photo(6, (120, 90)), "JPEG"), SignerConfig(chain.chain_pem, chain.private_key_pem),
                        ManifestSpec(model_id="ddpm-fmnist"))
    marked = watermark.embed(np.asarray(photo(7, (256, 256))), key)
    return {
        "options": {"watermark": {"key_file": key_file},
                    "memorization": {"index": index.save(root / "train.gaidx"), "candidates": 3, "align_top": 2},
                    "provenance": {"trust_anchors": anchors}},
        "images": [("c2pa signed", decode_bytes(signed, path="signed.jpg")),
                   ("watermarked", decode_bytes(encode(Image.fromarray(marked), "PNG"), path="marked.png"))],
        # what the working path must find: the check is not just skipping
        "expect": {"watermark": {"watermarked": "finding"}, "memorization": {"photo png": "finding"},
                   "provenance": {"c2pa signed": "finding", "photo png": "ok"}},
    }


def assert_contract(name: str, options: dict[str, Any] | None,
                    images: list[tuple[str, LoadedImage]]) -> list[CheckResult]:
    check = create_check(name, options)
    check.ensure_setup()   # as the Auditor does before the first image
    info = check.info()
    assert info.name == name and info.version
    json.dumps(info.to_dict())
    results = []
    for label, img in images:
        r = check.run(img)
        assert isinstance(r, CheckResult), label
        assert r.check == name, label
        assert r.status in ("ok", "finding", "skipped"), (label, r)
        if r.status == "skipped":
            assert r.reason and len(r.reason) > 10, label
        doc = json.loads(json.dumps(r.to_dict(), allow_nan=False))
        assert CheckResult.from_dict(doc) == CheckResult.from_dict(r.to_dict()), label
        results.append(r)
    # deterministic: a fresh instance, fed the images in the other order, gives the same results
    fresh = create_check(name, options)
    fresh.ensure_setup()
    again = [fresh.run(img) for _, img in reversed(images)][::-1]
    for (label, _), r, a in zip(images, results, again, strict=True):
        assert a.to_dict() == r.to_dict(), f"{name} is not deterministic on {label}"
    batched = check.run_batch([img for _, img in images])
    assert [b.to_dict() for b in batched] == [r.to_dict() for r in results]
    summary = type(check).summarize([(label, r) for (label, _), r in zip(images, results, strict=True)])
    json.dumps(summary, allow_nan=False)
    return results


@pytest.mark.parametrize("name", BUILTIN)
def test_contract(name: str, images: list[tuple[str, LoadedImage]]) -> None:
    if name == "memorization":  # selected without its index: one configuration error at construction
        with pytest.raises(ConfigError, match=r"^the memorization check needs option memorization\.index: give "):
            create_check(name, None)
        return
    assert_contract(name, None, images)


@pytest.mark.parametrize("name", CONFIGURED)
def test_contract_configured(name: str, images: list[tuple[str, LoadedImage]], configured: dict[str, Any]) -> None:
    assert name in BUILTIN
    labelled = images + configured["images"]
    results = assert_contract(name, configured["options"][name], labelled)
    status = {label: r.status for (label, _), r in zip(labelled, results, strict=True)}
    for label, expected in configured["expect"][name].items():
        assert status[label] == expected, (name, label, status[label])
