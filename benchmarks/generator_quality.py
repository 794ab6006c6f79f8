"""Quality of the bundled reference generators, in one run, against the Fashion-MNIST test set.

For every generator: FID in the evaluation classifier's feature space (torchmetrics), improved
precision/recall (k = 3), the classifier's accuracy on the labels the samples were generated for
(overall and per class), and sampling speed on this machine's CPU. The floor is the same numbers
for 10,000 real training images vs the 10,000 test images.

The memorizing positive control is measured separately: for each of its samples, the nearest of its
64 training images (mean absolute pixel difference, and phash Hamming distance), next to the same
figure for the normal DDPM.

    python benchmarks/generator_quality.py                  # 10,000 samples per model
    python benchmarks/generator_quality.py -n 2000          # quicker look
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json
from genaudit import models
from genaudit.datasets import CLASSES, load_fashion_mnist
from genaudit.models.metrics import class_accuracy, frechet_distance, precision_recall


def nearest_training_image(samples: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest training image by L2, mean absolute pixel difference to it) per sample."""
    import torch

    s = torch.from_numpy(samples.reshape(len(samples), -1).astype(np.float32))
    t = torch.from_numpy(train.reshape(len(train), -1).astype(np.float32))
    idx = np.empty(len(samples), dtype=np.int64)
    for i in range(0, len(s), 500):
        idx[i:i + 500] = torch.cdist(s[i:i + 500], t).argmin(1).numpy()
    mad = np.abs(samples.astype(np.int16) - train[idx].astype(np.int16)).mean(axis=(1, 2))
    return idx, mad


def phash_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import imagehash
    from PIL import Image

    return np.array([imagehash.phash(Image.fromarray(x)) - imagehash.phash(Image.fromarray(y))
                     for x, y in zip(a, b, strict=True)])


def save_pairs_figure(path: str, samples: np.ndarray, nearest: np.ndarray, n: int = 16) -> None:
    """Top row: samples; bottom row: their nearest training images (3x upscaled)."""
    from PIL import Image

    k = min(n, len(samples))
    grid = np.full((2 * 28 + 4, k * 30), 255, np.uint8)
    for i in range(k):
        grid[0:28, i * 30:i * 30 + 28] = samples[i]
        grid[32:60, i * 30:i * 30 + 28] = nearest[i]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.Resampling.NEAREST).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="samples per generator [10000]")
    ap.add_argument("--models", default="gan-fmnist,vae-fmnist,ddpm-fmnist")
    ap.add_argument("--memorize-model", default="ddpm-fmnist-memorize")
    ap.add_argument("--memorize-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed-n", type=int, default=500, help="samples in the timed speed batch [500]")
    ap.add_argument("--json", default="benchmarks/results/generator_quality.json")
    ap.add_argument("--figure", default="docs/img/memorization_pairs.png")
    args = ap.parse_args()

    clf = models.load_classifier()
    test_x, _test_y = load_fashion_mnist("test")
    train_x, train_y = load_fashion_mnist("train")
    test_feats = clf.features(test_x)
    rng = np.random.default_rng(args.seed)
    floor_idx = rng.choice(len(train_x), 10_000, replace=False)
    rows: list[dict[str, Any]] = []

    def evaluate(name: str, images: np.ndarray, labels: np.ndarray, img_per_s: float | None) -> dict[str, Any]:
        fid = frechet_distance(test_x, images, clf)
        p, r = precision_recall(test_feats, clf.features(images))
        acc = class_accuracy(images, labels, clf)
        row = {"model": name, "n": len(images), "fid": fid, "precision": p, "recall": r,
               "class_accuracy": acc.overall, "per_class_accuracy": acc.by_class, "images_per_s_cpu": img_per_s}
        rows.append(row)
        print(f"{name}: FID {fid:.2f} P {p:.3f} R {r:.3f} acc {acc.overall:.3f}"
              + (f" {img_per_s:.0f} img/s" if img_per_s else ""), file=sys.stderr, flush=True)
        return row

    names = [m for m in args.models.split(",") if m]
    # Sampling speed first, for every model, on a fixed timed batch: the long 10,000-sample runs
    # below are then free to share the machine without skewing the speed column.
    speed: dict[str, float] = {}
    for name in names:
        gen = models.load(name)
        gen.sample(20, seed=10**6)  # warm-up
        k = min(args.speed_n, args.n)
        t0 = time.perf_counter()
        gen.sample(k, labels=(np.arange(k) % len(CLASSES)).tolist(), seed=10**6 + 1)
        speed[name] = k / (time.perf_counter() - t0)
        print(f"{name}: {speed[name]:.1f} img/s on {k} samples", file=sys.stderr, flush=True)

    evaluate("train vs test (floor)", train_x[floor_idx], train_y[floor_idx], None)
    labels = np.arange(args.n) % len(CLASSES)
    for name in names:
        images = models.load(name).sample(args.n, labels=labels.tolist(), seed=args.seed).images
        evaluate(name, images, labels, speed[name])

    print()
    print_table(["model", "n", "FID ↓", "precision", "recall", "class acc.", "img/s (CPU)"],
                [[r["model"], r["n"], f"{r['fid']:.2f}", f"{r['precision']:.3f}", f"{r['recall']:.3f}",
                  f"{r['class_accuracy']:.3f}", f"{r['images_per_s_cpu']:.0f}" if r["images_per_s_cpu"] else "–"]
                 for r in rows])
    print("\nper-class accuracy of conditional samples:")
    print_table(["model", *[c.split("/")[0] for c in CLASSES]],
                [[r["model"], *[f"{r['per_class_accuracy'].get(c, float('nan')):.2f}" for c in range(len(CLASSES))]]
                 for r in rows])

    memo: dict[str, Any] = {}
    if args.memorize_model:
        info = models.model_info(args.memorize_model)
        train_idx = np.asarray(info.meta["train_indices"])
        memo_train = train_x[train_idx]
        memo_labels = train_y[train_idx]
        mem_rows = []
        for name in (args.memorize_model, "ddpm-fmnist"):
            gen = models.load(name)
            labs = memo_labels[np.arange(args.memorize_n) % len(memo_labels)]
            samples = gen.sample(args.memorize_n, labels=labs.tolist(), seed=args.seed + 1).images
            idx, mad = nearest_training_image(samples, memo_train)
            ph = phash_distances(samples, memo_train[idx])
            _, mad_full = nearest_training_image(samples[:200], train_x)
            mem_rows.append({"model": name, "n": len(samples), "mad_median": float(np.median(mad)),
                             "mad_p95": float(np.percentile(mad, 95)), "mad_max": float(mad.max()),
                             "phash_median": float(np.median(ph)), "phash_max": int(ph.max()),
                             "within_mad_10": float((mad <= 10).mean()), "within_phash_8": float((ph <= 8).mean()),
                             "distinct_training_images_hit": len(set(idx.tolist())),
                             "mad_to_full_train_median_first200": float(np.median(mad_full))})
            if name == args.memorize_model and args.figure:
                save_pairs_figure(args.figure, samples, memo_train[idx])
        print("\nmemorization: nearest of the 64 training images of the memorizing model (pixel MAD in 0-255)")
        print_table(["model", "n", "MAD median", "MAD p95", "MAD max", "phash median", "phash max",
                     "share MAD ≤ 10", "share phash ≤ 8", "distinct images hit", "MAD to full train (median)"],
                    [[m["model"], m["n"], f"{m['mad_median']:.1f}", f"{m['mad_p95']:.1f}", f"{m['mad_max']:.1f}",
                      f"{m['phash_median']:.0f}", m["phash_max"], f"{m['within_mad_10']:.3f}",
                      f"{m['within_phash_8']:.3f}", m["distinct_training_images_hit"],
                      f"{m['mad_to_full_train_median_first200']:.1f}"] for m in mem_rows])
        memo = {"rows": mem_rows, "figure": args.figure}

    write_json(args.json, {"benchmark": "generator_quality", "seed": args.seed, "rows": rows,
                           "memorization": memo, "environment": environment(),
                           "checkpoints": {m.name: m.sha256 for m in models.list_models(include_classifiers=True)}})


if __name__ == "__main__":
    main()
