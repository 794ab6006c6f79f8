"""Fashion-MNIST feature classifier: the evaluation network of the reference generators.

A small VGG-style CNN. Its penultimate layer (``features``, 256-d after ReLU) is the embedding
used for the Fréchet distance (FID in the MNIST-literature sense, not Inception features) and for
k-NN precision/recall; its logits give the class accuracy of conditional samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ARCH = "classifier"


@dataclass(frozen=True)
class Config:
    width: int = 32
    feature_dim: int = 256
    n_classes: int = 10
    dropout: float = 0.3


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.MaxPool2d(2))


class Classifier(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.body = nn.Sequential(_block(1, w), _block(w, 2 * w), nn.Flatten(),
                                  nn.Linear(2 * w * 7 * 7, cfg.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.feature_dim, cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features for x in [-1, 1], shape (N, feature_dim)."""
        return self.body(x)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))  # type: ignore[no-any-return]


def build(cfg: Config) -> Classifier:
    return Classifier(cfg)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels (labels are flip-invariant in Fashion-MNIST)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx, dy = torch.randint(0, 5, (2,), generator=generator).tolist()
    return padded[:, :, dy:dy + 28, dx:dx + 28]


def train_step(model: Classifier, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               generator: torch.Generator) -> dict[str, float]:
    logits = model(augment(x, generator))
    loss = F.cross_entropy(logits, y, label_smoothing=0.05)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach()), "acc": float((logits.argmax(1) == y).float().mean())}
