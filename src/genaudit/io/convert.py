"""Any Pillow mode to RGB uint8 (alpha composited over white), and the alpha channel itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image


def _to_rgb(im: Image.Image) -> tuple[Image.Image, bool, int]:
    """Convert any Pillow mode to RGB uint8 (alpha composited over white).
    Returns (rgb, had_alpha, bit_depth); see :func:`alpha_of` for the alpha channel itself."""
    import numpy as np
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return im, False, 8
    if mode in ("1",):
        return im.convert("RGB"), False, 1
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        if mode.startswith("I;16"):
            a8 = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
            depth = 16
        elif mode == "I":
            lo, hi = int(a.min()), int(a.max())
            if lo >= 0 and hi <= 255:
                a8, depth = a.astype(np.uint8), 8
            elif lo >= 0 and hi <= 65535:
                a8, depth = ((a.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8), 16
            else:
                span = max(hi - lo, 1)
                a8, depth = ((a.astype(np.float64) - lo) * (255.0 / span)).round().astype(np.uint8), 32
        else:
            f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
            scale = 255.0 if (f.min() >= 0.0 and f.max() <= 1.0) else 1.0
            a8, depth = np.clip(f * scale, 0, 255).round().astype(np.uint8), 32
        return Image.fromarray(a8, "L").convert("RGB"), False, depth
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), True, 8
    return im.convert("RGB"), False, 8


def alpha_of(im: Image.Image) -> np.ndarray | None:
    """The alpha channel (uint8, H×W) of an image that has one, else None.

    >>> from PIL import Image
    >>> alpha_of(Image.new("RGBA", (2, 1), (0, 0, 0, 7))).tolist(), alpha_of(Image.new("RGB", (2, 1)))
    ([[7, 7]], None)
    """
    import numpy as np

    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        return np.asarray(im.convert("RGBA"))[:, :, 3].copy()
    return None
