"""One ``Auditor`` shared by many threads (a moderation service calling ``audit_image``) gives
exactly the results of a sequential run, and decoding changes nothing another thread can see."""

from __future__ import annotations

import io
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile

import genaudit
from genaudit import errors as E
from genaudit.checks.base import Check
from genaudit.registry import _EXTRA, register_check
from genaudit.results import CheckResult
from genaudit.samples import png_bytes
from genaudit.watermark import embed, generate_key, save_key
from tests.corpus import encode, photo

THREADS = 8
CALLS = 50
MAX_PIXELS = 40_000
MAX_FILE_BYTES = 60_000

Inputs = list[tuple[str, Callable[[], Any]]]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _inputs(tmp: Path, key: Any) -> Inputs:
    """A fixed mix: good images of several formats, sizes and kinds, marked ones, broken ones,
    over-limit ones and objects that are not images. Each call gets a fresh object."""
    items: Inputs = []

    def add(name: str, obj: Any) -> None:
        items.append((name, lambda: obj))

    def fresh(name: str, make: Callable[[], Any]) -> None:
        items.append((name, make))

    for i, size in enumerate([(64, 48), (96, 64), (120, 90), (200, 150)]):
        add(f"png {size}", encode(photo(i, size), "PNG"))
        add(f"jpeg {size}", encode(photo(i, size), "JPEG", quality=90))
    add("png 128x128", encode(photo(7, (128, 128)), "PNG"))
    add("jpeg 160x128", encode(photo(8, (160, 128)), "JPEG", quality=85))
    marked = embed(photo(9, (160, 160)), key, payload="c0ffee42")
    add("marked png", encode(marked, "PNG"))
    add("marked array", np.asarray(marked))
    add("generator text chunk", png_bytes(photo(10, (64, 64)), text={"parameters": "cat\nSteps: 20, Sampler: Euler a"}))
    for fmt, size in (("PNG", (96, 64)), ("JPEG", (96, 64)), ("PNG", (200, 150)), ("JPEG", (200, 150))):
        data = encode(photo(11, size), fmt)
        add(f"half {fmt} {size}", data[: len(data) // 2])
    cut = encode(photo(12, (120, 90)), "JPEG")
    (tmp / "cut.jpg").write_bytes(cut[: len(cut) * 2 // 3])
    add("truncated path", str(tmp / "cut.jpg"))
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    add("corrupt idat", b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"\x00garbage" * 8)
        + _chunk(b"IEND", b""))
    add("half webp", encode(photo(13, (96, 64)), "WEBP")[:300])
    add("text", b"Just some notes, not an image at all.\n" * 3)
    add("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    add("empty bytes", b"")
    add("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    add("over max_pixels png", encode(photo(14, (256, 256)), "PNG"))
    add("over max_pixels array", np.zeros((300, 300, 3), np.uint8))
    fresh("over max_pixels pil", lambda: photo(15, (256, 256)))
    noise = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)), "PNG")
    assert len(noise) > MAX_FILE_BYTES
    add("over max_file_bytes bytes", noise)
    (tmp / "noise.png").write_bytes(noise)
    add("over max_file_bytes path", str(tmp / "noise.png"))
    add("array (4, 4, 2)", np.zeros((4, 4, 2), np.uint8))
    add("complex array", np.zeros((8, 8), np.complex64))
    add("empty array", np.empty((0, 5), np.uint8))
    add("ragged list", [[1, 2], [3]])
    add("object array", np.array([[None, None], [None, None]]))
    add("int", 42)
    add("None", None)
    add("missing path", str(tmp / "missing.png"))

    def closed() -> Image.Image:
        im = Image.new("RGB", (8, 8))
        im.close()
        return im

    fresh("closed pil", closed)
    add("grey array", np.asarray(photo(16, (64, 48)).convert("L")))
    add("float array", np.asarray(photo(17, (48, 48)), dtype=np.float32) / 255)
    add("uint16 array", (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 31))
    add("bool array", np.eye(40, dtype=bool))
    fresh("pil RGB", lambda: photo(18, (80, 60)))
    fresh("pil L", lambda: photo(19, (80, 60)).convert("L"))
    fresh("pil RGBA", lambda: photo(20, (80, 60)).convert("RGBA"))
    fresh("pil P", lambda: photo(21, (80, 60)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16))
    fresh("pil I;16", lambda: Image.fromarray(np.arange(48 * 32, dtype=np.uint16).reshape(32, 48) * 40))
    jpg = encode(photo(22, (96, 64)), "JPEG", quality=95)
    fresh("lazy pil jpeg", lambda: Image.open(io.BytesIO(jpg)))
    png = encode(photo(23, (96, 64)), "PNG")
    fresh("lazy pil truncated png", lambda: Image.open(io.BytesIO(png[: len(png) // 2])))
    sixteen = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    add("grey16 png", encode(Image.fromarray(sixteen), "PNG"))
    pal = photo(24, (96, 64)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    add("palette png", encode(pal, "PNG", transparency=0))
    add("cmyk jpeg", encode(photo(25, (96, 64)).convert("CMYK"), "JPEG", quality=95))
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    add("animated gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0))
    add("webp", encode(photo(26, (96, 64)), "WEBP", quality=80))
    add("bmp", encode(photo(27, (96, 64)), "BMP"))
    add("tiff", encode(photo(28, (96, 64)), "TIFF"))
    (tmp / "good.png").write_bytes(encode(photo(29, (96, 64)), "PNG"))
    add("png path", str(tmp / "good.png"))
    add("png Path", tmp / "good.png")
    return items


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[genaudit.Auditor, Inputs, list[dict[str, Any]]]:
    """One Auditor, the inputs, and each input's result from a sequential run."""
    tmp = tmp_path_factory.mktemp("threads")
    key = generate_key()
    key_file = save_key(key, tmp / "watermark.key")
    auditor = genaudit.Auditor(checks=("metadata", "phash", "watermark"), max_pixels=MAX_PIXELS,
                               max_file_bytes=MAX_FILE_BYTES, options={"watermark": {"key_file": key_file}})
    inputs = _inputs(tmp, key)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    sequential = [genaudit.Auditor(auditor.config).audit_image(make()).to_dict() for _, make in inputs]
    return auditor, inputs, sequential


def _run_threads(auditor: genaudit.Auditor, inputs: Inputs) -> list[Future[list[tuple[int, dict[str, Any]]]]]:
    """8 threads start together; each makes 50 calls on the shared Auditor, from its own offset."""
    barrier = threading.Barrier(THREADS)

    def work(t: int) -> list[tuple[int, dict[str, Any]]]:
        barrier.wait()
        out = []
        for k in range(CALLS):
            i = (t * 7 + k) % len(inputs)
            out.append((i, auditor.audit_image(inputs[i][1]()).to_dict()))
        return out

    pool = ThreadPoolExecutor(THREADS)
    futures = [pool.submit(work, t) for t in range(THREADS)]
    pool.shutdown(wait=False)
    return futures


def _mismatches(futures: list[Future[list[tuple[int, dict[str, Any]]]]], inputs: Inputs,
                sequential: list[dict[str, Any]]) -> list[str]:
    bad = []
    n = 0
    for f in futures:
        for i, got in f.result():
            n += 1
            if got != sequential[i]:
                bad.append(f"{inputs[i][0]}: {got.get('error') or got.get('status')} != "
                           f"{sequential[i].get('error') or sequential[i].get('status')}")
    assert n == THREADS * CALLS
    return bad


def test_the_mix_covers_results_and_errors_of_every_kind(
        shared: tuple[genaudit.Auditor, Inputs, list[dict[str, Any]]]) -> None:
    _, inputs, sequential = shared
    assert len(inputs) >= 50
    codes = {r["error"]["code"] if r["error"] else r["status"] for r in sequential}
    assert {"ok", E.TRUNCATED, E.CORRUPT, E.NOT_AN_IMAGE, E.EMPTY_FILE, E.UNSUPPORTED_FORMAT, E.TOO_LARGE,
            E.FILE_TOO_LARGE, E.INVALID_INPUT, E.NOT_FOUND} <= codes
    statuses = {(name, c["status"]) for (name, _), r in zip(inputs, sequential, strict=True)
                for c in r["checks"].values()}
    assert ("marked png", "finding") in statuses and ("marked array", "finding") in statuses
    assert ("generator text chunk", "finding") in statuses and ("png 128x128", "ok") in statuses


def test_one_auditor_shared_by_8_threads_gives_the_sequential_results(
        shared: tuple[genaudit.Auditor, Inputs, list[dict[str, Any]]]) -> None:
    auditor, inputs, sequential = shared
    auditor.audit_image(inputs[0][1]())  # warm up, so that the filter list below is the settled one
    filters = list(warnings.filters)
    assert _mismatches(_run_threads(auditor, inputs), inputs, sequential) == []
    assert warnings.filters == filters  # decoding left the process's warning filters as they were


def test_the_callers_load_truncated_images_is_left_alone_while_threads_decode(
        shared: tuple[genaudit.Auditor, Inputs, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller asked Pillow for partial images; genaudit still refuses them, in every thread,
    without switching the caller's setting off under the caller's feet."""
    auditor, inputs, sequential = shared
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    png = encode(photo(30, (96, 64)), "PNG")
    futures = _run_threads(auditor, inputs)
    seen: set[bool] = set()
    partial_loads = refused = 0
    while not all(f.done() for f in futures):  # meanwhile, the caller's own code uses Pillow
        seen.add(ImageFile.LOAD_TRUNCATED_IMAGES)
        try:
            Image.open(io.BytesIO(png[: len(png) // 2])).load()
            partial_loads += 1
        except OSError:
            refused += 1
    assert _mismatches(futures, inputs, sequential) == []  # never a partial image in genaudit
    assert seen == {True} and refused == 0 and partial_loads > 0


class _CountingSetup(Check):
    """Counts its setups; runs only after setup."""

    name = "counting"
    thread_safe = True
    setups = 0

    def setup(self) -> None:
        type(self).setups += 1
        np.sort(np.arange(1_000_000)[::-1])  # a slow start (a model loading) that lets other threads in
        self.ready_value = type(self).setups

    def run(self, image: Any) -> CheckResult:
        return CheckResult.ok(self.name, {"setup": self.ready_value})


class _Unsafe(Check):
    """Shared mutable state, declared not thread-safe: the Auditor must run it on one thread at a time."""

    name = "unsafe"
    inside = 0
    overlaps = 0

    def run(self, image: Any) -> CheckResult:
        cls = type(self)
        cls.inside += 1
        if cls.inside > 1:
            cls.overlaps += 1
        np.sort(np.asarray(image.pil, dtype=np.float64), axis=None)  # work that lets other threads in
        cls.inside -= 1
        return CheckResult.ok(self.name, {})


@pytest.fixture
def thread_checks() -> Iterator[None]:
    register_check("counting", f"{__name__}:_CountingSetup", "test check")
    register_check("unsafe", f"{__name__}:_Unsafe", "test check")
    _CountingSetup.setups = _Unsafe.inside = _Unsafe.overlaps = 0
    yield
    for name in ("counting", "unsafe"):
        _EXTRA.pop(name, None)


def _hammer(auditor: genaudit.Auditor) -> set[str]:
    """8 threads start together and audit 10 images each; the statuses of every result."""
    images = [np.full((64, 64), i, np.uint8) for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def work(t: int) -> list[str]:
        barrier.wait()
        return [r.status for _ in range(10) for r in auditor.audit_image(images[t]).checks]

    with ThreadPoolExecutor(THREADS) as pool:
        return {s for out in pool.map(work, range(THREADS)) for s in out}


@pytest.mark.usefixtures("thread_checks")
def test_setup_runs_once_when_threads_race_to_it() -> None:
    assert _hammer(genaudit.Auditor(checks=("counting",))) == {"ok"}
    assert _CountingSetup.setups == 1


@pytest.mark.usefixtures("thread_checks")
def test_a_check_that_is_not_thread_safe_runs_on_one_thread_at_a_time() -> None:
    assert _hammer(genaudit.Auditor(checks=("unsafe",))) == {"ok"}
    assert _Unsafe.overlaps == 0
