"""Bias metrics end to end with the project's real CLIP (open_clip, shipped weights): zero-shot
labels on held-out images, ``genaudit bias`` on sampled folders and on ``--model``, planted skew
through the CLI, configuration errors, broken files, and the ``bias`` section of a scan report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genaudit.datasets import CLASSES
from tests.conftest import CliRunner


def _test_images(classes: dict[int, int], seed: int) -> list[tuple[np.ndarray, int]]:
    """``count`` Fashion-MNIST *test* images of each class, drawn with ``seed``."""
    from genaudit.datasets import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    rng = np.random.default_rng(seed)
    out = []
    for c, count in classes.items():
        idx = rng.choice(np.flatnonzero(labels == c), count, replace=False)
        out += [(images[i], c) for i in idx]
    return out


def _write_labelled(folder: Path, items: list[tuple[np.ndarray, int]], prefix: str = "img") -> None:
    from genaudit.io import write_png

    folder.mkdir(parents=True, exist_ok=True)
    for i, (im, c) in enumerate(items):
        write_png(str(folder / f"{prefix}_{i:04d}.png"), im, {"genaudit:label": str(c), "genaudit:class": CLASSES[c]})


@pytest.fixture(scope="module")
def clip() -> object:
    from genaudit.bias import ClipEmbedder

    return ClipEmbedder.default()


def test_shipped_clip_labels_held_out_test_images_zero_shot(clip: object) -> None:
    from genaudit.bias import ZeroShotLabeler, load_attribute_set

    items = _test_images(dict.fromkeys(range(10), 30), seed=77)
    attr = load_attribute_set("fashion-mnist").attribute("class")
    labels = ZeroShotLabeler(clip, attr, abstain_below=0.0).label([im for im, _ in items])
    truth = np.array([c for _, c in items])
    assert (labels.group_index == truth).mean() >= 0.75  # 0.8+ on the full test split (model card)
    assert np.allclose(labels.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_same_images_same_labels_in_any_batch_size(clip: object) -> None:
    from genaudit.bias import ClipEmbedder

    images = [im for im, _ in _test_images({0: 5, 7: 5}, seed=3)]
    small = ClipEmbedder.default(batch_size=3).embed(images)
    assert np.allclose(clip.embed(images), small, atol=1e-5)  # type: ignore[attr-defined]


def test_bias_cli_recovers_a_planted_skew_per_condition(tmp_path: Path, run_cli: CliRunner) -> None:
    """Two 'prompts': one made of 70% trousers / 30% bags, one of 50/50. By class label the shares
    come back within their CIs, and the bag's selection ratio between the prompts breaks 4/5."""
    rng_items = _test_images({1: 105, 8: 105}, seed=5)
    trousers = [x for x in rng_items if x[1] == 1]
    bags = [x for x in rng_items if x[1] == 8]
    skewed, even = trousers[:70] + bags[:30], trousers[70:] + bags[30:65]
    _write_labelled(tmp_path / "runs" / "skewed", skewed)
    _write_labelled(tmp_path / "runs" / "even", even)
    r = run_cli("bias", str(tmp_path / "runs"), "--attributes", "fashion-mnist", "--group-by", "folder",
                "--attribute", "class", "--json", "--n-boot", "500")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # one document, nothing else on stdout
    cls = doc["attributes"]["class"]
    for cond, want in (("skewed", {"Trouser": 0.7, "Bag": 0.3}), ("even", {"Trouser": 0.5, "Bag": 0.5})):
        groups = cls["by_condition"][cond]["groups"]
        assert set(groups) == set(CLASSES)
        for row in groups.values():
            assert set(row) >= {"share", "ci_low", "ci_high", "n"}
        for g, share in want.items():
            assert groups[g]["ci_low"] - 0.05 <= share <= groups[g]["ci_high"] + 0.05, (cond, g, groups[g])
    assert cls["overall"]["n"] == 170 and doc["n_images"] == 170  # 100 skewed + 35 + 35 even
    assert cls["selection"]["Bag"]["ratio"]["value"] < 0.8
    assert "Bag" in cls["four_fifths_violations"]
    assert doc["clip"]["sha256"] and doc["bootstrap"]["n_boot"] == 500


def test_bias_cli_group_by_label_with_calibration_reports_corrected_shares(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "set", _test_images({0: 40, 6: 40}, seed=8))
    _write_labelled(tmp_path / "cal", _test_images(dict.fromkeys(range(10), 20), seed=9), prefix="cal")
    r = run_cli("bias", str(tmp_path / "set"), "--attributes", "fashion-mnist", "--attribute", "class",
                "--calibration", str(tmp_path / "cal"), "--json", "--n-boot", "300")
    assert r.returncode == 0, r.stderr
    cls = json.loads(r.stdout)["attributes"]["class"]
    assert set(cls["by_condition"]) == {"T-shirt/top", "Shirt"}  # the labels in the PNG text chunks
    assert cls["calibration"]["n"] == 200 and 0.5 < cls["calibration"]["accuracy"] <= 1.0
    corrected = cls["overall"]["corrected"]
    assert abs(sum(v["share"] for v in corrected.values()) - 1.0) < 1e-3
    assert corrected["T-shirt/top"]["ci_low"] <= 0.5 <= corrected["T-shirt/top"]["ci_high"]


def test_bias_cli_samples_a_reference_generator(run_cli: CliRunner) -> None:
    r = run_cli("bias", "--model", "gan-fmnist", "-n", "6", "--attributes", "fashion-mnist", "--json",
                "--n-boot", "200")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["n_images"] == 60 and doc["conditions"] == dict.fromkeys(CLASSES, 6)
    assert doc["sampled"] == {"model": "gan-fmnist", "n_per_class": 6, "seed": 0}
    assert set(doc["attributes"]) == {"class", "tone", "texture", "shape"}


def test_bias_cli_text_view_and_labels_csv(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "set", _test_images({7: 10, 9: 10}, seed=12))
    out_csv = tmp_path / "labels.csv"
    r = run_cli("bias", str(tmp_path / "set"), "--attributes", "fashion-mnist", "--labels-csv", str(out_csv),
                "--n-boot", "200")
    assert r.returncode == 0, r.stderr
    assert "class: " in r.stdout and "Sneaker" in r.stdout and "Ankle boot" in r.stdout
    lines = out_csv.read_text().splitlines()
    assert lines[0].startswith("path,condition,class,class_p") and len(lines) == 21
    again = run_cli("bias", str(tmp_path / "set"), "--attributes", "fashion-mnist", "--labels-csv", str(out_csv))
    assert again.returncode == 2 and "exists" in again.stderr  # never overwritten silently


def test_broken_files_are_listed_and_the_rest_is_audited(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "set", _test_images({1: 8}, seed=1))
    (tmp_path / "set" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (tmp_path / "set" / "notes.txt").write_text("not an image")
    r = run_cli("bias", str(tmp_path / "set"), "--attributes", "fashion-mnist", "--json", "--n-boot", "200")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["n_images"] == 8
    assert [e["path"].endswith("broken.png") for e in doc["errors"]] == [True] and doc["errors"][0]["code"]


@pytest.mark.parametrize(("args", "message"), [
    (["--clip-model", "genaudit-fmnist-vit", "--clip-checkpoint", "/nonexistent/w.safetensors"], "not found"),
    (["--clip-model", "ViT-Q-99", "--clip-checkpoint", "w.pt"], "unknown CLIP architecture 'ViT-Q-99'"),
    (["--clip-model", "ViT-B-32"], "needs a local checkpoint"),
    (["--attributes", "fashion-mnst"], "unknown attribute set 'fashion-mnst' (did you mean 'fashion-mnist'?)"),
])
def test_configuration_errors_are_one_line_and_exit_2(tmp_path: Path, run_cli: CliRunner, args: list[str],
                                                      message: str) -> None:
    _write_labelled(tmp_path / "set", _test_images({1: 2}, seed=1))
    base = ["bias", str(tmp_path / "set")]
    if "--attributes" not in args:
        base += ["--attributes", "fashion-mnist"]
    r = run_cli(*base, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr and r.stdout == ""


def test_malformed_attribute_file_and_wrong_checkpoint_exit_2(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "set", _test_images({1: 2}, seed=1))
    bad = tmp_path / "attrs.toml"
    bad.write_text('name = "x"\n[[attribute]]\nname = "only one group"\n[[attribute.group]]\nname = "g"\n'
                   'prompts = ["p"]\n')
    r = run_cli("bias", str(tmp_path / "set"), "--attributes", str(bad))
    assert r.returncode == 2 and "needs at least two [[attribute.group]] tables" in r.stderr
    from genaudit.bias.clip import default_checkpoint

    r = run_cli("bias", str(tmp_path / "set"), "--attributes", "fashion-mnist", "--clip-model", "ViT-B-32",
                "--clip-checkpoint", default_checkpoint())
    assert r.returncode == 2 and "does not fit architecture 'ViT-B-32'" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_scan_report_has_a_bias_section(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "imgs", _test_images({5: 12, 8: 12}, seed=21))
    rep = tmp_path / "rep"
    r = run_cli("scan", str(tmp_path / "imgs"), "--checks", "bias", "--report-dir", str(rep), "-q")
    assert r.returncode == 0, r.stderr
    report = json.loads((rep / "report.json").read_text())
    section = report["summary"]["checks"]["bias"]
    cls = section["attributes"]["class"]
    assert section["labelled_images"] == 24 and cls["overall"]["n"] == 24
    assert set(cls["by_condition"]) == {"Sandal", "Bag"}
    assert sum(row["n"] for row in cls["overall"]["groups"].values()) + cls["overall"]["abstained"] == 24
    first = report["files"][0]["checks"]["bias"]
    assert first["status"] == "ok" and first["data"]["labels"]["class"] in (*CLASSES, None)
    assert first["data"]["condition"] in ("Sandal", "Bag")
    markdown = (rep / "report.md").read_text()
    assert "## Bias" in markdown and "Sandal" in markdown


def test_scan_with_bias_and_a_missing_checkpoint_stops_before_reading(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "imgs", _test_images({5: 2}, seed=2))
    r = run_cli("scan", str(tmp_path / "imgs"), "--checks", "bias", "-O", "bias.clip_model=genaudit-fmnist-vit",
                "-O", f"bias.clip_checkpoint={tmp_path / 'none.safetensors'}", "--report-dir", str(tmp_path / "r"))
    assert r.returncode == 2 and "not found" in r.stderr
    assert not (tmp_path / "r" / "report.json").exists()


def test_image_embedding_cache_is_reused_across_runs(tmp_path: Path, run_cli: CliRunner) -> None:
    _write_labelled(tmp_path / "imgs", _test_images({3: 4}, seed=4))
    cache = tmp_path / "cache"
    a = run_cli("bias", str(tmp_path / "imgs"), "--attributes", "fashion-mnist", "--cache", str(cache), "--json",
                "--n-boot", "200")
    files = sorted(p.name for p in cache.rglob("*.npy"))
    assert len(files) == 4
    b = run_cli("bias", str(tmp_path / "imgs"), "--attributes", "fashion-mnist", "--cache", str(cache), "--json",
                "--n-boot", "200")
    assert json.loads(a.stdout)["attributes"] == json.loads(b.stdout)["attributes"]
    from genaudit.io.read import sha256_file

    want = sorted(f"{sha256_file(str(p))}.npy" for p in (tmp_path / "imgs").glob("*.png"))
    assert files == want  # keyed by the image file's sha256
