"""Every command that walks folders treats files that are not images as a scan does: left out and
counted on stderr (never a file error), and a walk that finds nothing to work on is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import CliRunner


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(d / "sub" / "a.png")
    (d / "README.md").write_text("# generated samples\n")
    (d / "meta.json").write_text("{}\n")
    return d


@pytest.fixture
def keys(run_cli: CliRunner, tmp_path: Path) -> dict[str, Path]:
    wm, dev = tmp_path / "wm.key", tmp_path / "dev"
    assert run_cli("watermark", "keygen", "-o", str(wm)).returncode == 0
    assert run_cli("keys", "init", "-o", str(dev)).returncode == 0
    return {"wm": wm, "chain": dev / "chain.pem", "key": dev / "signer.key", "root": dev / "root.pem"}


def _commands(folder: Path, tmp_path: Path, keys: dict[str, Path]) -> dict[str, list[str]]:
    return {
        "watermark embed": ["watermark", "embed", str(folder), "-o", str(tmp_path / "marked"),
                            "--key-file", str(keys["wm"]), "--json"],
        "watermark verify": ["watermark", "verify", str(folder), "--key-file", str(keys["wm"]), "--json"],
        "sign": ["sign", str(folder), "-o", str(tmp_path / "signed"), "--cert", str(keys["chain"]),
                 "--key", str(keys["key"]), "--checks", "none", "--json"],
        "verify-manifest": ["verify-manifest", str(folder), "--json"],
    }


def test_files_that_are_not_images_are_ignored_not_errors(run_cli: CliRunner, folder: Path, tmp_path: Path,
                                                          keys: dict[str, Path]) -> None:
    for name, args in _commands(folder, tmp_path, keys).items():
        r = run_cli(*args)
        docs = [json.loads(line) for line in r.stdout.splitlines()]
        assert [Path(d["path"]).name for d in docs] == ["a.png"], (name, r.stdout, r.stderr)
        assert docs[0]["status"] != "error", (name, docs)
        assert (f"genaudit: ignored 2 files that are not images: {folder / 'README.md'}, {folder / 'meta.json'}"
                in r.stderr.splitlines()), (name, r.stderr)
    # named explicitly, a file that is not an image is reported, whatever the command
    r = run_cli("watermark", "verify", str(folder / "README.md"), "--key-file", str(keys["wm"]), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "not_an_image"


def test_a_walk_that_finds_nothing_is_a_usage_error(run_cli: CliRunner, folder: Path, tmp_path: Path,
                                                     keys: dict[str, Path]) -> None:
    (folder / "sub" / "a.png").unlink()
    for name, args in _commands(folder, tmp_path, keys).items():
        r = run_cli(*args)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert r.stdout == ""
        assert r.stderr.splitlines() == [f"genaudit: error: no image files found in {folder}"
                                         " (2 files ignored: not images)"], name


def test_index_build_leaves_out_files_that_are_not_images(run_cli: CliRunner, folder: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "train.gaidx"
    r = run_cli("index", "build", str(folder), "-o", str(out), "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{out}: 1 items (phash; embeddings: 6 regions × 1280 float16")
    assert ", 0 files refused" in r.stdout
    assert "genaudit: ignored 2 files that are not images" in r.stderr
    (folder / "sub" / "a.png").unlink()
    r = run_cli("index", "build", str(folder), "-o", str(tmp_path / "empty.gaidx"), "-j", "1", "-q")
    assert r.returncode == 2 and not (tmp_path / "empty.gaidx").exists()
    assert f"no training images in {folder} (2 files ignored: not images)" in r.stderr


def test_verify_manifest_reads_files_through_the_loader(run_cli: CliRunner, folder: Path) -> None:
    """A FIFO is never opened (it would block for ever) and the byte limit holds, as in a scan."""
    import os

    os.mkfifo(folder / "pipe.png")
    r = run_cli("verify-manifest", str(folder), "--json", timeout=60)
    docs = {Path(d["path"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert docs["pipe.png"]["status"] == "error" and docs["pipe.png"]["error"]["code"] == "not_a_regular_file"
    assert docs["a.png"]["status"] == "no_manifest"
