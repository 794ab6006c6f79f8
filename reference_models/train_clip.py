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


def train(epochs: int, batch_size: int, lr: float, seed: int, log: Any = print, limit: int | None = None,
          checkpoint: str | None = None, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    import open_clip

    from genaudit.bias.clip import register_configs

    register_configs()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = open_clip.create_model(ARCH, pretrained=None).to(device)
    tokenizer = open_clip.get_tokenizer(ARCH)
    images, labels = load_fashion_mnist("train")
    rules = fit_rules(images)
    if limit is not None:  # smoke runs
        images, labels = images[:limit], labels[:limit]
    test_images, test_labels = load_fashion_mnist("test")
    probe = np.random.default_rng(seed + 1).choice(len(test_images), 2000, replace=False)
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
            col = torch.tensor([pos[t] for t in texts], device=device)
            x = to_input(augment(images[idx], rng)).to(device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            img = model.encode_image(x, normalize=True)
            txt = model.encode_text(tokenizer(unique).to(device), normalize=True)
            logits = model.logit_scale.exp() * img @ txt.T  # (B, U): image → unique captions
            loss_i = torch.nn.functional.cross_entropy(logits, col)
            # caption → images: every image with that caption is a positive
            target = torch.zeros(len(unique), len(idx), device=device)
            target[col, torch.arange(len(idx), device=device)] = 1.0
            target /= target.sum(dim=1, keepdim=True)
            loss_t = -(target * torch.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
            loss = 0.5 * (loss_i + loss_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            running += float(loss.detach())
            step += 1
            if b % 20 == 0:
                log(f"epoch {epoch + 1}/{epochs} step {b}/{steps_per_epoch} loss {loss.item():.3f}"
                    f" ({time.perf_counter() - t0:.0f} s)")
        acc = quick_zero_shot(model.cpu(), tokenizer, test_images[probe], test_labels[probe])
        model.to(device)
        model.train()
        log(f"epoch {epoch + 1}: mean loss {running / steps_per_epoch:.4f}, zero-shot accuracy on 2,000 test images"
            f" {acc:.3f} ({time.perf_counter() - t0:.0f} s)")
        if checkpoint is not None:  # a crash later loses at most one epoch
            save(model, checkpoint + ".partial", {"epoch": epoch + 1})
    model.eval().cpu()
    info = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "steps": step,
            "train_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
            "device": device, "pixel_rules": {"tone": rules.tone, "texture": rules.texture, "aspect": rules.aspect},
            "train_templates": list(TRAIN_TEMPLATES)}
    return model, info


def quick_zero_shot(model: Any, tokenizer: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """Zero-shot accuracy with the shipped set's class prompts (held-out wordings), for progress lines."""
    from genaudit.bias import load_attribute_set

    attr = load_attribute_set("fashion-mnist").attribute("class")
    model.eval()
    with torch.inference_mode():
        img = model.encode_image(to_input(images), normalize=True)
        groups = []
        for g in attr.groups:
            t = model.encode_text(tokenizer(list(g.prompts)), normalize=True).mean(dim=0)
            groups.append(t / t.norm())
        pred = (img @ torch.stack(groups).T).argmax(dim=1).numpy()
    return float((pred == labels).mean())


def save(model: Any, path: str, info: dict[str, Any]) -> str:
    from safetensors.torch import save_file

    from genaudit.io.read import sha256_file

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


def register(path: str, doc: dict[str, Any]) -> None:
    """Record the weights' sha256 in ``checkpoints/manifest.json`` (key ``clip``)."""
    from genaudit.io.read import sha256_file
    from reference_models.common import MANIFEST

    with open(MANIFEST, encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest.setdefault("clip", {})[NAME] = {
        "file": os.path.basename(path), "arch": ARCH, "sha256": sha256_file(path),
        "zero_shot_accuracy": round(doc["evaluation"]["zero_shot_accuracy"], 4),
        "command": "python -m reference_models.train_clip " + " ".join(
            f"--{k.replace('_', '-')} {doc['training'][k]}" for k in ("epochs", "batch_size", "lr", "seed")),
    }
    with open(MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")


def card(doc: dict[str, Any]) -> str:
    """The model card (Markdown) of the shipped CLIP."""
    t, e = doc["training"], doc["evaluation"]
    rows = "\n".join(f"| {c} | {a:.3f} |" for c, a in e["per_class"].items())
    return f"""# {NAME}: the project's small CLIP

- **Architecture**: open_clip config `{ARCH}` (src/genaudit/bias/configs/{ARCH}.json): ViT on 28×28
  images with 4×4 patches (4 layers, width 96), text transformer (3 layers, width 128, context 16,
  open_clip's tokenizer), 128-d joint space.
- **Weights**: `checkpoints/{NAME}.safetensors`, float16, sha256 `{doc['sha256']}`.
- **Training data**: the 60,000 Fashion-MNIST training images; each epoch every image gets a new
  caption: one of {len(t['train_templates'])} templates, its class name or a synonym, and words computed
  from its pixels (dark/light, patterned/plain, wide/tall; thresholds = training-set terciles:
  tone {t['pixel_rules']['tone'][0]:.1f}/{t['pixel_rules']['tone'][1]:.1f},
  texture {t['pixel_rules']['texture'][0]:.3f}/{t['pixel_rules']['texture'][1]:.3f},
  aspect {t['pixel_rules']['aspect'][0]}/{t['pixel_rules']['aspect'][1]}). Random shifts of ≤ 2 px, horizontal flips.
- **Training**: CLIP loss (identical captions in a batch count as positives), AdamW lr {t['lr']},
  batch {t['batch_size']}, {t['epochs']} epochs ({t['steps']} steps), seed {t['seed']},
  {t['train_seconds'] / 60:.1f} min on {t['device']} ({t['threads']} CPU threads; other work shared the 2 cores
  during the run) (`python -m reference_models.train_clip`). No GPU was lent for this run; with one,
  `--device cuda` (the default when CUDA is available) trains the same model.
- **Evaluation**: zero-shot classification of the {e['n']:,} Fashion-MNIST **test** images with the
  shipped `fashion-mnist` attribute set, whose prompt wordings never occur in training
  ({', '.join(f'"{w}"' for w in e['eval_templates'])}): **accuracy {e['zero_shot_accuracy']:.3f}**.

| class | zero-shot accuracy |
|---|---|
{rows}

## Limits
It knows garments in 28×28 greyscale images and nothing else: do not use it for people, photos or
any other domain (bring a full CLIP with `--clip-model/--clip-checkpoint`). Its tone/texture/shape
words follow the pixel rules above, not human judgement.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "checkpoints", f"{NAME}.safetensors"))
    ap.add_argument("--evaluate-only", action="store_true")
    ap.add_argument("--limit", type=int, help="train on the first N images only (smoke runs)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu or cuda [cuda when available]")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    meta_path = os.path.join(HERE, "cards", f"{NAME}.json")
    if not args.evaluate_only:
        model, info = train(args.epochs, args.batch_size, args.lr, args.seed, limit=args.limit, checkpoint=args.out,
                            device=args.device)
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
    if os.path.abspath(args.out) == os.path.abspath(os.path.join(HERE, "checkpoints", f"{NAME}.safetensors")):
        register(args.out, doc)
        with open(os.path.join(HERE, "cards", f"{NAME}.md"), "w", encoding="utf-8") as fh:
            fh.write(card(doc))
    if os.path.exists(args.out + ".partial"):
        os.remove(args.out + ".partial")
    print(json.dumps(doc["evaluation"], indent=2))


if __name__ == "__main__":
    main()
