"""Shared pieces of the reference models: tensors, seeding, EMA, checkpoint files.

Checkpoints are safetensors files whose metadata holds the architecture name, its config (JSON) and
training facts; ``checkpoints/manifest.json`` records every file's sha256, so a corrupted or swapped
file is refused with the expected hash in the message.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from genaudit.datasets import CLASSES, N_CLASSES, load_fashion_mnist, load_image_folder, read_idx
from genaudit.io import sha256_file

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKPOINT_DIR = os.path.join(HERE, "checkpoints")
MANIFEST = os.path.join(CHECKPOINT_DIR, "manifest.json")

__all__ = ["CLASSES", "N_CLASSES", "load_fashion_mnist", "load_image_folder", "read_idx"]


# --------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------

def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) → float (N, 1, 28, 28) in [-1, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, 1, H, W) in [-1, 1] → uint8 (N, H, W)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).squeeze(1).cpu().numpy()


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches for one epoch."""
    perm = torch.randperm(n, generator=generator)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def per_sample_noise(seed: int, n: int, shape: tuple[int, ...], offset: int = 0) -> torch.Tensor:
    """Noise for samples ``offset .. offset+n-1`` of a seed: each sample's noise depends only on
    (seed, its index), so outputs do not depend on how sampling is batched."""
    out = torch.empty((n, *shape))
    for i in range(n):
        g = torch.Generator().manual_seed((seed * 1_000_003 + offset + i) % 2**63)
        out[i] = torch.randn(shape, generator=g)
    return out


class EMA:
    """Exponential moving average of a model's parameters (and a copy of its buffers)."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.shadow)


# --------------------------------------------------------------------------------------------
# Configs and checkpoints
# --------------------------------------------------------------------------------------------

def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """A config dataclass from a mapping; unknown keys are an error, lists become tuples."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint file says about itself (safetensors metadata)."""

    arch: str
    config: dict[str, Any]
    meta: dict[str, Any]


def save_checkpoint(path: str, model: nn.Module, arch: str, config: Any, meta: Mapping[str, Any]) -> str:
    """Write ``model``'s weights with arch/config/meta as safetensors metadata. Returns the sha256."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"arch": arch, "config": json.dumps(asdict(config)), "meta": json.dumps(dict(meta), default=str)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(tensors, path, metadata=metadata)
    return sha256_file(path)


def read_checkpoint(path: str, expected_sha256: str | None = None) -> tuple[dict[str, torch.Tensor], CheckpointInfo]:
    """Load tensors and metadata, verifying the sha256 first when one is expected."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        extra = f" (expected sha256 {expected_sha256})" if expected_sha256 else ""
        raise FileNotFoundError(f"checkpoint {path} is missing{extra}")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise ValueError(f"checkpoint {path} is corrupted or was replaced: sha256 {actual},"
                             f" expected {expected_sha256}")
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(path, framework="pt") as fh:
            md = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"checkpoint {path} cannot be read as safetensors: {exc}") from None
    if "arch" not in md or "config" not in md:
        raise ValueError(f"checkpoint {path} has no genaudit metadata (arch/config)")
    return tensors, CheckpointInfo(md["arch"], json.loads(md["config"]), json.loads(md.get("meta", "{}")))


def load_manifest(path: str = MANIFEST) -> dict[str, Any]:
    if not os.path.isfile(path):
        return {"models": {}}
    with open(path, encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc


def update_manifest(name: str, entry: Mapping[str, Any], path: str = MANIFEST) -> None:
    doc = load_manifest(path)
    doc.setdefault("models", {})[name] = dict(entry)
    doc["models"] = dict(sorted(doc["models"].items()))
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
