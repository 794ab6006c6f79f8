"""Real sample images and deliberately broken files, for the demo, tests and benchmarks.

Photographs come from data shipped inside installed packages (scikit-learn's sample images,
and scikit-image's data when it is installed) and Fashion-MNIST from the Debian package
``dataset-fashion-mnist``; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from .datasets import FASHION_MNIST_DIR


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def photo_paths() -> list[str]:
    """Paths of real photographs shipped inside installed packages (sorted, may be empty)."""
    found: list[str] = []
    sk = _package_dir("sklearn")
    if sk:
        d = os.path.join(sk, "datasets", "images")
        found += [os.path.join(d, f) for f in ("china.jpg", "flower.jpg") if os.path.isfile(os.path.join(d, f))]
    ski = _package_dir("skimage")
    if ski:
        d = os.path.join(ski, "data")
        if os.path.isdir(d):
            found += [os.path.join(d, f) for f in sorted(os.listdir(d))
                      if f.endswith((".png", ".jpg")) and os.path.getsize(os.path.join(d, f)) > 20_000]
    return sorted(found)


OPENCV_SAMPLES_DIR = "/usr/share/doc/opencv-doc/examples/data"
#: colour photographs among opencv-doc's sample data (renders, logos, charts and text left out)
OPENCV_PHOTOS = (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
    "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg", "left.jpg",
    "right.jpg", "leuvenA.jpg", "leuvenB.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg",
    "pca_test1.jpg", "rubberwhale1.png", "rubberwhale2.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg",
)
#: opencv-doc's synthetic drawings (flat shapes, binary graphics, noise): not photographs, kept apart
#: so that benchmarks on "natural photographs" can report them separately
OPENCV_GRAPHICS = ("pic1.png", "pic2.png", "pic3.png", "pic4.png", "pic5.png", "pic6.png")
#: colour photographs in scikit-image's bundled data
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "motorcycle_right.png", "hubble_deep_field.jpg", "immunohistochemistry.png", "retina.jpg")


def natural_photo_paths() -> list[str]:
    """Colour photographs available offline: scikit-learn's and scikit-image's sample photos and
    opencv-doc's sample data (Debian package ``opencv-doc``, installed by scripts/setup.sh)."""
    found = [p for p in photo_paths() if os.path.basename(p).startswith(("china", "flower"))]
    ski = _package_dir("skimage")
    if ski:
        found += [os.path.join(ski, "data", f) for f in SKIMAGE_PHOTOS if os.path.isfile(os.path.join(ski, "data", f))]
    return found + _opencv_samples(OPENCV_PHOTOS)


def _opencv_samples(names: Sequence[str]) -> list[str]:
    """Paths of those opencv-doc sample files that are installed."""
    return [os.path.join(OPENCV_SAMPLES_DIR, f) for f in names if os.path.isfile(os.path.join(OPENCV_SAMPLES_DIR, f))]


def graphics_paths() -> list[str]:
    """Synthetic drawings from opencv-doc (shapes on flat backgrounds): the hard case for an
    invisible watermark, since tone edits clip their flat black and white areas entirely."""
    return _opencv_samples(OPENCV_GRAPHICS)


def photo_crops(size: int, n: int, seed: int = 0, paths: list[str] | None = None) -> Iterator[tuple[str, Any]]:
    """``n`` square RGB crops (uint8 arrays, ``size``²) of the natural photographs, deterministic for
    a seed: each crop covers 55–100 % of a photo's shorter side at a random position, resized with
    Lanczos. Photos are used in turn, so the crops spread over all of them."""
    import numpy as np
    from PIL import Image

    paths = paths if paths is not None else natural_photo_paths()
    if not paths:
        raise FileNotFoundError("no natural photographs found (scikit-learn, scikit-image, opencv-doc)")
    rng = np.random.default_rng(seed)
    cache: dict[str, Any] = {}
    for i in range(n):
        path = paths[i % len(paths)]
        if path not in cache:
            with Image.open(path) as im:
                cache[path] = im.convert("RGB")
        img = cache[path]
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.55, 1.0))
        x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = img.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.LANCZOS)
        yield f"{os.path.splitext(os.path.basename(path))[0]}_{i}", np.asarray(crop)


def load_photos(max_side: int | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, RGB PIL image)`` for every photograph from :func:`photo_paths`."""
    from PIL import Image

    for p in photo_paths():
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        if max_side and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        yield os.path.splitext(os.path.basename(p))[0], rgb


def fashion_mnist(split: str = "t10k", limit: int | None = None,
                  directory: str = FASHION_MNIST_DIR) -> tuple[Any, Any]:
    """Fashion-MNIST images (N, 28, 28) uint8 and labels (N,) from the IDX files (``t10k``/``test``
    or ``train``). Raises FileNotFoundError naming the Debian package when the files are missing."""
    from .datasets import load_fashion_mnist

    images, labels = load_fashion_mnist("test" if split in ("t10k", "test") else split, directory)
    return (images, labels) if limit is None else (images[:limit], labels[:limit])


# --------------------------------------------------------------------------------------------
# Writers for marked and broken files
# --------------------------------------------------------------------------------------------

IPTC_DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def xmp_packet(digital_source_type: str = "trainedAlgorithmicMedia", creator_tool: str | None = None) -> str:
    """A minimal XMP packet declaring an IPTC digital source type."""
    tool = f' xmp:CreatorTool="{creator_tool}"' if creator_tool else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/"{tool}'
        f' Iptc4xmpExt:DigitalSourceType="{IPTC_DST}{digital_source_type}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def png_bytes(image: Any, text: dict[str, str] | None = None, xmp: str | None = None) -> bytes:
    """Encode a PIL image as PNG with optional text chunks and an XMP packet."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_bytes(image: Any, quality: int = 90, xmp: str | None = None, **kw: Any) -> bytes:
    buf = io.BytesIO()
    if xmp is not None:
        kw["xmp"] = xmp.encode("utf-8")
    image.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def png_declaring_size(width: int, height: int) -> bytes:
    """A tiny, well-formed-looking PNG whose header declares ``width``×``height`` RGB pixels.

    It is a decompression bomb in miniature: decoding it would allocate width×height×3 bytes.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a PNG file."""
    import struct

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    out, i = [], 8
    while i + 8 <= len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        out.append((data[i + 4:i + 8], data[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def build_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    import struct
    import zlib

    body = b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + body


def replace_png_pixels(original: bytes, new_png: bytes) -> bytes:
    """``original`` with its image data (IDAT chunks) replaced by ``new_png``'s, every other chunk
    (text, a C2PA ``caBX`` manifest) kept: a pixel edit that leaves the metadata alone, as a
    careless tool would. Both images must have the same size and colour type."""
    new_idat = [c for c in png_chunks(new_png) if c[0] == b"IDAT"]
    chunks = png_chunks(original)
    first = next(i for i, c in enumerate(chunks) if c[0] == b"IDAT")
    rest = [c for c in chunks if c[0] != b"IDAT"]
    return build_png(rest[:first] + new_idat + rest[first:])


def write_demo_corpus(directory: str) -> list[str]:
    """Write the demo folder: real photographs in several formats, Fashion-MNIST items, files
    carrying AI-generation markers, and a few broken files. Returns the paths written."""
    from PIL import Image

    written: list[str] = []
    photos = list(load_photos(max_side=640))
    for i, (name, img) in enumerate(photos[:6]):
        if i % 3 == 0:
            written.append(write(os.path.join(directory, "photos", f"{name}.jpg"), jpeg_bytes(img, 90)))
        elif i % 3 == 1:
            written.append(write(os.path.join(directory, "photos", f"{name}.png"), png_bytes(img)))
        else:
            buf = io.BytesIO()
            img.save(buf, "WEBP", quality=85)
            written.append(write(os.path.join(directory, "photos", f"{name}.webp"), buf.getvalue()))
    if photos:
        name, img = photos[0]
        small = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        small.convert("L").save(buf, "TIFF")
        written.append(write(os.path.join(directory, "photos", "nested", f"{name}_grey.tiff"), buf.getvalue()))
        written.append(write(os.path.join(directory, "photos", "nested", "café crop.png"),
                             png_bytes(img.crop((0, 0, img.width // 2, img.height // 2)))))
        # Files that say they were generated (the photo is real; the markers are what is tested).
        written.append(write(os.path.join(directory, "marked", "iptc_trained_algorithmic.jpg"),
                             jpeg_bytes(small, 90, xmp=xmp_packet("trainedAlgorithmicMedia"))))
        params = ("a photo of a building, golden hour\nNegative prompt: blurry\n"
                  "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 320x213")
        written.append(write(os.path.join(directory, "marked", "webui_parameters.png"),
                             png_bytes(small, text={"parameters": params})))
        # Broken files.
        jpg = jpeg_bytes(img, 90)
        written.append(write(os.path.join(directory, "broken", "truncated.jpg"), jpg[: len(jpg) // 2]))
    try:
        images, labels = fashion_mnist("t10k", limit=6)
        for k, (a, y) in enumerate(zip(images, labels, strict=True)):
            written.append(write(os.path.join(directory, "fashion-mnist", f"test_{k}_label{int(y)}.png"),
                                 png_bytes(Image.fromarray(a, "L"))))
    except FileNotFoundError:
        pass
    written.append(write(os.path.join(directory, "broken", "empty.png"), b""))
    written.append(write(os.path.join(directory, "broken", "notes.png"), b"this is a text file, not a PNG\n"))
    written.append(write(os.path.join(directory, "broken", "bomb.png"), png_declaring_size(100_000, 100_000)))
    return written
