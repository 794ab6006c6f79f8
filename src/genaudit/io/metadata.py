"""Metadata the decoder found (text chunks, XMP, selected EXIF tags, ICC) and the EXIF orientation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .image import ImageMetadata

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

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
