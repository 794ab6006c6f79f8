"""Training code paths of the reference models, with tiny configs (seconds on CPU)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_models import ddpm, gan, train, vae
from reference_models.common import read_checkpoint, to_tensor

TINY = {
    "ddpm": ["--set", "base_channels=8", "--set", "channel_mult=[1,2]", "--set", "attention_levels=[1]"],
    "gan": ["--set", "g_channels=8", "--set", "d_channels=8", "--set", "z_dim=8"],
    "vae": ["--set", "channels_hidden=8", "--set", "z_dim=4"],
    "classifier": ["--set", "width=4", "--set", "feature_dim=16"],
}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_train_cli_writes_a_registered_checkpoint(arch: str, tmp_path: Path) -> None:
    out = tmp_path / f"{arch}.safetensors"
    manifest = tmp_path / "manifest.json"
    result = train.main(["--model", arch, "--steps", "3", "--batch-size", "16", "--seed", "1", "--out", str(out),
                         "--register", f"tiny-{arch}", "--manifest", str(manifest), "--description", "tiny",
                         "--log-every", "1", *TINY[arch]])
    assert result["steps"] == 3
    assert all(math.isfinite(v) for v in result["last_losses"].values())
    tensors, info = read_checkpoint(str(out), expected_sha256=result["sha256"])
    assert info.arch == arch and info.meta["steps"] == 3 and info.meta["seed"] == 1
    assert info.meta["hardware"] and info.meta["wall_time_s"] >= 0
    entry = json.loads(manifest.read_text())["models"][f"tiny-{arch}"]
    assert entry["sha256"] == result["sha256"] and entry["file"] == out.name and entry["description"] == "tiny"
    assert tensors


def test_subset_training_records_its_indices(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    train.main(["--model", "vae", "--steps", "2", "--batch-size", "8", "--subset", "16", "--seed", "3",
                "--out", str(out), *TINY["vae"]])
    _, info = read_checkpoint(str(out))
    idx = info.meta["train_indices"]
    assert len(idx) == 16 == len(set(idx)) and all(0 <= i < 60_000 for i in idx)
    again = tmp_path / "m2.safetensors"
    train.main(["--model", "vae", "--steps", "2", "--batch-size", "8", "--subset", "16", "--seed", "3",
                "--out", str(again), *TINY["vae"]])
    assert read_checkpoint(str(again))[1].meta["train_indices"] == idx  # the seed decides the subset


def test_time_budget_stops_training(tmp_path: Path) -> None:
    result = train.main(["--model", "vae", "--steps", "100000", "--batch-size", "8", "--max-minutes", "0.02",
                         "--out", str(tmp_path / "b.safetensors"), *TINY["vae"]])
    assert result["stopped_at_time_budget"] and result["steps"] < 100000


def test_ddpm_loss_goes_down_when_fitting_a_few_images() -> None:
    torch.manual_seed(0)
    model = ddpm.build(ddpm.Config(base_channels=16, channel_mult=(1, 2), attention_levels=()))
    x = to_tensor(np.random.default_rng(0).integers(0, 255, (8, 28, 28), dtype=np.uint8))
    y = torch.arange(8) % 10
    opt = torch.optim.AdamW(model.parameters(), 2e-3)
    g = torch.Generator().manual_seed(0)

    def eval_loss() -> float:
        return float(sum(model.loss(x, y, torch.Generator().manual_seed(s)).item() for s in range(4)) / 4)

    before = eval_loss()
    for _ in range(60):
        ddpm.train_step(model, x, y, opt, g)
    assert eval_loss() < 0.8 * before


def test_cosine_schedule_shape() -> None:
    ab = ddpm.cosine_alpha_bar(1000)
    assert ab.shape == (1001,) and ab[0] == 1.0
    assert bool((ab[1:] < ab[:-1]).all()) and float(ab[-1]) < 1e-4
    assert 0.45 < float(ab[500]) < 0.55  # the cosine schedule is near 0.5 half way


def test_ddim_recovers_x0_from_an_oracle_noise_predictor() -> None:
    """With ε predicted exactly, deterministic DDIM maps x_T back to the data point it came from."""
    cfg = ddpm.Config(base_channels=8, channel_mult=(1,), attention_levels=())
    model = ddpm.build(cfg)
    x0 = torch.rand(3, 1, 28, 28) * 2 - 1
    noise = torch.randn(3, 1, 28, 28)
    ab_T = model.alpha_bar[-1]
    x_T = ab_T.sqrt() * x0 + (1 - ab_T).sqrt() * noise

    class Oracle(torch.nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            ab = model.alpha_bar[t].view(-1, 1, 1, 1)
            return (x - ab.sqrt() * x0.repeat(x.shape[0] // 3, 1, 1, 1)) / (1 - ab).sqrt()

    model.unet = Oracle()
    out = model.sample(x_T, torch.zeros(3, dtype=torch.long), steps=20, guidance=1.0)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=0)
    out_cfg = model.sample(x_T, torch.zeros(3, dtype=torch.long), steps=7, guidance=3.0)
    torch.testing.assert_close(out_cfg, x0, atol=1e-4, rtol=0)  # both branches agree: guidance is a no-op


def test_vae_kl_and_generation_range() -> None:
    model = vae.build(vae.Config(channels_hidden=8, z_dim=4)).eval()
    x = to_tensor(np.zeros((2, 28, 28), np.uint8))
    with torch.no_grad():
        loss, rec, kl = model.loss(x, torch.tensor([0, 1]))
    assert torch.isclose(loss, rec + kl) and float(kl) >= 0
    img = vae.generate(model, torch.randn(5, 4), torch.arange(5))
    assert img.shape == (5, 1, 28, 28) and float(img.min()) >= -1 and float(img.max()) <= 1


def test_gan_step_updates_both_networks() -> None:
    cfg = gan.Config(g_channels=8, d_channels=8, z_dim=8)
    model = gan.build(cfg)
    g_opt = torch.optim.Adam(model.generator.parameters(), 1e-3)
    d_opt = torch.optim.Adam(model.discriminator.parameters(), 1e-3)
    before_g = [p.detach().clone() for p in model.generator.parameters()]
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    x = to_tensor(np.random.default_rng(1).integers(0, 255, (6, 28, 28), dtype=np.uint8))
    losses = gan.train_step(model, x, torch.arange(6) % 10, (g_opt, d_opt), torch.Generator().manual_seed(0))
    assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters(), strict=True))
    model.eval()
    img = gan.generate(model, torch.randn(4, 8), torch.arange(4))
    assert img.shape == (4, 1, 28, 28) and float(img.abs().max()) <= 1


def test_image_folder_as_training_data(tmp_path: Path) -> None:
    from PIL import Image

    from genaudit.datasets import load_image_folder

    for cls, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), (value, value, value)).save(tmp_path / cls / f"{i}.png")
    images, labels, names = load_image_folder(str(tmp_path))
    assert images.shape == (6, 28, 28) and names == ["cats", "dogs"]
    assert list(labels) == [0, 0, 0, 1, 1, 1] and images[0].mean() == pytest.approx(40, abs=1)
    (tmp_path / "dogs" / "broken.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"broken\.png: not_an_image"):
        load_image_folder(str(tmp_path))


def test_init_continues_from_a_checkpoint_and_adds_the_auxiliary_head(tmp_path: Path) -> None:
    base = tmp_path / "base.safetensors"
    train.main(["--model", "gan", "--steps", "2", "--batch-size", "16", "--out", str(base), *TINY["gan"]])
    base_tensors, _ = read_checkpoint(str(base))
    out = tmp_path / "aux.safetensors"
    result = train.main(["--model", "gan", "--steps", "2", "--batch-size", "16", "--seed", "3", "--out", str(out),
                         "--init", str(base), "--set", "aux_weight=1.0", "--warmup", "1000000", *TINY["gan"]])
    assert "d_loss" in result["last_losses"]
    tensors, info = read_checkpoint(str(out))
    assert info.meta["init"]["file"] == "base.safetensors" and info.meta["init"]["steps"] == 2
    assert any(k.startswith("discriminator.aux") for k in info.meta["init"]["fresh_parameters"])
    assert any(k.startswith("discriminator.aux") for k in tensors)
    # a learning rate warmed up over 10^6 steps barely moves the weights: the start was the checkpoint
    w = "generator.conv_out.weight"
    assert torch.allclose(tensors[w], base_tensors[w], atol=1e-3)
    with pytest.raises(SystemExit, match="is a gan checkpoint, not vae"):
        train.main(["--model", "vae", "--steps", "1", "--out", str(tmp_path / "v.safetensors"), "--init", str(base),
                    *TINY["vae"]])


def test_auxiliary_loss_trains_the_discriminator_to_classify() -> None:
    torch.manual_seed(0)
    model = gan.build(gan.Config(g_channels=8, d_channels=8, z_dim=8, aux_weight=1.0))
    y = torch.arange(40) % 10
    # easy, class-dependent images: the label is the grey level
    x = to_tensor(np.stack([np.full((28, 28), 20 * int(c) + 30, np.uint8) for c in y]))
    opts = (torch.optim.Adam(model.generator.parameters(), 1e-3),
            torch.optim.Adam(model.discriminator.parameters(), 1e-2))
    d = model.discriminator
    before = torch.nn.functional.cross_entropy(d.aux(d.features(x)), y).item()
    for _ in range(30):
        gan.train_step(model, x, y, opts, torch.Generator().manual_seed(1))
    after = torch.nn.functional.cross_entropy(d.aux(d.features(x)), y).item()
    assert after < 0.7 * before, (before, after)


@pytest.mark.parametrize("kind", ["tconv", "denoise"])
def test_artifact_simulators_keep_real_content_and_exclude_the_real_pool(kind: str) -> None:
    from reference_models import simulators
    from reference_models.detector_data import fashion_mnist, real_pool_indices

    from genaudit.datasets import load_fashion_mnist

    out = simulators.simulate(kind, 24, seed=0, epochs=1, limit=1500, log=False)
    again = simulators.simulate(kind, 24, seed=0, epochs=1, limit=1500, log=False)
    assert out.shape == (24, 28, 28) and out.dtype == np.uint8
    assert np.array_equal(out, again)  # seeded: the same images each time
    # reconstructions of real images: each correlates with its own source far more than with others
    src = (simulators._training_images(0)[:1500] + 1.0) * 127.5
    pick = np.sort(np.random.default_rng(5).choice(1500, size=24, replace=False))
    corr = np.corrcoef(out.reshape(24, -1).astype(np.float64), src[pick].reshape(24, -1))[:24, 24:]
    own, others = np.diag(corr).mean(), corr[~np.eye(24, dtype=bool)].mean()
    assert own > 0.6 and own > others + 0.25
    # the images left out of the simulators' training are exactly the detector's real pool
    train_images, _ = load_fashion_mnist("train")
    left_out = real_pool_indices(0, len(train_images))
    assert np.array_equal(train_images[left_out], fashion_mnist("train", 6000, 1))
    kept = np.rint((simulators._training_images(0) + 1.0) * 127.5).astype(np.uint8)
    assert len(kept) == len(train_images) - 6000
    assert np.array_equal(kept, np.delete(train_images, left_out, axis=0))


def test_unknown_simulator_is_refused() -> None:
    from reference_models import simulators

    with pytest.raises(ValueError, match="unknown simulator 'gan'"):
        simulators.simulate("gan", 4)
