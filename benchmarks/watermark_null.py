"""Watermark false positives: verify a key on images that do not carry it.

Four kinds of images, each resized at random (a factor in 0.5–1.6, and on a third of them a
different factor per axis), kept at ≥ 128 px on the short side:

* ``photo`` — crops of the natural photographs (64–1024 px before the resize);
* ``graphics`` — crops of opencv-doc's synthetic drawings (flat shapes, hard edges);
* ``generator`` — reference-generator samples (Fashion-MNIST GAN/VAE outputs, single images and
  4×4 mosaics, upscaled 8×);
* ``other key`` — photographs carrying the tiled watermark of a *different* key: a strong,
  perfectly periodic pattern, so the geometry search always finds a lattice and a translation.
  Only the check signs of the tested key tell them apart, which is what keeps the test exact.

For each method the empirical false-positive rate at the nominal FPRs 1e-2, 1e-3 and 1e-6 is printed
with its exact (Clopper–Pearson) 95% interval, overall and per kind; a calibrated test has the
nominal rate inside the interval.

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

from _common import clopper_pearson, environment, print_table, write_json
from genaudit import watermark as wm
from genaudit.samples import graphics_paths, photo_crops

SHARES = {"photo": 0.55, "graphics": 0.10, "generator": 0.15, "other key": 0.20}


def random_resize(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    fy = float(np.exp(rng.uniform(np.log(0.5), np.log(1.6))))
    fx = fy if rng.random() < 2 / 3 else float(np.exp(rng.uniform(np.log(0.5), np.log(1.6))))
    nh, nw = max(128, round(h * fy)), max(128, round(w * fx))
    return np.asarray(Image.fromarray(img).resize((nw, nh), Image.Resampling.BICUBIC))


def generator_images(n: int, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    from PIL import Image

    from genaudit import models

    names = [m for m in ("gan-fmnist", "vae-fmnist") if m in {i.name for i in models.list_models()}]
    if not names:
        return
    per = -(-n // len(names))
    for name in names:
        gen = models.load(name)
        samples = gen.sample(per * 2, seed=seed).images
        for i in range(per):
            if i % 2 == 0:
                img = Image.fromarray(samples[i]).resize((224, 224), Image.Resampling.BICUBIC)
            else:
                mosaic = np.vstack([np.hstack([samples[(i + 4 * r + c) % len(samples)] for c in range(4)])
                                    for r in range(4)])
                img = Image.fromarray(mosaic).resize((224, 224), Image.Resampling.BICUBIC)
            yield f"{name}_{i}", np.asarray(img.convert("RGB"))


def _crops(n: int, seed: int, paths: list[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
    sizes = (160, 200, 256, 320, 400, 512, 768, 1024)
    for j, size in enumerate(sizes):
        count = n // len(sizes) + (1 if j < n % len(sizes) else 0)
        yield from photo_crops(size, count, seed=seed + size, paths=paths)


def images(n: int, seed: int) -> Iterator[tuple[str, str, np.ndarray]]:
    """(kind, name, pixels) for ``n`` images without the tested key's watermark."""
    rng = np.random.default_rng(seed)
    counts = {k: round(n * v) for k, v in SHARES.items()}
    counts["photo"] += n - sum(counts.values())
    other = wm.WatermarkKey.from_passphrase(f"null-other-{seed}")
    g_paths = graphics_paths()
    if not g_paths:  # no drawings installed: photographs instead, said in the table
        counts["photo"] += counts.pop("graphics")
    streams: dict[str, Iterator[tuple[str, np.ndarray]]] = {
        "photo": _crops(counts["photo"], seed),
        "generator": generator_images(counts["generator"], seed),
        "other key": _crops(counts["other key"], seed + 7),
    }
    if "graphics" in counts:
        streams["graphics"] = _crops(counts["graphics"], seed + 11, paths=g_paths)
    for kind, stream in streams.items():
        for i, (name, img) in enumerate(stream):
            if i >= counts[kind]:
                break
            if kind == "other key":
                img = wm.embed(img, other, payload=i)
            yield kind, name, random_resize(img, rng)


def rates(p: np.ndarray) -> dict[str, Any]:
    row: dict[str, Any] = {"n": len(p)}
    for alpha in (1e-2, 1e-3, 1e-6):
        k = int((p <= alpha).sum())
        lo, hi = clopper_pearson(k, len(p))
        row[f"fp_{alpha:g}"] = k
        row[f"rate_{alpha:g}"] = k / max(len(p), 1)
        row[f"ci_{alpha:g}"] = [lo, hi]
        row[f"calibrated_{alpha:g}"] = bool(lo <= alpha <= hi) if alpha >= 1e-3 else k == 0
    row["min_p"] = float(p.min()) if len(p) else None
    return row


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
        ps, kinds, skipped, ms = [], [], 0, []
        t0 = time.perf_counter()
        for kind, _name, img in images(args.n, args.seed):
            t1 = time.perf_counter()
            r = wm.verify(img, key, method=method)
            ms.append(1000 * (time.perf_counter() - t1))
            if r.status != "ok":
                skipped += 1
                continue
            ps.append(r.p_value)
            kinds.append(kind)
            if len(ps) % 500 == 0:
                print(f"{method}: {len(ps)} images, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        p = np.asarray(ps, dtype=np.float64)
        k = np.asarray(kinds)
        row = {"method": method, "kind": "all", "skipped": skipped, "seconds": time.perf_counter() - t0,
               "verify_ms_mean": float(np.mean(ms)), **rates(p)}
        rows.append(row)
        for kind in SHARES:
            if (k == kind).any():
                rows.append({"method": method, "kind": kind, **rates(p[k == kind])})
    print()
    print_table(["method", "images", "FP@1e-2 (95% CI)", "FP@1e-3 (95% CI)", "FP@1e-6", "smallest p"],
                [[f"{r['method']} [{r['kind']}]", r["n"],
                  f"{r['fp_0.01']} = {r['rate_0.01']:.4f} [{r['ci_0.01'][0]:.4f}, {r['ci_0.01'][1]:.4f}]",
                  f"{r['fp_0.001']} = {r['rate_0.001']:.5f} [{r['ci_0.001'][0]:.5f}, {r['ci_0.001'][1]:.5f}]",
                  r["fp_1e-06"], f"{r['min_p']:.2e}" if r["min_p"] is not None else ""] for r in rows])
    write_json(args.json, {"benchmark": "watermark_null", "seed": args.seed, "rows": rows,
                           "shares": SHARES, "environment": environment()})


if __name__ == "__main__":
    main()
