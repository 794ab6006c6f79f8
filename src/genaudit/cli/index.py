"""``genaudit index build|add|query``: the training-set hash index for memorization checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .output import EXIT_FINDINGS, EXIT_OK, FileResults, Progress, echo_ignored, file_error_line, json_option


@click.group("index")
def index_group() -> None:
    """Index of a training set (hashes and stored embeddings): build, add, embed, query (memorization checks)."""


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
                    line: Callable[[Any], str], before_save: Callable[[], None] | None = None) -> int:
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
    if before_save is not None:
        before_save()
    index.save(path)
    echo_ignored(report.ignored)
    click.echo(line(report))
    return EXIT_FINDINGS if report.errors else EXIT_OK


def _embedding_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--regions and --embed-size, shared by ``index build`` and ``index embed``."""
    for option in (click.option("--embed-size", type=click.IntRange(32, 1024), default=224, show_default=True,
                                help="Side the embedding model sees (smaller is faster; 224 as trained)."),
                   click.option("--regions", default="all", show_default=True,
                                help="Parts of each item embedded besides the whole: left,right,top,bottom,center"
                                     " (halves and the central 75%), 'all', or 'whole' alone.")):
        command = option(command)
    return command


def _spec(regions: str, embed_size: int) -> Any:
    from ..features.embedding import ImageEmbedder
    from ..memorization.vectors import EmbeddingSpec, parse_regions

    try:
        return EmbeddingSpec.of(ImageEmbedder(input_size=embed_size), parse_regions(regions))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--regions") from None
    except (FileNotFoundError, RuntimeError) as exc:
        raise click.UsageError(f"cannot embed: {exc} (or build with --no-embed)") from None


def _vectors_text(index: Any) -> str:
    spec = index.embedding
    if spec is None:
        return "no embeddings"
    vi = index.vectors
    search = (f"ivf {vi.lists:,} lists, nprobe {vi.nprobe}, {vi.nbytes // len(vi):,} bytes per item"
              if vi.partitioned and len(vi) else "exact search")
    return (f"embeddings: {len(spec.regions)} region{'s' * (len(spec.regions) != 1)} × {spec.dim} float16,"
            f" {spec.to_dict()['bytes_per_item']:,} bytes per item of vectors; {search}")


def _partition_value(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--partition as given: auto, off, or a positive number of lists (checked before any work)."""
    v = value.strip().lower()
    if v in ("auto", "off") or (v.isdigit() and int(v) > 0):
        return v
    raise click.BadParameter(f"{value!r}: auto, off or a number of lists (≥ 1)")


def _partition_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--partition and --nprobe, shared by ``index build`` and ``index partition``."""
    for option in (click.option("--nprobe", type=click.IntRange(min=1), default=None,
                                help="Cells a search scans (default: 1/16 of the lists); with --partition auto it"
                                     " partitions an index of any size."),
                   click.option("--partition", "partition", default="auto", show_default=True, metavar="auto|off|LISTS",
                                callback=_partition_value,
                                help="Search the stored vectors in an inverted file of LISTS k-means cells (faster,"
                                     " approximate); auto: from 50,000 rows (items × regions), about √rows"
                                     " lists; off: exhaustive search.")):
        command = option(command)
    return command


def _refuse_idle_nprobe(partition: str, nprobe: int | None, embed: bool = True) -> None:
    """``--nprobe`` where no search would use it is a configuration error, not a silent no-op."""
    if nprobe is None:
        return
    if partition == "off":
        raise click.UsageError("--nprobe applies to a partitioned index; --partition off searches exhaustively")
    if not embed:
        raise click.UsageError("--nprobe applies to stored embeddings; --no-embed stores none")


def _partition(index: Any, partition: str, nprobe: int | None, *, explicit: bool = False) -> None:
    """Apply --partition/--nprobe to ``index``'s vectors (nothing for an index without vectors, or
    below the automatic threshold); ``explicit`` or a given ``nprobe``: ``auto`` partitions whatever
    the size (asking for an nprobe is asking for a partitioned index)."""
    from ..memorization.vectors import auto_partition, default_nprobe

    vi = index.vectors
    if vi is None or partition == "off":
        return
    if partition == "auto":
        chosen = auto_partition(len(vi) * len(vi.spec.regions), any_size=explicit or nprobe is not None)
        if chosen is None:
            return
        lists, default_probe = chosen
    else:
        lists = int(partition)
        default_probe = default_nprobe(lists)
    try:
        vi.partition(lists, nprobe or default_probe)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--partition") from None


@index_group.command("build")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Index file to write.")
@click.option("--hashes", default="phash", show_default=True, help="Hash families, comma-separated.")
@click.option("--embed/--no-embed", default=True, show_default=True,
              help="Store every item's embeddings (searched by the memorization check; computed once, here).")
@_embedding_options
@_partition_options
@_build_options
@click.option("--force", is_flag=True, help="Replace an existing index file.")
def index_build(sources: tuple[str, ...], out: str, hashes: str, embed: bool, regions: str, embed_size: int,
                partition: str, nprobe: int | None, jobs: int, scheduler: str | None, quiet: bool, force: bool) -> int:
    """Hash SOURCES (folders, image files, fashion-mnist:train|test, IDX files) into a new index,
    and store their embeddings (unless --no-embed). Refuses to replace an existing index without
    --force (`genaudit index add` extends one)."""
    from ..io import refuse_existing
    from ..memorization.index import TrainingIndex

    refuse_existing([out], force)  # before any hashing
    _refuse_idle_nprobe(partition, nprobe, embed)
    index = TrainingIndex(_families_opt(hashes), embedding=_spec(regions, embed_size) if embed else None)
    return _build_and_save(index, sources, out, jobs, scheduler, quiet,
                           lambda r: f"{out}: {len(index)} items ({', '.join(index.families)}; {_vectors_text(index)}),"
                                     f" {len(r.errors)} files refused, {r.seconds:.1f} s on {r.scheduler}",
                           before_save=lambda: _partition(index, partition, nprobe))


@index_group.command("embed")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@_embedding_options
@_build_options
def index_embed(index_file: str, regions: str, embed_size: int, jobs: int, scheduler: str | None, quiet: bool) -> int:
    """Add stored embeddings to an index that has none (built by an older genaudit, or with
    --no-embed): every item is loaded from its source and embedded; the file is rewritten in place
    (atomically). Nothing changes when an item cannot be loaded."""
    from ..memorization.build import NothingToIndexError, embed_index
    from ..memorization.index import IndexFileError, TrainingIndex

    try:
        index = TrainingIndex.load(index_file)
    except IndexFileError as exc:
        raise click.UsageError(str(exc)) from None
    if index.embedding is not None:
        raise click.UsageError(f"{index_file} already stores embeddings ({_vectors_text(index)});"
                               " rebuild it to change them")
    progress = Progress(enabled=not quiet, label="embedding")
    try:
        report = embed_index(index, _spec(regions, embed_size), jobs=jobs, scheduler=scheduler, progress=progress)
    except NothingToIndexError as exc:
        progress.close()  # (idempotent) before the message, so the two do not interleave
        click.echo(f"error: {exc}", err=True)
        return EXIT_FINDINGS
    finally:
        progress.close()
    index.save(index_file)
    click.echo(f"{index_file}: {len(index)} items, {_vectors_text(index)},"
               f" {report.seconds:.1f} s on {report.scheduler}")
    return EXIT_OK


@index_group.command("partition")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@_partition_options
def index_partition(index_file: str, partition: str, nprobe: int | None) -> int:
    """Search an index's stored embeddings in an inverted file (faster on large indexes, approximate),
    change its lists or nprobe, or go back to exhaustive search (--partition off); the file is
    rewritten in place (atomically). auto: about √rows lists, whatever the size."""
    from ..memorization.index import IndexFileError, TrainingIndex

    _refuse_idle_nprobe(partition, nprobe)
    try:
        index = TrainingIndex.load(index_file)
    except IndexFileError as exc:
        raise click.UsageError(str(exc)) from None
    vi = index.vectors
    if vi is None:
        raise click.UsageError(f"{index_file} stores no embeddings (add them with `genaudit index embed`)")
    if partition == "off":
        if vi.partitioned:
            vi.unpartition()
    elif partition != "auto" and vi.partitioned and int(partition) == vi.lists and nprobe is not None:
        vi.set_nprobe(nprobe)  # same cells: only how many a search scans
    else:
        _partition(index, partition, nprobe, explicit=True)
    index.save(index_file)
    click.echo(f"{index_file}: {len(index)} items, {_vectors_text(index)}")
    return EXIT_OK


@index_group.command("add")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("sources", nargs=-1, required=True)
@_build_options
def index_add(index_file: str, sources: tuple[str, ...], jobs: int, scheduler: str | None, quiet: bool) -> int:
    """Add SOURCES to an existing index, written back in place (atomically): the one command that
    updates its output on purpose."""
    from ..memorization.index import TrainingIndex

    index = TrainingIndex.load(index_file)  # new items are embedded as the index's own were (if it stores any)
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
