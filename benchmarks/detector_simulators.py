"""Which generator-artifact simulators the shipped detector trains on, chosen without test data.

    python benchmarks/detector_simulators.py      # ~15 min on 2 cores (simulators trained and cached first)

For every subset of the simulators (:mod:`reference_models.simulators`; the empty set is the
detector without any), and for each reference generator G: train the shipped detector's recipe
on the real pool (less 1,500 real images held out) against the *other two* generators plus the
subset's simulated images, then measure AUC on the held-out real pool images against G's
*training-seed* samples (seed 1000, never used for this fit). The subset with the best worst-case
AUC over the three generators is the shipped choice (``SIMULATORS`` in
``reference_models/detector_data.py``). The test images and the evaluation seed (2000) of
``benchmarks/detector_eval.py`` take no part.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import environment, print_table, write_json
from reference_models.detector_data import ALL_SIMULATORS, GENERATORS
from reference_models.train_detector import pool_features

from genaudit.detector import TrainOptions, fit_detector
from genaudit.detector.extract import FeatureExtractor

HELD_OUT_REAL = 1500


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/detector_simulators.json")
    args = ap.parse_args()
    from sklearn.metrics import roc_auc_score

    t0 = time.perf_counter()
    pool = pool_features(FeatureExtractor(), args.seed, parts=("real", *GENERATORS, *ALL_SIMULATORS))
    perm = np.random.default_rng(args.seed + 123).permutation(len(pool["real"]))
    val, train = pool["real"][perm[:HELD_OUT_REAL]], pool["real"][perm[HELD_OUT_REAL:]]
    rows: list[list[Any]] = []
    doc: dict[str, Any] = {"environment": environment(), "seed": args.seed, "held_out_real": HELD_OUT_REAL,
                           "subsets": {}}
    for r in range(len(ALL_SIMULATORS) + 1):
        for subset in itertools.combinations(ALL_SIMULATORS, r):
            aucs = {}
            for g in GENERATORS:
                fakes = [pool[x] for x in GENERATORS if x != g] + [pool[s] for s in subset]
                model = fit_detector(train, np.concatenate(fakes), TrainOptions(seed=args.seed)).model
                s = np.r_[model.probe.score(val), model.probe.score(pool[g])]
                y = np.r_[np.zeros(len(val), int), np.ones(len(pool[g]), int)]
                aucs[g] = float(roc_auc_score(y, s))
            name = "+".join(x.removeprefix("sim-") for x in subset) or "(none)"
            doc["subsets"][name] = {**aucs, "min": min(aucs.values()), "mean": float(np.mean(list(aucs.values())))}
            rows.append([name, *(f"{aucs[g]:.4f}" for g in GENERATORS), f"{min(aucs.values()):.4f}"])
            print(f"  {name}: {rows[-1][1:]}", flush=True)
    best = max(doc["subsets"], key=lambda k: (doc["subsets"][k]["min"], doc["subsets"][k]["mean"]))
    doc["chosen"] = best
    print()
    print_table(["simulators", *(f"AUC without {g}" for g in GENERATORS), "worst"], rows)
    print(f"\nchosen (best worst case): {best}")
    doc["seconds"] = time.perf_counter() - t0
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
