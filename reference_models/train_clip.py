"""Train the project's small CLIP (``genaudit-fmnist-vit``) contrastively on Fashion-MNIST captions.

    python -m reference_models.train_clip                  # ~25 min on 2 CPU cores
    python -m reference_models.train_clip --evaluate-only  # zero-shot accuracy of the shipped weights

Architecture: :file:`src/genaudit/bias/configs/genaudit-fmnist-vit.json` (an open_clip config: ViT,
4×4 patches on 28² images, 4 layers of width 96; text transformer, 3 layers of width 128, context
16, open_clip's shipped tokenizer; 128-d joint space). Data: the 60,000 Fashion-MNIST training
images with a caption drawn afresh every epoch (:mod:`reference_models.clip_captions`), random
shifts of up to 2 px and horizontal flips. Loss: CLIP's symmetric cross-entropy, where every
caption in the batch identical to an image's own counts as its positive (identical captions are
common: they are not negatives). Weights are written as float16 safetensors with their sha256 in
``checkpoints/manifest.json`` (key ``clip``), a model card in ``cards/clip-fmnist.md``.
Zero-shot accuracy is measured on the 10,000 test images with the shipped ``fashion-mnist``
attribute set, whose prompt wordings never occur in training.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

import numpy as np
import torch

from genaudit.datasets import CLASSES, load_fashion_mnist
from reference_models.clip_captions import (
    EVAL_TEMPLATES,
    TRAIN_TEMPLATES,
    caption,
    fit_rules,
    pixel_labels,
)

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "clip-fmnist"
ARCH = "genaudit-fmnist-vit"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) → normalised (N, 3, 28, 28), exactly what open_clip's transform gives."""
    x = torch.from_numpy(images).float().div_(255.0)[:, None].expand(-1, 3, -1, -1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = images.shape[0]
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    dy, dx = rng.integers(0, 5, n), rng.integers(0, 5, n)
    out = np.stack([padded[i, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(n)])
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def train(epochs: int, batch_size: int, lr: float, seed: int, log: Any = print) -> tuple[Any, dict[str, Any]]:
    import open_clip

    from genaudit.bias.clip import register_configs

    register_configs()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = open_clip.create_model(ARCH, pretrained=None)
    tokenizer = open_clip.get_tokenizer(ARCH)
    images, labels = load_fashion_mnist("train")
    rules = fit_rules(images)
    words = pixel_labels(images, rules)
    word_lists = [[words["tone"][i], words["texture"][i], words["shape"][i]] for i in range(len(images))]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = len(images) // batch_size
    total = epochs * steps_per_epoch
    warmup = min(200, total // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    step, t0 = 0, time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        running = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            texts = [caption(int(labels[i]), word_lists[i], rng) for i in idx]
            unique = sorted(set(texts))
            pos = {t: k for k, t in enumerate(unique)}
            col = torch.tensor([pos[t] for t in texts])
            x = to_input(augment(images[idx], rng))
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            img = model.encode_image(x, normalize=True)
            txt = model.encode_text(tokenizer(unique), normalize=True)
            logits = model.logit_scale.exp() * img @ txt.T  # (B, U): image → unique captions
            loss_i = torch.nn.functional.cross_entropy(logits, col)
            # caption → images: every image with that caption is a positive
            target = torch.zeros(len(unique), len(idx))
            target[col, torch.arange(len(idx))] = 1.0
            target /= target.sum(dim=1, keepdim=True)
            loss_t = -(target * torch.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
            loss = 0.5 * (loss_i + loss_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            running += float(loss)
            step += 1
            if b % 20 == 0:
                log(f"epoch {epoch + 1}/{epochs} step {b}/{steps_per_epoch} loss {loss.item():.3f}"
                    f" ({time.perf_counter() - t0:.0f} s)")
        log(f"epoch {epoch + 1}: mean loss {running / steps_per_epoch:.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    info = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "steps": step,
            "train_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
            "device": "cpu", "pixel_rules": {"tone": rules.tone, "texture": rules.texture, "aspect": rules.aspect},
            "train_templates": list(TRAIN_TEMPLATES)}
    return model, info


def save(model: Any, path: str, info: dict[str, Any]) -> str:
    from genaudit.io.atomic import sha256_file
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata={"arch": ARCH, "format": "open_clip state_dict, float16",
                                       "meta": json.dumps(info)})
    return sha256_file(path)


def evaluate(path: str) -> dict[str, Any]:
    """Zero-shot accuracy on the Fashion-MNIST test split with the shipped ``fashion-mnist`` set."""
    from genaudit.bias import ClipEmbedder, ZeroShotLabeler, load_attribute_set

    images, labels = load_fashion_mnist("test")
    embedder = ClipEmbedder(ARCH, checkpoint=path)
    attr = load_attribute_set("fashion-mnist").attribute("class")
    labeler = ZeroShotLabeler(embedder, attr, abstain_below=0.0)
    t0 = time.perf_counter()
    emb = embedder.embed(list(images))
    pred = labeler.label_embeddings(emb).group_index
    acc = pred == labels
    per_class = {CLASSES[c]: float(acc[labels == c].mean()) for c in range(len(CLASSES))}
    templates = sorted({t for g in attr.groups for t in g.prompts})
    leaked = [t for t in templates if any(t.replace("{}", "") in tt for tt in TRAIN_TEMPLATES)]
    return {"zero_shot_accuracy": float(acc.mean()), "per_class": per_class, "n": len(labels),
            "eval_prompts": templates, "prompts_seen_in_training": leaked, "eval_templates": list(EVAL_TEMPLATES),
            "eval_seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "checkpoints", f"{NAME}.safetensors"))
    ap.add_argument("--evaluate-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    meta_path = os.path.join(HERE, "cards", f"{NAME}.json")
    if not args.evaluate_only:
        model, info = train(args.epochs, args.batch_size, args.lr, args.seed)
        sha = save(model, args.out, info)
        with open(meta_path, "w", encoding="utf-8") as fh:
            json.dump({"name": NAME, "arch": ARCH, "sha256": sha, "training": info}, fh, indent=2)
            fh.write("\n")
        print(f"wrote {args.out} (sha256 {sha})")
    with open(meta_path, encoding="utf-8") as fh:
        doc = json.load(fh)
    doc["evaluation"] = evaluate(args.out)
    with open(meta_path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    print(json.dumps(doc["evaluation"], indent=2))


if __name__ == "__main__":
    main()
