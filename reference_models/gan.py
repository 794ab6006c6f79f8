"""Class-conditional DCGAN for 28×28 greyscale images.

* Generator: z (and the class label, through conditional batch norm) → 7×7 → 14×14 → 28×28, tanh.
* Discriminator: spectral-normalised convolutions (Miyato et al. 2018) with a projection head for the
  label (Miyato & Koyama 2018), which makes the generator follow its label; optionally
  (``aux_weight`` > 0) an auxiliary class-prediction head (AC-GAN, Odena et al. 2017) as well.
* Hinge loss; Adam(β1 = 0, β2 = 0.9), two-time-scale learning rates; EMA of the generator weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

ARCH = "gan"


@dataclass(frozen=True)
class Config:
    z_dim: int = 64
    g_channels: int = 64
    d_channels: int = 64
    aux_weight: float = 0.0
    """Weight of an auxiliary class-prediction loss (AC-GAN, Odena et al. 2017) next to the projection
    head: D learns to classify real images, G is penalised when D cannot read its label back. 0 = off."""
    n_classes: int = 10
    image_size: int = 28
    channels: int = 1


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose scale and shift are looked up from the class label."""

    def __init__(self, ch: int, n_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.gamma = nn.Embedding(n_classes, ch)
        self.beta = nn.Embedding(n_classes, ch)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


class Generator(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.g_channels
        self.fc = nn.Linear(cfg.z_dim, 4 * c * 7 * 7)
        self.bn0 = ConditionalBatchNorm(4 * c, cfg.n_classes)
        self.conv1 = nn.Conv2d(4 * c, 2 * c, 3, padding=1)
        self.bn1 = ConditionalBatchNorm(2 * c, cfg.n_classes)
        self.conv2 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.bn2 = ConditionalBatchNorm(c, cfg.n_classes)
        self.conv_out = nn.Conv2d(c, cfg.channels, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.cfg.g_channels
        h = F.relu(self.bn0(self.fc(z).view(-1, 4 * c, 7, 7), y))
        h = F.relu(self.bn1(self.conv1(F.interpolate(h, scale_factor=2, mode="nearest")), y))
        h = F.relu(self.bn2(self.conv2(F.interpolate(h, scale_factor=2, mode="nearest")), y))
        return torch.tanh(self.conv_out(h))


class Discriminator(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        c = cfg.d_channels
        self.convs = nn.ModuleList([
            spectral_norm(nn.Conv2d(cfg.channels, c, 3, padding=1)),
            spectral_norm(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)),       # 14×14
            spectral_norm(nn.Conv2d(2 * c, 2 * c, 3, padding=1)),
            spectral_norm(nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1)),   # 7×7
            spectral_norm(nn.Conv2d(4 * c, 4 * c, 3, padding=1)),
        ])
        self.linear = spectral_norm(nn.Linear(4 * c, 1))
        self.embed = spectral_norm(nn.Embedding(cfg.n_classes, 4 * c))
        self.aux = spectral_norm(nn.Linear(4 * c, cfg.n_classes)) if cfg.aux_weight > 0 else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
        return h.sum(dim=(2, 3))

    def score(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x), y)


class GAN(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.discriminator = Discriminator(cfg)


def build(cfg: Config) -> GAN:
    return GAN(cfg)


def noise_shape(cfg: Config) -> tuple[int, ...]:
    return (cfg.z_dim,)


@torch.no_grad()
def generate(model: GAN, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] from per-sample latent ``noise`` and ``labels`` (generator in eval mode)."""
    return model.generator(noise, labels)


def train_step(model: GAN, x: torch.Tensor, y: torch.Tensor, opts: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
               generator: torch.Generator) -> dict[str, float]:
    """One discriminator and one generator update with the hinge loss."""
    g_opt, d_opt = opts
    d = model.discriminator
    w = model.cfg.aux_weight
    n = x.shape[0]
    z = torch.randn((n, model.cfg.z_dim), generator=generator).to(x.device)
    y_fake = torch.randint(0, model.cfg.n_classes, (n,), generator=generator).to(x.device)
    with torch.no_grad():
        fake = model.generator(z, y_fake)
    h_real = d.features(x)
    d_loss = F.relu(1 - d.score(h_real, y)).mean() + F.relu(1 + d(fake, y_fake)).mean()
    if d.aux is not None:
        d_loss = d_loss + w * F.cross_entropy(d.aux(h_real), y)
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    z = torch.randn((n, model.cfg.z_dim), generator=generator).to(x.device)
    h_fake = d.features(model.generator(z, y_fake))
    g_loss = -d.score(h_fake, y_fake).mean()
    if d.aux is not None:
        g_loss = g_loss + w * F.cross_entropy(d.aux(h_fake), y_fake)
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}
