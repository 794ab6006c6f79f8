"""In-memory images (``PIL.Image``, arrays, encoded bytes) and "anything" as a
:class:`~genaudit.io.image.LoadedImage`, under the same :class:`~genaudit.io.image.LoadLimits`
as files: the pixel limit is checked before anything is decoded, converted or copied, and bytes
over ``max_file_bytes`` are refused before they are decoded. An object that is not an image
raises :class:`~genaudit.errors.ImageLoadError` with code ``invalid_input``.

>>> from PIL import Image
>>> img = load_pil(Image.new("LA", (3, 2)))
>>> img.array.shape, img.info.original_mode, img.info.has_alpha
((2, 3, 3), 'LA', True)
>>> load_pil(Image.new("L", (64, 64)), limits=LoadLimits(max_pixels=100))
Traceback (most recent call last):
...
genaudit.errors.ImageLoadError: too_large: the image has 64×64 = 4,096 pixels, over the limit of 100 (max_pixels)
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..results import ImageInfo
from .convert import _to_rgb, alpha_of
from .decode import _classify_decode_error, decode_bytes
from .image import LoadedImage, LoadLimits
from .metadata import _extract_metadata
from .pillow import load_strict, quiet_warnings
from .read import open_image

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

_DEFAULT_LIMITS = LoadLimits()
_EXPECTED = "expected a PIL image, a numpy array, encoded image bytes or a path"


def _type_name(obj: Any) -> str:
    return "None" if obj is None else type(obj).__name__


def _check_pixels(width: int, height: int, limits: LoadLimits) -> None:
    if width * height > limits.max_pixels:
        raise E.ImageLoadError(
            E.TOO_LARGE, f"the image has {width:,}×{height:,} = {width * height:,} pixels, over the limit of"
                         f" {limits.max_pixels:,} (max_pixels)")


def _check_bytes(n: int, limits: LoadLimits) -> None:
    if n > limits.max_file_bytes:
        raise E.ImageLoadError(
            E.FILE_TOO_LARGE, f"{n:,} bytes is over the limit of {limits.max_file_bytes:,} bytes (max_file_bytes)")


def load_pil(image: Image.Image, *, path: str | None = None, limits: LoadLimits | None = None) -> LoadedImage:
    """Wrap an in-memory ``PIL.Image`` (any mode) as a :class:`LoadedImage` (no file needed).

    Raises :class:`~genaudit.errors.ImageLoadError`: ``invalid_input`` (not a PIL image, closed,
    empty, a mode with no RGB conversion), ``too_large`` (checked before the pixels are loaded
    or copied), ``truncated`` / ``corrupt`` (an image opened lazily from broken data).
    """
    from PIL import Image

    lim = limits or _DEFAULT_LIMITS
    if not isinstance(image, Image.Image):
        raise E.ImageLoadError(E.INVALID_INPUT, f"expected a PIL image, got {_type_name(image)}")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise E.ImageLoadError(E.INVALID_INPUT, f"the PIL image is empty ({width}×{height} pixels)")
    _check_pixels(width, height, lim)
    fmt = (image.format or "image").lower()
    with quiet_warnings():
        try:
            load_strict(image)  # never a partial image, like files
        except ValueError as exc:
            if "closed" in str(exc):
                raise E.ImageLoadError(E.INVALID_INPUT, "the PIL image is closed") from None
            raise _classify_decode_error(fmt, b"", exc, lim) from None
        except Exception as exc:  # noqa: BLE001 - a lazily opened image whose data is broken
            raise _classify_decode_error(fmt, b"", exc, lim) from None
        try:
            rgb, has_alpha, depth = _to_rgb(image)
            alpha = alpha_of(image) if has_alpha else None
            if rgb is image:
                rgb = image.copy()
            rgb = rgb.convert("RGB") if rgb.mode != "RGB" else rgb
            meta, _ = _extract_metadata(image, b"")
        except Exception as exc:  # noqa: BLE001 - e.g. a mode Pillow cannot convert to RGB
            raise E.ImageLoadError(E.INVALID_INPUT, f"cannot convert a PIL image in mode {image.mode} to RGB:"
                                                    f" {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                   ) from None
    sha = _pixel_sha256(rgb)
    info = ImageInfo(format="memory", width=rgb.width, height=rgb.height, original_mode=image.mode,
                     bit_depth=depth, n_frames=1, has_alpha=has_alpha)
    return LoadedImage(pil=rgb, info=info, sha256=sha, size_bytes=0, path=path, metadata=meta, alpha=alpha)


def load_array(array: Any, *, path: str | None = None, limits: LoadLimits | None = None) -> LoadedImage:
    """Wrap an array as a :class:`LoadedImage`: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA.

    uint8 is taken as is; uint16 is scaled from 0..65535; floats are taken as 0..1. Raises
    :class:`~genaudit.errors.ImageLoadError`: ``invalid_input`` (another shape, an empty array,
    a dtype that is not a number), ``too_large`` (checked before any conversion).

    >>> import numpy as np
    >>> load_array(np.zeros((4, 4, 2), np.uint8))
    Traceback (most recent call last):
    ...
    genaudit.errors.ImageLoadError: invalid_input: expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape (4, 4, 2)
    """
    import numpy as np
    from PIL import Image

    lim = limits or _DEFAULT_LIMITS
    try:
        a = np.asarray(array)
    except Exception as exc:  # noqa: BLE001 - e.g. ragged nested lists
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise E.ImageLoadError(E.INVALID_INPUT, f"{_type_name(array)} is not an array of pixels: {first}") from None
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise E.ImageLoadError(E.INVALID_INPUT,
                               f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {a.shape}")
    _check_pixels(a.shape[1], a.shape[0], lim)
    if a.dtype == np.uint8:
        a8 = a
    elif a.dtype == np.uint16:
        a8 = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype == np.bool_:
        a8 = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        a8 = np.clip(f * 255.0, 0, 255).round().astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        a8 = np.clip(a, 0, 255).astype(np.uint8)
    else:
        raise E.ImageLoadError(E.INVALID_INPUT, f"unsupported array dtype {a.dtype}: expected integers, floats"
                                                " or booleans")
    mode = "L" if a8.ndim == 2 else ("RGB" if a8.shape[2] == 3 else "RGBA")
    img = load_pil(Image.fromarray(np.ascontiguousarray(a8), mode), path=path, limits=lim)
    if a.dtype != np.uint8:
        img.info = ImageInfo(**{**img.info.__dict__, "original_mode": f"{mode}/{a.dtype}"})
    return img


def load_any(obj: Any, *, limits: LoadLimits | None = None) -> LoadedImage:
    """A :class:`LoadedImage` from a path, encoded bytes, ``PIL.Image`` or array, under ``limits``.

    Raises :class:`~genaudit.errors.ImageLoadError`; an object of another type gives
    ``invalid_input``.

    >>> load_any([[0, 255], [255, 0]]).info.original_mode
    'L/int64'
    >>> try:
    ...     load_any(42)
    ... except E.ImageLoadError as exc:
    ...     print(exc.code, "|", exc.message)
    invalid_input | expected a PIL image, a numpy array, encoded image bytes or a path; got int
    >>> load_any(b"\\x89PNG" + bytes(200), limits=LoadLimits(max_file_bytes=100))
    Traceback (most recent call last):
    ...
    genaudit.errors.ImageLoadError: file_too_large: 204 bytes is over the limit of 100 bytes (max_file_bytes)
    """
    lim = limits or _DEFAULT_LIMITS
    if isinstance(obj, LoadedImage):
        _check_pixels(obj.width, obj.height, lim)
        _check_bytes(obj.size_bytes, lim)
        return obj
    if isinstance(obj, str | os.PathLike):
        return open_image(obj, lim)
    if isinstance(obj, bytes | bytearray | memoryview):
        _check_bytes(obj.nbytes if isinstance(obj, memoryview) else len(obj), lim)
        return decode_bytes(bytes(obj), limits=lim)
    from PIL import Image

    if isinstance(obj, Image.Image):
        return load_pil(obj, limits=lim)
    if isinstance(obj, list | tuple) or hasattr(obj, "__array__") or hasattr(obj, "__array_interface__"):
        return load_array(obj, limits=lim)
    raise E.ImageLoadError(E.INVALID_INPUT, f"{_EXPECTED}; got {_type_name(obj)}")


def _pixel_sha256(rgb: Image.Image) -> str:
    h = hashlib.sha256()
    h.update(f"{rgb.width}x{rgb.height}:RGB:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()
