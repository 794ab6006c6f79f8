"""The hostile test corpus: real files of every awkward kind, with the outcome each must get.

Built by the tests in a temporary folder. :func:`build` maps the path relative to the corpus root
to ``"ok"`` or the error code the loader must report when it reads the file.
:data:`IGNORED_IN_SCANS` are the files a scan of the folder leaves out (counted as ignored):
neither named nor sniffed as images.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

from genaudit.samples import png_bytes, png_declaring_size, write

IGNORED_IN_SCANS = frozenset({"notes/README.md", "notes/meta.json", "notes/signer.key"})


def photo(seed: int = 0, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A smooth, photo-like RGB test image (gradients plus shapes, not white noise)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([
        128 + 100 * np.sin(x / (7 + seed % 5) + rng.uniform(0, 6)),
        128 + 100 * np.cos(y / (9 + seed % 3) + rng.uniform(0, 6)),
        128 + 60 * np.sin((x + y) / 13.0),
    ], axis=-1)
    for _ in range(4):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(4, max(5, min(w, h) // 3))
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r ** 2
        img[mask] = rng.integers(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def build(root: str) -> dict[str, str]:
    """Write the corpus under ``root``; return {relative path: expected outcome}."""
    expected: dict[str, str] = {}

    def put(rel: str, data: bytes, outcome: str) -> None:
        write(os.path.join(root, rel), data)
        expected[rel] = outcome

    base = photo(1)
    png = encode(base, "PNG")
    jpg = encode(base, "JPEG", quality=90)
    put("good/plain.png", png, "ok")
    put("good/plain.jpg", jpg, "ok")
    put("good/plain.webp", encode(base, "WEBP", quality=80), "ok")
    put("good/plain.bmp", encode(base, "BMP"), "ok")
    put("good/plain.tiff", encode(base, "TIFF"), "ok")
    put("truncated/half.png", png[: len(png) // 2], "truncated")
    put("truncated/half.jpg", jpg[: len(jpg) // 2], "truncated")
    put("empty.png", b"", "empty_file")
    put("text_named.png", b"Just some notes, not an image at all.\n" * 3, "not_an_image")
    put("bomb_100000x100000.png", png_declaring_size(100_000, 100_000), "too_large")
    put("modes/cmyk.jpg", encode(base.convert("CMYK"), "JPEG", quality=95), "ok")
    sixteen = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    put("modes/grey16.png", encode(Image.fromarray(sixteen), "PNG"), "ok")
    pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    put("modes/palette_transparent.png", encode(pal, "PNG", transparency=0), "ok")
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    put("modes/animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100,
                                     loop=0), "ok")
    put("names/ünïcødé 名前.png", png, "ok")
    put("names/with space.jpg", jpg, "ok")
    put("nested/a/b/c/deep.png", encode(photo(2), "PNG"), "ok")
    put("wrong_extension/actually_png.jpg", encode(photo(3), "PNG"), "ok")
    put("unsupported/image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>',
        "unsupported_format")
    # A PNG whose IDAT data is garbage but whose file is complete (IEND present): corrupt, not truncated.
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    put("corrupt/bad_idat.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\x00garbage" * 8)
        + chunk(b"IEND", b""), "corrupt")
    # Files that are not images next to the images: ignored in folder scans, unless named like an
    # image, named with no extension, or holding an image whatever their name says.
    put("notes/README.md", b"# Generated images\n\nSee the report.\n", "not_an_image")
    put("notes/meta.json", b'{"seed": 7, "model": "gan"}\n', "not_an_image")
    put("notes/signer.key", b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        "not_an_image")
    put("notes/LICENSE", b"Permission is hereby granted, free of charge.\n", "not_an_image")
    put("notes/disguised.dat", encode(photo(5), "PNG"), "ok")
    put("marked/parameters.png", png_bytes(photo(4), text={"parameters": "cat\nSteps: 20, Sampler: Euler a"}), "ok")

    # Links: a loop back to an ancestor, a broken link, a link to a good file.
    os.symlink("..", os.path.join(root, "nested", "a", "loop"))
    expected["nested/a/loop"] = "symlink_loop"
    os.symlink("does-not-exist.png", os.path.join(root, "broken_link.png"))
    expected["broken_link.png"] = "broken_symlink"
    os.symlink(os.path.join("good", "plain.png"), os.path.join(root, "link_to_plain.png"))
    expected["link_to_plain.png"] = "ok"
    # Unreadable (mode 000); root can still read it unless its DAC capabilities are dropped.
    put("unreadable.png", png, "permission_denied")
    os.chmod(os.path.join(root, "unreadable.png"), 0)
    return expected
