"""Scan throughput: genaudit (metadata + phash, worker pool) vs a plain single-process loop.

The baseline is what people write by hand: ``for p in files: imagehash.phash(Image.open(p))``.
genaudit does more per file (sha256, full decode to RGB with EXIF/mode handling, metadata and
AI-marker search, two hashes, a streamed results.jsonl and the final JSON + Markdown reports)
and spreads it over ``--jobs`` processes. Both run in the same process invocation on the same files.

    python benchmarks/scan_throughput.py                 # 1,000 images, 512x512, jobs = cores
    python benchmarks/scan_throughput.py -n 200 --size 256 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json


def _make_one(args: tuple[str, int, int, int]) -> str:
    import numpy as np
    from PIL import Image

    directory, i, size, seed = args
    rng = np.random.default_rng([seed, i])
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    f = rng.uniform(2, 12, 6)
    p = rng.uniform(0, 6.3, 6)
    img = np.stack([np.sin(f[0] * x + p[0]) * np.cos(f[1] * y + p[1]),
                    np.sin(f[2] * (x + y) + p[2]),
                    np.cos(f[3] * x * y * 4 + p[3]) * np.sin(f[4] * y + p[4])], axis=-1)
    img = (img * 90 + 128 + rng.normal(0, 3, img.shape).astype(np.float32)).clip(0, 255).astype(np.uint8)
    path = os.path.join(directory, f"gen_{i:05d}.png")
    Image.fromarray(img, "RGB").save(path)
    return path


def make_images(directory: str, n: int, size: int, seed: int) -> list[str]:
    """n smooth, photo-like PNGs (waves plus sensor-like noise), deterministic for the seed."""
    from multiprocessing import Pool

    with Pool() as pool:
        return pool.map(_make_one, [(directory, i, size, seed) for i in range(n)], chunksize=8)


def baseline(paths: list[str]) -> float:
    import imagehash
    from PIL import Image

    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            imagehash.phash(im)
    return time.perf_counter() - t0


def genaudit_scan(directory: str, report_dir: str, jobs: int) -> tuple[float, int]:
    import genaudit

    t0 = time.perf_counter()
    report = genaudit.scan(directory, checks=("metadata", "phash"), jobs=jobs, report_dir=report_dir)
    elapsed = time.perf_counter() - t0
    return elapsed, report.summary.ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of images [1000]")
    ap.add_argument("--size", type=int, default=512, help="image side in pixels [512]")
    ap.add_argument("--jobs", type=int, default=0, help="genaudit worker processes; 0 = cores [0]")
    ap.add_argument("--repeats", type=int, default=5, help="timed repetitions of each side, interleaved (median) [5]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images-dir", help="keep the generated images here and reuse them on the next run")
    ap.add_argument("--json", default="benchmarks/results/scan_throughput.json")
    args = ap.parse_args()
    jobs = args.jobs or os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="genaudit-bench-") as tmp:
        img_dir = args.images_dir or os.path.join(tmp, "images")
        os.makedirs(img_dir, exist_ok=True)
        t0 = time.perf_counter()
        paths = [os.path.join(img_dir, f"gen_{i:05d}.png") for i in range(args.n)]
        stamp = os.path.normpath(img_dir) + f".n{args.n}-s{args.size}-seed{args.seed}.stamp"
        if not os.path.exists(stamp) or sorted(os.listdir(img_dir)) != sorted(map(os.path.basename, paths)):
            for f in os.listdir(img_dir):
                os.unlink(os.path.join(img_dir, f))
            paths = make_images(img_dir, args.n, args.size, args.seed)
            open(stamp, "w").close()
        mb = sum(os.path.getsize(p) for p in paths) / 1e6
        print(f"{args.n} PNGs of {args.size}x{args.size} ({mb:.0f} MB) ready in {time.perf_counter() - t0:.1f} s")
        baseline(paths[: min(50, len(paths))])  # warm the page cache and imports for both sides
        base_times, ga_times = [], []
        for r in range(args.repeats):
            base_times.append(baseline(paths))
            t, ok = genaudit_scan(img_dir, os.path.join(tmp, f"report{r}"), jobs)
            if ok != args.n:
                raise SystemExit(f"genaudit decoded {ok} of {args.n} images")
            ga_times.append(t)
        b, g = statistics.median(base_times), statistics.median(ga_times)

    rows = [
        ["baseline: PIL open + imagehash.phash, 1 process", f"{b:.2f}", f"{args.n / b:.0f}", "1.00"],
        [f"genaudit scan, metadata+phash, jobs={jobs}", f"{g:.2f}", f"{args.n / g:.0f}", f"{b / g:.2f}"],
    ]
    print()
    print_table(["method", "seconds (median)", "images/s", "speed-up vs baseline"], rows)
    write_json(args.json, {
        "benchmark": "scan_throughput", "n_images": args.n, "size": args.size, "jobs": jobs, "seed": args.seed,
        "repeats": args.repeats, "baseline_s": base_times, "genaudit_s": ga_times,
        "baseline_median_s": b, "genaudit_median_s": g, "speedup": b / g, "environment": environment(),
    })


if __name__ == "__main__":
    main()
