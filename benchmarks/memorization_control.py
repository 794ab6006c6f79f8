"""Memorization rate of the reference generators against their full training set, in one run.

Builds (or loads) a phash+dhash index of the 60,000 Fashion-MNIST training images, samples N images
from each generator (class-balanced labels, fixed seed), writes them as PNGs with their model in a
``genaudit:model`` text chunk, and scans them with the ``memorization`` check exactly as
``genaudit scan DIR --index IDX`` would. Prints the memorization rate with its Wilson 95% interval
per generator. The deliberately memorizing DDPM is the positive control (it was trained on 64
images until it reproduced them); the normal models show the false-positive level of the check on
this data, since their samples are new garments that resemble training garments.

For the positive control it also reports how many samples are pixel-level copies (mean absolute
difference to the nearest of the 64 training images ≤ 8 grey levels): the check cannot flag a
sample that copies nothing.

    python benchmarks/memorization_control.py                      # 200 samples per generator
    python benchmarks/memorization_control.py -n 50 --models ddpm-fmnist-memorize,gan-fmnist
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json
from memorization_recall import candidates_of, sweep_rules


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="samples per generator [200]")
    ap.add_argument("--models", default="ddpm-fmnist-memorize,ddpm-fmnist,gan-fmnist,vae-fmnist")
    ap.add_argument("--index", help="existing index of fashion-mnist:train (else built here)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                    help="memorization check option, e.g. -O similarity=0.93")
    ap.add_argument("--json", default="benchmarks/results/memorization_control.json")
    args = ap.parse_args()

    import genaudit
    from genaudit import models
    from genaudit.io import write_png
    from genaudit.memorization.build import build_index

    work = tempfile.mkdtemp(prefix="genaudit-memctl-")
    idx_path = args.index
    if idx_path is None:
        t0 = time.perf_counter()
        index, _ = build_index(["fashion-mnist:train"], families=("phash", "dhash"), jobs=1)
        idx_path = index.save(os.path.join(work, "fmnist-train.gaidx"))
        print(f"index of {len(index):,} training images built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    options: dict[str, Any] = {"index": idx_path, "report": 1000}  # every candidate, for the rule sweep
    for kv in args.option:
        k, _, v = kv.partition("=")
        options[k] = float(v) if "." in v else int(v) if v.isdigit() else v

    copies: dict[str, Any] = {}
    for name in args.models.split(","):
        gen = models.load(name)
        t0 = time.perf_counter()
        out = gen.sample(args.n, seed=args.seed)
        imgs = out.images
        d = os.path.join(work, name)
        for i, (a, y) in enumerate(zip(imgs, out.labels, strict=True)):
            write_png(os.path.join(d, f"{i:05d}.png"), a,
                      text={"genaudit:model": name, "genaudit:label": str(y), "genaudit:seed": str(args.seed)})
        print(f"{name}: {args.n} samples in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        train_ids = gen.info.meta.get("train_indices")
        if train_ids:
            from genaudit.datasets import load_fashion_mnist

            x, _ = load_fashion_mnist("train")
            tr = x[np.asarray(train_ids)].reshape(len(train_ids), -1).astype(np.int16)
            mad = np.abs(imgs.reshape(len(imgs), -1).astype(np.int16)[:, None, :] - tr[None]).mean(axis=2).min(axis=1)
            copies[name] = {"pixel_copies": int((mad <= 8).sum()), "samples": len(imgs),
                            "median_mad": float(np.median(mad))}

    t0 = time.perf_counter()
    report = genaudit.scan([os.path.join(work, m) for m in args.models.split(",")], checks=("memorization",),
                           options={"memorization": options}, jobs=1,
                           report_dir=os.path.join(work, "report"))
    scan_s = time.perf_counter() - t0
    summary = report.summary.checks["memorization"]
    rows = []
    for g, r in summary["by_generator"].items():
        lo, hi = r["ci95"]
        c = copies.get(g)
        rows.append([g, r["audited"], r["memorized"], f"{r['rate']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
                     f"{c['pixel_copies']}/{c['samples']}" if c else "-"])
    print()
    print_table(["generator", "samples", "flagged", "memorization rate", "Wilson 95% CI",
                 "pixel copies of its 64 (MAD <= 8)"], rows)
    print(f"\nscan: {scan_s:.1f} s for {summary['memorization_rate']['audited']} images; check options {options}")
    results = [r for r in (f.result("memorization") for f in report.files) if r is not None and r.data]
    records = [{"generator": r.data.get("generator"), "cands": candidates_of(r.data)} for r in results]
    write_json(os.path.splitext(args.json)[0] + "_records.json", records)
    sweep = rule_sweep(records, args.models.split(","))
    print("\nrules of memorization_recall.py's sweep with the positive control >= 0.9, by the normal models'"
          " highest rate\n")
    print_table(["exact radius", "similarity", "aligned", "support", "aligned margin", *args.models.split(",")],
                [[x["rule"][k] for k in ("exact_radius", "similarity", "aligned", "support", "aligned_margin")]
                 + [f"{x['rates'][m]:.3f}" for m in args.models.split(",")] for x in sweep[:10]])
    write_json(args.json, {"benchmark": "memorization_control", "sweep": sweep[:50], "n": args.n, "seed": args.seed,
                           "options": options, "by_generator": summary["by_generator"], "pixel_copies": copies,
                           "scan_s": scan_s, "environment": environment()})


def rule_sweep(records: list[dict[str, Any]], models: list[str]) -> list[dict[str, Any]]:
    """Each rule of the recall benchmark's grid, applied to every sample's candidates: the rate per
    generator; rules that keep the positive control at >= 0.9 first, by the normal models' worst rate."""
    from genaudit.memorization import matching_ids

    out = []
    for rule in sweep_rules():
        hits: dict[str, list[int]] = {m: [] for m in models}
        for r in records:
            hit = bool(matching_ids(r["cands"], **rule))
            hits.setdefault(str(r["generator"]), []).append(int(hit))
        rates = {m: float(np.mean(v)) if v else float("nan") for m, v in hits.items()}
        control = [m for m in models if "memorize" in m]
        normal = [m for m in models if "memorize" not in m]
        out.append({"rule": rule, "rates": rates,
                    "control_ok": all(rates[m] >= 0.9 for m in control),
                    "worst_normal": max((rates[m] for m in normal), default=0.0)})
    out.sort(key=lambda x: (not x["control_ok"], x["worst_normal"]))
    return out


if __name__ == "__main__":
    main()
