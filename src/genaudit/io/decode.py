"""Decoding encoded bytes into a :class:`~genaudit.io.image.LoadedImage`: sniff, pixel limit
before decoding, decode once, metadata, EXIF orientation, RGB; every failure classified."""

from __future__ import annotations

import hashlib
import os
import re

from .. import errors as E
from ..results import FileWarning, ImageInfo
from .convert import _to_rgb, alpha_of
from .image import ImageMetadata, LoadedImage, LoadLimits, NoPixels
from .metadata import _ORIENTATION_OPS, _extract_metadata
from .pillow import load_strict, quiet_warnings
from .sniff import _ALL_IMAGE_EXTENSIONS, _EXTENSIONS, SUPPORTED_FORMATS, _describe_non_image, sniff_format

_TRUNCATION_HINTS = ("truncated", "Truncated", "unexpected end", "EOF", "end of file", "not enough data",
                     "buffer is not large enough", "incomplete")
_OBJECT_REPR = re.compile(r" ?<[^<>]* at 0x[0-9a-fA-F]+>")


def _looks_truncated(fmt: str, data: bytes) -> bool:
    """Does the container end before its own end marker / declared size?"""
    tail = data[-4096:].rstrip(b"\x00")
    if fmt == "png":
        return b"IEND" not in tail[-16:]
    if fmt == "jpeg":
        return not tail.endswith(b"\xff\xd9")
    if fmt == "gif":
        return not tail.endswith(b";")
    if fmt == "webp":
        return len(data) >= 8 and int.from_bytes(data[4:8], "little") + 8 > len(data)
    if fmt == "bmp":
        return len(data) >= 6 and int.from_bytes(data[2:6], "little") > len(data)
    return False


def _classify_decode_error(fmt: str, data: bytes, exc: BaseException, limits: LoadLimits) -> E.ImageLoadError:
    from PIL import Image

    # Pillow names the file object it read ("<_io.BytesIO object at 0x7f...>"): an address that
    # changes from run to run has no place in a report.
    msg = _OBJECT_REPR.sub("", str(exc)) or type(exc).__name__
    if isinstance(exc, Image.DecompressionBombError):
        m = re.search(r"\((\d+) pixels\)", msg)
        n = int(m.group(1)) if m else None
        declared = f"{n:,} pixels" if n is not None else "more pixels than Pillow allows"
        if n is None or n > limits.max_pixels:
            limit = f"the limit of {limits.max_pixels:,} (max_pixels)"
        else:
            limit = "Pillow's hard limit (raise PIL.Image.MAX_IMAGE_PIXELS as well as max_pixels)"
        return E.ImageLoadError(E.TOO_LARGE, f"image declares {declared}, over {limit}: refused before decoding")
    if isinstance(exc, MemoryError):
        return E.ImageLoadError(E.TOO_LARGE, "decoding ran out of memory")
    if "too large" in msg.lower() and "decompressed" in msg.lower():
        return E.ImageLoadError(E.TOO_LARGE, f"a metadata chunk decompresses to more than allowed ({msg})")
    if any(h in msg for h in _TRUNCATION_HINTS) or (data and _looks_truncated(fmt, data)):
        size = f"{len(data):,} bytes; " if data else ""
        return E.ImageLoadError(E.TRUNCATED, f"{fmt.upper()} data ends early ({size}{msg})")
    return E.ImageLoadError(E.CORRUPT, f"cannot decode {fmt.upper()} data: {msg}")


def _png_bit_depth(data: bytes) -> int | None:
    if len(data) >= 25 and data[12:16] == b"IHDR":
        return data[24]
    return None


def decode_bytes(data: bytes, *, path: str | None = None, limits: LoadLimits = LoadLimits(),  # noqa: B008 - frozen
                 sha256: str | None = None) -> LoadedImage:
    """Decode an image from its encoded bytes (see :mod:`genaudit.io` for the rules).

    Raises :class:`~genaudit.errors.ImageLoadError` with a specific code.

    >>> import numpy as np
    >>> from genaudit.io import encode_png
    >>> img = decode_bytes(encode_png(np.zeros((2, 3, 3), np.uint8), {"Software": "demo"}), path="a.jpg")
    >>> img.info.format, img.array.shape, img.metadata.text["Software"]
    ('png', (2, 3, 3), 'demo')
    >>> [w.code for w in img.info.warnings]
    ['extension_mismatch']
    >>> decode_bytes(b"%PDF-1.7 ...")
    Traceback (most recent call last):
    ...
    genaudit.errors.ImageLoadError: not_an_image: the content is a PDF document, not an image
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise E.ImageLoadError(E.EMPTY_FILE, "the file is empty (0 bytes)")
    sniffed = sniff_format(data[:64])
    if sniffed is None:
        raise E.ImageLoadError(E.NOT_AN_IMAGE, f"the content is {_describe_non_image(data[:512])}, not an image")
    if not sniffed.supported:
        raise E.ImageLoadError(
            E.UNSUPPORTED_FORMAT,
            f"{sniffed.description} is not supported (supported: PNG, JPEG, WebP, GIF, BMP, TIFF)")
    fmt = sniffed.name
    sha = sha256 or hashlib.sha256(data).hexdigest()
    import io as _io

    with quiet_warnings():  # this thread's warnings only: catch_warnings is process-wide
        try:
            im = Image.open(_io.BytesIO(data), formats=[SUPPORTED_FORMATS[fmt]])
        except UnidentifiedImageError as exc:
            raise _classify_decode_error(fmt, data, exc, limits) from None
        except Exception as exc:  # noqa: BLE001 - every decoder failure becomes data
            raise _classify_decode_error(fmt, data, exc, limits) from None
        rgb: Image.Image | None = None
        alpha: np.ndarray | None = None
        try:
            w, h = im.size
            if w <= 0 or h <= 0:
                raise E.ImageLoadError(E.CORRUPT, f"image declares an empty size {w}×{h}")
            if w * h > limits.max_pixels:
                raise E.ImageLoadError(
                    E.TOO_LARGE,
                    f"image declares {w:,}×{h:,} = {w * h:,} pixels, over the limit of {limits.max_pixels:,}"
                    " (max_pixels): refused before decoding")
            original_mode = im.mode
            load_strict(im)  # never a partial image, whatever ImageFile.LOAD_TRUNCATED_IMAGES says
            metadata, orientation = _extract_metadata(im, data)
            rgb, has_alpha, depth = _to_rgb(im)
            alpha = alpha_of(im) if has_alpha else None
            multi_frame = fmt not in ("png", "jpeg", "bmp") or bool(getattr(im, "is_animated", False))
            if rgb is im and multi_frame:
                # Counting frames below seeks, which would replace these pixels: keep a copy.
                rgb = im.copy()
            if fmt == "png":
                depth = max(depth, _png_bit_depth(data) or depth)
            n_frames: int | None = 1
            if multi_frame:
                try:
                    n_frames = int(getattr(im, "n_frames", 1))
                except Exception:  # noqa: BLE001 - a broken later frame does not spoil frame 0
                    n_frames = None
        except E.ImageLoadError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _classify_decode_error(fmt, data, exc, limits) from None
        finally:
            if rgb is not im:  # closing would discard pixels that ``rgb`` still shares
                im.close()
    assert rgb is not None
    if orientation and orientation in _ORIENTATION_OPS:
        op = getattr(Image.Transpose, _ORIENTATION_OPS[orientation][0])
        rgb = rgb.transpose(op)
        if alpha is not None:
            alpha = np.asarray(Image.fromarray(alpha).transpose(op))
    info = ImageInfo(
        format=fmt, width=rgb.width, height=rgb.height, original_mode=original_mode, bit_depth=depth,
        n_frames=n_frames, has_alpha=has_alpha, exif_orientation=orientation,
        warnings=_extension_warnings(path, fmt, sniffed.description))
    return LoadedImage(pil=rgb, info=info, sha256=sha, size_bytes=len(data), path=path, raw=data,
                       metadata=metadata, alpha=alpha)


def _extension_warnings(path: str | None, fmt: str, description: str) -> tuple[FileWarning, ...]:
    ext = os.path.splitext(path)[1].lower() if path is not None else ""
    if not ext or ext in _EXTENSIONS[fmt]:
        return ()
    what = "an image extension" if ext in _ALL_IMAGE_EXTENSIONS else "not an image extension"
    return (FileWarning(E.EXTENSION_MISMATCH, f"named {ext} ({what}) but the content is {description}"),)


#: decoding errors after which a file's bytes were parsed and are worth reading without pixels
VIEWABLE_ERRORS = (E.CORRUPT, E.TRUNCATED)


def undecoded_view(data: bytes, error: E.ImageLoadError, *, path: str | None = None,
                   limits: LoadLimits = LoadLimits(), sha256: str | None = None) -> LoadedImage | None:  # noqa: B008
    """The bytes-only view of a file :func:`decode_bytes` refused with ``error``, for the checks
    that read bytes, not pixels (metadata, C2PA provenance); None when there is none.

    Only ``corrupt`` and ``truncated`` files get one: their container was recognised and parsed up
    to the damage. Limits (``too_large``, ``file_too_large``), unsupported formats and files that are
    not images get none: nothing of them is parsed. ``info`` and ``metadata`` hold what Pillow
    reads from the header without decoding pixels (size 0×0, mode ``unknown`` when not even the
    header parses); ``pil`` is :class:`~genaudit.io.image.NoPixels` and ``decoded`` is False.

    >>> import numpy as np
    >>> from genaudit.io import encode_png
    >>> png = encode_png(np.zeros((4, 6), np.uint8), {"Software": "demo"})
    >>> i = png.index(b"IDAT") + 4  # the first byte of the compressed pixels: damaged, file complete
    >>> bad = png[:i] + bytes([png[i] ^ 0xFF]) + png[i + 1:]
    >>> try:
    ...     decode_bytes(bad)
    ... except E.ImageLoadError as exc:
    ...     code, view = exc.code, undecoded_view(bad, exc)
    >>> code, view.decoded, view.info.width, view.info.height, view.metadata.text
    ('corrupt', False, 6, 4, {'Software': 'demo'})
    """
    sniffed = sniff_format(data[:64])
    if error.code not in VIEWABLE_ERRORS or sniffed is None or not sniffed.supported:
        return None
    import io as _io

    from PIL import Image

    fmt = sniffed.name
    width = height = depth = 0
    mode, metadata, orientation, alpha = "unknown", ImageMetadata(), None, False
    with quiet_warnings():
        try:
            with Image.open(_io.BytesIO(data), formats=[SUPPORTED_FORMATS[fmt]]) as im:
                (width, height), mode = im.size, im.mode
                alpha = "A" in mode or "transparency" in im.info
                depth = (_png_bit_depth(data) if fmt == "png" else None) or (16 if "16" in mode else 8)
                if 0 < width * height <= limits.max_pixels:  # reading late PNG chunks decodes again
                    metadata, orientation = _extract_metadata(im, data)
        except Exception:  # noqa: BLE001 - the header is damaged too: the bytes are all there is
            pass
    info = ImageInfo(format=fmt, width=width, height=height, original_mode=mode, bit_depth=depth, n_frames=None,
                     has_alpha=alpha, exif_orientation=orientation,
                     warnings=_extension_warnings(path, fmt, sniffed.description))
    return LoadedImage(pil=NoPixels(error.code, error.message), info=info,  # type: ignore[arg-type]
                       sha256=sha256 or hashlib.sha256(data).hexdigest(), size_bytes=len(data), path=path, raw=data,
                       metadata=metadata)
