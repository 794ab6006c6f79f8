"""Real-vs-fake detector: in-distribution, leave-one-generator-out, perturbations, learning curve.

    python benchmarks/detector_eval.py            # ~25 min on 2 cores the first time (samples, features cached)

Methods (each calibrated with isotonic regression on a calibration part, with the operating point
chosen there for 1% FPR on real images; settings picked on the validation part of the training
pool — never on the test images below):

- ``genaudit``: the shipped detector — gradient-boosted trees on the NPR-style residual block and 64
  PCA components of the EfficientNet-Lite0 embedding at 128² — trained exactly as
  ``python -m reference_models.train_detector`` trains it;
- ``embedding``: the embedding alone, UnivFD-style: a logistic probe (C from a grid) or the same trees
  on its 64 PCA components, whichever validates better;
- ``residual``: the trees on the residual block alone (ablation);
- ``pixels``: raw pixels (greyscale, resized to 28²), the naive baseline: a logistic probe (C from a
  grid) or trees on 64 PCA components, whichever validates better.

Training pool and held-out test sets: :mod:`reference_models.detector_data`. Every method's
generated training images include the simulated ones (real training images through generator-like
decoders, :mod:`reference_models.simulators`; which simulators was chosen by
``benchmarks/detector_simulators.py`` on training-seed samples); (b) adds the shipped recipe without
them as an ablation. Test: 2,000
Fashion-MNIST test images + 500 crops of photos no training photo resembles (real) and generator
samples drawn with a seed never used in training (GAN 2,000, VAE 2,000, DDPM 1,000).
(a) in-distribution: all three generators in training. (b) leave-one-generator-out: train without
one generator, test on it. (c) perturbations of the test images (a resize keeps its new size):
a subset of 800 + 200 real and 500 per generator. (d) learning curve: the left-out generator's
training samples added, 0 / 50 / 200 / 1,000 of them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import environment, print_table, write_json
from reference_models.detector_data import (
    GENERATORS,
    PERTURBATIONS,
    SIMULATORS,
    cached_features,
    evaluation_part,
    perturb,
)
from reference_models.train_detector import pool_features

from genaudit.detector import TrainOptions, fit_detector
from genaudit.detector.extract import FeatureExtractor
from genaudit.detector.features import DIM as RESIDUAL_DIM
from genaudit.detector.features import as_array
from genaudit.detector.probe import metrics

C_GRID = (0.005, 0.05, 0.5)
SETTINGS = {  # method -> the options tried (the best on the pool's validation part is kept)
    "genaudit": [TrainOptions()],
    "embedding": [TrainOptions(probe="logistic", c=c, blocks=("efficientnet-lite0@128",)) for c in C_GRID]
    + [TrainOptions(blocks=("efficientnet-lite0@128",))],  # and the trees on its 64 PCA components
    "residual": [TrainOptions(blocks=("npr-1",))],
    "pixels": [TrainOptions(probe="logistic", c=c, blocks=("efficientnet-lite0@128",)) for c in C_GRID]
    + [TrainOptions(blocks=("efficientnet-lite0@128",))],  # (blocks only tell the trees: PCA of every column)
}
PERTURBED_COUNTS = {"real-fmnist": 800, "real-photo": 200, **dict.fromkeys(GENERATORS, 500)}
LEARNING_CURVE = (0, 50, 200, 1000)


class PixelExtractor:
    """Raw-pixel features: greyscale, resized to 28², scaled to [0, 1]."""

    blocks = ("pixels-28",)
    embedder_sha256 = ""

    def __call__(self, images: list[Any]) -> np.ndarray:
        from PIL import Image

        out = np.empty((len(images), 784), np.float32)
        for i, im in enumerate(images):
            pil = Image.fromarray(as_array(im)).convert("L").resize((28, 28), Image.Resampling.BILINEAR)
            out[i] = np.asarray(pil, np.float32).ravel() / 255.0
        return out


def features(extractor: Any, seed: int) -> dict[str, Any]:
    """Training-pool and test features of every part, for one extractor (cached)."""
    pool = pool_features(extractor, seed)
    test: dict[str, dict[str, np.ndarray]] = {}
    for pert in PERTURBATIONS:
        test[pert] = {}
        for part, n in PERTURBED_COUNTS.items():
            def get(part: str = part, n: int = n, pert: str = pert) -> list[Any]:
                images = evaluation_part(part, seed)
                return images if pert == "none" else [perturb(im, pert) for im in images[:n]]

            test[pert][part] = cached_features(f"eval-{part}-seed{seed}-{pert}", get, extractor)
    return {"pool": pool, "test": test}


def select(x: np.ndarray, method: str) -> np.ndarray:
    if method == "embedding":
        return x[:, RESIDUAL_DIM:]
    if method == "residual":
        return x[:, :RESIDUAL_DIM]
    return x


def train(pool: dict[str, np.ndarray], gens: tuple[str, ...], method: str, seed: int,
          extra: np.ndarray | None = None, settings: list[TrainOptions] | None = None,
          sims: tuple[str, ...] = SIMULATORS) -> tuple[Any, str]:
    """The best model of ``method``'s settings on the validation part of the pool (real + ``gens``
    + ``sims`` + ``extra`` fakes), and its setting."""
    x_real = select(pool["real"], method)
    x_fake = np.concatenate([select(pool[g], method) for g in (*gens, *sims)]
                            + ([select(extra, method)] if extra is not None and len(extra) else []))
    best = None
    for opts in settings or SETTINGS[method]:
        r = fit_detector(x_real, x_fake, replace(opts, seed=seed))
        if best is None or (r.validation["auc"] or 0) > (best[0].validation["auc"] or 0):
            best = (r, opts)
    assert best is not None
    return best[0].model, best[1]


def describe(opts: TrainOptions) -> str:
    return "trees" if opts.probe == "trees" else f"logistic C={opts.c:g}"


def evaluate(model: Any, real: np.ndarray, fake: np.ndarray) -> dict[str, Any]:
    """Metrics of ``model`` on held-out real and generated features."""
    s = np.r_[model.probe.score(real), model.probe.score(fake)]
    y = np.r_[np.zeros(len(real), int), np.ones(len(fake), int)]
    return metrics(model.calibration(s), y, s, model.threshold_score, at_fpr=0.01)


def row(name: str, m: dict[str, Any]) -> list[Any]:
    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    return [name, f(m["auc"]), f(m["ap"]), f(m["accuracy"]), f(m["tpr_at_0.01_fpr"]), f(m["ece"]), f(m["fpr"])]


HEAD = ["method", "AUC", "AP", "acc@thr", "TPR@1%FPR", "ECE", "FPR@thr (target 0.01)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/detector_eval.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ours = features(FeatureExtractor(), args.seed)
    pixels = features(PixelExtractor(), args.seed)
    data = {"genaudit": ours, "embedding": ours, "residual": ours, "pixels": pixels}
    methods = list(data)
    doc: dict[str, Any] = {"environment": environment(), "seed": args.seed,
                           "settings": {m: [repr(o) for o in v] for m, v in SETTINGS.items()}}

    def test_sets(method: str, pert: str, gens: tuple[str, ...], subset: bool = False) -> tuple[np.ndarray, ...]:
        """Real and generated test features; ``subset``: the first images only, as perturbed."""
        t = data[method]["test"][pert]

        def part(p: str) -> np.ndarray:
            return select(t[p][:PERTURBED_COUNTS[p]] if subset else t[p], method)

        return np.concatenate([part("real-fmnist"), part("real-photo")]), np.concatenate([part(g) for g in gens])

    print("## (a) in-distribution (all three generators in training; held-out test images and seeds)\n")
    models, chosen = {}, {}
    rows, doc["in_distribution"] = [], {}
    for m in methods:
        models[m], chosen[m] = train(data[m]["pool"], GENERATORS, m, args.seed)
        c = describe(chosen[m])
        res = evaluate(models[m], *test_sets(m, "none", GENERATORS))
        doc["in_distribution"][m] = {**res, "setting": c}
        rows.append(row(m, res))
    print_table(HEAD, rows)
    real_fpr = doc["in_distribution"]["genaudit"]
    print(f"\nreal-image FPR at the operating point on {real_fpr['n_real']} held-out real images:"
          f" {real_fpr['fpr']:.4f} (target 0.01, limit 0.015)")

    print("\n## (b) leave one generator out (trained without it, tested on it; simulators: "
          f"{', '.join(SIMULATORS)})\n")
    rows, doc["leave_one_out"] = [], {}
    for g in GENERATORS:
        rest = tuple(x for x in GENERATORS if x != g)
        doc["leave_one_out"][g] = {}
        for m in methods:
            model, opts = train(data[m]["pool"], rest, m, args.seed)
            c = describe(opts)
            res = evaluate(model, *test_sets(m, "none", (g,)))
            doc["leave_one_out"][g][m] = {**res, "setting": c}
            rows.append(row(f"{m} without {g}", res))
        # ablation: the shipped recipe without the simulated images
        model, _ = train(data["genaudit"]["pool"], rest, "genaudit", args.seed, sims=())
        res = evaluate(model, *test_sets("genaudit", "none", (g,)))
        doc["leave_one_out"][g]["genaudit-no-simulators"] = res
        rows.append(row(f"genaudit (no simulators) without {g}", res))
    print_table(HEAD, rows)

    print("\n## (c) perturbations of the test images (model of (a); subsets: 1,000 real, 500 per generator)\n")
    rows, doc["perturbations"] = [], {}
    for pert in PERTURBATIONS:
        doc["perturbations"][pert] = {}
        for m in methods:
            res = evaluate(models[m], *test_sets(m, pert, GENERATORS, subset=True))
            doc["perturbations"][pert][m] = res
            rows.append(row(f"{m} {pert}", res))
    print_table(HEAD, rows)

    print("\n## (d) learning curve: retraining with n samples of a generator left out before"
          " (each method at its setting chosen in (a))\n")
    rows, doc["learning_curve"] = [], {}
    for g in GENERATORS:
        rest = tuple(x for x in GENERATORS if x != g)
        doc["learning_curve"][g] = {}
        for m in ("genaudit", "embedding"):
            for n in LEARNING_CURVE:
                rng = np.random.default_rng(args.seed + n)
                pick = rng.choice(len(data[m]["pool"][g]), size=n, replace=False) if n else np.zeros(0, int)
                # the setting chosen in (a): one fit per point
                model, opts = train(data[m]["pool"], rest, m, args.seed, extra=data[m]["pool"][g][pick],
                                    settings=[chosen[m]])
                c = describe(opts)
                res = evaluate(model, *test_sets(m, "none", (g,)))
                doc["learning_curve"][g][f"{m}:{n}"] = {**res, "setting": c}
                rows.append(row(f"{m} {g} +{n}", res))
    print_table(HEAD, rows)
    doc["seconds"] = time.perf_counter() - t0
    print(f"\n{doc['seconds']:.0f} s")
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
