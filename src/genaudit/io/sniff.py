"""Format sniffing: which image format a file's leading bytes identify (never its name).

>>> sniff_format(b"GIF89a" + bytes(26))
Sniffed(name='gif', supported=True, description='GIF')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
#: every extension that names an image, decoded or not (folder walks never ignore these files)
_ALL_IMAGE_EXTENSIONS = {e for v in _EXTENSIONS.values() for e in v} | {
    ".heic", ".heif", ".avif", ".jp2", ".j2k", ".jpf", ".jpx", ".jxl", ".jxr", ".wdp", ".ico", ".cur", ".icns",
    ".psd", ".svg", ".svgz", ".qoi", ".tga", ".pcx", ".ppm", ".pgm", ".pbm", ".pnm", ".pfm", ".exr", ".hdr",
    ".dds", ".xcf", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".raw", ".mpo"}


def named_as_image(path: str) -> bool:
    """Does the file name have an image extension, or none (a file that could be anything)?

    >>> [named_as_image(p) for p in ("a.PNG", "x/README", "notes.txt", "photo.heic", ".hidden")]
    [True, True, False, True, True]
    """
    ext = os.path.splitext(path)[1].lower()
    return not ext or ext in _ALL_IMAGE_EXTENSIONS


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
