"""Conditional convolutional VAE (Kingma & Welling 2014; Sohn et al. 2015) for 28×28 images.

The encoder sees the image and its label; the decoder maps (z, label) to Bernoulli logits per pixel.
Loss: the negative ELBO, binary cross-entropy on intensities in [0, 1] plus the KL term (β = 1).
Samples are the decoder's mean image for z ~ N(0, I), which is why VAEs look blurrier than GANs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ARCH = "vae"


@dataclass(frozen=True)
class Config:
    z_dim: int = 16
    channels_hidden: int = 32
    n_classes: int = 10
    beta: float = 1.0
    image_size: int = 28
    channels: int = 1


class VAE(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels_hidden
        self.enc = nn.Sequential(
            nn.Conv2d(cfg.channels + cfg.n_classes, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),   # 14
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2),  # 7
            nn.Flatten(), nn.Linear(2 * c * 7 * 7, 256), nn.LeakyReLU(0.2))
        self.mu = nn.Linear(256, cfg.z_dim)
        self.logvar = nn.Linear(256, cfg.z_dim)
        self.dec_fc = nn.Sequential(nn.Linear(cfg.z_dim + cfg.n_classes, 256), nn.ReLU(),
                                    nn.Linear(256, 2 * c * 7 * 7), nn.ReLU())
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(),     # 14
            nn.ConvTranspose2d(c, cfg.channels, 4, stride=2, padding=1))                            # 28

    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.cfg.n_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        label_maps = self._onehot(y)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        h = self.enc(torch.cat([x, label_maps], dim=1))
        return self.mu(h), self.logvar(h).clamp(-10, 10)

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.dec_fc(torch.cat([z, self._onehot(y)], dim=1)).view(-1, 2 * self.cfg.channels_hidden, 7, 7)
        return self.dec(h)  # type: ignore[no-any-return]

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(negative ELBO per image, reconstruction term, KL term) for x in [-1, 1]."""
        target = (x + 1) / 2
        mu, logvar = self.encode(x, y)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        z = mu + (0.5 * logvar).exp() * eps
        rec = F.binary_cross_entropy_with_logits(self.decode_logits(z, y), target, reduction="sum") / x.shape[0]
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / x.shape[0]
        return rec + self.cfg.beta * kl, rec, kl


def build(cfg: Config) -> VAE:
    return VAE(cfg)


def noise_shape(cfg: Config) -> tuple[int, ...]:
    return (cfg.z_dim,)


@torch.no_grad()
def generate(model: VAE, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The decoder's mean image in [-1, 1] for latents ``noise`` and ``labels``."""
    return torch.sigmoid(model.decode_logits(noise, labels)) * 2 - 1


def train_step(model: VAE, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               generator: torch.Generator) -> dict[str, float]:
    loss, rec, kl = model.loss(x, y, generator)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach()), "rec": float(rec.detach()), "kl": float(kl.detach())}
