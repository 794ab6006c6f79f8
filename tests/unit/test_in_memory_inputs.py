"""``Auditor.audit_image(s)``: the limits of a scan hold for every input kind, and any object that
is not an image becomes its own error entry instead of failing the batch."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import genaudit
from genaudit import errors as E
from tests.corpus import encode, photo

PNG = encode(photo(1, (64, 64)), "PNG")


def _inputs(kind: str, tmp_path: Path) -> Any:
    """The same 64×64 image as encoded bytes, a path, an array or a PIL image."""
    if kind == "bytes":
        return PNG
    if kind == "path":
        p = tmp_path / "x.png"
        p.write_bytes(PNG)
        return str(p)
    if kind == "array":
        return np.asarray(photo(1, (64, 64)))
    return photo(1, (64, 64))


def _code(audit: genaudit.ImageAudit) -> str:
    return audit.error.code if audit.error is not None else audit.status


@pytest.mark.parametrize("kind", ["bytes", "path", "array", "pil"])
def test_max_pixels_holds_for_every_input_kind(tmp_path: Path, kind: str) -> None:
    obj = _inputs(kind, tmp_path)
    assert _code(genaudit.Auditor(checks=("metadata",), max_pixels=64 * 64).audit_image(obj)) == "ok"
    over = genaudit.Auditor(checks=("metadata",), max_pixels=100).audit_image(obj)
    assert _code(over) == E.TOO_LARGE and over.checks == ()
    assert "max_pixels" in over.error.message  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["bytes", "path"])
def test_max_file_bytes_holds_for_bytes_and_paths(tmp_path: Path, kind: str) -> None:
    obj = _inputs(kind, tmp_path)
    assert _code(genaudit.Auditor(checks=("metadata",), max_file_bytes=len(PNG)).audit_image(obj)) == "ok"
    over = genaudit.Auditor(checks=("metadata",), max_file_bytes=len(PNG) - 1).audit_image(obj)
    assert _code(over) == E.FILE_TOO_LARGE and "max_file_bytes" in over.error.message  # type: ignore[union-attr]


def test_in_memory_limits_give_the_codes_a_scan_gives(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(PNG)
    for limit, code in (({"max_pixels": 100}, E.TOO_LARGE), ({"max_file_bytes": 100}, E.FILE_TOO_LARGE)):
        scanned = genaudit.scan(tmp_path, checks=("metadata",), jobs=1, report_dir=None, **limit)
        auditor = genaudit.Auditor(checks=("metadata",), **limit)
        assert _code(scanned.files[0]) == code
        assert _code(auditor.audit_image(PNG)) == _code(auditor.audit_image(tmp_path / "x.png")) == code


def test_pil_image_size_is_checked_before_its_pixels_are_loaded() -> None:
    jpg = encode(photo(2, (96, 64)), "JPEG", quality=95)
    lazy = Image.open(io.BytesIO(jpg[: len(jpg) // 2]))  # only the header is read so far
    audit = genaudit.Auditor(checks=("metadata",), max_pixels=96 * 64 - 1).audit_image(lazy)
    assert _code(audit) == E.TOO_LARGE  # not "truncated": the broken pixel data was never decoded


def test_every_bad_object_becomes_its_own_error_entry(tmp_path: Path) -> None:
    jpg = encode(photo(2, (96, 64)), "JPEG", quality=95)
    closed = Image.new("RGB", (8, 8))
    closed.close()
    inputs: list[Any] = [
        photo(1),                                     # good
        np.zeros((4, 4, 2), np.uint8),                # wrong shape
        42,                                           # not an image at all
        np.zeros((16, 16), np.float32),               # good
        None,
        str(tmp_path / "missing.png"),                # a path that does not exist
        np.zeros((3, 3), np.complex64),               # wrong dtype
        np.empty((0, 5), np.uint8),                   # empty
        [[1, 2], [3]],                                # ragged
        closed,                                       # closed PIL image
        Image.open(io.BytesIO(jpg[: len(jpg) // 2])),  # PIL image whose data is cut short
        b"not an image",
        PNG,                                          # good
    ]
    auditor = genaudit.Auditor(checks=("metadata", "phash"))
    results = auditor.audit_images(inputs)
    assert [_code(r) for r in results] == [
        "ok", E.INVALID_INPUT, E.INVALID_INPUT, "ok", E.INVALID_INPUT, E.NOT_FOUND, E.INVALID_INPUT,
        E.INVALID_INPUT, E.INVALID_INPUT, E.INVALID_INPUT, E.TRUNCATED, E.NOT_AN_IMAGE, "ok"]
    for r in results:
        if r.error is not None:
            assert r.status == "error" and r.checks == ()
            assert r.error.message and "\n" not in r.error.message and "Traceback" not in r.error.message
        else:
            assert [c.status for c in r.checks] == ["ok", "ok"]
    # The good images get exactly what they get on their own: order kept, nothing shifted.
    for i in (0, 3, 12):
        assert results[i].to_dict() == auditor.audit_image(inputs[i]).to_dict()
    assert results[5].path == str(tmp_path / "missing.png")


@pytest.mark.parametrize(("obj", "message"), [
    (42, "expected a PIL image, a numpy array, encoded image bytes or a path; got int"),
    (None, "expected a PIL image, a numpy array, encoded image bytes or a path; got None"),
    (np.zeros((4, 4, 2), np.uint8), "expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape (4, 4, 2)"),
    (np.zeros((3, 3), np.complex64), "unsupported array dtype complex64: expected integers, floats or booleans"),
])
def test_audit_image_of_a_non_image_says_so_in_one_line(obj: Any, message: str) -> None:
    audit = genaudit.Auditor(checks=("metadata",)).audit_image(obj)
    assert audit.status == "error" and audit.error is not None
    assert (audit.error.code, audit.error.message) == (E.INVALID_INPUT, message)


def test_readme_lists_every_error_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## File errors"):readme.index("## Development")]
    listed = set(re.findall(r"`([a-z_]+)`", table))
    assert set(E.ERROR_CODES) <= listed, sorted(set(E.ERROR_CODES) - listed)
