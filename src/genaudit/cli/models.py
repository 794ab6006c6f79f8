"""``genaudit models list|sample``: the bundled reference generators."""

from __future__ import annotations

import json
from typing import Any

import click

from .output import EXIT_OK


@click.group("models")
def models_group() -> None:
    """Bundled reference generators (Fashion-MNIST GAN, VAE, DDPM)."""


@models_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list evaluation classifiers.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_list(show_all: bool, as_json: bool) -> int:
    """List the bundled models with their checkpoint sha256 and training facts."""
    from ..models import list_models

    infos = list_models(include_classifiers=show_all)
    if as_json:
        click.echo(json.dumps([{"name": m.name, "arch": m.arch, "file": m.file, "sha256": m.sha256,
                                "description": m.description, "sampler": m.sampler,
                                "parameters": m.meta.get("parameters"), "steps": m.meta.get("steps"),
                                "hardware": m.meta.get("hardware")} for m in infos], indent=2))
        return EXIT_OK
    for m in infos:
        params = m.meta.get("parameters")
        click.echo(f"{m.name:<22} {m.arch:<10} {(params or 0) / 1e6:5.2f}M params  sha256 {m.sha256[:12]}  "
                   f"{m.description}")
    return EXIT_OK


@models_group.command("sample")
@click.argument("name")
@click.option("-n", "count", type=click.IntRange(min=1), default=10, show_default=True, help="Number of images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--labels", help="Comma-separated class labels, cycled over the samples (default: all classes).")
@click.option("--batch-size", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), help="DDPM: sampling steps (DDIM).")
@click.option("--guidance", type=float, help="DDPM: classifier-free guidance scale.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def models_sample(name: str, count: int, seed: int, out_dir: str, labels: str | None, batch_size: int,
                  steps: int | None, guidance: float | None, force: bool) -> int:
    """Sample a bundled generator into PNG files (label, seed and model recorded in text chunks).
    Refuses to overwrite existing files without --force."""
    from ..models import load

    gen = load(name)
    ys: list[int] | None = None
    if labels:
        try:
            cycle = [int(v) for v in labels.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected integers, got {labels!r}", param_hint="--labels") from None
        if not cycle:
            raise click.BadParameter("no labels given", param_hint="--labels")
        ys = [cycle[i % len(cycle)] for i in range(count)]
    sampler: dict[str, Any] = {k: v for k, v in (("steps", steps), ("guidance", guidance)) if v is not None}
    if sampler and gen.info.arch != "ddpm":
        raise click.BadParameter(f"--steps/--guidance apply to DDPM models, not {gen.info.arch}")
    try:
        out = gen.sample(count, labels=ys, seed=seed, batch_size=batch_size, **sampler)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    out.save(out_dir, force=force)
    click.echo(f"wrote {count} images to {out_dir}")
    return EXIT_OK
