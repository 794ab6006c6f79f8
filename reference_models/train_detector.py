"""Train the shipped real-vs-fake detector ``detector-fmnist`` and write it with its model card.

    python -m reference_models.train_detector            # ~15 min on 2 cores (samples and features cached)

Data: :mod:`reference_models.detector_data` (``training_part``). Writes
``reference_models/checkpoints/detector-fmnist.gadet``, its card ``reference_models/cards/detector-fmnist.md``
and its sha256 in ``reference_models/checkpoints/manifest.json`` (key ``detectors``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from genaudit.detector import DEFAULT_MODEL, DetectorModel, TrainOptions, fit_detector, model_card
from genaudit.detector.extract import FeatureExtractor
from reference_models.detector_data import POOL_DESCRIPTION, SIMULATORS, TRAIN_COUNTS, cached_features, training_part

HERE = os.path.dirname(os.path.abspath(__file__))


def pool_features(extractor: Any, seed: int = 0,
                  parts: tuple[str, ...] = ("real", *TRAIN_COUNTS, *SIMULATORS)) -> dict[str, np.ndarray]:
    """Features of each training part (cached) by ``extractor`` (a :class:`FeatureExtractor`, or
    anything with its ``blocks``, ``embedder_sha256`` and call)."""
    return {p: cached_features(f"train-{p}-seed{seed}", lambda p=p: training_part(p, seed), extractor)
            for p in parts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-fpr", type=float, default=0.01)
    ap.add_argument("--out", default=os.path.join(HERE, "checkpoints", f"{DEFAULT_MODEL}.gadet"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    opts = TrainOptions(target_fpr=args.target_fpr, seed=args.seed)
    extractor = FeatureExtractor(opts.blocks)
    feats = pool_features(extractor, args.seed)
    x_fake = np.concatenate([feats[g] for g in (*TRAIN_COUNTS, *SIMULATORS)])
    result = fit_detector(feats["real"], x_fake, opts, embedder_sha256=extractor.embedder_sha256,
                          meta={"data": POOL_DESCRIPTION, "trained_by": "python -m reference_models.train_detector"})
    result.model.save(args.out, force=True)
    model = DetectorModel.load(args.out)
    result = type(result)(model, result.validation, result.counts)
    card = model_card(result, args.out, {"real": POOL_DESCRIPTION["real"], "generated": POOL_DESCRIPTION["generated"]})
    card_path = os.path.join(HERE, "cards", f"{DEFAULT_MODEL}.md")
    with open(card_path, "w", encoding="utf-8") as fh:
        fh.write(card + f"\nAugmentation: {POOL_DESCRIPTION['augmentation']}.\n\nTrained by"
                        f" `python -m reference_models.train_detector --seed {args.seed}` in"
                        f" {time.perf_counter() - t0:.0f} s (features cached from earlier runs count as 0).\n")
    manifest_path = os.path.join(os.path.dirname(args.out), "manifest.json")
    with open(manifest_path, encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest.setdefault("detectors", {})[DEFAULT_MODEL] = {"file": os.path.basename(args.out), "sha256": model.sha256}
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    print(json.dumps(result.validation, indent=2))
    print(f"wrote {args.out} ({model.sha256}) and {card_path}")


if __name__ == "__main__":
    main()
