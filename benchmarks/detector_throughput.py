"""Detector speed: scan throughput with the detector on, and batched vs one-image-at-a-time inference.

    python benchmarks/detector_throughput.py            # ~5 min on 2 cores

Images: crops of the natural photos as 512² RGB PNGs, and Fashion-MNIST test images as 28² PNGs.
``scan``: ``genaudit.scan(folder, checks=("detector",), jobs=J)`` end to end (read, decode,
detector, reports). ``batched`` vs ``single``: :meth:`Detector.predict` on the decoded images in
batches of 32 vs one call per image, in the same process; the ratio is the speed-up batching buys.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import environment, print_table, write_json
from reference_models.detector_data import fashion_mnist, photo_split

from genaudit.detector import Detector


def write_images(directory: str, size: int, n: int, seed: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    if size == 28:
        images = list(fashion_mnist("test", n, seed))
    else:
        photos = [np.asarray(Image.open(p).convert("RGB")) for p in photo_split("test")]
        images = []
        while len(images) < n:
            img = photos[int(rng.integers(len(photos)))]
            h, w = img.shape[:2]
            side = min(h, w)
            y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
            crop = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.Resampling.LANCZOS)
            images.append(np.asarray(crop))
    for i, im in enumerate(images):
        path = os.path.join(directory, f"img_{i:05d}.png")
        Image.fromarray(im).save(path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=256, help="images per size [256]")
    ap.add_argument("--single", type=int, default=64, help="images timed one at a time [64]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/detector_throughput.json")
    args = ap.parse_args()
    import genaudit
    from genaudit.io import open_image

    det = Detector()
    det.predict([np.zeros((28, 28), np.uint8)])  # load the weights outside the timings
    rows, doc = [], {"environment": environment(), "n": args.n, "single": args.single, "results": {}}
    for size in (512, 28):
        with tempfile.TemporaryDirectory() as d:
            folder = os.path.join(d, "images")
            os.makedirs(folder)
            paths = write_images(folder, size, args.n, args.seed)
            images = [open_image(p).pil for p in paths]
            for im in images:  # decode now: neither timing below should pay for PNG decoding
                im.load()
            res: dict[str, Any] = {}
            t0 = time.perf_counter()
            det.predict(images)
            t_batched = time.perf_counter() - t0
            few = images[:args.single]
            t0 = time.perf_counter()
            for im in few:
                det.predict([im])
            t_single = time.perf_counter() - t0
            res["batched_images_per_s"] = len(images) / t_batched
            res["single_images_per_s"] = len(few) / t_single
            res["batching_speedup"] = res["batched_images_per_s"] / res["single_images_per_s"]
            for jobs in (1, 2):
                t0 = time.perf_counter()
                genaudit.scan(folder, checks=("detector",), jobs=jobs, report_dir=os.path.join(d, f"rep{jobs}"))
                res[f"scan_jobs{jobs}_images_per_s"] = len(paths) / (time.perf_counter() - t0)
            doc["results"][f"{size}x{size}"] = res
            rows.append([f"{size}²", f"{res['scan_jobs1_images_per_s']:.1f}", f"{res['scan_jobs2_images_per_s']:.1f}",
                         f"{res['batched_images_per_s']:.1f}", f"{res['single_images_per_s']:.1f}",
                         f"{res['batching_speedup']:.2f}×"])
    print_table(["PNG", "scan -j1 img/s", "scan -j2 img/s", "predict batched img/s", "predict single img/s",
                 "batched / single"], rows)
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
