"""Build a training-set hash index from folders and Fashion-MNIST IDX files, locally or on Dask.

Sources (``SRC`` on the command line):

* a folder or image file — walked with :func:`genaudit.io.iter_inputs`; each image is decoded by
  genaudit's loader (content sniffing, pixel limits), so the index hashes exactly what a scan hashes;
  files that cannot be read are listed in :attr:`BuildReport.errors` with their error code;
* ``fashion-mnist:train`` / ``fashion-mnist:test`` — the Debian package's IDX files; ids map to
  ``fashion-mnist:train:<index>``;
* a path to an IDX image file (``*-images-idx3-ubyte[.gz]``) — ids map to ``<path>:<index>``.

The work is cut into chunks (a list of paths, or an index range of an IDX file); each chunk is
hashed by :func:`hash_chunk`, the same function whether it runs in this process, on the embedded
local Dask cluster (the default for more than one job) or on an existing cluster
(``scheduler="tcp://host:8786"``). Chunks are reassembled in source order, so the index is the
same however it was computed.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GenauditError
from ..features.hashing import FAMILIES, hash_images
from .index import TrainingIndex
from .sources import is_idx_source, resolve_idx
from .vectors import EmbeddingSpec


class NothingToIndexError(GenauditError):
    """The sources held no image that could be indexed (an empty folder, or every file refused)."""


@dataclass(frozen=True)
class Chunk:
    """One unit of work: ``paths`` of image files, or rows ``start:stop`` of an IDX image file."""

    paths: tuple[str, ...] = ()
    idx_file: str | None = None
    idx_name: str | None = None
    start: int = 0
    stop: int = 0


@dataclass(frozen=True)
class ChunkResult:
    codes: dict[str, np.ndarray]
    sources: list[str]
    errors: list[tuple[str, str, str]]  # (path, code, message)
    vectors: np.ndarray | None = None  # (n, regions, dim) when the index stores embeddings


@dataclass
class BuildReport:
    """What a build did: items added, files refused (path, error code, message), files in source
    folders left out because they are not images (``README.md``, ``.json``), time taken."""

    added: int = 0
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0
    scheduler: str = "local"

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "seconds": round(self.seconds, 3), "scheduler": self.scheduler,
                "ignored": len(self.ignored),
                "errors": [{"path": p, "code": c, "message": m} for p, c, m in self.errors]}


def plan_chunks(sources: Sequence[str], chunk_size: int = 2048, ignored: list[str] | None = None) -> Iterator[Chunk]:
    """Cut the sources into chunks, in a stable order (folders sorted, IDX rows in order); files in
    folders that are not images go to ``ignored`` (see :func:`genaudit.io.iter_inputs`)."""
    from ..datasets import read_idx
    from ..io import iter_inputs

    for spec in sources:
        if is_idx_source(spec):
            path, name = resolve_idx(spec)
            n = len(read_idx(path))
            for a in range(0, n, chunk_size):
                yield Chunk(idx_file=path, idx_name=name, start=a, stop=min(n, a + chunk_size))
            continue
        if not os.path.exists(spec) and not os.path.islink(spec):
            raise FileNotFoundError(f"{spec}: no such file, folder or fashion-mnist:SPLIT source")
        batch: list[str] = []
        for item in iter_inputs([spec], ignored=ignored):
            batch.append(item.path)
            if len(batch) == chunk_size:
                yield Chunk(paths=tuple(batch))
                batch = []
        if batch:
            yield Chunk(paths=tuple(batch))


_IDX_CACHE: dict[str, np.ndarray] = {}
_EMBEDDERS: dict[tuple[str, int], Any] = {}


def embedder_for(spec: EmbeddingSpec) -> Any:
    """This process's embedder for ``spec`` (made once), after checking that its weights are the
    ones the spec names: vectors made by other weights would not be comparable."""
    from ..features.embedding import ImageEmbedder

    key = (spec.sha256, spec.input_size)
    emb = _EMBEDDERS.get(key)
    if emb is None:
        emb = ImageEmbedder(input_size=spec.input_size)
        if emb.sha256 != spec.sha256:
            raise EmbeddingMismatchError(
                f"the index's embeddings were made with weights sha256 {spec.sha256[:12]}…, this installation's"
                f" {spec.model} weights are {emb.sha256[:12]}… (rebuild the index with `genaudit index build`)")
        _EMBEDDERS[key] = emb
    return emb


class EmbeddingMismatchError(GenauditError):
    """The installed embedding weights are not the ones an index's vectors were made with."""


def hash_chunk(chunk: Chunk, families: Sequence[str] = ("phash",), embedding: EmbeddingSpec | None = None
               ) -> ChunkResult:
    """Hash one chunk, and embed it when ``embedding`` is given (the per-image work, identical
    locally and on Dask workers)."""
    from ..errors import ImageLoadError
    from ..io import open_image

    if chunk.idx_file is not None:
        from ..datasets import read_idx

        arr = _IDX_CACHE.get(chunk.idx_file)
        if arr is None:
            arr = _IDX_CACHE[chunk.idx_file] = read_idx(chunk.idx_file)
        images: list[Any] = list(arr[chunk.start:chunk.stop])
        names = [f"{chunk.idx_name}:{i}" for i in range(chunk.start, chunk.stop)]
        errors: list[tuple[str, str, str]] = []
    else:
        images, names, errors = [], [], []
        for path in chunk.paths:
            try:
                images.append(open_image(path).pil)
                names.append(path)
            except ImageLoadError as exc:
                errors.append((path, exc.code, exc.message))
    codes = {f: hash_images(images, f) for f in families}
    vectors = None
    if embedding is not None:
        from .vectors import embed_items

        vectors = embed_items(embedder_for(embedding), images, embedding.regions).astype(np.float16)
    return ChunkResult(codes, names, errors, vectors)


def embed_sources(sources: Sequence[str], embedding: EmbeddingSpec) -> ChunkResult:
    """Embed items of an existing index by their source strings (``genaudit index embed``); an item
    that cannot be loaded is an error of its chunk (its source, code, message)."""
    from .sources import SourceImages
    from .vectors import embed_items

    loader = SourceImages(size=0)
    images, names, errors = [], [], []
    for src in sources:
        try:
            images.append(loader.get(src))
            names.append(src)
        except Exception as exc:  # noqa: BLE001 - reported per item, never raised
            errors.append((src, getattr(exc, "code", "unreadable"), str(exc)))
    vectors = embed_items(embedder_for(embedding), images, embedding.regions).astype(np.float16)
    return ChunkResult({}, names, errors, vectors)


def _where(scheduler: str | None, jobs: int, n_chunks: int) -> str:
    """Where :func:`_run` runs the chunks: ``local`` (this process), the scheduler's address, or
    ``dask-local:N`` (an embedded cluster of N processes)."""
    if scheduler:
        return scheduler
    return "local" if jobs <= 1 or n_chunks <= 1 else f"dask-local:{jobs}"


def _run(work: Callable[[Any], ChunkResult], chunks: Sequence[Any], scheduler: str | None, jobs: int,
         progress: Callable[[int], None] | None) -> Iterator[ChunkResult]:
    """``work`` over ``chunks``, results in chunk order: in this process, or on Dask (an existing
    scheduler, or an embedded local cluster of ``jobs`` processes) when there is more than one."""
    if not scheduler and _where(scheduler, jobs, len(chunks)) == "local":
        for c in chunks:
            r = work(c)
            if progress:
                progress(len(r.sources) + len(r.errors))
            yield r
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=40)
        client = Client(cluster)
    try:
        futures = client.map(work, list(chunks), pure=False)
        position = {f.key: i for i, f in enumerate(futures)}
        done: dict[int, ChunkResult] = {}
        nxt = 0
        for fut in as_completed(futures):
            r = fut.result()
            done[position[fut.key]] = r
            if progress:
                progress(len(r.sources) + len(r.errors))
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def chunk_items(chunk: Chunk) -> int:
    return len(chunk.paths) if chunk.idx_file is None else chunk.stop - chunk.start


def embed_index(index: TrainingIndex, embedding: EmbeddingSpec, *, jobs: int = 0, scheduler: str | None = None,
                chunk_size: int = 256, progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Add stored vectors to an index that has none (an older index, or one built with ``--no-embed``):
    every item is loaded from its source and embedded. All or nothing: when any item cannot be
    loaded, the index is left unchanged and :class:`NothingToIndexError` names them."""
    from .vectors import VectorIndex

    if index.vectors is not None:
        raise ValueError("the index already stores embeddings (rebuild it to change how they are made)")
    embedder_for(embedding)
    t0 = time.perf_counter()
    chunks = [tuple(index.sources[a:a + chunk_size]) for a in range(0, len(index), chunk_size)]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(index))

    jobs = jobs or (os.cpu_count() or 1)
    vectors = VectorIndex(embedding)
    report = BuildReport(scheduler=_where(scheduler, jobs, len(chunks)))
    work = functools.partial(embed_sources, embedding=embedding)
    for r in _run(work, chunks, scheduler, jobs, advance):
        report.errors.extend(r.errors)
        if not report.errors and r.vectors is not None:
            vectors.add(r.vectors)
    if report.errors:
        n = len(report.errors)
        raise NothingToIndexError(f"{n} training item{'s' * (n != 1)} could not be loaded, so the index was left"
                                  f" without embeddings (first: {': '.join(report.errors[0])}); restore the"
                                  " training data or rebuild the index")
    index.vectors = vectors
    report.added = len(index)
    report.seconds = time.perf_counter() - t0
    return report


def build_index(sources: Sequence[str], *, families: Sequence[str] = ("phash",), index: TrainingIndex | None = None,
                jobs: int = 0, scheduler: str | None = None, chunk_size: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> tuple[TrainingIndex, BuildReport]:
    """Hash every image of ``sources`` into ``index`` (a new one by default), and embed them when
    the index stores embeddings (``TrainingIndex(families, embedding=spec)``).

    ``progress(done, total)`` is called as chunks finish.
    ``jobs``: worker processes of the embedded Dask cluster (0 = one per core; 1 = in this process).
    ``chunk_size``: items per unit of work (default 2,048; 256 when embedding).
    ``scheduler``: address of an existing Dask scheduler (overrides ``jobs``).
    Sources without a single indexable image raise :class:`NothingToIndexError` (``index`` unchanged).
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown hash families {unknown}; choose from {', '.join(FAMILIES)}")
    index = index if index is not None else TrainingIndex(tuple(families))
    if tuple(families) != index.families:
        families = index.families
    t0 = time.perf_counter()
    ignored: list[str] = []
    # hashing is fast, embedding is not: smaller chunks when embedding keep the progress moving
    chunk_size = chunk_size or (256 if index.embedding is not None else 2048)
    chunks = list(plan_chunks(sources, chunk_size, ignored))
    total = sum(chunk_items(c) for c in chunks)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    jobs = jobs or (os.cpu_count() or 1)
    report = BuildReport(scheduler=_where(scheduler, jobs, len(chunks)), ignored=ignored)
    embedding = index.embedding
    if embedding is not None:
        embedder_for(embedding)  # a weights mismatch is a configuration error before any work
    work = functools.partial(hash_chunk, families=tuple(families), embedding=embedding)
    for r in _run(work, chunks, scheduler, jobs, advance):
        if r.sources:
            index.add(r.codes, r.sources, r.vectors)
        report.added += len(r.sources)
        report.errors.extend(r.errors)
    if not report.added:  # nothing was added, so ``index`` is as it was
        msg = f"no training images in {', '.join(sources)}"
        if ignored:
            msg += f" ({len(ignored)} file{'s' * (len(ignored) != 1)} ignored: not images)"
        if report.errors:
            n = len(report.errors)
            msg += f": {'all ' * (n > 1)}{n} image file{'s' * (n != 1)} refused (first: {': '.join(report.errors[0])})"
        raise NothingToIndexError(msg)
    report.seconds = time.perf_counter() - t0
    return index, report
