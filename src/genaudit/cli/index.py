"""``genaudit index build|add|query``: the training-set hash index for memorization checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .output import EXIT_FINDINGS, EXIT_OK, FileResults, Progress, echo_ignored, file_error_line, json_option


@click.group("index")
def index_group() -> None:
    """Perceptual-hash index of a training set: build, add, query (memorization checks)."""


def _families_opt(text: str) -> tuple[str, ...]:
    from ..features.hashing import FAMILIES

    fams = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        raise click.BadParameter(f"choose from {', '.join(FAMILIES)}", param_hint="--hashes")
    return fams


def _build_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--jobs, --dask-scheduler (alias --scheduler) and --quiet, shared by ``index build`` and ``index add``."""
    for option in (click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
                   click.option("--dask-scheduler", "--scheduler", "scheduler", metavar="ADDRESS",
                                help="Address of an existing Dask scheduler, as in scan --dask-scheduler"
                                     " (default: an embedded local cluster)."),
                   click.option("--jobs", "-j", type=click.IntRange(min=0), default=0,
                                help="Dask worker processes; 0 = one per core.")):
        command = option(command)
    return command


def _build_and_save(index: Any, sources: tuple[str, ...], path: str, jobs: int, scheduler: str | None, quiet: bool,
                    line: Callable[[Any], str]) -> int:
    """Hash ``sources`` into ``index``, name the refused files, write the index to ``path`` and print
    ``line(report)``; exit 1 when files were refused."""
    from ..memorization.build import build_index

    progress = Progress(enabled=not quiet, label="hashing")
    try:
        _, report = build_index(list(sources), families=index.families, index=index, jobs=jobs,
                                scheduler=scheduler, progress=progress)
    except (FileNotFoundError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        progress.close()
    for p, code, message in report.errors:
        click.echo(file_error_line(p, code, message), err=True)
    index.save(path)
    echo_ignored(report.ignored)
    click.echo(line(report))
    return EXIT_FINDINGS if report.errors else EXIT_OK


@index_group.command("build")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Index file to write.")
@click.option("--hashes", default="phash", show_default=True, help="Hash families, comma-separated.")
@_build_options
@click.option("--force", is_flag=True, help="Replace an existing index file.")
def index_build(sources: tuple[str, ...], out: str, hashes: str, jobs: int, scheduler: str | None, quiet: bool,
                force: bool) -> int:
    """Hash SOURCES (folders, image files, fashion-mnist:train|test, IDX files) into a new index.
    Refuses to replace an existing index without --force (`genaudit index add` extends one)."""
    from ..io import refuse_existing
    from ..memorization.index import TrainingIndex

    refuse_existing([out], force)  # before any hashing
    index = TrainingIndex(_families_opt(hashes))
    return _build_and_save(index, sources, out, jobs, scheduler, quiet,
                           lambda r: f"{out}: {len(index)} items ({', '.join(index.families)}), {len(r.errors)} files"
                                     f" refused, {r.seconds:.1f} s on {r.scheduler}")


@index_group.command("add")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("sources", nargs=-1, required=True)
@_build_options
def index_add(index_file: str, sources: tuple[str, ...], jobs: int, scheduler: str | None, quiet: bool) -> int:
    """Add SOURCES to an existing index, written back in place (atomically): the one command that
    updates its output on purpose."""
    from ..memorization.index import TrainingIndex

    index = TrainingIndex.load(index_file)
    before = len(index)
    return _build_and_save(index, sources, index_file, jobs, scheduler, quiet,
                           lambda r: f"{index_file}: {before} + {r.added} = {len(index)} items,"
                                     f" {len(r.errors)} files refused")


@index_group.command("query")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--radius", type=click.IntRange(0, 64), default=8, show_default=True,
              help="Report training items within this many bits (first hash family).")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Also report the k nearest items, whatever their distance.")
@json_option
def index_query(index_file: str, images: tuple[str, ...], radius: int, k: int, as_json: bool) -> int:
    """Find training items near IMAGES. Exit 1 when any image has a match within --radius (or errors)."""
    from ..errors import ImageLoadError
    from ..io import open_image
    from ..memorization.index import TrainingIndex
    from ..memorization.query import query_index

    index = TrainingIndex.load(index_file)
    family = index.families[0]
    out = FileResults(as_json)
    for path in out.readable(images, family=family):
        try:
            pil = open_image(path).pil
        except ImageLoadError as exc:
            out.error(path, exc.code, exc.message, family=family)
            continue
        [found] = query_index(index, [pil], radius, k)
        best = found.nearest[0] if found.nearest else None
        out.result({"path": path, "status": "match" if found.matches else "no_match", **found.to_dict()},
                   f"{path}: {len(found.matches)} within {radius} bits"
                   + (f"; nearest {best.source} at {best.distance}" if best else ""), good=not found.matches)
    return out.finish(images)
