"""The edits a watermark meets online, as deterministic functions of uint8 RGB arrays.

>>> import numpy as np
>>> img = np.full((100, 120, 3), 128, np.uint8)
>>> sorted(ATTACKS)[:3]
['aspect_0.8', 'blur_1', 'brightness_+20']
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


def resize_to(size: Callable[[int, int], tuple[int, int]]) -> Attack:
    """Bicubic (antialiased) resize to ``size(w, h)`` = (new w, new h); the new size is kept."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import Image

        h, w = a.shape[:2]
        nw, nh = size(w, h)
        return np.asarray(_pil(a).resize((max(1, nw), max(1, nh)), Image.Resampling.BICUBIC))
    return run


def scaled(fy: float, fx: float | None = None) -> Attack:
    """Resize each side by its factor (``fx`` defaults to ``fy``) and keep the new size."""
    return resize_to(lambda w, h: (round(w * (fy if fx is None else fx)), round(h * fy)))


def long_side(n: int) -> Attack:
    """Resize so that the longer side is ``n`` pixels (up or down), keeping the aspect ratio."""
    return resize_to(lambda w, h: (round(w * n / max(w, h)), round(h * n / max(w, h))))


def crop_box(fy: float, fx: float) -> Attack:
    """Keep the centred ``fy`` of the height and ``fx`` of the width (no resize)."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        h, w = a.shape[:2]
        nh, nw = max(1, round(h * fy)), max(1, round(w * fx))
        y0, x0 = (h - nh) // 2, (w - nw) // 2
        return np.ascontiguousarray(a[y0:y0 + nh, x0:x0 + nw])
    return run


def crop_fit(fy: float, fx: float) -> Attack:
    """Remove ``fy`` of the height and ``fx`` of the width (centred), then resize back to the
    original size: what "crop to fit" does to a picture that must fill the same frame."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        h, w = a.shape[:2]
        return resize_to(lambda _w, _h: (w, h))(crop_box(1.0 - fy, 1.0 - fx)(a, seed), seed)
    return run


def fit_frame(aspect: float, width: float) -> Attack:
    """Crop the centre to ``aspect`` (width / height) and resize to ``width`` × the original width."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        h, w = a.shape[:2]
        fy, fx = (min(1.0, w / aspect / h), 1.0) if w / h <= aspect else (1.0, min(1.0, h * aspect / w))
        box = crop_box(fy, fx)(a, seed)
        nw = round(w * width)
        return resize_to(lambda _w, _h: (nw, round(nw / aspect)))(box, seed)
    return run


def sharpen(percent: int) -> Attack:
    """A slight unsharp mask (radius 1 px), as feed pipelines apply after downscaling."""
    def run(a: np.ndarray, seed: int) -> np.ndarray:
        from PIL import ImageFilter

        return np.asarray(_pil(a).filter(ImageFilter.UnsharpMask(radius=1, percent=percent, threshold=2)))
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
"""The attacks of the first benchmarks. Their resizes restore the original size."""

GEOMETRY_ATTACKS: dict[str, Attack] = {
    **{f"scale_{f:g}": scaled(f) for f in (0.33, 0.5, 0.7, 0.9, 1.1, 1.5, 2.0)},
    **{f"cropfit_{round(100 * f)}": crop_fit(f, f) for f in (0.05, 0.10, 0.25)},
    "cropfit_w8": crop_fit(0.0, 0.08),  # 8% of the width cut, the rest stretched back: an aspect change
    "aspect_0.8": scaled(0.8, 1.0),
    "fit_16x9": fit_frame(16 / 9, 0.75),
    "rotate3_scale0.8": chain(rotate(3.0), scaled(0.8)),
    "social_1080": chain(long_side(1080), jpeg(80), sharpen(40)),
    "social_half": chain(scaled(0.5), jpeg(80), sharpen(40)),
}
"""Edits that change the geometry and keep it: resizes that do not restore the size, crop to
fit, aspect changes, rotation with scale, and two social-media chains (resize, JPEG 80, sharpen)."""

ATTACKS.update(GEOMETRY_ATTACKS)


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
