"""Watermark false positives: verify a key on images that do not carry it.

Images: crops of natural photographs at several sizes (128–512 px) and reference-generator
samples (Fashion-MNIST GAN/VAE outputs, upscaled 8× to 224² and as 4×4 mosaics upscaled 2×,
since the tiled method needs 128 px). For each method the empirical false-positive rate at the
nominal FPRs 1e-2, 1e-3 and 1e-6 is printed with its exact (Clopper–Pearson) 95% interval; a
calibrated test has the nominal rate inside the interval.

    python benchmarks/watermark_null.py                 # 10,000 images
    python benchmarks/watermark_null.py -n 2000 --methods tiled,dwtDctSvd
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json
from genaudit import watermark as wm
from genaudit.samples import photo_crops


def generator_images(n: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    from PIL import Image

    from genaudit import models

    names = [m for m in ("gan-fmnist", "vae-fmnist") if m in {i.name for i in models.list_models()}]
    if not names:
        return
    per = n // len(names)
    for name in names:
        gen = models.load(name)
        samples = gen.sample(per * 2, seed=seed).images
        for i in range(per):
            if i % 2 == 0:
                img = Image.fromarray(samples[i]).resize((224, 224), Image.Resampling.BICUBIC)
            else:
                mosaic = np.vstack([np.hstack(list(samples[(i + 4 * r) % len(samples):][:4])) for r in range(4)])
                img = Image.fromarray(mosaic).resize((224, 224), Image.Resampling.BICUBIC)
            yield f"{name}_{i}", np.asarray(img.convert("RGB"))


def images(n: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    n_gen = n // 5
    n_photo = n - n_gen
    sizes = (128, 160, 200, 256, 320, 512)
    for j, size in enumerate(sizes):
        count = n_photo // len(sizes) + (1 if j < n_photo % len(sizes) else 0)
        yield from photo_crops(size, count, seed=seed + size)
    yield from generator_images(n_gen, seed)


def clopper_pearson(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(conf)
    return float(ci.low), float(ci.high)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--methods", default="tiled")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default="benchmarks/results/watermark_null.json")
    args = ap.parse_args()

    key = wm.WatermarkKey.from_passphrase(f"null-{args.seed}")
    rows: list[dict[str, Any]] = []
    for method in args.methods.split(","):
        ps, kinds, skipped = [], [], 0
        t0 = time.perf_counter()
        for name, img in images(args.n, args.seed):
            r = wm.verify(img, key, method=method)
            if r.status != "ok":
                skipped += 1
                continue
            ps.append(r.p_value)
            kinds.append("generator" if "fmnist" in name else "photo")
            if len(ps) % 1000 == 0:
                print(f"{method}: {len(ps)} images, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        p = np.asarray(ps, dtype=np.float64)
        row: dict[str, Any] = {"method": method, "n": len(p), "skipped": skipped,
                               "n_generator": kinds.count("generator"), "seconds": time.perf_counter() - t0}
        for alpha in (1e-2, 1e-3, 1e-6):
            k = int((p <= alpha).sum())
            lo, hi = clopper_pearson(k, len(p))
            row[f"fp_{alpha:g}"] = k
            row[f"rate_{alpha:g}"] = k / len(p)
            row[f"ci_{alpha:g}"] = [lo, hi]
            row[f"calibrated_{alpha:g}"] = bool(lo <= alpha <= hi) if alpha >= 1e-3 else k == 0
        row["min_p"] = float(p.min())
        rows.append(row)
    print()
    print_table(["method", "images", "of which generator", "FP@1e-2 (95% CI)", "FP@1e-3 (95% CI)", "FP@1e-6",
                 "smallest p"],
                [[r["method"], r["n"], r["n_generator"],
                  f"{r['fp_0.01']} = {r['rate_0.01']:.4f} [{r['ci_0.01'][0]:.4f}, {r['ci_0.01'][1]:.4f}]",
                  f"{r['fp_0.001']} = {r['rate_0.001']:.5f} [{r['ci_0.001'][0]:.5f}, {r['ci_0.001'][1]:.5f}]",
                  r["fp_1e-06"], f"{r['min_p']:.2e}"] for r in rows])
    write_json(args.json, {"benchmark": "watermark_null", "seed": args.seed, "rows": rows,
                           "environment": environment()})


if __name__ == "__main__":
    main()
