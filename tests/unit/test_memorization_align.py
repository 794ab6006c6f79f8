"""Stage 3 of the memorization check: registration + correlation, on real photos and garments."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genaudit import AuditConfig, Auditor
from genaudit.datasets import load_fashion_mnist
from genaudit.features.hashing import hash_images
from genaudit.memorization.align import AlignParams, aligned_correlation, grey_thumbnail
from genaudit.memorization.index import TrainingIndex
from genaudit.samples import photo_crops
from genaudit.watermark import attacks

EDITS = ["rotate_5", "crop_10", "jpeg_50", "brightness_+20", "contrast_-20", "resize_0.75"]


def thumb(a: np.ndarray) -> np.ndarray:
    return grey_thumbnail(a, AlignParams().size)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [im for _, im in photo_crops(96, 12, seed=31)]


@pytest.mark.parametrize("edit", EDITS)
def test_edited_copies_correlate_after_alignment(photos: list[np.ndarray], edit: str) -> None:
    thumbs = [thumb(p) for p in photos]
    for k, src in enumerate(photos[:4]):
        copy = attacks.apply(edit, src, seed=k)
        s = aligned_correlation(thumb(copy), [thumbs[k], *thumbs[:k], *thumbs[k + 1:]])
        assert s[0] >= 0.95, (edit, k, s[0])
        assert s[0] > s[1:].max() + 0.02  # the source stands out from the other photos


def test_mirror_and_search_range() -> None:
    _, img = next(photo_crops(96, 1, seed=4))
    mirrored = np.ascontiguousarray(img[:, ::-1])
    assert aligned_correlation(thumb(mirrored), [thumb(img)])[0] > 0.99
    no_mirror = AlignParams(mirror=False)
    assert aligned_correlation(thumb(mirrored), [thumb(img)], no_mirror)[0] < 0.9
    rotated = np.asarray(Image.fromarray(img).rotate(25, resample=Image.Resampling.BICUBIC))
    assert aligned_correlation(thumb(rotated), [thumb(img)])[0] < 0.9  # 25° is outside the ±6° search


def test_fractional_shifts_are_refined() -> None:
    """A garment cropped so that its edges fall between the thumbnail's pixels (a 25% crop of a
    28-px item resized to fit, taken one pixel off the region's grid) is half a thumbnail pixel off
    every whole-pixel shift: the sub-pixel step recovers the correlation, and a different garment
    does not gain from it."""
    train, _ = load_fashion_mnist("test")
    items = [np.asarray(train[i]) for i in range(40)]
    regions = [thumb(Image.fromarray(a).crop((4, 4, 25, 25))) for a in items]  # the central 75%
    coarse, fine = AlignParams(subpixel=0), AlignParams()
    gains, others = [], []
    for k, a in enumerate(items[:12]):
        q = thumb(np.asarray(Image.fromarray(a[3:24, 3:24]).resize((28, 28), Image.Resampling.BICUBIC)))
        s0, s1 = aligned_correlation(q, regions, coarse), aligned_correlation(q, regions, fine)
        assert (s1 >= s0 - 1e-6).all()  # the refined score is a maximum over more shifts
        gains.append(s1[k] - s0[k])
        others.append(np.delete(s1 - s0, k).max())
    assert np.median(gains) > 0.01 and np.median(gains) > 3 * np.median(others)
    with pytest.raises(ValueError, match="subpixel"):
        AlignParams(subpixel=-1)


def test_flat_images_and_bad_shapes() -> None:
    flat = np.full((32, 32), 128.0, np.float32)
    _, img = next(photo_crops(64, 1, seed=5))
    assert aligned_correlation(flat, [thumb(img)])[0] == 0.0
    assert aligned_correlation(thumb(img), [flat])[0] == 0.0
    assert aligned_correlation(thumb(img), []).shape == (0,)
    with pytest.raises(ValueError, match="32×32"):
        aligned_correlation(np.zeros((16, 16), np.float32), [thumb(img)])
    with pytest.raises(ValueError, match="positive scale"):
        AlignParams(scales=(0.0,))


def test_check_finds_rotated_copies_that_hashes_and_embedding_miss(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, _ = load_fashion_mnist("train")
    rng = np.random.default_rng(0)
    ids = rng.choice(len(x), 300, replace=False)
    train = [np.repeat(x[i][:, :, None], 3, axis=2) for i in ids]
    index = TrainingIndex(("phash", "dhash"))
    index.add({f: hash_images(train, f) for f in index.families}, [f"fashion-mnist:train:{i}" for i in ids])
    path = index.save(str(tmp_path / "t.gaidx"))
    queries = [attacks.apply("rotate_5", train[k], seed=k) for k in range(20)]
    test_x, _ = load_fashion_mnist("test")
    negatives = [np.repeat(test_x[i][:, :, None], 3, axis=2) for i in range(20)]

    def verdicts(**opts: object) -> list[int | None]:
        auditor = Auditor(AuditConfig(checks=("memorization",), options={"memorization": {"index": path, **opts}}))
        out = []
        for a in auditor.audit_images(queries + negatives):
            r = a.result("memorization")
            assert r is not None
            out.append(int(r.data["closest"][0]["source"].rsplit(":", 1)[1]) if r.status == "finding" else None)
        return out

    full = verdicts()
    without = verdicts(align=False, similarity=0.9)
    hits = sum(v == int(ids[k]) for k, v in enumerate(full[:20]))
    assert hits >= 18                                          # found, and the right item
    assert hits > sum(v == int(ids[k]) for k, v in enumerate(without[:20])) + 4
    assert sum(v is not None for v in full[20:]) <= 2          # distinct test garments rarely match
