"""Train a reference model: one command for the GAN, VAE, DDPM and the evaluation classifier.

    python -m reference_models.train --model ddpm --epochs 20 --batch-size 128 --seed 0 \\
        --out reference_models/checkpoints/ddpm-fmnist.safetensors --register ddpm-fmnist

    # the memorizing positive control: the same DDPM on 64 training images until it copies them
    python -m reference_models.train --model ddpm --subset 64 --steps 6000 --batch-size 64 \\
        --set base_channels=32 --out .../ddpm-fmnist-memorize.safetensors --register ddpm-fmnist-memorize

Data: Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (default) or ``--data DIR``
(any folder of images, one sub-folder per class). ``--max-minutes`` ends training at a wall-clock
budget (CPU machines); the checkpoint is also written every ``--save-every-minutes`` so an
interrupted run keeps its progress. Everything random follows ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from . import classifier, ddpm, gan, vae
from .common import (
    CLASSES,
    EMA,
    MANIFEST,
    batches,
    config_from_dict,
    count_parameters,
    load_fashion_mnist,
    load_image_folder,
    read_checkpoint,
    save_checkpoint,
    seed_everything,
    sha256_file,
    to_tensor,
    update_manifest,
)

ARCHS = {"gan": gan, "vae": vae, "ddpm": ddpm, "classifier": classifier}
DEFAULT_LR = {"gan": (1e-4, 4e-4), "vae": 1e-3, "ddpm": 5e-4, "classifier": 2e-3}


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    dev = f"{torch.get_num_threads()} CPU threads ({cpu}, {os.cpu_count()} cores)"
    if torch.cuda.is_available():
        dev = f"{torch.cuda.get_device_name(0)} + " + dev
    return dev


@torch.no_grad()
def evaluate_classifier(model: classifier.Classifier, x: torch.Tensor, y: torch.Tensor, device: str) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), 1000):
        correct += int((model(x[i:i + 1000].to(device)).argmax(1).cpu() == y[i:i + 1000]).sum())
    model.train()
    return correct / len(x)


def init_from_checkpoint(model: torch.nn.Module, path: str, arch: str) -> dict[str, Any]:
    """Copy a checkpoint's weights into ``model``; only parameters that ``model`` has and the checkpoint
    lacks may stay at their fresh initialisation (new heads), anything else is an error."""
    tensors, info = read_checkpoint(path)
    if info.arch != arch:
        raise SystemExit(f"--init {path} is a {info.arch} checkpoint, not {arch}")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected:
        raise SystemExit(f"--init {path}: checkpoint has tensors this config does not: {unexpected[:5]}")
    return {"file": os.path.basename(path), "sha256": sha256_file(path), "steps": info.meta.get("steps"),
            "wall_time_s": info.meta.get("wall_time_s"), "fresh_parameters": sorted(missing)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(ARCHS))
    ap.add_argument("--epochs", type=float, default=10, help="passes over the training set [10]")
    ap.add_argument("--steps", type=int, help="optimizer steps (overrides --epochs)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, help="learning rate (GAN: generator's; discriminator gets 4x)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="checkpoint path (.safetensors)")
    ap.add_argument("--register", metavar="NAME", help="record the checkpoint in the manifest as NAME")
    ap.add_argument("--manifest", default=MANIFEST, help="manifest to record it in [checkpoints/manifest.json]")
    ap.add_argument("--description", default="", help="one line for `genaudit models list`")
    ap.add_argument("--sampler", default="{}", help="default sampler settings (JSON), e.g. '{\"steps\": 50}'")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="architecture config field")
    ap.add_argument("--data", help="folder of images instead of Fashion-MNIST")
    ap.add_argument("--subset", type=int, help="train on this many training images, drawn with --seed")
    ap.add_argument("--max-minutes", type=float, help="stop after this much wall-clock training time")
    ap.add_argument("--save-every-minutes", type=float, default=10.0)
    ap.add_argument("--ema", type=float, default=0.999, help="EMA decay for GAN/DDPM weights [0.999]")
    ap.add_argument("--warmup", type=int, default=200, help="learning-rate warm-up steps [200]")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--init", metavar="CHECKPOINT",
                    help="start from this checkpoint's weights (same architecture; modules the new config adds,"
                         " such as the GAN's auxiliary head, start fresh); recorded in the metadata")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    module = ARCHS[args.model]
    cfg = config_from_dict(module.Config, _parse_set(args.set))
    gen = seed_everything(args.seed)

    if args.data:
        images, labels, class_names = load_image_folder(args.data)
        dataset = f"folder {args.data}"
        cfg = replace(cfg, n_classes=max(len(class_names), 1)) if hasattr(cfg, "n_classes") else cfg
    else:
        images, labels = load_fashion_mnist("train")
        class_names = list(CLASSES)
        dataset = "Fashion-MNIST train (60,000)"
    indices = np.arange(len(images))
    if args.subset:
        indices = np.sort(np.random.default_rng(args.seed).choice(len(images), args.subset, replace=False))
        dataset += f", subset of {args.subset} (indices recorded)"
    x_all = to_tensor(images[indices])
    y_all = torch.from_numpy(labels[indices].astype(np.int64))
    n = len(x_all)

    model = module.build(cfg)
    init_meta: dict[str, Any] | None = None
    if args.init:
        init_meta = init_from_checkpoint(model, args.init, module.ARCH)
    model = model.to(args.device)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    lr = args.lr or DEFAULT_LR[args.model]
    opt: Any
    if args.model == "gan":
        g_lr, d_lr = (lr, 4 * lr) if args.lr else DEFAULT_LR["gan"]
        opt = (torch.optim.Adam(model.generator.parameters(), g_lr, betas=(0.0, 0.9)),
               torch.optim.Adam(model.discriminator.parameters(), d_lr, betas=(0.0, 0.9)))
    else:
        opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.0 if args.model != "classifier" else 5e-4)
    optimizers = opt if isinstance(opt, tuple) else (opt,)
    base_lrs = [[g["lr"] for g in o.param_groups] for o in optimizers]
    steps_per_epoch = math.ceil(n / args.batch_size)
    total_steps = args.steps or max(1, round(args.epochs * steps_per_epoch))
    ema = EMA(model, args.ema) if args.model in ("gan", "ddpm") else None

    test_x = test_y = None
    if args.model == "classifier":
        ti, tl = load_fashion_mnist("test")
        test_x, test_y = to_tensor(ti), torch.from_numpy(tl.astype(np.int64))

    def lr_factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, args.warmup))
        if args.model == "classifier":  # cosine decay to 0
            return warm * 0.5 * (1 + math.cos(math.pi * step / total_steps))
        return warm

    def save(final: bool, wall: float, step: int, last: dict[str, float]) -> str:
        to_save = model
        if ema is not None:
            to_save = module.build(cfg)
            ema.copy_to(to_save)
        meta: dict[str, Any] = {
            "dataset": dataset, "steps": step, "epochs": round(step / steps_per_epoch, 3),
            "batch_size": args.batch_size, "lr": lr, "seed": args.seed, "device": args.device,
            "hardware": hardware(), "wall_time_s": round(wall, 1), "torch": torch.__version__,
            "parameters": count_parameters(model), "ema": args.ema if ema is not None else None,
            "final": final, "last_losses": last, "classes": class_names,
            "command": "python -m reference_models.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        }
        if args.subset:
            meta["train_indices"] = indices.tolist()
        if init_meta is not None:
            meta["init"] = init_meta
        if args.model == "classifier" and final:
            meta["test_accuracy"] = evaluate_classifier(model, test_x, test_y, args.device)  # type: ignore[arg-type]
        sha = save_checkpoint(args.out, to_save, module.ARCH, cfg, meta)
        if args.register:
            update_manifest(args.register, {"file": os.path.basename(args.out), "arch": module.ARCH,
                                            "sha256": sha, "description": args.description,
                                            "sampler": json.loads(args.sampler), "config": asdict(cfg),
                                            "meta": meta}, path=args.manifest)
        return sha

    print(f"training {args.model} ({count_parameters(model):,} parameters) on {dataset}: {total_steps} steps"
          f" of {args.batch_size}, {hardware()}", file=sys.stderr, flush=True)
    t0 = last_save = time.monotonic()
    step = 0
    last: dict[str, float] = {}
    stopped_early = False
    while step < total_steps:
        for idx in batches(n, args.batch_size, gen):
            if step >= total_steps:
                break
            if len(idx) < max(2, args.batch_size // 4) and n > args.batch_size:
                continue  # skip a tiny last batch (batch norm needs several images)
            for o, lrs in zip(optimizers, base_lrs, strict=True):
                for group, base in zip(o.param_groups, lrs, strict=True):
                    group["lr"] = base * lr_factor(step)
            x = x_all[idx].to(args.device).contiguous(memory_format=torch.channels_last)
            y = y_all[idx].to(args.device)
            last = module.train_step(model, x, y, opt, gen)
            if ema is not None:
                ema.update(model)
            step += 1
            elapsed = time.monotonic() - t0
            if step % args.log_every == 0 or step == total_steps:
                rate = step * args.batch_size / elapsed
                eta = (total_steps - step) * args.batch_size / rate
                print(f"step {step}/{total_steps} epoch {step / steps_per_epoch:.2f} "
                      + " ".join(f"{k}={v:.4f}" for k, v in last.items())
                      + f" {rate:.0f} img/s eta {eta / 60:.1f} min", file=sys.stderr, flush=True)
            if args.max_minutes and elapsed > args.max_minutes * 60:
                stopped_early = True
                total_steps = step
                break
            if time.monotonic() - last_save > args.save_every_minutes * 60:
                save(False, elapsed, step, last)
                last_save = time.monotonic()
    wall = time.monotonic() - t0
    sha = save(True, wall, step, last)
    result = {"out": args.out, "sha256": sha, "steps": step, "wall_time_s": round(wall, 1),
              "stopped_at_time_budget": stopped_early, "last_losses": last}
    if args.model == "classifier":
        model.eval()
        result["test_accuracy"] = evaluate_classifier(model, test_x, test_y, args.device)  # type: ignore[arg-type]
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()

