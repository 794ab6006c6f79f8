"""The CLI's one output contract for commands that report per-file results, through the real CLI
in a subprocess on real files: ``--json`` gives only JSON lines (each with ``path`` and ``status``)
on stdout; text gives a line per file on stdout and ``error: PATH: CODE: MESSAGE`` on stderr; exit
0 all good, 1 findings or file errors, 2 usage errors."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from genaudit.memorization.build import build_index
from genaudit.provenance.c2pa import SignerConfig
from genaudit.provenance.certs import create_dev_chain, write_dev_chain
from genaudit.release import sign_files
from genaudit.samples import photo_crops
from genaudit.watermark import WatermarkKey, embed, save_key
from tests.conftest import CliRunner


@dataclass(frozen=True)
class Env:
    inputs: Path      # a.png, b.jpg: readable photos
    broken: Path      # a truncated PNG
    marked: Path      # a.png, b.png watermarked with `wm_key`
    signed: Path      # a.png, b.jpg signed with the dev chain
    extra: Path       # c.png (in the index), tiny.png (too small to mark), photo.bmp (C2PA cannot sign it)
    wm_key: Path
    keys: dict[str, str]
    index: Path       # hashes of c.png and of a and b flipped upside down


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("cli-output")
    a, b, c = (Image.fromarray(img) for _, img in photo_crops(192, 3, seed=31))
    inputs, marked, extra, train = (root / n for n in ("in", "marked", "extra", "train"))
    for d in (inputs, marked, extra, train):
        d.mkdir()
    a.save(inputs / "a.png")
    b.save(inputs / "b.jpg", quality=92)
    broken = root / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    key = WatermarkKey.from_passphrase("cli output contract")
    wm_key = Path(save_key(key, root / "wm.key"))
    embed(a, key).save(marked / "a.png")
    embed(b, key).save(marked / "b.png")
    chain = create_dev_chain("cli output tests")
    keys = write_dev_chain(str(root / "keys"), chain)
    signed = root / "signed"
    results = list(sign_files([inputs], signed, SignerConfig(chain.chain_pem, chain.private_key_pem)))
    assert [r.status for r in results] == ["signed", "signed"]
    c.save(extra / "c.png")
    c.resize((32, 32)).save(extra / "tiny.png")
    a.save(extra / "photo.bmp")
    c.save(train / "c.png")
    a.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(train / "a-flipped.png")
    b.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(train / "b-flipped.png")
    index, _ = build_index([str(train)], jobs=1)
    index_path = Path(index.save(root / "train.gaidx"))
    return Env(inputs, broken, marked, signed, extra, wm_key, keys, index_path)


@dataclass(frozen=True)
class Command:
    name: str
    good_args: tuple[str, ...]    # inputs that are all good: exit 0
    good_status: str
    good: tuple[str, ...]         # the good input files, in output order
    finding_args: tuple[str, ...]  # readable inputs that are not good: exit 1
    finding: dict[str, str]       # file name → status (or error code) of each
    options: tuple[str, ...]
    broken_code: str = "truncated"  # what the truncated PNG is


def commands(env: Env, out: Path) -> dict[str, Command]:
    ins = (str(env.inputs / "a.png"), str(env.inputs / "b.jpg"))
    return {
        "watermark embed": Command(
            "watermark embed", (str(env.inputs),), "written", ins, (str(env.extra / "tiny.png"),),
            {"tiny.png": "embed_failed"}, ("-o", str(out), "--key-file", str(env.wm_key))),
        "watermark verify": Command(
            "watermark verify", (str(env.marked),), "ok", (str(env.marked / "a.png"), str(env.marked / "b.png")),
            (str(env.inputs / "a.png"),), {"a.png": "ok"}, ("--key-file", str(env.wm_key))),
        "sign": Command(
            "sign", (str(env.inputs),), "signed", ins, (str(env.extra / "photo.bmp"),), {"photo.bmp": "sign_failed"},
            ("-o", str(out), "--cert", env.keys["chain"], "--key", env.keys["key"])),
        "verify-manifest": Command(
            "verify-manifest", (str(env.signed),), "valid_trusted",
            (str(env.signed / "a.png"), str(env.signed / "b.jpg")), (str(env.inputs / "a.png"),),
            {"a.png": "no_manifest"}, ("--trust-anchors", env.keys["root"]), broken_code="unparseable"),
        "index query": Command(
            "index query", (str(env.index), *ins), "no_match", ins, (str(env.index), str(env.extra / "c.png")),
            {"c.png": "match"}, ()),
    }


NAMES = ["watermark embed", "watermark verify", "sign", "verify-manifest", "index query"]


def _json_lines(stdout: str) -> list[dict]:
    docs = [json.loads(line) for line in stdout.splitlines()]   # every stdout line is JSON
    for d in docs:
        assert isinstance(d, dict) and isinstance(d["path"], str) and isinstance(d["status"], str), d
    return docs


@pytest.mark.parametrize("name", NAMES)
def test_json_gives_one_object_per_input_and_nothing_else(name: str, env: Env, run_cli: CliRunner,
                                                          tmp_path: Path) -> None:
    c = commands(env, tmp_path / "out")[name]
    r = run_cli(*name.split(), *c.good_args, str(env.broken), *c.options, "--json")
    assert r.returncode == 1, r.stderr                      # the broken file
    assert "Traceback" not in r.stderr and "error:" not in r.stderr
    docs = _json_lines(r.stdout)
    assert [d["path"] for d in docs] == [*c.good, str(env.broken)]
    assert [d["status"] for d in docs] == [c.good_status] * len(c.good) + ["error"]
    assert docs[-1]["error"]["code"] == c.broken_code and docs[-1]["error"]["message"]
    c = commands(env, tmp_path / "out2")[name]                # a fresh output folder: outputs are never replaced
    r = run_cli(*name.split(), *c.good_args, *c.options, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr           # all good
    assert [d["status"] for d in _json_lines(r.stdout)] == [c.good_status] * len(c.good)


@pytest.mark.parametrize("name", NAMES)
def test_text_gives_a_line_per_file_and_file_errors_on_stderr(name: str, env: Env, run_cli: CliRunner,
                                                             tmp_path: Path) -> None:
    c = commands(env, tmp_path / "out")[name]
    r = run_cli(*name.split(), *c.good_args, str(env.broken), *c.options)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == len(c.good) and all(line.startswith(p) for line, p in zip(lines, c.good, strict=True))
    assert str(env.broken) not in r.stdout
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {env.broken}: {c.broken_code}: "), r.stderr


@pytest.mark.parametrize("name", NAMES)
def test_a_finding_or_failure_on_a_readable_file_exits_1(name: str, env: Env, run_cli: CliRunner,
                                                         tmp_path: Path) -> None:
    c = commands(env, tmp_path / "out")[name]
    r = run_cli(*name.split(), *c.finding_args, *c.options, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    got = {Path(d["path"]).name: d["error"]["code"] if d["status"] == "error" else d["status"]
           for d in _json_lines(r.stdout)}
    assert got == c.finding


@pytest.mark.parametrize(("args", "needle"), [
    (["watermark", "embed", "x.png", "-o", "o", "--key-file", "x", "--method", "nope"], "unknown method"),
    (["watermark", "verify", "x.png", "--key-file", "missing.key", "--json"], "missing.key"),
    (["sign", "x.png", "-o", "o", "--cert", "missing.pem", "--key", "missing.key", "--json"], "missing.pem"),
    (["verify-manifest", "x.png", "--trust-anchors", "missing.pem", "--json"], "missing.pem"),
    (["index", "query", "missing.gaidx", "x.png", "--json"], "missing.gaidx"),
])
def test_usage_errors_exit_2_with_one_line_and_nothing_on_stdout(args: list[str], needle: str, run_cli: CliRunner,
                                                                  tmp_path: Path) -> None:
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genaudit: error:") and needle in lines[0], r.stderr


def test_index_build_reports_refused_files_on_the_shared_error_line(env: Env, run_cli: CliRunner,
                                                                    tmp_path: Path) -> None:
    src = tmp_path / "train"
    shutil.copytree(env.inputs, src)
    shutil.copy(env.broken, src / "broken.png")
    r = run_cli("index", "build", str(src), "-o", str(tmp_path / "i.gaidx"), "-j", "1", "-q")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {src / 'broken.png'}: "), r.stderr
    assert "2 items" in r.stdout
