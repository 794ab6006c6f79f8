"""Bias metrics: zero-shot accuracy of the shipped CLIP, embedding throughput, and planted-skew validation.

    python benchmarks/bias_eval.py              # ~20 min on 2 cores

1. **Zero-shot accuracy** of ``clip-fmnist`` on the 10,000 Fashion-MNIST test images, per class and
   mean, with the shipped ``fashion-mnist`` set (prompt wordings never used in training).
2. **Embedding throughput** on this machine: batches of 256 vs one image per call.
3. **Planted skew**: sample sets with a known mixture of two classes (50/50, 60/40, 70/30, 90/10),
   from real test images and from the reference GAN, labelled by the CLIP in two designs: a
   two-group attribute (the two classes' prompts from the shipped set: the design of the issue,
   "two attribute groups") and the full ten-class attribute (harder: eight groups with true share
   0). The confusion matrix is estimated on a calibration part (real: even-indexed test images;
   GAN: seed 101) and the mixtures are drawn (with replacement) from a disjoint part (real: odd-indexed; GAN: seed
   202), 100 seeded repetitions each.
   Reported: how often the 95% CI of each planted group's share holds the planted share (raw and
   confusion-corrected), how often total variation against 50/50 orders the four mixtures
   correctly, and how often the four-fifths rule flags 70/30-vs-50/50 conditions (and not
   50/50-vs-50/50 ones).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import environment, print_table, write_json

from genaudit.bias import (
    BiasOptions,
    ClipEmbedder,
    ConfusionEstimate,
    ZeroShotLabeler,
    analyse,
    disparity,
    distribution,
    load_attribute_set,
)
from genaudit.bias.labels import Labels
from genaudit.datasets import CLASSES, load_fashion_mnist

MIXTURES = ((0.5, 0.5), (0.6, 0.4), (0.7, 0.3), (0.9, 0.1))
PAIRS = (("Trouser", "Dress"), ("T-shirt/top", "Shirt"))


def zero_shot(embedder: Any, attr: Any, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    emb = embedder.embed(list(images))
    pred = ZeroShotLabeler(embedder, attr, abstain_below=0.0).label_embeddings(emb).group_index
    acc = pred == labels
    return {"mean": float(acc.mean()), "per_class": {CLASSES[c]: float(acc[labels == c].mean()) for c in range(10)},
            "n": len(labels), "prompts": sorted({p for g in attr.groups for p in g.prompts})}


def throughput(embedder: Any, images: np.ndarray, n_single: int) -> dict[str, float]:
    embedder.embed(list(images[:8]))
    t0 = time.perf_counter()
    embedder.embed(list(images))
    batched = len(images) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for im in images[:n_single]:
        embedder.embed([im])
    single = n_single / (time.perf_counter() - t0)
    return {"batched_images_per_s": batched, "single_images_per_s": single, "speedup": batched / single}


def pair_attribute(attr: Any, pair: tuple[str, str]) -> Any:
    """A two-group attribute made of the shipped set's prompts for the two classes."""
    from genaudit.bias import Attribute

    groups = tuple(attr.groups[attr.index_of(g)] for g in pair)
    return Attribute(f"{pair[0]} vs {pair[1]}", groups, attr.abstain_below, (0.5, 0.5))


def planted(index: np.ndarray, truth: np.ndarray, cal: ConfusionEstimate, attr: Any, pair: tuple[str, str],
            n: int, reps: int, n_boot: int) -> dict[str, Any]:
    """Coverage and ordering over ``reps`` repetitions; ``index`` = predicted group per pool image."""
    a, b = attr.index_of(pair[0]), attr.index_of(pair[1])
    pool_a, pool_b = np.flatnonzero(truth == a), np.flatnonzero(truth == b)
    out: dict[str, Any] = {"pair": list(pair), "n": n, "reps": reps, "mixtures": {}}
    tvs = np.zeros((reps, len(MIXTURES), 2))
    flags = {"70/30 vs 50/50": [0, 0], "50/50 vs 50/50": [0, 0]}
    target = np.zeros(len(attr.groups))
    target[[a, b]] = 0.5
    for m, (pa, _) in enumerate(MIXTURES):
        cover = {"raw": [0, 0], "corrected": [0, 0]}
        for r in range(reps):
            rng = np.random.default_rng(1000 * m + r)
            na = round(pa * n)
            # drawn with replacement: the pool stands for the population (no finite-pool shrinkage
            # of the variance, which would make any interval look better than it is)
            pick = np.concatenate([rng.choice(pool_a, na), rng.choice(pool_b, n - na)])
            d = distribution(index[pick], attr.group_names, n_boot=n_boot, seed=r, calibration=cal)
            for key, dist in (("raw", d), ("corrected", d.corrected)):
                assert dist is not None
                for g, share in ((a, pa), (b, 1 - pa)):
                    cover[key][0 if g == a else 1] += int(dist.ci_low[g] <= share <= dist.ci_high[g])
            tvs[r, m, 0] = disparity(d, target).total_variation.value
            tvs[r, m, 1] = disparity(d, target, corrected=True).total_variation.value
            if pa in (0.5, 0.7):
                # two conditions: this mixture and an independent 50/50 draw
                other = np.concatenate([rng.choice(pool_a, n // 2), rng.choice(pool_b, n - n // 2)])
                cond = ["x"] * n + ["y"] * n
                labels = Labels(attr.name, attr.group_names, np.concatenate([index[pick], index[other]]),
                                np.empty((2 * n, len(attr.groups)), np.float32))
                res = analyse(labels, attr, cond, BiasOptions(n_boot=n_boot, seed=r))
                flagged = any(s.four_fifths_violation for s in res.selection if s.group == pair[1])
                key = "70/30 vs 50/50" if pa == 0.7 else "50/50 vs 50/50"
                flags[key][0] += int(flagged)
                flags[key][1] += 1
        out["mixtures"][f"{round(pa * 100)}/{round((1 - pa) * 100)}"] = {
            k: {pair[0]: v[0] / reps, pair[1]: v[1] / reps} for k, v in cover.items()}
    order = {k: float(np.mean(np.all(np.diff(tvs[:, :, j], axis=1) > 0, axis=1))) for j, k in
             enumerate(("raw", "corrected"))}
    out["tv_order_correct"] = order
    out["mean_tv"] = {f"{round(pa * 100)}/{round((1 - pa) * 100)}": {"raw": float(tvs[:, m, 0].mean()),
                                                                       "corrected": float(tvs[:, m, 1].mean())}
                      for m, (pa, _) in enumerate(MIXTURES)}
    out["four_fifths_flag_rate"] = {k: v[0] / max(v[1], 1) for k, v in flags.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("-n", type=int, default=400, help="images per planted sample set [400]")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--gan-per-class", type=int, default=1500, help="GAN samples per class per seed [1500]")
    ap.add_argument("--out", default="benchmarks/results/bias_eval.json")
    args = ap.parse_args()
    import torch

    embedder = ClipEmbedder.default()
    attr = load_attribute_set("fashion-mnist").attribute("class")
    images, labels = load_fashion_mnist("test")
    doc: dict[str, Any] = {"environment": environment(), "torch_threads": torch.get_num_threads(),
                           "clip": embedder.describe(), "args": vars(args)}
    t0 = time.perf_counter()
    doc["zero_shot"] = zero_shot(embedder, attr, images, labels)
    print_table(["class", "zero-shot accuracy"], [[c, f"{v:.3f}"] for c, v in doc["zero_shot"]["per_class"].items()]
                + [["mean", f"{doc['zero_shot']['mean']:.3f}"]])
    doc["throughput"] = throughput(embedder, images[:2048], 256)
    tp = doc["throughput"]
    print_table(["embedding", "images/s"], [["batched (256)", f"{tp['batched_images_per_s']:.0f}"],
                                            ["one by one", f"{tp['single_images_per_s']:.0f}"],
                                            ["batched / single", f"{tp['speedup']:.1f}×"]])
    sources: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    emb = embedder.embed(list(images))
    truth = np.array([attr.index_of(CLASSES[y]) for y in labels])
    sources["real (Fashion-MNIST test)"] = (emb[0::2], truth[0::2], emb[1::2], truth[1::2])
    from genaudit.models import load

    gan = load("gan-fmnist")
    parts = []
    for seed in (101, 202):
        ys = [c for c in range(10) for _ in range(args.gan_per_class)]
        out = gan.sample(len(ys), labels=ys, seed=seed)
        parts.append((embedder.embed(list(out.images)), np.array([attr.index_of(CLASSES[y]) for y in out.labels])))
    sources["GAN (gan-fmnist samples)"] = (parts[0][0], parts[0][1], parts[1][0], parts[1][1])
    doc["planted"] = {}
    rows = []
    for name, (cal_emb, cal_truth, pool_emb, pool_truth) in sources.items():
        doc["planted"][name] = {"designs": []}
        for pair in PAIRS:
            for design in ("two-group attribute", "ten-class attribute"):
                if design == "two-group attribute":
                    a = pair_attribute(attr, pair)
                    keep_cal = np.isin(cal_truth, [attr.index_of(g) for g in pair])
                    keep_pool = np.isin(pool_truth, [attr.index_of(g) for g in pair])
                    remap = {attr.index_of(pair[0]): 0, attr.index_of(pair[1]): 1}
                    c_truth = np.array([remap[t] for t in cal_truth[keep_cal]])
                    p_truth = np.array([remap[t] for t in pool_truth[keep_pool]])
                    c_emb, p_emb = cal_emb[keep_cal], pool_emb[keep_pool]
                else:
                    a, c_truth, p_truth, c_emb, p_emb = attr, cal_truth, pool_truth, cal_emb, pool_emb
                lab = ZeroShotLabeler(embedder, a)
                cal = ConfusionEstimate.from_labels(a.group_names, c_truth, lab.label_embeddings(c_emb).group_index)
                res = planted(lab.label_embeddings(p_emb).group_index, p_truth, cal, a, pair, args.n, args.reps,
                              args.n_boot)
                res.update(design=design, calibration_accuracy=cal.accuracy, calibration_n=int(cal.counts.sum()))
                doc["planted"][name]["designs"].append(res)
                for mix, cov in res["mixtures"].items():
                    rows.append([name, " / ".join(pair), design, mix,
                                 " ".join(f"{v:.2f}" for v in cov["raw"].values()),
                                 " ".join(f"{v:.2f}" for v in cov["corrected"].values()),
                                 f"{res['mean_tv'][mix]['raw']:.3f} / {res['mean_tv'][mix]['corrected']:.3f}"])
                rows.append([name, " / ".join(pair), design, "TV order correct",
                             f"{res['tv_order_correct']['raw']:.2f}", f"{res['tv_order_correct']['corrected']:.2f}",
                             "4/5 flag: 70/30 {:.2f}, 50/50 {:.2f}".format(*res["four_fifths_flag_rate"].values())])
    print_table(["source", "pair", "design", "mixture", "CI coverage raw (A B)", "CI coverage corrected (A B)",
                 "mean TV vs 50/50 raw / corrected"], rows)
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
