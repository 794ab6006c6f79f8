"""Stored embeddings at a million items: exhaustive search vs the inverted file, one run.

The memorization check's stage 2 searches the index's stored vectors with the image's embedding
and its mirror image's. This benchmark builds a real genaudit index file of ``--n`` items
(``TrainingIndex`` with phash + dhash codes, sources and float16 vectors, written and read back
with ``save``/``load``) and measures, for exhaustive search and for the inverted file
(``VectorIndex.partition``) at several ``nprobe``:

* partitioning time (k-means on 64 rows per cell, then every row moved), bytes on disk, load time;
* latency of one query (an image and its mirror: 2 vectors, k = 10) p50/p99, and batched per query;
* recall against exhaustive search: the share of the exact top-10 items that the inverted file
  returns, and **copy recall** — for near-copies of stored rows, the share whose source item is in
  the returned top 10 (what the check needs: the copied item must reach registration).

Vectors. Embedding a million images is the dominant build cost (measured on 2 Dask workers by
``memorization_scan.py``'s 60k build and extrapolated here, ``--embed-rate``); the million rows
themselves are made from the **real** stored vectors of ``--base`` (an index built with stored
vectors, e.g. ``genaudit index build fashion-mnist:train --regions whole --embed-size 112``): the
first rows are the base vectors, every further row is a base vector moved towards another random
base vector (weight U(0, 0.3)) plus Gaussian noise (σ = 0.005 per dimension) and re-normalised —
so the rows cluster as the real set does. Hash codes are random (the hash stage is measured in
``memorization_scale.py``).

Queries: embeddings of reference-generator samples at the base index's input size (the check's
real queries) — GAN samples choose ``nprobe`` (smallest with top-10 recall ≥ ``--target``), VAE
samples report it — and near-copies of stored rows (row + noise with cosine ≈ 0.9 to it).

    python benchmarks/memorization_vectors_scale.py --base fm112.gaidx              # 1M items
    python benchmarks/memorization_vectors_scale.py --base fm112.gaidx --n 200000 --queries 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json


def synthesise(base: np.ndarray, n: int, rng: np.random.Generator, batch: int = 50_000) -> Any:
    """Rows in batches: the base vectors, then base vectors mixed with others plus noise."""
    nb, d = base.shape
    for a in range(0, n, batch):
        idx = np.arange(a, min(n, a + batch))
        out = base[idx % nb].astype(np.float32)
        extra = idx >= nb
        m = int(extra.sum())
        if m:
            other = base[rng.integers(0, nb, size=m)]
            w = rng.uniform(0.0, 0.3, size=(m, 1)).astype(np.float32)
            out[extra] = out[extra] + w * (other - out[extra]) + rng.normal(0, 0.005, size=(m, d)).astype(np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        yield out


def query_embeddings(size: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """Embeddings (image and mirror, interleaved) of n GAN and n VAE samples, at ``size`` px."""
    from PIL import Image

    from genaudit import models
    from genaudit.features.embedding import ImageEmbedder

    emb = ImageEmbedder(input_size=size)
    out = {}
    for k, name in enumerate(("gan-fmnist", "vae-fmnist")):
        imgs = models.load(name).sample(n, labels=(np.arange(n) % 10).tolist(), seed=seed + k).images
        pils = [Image.fromarray(np.asarray(i)) for i in imgs]
        both = [p for im in pils for p in (im, im.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
        out[name] = emb.embed(both).astype(np.float32)
    return out


def latency(vi: Any, q: np.ndarray, k: int) -> dict[str, float]:
    """One query = its 2 vectors (image, mirror); p50/p99 over the queries, and batched µs/query."""
    times = []
    for i in range(0, len(q), 2):
        t = time.perf_counter()
        vi.search(q[i:i + 2], k)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    vi.search(q, k)
    batch = (time.perf_counter() - t) / (len(q) / 2)
    return {"p50_ms": 1e3 * float(np.percentile(times, 50)), "p99_ms": 1e3 * float(np.percentile(times, 99)),
            "batch_ms_per_query": 1e3 * batch}


def round_trip(index: Any, path: str) -> tuple[float, int, float]:
    """Save ``index`` to ``path`` and read it back: (save seconds, bytes, load seconds); the file
    is removed afterwards (two copies of a 1M-item index would not both fit a small disk)."""
    from genaudit.memorization.index import TrainingIndex

    t = time.perf_counter()
    index.save(path)
    save_s = time.perf_counter() - t
    size = os.path.getsize(path)
    t = time.perf_counter()
    TrainingIndex.load(path)
    load_s = time.perf_counter() - t
    os.remove(path)
    return save_s, size, load_s


def topk_recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / max(1, int((truth >= 0).sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="index with stored vectors (real embeddings)")
    ap.add_argument("--n", type=int, default=1_000_000, help="items [1,000,000]")
    ap.add_argument("--queries", type=int, default=200, help="generator samples per generator [200]")
    ap.add_argument("--copies", type=int, default=400, help="near-copies of stored rows [400]")
    ap.add_argument("--nprobe", default="8,16,32,64,128")
    ap.add_argument("--lists", type=int, default=0, help="cells (default: genaudit's auto rule for --n rows)")
    ap.add_argument("--target", type=float, default=0.95, help="top-10 recall that chooses nprobe on GAN queries")
    ap.add_argument("--embed-rate", type=float, default=0.0,
                    help="measured items/s of the index build with embeddings on 2 Dask workers (extrapolated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/memorization_vectors_scale.json")
    args = ap.parse_args()

    import faiss

    from genaudit.memorization.index import TrainingIndex
    from genaudit.memorization.vectors import VectorIndex, auto_partition

    faiss.omp_set_num_threads(min(2, os.cpu_count() or 1))
    rng = np.random.default_rng(args.seed)
    base_index = TrainingIndex.load(args.base)
    assert base_index.vectors is not None, f"{args.base} stores no vectors"
    spec = base_index.vectors.spec
    assert spec.regions == ("whole",), "use a base index built with --regions whole"
    base = base_index.vectors.vectors(np.arange(len(base_index)))[:, 0]
    print(f"base: {len(base)} real vectors from {args.base} ({spec.model}, {spec.input_size} px)", file=sys.stderr)

    index = TrainingIndex(("phash", "dhash"), embedding=spec)
    t0 = time.perf_counter()
    done = 0
    for rows in synthesise(base, args.n, rng):
        m = len(rows)
        codes = {f: rng.integers(0, 2**63, size=m, dtype=np.int64).astype(np.uint64) for f in index.families}
        index.add(codes, [f"synthetic:{i}" for i in range(done, done + m)], rows[:, None, :])
        done += m
    assemble_s = time.perf_counter() - t0
    print(f"{args.n} items assembled in {assemble_s:.1f} s", file=sys.stderr, flush=True)
    assert index.vectors is not None
    exact: VectorIndex = index.vectors

    queries = query_embeddings(spec.input_size, args.queries, args.seed)
    picks = rng.choice(args.n, size=args.copies, replace=False)
    src = exact.vectors(picks)[:, 0]
    noise = rng.normal(size=src.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    copies = 0.9 * src + np.sqrt(1 - 0.9**2) * noise  # cosine 0.9 to its source row
    copies = np.repeat(copies, 2, axis=0)  # (as image + mirror pairs, for the latency loop)

    chosen_cells = auto_partition(args.n, any_size=True)
    assert chosen_cells is not None
    lists, auto_probe = chosen_cells
    lists = args.lists or lists
    k = 10
    truth = {name: exact.search(q, k)[0] for name, q in queries.items()}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="genaudit-vscale-") as tmp:
        save_s, size, load_s = round_trip(index, os.path.join(tmp, "exact.gaidx"))
        lat = latency(exact, queries["vae-fmnist"], k)
        rows.append({"search": "exhaustive", "lists": 0, "nprobe": 0, "partition_s": 0.0, "bytes": size,
                     "save_s": save_s, "load_s": load_s, **lat, "recall10_gan": 1.0, "recall10_vae": 1.0,
                     "copy_recall10": float(np.mean([picks[i] in row for i, row in
                                                     enumerate(exact.search(copies[::2], k)[0])]))})
        print(rows[-1], file=sys.stderr, flush=True)
        t = time.perf_counter()
        exact.partition(lists, auto_probe, seed=args.seed)
        partition_s = time.perf_counter() - t
        print(f"partitioned into {lists} lists in {partition_s:.1f} s", file=sys.stderr, flush=True)
        save_s, size, load_s = round_trip(index, os.path.join(tmp, "ivf.gaidx"))
        for nprobe in sorted({int(x) for x in args.nprobe.split(",")} | {auto_probe}):
            exact.set_nprobe(nprobe)
            found = {name: exact.search(q, k)[0] for name, q in queries.items()}
            copy_found = exact.search(copies[::2], k)[0]
            rows.append({"search": "ivf", "lists": lists, "nprobe": nprobe, "partition_s": partition_s, "bytes": size,
                         "save_s": save_s, "load_s": load_s, **latency(exact, queries["vae-fmnist"], k),
                         "recall10_gan": topk_recall(found["gan-fmnist"], truth["gan-fmnist"]),
                         "recall10_vae": topk_recall(found["vae-fmnist"], truth["vae-fmnist"]),
                         "copy_recall10": float(np.mean([picks[i] in copy_found[i] for i in range(len(picks))]))})
            print(rows[-1], file=sys.stderr, flush=True)

    ivf = [r for r in rows if r["search"] == "ivf"]
    ok = [r for r in ivf if r["recall10_gan"] >= args.target]
    chosen = min(ok, key=lambda r: r["nprobe"]) if ok else max(ivf, key=lambda r: r["nprobe"])
    print()
    print_table(["search", "lists", "nprobe", "partition s", "MB on disk", "load s", "p50 ms", "p99 ms",
                 "batch ms/query", "top-10 recall GAN (tune)", "top-10 recall VAE (report)", "copy recall@10"],
                [[r["search"], r["lists"], r["nprobe"], f"{r['partition_s']:.1f}", f"{r['bytes'] / 1e6:.0f}",
                  f"{r['load_s']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['batch_ms_per_query']:.3f}",
                  f"{r['recall10_gan']:.3f}", f"{r['recall10_vae']:.3f}", f"{r['copy_recall10']:.3f}"] for r in rows])
    print(f"\nnprobe chosen on GAN queries (top-10 recall ≥ {args.target}): {chosen['nprobe']} → VAE (held out) "
          f"{chosen['recall10_vae']:.3f}, copies {chosen['copy_recall10']:.3f}; bytes per item "
          f"{rows[-1]['bytes'] / args.n:.0f} (vectors {2 * spec.dim}); genaudit's default nprobe for {args.n:,} rows: "
          f"{auto_probe}")
    build = None
    if args.embed_rate:
        build = {"embed_items_per_s": args.embed_rate, "embed_hours_extrapolated": args.n / args.embed_rate / 3600,
                 "partition_s": partition_s}
        print(f"build on 2 workers: embedding {args.n:,} items at {args.embed_rate:.0f} items/s ≈ "
              f"{build['embed_hours_extrapolated']:.1f} h (extrapolated) + partition {partition_s:.0f} s (measured)")
    write_json(args.json, {"benchmark": "memorization_vectors_scale", "n": args.n, "dim": spec.dim,
                           "input_size": spec.input_size, "assemble_s": assemble_s, "rows": rows,
                           "chosen": chosen, "build": build, "environment": environment()})


if __name__ == "__main__":
    main()
