"""Messages that used to leak Python internals are one clear line each (exit 2, no traceback, no
parser text such as "Expecting value" or "codec"), and `--fail-on both`, shown in --help, works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genaudit.provenance.certs import create_dev_chain, write_dev_chain
from genaudit.samples import png_bytes
from genaudit.watermark import WatermarkKey, WatermarkKeyError, save_key
from tests.conftest import CliRunner
from tests.corpus import encode, photo

LEAKS = ("Traceback", "Expecting value", "codec", "fromhex", "MalformedFraming", "cryptography.io", "'secret'")
MAKE = "(make one with: genaudit watermark keygen -o KEY)"
HINT = "(the certificate is the PEM chain, e.g. chain.pem; the key the PEM private key, e.g. signer.key)"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("messages")
    write_dev_chain(str(root / "dev"), create_dev_chain("messages"))
    (root / "binary.key").write_bytes(bytes(range(256)) * 2)
    (root / "text.key").write_text("my watermark key\n", encoding="utf-8")
    (root / "badhex.key").write_text('{"format": "genaudit-watermark-key", "version": 1, "secret": "secret"}',
                                     encoding="utf-8")
    (root / "nosecret.key").write_text('{"format": "genaudit-watermark-key", "version": 1}', encoding="utf-8")
    (root / "a.png").write_bytes(encode(photo(), "PNG"))
    return root


def _line(r: object) -> str:
    err = r.stderr  # type: ignore[attr-defined]
    assert r.returncode == 2 and r.stdout == "", (r.stdout, err)  # type: ignore[attr-defined]
    assert not any(leak in err for leak in LEAKS), err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(("key", "message"), [
    ("dev/root.pem", f"watermark key file dev/root.pem is a PEM certificate, not a genaudit watermark key {MAKE}"),
    ("dev/signer.key", f"watermark key file dev/signer.key is a PEM private key, not a genaudit watermark key {MAKE}"),
    ("binary.key", f"watermark key file binary.key is a binary file, not a genaudit watermark key {MAKE}"),
    ("text.key", f"watermark key file text.key is not JSON, so not a genaudit watermark key {MAKE}"),
    ("badhex.key", 'watermark key file badhex.key has a "secret" that is not hex digits: the file is damaged'),
    ("nosecret.key", 'watermark key file nosecret.key has no "secret": the file is damaged'),
])
def test_a_key_file_that_is_not_a_watermark_key(run_cli: CliRunner, files: Path, key: str, message: str) -> None:
    key = key.replace("/", os.sep)
    message = message.replace("dev/", "dev" + os.sep)
    assert _line(run_cli("watermark", "verify", "a.png", "--key-file", key, cwd=files)) == f"genaudit: error: {message}"
    r = run_cli("scan", "a.png", "--watermark-key-file", key, "--report-dir", "rep", cwd=files)
    assert _line(r) == f"genaudit: error: {message}"


@pytest.mark.parametrize(("cert", "key", "message"), [
    ("dev/signer.key", "dev/signer.key", f"certificate chain dev/signer.key is a private key, not a PEM certificate"
                                         f" chain {HINT}"),
    ("dev/chain.pem", "dev/chain.pem", f"private key dev/chain.pem is a certificate, not a PEM private key {HINT}"),
    ("text.key", "dev/signer.key", f"certificate chain text.key is text without a PEM block, not a PEM certificate"
                                   f" chain {HINT}"),
    ("dev/chain.pem", "binary.key", f"private key binary.key is a binary file, not a PEM private key {HINT}"),
])
def test_sign_with_the_wrong_files(run_cli: CliRunner, files: Path, cert: str, key: str, message: str) -> None:
    cert, key, message = (v.replace("dev/", "dev" + os.sep) for v in (cert, key, message))
    r = run_cli("sign", "a.png", "-o", "out", "--cert", cert, "--key", key, cwd=files)
    assert _line(r) == f"genaudit: error: {message}"
    assert not (files / "out").exists()


def test_overwriting_a_key_names_force(tmp_path: Path) -> None:
    path = save_key(WatermarkKey.from_passphrase("x"), tmp_path / "k.key")
    with pytest.raises(WatermarkKeyError) as info:
        save_key(WatermarkKey.from_passphrase("y"), path)
    assert str(info.value) == (f"refusing to overwrite {path}: it exists; use --force (overwrite=True) to replace"
                               " the key")


def test_fail_on_both_is_accepted(run_cli: CliRunner, tmp_path: Path) -> None:
    assert "both" in run_cli("scan", "--help").stdout
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "a.png").write_bytes(encode(photo(), "PNG"))
    r = run_cli("scan", "clean", "-q", "--fail-on", "both", "--report-dir", "r1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "marked.png").write_bytes(png_bytes(photo(2), text={"parameters": "a cat\nSteps: 20, Seed: 3"}))
    r = run_cli("scan", "marked.png", "-q", "--fail-on", "both", "--report-dir", "r2", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    (tmp_path / "broken.png").write_bytes(b"")
    r = run_cli("scan", "broken.png", "-q", "--fail-on", "both", "--report-dir", "r3", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
