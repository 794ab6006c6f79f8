"""The edits a watermark meets online, as deterministic functions of uint8 RGB arrays.

>>> import numpy as np
>>> img = np.full((100, 120, 3), 128, np.uint8)
>>> sorted(ATTACKS)[:3]
['blur_1', 'brightness_+20', 'brightness_-20']
>>> apply("crop_10", img).shape
(90, 108, 3)
>>> np.array_equal(apply("noise_0.02", img, seed=1), apply("noise_0.02", img, seed=1))
True
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

Attack = Callable[[np.ndarray, int], np.ndarray]


def _pil(a: np.ndarray):  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.fromarray(a)


def jpeg(quality: int) -> Attack:
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import Image

        buf = io.BytesIO()
        _pil(a).save(buf, "JPEG", quality=quality)
        return np.asarray(Image.open(buf).convert("RGB"))
    return run


def webp(quality: int) -> Attack:
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import Image

        buf = io.BytesIO()
        _pil(a).save(buf, "WEBP", quality=quality)
        return np.asarray(Image.open(buf).convert("RGB"))
    return run


def resize(factor: float, back: bool = True) -> Attack:
    """Bicubic resize by ``factor`` (antialiased), then back to the original size if ``back``."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import Image

        h, w = a.shape[:2]
        small = _pil(a).resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)
        return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC) if back else small)
    return run


def center_crop(fraction: float) -> Attack:
    """Remove ``fraction`` of each side's length, keeping the centre (no resize)."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        h, w = a.shape[:2]
        dh, dw = round(h * fraction / 2), round(w * fraction / 2)
        return np.ascontiguousarray(a[dh:h - dh, dw:w - dw])
    return run


def rotate(degrees: float) -> Attack:
    """Bicubic rotation about the centre, same size, corners filled black."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import Image

        return np.asarray(_pil(a).rotate(degrees, resample=Image.Resampling.BICUBIC))
    return run


def blur(sigma: float) -> Attack:
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import ImageFilter

        return np.asarray(_pil(a).filter(ImageFilter.GaussianBlur(sigma)))
    return run


def noise(sigma: float) -> Attack:
    """Additive Gaussian noise with standard deviation ``sigma`` × 255, seeded."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.clip(a + rng.normal(0.0, sigma * 255.0, a.shape), 0, 255).round().astype(np.uint8)
    return run


def brightness(factor: float) -> Attack:
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import ImageEnhance

        return np.asarray(ImageEnhance.Brightness(_pil(a)).enhance(factor))
    return run


def contrast(factor: float) -> Attack:
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import ImageEnhance

        return np.asarray(ImageEnhance.Contrast(_pil(a)).enhance(factor))
    return run


def chain(*steps: Attack) -> Attack:
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        for i, step in enumerate(steps):
            a = step(a, seed + i)
        return a
    return run


ATTACKS: dict[str, Attack] = {
    "jpeg_90": jpeg(90), "jpeg_75": jpeg(75), "jpeg_50": jpeg(50),
    "webp_80": webp(80),
    "resize_0.75": resize(0.75), "resize_0.5": resize(0.5),
    "crop_5": center_crop(0.05), "crop_10": center_crop(0.10), "crop_25": center_crop(0.25),
    "rotate_2": rotate(2.0), "rotate_5": rotate(5.0),
    "blur_1": blur(1.0),
    "noise_0.02": noise(0.02),
    "brightness_+20": brightness(1.2), "brightness_-20": brightness(0.8),
    "contrast_+20": contrast(1.2), "contrast_-20": contrast(0.8),
    "chain_crop10_jpeg75_resize0.75": chain(center_crop(0.10), jpeg(75), resize(0.75, back=False)),
}


def apply(name: str, pixels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Apply attack ``name`` to a uint8 RGB array (deterministic for a seed)."""
    if name == "clean":
        return pixels
    try:
        attack = ATTACKS[name]
    except KeyError:
        from ..suggest import did_you_mean

        raise KeyError(f"unknown attack {name!r}{did_you_mean(name, list(ATTACKS))}") from None
    return attack(np.asarray(pixels, dtype=np.uint8), seed)
