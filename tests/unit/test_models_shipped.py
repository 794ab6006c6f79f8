"""The shipped reference checkpoints: loading, determinism, verification, the evaluation classifier,
metrics and the `genaudit models` CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from genaudit import models
from genaudit.datasets import load_fashion_mnist
from genaudit.models import ModelError
from tests.conftest import CliRunner

GENERATORS = ["gan-fmnist", "vae-fmnist", "ddpm-fmnist", "ddpm-fmnist-memorize"]


def test_list_models_names_every_generator_with_a_hash() -> None:
    infos = {m.name: m for m in models.list_models()}
    assert set(GENERATORS) <= set(infos)
    assert "classifier-fmnist" not in infos
    assert "classifier-fmnist" in {m.name for m in models.list_models(include_classifiers=True)}
    for m in infos.values():
        assert len(m.sha256) == 64 and m.meta["hardware"] and m.meta["steps"] > 0


@pytest.mark.parametrize("name", GENERATORS)
def test_sampling_is_deterministic_and_follows_the_seed(name: str) -> None:
    gen = models.load(name)
    kwargs = {"steps": 10} if gen.info.arch == "ddpm" else {}
    out = gen.sample(6, seed=3, **kwargs)
    a = out.images
    b = gen.sample(6, seed=3, **kwargs).images
    c = gen.sample(6, seed=4, **kwargs).images
    assert a.shape == (6, 28, 28) and a.dtype == np.uint8
    # the output says what made each image: balanced default labels, the seed, the model, its settings
    assert out.labels == (0, 1, 2, 3, 4, 5) and out.seed == 3 and len(out) == 6
    assert out.model == name and out.checkpoint_sha256 == gen.sha256
    assert out.sampler == {**gen.info.sampler, **kwargs}
    assert [x.tobytes() for x in out] == [x.tobytes() for x in a]
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert len({x.tobytes() for x in a}) == 6  # six different images
    assert a.std() > 10  # not blank


def test_sample_output_is_validated_and_saves_what_made_each_image(tmp_path: Path) -> None:
    imgs = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    with pytest.raises(ValueError, match="1 labels for 2 images"):
        models.SampleOutput(imgs, labels=(0,), seed=0, model="toy")
    with pytest.raises(ValueError, match="uint8"):
        models.SampleOutput(imgs.astype(np.float32), labels=(0, 1), seed=0, model="toy")
    out = models.SampleOutput(imgs, labels=[1, 0], seed=5, model="toy", checkpoint_sha256="ab" * 32,
                              sampler={"steps": 3}, classes=("zero", "one"))
    assert out.labels == (1, 0)
    paths = out.save(tmp_path)
    assert [Path(p).name for p in paths] == ["toy_seed5_00000_label1.png", "toy_seed5_00001_label0.png"]
    from PIL import Image

    with Image.open(paths[0]) as im:
        assert np.array_equal(np.asarray(im), imgs[0])
        assert im.text == {"genaudit:model": "toy", "genaudit:checkpoint_sha256": "ab" * 32, "genaudit:seed": "5",
                           "genaudit:index": "0", "genaudit:label": "1", "genaudit:class": "one",
                           "genaudit:sampler": '{"steps": 3}'}


def test_batching_does_not_change_samples() -> None:
    gen = models.load("gan-fmnist")
    whole = gen.sample(10, seed=5, batch_size=10).images
    pieces = gen.sample(10, seed=5, batch_size=3).images
    assert np.abs(whole.astype(int) - pieces.astype(int)).max() <= 1


def test_labels_are_validated_and_followed() -> None:
    gen = models.load("gan-fmnist")
    clf = models.load_classifier()
    labels = [1, 7] * 10  # trousers and sneakers: the easiest classes to tell apart
    out = gen.sample(20, labels=labels, seed=0)
    assert out.labels == tuple(labels)
    pred = clf.predict(out.images)
    assert (pred == np.array(labels)).mean() >= 0.8
    with pytest.raises(ValueError, match="labels"):
        gen.sample(2, labels=[0, 10])
    with pytest.raises(ValueError, match="2 labels for 3"):
        gen.sample(3, labels=[0, 1])


def test_shipped_classifier_reaches_92_percent() -> None:
    x, y = load_fashion_mnist("test")
    clf = models.load_classifier()
    assert (clf.predict(x) == y).mean() >= 0.92


def _copy_checkpoints(tmp_path: Path) -> Path:
    src = Path(models.checkpoint_dir())
    dst = tmp_path / "ck"
    dst.mkdir()
    shutil.copy(src / "manifest.json", dst / "manifest.json")
    shutil.copy(src / "vae-fmnist.safetensors", dst / "vae-fmnist.safetensors")
    return dst


def test_corrupted_checkpoint_names_file_and_expected_hash(tmp_path: Path) -> None:
    d = _copy_checkpoints(tmp_path)
    expected = models.model_info("vae-fmnist").sha256
    f = d / "vae-fmnist.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError) as exc:
        models.load("vae-fmnist", directory=str(d))
    assert str(f) in str(exc.value) and expected in str(exc.value) and "corrupted" in str(exc.value)


def test_missing_checkpoint_names_file_and_expected_hash(tmp_path: Path) -> None:
    d = _copy_checkpoints(tmp_path)
    (d / "vae-fmnist.safetensors").unlink()
    with pytest.raises(ModelError) as exc:
        models.load("vae-fmnist", directory=str(d))
    assert "missing" in str(exc.value) and models.model_info("vae-fmnist").sha256 in str(exc.value)


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ModelError, match=r"did you mean 'gan-fmnist'.*known models: .*ddpm-fmnist"):
        models.load("gan-fmnst")


def test_metrics_rank_real_data_above_noise() -> None:
    from genaudit.models.metrics import frechet_distance, precision_recall

    x, _ = load_fashion_mnist("test")
    tr, _ = load_fashion_mnist("train")
    clf = models.load_classifier()
    noise = np.random.default_rng(0).integers(0, 255, (1000, 28, 28), dtype=np.uint8)
    fid_real = frechet_distance(x[:1000], tr[:1000], clf)
    fid_noise = frechet_distance(x[:1000], noise, clf)
    assert fid_real < 0.1 * fid_noise
    p, r = precision_recall(clf.features(x[:1000]), clf.features(tr[:1000]))
    assert p > 0.6 and r > 0.6
    # Noise collapses onto a few points of feature space: whatever its precision (k-NN precision
    # is known to be fooled by collapsed outliers), it covers none of the real manifold.
    _, r = precision_recall(clf.features(x[:1000]), clf.features(noise))
    assert r < 0.05


def test_memorizing_model_copies_its_training_images() -> None:
    info = models.model_info("ddpm-fmnist-memorize")
    idx = np.asarray(info.meta["train_indices"])
    assert len(idx) == 64
    train, labels = load_fashion_mnist("train")
    gen = models.load("ddpm-fmnist-memorize")
    samples = gen.sample(12, labels=labels[idx][:12].tolist(), seed=11).images
    flat = train[idx].reshape(64, -1).astype(np.int16)
    mad = np.abs(samples.reshape(12, 1, -1).astype(np.int16) - flat[None]).mean(axis=2).min(axis=1)
    assert np.median(mad) <= 10, mad


def test_models_cli_list_and_sample(run_cli: CliRunner, tmp_path: Path) -> None:
    r = run_cli("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert set(GENERATORS) <= {m["name"] for m in json.loads(r.stdout)}
    r = run_cli("models", "sample", "vae-fmnist", "-n", "3", "--seed", "9", "-o", str(tmp_path / "out"),
                "--labels", "2,5")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["vae-fmnist_seed9_00000_label2.png", "vae-fmnist_seed9_00001_label5.png",
                                       "vae-fmnist_seed9_00002_label2.png"]
    from PIL import Image

    with Image.open(files[1]) as im:
        assert im.size == (28, 28) and im.mode == "L"
        assert im.text["genaudit:label"] == "5" and im.text["genaudit:seed"] == "9"
        assert im.text["genaudit:checkpoint_sha256"] == models.model_info("vae-fmnist").sha256
        pixels = np.asarray(im)
    assert np.array_equal(pixels, models.load("vae-fmnist").sample(3, labels=[2, 5, 2], seed=9).images[1])
    r = run_cli("scan", str(tmp_path / "out"), "--report-dir", str(tmp_path / "rep"), "-q", "--checks", "metadata")
    assert r.returncode == 1  # the genaudit text chunks mark the samples as generated
    r = run_cli("models", "sample", "nope", "-n", "1", "-o", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown model" in r.stderr


def test_every_shipped_model_has_an_up_to_date_card() -> None:
    """Cards are generated from the manifest: a retrained checkpoint with an old card fails here."""
    from reference_models import cards

    assert cards.main(["--check"]) == 0
    for info in models.list_models(include_classifiers=True):
        text = (cards.CARDS / f"{info.name}.md").read_text(encoding="utf-8")
        assert info.sha256 in text
        assert "wall time" in text and "seed" in text
