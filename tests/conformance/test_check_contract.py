"""Every registered check honours the same contract on tiny and odd images:
it never raises, returns a valid JSON-serialisable CheckResult named after itself,
is deterministic, batches consistently, and says *why* when it skips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genaudit.io import LoadedImage, decode_bytes, load_array, load_pil
from genaudit.registry import create_check, list_checks
from genaudit.results import CheckResult
from tests.corpus import encode, photo

BUILTIN = [s.name for s in list_checks() if not s.description.startswith("(plugin")]


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


@pytest.mark.parametrize("name", BUILTIN)
def test_contract(name: str, images: list[tuple[str, LoadedImage]]) -> None:
    check = create_check(name)
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
        again = create_check(name).run(img)
        assert again.to_dict() == r.to_dict(), f"{name} is not deterministic on {label}"
        results.append(r)
    batched = check.run_batch([img for _, img in images])
    assert [b.to_dict() for b in batched] == [r.to_dict() for r in results]
    summary = type(check).summarize([(label, r) for (label, _), r in zip(images, results, strict=True)])
    json.dumps(summary, allow_nan=False)
