"""The memorization check and the index CLI, end to end on real files and the shipped memorizing model."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genaudit import models
from genaudit.datasets import load_fashion_mnist
from genaudit.errors import ConfigError
from genaudit.memorization import TrainingIndex
from genaudit.registry import create_check
from genaudit.samples import photo_crops
from tests.conftest import CliRunner


def write_training_folder(root: Path) -> list[np.ndarray]:
    root.mkdir(parents=True)
    photos = [im for _, im in photo_crops(192, 12, seed=21)]
    for i, im in enumerate(photos):
        Image.fromarray(im).save(root / f"photo {i}.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return photos


def test_index_cli_build_query_add(run_cli: CliRunner, tmp_path: Path) -> None:
    photos = write_training_folder(tmp_path / "train")
    idx = tmp_path / "train.gaidx"
    r = run_cli("index", "build", str(tmp_path / "train"), "-o", str(idx), "--hashes", "phash,dhash", "-j", "1", "-q")
    assert r.returncode == 1, r.stderr            # one refused file → exit 1, and it is named
    assert "broken.png" in r.stderr and "12 items" in r.stdout
    q = tmp_path / "q"
    q.mkdir()
    Image.fromarray(photos[3]).resize((150, 150)).save(q / "copy.jpg", quality=85)
    Image.fromarray(photos[3][:, ::-1].copy()).save(q / "unrelated.png")   # a mirror image is not a hash match
    r = run_cli("index", "query", str(idx), str(q / "copy.jpg"), "--radius", "8", "-k", "2", "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["matches"][0]["source"].endswith("photo 3.png") and doc["matches"][0]["distance"] <= 4
    assert len(doc["nearest"]) == 2
    r = run_cli("index", "add", str(idx), str(q / "unrelated.png"), "-j", "1", "-q")
    assert r.returncode == 0 and "12 + 1 = 13" in r.stdout
    r = run_cli("index", "query", str(idx), str(q / "unrelated.png"), "--radius", "0", "--json")
    assert json.loads(r.stdout)["matches"][0]["source"].endswith("unrelated.png")
    (tmp_path / "bad.gaidx").write_bytes(idx.read_bytes()[:-7])
    r = run_cli("index", "query", str(tmp_path / "bad.gaidx"), str(q / "copy.jpg"))
    assert r.returncode == 2 and "truncated" in r.stderr and "Traceback" not in r.stderr


def test_scan_flags_the_memorizing_model_and_not_real_photos(run_cli: CliRunner, tmp_path: Path) -> None:
    info = models.model_info("ddpm-fmnist-memorize")
    train_idx = np.asarray(info.meta["train_indices"])
    x, labels = load_fashion_mnist("train")
    # index: the memorizer's 64 images among 3,000 other training images, as an IDX-backed source
    gen = models.load("ddpm-fmnist-memorize")
    out = tmp_path / "ddpm-fmnist-memorize"
    out.mkdir()
    samples = gen.sample(8, labels=labels[train_idx][:8].tolist(), seed=5).images
    for i, s in enumerate(samples):
        Image.fromarray(s).save(out / f"s{i}.png")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (_, im) in enumerate(photo_crops(128, 4, seed=2)):
        Image.fromarray(im).save(photos / f"p{i}.png")
    idx = tmp_path / "fm.gaidx"
    # 60,000 items: hashes only (embedding them all takes an hour on 2 cores); the check embeds candidates on demand
    r = run_cli("index", "build", "fashion-mnist:train", "-o", str(idx), "--hashes", "phash,dhash", "--no-embed",
                "-j", "1", "-q", timeout=600)
    assert r.returncode == 0, r.stderr
    report_dir = tmp_path / "rep"
    r = run_cli("scan", str(out), str(photos), "--index", str(idx), "--report-dir", str(report_dir), "-j", "1", "-q",
                timeout=900)
    assert r.returncode == 1, r.stderr
    report = json.loads((report_dir / "report.json").read_text())
    by_gen = report["summary"]["checks"]["memorization"]["by_generator"]
    # Not every sample of the memorizer is a copy (some are blends of its 64 images): the check must
    # flag the pixel copies (mean absolute difference <= 10 grey levels to one of its 64 images).
    ours = x[train_idx].reshape(len(train_idx), -1).astype(np.int16)
    mad = np.abs(samples.reshape(len(samples), -1).astype(np.int16)[:, None] - ours[None]).mean(axis=2).min(axis=1)
    copies = {f"s{i}.png" for i in np.flatnonzero(mad <= 10)}
    assert len(copies) >= 4
    flagged_names = {Path(f["path"]).name for f in report["files"]
                     if f["checks"]["memorization"]["status"] == "finding" and "ddpm-fmnist-memorize" in f["path"]}
    assert len(copies & flagged_names) >= len(copies) - 1
    assert by_gen["ddpm-fmnist-memorize"]["memorized"] == len(flagged_names)
    assert by_gen["photos"]["memorized"] == 0
    lo, hi = report["summary"]["checks"]["memorization"]["memorization_rate"]["ci95"]
    assert 0 <= lo <= hi <= 1
    flagged = [f for f in report["files"] if f["checks"]["memorization"]["status"] == "finding"]
    for f in flagged:
        best = f["checks"]["memorization"]["data"]["closest"][0]
        assert int(best["source"].rsplit(":", 1)[1]) in set(train_idx.tolist())   # a copy of one of ITS 64 images
    r = run_cli("scan", str(photos), "--index", str(tmp_path / "nope.gaidx"), "--report-dir", str(report_dir))
    assert r.returncode == 2 and "not found" in r.stderr


def test_memorization_without_an_index_or_with_an_empty_one_is_a_config_error(run_cli: CliRunner,
                                                                              tmp_path: Path) -> None:
    need = "the memorization check needs option memorization.index: give --index IDX or -O memorization.index=IDX"
    with pytest.raises(ConfigError) as info:
        create_check("memorization")
    assert str(info.value) == need
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(next(iter(photo_crops(64, 1, seed=3)))[1]).save(inputs / "a.png")
    empty = TrainingIndex(("phash",)).save(tmp_path / "empty.gaidx")
    for extra, needle in (((), need), (("--index", empty), f"memorization index {empty} holds no training items")):
        r = run_cli("scan", str(inputs), "--checks", "memorization", *extra, "--report-dir", str(tmp_path / "rep"),
                    "-q")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and r.stdout == "" and len(lines) == 1, r.stdout + r.stderr
        assert lines[0] == f"genaudit: error: {needle}" or lines[0].startswith(f"genaudit: error: {needle} ("), lines
        assert not (tmp_path / "rep").exists()     # stopped before the scan began
    with pytest.raises(ConfigError, match="holds no training items"):
        create_check("memorization", {"index": empty})


def test_resume_refuses_a_journal_written_against_another_index_file(tmp_path: Path) -> None:
    from genaudit import Auditor
    from genaudit.errors import ResumeError
    from genaudit.memorization import build_index

    train, inputs = tmp_path / "train", tmp_path / "in"
    train.mkdir()
    inputs.mkdir()
    photos = [im for _, im in photo_crops(64, 4, seed=8)]
    for i, im in enumerate(photos[:3]):
        Image.fromarray(im).save(train / f"t{i}.png")
    Image.fromarray(photos[0]).save(inputs / "a.png")
    idx = tmp_path / "train.gaidx"
    build_index([str(train)], jobs=1)[0].save(idx)
    options = {"memorization": {"index": str(idx), "rerank": False, "align": False}}
    first = Auditor(checks=("memorization",), options=options)
    assert first.check_infos()[0].params["index_sha256"] == hashlib.sha256(idx.read_bytes()).hexdigest()
    first.scan([str(inputs)], report_dir=tmp_path / "rep")
    Image.fromarray(photos[3]).save(train / "t1.png")     # same number of items, other content
    build_index([str(train)], jobs=1)[0].save(idx)
    again = Auditor(checks=("memorization",), options=options, resume=True)
    assert again.fingerprint() != first.fingerprint()
    with pytest.raises(ResumeError, match="other checks, options"):
        again.scan([str(inputs)], report_dir=tmp_path / "rep")


def test_index_build_or_add_of_nothing_indexable_exits_2_and_writes_nothing(run_cli: CliRunner,
                                                                             tmp_path: Path) -> None:
    from genaudit.memorization import NothingToIndexError, build_index

    empty, refused = tmp_path / "empty", tmp_path / "refused"
    empty.mkdir()
    refused.mkdir()
    (refused / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (refused / "notes.txt").write_text("not an image")
    out = tmp_path / "out" / "x.gaidx"
    out.parent.mkdir()
    for src, needle in ((empty, f"no training images in {empty}"),
                        (refused, f"no training images in {refused} (1 file ignored: not images): "
                                 f"1 image file refused (first: {refused}/a.png: truncated")):
        r = run_cli("index", "build", str(src), "-o", str(out), "-j", "1", "-q")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and r.stdout == "" and len(lines) == 1, r.stdout + r.stderr
        assert lines[0].startswith(f"genaudit: error: {needle}"), lines
        assert list(out.parent.iterdir()) == []
        with pytest.raises(NothingToIndexError):
            build_index([str(src)], jobs=1)
    train = tmp_path / "train"
    train.mkdir()
    Image.fromarray(next(iter(photo_crops(64, 1, seed=4)))[1]).save(train / "t.png")
    assert run_cli("index", "build", str(train), "-o", str(out), "-j", "1", "-q").returncode == 0
    before = out.read_bytes()
    r = run_cli("index", "add", str(out), str(empty), "-j", "1", "-q")
    assert r.returncode == 2 and "no training images in" in r.stderr and out.read_bytes() == before


def _memorization(report_dir: Path) -> dict[str, dict]:
    """File name → its memorization result in report.json."""
    report = json.loads((report_dir / "report.json").read_text())
    return {Path(f["path"]).name: f["checks"]["memorization"] for f in report["files"]}


def test_an_index_finds_the_same_copies_from_any_folder_and_a_lost_training_file_is_an_error(
        run_cli: CliRunner, tmp_path: Path) -> None:
    from genaudit.watermark import attacks

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "train").mkdir(parents=True)
    (work / "gen").mkdir()
    elsewhere.mkdir()
    photos = [im for _, im in photo_crops(96, 7, seed=41)]
    for i, im in enumerate(photos[:6]):
        Image.fromarray(im).save(work / "train" / f"t{i}.png")
    for i in range(3):   # rotated copies: only the embedding and registration stages can match them
        Image.fromarray(attacks.apply("rotate_5", photos[i], seed=0)).save(work / "gen" / f"q{i}.png")
    Image.fromarray(photos[6]).save(work / "gen" / "other.png")
    r = run_cli("index", "build", "train", "-o", "train.gaidx", "-j", "1", "-q", cwd=work)   # relative paths
    assert r.returncode == 0, r.stderr
    scan = ("-O", "memorization.candidates=4", "-j", "1", "-q")
    r = run_cli("scan", "gen", "--index", "train.gaidx", "--report-dir", "rep", *scan, cwd=work)
    assert r.returncode == 1, r.stderr
    r = run_cli("scan", str(work / "gen"), "--index", "../work/train.gaidx", "--report-dir", "rep", *scan,
                cwd=elsewhere)
    assert r.returncode == 1, r.stderr

    def found(res: dict) -> tuple[str, list[str]]:
        return res["status"], [Path(c["source"]).name for c in res["data"]["closest"] if c["match"]]

    here, there = _memorization(work / "rep"), _memorization(elsewhere / "rep")
    assert {n: found(r) for n, r in there.items()} == {n: found(r) for n, r in here.items()} == {
        "q0.png": ("finding", ["t0.png"]), "q1.png": ("finding", ["t1.png"]), "q2.png": ("finding", ["t2.png"]),
        "other.png": ("ok", [])}
    assert all("unreadable_training_items" not in r["data"] for r in there.values())

    (work / "train" / "t1.png").unlink()       # the index and its training data now disagree
    r = run_cli("scan", str(work / "gen"), "--index", "../work/train.gaidx", "--report-dir", "rep2", *scan,
                "--fail-on", "errors", cwd=elsewhere)
    assert r.returncode == 1, r.stderr
    lost = _memorization(elsewhere / "rep2")["q1.png"]
    assert lost["status"] == "error" and "t1.png" in lost["reason"], lost
    assert lost["data"]["unreadable_training_items"][0].startswith(os.path.join("..", "work", "train", "t1.png"))
    summary = json.loads((elsewhere / "rep2" / "report.json").read_text())["summary"]
    assert summary["statuses"]["memorization"]["error"] >= 1
    assert summary["checks"]["memorization"]["unreadable_training_items"] == 1
    md = (elsewhere / "rep2" / "report.md").read_text()
    assert "## Check errors (" in md and any("q1.png" in line and "t1.png" in line for line in md.splitlines())


def test_training_side_work_lives_as_long_as_the_auditor(tmp_path: Path) -> None:
    from genaudit import Auditor
    from genaudit.memorization import build_index
    from genaudit.watermark import attacks

    train = tmp_path / "train"
    train.mkdir()
    photos = [im for _, im in photo_crops(64, 4, seed=9)]
    for i, im in enumerate(photos):
        Image.fromarray(im).save(train / f"t{i}.png")
    idx = build_index([str(train)], jobs=1)[0].save(tmp_path / "train.gaidx")
    options = {"memorization": {"index": idx}}
    copy = attacks.apply("rotate_5", photos[2], seed=0)
    auditor = Auditor(checks=("memorization",), options=options)
    first = auditor.audit_image(copy).result("memorization")
    assert first is not None and first.status == "finding"
    for f in train.iterdir():       # from now on, a training item read again would be an error
        f.unlink()
    again = auditor.audit_image(copy).result("memorization")
    assert again == first           # every candidate's embedding and thumbnail came from this Auditor's cache
    fresh = Auditor(checks=("memorization",), options=options).audit_image(copy).result("memorization")
    assert fresh is not None and fresh.status == "error" and len(fresh.data["unreadable_training_items"]) == 4
