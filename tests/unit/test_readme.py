"""The README's Python example for passing a watermark key, an index and trust anchors runs as
written, on real files made here, and finds what each of those checks is for."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- tests/unit/test_readme.py runs this block -->"


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    assert MARK in text, "the README lost its tested Python example"
    m = re.match(r"\s*```python\n(.*?)\n```", text.split(MARK, 1)[1], re.S)
    assert m is not None
    return m.group(1)


def test_readme_block_mentions_all_three() -> None:
    code = readme_block()
    for needle in ('"key_file": "model.key"', '"index": "train.gaidx"', '"trust_anchors": "devkeys/root.pem"'):
        assert needle in code


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genaudit import watermark
    from genaudit.memorization.build import build_index
    from genaudit.provenance.c2pa import ManifestSpec, SignerConfig, sign_bytes
    from genaudit.provenance.certs import create_dev_chain, write_dev_chain
    from tests.corpus import encode, photo

    key = watermark.generate_key()
    watermark.save_key(key, tmp_path / "model.key")
    chain = create_dev_chain("readme")
    write_dev_chain(str(tmp_path / "devkeys"), chain)
    (tmp_path / "train").mkdir()
    (tmp_path / "outputs").mkdir()
    training = photo(21, (192, 160))
    training.save(tmp_path / "train" / "t.png")
    photo(22, (96, 80)).save(tmp_path / "train" / "u.png")
    build_index([str(tmp_path / "train")], jobs=1)[0].save(tmp_path / "train.gaidx")
    training.save(tmp_path / "outputs" / "copy.png")                                  # memorized
    Image.fromarray(watermark.embed(np.asarray(photo(23, (256, 256))), key)).save(tmp_path / "outputs" / "marked.png")
    (tmp_path / "outputs" / "signed.png").write_bytes(sign_bytes(              # trusted manifest
        encode(photo(24, (128, 128)), "PNG"), SignerConfig(chain.chain_pem, chain.private_key_pem), ManifestSpec()))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_block(), str(README), "exec"), namespace)  # the README's own example
    report = namespace["report"]
    status = {os.path.basename(f.path): {r.check: r.status for r in f.checks} for f in report.files}
    assert status["copy.png"]["memorization"] == "finding"
    assert status["marked.png"]["watermark"] == "finding"
    assert status["signed.png"]["provenance"] == "finding"          # valid, trusted, AI-generated claim
    signed = report.file(os.path.join("outputs", "signed.png")).result("provenance")
    assert signed.data["status"] == "valid_trusted"
    assert status["marked.png"]["memorization"] == "ok" and status["copy.png"]["watermark"] == "ok"
    assert (tmp_path / "genaudit-report" / "report.json").exists()
    assert len(printed.getvalue().splitlines()) == 3
