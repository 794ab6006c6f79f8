"""Generator-artifact simulators: real images passed through small generator-like decoders.

A detector trained only on the generators it has samples of learns *their* traces (the VAE's blur,
the DDPM's saturated whites) and misses a generator that shares neither. Following AutoGAN (Zhang,
Karaman and Chang, "Detecting and simulating artifacts in GAN fake images", WIFS 2019) and DRCT
(Chen et al., ICML 2024), the shipped detector also sees *simulated* generated images: real
Fashion-MNIST training images reconstructed by small networks trained on real images only — no
generator's samples are involved — whose output stages are the ones image generators use:

- ``tconv``: an autoencoder whose decoder upsamples with transposed convolutions and ends in
  ``tanh`` (DCGAN-style decoders);
- ``nearest``: nearest-neighbour upsampling + convolutions, ``sigmoid`` output (VAE-style decoders);
- ``bilinear``: bilinear upsampling + convolutions, output clipped to [-1, 1];
- ``denoise``: a one-step denoiser (a small two-scale U-Net) applied to the real image plus
  Gaussian noise (σ 0.1–0.6 in [-1, 1] units), clipped — the last step of a diffusion sampler.

The content is real; only the decoder's traces (upsampling pattern, squashed or clipped extremes,
residual noise instead of exact black backgrounds) differ. Which simulators the shipped detector
uses was chosen by leave-one-generator-out on the *training-seed* samples
(``benchmarks/detector_simulators.py``); the evaluation seeds never took part.

Simulators train on the Fashion-MNIST training images that are *not* in the detector's real pool
(:func:`reference_models.detector_data.training_part`), for ``EPOCHS`` epochs on 2 CPU threads
(30 s to 3.5 min each); samples are cached like the generators' (``cache_dir``, keyed by kind,
version, count and seed).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

KINDS = ("tconv", "nearest", "bilinear", "denoise")
VERSION = 1
EPOCHS = 2
LATENT_CHANNELS = 8


class _Encoder(nn.Sequential):
    def __init__(self, zc: int) -> None:
        super().__init__(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
                         nn.BatchNorm2d(64), nn.LeakyReLU(0.2), nn.Conv2d(64, zc, 3, 1, 1))


def _decoder(kind: str, zc: int) -> nn.Module:
    if kind == "tconv":
        return nn.Sequential(nn.ConvTranspose2d(zc, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                             nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    mode = "nearest" if kind == "nearest" else "bilinear"
    out: nn.Module = nn.Sigmoid() if kind == "nearest" else nn.Hardtanh()
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(zc, 64, 3, 1, 1), nn.BatchNorm2d(64),
                         nn.ReLU(), nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(64, 32, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(32, 1, 3, 1, 1), out)


class _AutoEncoder(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.net = nn.Sequential(_Encoder(LATENT_CHANNELS), _decoder(kind, LATENT_CHANNELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y * 2 - 1 if self.kind == "nearest" else y  # sigmoid's [0, 1] to [-1, 1]


class _Denoiser(nn.Module):
    """Two scales: full resolution, and half resolution upsampled back (nearest), concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(2, 32, 3, 1, 1), nn.SiLU(), nn.Conv2d(32, 32, 3, 1, 1), nn.SiLU())
        self.down = nn.Sequential(nn.Conv2d(32, 64, 3, 2, 1), nn.SiLU(), nn.Conv2d(64, 64, 3, 1, 1), nn.SiLU())
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(64, 32, 3, 1, 1), nn.SiLU())
        self.out = nn.Sequential(nn.Conv2d(64, 32, 3, 1, 1), nn.SiLU(), nn.Conv2d(32, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        h = self.a(torch.cat([x, sigma.expand_as(x)], 1))
        return self.out(torch.cat([h, self.up(self.down(h))], 1))


def _training_images(seed: int) -> np.ndarray:
    """Fashion-MNIST training images outside the detector's real pool, as float (N, 28, 28) in [-1, 1]."""
    from genaudit.datasets import load_fashion_mnist
    from reference_models.detector_data import real_pool_indices

    images, _ = load_fashion_mnist("train")
    keep = np.setdiff1d(np.arange(len(images)), real_pool_indices(seed, len(images)))
    return images[keep].astype(np.float32) / 127.5 - 1.0


def simulate(kind: str, n: int, seed: int = 0, *, epochs: int = EPOCHS, limit: int | None = None,
             log: bool = True) -> np.ndarray:
    """Train simulator ``kind`` (seed ``seed``) and return ``n`` uint8 (n, 28, 28) reconstructions
    of real training images it was trained on (none of them in the detector's real pool).
    ``limit``: train on the first ``limit`` of those images only (quick runs and tests)."""
    if kind not in KINDS:
        raise ValueError(f"unknown simulator {kind!r}; known: {', '.join(KINDS)}")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(_training_images(seed)[:limit]).unsqueeze(1)
    net: nn.Module = _Denoiser() if kind == "denoise" else _AutoEncoder(kind)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for a in range(0, len(x), 128):
            xb = x[perm[a:a + 128]]
            if kind == "denoise":
                sigma = torch.rand(len(xb), 1, 1, 1, generator=g) * 0.6 + 0.05
                loss = (net(xb + sigma * torch.randn(xb.shape, generator=g), sigma) - xb).pow(2).mean()
            else:
                loss = (net(xb) - xb).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if log:
            print(f"  simulator {kind}: epoch {epoch + 1}/{epochs}, loss {float(loss.detach()):.4f},"
                  f" {time.perf_counter() - t0:.0f} s", flush=True)
    net.eval()
    pick = np.sort(np.random.default_rng(seed + 5).choice(len(x), size=min(n, len(x)), replace=False))
    src = x[torch.from_numpy(pick)]
    outs = []
    with torch.inference_mode():
        for a in range(0, len(src), 500):
            xb = src[a:a + 500]
            if kind == "denoise":
                sigma = torch.rand(len(xb), 1, 1, 1, generator=g) * 0.5 + 0.1
                outs.append(net(xb + sigma * torch.randn(xb.shape, generator=g), sigma))
            else:
                outs.append(net(xb))
    y = torch.cat(outs).clamp(-1, 1)
    return ((y.squeeze(1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def simulated_samples(kind: str, n: int, seed: int = 0, cache_dir: str | None = None) -> np.ndarray:
    """:func:`simulate`, cached as ``sim-KIND-vVERSION-nN-seedS.npz`` under ``cache_dir``."""
    from reference_models.detector_data import cached_images

    return cached_images(f"sim-{kind}-v{VERSION}-n{n}-seed{seed}.npz", lambda: simulate(kind, n, seed), cache_dir)
