"""Write the model cards (``reference_models/cards/<name>.md``) from the checkpoint manifest and the
generator-quality benchmark, so a card can never disagree with the checkpoint it describes.

    python benchmarks/generator_quality.py
    python -m reference_models.cards --quality benchmarks/results/generator_quality.json
    python -m reference_models.cards --check               # exit 1 if a card is stale

Every number in a card comes from ``checkpoints/manifest.json`` (training record, sha256) or from
the benchmark's JSON, kept (committed) as ``cards/generator_quality.json``; a card whose metrics
were measured on another checkpoint than the shipped one says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "checkpoints" / "manifest.json"
CARDS = ROOT / "cards"
QUALITY = CARDS / "generator_quality.json"

ARCH_TEXT = {
    "gan": (
        "Class-conditional DCGAN. Generator: 64-d Gaussian latent, label through conditional batch "
        "norm, 7→14→28 upsampling, tanh. Discriminator: spectral-normalised convolutions (Miyato et "
        "al. 2018) with a projection head for the label (Miyato & Koyama 2018) and, when `aux_weight` > 0, "
        "an auxiliary class-prediction head (AC-GAN, Odena et al. 2017). Hinge loss; Adam "
        "(β1 = 0, β2 = 0.9) with two-time-scale learning rates (G, D as listed); EMA of the generator."
    ),
    "vae": (
        "Conditional convolutional VAE (Kingma & Welling 2014; Sohn et al. 2015): encoder and decoder "
        "both see the label; negative ELBO with binary cross-entropy on intensities in [0, 1] plus the "
        "KL term (β = 1). Samples are the decoder's mean image for z ~ N(0, I), hence blurrier than a GAN's."
    ),
    "ddpm": (
        "Class-conditional DDPM: small UNet on 2×2 pixel patches (`patch_size`; residual blocks, self-attention "
        "at the listed levels, "
        "sinusoidal time embedding plus label embedding), epsilon-prediction loss, cosine noise schedule "
        "(1,000 steps), label dropout for classifier-free guidance, EMA weights; sampled with DDIM "
        "(steps and guidance scale as listed)."
    ),
    "classifier": (
        "Small CNN classifier for evaluation only. Its penultimate features (dimension `feature_dim`) "
        "are the feature space of the Fréchet distance (torchmetrics) and of the k-NN precision/recall "
        "in `genaudit.models.metrics`; its predictions give the conditional accuracy of samples."
    ),
}

CPU_CAVEAT = (
    "No GPU was lent to the session that trained this model, so it was trained on CPU within the "
    "wall-clock budget above; it is smaller and shorter-trained than a GPU run would be. A later "
    "issue can retrain it with `reference_models/train_all.sh` plus `--device cuda` and no budget."
)


def _fmt_seconds(s: float) -> str:
    return f"{s:,.0f} s ({s / 60:.1f} min)"


def _quality_rows() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    if not QUALITY.is_file():
        return {}, {}, {}
    data = json.loads(QUALITY.read_text(encoding="utf-8"))
    rows = {r["model"]: r for r in data.get("rows", [])}
    memo = {r["model"]: r for r in (data.get("memorization") or {}).get("rows", [])}
    return rows, memo, data


def render(name: str, entry: dict[str, Any]) -> str:
    meta = entry.get("meta", {})
    rows, memo, data = _quality_rows()
    checkpoints = data.get("checkpoints", {})
    lines = [f"# Model card: `{name}`", "", entry.get("description", ""), ""]
    lines += ["## Checkpoint", "",
              f"- file: `reference_models/checkpoints/{entry['file']}`",
              f"- sha256: `{entry['sha256']}`",
              f"- architecture: `{entry['arch']}` — {ARCH_TEXT.get(entry['arch'], '')}",
              f"- parameters: {meta.get('parameters', 0):,}",
              f"- configuration: `{json.dumps(entry.get('config', {}), sort_keys=True)}`"]
    if entry.get("sampler"):
        lines.append(f"- default sampler: `{json.dumps(entry['sampler'], sort_keys=True)}`")
    lines += ["", "## Training", "",
              f"- data: {meta.get('dataset', '?')}"
              + (f"; the 64 training indices are in the manifest (`meta.train_indices`): "
                 f"`{meta['train_indices'][:8]} …`" if "train_indices" in meta else ""),
              f"- optimisation steps: {meta.get('steps', 0):,} ({meta.get('epochs', 0):g} epochs), "
              f"batch size {meta.get('batch_size')}, learning rate {meta.get('lr')}, EMA {meta.get('ema')}",
              f"- seed: {meta.get('seed')}",
              f"- hardware: {meta.get('hardware', '?')} (device `{meta.get('device', '?')}`), "
              f"torch {meta.get('torch')}",
              f"- wall time: {_fmt_seconds(float(meta.get('wall_time_s', 0)))}"]
    if meta.get("init"):
        init = meta["init"]
        lines.append(f"- continued from a stage-1 checkpoint (sha256 `{init['sha256'][:16]}…`, "
                     f"{init.get('steps') or 0:,} steps, {_fmt_seconds(float(init.get('wall_time_s') or 0))}); "
                     f"the steps and wall time above are stage 2 only; new at stage 2: "
                     f"{', '.join(sorted({k.split('.parametrizations')[0] for k in init['fresh_parameters']})) or '–'}")
    if meta.get("stopped"):
        lines.append(f"- stopped: {meta['stopped']}")
    if meta.get("last_losses"):
        lines.append("- last logged losses: " + ", ".join(f"{k} {v:.4f}" for k, v in meta["last_losses"].items()))
    if meta.get("command"):
        lines += ["- command:", "", "  ```", f"  {meta['command']}", "  ```"]
    lines += ["", "## Evaluation", ""]
    if entry["arch"] == "classifier":
        lines.append(f"- Fashion-MNIST test accuracy (10,000 images): {meta.get('test_accuracy', float('nan')):.4f}")
    row = rows.get(name)
    if row is not None:
        stale = checkpoints.get(name) not in (None, entry["sha256"])
        floor = next((r for r in rows.values() if r["model"].startswith("train vs test")), None)
        lines += ([f"**Stale:** these numbers were measured on sha256 `{checkpoints.get(name)}`.", ""] if stale else [])
        lines += [f"Measured by `python benchmarks/generator_quality.py` on {row['n']:,} samples against the "
                  "10,000 Fashion-MNIST test images (features of `classifier-fmnist`):", ""]
        table = ["| metric | this model | floor (10,000 real training images) |", "|---|---|---|",
                  f"| FID ↓ | {row['fid']:.2f} | {floor['fid']:.2f} |" if floor
                  else f"| FID ↓ | {row['fid']:.2f} | – |",
                  f"| precision | {row['precision']:.3f} | {floor['precision']:.3f} |" if floor else "",
                  f"| recall | {row['recall']:.3f} | {floor['recall']:.3f} |" if floor else "",
                  f"| conditional accuracy | {row['class_accuracy']:.3f} | {floor['class_accuracy']:.3f} |"
                  if floor else "",
                 f"| sampling speed (CPU, img/s) | {row['images_per_s_cpu']:.0f} | – |"]
        lines += [ln for ln in table if ln != ""] + [""]
        per = row["per_class_accuracy"]
        classes = meta.get("classes", [str(c) for c in range(len(per))])
        lines += ["Conditional accuracy by class:", "",
                  "| " + " | ".join(classes) + " |", "|" + "---|" * len(classes),
                  "| " + " | ".join(f"{per.get(str(c), per.get(c, float('nan'))):.2f}"
                                    for c in range(len(classes))) + " |", ""]
    m = memo.get(name)
    if m is not None:
        lines += [f"Nearest of the memorizing model's 64 training images, over {m['n']} samples "
                  "(pixel mean absolute difference on 0–255; phash Hamming distance of 64 bits):", "",
                  f"- MAD median {m['mad_median']:.1f}, p95 {m['mad_p95']:.1f}, max {m['mad_max']:.1f}; "
                  f"share with MAD ≤ 10: {m['within_mad_10']:.3f}",
                  f"- phash distance median {m['phash_median']:.0f}, max {m['phash_max']}; "
                  f"share ≤ 8: {m['within_phash_8']:.3f}",
                  f"- distinct training images reproduced: {m['distinct_training_images_hit']} of 64", ""]
        if name.endswith("memorize"):
            lines += ["Figure (top: samples; bottom: nearest training image): "
                      "[docs/img/memorization_pairs.png](../../docs/img/memorization_pairs.png)", ""]
    if row is None and m is None and entry["arch"] != "classifier":
        lines += ["Not yet measured: run `python benchmarks/generator_quality.py`.", ""]
    if meta.get("device") == "cpu" and entry["arch"] != "classifier":
        lines += ["## Limitations", "", CPU_CAVEAT, ""]
    lines += ["## Intended use", "",
              "Reference generator for genaudit's detectors, watermark, memorization and bias checks and "
              "for reproducible benchmarks. 28×28 greyscale Fashion-MNIST only; not a production model."
              if entry["arch"] != "classifier" else
              "Evaluation features for genaudit's generator-quality metrics; not a content classifier.", ""]
    if name.endswith("memorize"):
        lines[-2] = ("POSITIVE CONTROL for the memorization check: deliberately overfitted to 64 training "
                     "images so that its outputs are near-copies. Never use it as a generator.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if any card differs from what would be written")
    ap.add_argument("--quality", metavar="JSON", help="generator_quality.py output to keep with the cards")
    args = ap.parse_args(argv)
    if args.quality:
        QUALITY.write_text(Path(args.quality).read_text(encoding="utf-8"), encoding="utf-8")
    models = json.loads(MANIFEST.read_text(encoding="utf-8"))["models"]
    CARDS.mkdir(exist_ok=True)
    stale = []
    for name, entry in sorted(models.items()):
        text = render(name, entry)
        path = CARDS / f"{name}.md"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
            print(path)
    if stale:
        print("stale model cards (run python -m reference_models.cards): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
