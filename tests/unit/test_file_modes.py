"""Files genaudit writes get the mode the user's umask gives new files; key files stay 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from genaudit.io import write_atomic, write_png
from tests.conftest import CliRunner
from tests.corpus import encode, photo


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: str | os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(("mask", "want"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path: Path, mask: int, want: int) -> None:
    with umask(mask):
        a = write_atomic(tmp_path / "a.bin", b"abc")
        b = write_png(tmp_path / "sub" / "b.png", np.zeros((4, 4), np.uint8))
        (tmp_path / "c.bin").write_bytes(b"old")
        os.chmod(tmp_path / "c.bin", 0o600)
        c = write_atomic(tmp_path / "c.bin", b"new")  # replacing a file gives the new file's mode
    assert (mode(a), mode(b), mode(c)) == (want, want, want)


def test_the_umask_is_read_without_changing_it() -> None:
    from genaudit.io.write import _umask_by_setting, current_umask, new_file_mode

    for mask in (0o022, 0o077, 0o002):
        with umask(mask):
            assert current_umask() == mask and new_file_mode() == 0o666 & ~mask
            assert _umask_by_setting() == mask  # the fallback where /proc cannot tell
            assert os.umask(mask) == mask  # still set: reading it changed nothing


@pytest.mark.parametrize(("mask", "want"), [(0o022, 0o644), (0o077, 0o600)])
def test_scan_reports_and_results_follow_the_umask(tmp_path: Path, run_cli: CliRunner, mask: int,
                                                   want: int) -> None:
    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    rep = tmp_path / "rep"
    with umask(mask):  # the CLI subprocess inherits it
        r = run_cli("scan", str(tmp_path / "a.png"), "--report-dir", str(rep), "-q")
    assert r.returncode == 0, r.stderr
    assert {p.name: mode(p) for p in rep.iterdir()} == {
        "report.json": want, "report.md": want, "report.html": want, "results.jsonl": want}


def test_signed_files_and_saved_indexes_follow_the_umask(tmp_path: Path) -> None:
    from genaudit.memorization.index import TrainingIndex
    from genaudit.provenance.c2pa import SignerConfig
    from genaudit.provenance.certs import create_dev_chain
    from genaudit.release import sign_files

    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    chain = create_dev_chain("modes")
    index = TrainingIndex(("phash",))
    index.add({"phash": np.array([1, 2, 3], np.uint64)}, ["a", "b", "c"])
    with umask(0o022):
        (signed,) = sign_files([tmp_path / "a.png"], tmp_path / "out", SignerConfig(chain.chain_pem,
                                                                                     chain.private_key_pem),
                               checks=())
        saved = index.save(tmp_path / "train.idx")
    assert signed.status == "signed", signed.error
    assert mode(signed.output) == 0o644
    assert mode(saved) == 0o644


def test_key_files_stay_0600_whatever_the_umask_and_when_overwritten(tmp_path: Path) -> None:
    from genaudit.provenance.certs import write_dev_chain
    from genaudit.watermark import generate_key, save_key

    key_path = tmp_path / "wm.key"
    key_path.write_text("{}")
    os.chmod(key_path, 0o644)  # an older, world-readable file in the way
    with umask(0o000):
        save_key(generate_key(), key_path, overwrite=True)
        (tmp_path / "keys").mkdir()
        (tmp_path / "keys" / "signer.key").write_text("old")
        os.chmod(tmp_path / "keys" / "signer.key", 0o666)
        paths = write_dev_chain(str(tmp_path / "keys"))
    assert mode(key_path) == 0o600
    assert mode(paths["key"]) == 0o600
    assert mode(paths["root"]) == 0o666  # public: the umask decides
