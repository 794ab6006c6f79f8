"""One policy for every writer (genaudit.io.outputs): mirror the input tree under OUT, a fixed rule
for two inputs that would get the same name, never overwrite without --force (one line, exit 2),
and outputs never become inputs. Real files, the real CLI in a subprocess, real C2PA signing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genaudit
from genaudit.errors import ConfigError
from genaudit.io import OutputExistsError, plan_outputs
from genaudit.provenance.c2pa import SignerConfig
from genaudit.provenance.certs import create_dev_chain, write_dev_chain
from genaudit.release import sign_files
from genaudit.samples import photo_crops
from genaudit.watermark import WatermarkKey, save_key
from tests.conftest import CliRunner


def _photos(n: int, size: int = 160) -> list[Image.Image]:
    return [Image.fromarray(img) for _, img in photo_crops(size, n, seed=23)]


def _tree(root: Path) -> dict[str, str]:
    """relative path → sha256 of every file under root."""
    return {os.path.relpath(os.path.join(d, f), root): hashlib.sha256(Path(d, f).read_bytes()).hexdigest()
            for d, _, files in os.walk(root) for f in files}


def _one_line(r: object) -> str:
    lines = r.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr  # type: ignore[attr-defined]
    return lines[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("policy-keys")
    paths = write_dev_chain(str(root / "chain"), create_dev_chain("output policy"))
    paths["watermark"] = save_key(WatermarkKey.from_passphrase("output policy"), root / "wm.key")
    return paths


# -- the planner ---------------------------------------------------------------------------------
def test_plan_mirrors_and_names_collisions_by_a_fixed_rule(tmp_path: Path) -> None:
    src = tmp_path / "in"
    for rel in ("a.jpg", "a.png", "a-1.png", "d/a.jpg", "d/e/b.webp"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"x")
    extra = tmp_path / "other" / "a.png"
    extra.parent.mkdir()
    extra.write_bytes(b"x")
    out = tmp_path / "out"
    plan = plan_outputs([src, extra], out, suffix=".png")
    got = {os.path.relpath(p.path, tmp_path): os.path.relpath(p.output, out) for p in plan if p.output}
    assert got == {
        "in/a-1.png": "a-1.png",        # keeps its own name
        "in/a.png": "a.png",            # keeps its own name: wins over a.jpg, which would become a.png
        "other/a.png": "a-2.png",       # also keeps its name, but comes later: the next free suffix
        "in/a.jpg": "a-3.png",          # changes its name: after those that keep theirs (a-1 is taken)
        "in/d/a.jpg": "d/a.png",        # the tree is mirrored, not flattened
        "in/d/e/b.webp": "d/e/b.png",
    }
    assert len(set(got.values())) == len(got)
    # the same inputs, once written, are refused; the plan itself never depends on what is on disk
    (out / "d").mkdir(parents=True)
    (out / "d" / "a.png").write_bytes(b"old")
    (out / "a.png").write_bytes(b"old")
    with pytest.raises(OutputExistsError) as info:
        plan_outputs([src, extra], out, suffix=".png")
    assert str(info.value) == (f"refusing to overwrite {out / 'a.png'} and 1 more existing output;"
                               " use --force to overwrite them")
    assert [p.output for p in plan_outputs([src, extra], out, suffix=".png", force=True)] == \
        [p.output for p in plan]


def test_plan_never_walks_the_output_folder_and_never_replaces_an_input(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "out").mkdir(parents=True)
    (src / "a.png").write_bytes(b"x")
    (src / "out" / "a.png").write_bytes(b"earlier output")
    plan = plan_outputs([src], src / "out", force=True)
    assert [os.path.relpath(p.path, src) for p in plan] == ["a.png"]   # out/ is not an input
    with pytest.raises(ConfigError, match="would replace an input"):
        plan_outputs([src / "out" / "a.png"], src / "out", force=True)


# -- every writer --------------------------------------------------------------------------------
def test_watermark_embed_mirrors_refuses_and_forces(run_cli: CliRunner, tmp_path: Path,
                                                    keys: dict[str, str]) -> None:
    a, b, c = _photos(3)
    src = tmp_path / "in"
    (src / "d").mkdir(parents=True)
    a.save(src / "a.jpg", quality=95)
    b.save(src / "a.png")
    c.save(src / "d" / "a.png")
    r = run_cli("watermark", "embed", "in", "-o", "in/marked", "--key-file", keys["watermark"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = src / "marked"
    assert sorted(_tree(out)) == ["a-1.png", "a.png", os.path.join("d", "a.png")]
    def distance(path: Path, img: Image.Image) -> float:
        with Image.open(path) as im:
            return float(np.abs(np.asarray(im, np.int16) - np.asarray(img, np.int16)).mean())

    # a.png's output is a.png (its own pixels, watermarked); a.jpg's is a-1.png
    assert distance(out / "a.png", b) < 5 < distance(out / "a.png", a)
    assert distance(out / "a-1.png", a) < 5 < distance(out / "a-1.png", b)
    before = _tree(out)
    r = run_cli("watermark", "embed", "in", "-o", "in/marked", "--key-file", keys["watermark"], cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert _one_line(r) == (f"genaudit: error: refusing to overwrite {os.path.join('in', 'marked', 'a-1.png')}"
                            " and 2 more existing outputs; use --force to overwrite them")
    assert _tree(out) == before
    r = run_cli("watermark", "embed", "in", "-o", "in/marked", "--key-file", keys["watermark"], "--force",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(_tree(out)) == sorted(before)   # the output folder inside the input was not walked


def test_sign_mirrors_and_never_overwrites(run_cli: CliRunner, tmp_path: Path, keys: dict[str, str]) -> None:
    a, b, c = _photos(3, 96)
    (tmp_path / "d").mkdir()
    a.save(tmp_path / "a.jpg", quality=90)
    b.save(tmp_path / "a-1.jpg", quality=90)
    c.save(tmp_path / "d" / "a.jpg", quality=90)
    sign = ("--cert", keys["chain"], "--key", keys["key"], "--checks", "none")
    r = run_cli("sign", "a.jpg", "d/a.jpg", "a-1.jpg", "-o", "out", *sign, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(_tree(tmp_path / "out")) == ["a-1.jpg", "a-2.jpg", "a.jpg"]
    for src, dest in (("a.jpg", "a.jpg"), ("a-1.jpg", "a-1.jpg"), ("d/a.jpg", "a-2.jpg")):
        # a signed JPEG starts with the original's bytes after the inserted manifest segments: compare the scan
        assert (tmp_path / src).read_bytes()[-2000:] == (tmp_path / "out" / dest).read_bytes()[-2000:], src
    before = _tree(tmp_path / "out")
    r = run_cli("sign", "d", "-o", "out", *sign, cwd=tmp_path)   # a folder: d/a.jpg → out/a.jpg, which exists
    assert r.returncode == 2 and r.stdout == ""
    assert _one_line(r) == (f"genaudit: error: refusing to overwrite {os.path.join('out', 'a.jpg')}: it exists;"
                            " use --force to overwrite it")
    assert _tree(tmp_path / "out") == before


def test_library_writers_refuse_existing_outputs(tmp_path: Path, keys: dict[str, str]) -> None:
    signer = SignerConfig.from_files(keys["chain"], keys["key"])
    _photos(1, 96)[0].save(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"mine")
    with pytest.raises(OutputExistsError):
        sign_files([tmp_path / "a.png"], tmp_path / "out", signer, checks=())   # at the call, before any file
    assert (tmp_path / "out" / "a.png").read_bytes() == b"mine"
    [r] = sign_files([tmp_path / "a.png"], tmp_path / "out", signer, checks=(), force=True)
    assert r.status == "signed" and r.output == str(tmp_path / "out" / "a.png")

    def toy(n: int, seed: int = 0) -> list[np.ndarray]:
        return [np.full((16, 16), 100 + i, np.uint8) for i in range(n)]

    gen = genaudit.wrap(toy, checks=(), model_id="toy")
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "sample-0-00001.png").write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match=r"sample-0-00001\.png"):
        gen.sample(2, out_dir=tmp_path / "rel")
    assert sorted(os.listdir(tmp_path / "rel")) == ["sample-0-00001.png"]
    assert len(gen.sample(2, out_dir=tmp_path / "rel", force=True)) == 2


def test_index_build_refuses_an_existing_index(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    _photos(1, 96)[0].save(tmp_path / "train" / "a.png")
    (tmp_path / "idx.gaidx").write_bytes(b"an index I spent a week building")
    r = run_cli("index", "build", "train", "-o", "idx.gaidx", "-j", "1", "-q", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert _one_line(r) == ("genaudit: error: refusing to overwrite idx.gaidx: it exists;"
                            " use --force to overwrite it")
    assert (tmp_path / "idx.gaidx").read_bytes() == b"an index I spent a week building"
    r = run_cli("index", "build", "train", "-o", "idx.gaidx", "-j", "1", "-q", "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 items" in r.stdout


def test_models_sample_refuses_existing_files(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("models", "sample", "gan-fmnist", "-n", "2", "-o", "s", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = _tree(tmp_path / "s")
    first = sorted(before)[0]
    (tmp_path / "s" / first).write_bytes(b"edited")
    r = run_cli("models", "sample", "gan-fmnist", "-n", "2", "-o", "s", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert _one_line(r) == (f"genaudit: error: refusing to overwrite {os.path.join('s', first)} and 1 more"
                            " existing output; use --force to overwrite them")
    assert (tmp_path / "s" / first).read_bytes() == b"edited"
    assert run_cli("models", "sample", "gan-fmnist", "-n", "2", "-o", "s", "--force", cwd=tmp_path).returncode == 0
    assert _tree(tmp_path / "s") == before


def test_key_writers_name_force(run_cli: CliRunner, tmp_path: Path) -> None:
    assert run_cli("watermark", "keygen", "-o", "k.key", cwd=tmp_path).returncode == 0
    before = (tmp_path / "k.key").read_bytes()
    r = run_cli("watermark", "keygen", "-o", "k.key", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert _one_line(r) == "genaudit: error: refusing to overwrite k.key: it exists; use --force to overwrite it"
    assert (tmp_path / "k.key").read_bytes() == before
    assert run_cli("keys", "init", "-o", "dev", cwd=tmp_path).returncode == 0
    r = run_cli("keys", "init", "-o", "dev", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert _one_line(r) == (f"genaudit: error: refusing to overwrite {os.path.join('dev', 'root.pem')} and 2 more"
                            " existing outputs; use --force to overwrite them")
