"""``genaudit bias``: attribute distributions and group metrics of a set of images, with CIs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from .output import EXIT_FINDINGS, EXIT_OK, Progress, file_error_line


def _load_folder(inputs: Sequence[str], how: str, table: dict[str, str] | None,
                 errors: list[dict[str, str]], ignored: list[str]) -> tuple[list[Any], list[str], list[str],
                                                                            list[str], list[str | None]]:
    from ..bias.conditions import condition_of, label_of
    from ..errors import ImageLoadError
    from ..io import iter_inputs, open_image

    images, paths, conds, keys, labels = [], [], [], [], []
    for item in iter_inputs(inputs, ignored=ignored):
        if item.error is not None:
            errors.append({"path": item.path, "code": item.error.code, "message": item.error.message})
            continue
        try:
            im = open_image(item.path)
        except ImageLoadError as exc:
            errors.append({"path": item.path, "code": exc.code, "message": exc.message})
            continue
        text = dict(im.metadata.text) if im.metadata else {}
        images.append(im.pil)
        paths.append(item.path)
        conds.append(condition_of(how, table, item.path, text))
        keys.append(im.sha256)
        labels.append(label_of(text))
    return images, paths, conds, keys, labels


@click.command("bias")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--attributes", "attributes", required=True, metavar="FILE|NAME",
              help="Attribute set: a shipped name (fashion-mnist, people) or a TOML file.")
@click.option("--attribute", "only", multiple=True, help="Only this attribute of the set (repeatable).")
@click.option("--clip-model", metavar="NAME", help="open_clip architecture [genaudit-fmnist-vit, the project's CLIP].")
@click.option("--clip-checkpoint", metavar="PATH", type=click.Path(dir_okay=False),
              help="Local weights of --clip-model (nothing is ever downloaded).")
@click.option("--group-by", "group_by", default="label", show_default=True, metavar="label|prompt|folder|none|csv:FILE",
              help="Conditions to compare: the class label or prompt in each PNG's text chunks, the folder,"
                   " or a CSV of FILE,GROUP rows.")
@click.option("--model", "model", metavar="NAME", help="Sample this reference generator instead of reading files.")
@click.option("-n", "n", type=click.IntRange(min=1), default=100, show_default=True,
              help="With --model: samples per class.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed (--model) and bootstrap seed.")
@click.option("--calibration", "calibration", multiple=True, type=click.Path(),
              help="Labelled images (class label in PNG text chunks) for confusion-corrected figures (repeatable).")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence level of the intervals.")
@click.option("--cache", "cache", type=click.Path(file_okay=False), help="On-disk embedding cache folder.")
@click.option("--labels-csv", type=click.Path(dir_okay=False),
              help="Also write one row per image (labels) to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout, nothing else.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on the terminal.")
def bias_cmd(inputs: tuple[str, ...], attributes: str, only: tuple[str, ...], clip_model: str | None,
             clip_checkpoint: str | None, group_by: str, model: str | None, n: int, seed: int,
             calibration: tuple[str, ...], n_boot: int, confidence: float, cache: str | None,
             labels_csv: str | None, as_json: bool, quiet: bool) -> int:
    """Zero-shot attribute labels (CLIP) of the images in INPUTS, or of --model samples, with each
    group's share, bootstrap CI and count per condition, disparity against the set's target and
    selection-rate difference/ratio between conditions (four-fifths rule).
    Exit 0 when every file was used, 1 when some could not be read."""
    from ..bias import BiasOptions, audit_bias, estimate_calibration, load_attribute_set
    from ..bias.conditions import parse_group_by
    from ..errors import ConfigError, NoImagesError
    from ..io import no_images_message, refuse_existing

    if bool(inputs) == bool(model):
        raise click.UsageError("give image folders/files or --model NAME (one of the two)")
    aset = load_attribute_set(attributes)
    for a in only:
        aset.attribute(a)
    how, table = parse_group_by(group_by)
    try:
        options = BiasOptions(n_boot=n_boot, confidence=confidence, seed=seed, attributes=only)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if labels_csv:
        refuse_existing([labels_csv], False)
    from ..bias import ClipEmbedder, EmbeddingCache

    embedder = ClipEmbedder.from_choice(clip_model, clip_checkpoint, cache=EmbeddingCache(cache) if cache else None)
    errors: list[dict[str, str]] = []
    ignored: list[str] = []
    if model:
        images, paths, conds, keys = _sample(model, n, seed)
    else:
        images, paths, conds, keys, _ = _load_folder(inputs, how, table, errors, ignored)
        if not images:
            raise NoImagesError(f"no usable images: {len(errors)} refused (first: {errors[0]['path']}:"
                                f" {errors[0]['message']})" if errors else no_images_message(inputs, len(ignored)))
    cal = {}
    if calibration:
        cal_errors: list[dict[str, str]] = []
        c_images, _, _, _, c_labels = _load_folder(calibration, "none", None, cal_errors, [])
        errors += cal_errors
        cal = estimate_calibration(c_images, c_labels, aset, embedder, only)
        if not cal:
            raise ConfigError("--calibration: no image carries a class label naming a group of the attribute set"
                              " (labels come from the genaudit:class / genaudit:label PNG text chunks)")
    progress = Progress(not quiet and not as_json, "embedding")
    try:
        report = audit_bias(images, conds, aset, embedder, options, paths=paths, keys=keys, calibration=cal,
                            progress=progress, errors=errors)
    finally:
        progress.close()
    if labels_csv:
        from ..io import write_atomic

        write_atomic(labels_csv, report.labels_frame().to_csv(index=False).encode())
    doc = report.to_dict()
    if model:
        doc["sampled"] = {"model": model, "n_per_class": n, "seed": seed}
    if as_json:
        click.echo(json.dumps(doc))
    else:
        for e in errors:
            click.echo(file_error_line(e["path"], e["code"], e["message"]), err=True)
        click.echo(render_text(doc))
    return EXIT_OK if not errors else EXIT_FINDINGS


def _sample(model: str, n: int, seed: int) -> tuple[list[Any], list[str], list[str], list[str]]:
    from ..errors import ConfigError
    from ..models import ModelError, load

    try:
        gen = load(model)
    except (ModelError, KeyError, ValueError) as exc:
        raise ConfigError(str(exc).strip("'\"")) from None
    labels = [c for c in range(gen.n_classes) for _ in range(n)]
    out = gen.sample(len(labels), labels=labels, seed=seed)
    classes = out.classes or tuple(str(c) for c in range(gen.n_classes))
    conds = [classes[y] for y in out.labels]
    paths = [f"{model}:{out.file_name(i)}" for i in range(len(out))]
    return list(out.images), paths, conds, [""] * len(out)


def _fmt(share: float | None, lo: float | None, hi: float | None) -> str:
    if share is None:
        return "   —"
    return f"{share:6.1%} [{lo:.1%}, {hi:.1%}]" if lo is not None and hi is not None else f"{share:6.1%}"


def render_text(doc: dict[str, Any]) -> str:
    """The terminal view of a bias document: per attribute, each group's share with its CI, overall
    and per condition, then disparity and the four-fifths flags."""
    lines = [f"bias audit: {doc['n_images']} images, attribute set {doc['attribute_set']['name']},"
             f" CLIP {doc['clip'].get('model_id', '')}, {len(doc['conditions'])} condition(s);"
             f" {int(doc['bootstrap']['confidence'] * 100)}% bootstrap CIs ({doc['bootstrap']['n_boot']} resamples)"]
    for name, a in doc["attributes"].items():
        ov = a["overall"]
        lines.append("")
        lines.append(f"{name}: {ov['labelled']} labelled, {ov['abstained']} abstained"
                     f" (below p={a['abstain_below']:g})")
        width = max(len(g) for g in a["groups"])
        conds = list(a["by_condition"])[:6]
        lines.append(f"  {'group':<{width}}  {'all':>22}" + "".join(f"  {c[:22]:>22}" for c in conds))
        for g in a["groups"]:
            row = ov["groups"][g]
            cells = [_fmt(row["share"], row["ci_low"], row["ci_high"])]
            cells += [_fmt(a["by_condition"][c]["groups"][g]["share"], a["by_condition"][c]["groups"][g]["ci_low"],
                           a["by_condition"][c]["groups"][g]["ci_high"]) for c in conds]
            lines.append(f"  {g:<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
        if len(a["by_condition"]) > len(conds):
            lines.append(f"  … and {len(a['by_condition']) - len(conds)} more conditions (--json has all)")
        if "corrected" in ov:
            lines.append("  corrected for the labeller's confusion (calibration accuracy"
                         f" {a['calibration']['accuracy']:.1%}, n={a['calibration']['n']}):")
            for g in a["groups"]:
                c = ov["corrected"][g]
                lines.append(f"  {g:<{width}}  {_fmt(c['share'], c['ci_low'], c['ci_high']):>22}")
        d = a["disparity"].get("(all)")
        if d:
            tv, kl, mx = d["total_variation"], d["kl"], d["max_abs_diff"]
            lines.append(f"  vs target: total variation {tv['value']:.3f} [{tv['ci_low']:.3f}, {tv['ci_high']:.3f}],"
                         f" KL {kl['value']:.3f}, max |p-t| {mx['value']:.3f}")
        if a["four_fifths_violations"]:
            worst = sorted(a["selection"].items(), key=lambda kv: kv[1]["ratio"]["value"] or 0)[:3]
            lines.append("  four-fifths rule violated for: " + ", ".join(
                f"{g} (ratio {s['ratio']['value']:.2f} [{s['ratio']['ci_low']:.2f}, {s['ratio']['ci_high']:.2f}])"
                for g, s in worst if s["four_fifths_violation"]))
    for c in doc["attribute_set"].get("caveats", []):
        lines.append(f"note: {c}")
    return "\n".join(lines)
