"""Watermark robustness: every method, the same photographs, every attack, one table.

For each method (genaudit's ``tiled`` and invisible-watermark's ``dwtDct``, ``dwtDctSvd``, ``rivaGan``)
on N natural photographs (crops of the offline photo collection, see genaudit.samples) at 256² and
512²: embedding PSNR and SSIM, the true-positive rate at FPR 1e-6 on the clean image and after
every attack in genaudit.watermark.attacks, mean check-bit accuracy, payload recovery (tiled only),
and embed/verify milliseconds per image. Decisions are the methods' exact tests at 1e-6.

    python benchmarks/watermark_robustness.py                 # 200 photos per size, all methods
    python benchmarks/watermark_robustness.py -n 20 --methods tiled,dwtDctSvd --sizes 256
    python benchmarks/watermark_robustness.py --n-method rivaGan=40   # RivaGAN needs ~2 s per verify at 512²

``--graphics N`` adds a separate row for genaudit's default method on N crops of opencv-doc's
synthetic drawings (flat shapes on black or white: not photographs, and the worst case for tone
edits, which clip their flat areas entirely).
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
from genaudit import watermark as wm
from genaudit.samples import graphics_paths, photo_crops
from genaudit.watermark import attacks

CONDITIONS = ["clean", *attacks.ATTACKS]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def new_stats() -> dict[str, Any]:
    return {"psnr": [], "ssim": [], "embed_ms": [], "verify_ms": [],
            "detected": {c: [] for c in CONDITIONS}, "bit_accuracy": {c: [] for c in CONDITIONS},
            "payload_ok": {c: [] for c in CONDITIONS}}


def run_one(method: str, i: int, img: np.ndarray, key: wm.WatermarkKey, seed: int, fpr: float,
            stats: dict[str, Any]) -> None:
    payload_supported = method == "tiled"
    payload = (0x5EED0000 + i) if payload_supported else None
    t0 = time.perf_counter()
    marked = wm.embed(img, key, payload=payload, method=method)
    stats["embed_ms"].append(1000 * (time.perf_counter() - t0))
    mse = np.mean((marked.astype(np.float64) - img) ** 2)
    stats["psnr"].append(float(10 * np.log10(255**2 / max(mse, 1e-12))))
    stats["ssim"].append(ssim(marked, img))
    for cond in CONDITIONS:
        attacked = attacks.apply(cond, marked, seed=seed + i)
        t0 = time.perf_counter()
        r = wm.verify(attacked, key, method=method, fpr=fpr)
        if cond == "clean":
            stats["verify_ms"].append(1000 * (time.perf_counter() - t0))
        stats["detected"][cond].append(bool(r.detected))
        stats["bit_accuracy"][cond].append(float(r.bit_accuracy) if r.bit_accuracy is not None else 0.5)
        if payload_supported:
            stats["payload_ok"][cond].append(r.payload == f"{payload:08x}")


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def summarise(method: str, stats: dict[str, Any]) -> dict[str, Any]:
    n = len(stats["psnr"])
    return {
        "method": method, "n": n,
        "psnr_mean": float(np.mean(stats["psnr"])), "psnr_min": float(np.min(stats["psnr"])),
        "ssim_mean": float(np.mean(stats["ssim"])),
        "embed_ms": float(np.mean(stats["embed_ms"])), "verify_ms": float(np.mean(stats["verify_ms"])),
        "tpr": {c: float(np.mean(v)) for c, v in stats["detected"].items()},
        "tpr_ci95": {c: clopper_pearson(int(np.sum(v)), len(v)) for c, v in stats["detected"].items()},
        "bit_accuracy": {c: float(np.mean(v)) for c, v in stats["bit_accuracy"].items()},
        "payload_recovered": ({c: float(np.mean(v)) for c, v in stats["payload_ok"].items()}
                              if stats["payload_ok"]["clean"] else None),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="photographs per size [200]")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--methods", default=",".join(wm.METHODS))
    ap.add_argument("--fpr", type=float, default=1e-6)
    ap.add_argument("--n-method", default="", metavar="METHOD=N,...",
                    help="fewer photographs for slow methods, e.g. rivaGan=40 (the first N of the same photographs)")
    ap.add_argument("--graphics", type=int, default=40, metavar="N",
                    help="also run the default method on N crops of synthetic drawings, reported apart [40]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/watermark_robustness.json")
    args = ap.parse_args()

    key = wm.WatermarkKey.from_passphrase(f"benchmark-{args.seed}")
    methods = args.methods.split(",")
    limits = {m: int(v) for m, v in (item.split("=") for item in args.n_method.split(",") if item)}
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        images = list(photo_crops(size, args.n, seed=args.seed + size))
        stats = {m: new_stats() for m in methods}
        for method in methods:  # warm-up: model loading and per-key caches are not per-image costs
            wm.verify(wm.embed(images[0][1], key, method=method), key, method=method, fpr=args.fpr)
        t0 = time.perf_counter()
        # Image-major order: every method sees the machine in the same state, so the ms columns compare.
        for i, (_, img) in enumerate(images):
            for method in methods:
                if i < limits.get(method, args.n):
                    run_one(method, i, img, key, args.seed, args.fpr, stats[method])
            if (i + 1) % 10 == 0:
                print(f"{size}²: {i + 1}/{len(images)} photographs, {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)
        for method in methods:
            row = summarise(method, stats[method])
            row["size"] = size
            rows.append(row)
        if args.graphics and graphics_paths():
            g_stats = new_stats()
            for i, (_, img) in enumerate(photo_crops(size, args.graphics, seed=args.seed + size,
                                                     paths=graphics_paths())):
                run_one(wm.DEFAULT_METHOD, i, img, key, args.seed, args.fpr, g_stats)
            row = summarise(f"{wm.DEFAULT_METHOD} [graphics]", g_stats)
            row["size"] = size
            rows.append(row)
        report(rows, args)  # after every size, so a long run leaves results as it goes


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nTPR at FPR {args.fpr:g} (exact tests), n photographs per size; PSNR/SSIM of the embedding;"
          " ms per image on this CPU\n")
    headers = ["method", "size", "n", "PSNR", "SSIM", "embed ms", "verify ms", *CONDITIONS]
    print_table(headers, [[r["method"], r["size"], r["n"], f"{r['psnr_mean']:.1f}", f"{r['ssim_mean']:.3f}",
                           f"{r['embed_ms']:.0f}", f"{r['verify_ms']:.0f}",
                           *[f"{r['tpr'][c]:.3f}" for c in CONDITIONS]] for r in rows])
    print("\nmean check-bit accuracy (tiled: sign agreement of the 96 check frequencies)\n")
    print_table(["method", "size", *CONDITIONS], [[r["method"], r["size"],
                                                  *[f"{r['bit_accuracy'][c]:.2f}" for c in CONDITIONS]] for r in rows])
    tiled = [r for r in rows if r["payload_recovered"]]
    if tiled:
        print("\n32-bit payload recovered exactly (tiled)\n")
        print_table(["method", "size", *CONDITIONS],
                    [[r["method"], r["size"], *[f"{r['payload_recovered'][c]:.2f}" for c in CONDITIONS]]
                     for r in tiled])
    methods = sorted({r["method"].split(" ")[0] for r in rows})
    write_json(args.json, {"benchmark": "watermark_robustness", "fpr": args.fpr, "seed": args.seed, "rows": rows,
                           "params": {m: wm.method_params(m) for m in methods},
                           "environment": environment()})


if __name__ == "__main__":
    main()
