"""In-memory images (``PIL.Image``, arrays) and "anything" as a :class:`~genaudit.io.image.LoadedImage`.

>>> from PIL import Image
>>> img = load_pil(Image.new("LA", (3, 2)))
>>> img.array.shape, img.info.original_mode, img.info.has_alpha
((2, 3, 3), 'LA', True)
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from ..results import ImageInfo
from .convert import _to_rgb, alpha_of
from .decode import decode_bytes
from .image import LoadedImage
from .metadata import _extract_metadata
from .read import open_image

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


def load_pil(image: Image.Image, *, path: str | None = None) -> LoadedImage:
    """Wrap an in-memory ``PIL.Image`` (any mode) as a :class:`LoadedImage` (no file needed)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL.Image.Image, got {type(image).__name__}")
    image.load()
    rgb, has_alpha, depth = _to_rgb(image)
    alpha = alpha_of(image) if has_alpha else None
    if rgb is image:
        rgb = image.copy()
    rgb = rgb.convert("RGB") if rgb.mode != "RGB" else rgb
    meta, _ = _extract_metadata(image, b"")
    sha = _pixel_sha256(rgb)
    info = ImageInfo(format="memory", width=rgb.width, height=rgb.height, original_mode=image.mode,
                     bit_depth=depth, n_frames=1, has_alpha=has_alpha)
    return LoadedImage(pil=rgb, info=info, sha256=sha, size_bytes=0, path=path, metadata=meta, alpha=alpha)


def load_array(array: Any, *, path: str | None = None) -> LoadedImage:
    """Wrap an array as a :class:`LoadedImage`: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA.

    uint8 is taken as is; uint16 is scaled from 0..65535; floats are taken as 0..1.
    """
    import numpy as np
    from PIL import Image

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {a.shape}")
    if a.dtype == np.uint8:
        a8 = a
    elif a.dtype == np.uint16:
        a8 = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype == np.bool_:
        a8 = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        a8 = np.clip(np.nan_to_num(a, nan=0.0) * 255.0, 0, 255).round().astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        a8 = np.clip(a, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unsupported array dtype {a.dtype}")
    mode = "L" if a8.ndim == 2 else ("RGB" if a8.shape[2] == 3 else "RGBA")
    img = load_pil(Image.fromarray(np.ascontiguousarray(a8), mode), path=path)
    if a.dtype != np.uint8:
        img.info = ImageInfo(**{**img.info.__dict__, "original_mode": f"{mode}/{a.dtype}"})
    return img


def load_any(obj: Any) -> LoadedImage:
    """A :class:`LoadedImage` from a path, bytes, ``PIL.Image`` or array.

    >>> load_any([[0, 255], [255, 0]]).info.original_mode
    'L/int64'
    """
    if isinstance(obj, LoadedImage):
        return obj
    if isinstance(obj, str | os.PathLike):
        return open_image(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return decode_bytes(bytes(obj))
    try:
        from PIL import Image

        if isinstance(obj, Image.Image):
            return load_pil(obj)
    except ImportError:  # pragma: no cover
        pass
    return load_array(obj)


def _pixel_sha256(rgb: Image.Image) -> str:
    h = hashlib.sha256()
    h.update(f"{rgb.width}x{rgb.height}:RGB:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()
