"""Memorization recall: are transformed copies of training images found, and nothing else?

Training set (indexed with phash + dhash): Fashion-MNIST training images and non-overlapping tiles
of natural photographs (the photos are split in two, alternately: tiles of one set are training
items, tiles of the other serve as photo negatives, so no negative shares content with a training
item; 80-px tiles give enough of both for n = 2,000). Queries: every training item under each
transform (crop 10%, resize 0.5, JPEG 50, mirror, brightness +20%, rotation 5°), plus the same
number of distinct negatives (Fashion-MNIST test images and the other photos' tiles).

A query counts as a true positive when the method's best match is its own source, a false
positive when the method reports any match for a negative or a wrong item for a positive.
Methods, in one run: hash only (nearest phash within ``--hash-radius``), genaudit's two-stage
``memorization`` check, and imagededup's PHash with its default threshold.

    python benchmarks/memorization_recall.py                   # 2,000 training images
    python benchmarks/memorization_recall.py -n 200 --no-imagededup
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from PIL import Image, ImageOps

from _common import environment, print_table, write_json
from genaudit.datasets import load_fashion_mnist
from genaudit.features.hashing import hash_images
from genaudit.memorization import match_order, matching_ids
from genaudit.memorization.index import TrainingIndex
from genaudit.samples import natural_photo_paths
from genaudit.watermark import attacks

TRANSFORMS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "crop_10": lambda a, s: attacks.apply("crop_10", a, seed=s),
    "resize_0.5": lambda a, s: attacks.apply("resize_0.5", a, seed=s),
    "jpeg_50": lambda a, s: attacks.apply("jpeg_50", a, seed=s),
    "mirror": lambda a, s: np.ascontiguousarray(a[:, ::-1]),
    "brightness_+20": lambda a, s: attacks.apply("brightness_+20", a, seed=s),
    "rotate_5": lambda a, s: attacks.apply("rotate_5", a, seed=s),
}


def rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


def photo_tiles(paths: list[str], size: int, limit: int) -> list[np.ndarray]:
    tiles: list[np.ndarray] = []
    for p in paths:
        im = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
        a = np.asarray(im)
        for y in range(0, a.shape[0] - size + 1, size):
            for x in range(0, a.shape[1] - size + 1, size):
                tiles.append(np.ascontiguousarray(a[y:y + size, x:x + size]))
                if len(tiles) >= limit:
                    return tiles
    return tiles


def build_sets(n: int, seed: int, tile: int = 80) -> tuple[list[np.ndarray], list[str], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    train_x, _ = load_fashion_mnist("train")
    test_x, _ = load_fashion_mnist("test")
    paths = natural_photo_paths()
    n_fm, n_ph = n // 2, n - n // 2
    fm_idx = rng.choice(len(train_x), n_fm, replace=False)
    train = [rgb(train_x[i]) for i in fm_idx]
    names = [f"fashion-mnist:train:{i}" for i in fm_idx]
    tiles = photo_tiles(paths[0::2], tile, n_ph)
    train += tiles
    names += [f"photo-tile:{i}" for i in range(len(tiles))]
    negatives = [rgb(x) for x in test_x[rng.choice(len(test_x), n_fm, replace=False)]]
    negatives += photo_tiles(paths[1::2], tile, n_ph)
    return train, names, negatives


def score(pred: list[int | None], truth: list[int | None]) -> dict[str, float]:
    tp = sum(p is not None and p == t for p, t in zip(pred, truth, strict=True))
    fp = sum(p is not None and p != t for p, t in zip(pred, truth, strict=True))
    pos = sum(t is not None for t in truth)
    return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / pos if pos else 0.0,
            "tp": tp, "fp": fp, "positives": pos}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="training images (half Fashion-MNIST, half photo tiles)")
    ap.add_argument("--hash-radius", type=int, default=8)
    ap.add_argument("--tile", type=int, default=80,
                    help="photo tile size [80: the offline photos give 1,082 training and 1,298 negative tiles]")
    ap.add_argument("--no-imagededup", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/memorization_recall.json")
    args = ap.parse_args()

    from genaudit import AuditConfig, Auditor

    train, names, negatives = build_sets(args.n, args.seed, args.tile)
    index = TrainingIndex(("phash", "dhash"))
    index.add({f: hash_images(train, f) for f in index.families}, names)
    tmp = tempfile.mkdtemp(prefix="genaudit-recall-")
    # sources of photo tiles are only in memory: write them so the check can load its candidates
    for i, name in enumerate(names):
        if name.startswith("photo-tile:"):
            path = os.path.join(tmp, f"tile{i}.png")
            Image.fromarray(train[i]).save(path)
            index.sources[i] = path
    idx_path = index.save(os.path.join(tmp, "train.gaidx"))
    auditor = Auditor(AuditConfig(checks=("memorization",),
                                  options={"memorization": {"index": idx_path, "report": 1000}}))
    opts = auditor.check_infos()[0].params
    records: list[dict[str, Any]] = []  # every query's candidates, for the threshold sweep

    rows: list[dict[str, Any]] = []
    neg_truth: list[int | None] = [None] * len(negatives)
    for tname, fn in [*TRANSFORMS.items(), ("negatives", None)]:
        if fn is None:
            queries, truth = negatives, neg_truth
        else:
            queries = [fn(im, args.seed + i) for i, im in enumerate(train)]
            truth = list(range(len(train)))
        t0 = time.perf_counter()
        codes = hash_images(queries, "phash")
        ids, dists = index.indexes["phash"].knn(codes, 1)
        hash_pred = [int(i) if d <= args.hash_radius else None for i, d in zip(ids[:, 0], dists[:, 0], strict=True)]
        t_hash = time.perf_counter() - t0
        t0 = time.perf_counter()
        two: list[int | None] = []
        for audit, t in zip(auditor.audit_images(queries), truth, strict=True):
            r = audit.result("memorization")
            assert r is not None
            best = r.data["closest"][0] if r.status == "finding" else None
            two.append(int(best["id"]) if best else None)
            records.append({"transform": tname, "truth": t, "cands": candidates_of(r.data)})
        t_two = time.perf_counter() - t0
        row: dict[str, Any] = {"transform": tname, "queries": len(queries), "hash_only": score(hash_pred, truth),
                               "two_stage": score(two, truth), "hash_s": t_hash, "two_stage_s": t_two}
        if not args.no_imagededup:
            row["imagededup_phash"] = score(imagededup_predictions(train, queries), truth)
        rows.append(row)
        print(f"{tname}: hash R {row['hash_only']['recall']:.3f} two-stage R {row['two_stage']['recall']:.3f} "
              f"P {row['two_stage']['precision']:.3f}", file=sys.stderr, flush=True)

    methods = ["hash_only", "two_stage"] + ([] if args.no_imagededup else ["imagededup_phash"])
    print()
    print_table(["transform", "queries", *[f"{m} P / R" for m in methods]],
                [[r["transform"], r["queries"],
                  *[f"{r[m]['precision']:.3f} / {r[m]['recall']:.3f}" if r[m]["positives"]
                    else f"FP {r[m]['fp']}" for m in methods]] for r in rows])
    pos_rows = [r for r in rows if r["transform"] != "negatives"]
    neg = next(r for r in rows if r["transform"] == "negatives")
    summary = {}
    for m in methods:
        tp = sum(r[m]["tp"] for r in pos_rows)
        fp = sum(r[m]["fp"] for r in pos_rows) + neg[m]["fp"]
        summary[m] = {"mean_recall": float(np.mean([r[m]["recall"] for r in pos_rows])),
                      "precision": tp / (tp + fp) if tp + fp else 1.0}
    print("\naveraged over transforms (precision includes the negatives' false positives)\n")
    print_table(["method", "mean recall", "precision"],
                [[m, f"{s['mean_recall']:.3f}", f"{s['precision']:.4f}"] for m, s in summary.items()])
    write_json(os.path.splitext(args.json)[0] + "_records.json", records)  # to re-sweep without re-running
    sweep = threshold_sweep(records)
    print("\ndecision rule sweep (match: phash distance <= r, or aligned correlation >= a, or similarity >= s"
          " with aligned >= support; 2.0 = clause off); best mean recall at precision >= 0.99\n")
    print_table(["exact radius", "similarity", "aligned", "support", "aligned margin", "mean recall", "precision"],
                [[x["exact_radius"], x["similarity"], x["aligned"], x["support"], x["aligned_margin"],
                  f"{x['mean_recall']:.3f}",
                  f"{x['precision']:.4f}"] for x in sweep[:10]])
    write_json(args.json, {"benchmark": "memorization_recall", "n": args.n, "rows": rows, "summary": summary,
                           "params": dict(opts), "sweep": sweep[:50], "environment": environment()})


def decide(cands: list[tuple[int, int, float | None, float | None]], **rule: Any) -> int | None:
    """The check's verdict on one query's candidates (id, phash distance, similarity, aligned
    correlation) under ``rule`` (``matching_ids`` keyword arguments, as ``sweep_rules`` yields them):
    the rule is ``matching_ids`` itself; the reported item is the check's first match."""
    hits = matching_ids(cands, **rule)
    best = min((c for c in cands if c[0] in hits), key=match_order, default=None)
    return best[0] if best else None


def candidates_of(data: Mapping[str, Any]) -> list[tuple[int, int, float | None, float | None]]:
    """A memorization result's listed candidates as the verdict rule sees them (id, phash distance,
    similarity, aligned correlation); run the check with ``report`` large enough to list them all."""
    return [(int(c["id"]), c["hash_distance"].get("phash", 65), c["similarity"], c.get("aligned"))
            for c in data["closest"]]


SWEEP = {"exact_radius": (0, 2, 4), "similarity": (0.86, 0.88, 0.90, 0.92, 0.94, 0.96, 2.0),
         "margin": (0.0,), "aligned": (0.95, 0.96, 0.965, 0.97, 0.975, 0.98, 0.985, 0.99, 2.0),
         "support": (0.0, 0.85, 0.9, 0.93, 0.95), "aligned_margin": (0.0, 0.01)}


def sweep_rules() -> Iterator[dict[str, Any]]:
    """Every rule of ``SWEEP`` as ``matching_ids`` keyword arguments (2.0 turns a clause off; a
    clause that is off needs no qualifier, so those duplicates are left out)."""
    import itertools

    for values in itertools.product(*SWEEP.values()):
        rule = dict(zip(SWEEP, values, strict=True))
        if (rule["similarity"] > 1 and rule["support"] > 0) or (rule["aligned"] > 1 and rule["aligned_margin"] > 0):
            continue
        yield rule


def prefilter(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with only the candidates some rule of ``SWEEP`` could look at: those it could accept,
    and those close enough behind them to decide a margin."""
    lo_r = max(SWEEP["exact_radius"])
    lo_s = min(SWEEP["similarity"]) - max(SWEEP["margin"])
    lo_a = min(SWEEP["aligned"]) - max(SWEEP["aligned_margin"])
    return [{**r, "cands": [c for c in r["cands"] if c[1] <= lo_r or (c[2] is not None and c[2] >= lo_s)
                            or (c[3] is not None and c[3] >= lo_a)]} for r in records]


def threshold_sweep(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean recall over transforms and overall precision for a grid of rules (``SWEEP``; 2.0 turns
    a clause off); those with precision >= 0.99 first, by mean recall."""
    transforms = sorted({r["transform"] for r in records if r["transform"] != "negatives"})
    records = prefilter(records)
    out = []
    for rule in sweep_rules():
        tp = fp = 0
        rec = {t: [0, 0] for t in transforms}
        for r in records:
            p = decide(r["cands"], **rule)
            if r["truth"] is None:
                fp += p is not None
                continue
            rec[r["transform"]][1] += 1
            if p == r["truth"]:
                tp += 1
                rec[r["transform"]][0] += 1
            elif p is not None:
                fp += 1
        out.append({**rule, "mean_recall": float(np.mean([a / b for a, b in rec.values() if b])),
                    "precision": tp / (tp + fp) if tp + fp else 1.0,
                    "recall_by_transform": {t: a / b for t, (a, b) in rec.items() if b}})
    out.sort(key=lambda x: (x["precision"] < 0.99, -x["mean_recall"], -x["precision"]))
    return out


def imagededup_predictions(train: list[np.ndarray], queries: list[np.ndarray]) -> list[int | None]:
    """imagededup's PHash with its default max_distance_threshold (10): the nearest training duplicate."""
    from imagededup.methods import PHash

    ph = PHash(verbose=False)
    enc = {f"t{i}": ph.encode_image(image_array=im) for i, im in enumerate(train)}
    out: list[int | None] = []
    train_hashes = {k: int(v, 16) for k, v in enc.items()}
    for q in queries:
        h = int(ph.encode_image(image_array=q), 16)
        best = min(train_hashes.items(), key=lambda kv: (bin(kv[1] ^ h).count("1"), kv[0]))
        out.append(int(best[0][1:]) if bin(best[1] ^ h).count("1") <= 10 else None)
    return out


if __name__ == "__main__":
    main()
