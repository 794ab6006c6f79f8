"""``genaudit detect`` and ``genaudit detector train|info``."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from .output import EXIT_OK, FileResults, Progress, json_option


def _target_fpr(value: float | None) -> float | None:
    if value is not None and not 0 < value < 1:
        raise click.BadParameter("must be between 0 and 1", param_hint="--target-fpr")
    return value


@click.command("detect")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--detector", "model", type=click.Path(dir_okay=False),
              help="Detector file (genaudit detector train) [the shipped detector-fmnist].")
@click.option("--target-fpr", type=float, help="False-positive rate on real images for the verdict [the model's].")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Images per batch.")
@json_option
def detect_cmd(inputs: tuple[str, ...], model: str | None, target_fpr: float | None, batch_size: int,
               as_json: bool) -> int:
    """Real-vs-fake: p(generated) of each image and a verdict at the detector's operating point.
    Exit 0 when every image was judged real, 1 when any was called generated or could not be read."""
    from ..detector import Detector
    from ..errors import ImageLoadError
    from ..io import iter_inputs, open_image

    detector = Detector(model, target_fpr=_target_fpr(target_fpr), batch_size=batch_size)
    out = FileResults(as_json)
    pending: list[tuple[str, Any, ImageLoadError | None]] = []  # results go out in input order

    def flush() -> None:
        images = [im for _, im, error in pending if error is None]
        predictions = iter(detector.predict(images))
        for path, _, error in pending:
            if error is not None:
                out.error(path, error.code, error.message, verdict=None)
                continue
            pred = next(predictions)
            doc = {"path": path, "status": "skipped" if pred.verdict == "skipped" else "ok", **pred.to_dict()}
            if pred.verdict == "skipped":
                out.result(doc, f"{path}: skipped: {pred.reason}")
            else:
                out.result(doc, f"{path}: {pred.verdict} (p_generated={pred.p_generated:.3f}, threshold"
                                f" {pred.threshold:.3f} at target FPR {pred.target_fpr:g})",
                           good=pred.verdict == "real")
        pending.clear()

    for item in iter_inputs(inputs, ignored=out.ignored):
        if item.error is not None:
            pending.append((item.path, None, ImageLoadError(item.error.code, item.error.message)))
            continue
        try:
            pending.append((item.path, open_image(item.path).pil, None))
        except ImageLoadError as exc:
            pending.append((item.path, None, exc))
        if len(pending) >= batch_size:
            flush()
    flush()
    return out.finish(inputs)


@click.group("detector")
def detector_group() -> None:
    """Real-vs-fake detectors: train one on your own generator, describe one."""


@detector_group.command("train")
@click.option("--real", "real", multiple=True, required=True, type=click.Path(),
              help="Real images: a file or folder (repeatable).")
@click.option("--fake", "fake", multiple=True, required=True, type=click.Path(),
              help="Generated images: a file or folder (repeatable).")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Detector file to write; its model card goes beside it (same name, .md).")
@click.option("--target-fpr", type=float, default=0.01, show_default=True,
              help="False-positive rate on real images the operating point is chosen for.")
@click.option("--calibration", type=click.Choice(["isotonic", "platt"]), default="isotonic", show_default=True)
@click.option("--probe", type=click.Choice(["trees", "logistic"]), default="trees", show_default=True,
              help="Gradient-boosted trees, or a linear (logistic) probe.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/calibration/validation split.")
@click.option("--force", is_flag=True, help="Overwrite an existing detector file and card.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on the terminal.")
def detector_train(real: tuple[str, ...], fake: tuple[str, ...], out: str, target_fpr: float, calibration: str,
                   probe: str, seed: int, force: bool, quiet: bool) -> int:
    """Train a detector on folders of real and generated images; print its validation metrics
    (measured on a held-out part) and write the model and its card. Files that cannot be used are
    listed on stderr; exit 1 when there were any, 0 otherwise."""
    from dataclasses import replace

    from ..detector import DetectorModel, TrainOptions, load_training_images, model_card, train_detector
    from ..errors import ConfigError, NoImagesError
    from ..io import no_images_message, refuse_existing, write_atomic

    card = _card_path(out)
    refuse_existing([out, card], force)
    try:
        opts = TrainOptions(target_fpr=float(_target_fpr(target_fpr) or 0.01), calibration=calibration, probe=probe,
                            seed=seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    sets = {}
    refused: list[tuple[str, str]] = []
    for what, inputs in (("real", real), ("generated", fake)):
        loaded = load_training_images(inputs)
        if not loaded.images:
            raise NoImagesError(f"no usable {what} images: " + (
                f"{len(loaded.refused)} refused (first: {': '.join(loaded.refused[0])})" if loaded.refused
                else no_images_message(inputs, len(loaded.ignored))))
        sets[what] = loaded
        refused += loaded.refused
    for path, why in refused:
        click.echo(f"error: {path}: {why} (not used for training)", err=True)
    progress = Progress(not quiet, "features")
    try:
        result = train_detector(sets["real"].images, sets["generated"].images, opts, progress=progress,
                                meta={"sources": {"real": list(real), "generated": list(fake)}})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        progress.close()
    result.model.save(out, force=force)
    result = replace(result, model=DetectorModel.load(out))
    write_atomic(card, model_card(result, out, {"real": list(real), "generated": list(fake)}).encode())
    click.echo(json.dumps({"model": out, "card": card, "sha256": result.model.sha256,
                           "threshold": result.model.threshold, "target_fpr": result.model.target_fpr,
                           "counts": result.counts, "validation": result.validation}, indent=2))
    return EXIT_OK if not refused else 1


def _card_path(model_path: str) -> str:
    root, ext = os.path.splitext(model_path)
    return (root if ext else model_path) + ".md"


@detector_group.command("info")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
def detector_info(model: str | None) -> int:
    """Describe a detector file (default: the shipped one) as JSON: features, operating point,
    training data and validation metrics."""
    from ..detector import default_model_path, load_model

    m = load_model(model)
    click.echo(json.dumps({"path": model or default_model_path(), **m.info(), "training": dict(m.meta)}, indent=2))
    return EXIT_OK
