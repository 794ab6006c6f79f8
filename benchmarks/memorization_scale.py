"""Hamming search at scale: genaudit's index vs numpy brute force, faiss and imagededup, one run.

Database: N random 64-bit codes with planted near-duplicates (queries that are copies of database
codes with 0–12 bits flipped), plus as many random queries. For radius 4, 8 and 12: build time,
index memory, single-query latency (p50/p99 over --single queries) and batched throughput over all
queries, for

* numpy brute force (``bitwise_count`` of XOR over the whole database, chunked),
* faiss ``IndexBinaryFlat`` (exhaustive, SIMD popcount) and ``IndexBinaryMultiHash`` (3 × 21 bits,
  ``nflip = r // 3`` so that it is exact, as in the issue's reference measurement),
* genaudit ``HammingIndex`` (multi-index hashing, vectorised batches),
* imagededup's BK-tree search, when installed, on the largest sample that finishes in the time
  budget, extrapolated linearly in N (it is at least linear per query).

Every method's answers are compared with brute force (recall must be 1.0). Speed-ups are ratios
over numpy brute force in the same run.

    python benchmarks/memorization_scale.py                     # 1M and 10M codes
    python benchmarks/memorization_scale.py --sizes 100000 --queries 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json
from genaudit.memorization.index import HammingIndex

RADII = (4, 8, 12)


def make_data(n: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    planted = n_queries // 2
    src = rng.choice(n, planted, replace=False)
    q = codes[src].copy()
    for i in range(planted):
        for b in rng.choice(64, int(rng.integers(0, 13)), replace=False):
            q[i] ^= np.uint64(1) << np.uint64(b)
    q = np.concatenate([q, rng.integers(0, 2**64, n_queries - planted, dtype=np.uint64, endpoint=False)])
    return codes, q


def brute_batch(codes: np.ndarray, q: np.ndarray, r: int) -> list[set[int]]:
    out = []
    step = max(1, 16_000_000 // len(codes))
    for a in range(0, len(q), step):
        d = np.bitwise_count(q[a:a + step, None] ^ codes[None, :])
        for row in d:
            out.append(set(np.flatnonzero(row <= r).tolist()))
    return out


def as_bytes(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes).view(np.uint8).reshape(-1, 8)


def faiss_range(index: Any, qb: np.ndarray, r: int) -> list[set[int]]:
    lims, _, ids = index.range_search(qb, r + 1)  # faiss keeps distances < radius
    return [set(ids[lims[i]:lims[i + 1]].tolist()) for i in range(len(qb))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_size(n: int, n_queries: int, n_single: int, seed: int, bk_budget: float) -> list[dict[str, Any]]:
    import faiss

    faiss.omp_set_num_threads(1)
    codes, q = make_data(n, n_queries, seed)
    rows: list[dict[str, Any]] = []
    truth = {r: brute_batch(codes, q, r) for r in RADII}

    t_build_g, gidx = timed(lambda: HammingIndex(codes))
    mem_g = codes.nbytes + sum(t.order.nbytes + t.offsets.nbytes for t in gidx._tables)
    t_build_f, fflat = timed(lambda: _faiss_flat(codes))
    t_build_m, fmh = timed(lambda: _faiss_mh(codes))
    mem_m = len(faiss.serialize_index_binary(fmh))

    for r in RADII:
        def run_numpy(qs: np.ndarray, r: int = r) -> list[set[int]]:
            return brute_batch(codes, qs, r)

        def run_flat(qs: np.ndarray, r: int = r) -> list[set[int]]:
            return faiss_range(fflat, as_bytes(qs), r)

        def run_mh(qs: np.ndarray, r: int = r) -> list[set[int]]:
            fmh.nflip = r // 3
            return faiss_range(fmh, as_bytes(qs), r)

        def run_genaudit(qs: np.ndarray, r: int = r) -> list[set[int]]:
            return [set(ids.tolist()) for ids, _ in gidx.radius_search_batch(qs, r)]

        methods = [("numpy brute force", run_numpy, 0.0, codes.nbytes),
                   ("faiss IndexBinaryFlat", run_flat, t_build_f, codes.nbytes),
                   ("faiss IndexBinaryMultiHash 3x21", run_mh, t_build_m, mem_m),
                   ("genaudit HammingIndex", run_genaudit, t_build_g, mem_g)]
        base_single = base_batch = None
        for name, fn, build_s, mem in methods:
            lat = []
            for i in range(min(n_single, len(q))):
                t0 = time.perf_counter()
                fn(q[i:i + 1])
                lat.append(time.perf_counter() - t0)
            t_batch, res = timed(lambda fn=fn: fn(q))
            recall_num = sum(len(a & b) for a, b in zip(res, truth[r], strict=True))
            recall_den = sum(len(b) for b in truth[r])
            exact = all(a == b for a, b in zip(res, truth[r], strict=True))
            p50 = float(np.percentile(lat, 50)) * 1e3
            row = {"n": n, "radius": r, "method": name, "build_s": build_s, "memory_mb": mem / 2**20,
                   "single_p50_ms": p50, "single_p99_ms": float(np.percentile(lat, 99)) * 1e3,
                   "batch_us_per_query": t_batch / len(q) * 1e6,
                   "recall": recall_num / recall_den if recall_den else 1.0, "exact": exact,
                   "matches": recall_den}
            if name == "numpy brute force":
                base_single, base_batch = p50, row["batch_us_per_query"]
            row["speedup_single_vs_numpy"] = (base_single or p50) / p50
            row["speedup_batch_vs_numpy"] = (base_batch or row["batch_us_per_query"]) / row["batch_us_per_query"]
            rows.append(row)
            print(f"N={n:,} r={r} {name}: p50 {p50:.3f} ms, batch {row['batch_us_per_query']:.1f} µs/q, "
                  f"recall {row['recall']:.4f}", file=sys.stderr, flush=True)
    rows.extend(bench_bktree(codes, q, bk_budget, n))
    return rows


def _faiss_flat(codes: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexBinaryFlat(64)
    index.add(as_bytes(codes))
    return index


def _faiss_mh(codes: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexBinaryMultiHash(64, 3, 21)
    index.add(as_bytes(codes))
    return index


def bench_bktree(codes: np.ndarray, q: np.ndarray, budget: float, n_full: int) -> list[dict[str, Any]]:
    """imagededup's BK-tree (radius 8), on growing samples until one exceeds the budget."""
    try:
        from imagededup.handlers.search.bktree import BKTree
    except ImportError:
        print("imagededup is not installed: BK-tree baseline skipped", file=sys.stderr)
        return [{"n": n_full, "radius": 8, "method": "imagededup BK-tree", "skipped": "imagededup not installed"}]
    from imagededup.methods.hashing import Hashing

    dist = Hashing.hamming_distance
    rows = []
    m = 1000
    while m <= len(codes):
        hashes = {str(i): f"{int(c):016x}" for i, c in enumerate(codes[:m])}
        t_build, tree = timed(lambda hashes=hashes: BKTree(hashes, dist))
        queries = [f"{int(c):016x}" for c in q[:20]]
        t_q, _ = timed(lambda tree=tree, queries=queries: [tree.search(x, tol=8) for x in queries])
        per_q = t_q / len(queries)
        rows.append({"n": m, "radius": 8, "method": "imagededup BK-tree", "build_s": t_build,
                     "single_p50_ms": per_q * 1e3, "extrapolated_to_n": n_full,
                     "extrapolated_single_ms": per_q * 1e3 * n_full / m,
                     "extrapolated_build_s": t_build * n_full / m})
        print(f"BK-tree n={m:,}: build {t_build:.1f} s, {per_q * 1e3:.1f} ms/query", file=sys.stderr, flush=True)
        if t_build + t_q * 50 > budget:
            break
        m *= 4
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--queries", type=int, default=1000, help="queries for the batched runs [1000]")
    ap.add_argument("--single", type=int, default=100, help="queries timed one at a time [100]")
    ap.add_argument("--bk-budget", type=float, default=600, help="seconds for the BK-tree baseline [600]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/memorization_scale.json")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.extend(bench_size(n, args.queries, args.single, args.seed, args.bk_budget))
    main_rows = [r for r in rows if "batch_us_per_query" in r]
    print()
    print_table(["N", "radius", "method", "build s", "memory MB", "p50 ms", "p99 ms", "batch µs/query",
                 "× numpy (single)", "× numpy (batch)", "recall", "exact"],
                [[f"{r['n']:,}", r["radius"], r["method"], f"{r['build_s']:.2f}", f"{r['memory_mb']:.0f}",
                  f"{r['single_p50_ms']:.3f}", f"{r['single_p99_ms']:.3f}", f"{r['batch_us_per_query']:.1f}",
                  f"{r['speedup_single_vs_numpy']:.1f}", f"{r['speedup_batch_vs_numpy']:.1f}",
                  f"{r['recall']:.4f}", r["exact"]] for r in main_rows])
    bk = [r for r in rows if r["method"] == "imagededup BK-tree" and "skipped" not in r]
    if bk:
        print("\nimagededup BK-tree, radius 8 (measured on the sample, extrapolated linearly to N)\n")
        print_table(["sample", "build s", "ms/query", "N", "extrapolated ms/query", "extrapolated build s"],
                    [[f"{r['n']:,}", f"{r['build_s']:.1f}", f"{r['single_p50_ms']:.1f}",
                      f"{r['extrapolated_to_n']:,}", f"{r['extrapolated_single_ms']:.0f}",
                      f"{r['extrapolated_build_s']:.0f}"] for r in bk])
    g = {(r["n"], r["radius"]): r for r in main_rows if r["method"].startswith("genaudit")}
    sizes = sorted({r["n"] for r in main_rows})
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        print(f"\ngenaudit query time growth from {a:,} to {b:,} codes ({b / a:.0f}× more):")
        for r in RADII:
            if (a, r) in g and (b, r) in g:
                print(f"  radius {r}: ×{g[(b, r)]['batch_us_per_query'] / g[(a, r)]['batch_us_per_query']:.2f}"
                      " (batched)")
    write_json(args.json, {"benchmark": "memorization_scale", "rows": rows, "environment": environment()})


if __name__ == "__main__":
    main()
