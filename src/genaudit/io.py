"""The one place genaudit reads images.

* The format is sniffed from the content, never from the file name.
* Files are read once (bounded by ``max_file_bytes``); the sha256 is taken from those bytes.
* The pixel count declared in the header is checked against ``max_pixels`` *before* decoding,
  so decompression bombs are refused without allocating their pixels.
* EXIF orientation is applied; palette / alpha / 16-bit / CMYK / greyscale images become RGB
  uint8 and the original mode is recorded. Alpha is composited over white.
* Every failure is an :class:`~genaudit.errors.ImageLoadError` with a code from
  :data:`genaudit.errors.ERROR_CODES`; nothing returns ``None`` silently.

>>> import numpy as np
>>> img = load_array(np.zeros((4, 6), dtype=np.uint8))
>>> img.array.shape, img.info.original_mode
((4, 6, 3), 'L')
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors as E
from .results import FileError, FileWarning, ImageInfo

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

DEFAULT_MAX_PIXELS = 150_000_000
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024

#: formats genaudit decodes, by sniffed name -> Pillow plugin name
SUPPORTED_FORMATS: dict[str, str] = {
    "png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF",
}
#: file-name extensions that are normal for each supported format
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "png": (".png", ".apng"),
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif", ".jif"),
    "webp": (".webp",),
    "gif": (".gif",),
    "bmp": (".bmp", ".dib"),
    "tiff": (".tif", ".tiff"),
}
_ALL_IMAGE_EXTENSIONS = {e for v in _EXTENSIONS.values() for e in v} | {
    ".heic", ".heif", ".avif", ".jp2", ".j2k", ".jxl", ".ico", ".psd", ".svg", ".qoi", ".tga"}


@dataclass(frozen=True)
class LoadLimits:
    """Resource limits applied to every file before it is decoded."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if self.max_pixels <= 0 or self.max_file_bytes <= 0:
            raise E.ConfigError("max_pixels and max_file_bytes must be positive")


@dataclass(frozen=True)
class ImageMetadata:
    """Metadata the decoder found, kept raw for the checks to interpret."""

    text: dict[str, str] = field(default_factory=dict)
    """Text chunks / comments (PNG tEXt/iTXt/zTXt, JPEG COM, GIF comment)."""
    xmp: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    """Selected EXIF string tags by name (Software, Make, Model, UserComment, ...)."""
    has_icc_profile: bool = False


@dataclass
class LoadedImage:
    """A decoded image: RGB pixels plus what is known about the file it came from.

    ``pil`` is an RGB ``PIL.Image``; ``array`` the same pixels as an (H, W, 3) uint8 array.
    ``raw`` is the file's bytes (empty for in-memory images).
    """

    pil: Image.Image
    info: ImageInfo
    sha256: str
    size_bytes: int
    path: str | None = None
    raw: bytes = b""
    metadata: ImageMetadata = field(default_factory=ImageMetadata)
    alpha: np.ndarray | None = field(default=None, repr=False)
    """The original alpha channel (uint8, H×W) when the image had one; ``pil`` is composited."""
    _array: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_grey(self) -> bool:
        """Was the source greyscale (any bit depth, with or without alpha)?"""
        return self.info.original_mode.split("/")[0] in GREY_MODES

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            import numpy as np

            self._array = np.asarray(self.pil)
        return self._array

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height


# --------------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sniffed:
    """The format a file's leading bytes identify, and whether genaudit decodes it."""

    name: str
    supported: bool
    description: str


def sniff_format(head: bytes) -> Sniffed | None:
    """Identify an image format from the first bytes of a file (32 are enough).

    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24)).name
    'png'
    >>> sniff_format(b"hello world") is None
    True
    """
    h = head
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("png", True, "PNG")
    if h.startswith(b"\xff\xd8\xff"):
        return Sniffed("jpeg", True, "JPEG")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("gif", True, "GIF")
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return Sniffed("webp", True, "WebP")
    if h[:2] == b"BM" and len(h) >= 18 and int.from_bytes(h[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return Sniffed("bmp", True, "BMP")
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("tiff", True, "TIFF")
    # Recognised, but not decoded.
    if h[:4] in (b"II+\x00", b"MM\x00+"):
        return Sniffed("bigtiff", False, "BigTIFF")
    if h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in (b"avif", b"avis"):
            return Sniffed("avif", False, "AVIF")
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return Sniffed("heif", False, "HEIF/HEIC")
        return None
    if h.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or h.startswith(b"\xff\x4f\xff\x51"):
        return Sniffed("jpeg2000", False, "JPEG 2000")
    if h.startswith(b"\xff\x0a") or h.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return Sniffed("jpegxl", False, "JPEG XL")
    if h.startswith(b"8BPS"):
        return Sniffed("psd", False, "Photoshop PSD")
    if h.startswith(b"qoif"):
        return Sniffed("qoi", False, "QOI")
    if h[:4] == b"\x00\x00\x01\x00" and len(h) >= 6 and h[4:6] != b"\x00\x00":
        return Sniffed("ico", False, "Windows icon")
    stripped = h.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in h):
        return Sniffed("svg", False, "SVG (vector graphics)")
    return None


def _describe_non_image(head: bytes) -> str:
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head.startswith(b"\x7fELF"):
        return "an ELF executable"
    if head[:2] == b"\x1f\x8b":
        return "gzip-compressed data"
    sample = head[:512]
    if sample and all(b in b"\t\n\r\f\b" or 32 <= b < 127 or b >= 128 for b in sample):
        try:
            sample.decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return "unrecognised binary data"


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------

def read_file(path: str | os.PathLike[str], limits: LoadLimits = LoadLimits()) -> bytes:
    """Read a regular file's bytes, refusing FIFOs/devices, empty and over-size files.

    Raises :class:`~genaudit.errors.ImageLoadError` with a specific code.
    """
    p = os.fspath(path)
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        raise E.ImageLoadError(E.NOT_FOUND, "no such file") from None
    except PermissionError:
        raise E.ImageLoadError(E.PERMISSION_DENIED, "permission denied while looking up the file") from None
    if stat.S_ISLNK(lst.st_mode):
        try:
            os.stat(p)
        except FileNotFoundError:
            raise E.ImageLoadError(E.BROKEN_SYMLINK,
                                   f"symbolic link to missing target {os.readlink(p)!r}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise E.ImageLoadError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)") from None
            raise
    try:
        # O_NONBLOCK: opening a FIFO must never hang the scan; we check the type right after.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        raise E.ImageLoadError(E.PERMISSION_DENIED, "permission denied: the file is not readable") from None
    except FileNotFoundError:
        raise E.ImageLoadError(E.NOT_FOUND, "the file disappeared before it could be read") from None
    except IsADirectoryError:
        raise E.ImageLoadError(E.NOT_A_REGULAR_FILE, "is a directory") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise E.ImageLoadError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):
            raise E.ImageLoadError(E.NOT_A_REGULAR_FILE, "a socket or device, not a regular file") from None
        raise E.ImageLoadError(E.READ_ERROR, f"cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
            raise E.ImageLoadError(E.NOT_A_REGULAR_FILE, f"{kind}, not a regular file: not opened")
        if st.st_size == 0:
            raise E.ImageLoadError(E.EMPTY_FILE, "the file is empty (0 bytes)")
        if st.st_size > limits.max_file_bytes:
            raise E.ImageLoadError(
                E.FILE_TOO_LARGE,
                f"{st.st_size:,} bytes is over the limit of {limits.max_file_bytes:,} bytes (max_file_bytes)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            # Ask for the size fstat gave (+1 to notice a growing file): asking for the byte limit
            # would make Python allocate the whole limit up front.
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:
                parts = [data]
                total = len(data)
                while total <= limits.max_file_bytes and (more := fh.read(1 << 20)):
                    parts.append(more)
                    total += len(more)
                data = b"".join(parts)
    except OSError as exc:
        raise E.ImageLoadError(E.READ_ERROR, f"I/O error while reading: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if not data:
        raise E.ImageLoadError(E.EMPTY_FILE, "the file is empty (0 bytes)")
    if len(data) > limits.max_file_bytes:
        raise E.ImageLoadError(E.FILE_TOO_LARGE,
                               f"over the limit of {limits.max_file_bytes:,} bytes (max_file_bytes)")
    return data


def open_image(path: str | os.PathLike[str], limits: LoadLimits = LoadLimits()) -> LoadedImage:
    """Read and decode an image file. Raises :class:`~genaudit.errors.ImageLoadError`."""
    p = os.fspath(path)
    data = read_file(p, limits)
    return decode_bytes(data, path=p, limits=limits)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

_TRUNCATION_HINTS = ("truncated", "Truncated", "unexpected end", "EOF", "end of file", "not enough data",
                     "buffer is not large enough", "incomplete")


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

    msg = str(exc) or type(exc).__name__
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
    if any(h in msg for h in _TRUNCATION_HINTS) or _looks_truncated(fmt, data):
        return E.ImageLoadError(E.TRUNCATED, f"{fmt.upper()} data ends early ({len(data):,} bytes; {msg})")
    return E.ImageLoadError(E.CORRUPT, f"cannot decode {fmt.upper()} data: {msg}")


def _png_bit_depth(data: bytes) -> int | None:
    if len(data) >= 25 and data[12:16] == b"IHDR":
        return data[24]
    return None


_ORIENTATION_OPS = {2: ("FLIP_LEFT_RIGHT",), 3: ("ROTATE_180",), 4: ("FLIP_TOP_BOTTOM",),
                    5: ("TRANSPOSE",), 6: ("ROTATE_270",), 7: ("TRANSVERSE",), 8: ("ROTATE_90",)}

_EXIF_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software",
              0x013B: "Artist", 0x0132: "DateTime", 0x8298: "Copyright"}
_EXIF_IFD_TAGS = {0x9286: "UserComment", 0x9003: "DateTimeOriginal"}


def _exif_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip("\x00 ")
    if isinstance(value, bytes):
        # UserComment: 8-byte character-code prefix.
        prefix, body = value[:8], value[8:]
        if prefix.startswith(b"UNICODE"):
            for enc in ("utf-16-be", "utf-16-le"):
                try:
                    text = body.decode(enc)
                except UnicodeDecodeError:
                    continue
                if text.isprintable() or "\n" in text:
                    return text.strip("\x00 ")
            return None
        body = value[8:] if prefix.startswith(b"ASCII") or prefix == b"\x00" * 8 else value
        return body.decode("utf-8", "replace").strip("\x00 ")
    return None


# Formats whose XMP Pillow extracts itself; for the others the raw bytes are searched for a packet.
_XMP_PARSED_BY_PILLOW = ("PNG", "JPEG", "MPO", "WEBP")


def _extract_metadata(im: Image.Image, data: bytes) -> tuple[ImageMetadata, int | None]:
    text: dict[str, str] = {}
    for key, value in im.info.items():
        if isinstance(value, str) and key not in ("xmp",):
            text[str(key)] = value
        elif key in ("comment",) and isinstance(value, bytes):
            text["comment"] = value.decode("utf-8", "replace")
    try:
        png_text = getattr(im, "text", None)  # PNG: also chunks after IDAT
        if isinstance(png_text, dict):
            for k, v in png_text.items():
                text[str(k)] = str(v)
    except Exception:  # noqa: BLE001 - broken trailing chunks must not fail the decode
        pass
    xmp_raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    xmp: str | None
    if isinstance(xmp_raw, bytes):
        xmp = xmp_raw.decode("utf-8", "replace")
    elif isinstance(xmp_raw, str):
        xmp = xmp_raw
    else:
        xmp = None
    if xmp is None and im.format not in _XMP_PARSED_BY_PILLOW:
        start = data.find(b"<x:xmpmeta")
        if start >= 0:
            end = data.find(b"</x:xmpmeta>", start)
            if end > start:
                xmp = data[start:end + 12].decode("utf-8", "replace")
    text.pop("XML:com.adobe.xmp", None)
    exif: dict[str, str] = {}
    orientation: int | None = None
    try:
        ex = im.getexif()
        for tag, name in _EXIF_TAGS.items():
            t = _exif_text(ex.get(tag))
            if t:
                exif[name] = t
        o = ex.get(0x0112)
        orientation = int(o) if isinstance(o, int) and 1 <= o <= 8 else None
        sub = ex.get_ifd(0x8769)
        for tag, name in _EXIF_IFD_TAGS.items():
            t = _exif_text(sub.get(tag))
            if t:
                exif[name] = t
    except Exception:  # noqa: BLE001 - malformed EXIF is common; the pixels are still fine
        pass
    meta = ImageMetadata(text=text, xmp=xmp, exif=exif, has_icc_profile=bool(im.info.get("icc_profile")))
    return meta, orientation


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


def decode_bytes(data: bytes, *, path: str | None = None, limits: LoadLimits = LoadLimits(),
                 sha256: str | None = None) -> LoadedImage:
    """Decode an image from its encoded bytes (see the module docstring for the rules).

    Raises :class:`~genaudit.errors.ImageLoadError` with a specific code.
    """
    import numpy as np
    from PIL import Image, ImageFile, UnidentifiedImageError

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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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
            prev = ImageFile.LOAD_TRUNCATED_IMAGES
            if prev:  # never decode a partial image silently, whatever the caller set globally
                ImageFile.LOAD_TRUNCATED_IMAGES = False
            try:
                im.load()
            finally:
                if prev:
                    ImageFile.LOAD_TRUNCATED_IMAGES = prev
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
    warns: list[FileWarning] = []
    if path is not None:
        ext = os.path.splitext(path)[1].lower()
        if ext and ext not in _EXTENSIONS[fmt]:
            what = "an image extension" if ext in _ALL_IMAGE_EXTENSIONS else "not an image extension"
            warns.append(FileWarning(E.EXTENSION_MISMATCH,
                                     f"named {ext} ({what}) but the content is {sniffed.description}"))
    info = ImageInfo(
        format=fmt, width=rgb.width, height=rgb.height, original_mode=original_mode, bit_depth=depth,
        n_frames=n_frames, has_alpha=has_alpha, exif_orientation=orientation, warnings=tuple(warns))
    return LoadedImage(pil=rgb, info=info, sha256=sha, size_bytes=len(data), path=path, raw=data,
                       metadata=metadata, alpha=alpha)


def alpha_of(im: Image.Image) -> np.ndarray | None:
    """The alpha channel (uint8, H×W) of an image that has one, else None."""
    import numpy as np

    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        return np.asarray(im.convert("RGBA"))[:, :, 3].copy()
    return None


GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")


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
    """A :class:`LoadedImage` from a path, bytes, ``PIL.Image`` or array."""
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


def encode_png(image: Any, text: dict[str, str] | None = None) -> bytes:
    """Encode an array ((H, W) grey, (H, W, 3) RGB, uint8) or ``PIL.Image`` as PNG with text chunks."""
    import io as _io

    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    img = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = _io.BytesIO()
    img.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def write_atomic(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    crash never leaves a half-written file. Creates the folder. Returns the path."""
    import tempfile

    p = os.fspath(path)
    d = os.path.dirname(os.path.abspath(p))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(p)[1], dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def write_png(path: str | os.PathLike[str], image: Any, text: dict[str, str] | None = None) -> str:
    """Write :func:`encode_png` output atomically (:func:`write_atomic`). Returns the path."""
    return write_atomic(path, encode_png(image, text))


def _pixel_sha256(rgb: Image.Image) -> str:
    h = hashlib.sha256()
    h.update(f"{rgb.width}x{rgb.height}:RGB:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Walking inputs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputItem:
    """One input path found by :func:`iter_inputs`; ``error`` is set when it cannot even be opened."""

    path: str
    error: FileError | None = None


def _excluded(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def iter_inputs(paths: Iterable[str | os.PathLike[str]], *, exclude: Sequence[str] = (),
                exclude_dirs: Sequence[str] = ()) -> Iterator[InputItem]:
    """Yield every file under ``paths`` exactly once, in a stable (sorted) order.

    Directories are walked recursively. Symbolic links to directories are followed unless they
    lead back to a directory already on the current walk (a loop), which is reported as
    ``symlink_loop``; broken links are reported as ``broken_symlink``. ``exclude`` holds glob
    patterns matched against the path relative to its root and against the bare name.
    ``exclude_dirs`` are directories (e.g. the report directory) that are never entered.
    """
    seen: set[str] = set()
    skip_dirs: set[tuple[int, int]] = set()
    for d in exclude_dirs:
        try:
            st = os.stat(d)
            skip_dirs.add((st.st_dev, st.st_ino))
        except OSError:
            continue

    def emit(path: str, error: FileError | None = None) -> Iterator[InputItem]:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            yield InputItem(path, error)

    def list_dir(top: str) -> list[os.DirEntry[str]] | FileError:
        try:
            with os.scandir(top) as it:
                return sorted(it, key=lambda e: e.name)
        except PermissionError:
            return FileError(E.PERMISSION_DENIED, "directory cannot be listed: permission denied")
        except OSError as exc:
            return FileError(E.READ_ERROR, f"directory cannot be listed: {exc.strerror or exc}")

    def entry_stat(entry: os.DirEntry[str]) -> tuple[os.stat_result | None, FileError | None]:
        """Stat an entry, following a link; a problem becomes a FileError."""
        try:
            if not entry.is_symlink():
                return entry.stat(follow_symlinks=False), None
            try:
                return os.stat(entry.path), None
            except FileNotFoundError:
                return None, FileError(E.BROKEN_SYMLINK, f"symbolic link to missing target {os.readlink(entry.path)!r}")
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return None, FileError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)")
                raise
        except PermissionError:
            return None, FileError(E.PERMISSION_DENIED, "cannot stat: permission denied")
        except OSError as exc:
            return None, FileError(E.READ_ERROR, f"cannot stat: {exc.strerror or exc}")

    def walk(top: str, top_key: tuple[int, int]) -> Iterator[InputItem]:
        """Depth-first, sorted, with an explicit stack (no recursion limit on deep trees)."""
        listing = list_dir(top)
        if isinstance(listing, FileError):
            yield from emit(top, listing)
            return
        # Each frame: the remaining entries of one directory and the directories above it.
        stack: list[tuple[list[os.DirEntry[str]], int, frozenset[tuple[int, int]]]] = [
            (listing, 0, frozenset({top_key}))]
        while stack:
            entries, i, ancestors = stack.pop()
            if i >= len(entries):
                continue
            entry = entries[i]
            stack.append((entries, i + 1, ancestors))
            if _excluded(os.path.relpath(entry.path, top), entry.name, exclude):
                continue
            st, error = entry_stat(entry)
            if st is None:
                yield from emit(entry.path, error)
                continue
            if not stat.S_ISDIR(st.st_mode):
                yield from emit(entry.path)
                continue
            key = (st.st_dev, st.st_ino)
            if key in skip_dirs:
                continue
            if key in ancestors:
                target = os.readlink(entry.path) if entry.is_symlink() else entry.path
                yield from emit(entry.path, FileError(
                    E.SYMLINK_LOOP, f"link to {target!r} leads back to a directory being walked: not followed"))
                continue
            sub = list_dir(entry.path)
            if isinstance(sub, FileError):
                yield from emit(entry.path, sub)
            else:
                stack.append((sub, 0, ancestors | {key}))

    for raw in paths:
        p = os.fspath(raw)
        if not os.path.lexists(p):
            yield from emit(p, FileError(E.NOT_FOUND, "no such file or directory"))
            continue
        try:
            st = os.stat(p)
        except FileNotFoundError:
            yield from emit(p, FileError(E.BROKEN_SYMLINK, f"symbolic link to missing target {os.readlink(p)!r}"))
            continue
        except PermissionError:
            yield from emit(p, FileError(E.PERMISSION_DENIED, "cannot stat: permission denied"))
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                yield from emit(p, FileError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)"))
            else:
                yield from emit(p, FileError(E.READ_ERROR, f"cannot stat: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from walk(p, (st.st_dev, st.st_ino))
        else:
            yield from emit(p)
