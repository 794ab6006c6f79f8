"""Class-conditional DDPM (Ho et al. 2020) on 28×28 greyscale images.

* a small UNet predicts the noise ε from x_t, the timestep and the class label;
* cosine noise schedule (Nichol & Dhariwal 2021), T = 1000;
* classifier-free guidance (Ho & Salimans 2022): the label is dropped to a "null" class with
  probability ``p_uncond`` during training; sampling mixes ε_uncond + w·(ε_cond − ε_uncond);
* DDIM sampler (Song et al. 2021) for fast, deterministic sampling (η = 0), any number of steps.

The class label plays the role a prompt plays in text-to-image models.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ARCH = "ddpm"


@dataclass(frozen=True)
class Config:
    base_channels: int = 48
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_levels: tuple[int, ...] = (2,)
    """Levels with self-attention (level k works at image_size / (patch_size · 2^k))."""
    dropout: float = 0.1
    n_classes: int = 10
    timesteps: int = 1000
    p_uncond: float = 0.1
    image_size: int = 28
    channels: int = 1
    patch_size: int = 1
    """Space-to-depth factor: 2 runs the UNet on 14×14×4 (pixel-unshuffled) tensors, ~2x cheaper."""


def cosine_alpha_bar(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """ᾱ_t for t = 0..T (cosine schedule), with the implied β_t clipped at 0.999."""
    t = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)]).float()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = _norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = _norm(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, ch: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm = _norm(ch)
        self.qkv = nn.Conv2d(ch, ch * 3, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """ε-prediction UNet: 28 → 14 → 7 and back, with skip connections."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.base_channels
        emb_dim = 4 * c
        self.time_mlp = nn.Sequential(nn.Linear(c, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(cfg.n_classes + 1, emb_dim)  # index n_classes = "no label"
        p2 = cfg.patch_size * cfg.patch_size
        self.conv_in = nn.Conv2d(cfg.channels * p2, c, 3, padding=1)
        self.down = nn.ModuleList()
        chans = [c]
        ch = c
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                block = nn.ModuleList([ResBlock(ch, c * mult, emb_dim, cfg.dropout)])
                ch = c * mult
                if level in cfg.attention_levels:
                    block.append(Attention(ch))
                self.down.append(block)
                chans.append(ch)
            if level < len(cfg.channel_mult) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                chans.append(ch)
        self.mid1 = ResBlock(ch, ch, emb_dim, cfg.dropout)
        self.mid_attn = Attention(ch)
        self.mid2 = ResBlock(ch, ch, emb_dim, cfg.dropout)
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(ch + chans.pop(), c * mult, emb_dim, cfg.dropout)])
                ch = c * mult
                if level in cfg.attention_levels:
                    block.append(Attention(ch))
                self.up.append(block)
            if level > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(ch, ch, 3, padding=1)]))
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, cfg.channels * p2, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.cfg.base_channels)) + self.class_emb(y)
        if self.cfg.patch_size > 1:
            x = F.pixel_unshuffle(x, self.cfg.patch_size)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            if isinstance(block[0], ResBlock):
                h = block[0](h, emb)
                for extra in block[1:]:
                    h = extra(h)
            else:
                h = block[0](h)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for block in self.up:
            if isinstance(block[0], ResBlock):
                h = block[0](torch.cat([h, hs.pop()], dim=1), emb)
                for extra in block[1:]:
                    h = extra(h)
            else:
                h = block[1](block[0](h))
        out = self.out(h)
        if self.cfg.patch_size > 1:
            out = F.pixel_shuffle(out, self.cfg.patch_size)
        return out  # type: ignore[no-any-return]


class Diffusion(nn.Module):
    """The UNet plus its noise schedule: training loss and DDIM sampling."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.unet = UNet(cfg)
        self.register_buffer("alpha_bar", cosine_alpha_bar(cfg.timesteps), persistent=False)

    def loss(self, x0: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x0.shape[0]
        t = torch.randint(1, self.cfg.timesteps + 1, (n,), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        drop = torch.rand(n, generator=generator).to(x0.device) < self.cfg.p_uncond
        y = torch.where(drop, torch.full_like(y, self.cfg.n_classes), y)
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        return F.mse_loss(self.unet(xt, t, y), noise)

    def _eps(self, x: torch.Tensor, t: int, y: torch.Tensor, guidance: float) -> torch.Tensor:
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        if guidance == 1.0:
            return self.unet(x, tt, y)  # type: ignore[no-any-return]
        null = torch.full_like(y, self.cfg.n_classes)
        e = self.unet(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null]))
        e_cond, e_uncond = e.chunk(2)
        return e_uncond + guidance * (e_cond - e_uncond)  # type: ignore[no-any-return]

    @torch.no_grad()
    def sample(self, noise: torch.Tensor, y: torch.Tensor, steps: int = 50, guidance: float = 2.0,
               eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """DDIM from ``noise`` (the x_T of each sample) in ``steps`` steps; η = 0 is deterministic."""
        T = self.cfg.timesteps
        ts = torch.linspace(T, 0, steps + 1).round().long().tolist()
        x = noise
        for t, t_next in itertools.pairwise(ts):
            ab, ab_next = self.alpha_bar[t], self.alpha_bar[t_next]
            eps = self._eps(x, t, y, guidance)
            x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
            sigma = eta * ((1 - ab_next) / (1 - ab) * (1 - ab / ab_next)).clamp(min=0).sqrt()
            x = ab_next.sqrt() * x0 + (1 - ab_next - sigma**2).clamp(min=0).sqrt() * eps
            if eta > 0 and t_next > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator).to(x.device)
        return x


def build(cfg: Config) -> Diffusion:
    return Diffusion(cfg)


def noise_shape(cfg: Config) -> tuple[int, ...]:
    return (cfg.channels, cfg.image_size, cfg.image_size)


def generate(model: Diffusion, noise: torch.Tensor, labels: torch.Tensor, *, steps: int = 50,
             guidance: float = 2.0) -> torch.Tensor:
    """Images in [-1, 1] for per-sample ``noise`` and ``labels`` (DDIM, η = 0)."""
    return model.sample(noise, labels, steps=steps, guidance=guidance)


def train_step(model: Diffusion, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               generator: torch.Generator) -> dict[str, float]:
    loss = model.loss(x, y, generator)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return {"loss": float(loss.detach())}
