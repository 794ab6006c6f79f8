"""The detector end to end through the real CLI, real torch and the real embedding weights:
retraining on two small folders, ``detect``, ``scan --detector``, broken model files, and the
shipped detector on held-out generator seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genaudit.detector import Detector, DetectorModel
from tests.conftest import CliRunner

HELD_OUT_SEED = 4242  # neither the detector's training seed (1000) nor its evaluation seed (2000)


def _fmnist(n: int, seed: int) -> np.ndarray:
    from genaudit.datasets import load_fashion_mnist

    images, _ = load_fashion_mnist("test")
    return images[np.random.default_rng(seed).choice(len(images), n, replace=False)]


def _samples(name: str, n: int, seed: int) -> np.ndarray:
    from genaudit import models

    return models.load(name).sample(n, seed=seed).images


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("detector")
    real, fake, mixed = root / "real", root / "fake", root / "mixed"
    for d in (real, fake, mixed):
        d.mkdir()
    for i, im in enumerate(_fmnist(30, 11)):
        Image.fromarray(im).save(real / f"r{i:02d}.png")
    for i, im in enumerate(_samples("gan-fmnist", 30, HELD_OUT_SEED)):
        Image.fromarray(im).save(fake / f"f{i:02d}.png")
    (real / "notes.txt").write_text("not an image")  # ignored, as a scan ignores it
    (real / "tiny.png").write_bytes(_png(np.zeros((4, 4), np.uint8)))  # refused: too small
    Image.fromarray(_fmnist(1, 12)[0]).save(mixed / "a_real.png")
    Image.fromarray(_samples("vae-fmnist", 1, HELD_OUT_SEED)[0]).save(mixed / "b_vae.png")
    (mixed / "c_tiny.png").write_bytes(_png(np.zeros((5, 30), np.uint8)))
    (mixed / "d_truncated.png").write_bytes(_png(_fmnist(1, 13)[0])[:120])
    return {"root": root, "real": real, "fake": fake, "mixed": mixed}


def _png(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def trained(folders: dict[str, Path]) -> tuple[Path, dict]:
    from tests.conftest import run_cli_once

    out = folders["root"] / "mine.gadet"
    r = run_cli_once("detector", "train", "--real", str(folders["real"]), "--fake", str(folders["fake"]),
                     "-o", str(out), "-q", "--target-fpr", "0.1")
    assert r.returncode == 1, r.stderr  # one file was refused (tiny.png): said, and exit 1
    assert "tiny.png: too_small" in r.stderr and "notes.txt" not in r.stderr
    return out, json.loads(r.stdout)


def test_retraining_on_two_small_folders_writes_model_card_and_metrics(trained: tuple[Path, dict],
                                                                        folders: dict[str, Path],
                                                                        run_cli: CliRunner) -> None:
    out, doc = trained
    assert out.is_file() and doc["sha256"] == DetectorModel.load(out).sha256
    # 30 usable of 31: 20% validation (6), 25% calibration (7.5, rounded half to even: 8), the rest
    assert doc["counts"]["real"] == {"train": 16, "calibration": 8, "validation": 6}
    v = doc["validation"]
    assert set(v) >= {"auc", "ap", "ece", "accuracy", "tpr", "fpr", "tpr_at_0.01_fpr"}
    assert 0 <= v["auc"] <= 1 and 0 <= v["ece"] <= 1
    card = out.with_suffix(".md").read_text()
    assert doc["sha256"] in card and "| auc |" in card and str(folders["real"]) in card
    assert "target FPR 0.1" in card
    # never overwritten silently
    before = out.read_bytes()
    r = run_cli("detector", "train", "--real", str(folders["real"]), "--fake", str(folders["fake"]), "-o", str(out))
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr and out.read_bytes() == before


def test_detect_json_lines_per_file_in_input_order(trained: tuple[Path, dict], folders: dict[str, Path],
                                                   run_cli: CliRunner) -> None:
    model, _ = trained
    r = run_cli("detect", str(folders["mixed"]), "--detector", str(model), "--json")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(d["path"]).name for d in lines] == ["a_real.png", "b_vae.png", "c_tiny.png", "d_truncated.png"]
    judged = lines[:2]
    for d in judged:
        assert d["status"] == "ok" and d["verdict"] in ("generated", "real") and 0 <= d["p_generated"] <= 1
        assert d["threshold"] == pytest.approx(DetectorModel.load(model).threshold) and d["target_fpr"] == 0.1
    assert lines[2]["status"] == "skipped" and "too small" in lines[2]["reason"]
    assert lines[3]["status"] == "error" and lines[3]["error"]["code"] == "truncated"
    assert r.returncode == 1 and r.stderr == ""
    again = run_cli("detect", str(folders["mixed"]), "--detector", str(model), "--json")
    assert again.stdout == r.stdout  # same input, same output


def test_scan_with_a_retrained_detector_records_it(trained: tuple[Path, dict], folders: dict[str, Path],
                                                   run_cli: CliRunner, tmp_path: Path) -> None:
    model, doc = trained
    r = run_cli("scan", str(folders["mixed"]), "--detector", str(model), "--report-dir", str(tmp_path), "-q",
                "-j", "1", "-O", "detector.target_fpr=0.2")
    assert r.returncode == 1, r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    info = next(c for c in report["checks"] if c["name"] == "detector")
    assert info["params"]["target_fpr"] == 0.2 and info["params"]["model_sha256"] == doc["sha256"]
    assert {m["sha256"] for m in info["models"]} >= {doc["sha256"]}
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["c_tiny.png"]["checks"]["detector"]["status"] == "skipped"
    assert by_name["d_truncated.png"]["status"] == "error"
    judged = by_name["a_real.png"]["checks"]["detector"]
    assert judged["status"] in ("ok", "finding") and judged["data"]["target_fpr"] == 0.2
    assert report["summary"]["checks"]["detector"]["called_generated"]["audited"] == 2


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"not a model at all\n"])
def test_broken_model_file_is_one_error_line_on_every_command(content: bytes, folders: dict[str, Path],
                                                              run_cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gadet"
    bad.write_bytes(content)
    image = str(folders["mixed"] / "a_real.png")
    for args in (("detect", image, "--detector", str(bad)),
                 ("scan", image, "--detector", str(bad), "--report-dir", str(tmp_path / "rep"), "-j", "1"),
                 ("detector", "info", str(bad))):
        r = run_cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and r.stdout == "" and len(lines) == 1, (args, r.stdout, r.stderr)
        assert lines[0].startswith(f"genaudit: error: detector file {bad}"), lines
    assert not (tmp_path / "rep").exists()


def test_batched_equals_one_at_a_time_and_probabilities_are_in_range(trained: tuple[Path, dict]) -> None:
    det = Detector(trained[0], batch_size=4)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28), dtype=np.uint8), rng.integers(0, 256, (64, 48, 3), dtype=np.uint8),
              np.zeros((8, 8), np.uint8), np.full((300, 200, 3), 255, np.uint8), *_fmnist(3, 5)]
    batched = det.predict_proba(images)
    single = np.array([det.predict_proba([im])[0] for im in images])
    assert ((batched >= 0) & (batched <= 1)).all()
    assert np.allclose(batched, single, atol=1e-5)
    assert np.array_equal(det.predict_proba(images), batched)


def test_shipped_detector_separates_held_out_generator_seeds() -> None:
    """Samples of the GAN and VAE drawn with a seed the detector never saw, against Fashion-MNIST
    test images: the shipped detector ranks them apart and calls few real images generated."""
    from sklearn.metrics import roc_auc_score

    det = Detector()
    real = list(_fmnist(60, 21))
    fake = list(_samples("gan-fmnist", 30, HELD_OUT_SEED)) + list(_samples("vae-fmnist", 30, HELD_OUT_SEED))
    p = det.predict_proba(real + fake)
    assert roc_auc_score([0] * 60 + [1] * 60, p) > 0.95
    verdicts = [x.verdict for x in det.predict(real)]
    assert verdicts.count("generated") <= 6  # target 1%: 6 of 60 would be ten times that
    assert det.model.sha256 and det.info()["target_fpr"] == 0.01


def test_altered_shipped_detector_is_refused_naming_the_expected_hash(tmp_path: Path, run_cli: CliRunner,
                                                                     folders: dict[str, Path]) -> None:
    import shutil

    from genaudit.checkpoints import checkpoint_dir
    from genaudit.detector import DEFAULT_MODEL, DetectorFileError, load_model

    src = Path(checkpoint_dir())
    shutil.copy(src / "manifest.json", tmp_path / "manifest.json")
    data = bytearray((src / f"{DEFAULT_MODEL}.gadet").read_bytes())
    data[-1] ^= 0x01  # one bit of a calibration score
    (tmp_path / f"{DEFAULT_MODEL}.gadet").write_bytes(bytes(data))
    expected = json.loads((src / "manifest.json").read_text())["detectors"][DEFAULT_MODEL]["sha256"]
    r = run_cli("detect", str(folders["mixed"] / "a_real.png"), env={"GENAUDIT_CHECKPOINT_DIR": str(tmp_path)})
    assert r.returncode == 2 and r.stdout == "" and expected in r.stderr and "altered" in r.stderr
    assert load_model().sha256 == expected  # the shipped file itself is intact
    with pytest.raises(DetectorFileError):
        DetectorModel.load(tmp_path / f"{DEFAULT_MODEL}.gadet", expected_sha256=expected)
