"""``--resume`` reuses results only when every input of the checks is the same: the watermark
key, the memorization index's content (not only its size) and every model file's content."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import genaudit
from genaudit.errors import ResumeError
from genaudit.memorization.index import TrainingIndex
from genaudit.registry import _EXTRA, register_check
from tests.conftest import CliRunner
from tests.corpus import encode, photo


def _image(tmp_path: Path) -> Path:
    p = tmp_path / "a.png"
    p.write_bytes(encode(photo(), "PNG"))
    return p


def _refused(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "run without --resume" in lines[0], r.stderr


def test_resume_with_another_watermark_key_is_refused(run_cli: CliRunner, tmp_path: Path) -> None:
    img, rep, key = _image(tmp_path), tmp_path / "rep", tmp_path / "wm.key"
    assert run_cli("watermark", "keygen", "-o", str(key)).returncode == 0
    args = ("scan", str(img), "--checks", "watermark", "--watermark-key-file", str(key), "--report-dir", str(rep), "-q")
    assert run_cli(*args).returncode == 0
    assert run_cli(*args, "--resume").returncode == 0  # same key: resumed
    assert run_cli("watermark", "keygen", "-o", str(key), "--force").returncode == 0
    _refused(run_cli(*args, "--resume"))


def _index(path: Path, seed: int) -> None:
    codes = np.random.default_rng(seed).integers(0, 2**63, 4, dtype=np.uint64)
    index = TrainingIndex(("phash",))
    index.add({"phash": codes}, [f"train/{seed}-{i}.png" for i in range(4)])
    index.save(path)


def test_resume_with_another_index_of_the_same_size_is_refused(run_cli: CliRunner, tmp_path: Path) -> None:
    img, rep, idx = _image(tmp_path), tmp_path / "rep", tmp_path / "train.gaidx"
    _index(idx, 1)
    args = ("scan", str(img), "--checks", "memorization", "--index", str(idx), "-O", "memorization.rerank=false",
            "--report-dir", str(rep), "-q")
    first = run_cli(*args)
    assert first.returncode in (0, 1), first.stderr
    _index(idx, 2)  # as many items, other content
    _refused(run_cli(*args, "--resume"))


@pytest.fixture
def model_file_check() -> None:
    register_check("modelfile", "tests.plugins.model_file:ModelFileCheck", "test check")
    yield
    _EXTRA.pop("modelfile", None)


@pytest.mark.usefixtures("model_file_check")
def test_resume_after_a_model_file_changed_is_refused(tmp_path: Path) -> None:
    img, rep, model = _image(tmp_path), tmp_path / "rep", tmp_path / "weights.bin"
    model.write_bytes(b"weights, first training run")
    opts = {"checks": ("modelfile",), "options": {"modelfile": {"model": str(model)}}, "jobs": 1,
            "report_dir": str(rep)}
    genaudit.scan(img, **opts)
    model.write_bytes(b"weights, second training run")  # same path, same options
    with pytest.raises(ResumeError, match="run without --resume"):
        genaudit.scan(img, resume=True, **opts)
    model.write_bytes(b"weights, first training run")
    assert genaudit.scan(img, resume=True, **opts).run.resumed_files == 1
