"""The loader on real files of every awkward kind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genaudit import errors as E
from genaudit.io import (
    LoadLimits,
    decode_bytes,
    iter_inputs,
    load_array,
    load_pil,
    open_image,
    read_file,
    sniff_format,
)
from genaudit.samples import png_declaring_size
from tests.conftest import _drop_dac_capabilities, permissions_enforced
from tests.corpus import encode, photo


def _code(path: Path, limits: LoadLimits | None = None) -> str:
    try:
        open_image(path, limits or LoadLimits())
    except E.ImageLoadError as exc:
        return exc.code
    return "ok"


def test_every_corpus_file_gets_its_specific_outcome(hostile: tuple[Path, dict[str, str]]) -> None:
    root, expected = hostile
    got = {}
    for rel, want in expected.items():
        if want in ("symlink_loop", "permission_denied"):
            continue  # walking / permissions: tested separately
        got[rel] = _code(root / rel)
    assert got == {k: v for k, v in expected.items() if k in got}


def test_sniffing_ignores_the_extension(hostile: tuple[Path, dict[str, str]]) -> None:
    root, _ = hostile
    img = open_image(root / "wrong_extension/actually_png.jpg")
    assert img.info.format == "png"
    assert [w.code for w in img.info.warnings] == [E.EXTENSION_MISMATCH]
    assert open_image(root / "good/plain.jpg").info.warnings == ()


@pytest.mark.parametrize(("head", "name", "supported"), [
    (b"\x89PNG\r\n\x1a\n", "png", True), (b"\xff\xd8\xff\xe0", "jpeg", True), (b"GIF89a", "gif", True),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp", True), (b"II*\x00", "tiff", True), (b"MM\x00*", "tiff", True),
    (b"BM" + bytes(12) + b"\x28\x00\x00\x00", "bmp", True),
    (b"\x00\x00\x00\x18ftypavif", "avif", False), (b"\x00\x00\x00\x18ftypheic", "heif", False),
    (b"8BPS", "psd", False), (b"<?xml version='1.0'?><svg>", "svg", False),
])
def test_sniff_format(head: bytes, name: str, supported: bool) -> None:
    s = sniff_format(head + bytes(32))
    assert s is not None
    assert (s.name, s.supported) == (name, supported)


@pytest.mark.parametrize("head", [b"%PDF-1.7", b"PK\x03\x04", b"hello", b"BM not a bitmap", b"\x00" * 40])
def test_non_images_are_not_sniffed(head: bytes) -> None:
    assert sniff_format(head) is None


def test_pixel_limit_applies_before_decoding() -> None:
    # 20000x20000 declared (400 MP, past Pillow's own guard too) and 3000x3000 under a small custom limit.
    with pytest.raises(E.ImageLoadError) as exc:
        decode_bytes(png_declaring_size(20_000, 20_000))
    assert exc.value.code == E.TOO_LARGE
    assert "400,000,000 pixels" in exc.value.message
    with pytest.raises(E.ImageLoadError) as exc:
        decode_bytes(png_declaring_size(3000, 3000), limits=LoadLimits(max_pixels=1_000_000))
    assert exc.value.code == E.TOO_LARGE
    assert "3,000×3,000" in exc.value.message and "1,000,000" in exc.value.message
    # The same kind of header under a generous limit is decoded far enough to find the data broken.
    with pytest.raises(E.ImageLoadError) as exc:
        decode_bytes(png_declaring_size(300, 300))
    assert exc.value.code in (E.TRUNCATED, E.CORRUPT)


def test_file_byte_limit(tmp_path: Path) -> None:
    p = tmp_path / "x.png"
    p.write_bytes(encode(photo(), "PNG"))
    with pytest.raises(E.ImageLoadError) as exc:
        read_file(p, LoadLimits(max_file_bytes=100))
    assert exc.value.code == E.FILE_TOO_LARGE


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    a = np.linspace(0, 65535, 256 * 4).reshape(4, 256).astype(np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    img = open_image(p)
    assert img.info.bit_depth == 16
    assert img.info.original_mode.startswith("I")
    grey = img.array[:, :, 0].astype(int)
    np.testing.assert_allclose(grey, np.round(a / 257.0), atol=1)
    assert grey.min() == 0 and grey.max() == 255


def test_palette_with_transparency_composited_on_white(tmp_path: Path) -> None:
    # Palette index 1 is red, index 0 is fully transparent: top half red, bottom half transparent.
    p = tmp_path / "p.png"
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.paste(1, (0, 0, 8, 4))
    pal.save(p, transparency=0)
    img = open_image(p)
    assert img.info.original_mode == "P" and img.info.has_alpha
    assert tuple(img.array[0, 0]) == (255, 0, 0)
    assert tuple(img.array[7, 7]) == (255, 255, 255)


def test_cmyk_jpeg_converted_to_rgb(tmp_path: Path) -> None:
    base = photo(5)
    p = tmp_path / "c.jpg"
    base.convert("CMYK").save(p, quality=98)
    img = open_image(p)
    assert img.info.original_mode == "CMYK"
    assert img.array.shape == (base.height, base.width, 3)
    assert np.abs(img.array.astype(int) - np.asarray(base).astype(int)).mean() < 12


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((200, 10, 10), (10, 200, 10), (10, 10, 200))]
    p = tmp_path / "a.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=50)
    img = open_image(p)
    assert img.info.n_frames == 3
    r, g, b = (int(v) for v in img.array[5, 5])
    assert r > 150 and g < 60 and b < 60


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    p = tmp_path / "o.jpg"
    im.save(p, exif=exif, quality=95)
    img = open_image(p)
    assert img.info.exif_orientation == 6
    assert (img.width, img.height) == (20, 40)
    assert img.array[5, 10].mean() > 200 and img.array[35, 10].mean() < 50  # white on top after rotation


def test_fifo_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(_code(fifo)), daemon=True)
    t.start()
    t.join(timeout=10)
    assert result == [E.NOT_A_REGULAR_FILE]


def test_unreadable_file_reports_permission_denied(tmp_path: Path) -> None:
    if not permissions_enforced():
        pytest.skip("running as root without CAP_SETPCAP: permissions cannot be enforced here")
    p = tmp_path / "secret.png"
    p.write_bytes(encode(photo(), "PNG"))
    p.chmod(0)
    code = ("from genaudit.io import open_image\nfrom genaudit.errors import ImageLoadError\n"
            f"try:\n    open_image({str(p)!r})\nexcept ImageLoadError as e:\n    print(e.code)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=_drop_dac_capabilities if os.geteuid() == 0 else None)
    assert out.stdout.strip() == E.PERMISSION_DENIED


def test_walk_reports_loops_and_broken_links_once(hostile: tuple[Path, dict[str, str]]) -> None:
    root, expected = hostile
    items = list(iter_inputs([root]))
    rels = [os.path.relpath(i.path, root) for i in items]
    assert sorted(rels) == sorted(expected)  # every file exactly once, nothing from inside the loop
    by_rel = dict(zip(rels, items, strict=True))
    assert by_rel["nested/a/loop"].error is not None and by_rel["nested/a/loop"].error.code == E.SYMLINK_LOOP
    assert by_rel["broken_link.png"].error is not None
    assert by_rel["broken_link.png"].error.code == E.BROKEN_SYMLINK
    assert len(set(rels)) == len(rels)


def test_walk_deduplicates_and_excludes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for n in ("a.png", "b.txt", "c.png"):
        (tmp_path / "d" / n).write_bytes(b"x")
    items = list(iter_inputs([tmp_path / "d", tmp_path / "d" / "a.png"], exclude=["*.txt"]))
    assert [os.path.basename(i.path) for i in items] == ["a.png", "c.png"]
    missing = list(iter_inputs([tmp_path / "nope.png"]))
    assert missing[0].error is not None and missing[0].error.code == E.NOT_FOUND


def test_self_referencing_link(tmp_path: Path) -> None:
    os.symlink("self.png", tmp_path / "self.png")
    items = list(iter_inputs([tmp_path]))
    assert [(os.path.basename(i.path), i.error.code if i.error else None) for i in items] == [
        ("self.png", E.SYMLINK_LOOP)]


def test_in_memory_images() -> None:
    grey = load_array(np.full((5, 7), 100, np.uint8))
    assert grey.array.shape == (5, 7, 3) and (grey.array == 100).all()
    f = load_array(np.full((3, 3, 3), 0.5, np.float32))
    assert (f.array == 128).all()
    rgba = load_pil(Image.new("RGBA", (4, 4), (0, 0, 255, 0)))
    assert rgba.info.has_alpha and (rgba.array == 255).all()
    with pytest.raises(E.ImageLoadError, match="shape") as info:
        load_array(np.zeros((4, 4, 2), np.uint8))
    assert info.value.code == E.INVALID_INPUT
    # The same pixels give the same sha256, different pixels a different one.
    assert load_array(np.zeros((4, 4), np.uint8)).sha256 == load_array(np.zeros((4, 4), np.uint8)).sha256
    assert load_array(np.zeros((4, 4), np.uint8)).sha256 != load_array(np.ones((4, 4), np.uint8)).sha256


def test_metadata_is_extracted() -> None:
    from genaudit.samples import jpeg_bytes, png_bytes, xmp_packet

    png = decode_bytes(png_bytes(photo(), text={"parameters": "x", "Software": "tool"}))
    assert png.metadata.text == {"parameters": "x", "Software": "tool"}
    jpg = decode_bytes(jpeg_bytes(photo(), xmp=xmp_packet("compositeSynthetic")))
    assert jpg.metadata.xmp is not None and "compositeSynthetic" in jpg.metadata.xmp
    exif = Image.Exif()
    exif[0x0131] = "NovelAI"
    buf = io.BytesIO()
    photo().save(buf, "JPEG", exif=exif)
    assert decode_bytes(buf.getvalue()).metadata.exif["Software"] == "NovelAI"


def test_decode_errors_are_the_same_from_run_to_run() -> None:
    """Pillow's messages name the file object it read ("<_io.BytesIO object at 0x7f...>"); a
    report, and a resumed scan's comparison with it, must not depend on a memory address."""
    data = b"\x89PNG\r\n\x1a\n cut short"
    messages = set()
    for _ in range(3):
        with pytest.raises(E.ImageLoadError) as info:
            decode_bytes(bytes(data))
        messages.add(info.value.message)
    assert len(messages) == 1
    assert " at 0x" not in messages.pop()


@pytest.mark.parametrize(("fmt", "kw"), [("PNG", {}), ("JPEG", {"quality": 90}), ("JPEG", {"progressive": True}),
                                         ("GIF", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {})])
def test_a_callers_load_truncated_images_changes_no_outcome(fmt: str, kw: dict[str, object],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's process-wide switch for partial images is neither obeyed nor touched: cut or
    damaged data gets the same outcome (and the same pixels) with the switch on as with it off."""
    from PIL import ImageFile

    data = encode(photo(5, (96, 64)), fmt, **kw)
    cases = [data[: len(data) * k // 12] for k in range(1, 12)] + [data]
    cases += [c[:-1] + bytes([c[-1] ^ 0x55]) + data[len(c):] for c in cases[:-1]]

    def outcomes() -> list[str]:
        out = []
        for c in cases:
            try:
                out.append(str(decode_bytes(c).array.sum()))
            except E.ImageLoadError as exc:
                out.append(exc.code)
        return out

    off = outcomes()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert outcomes() == off
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    assert E.TRUNCATED in off and off[11] not in E.ERROR_CODES  # the cuts are refused, the whole file decodes
