"""``genaudit release-check``: pass/fail gates on a release's samples, for CI and pre-commit."""

from __future__ import annotations

import json
import os

import click

from .output import EXIT_FINDINGS, EXIT_OK


@click.command("release-check")
@click.option("--config", "config", type=click.Path(dir_okay=False), default="pyproject.toml", show_default=True,
              help="The pyproject.toml whose [tool.genaudit.release] table sets the gates.")
@click.option("--samples", type=click.Path(file_okay=False), help="Judge this folder instead of sampling.")
@click.option("-n", "n", type=click.IntRange(min=1), help="Images to sample [the table's n].")
@click.option("--seed", type=int, help="Sampling seed [the table's seed].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of the table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
def release_check_cmd(config: str, samples: str | None, n: int | None, seed: int | None, as_json: bool,
                      quiet: bool) -> int:
    """Sample the configured generator (or read --samples), measure each gate of
    [tool.genaudit.release] — memorization rate (with its CI), watermark TPR, bias disparity,
    detector AUC, C2PA validity — print a pass/fail table, and exit 0 when every gate passes, 1 otherwise."""
    from ..release_check import ReleaseConfig, run_release_check

    cfg = ReleaseConfig.from_pyproject(config, n=n, seed=seed)
    if samples is not None:  # the folder replaces the table's generator (or samples)
        from dataclasses import replace

        cfg = replace(cfg, generator=None, samples=os.path.abspath(samples))
    result = run_release_check(cfg, progress=None if quiet else lambda m: click.echo(f"genaudit: {m}", err=True))
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(result.table())
    return EXIT_OK if result.passed else EXIT_FINDINGS
