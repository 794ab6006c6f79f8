"""Distributed scan: the same scan on a dask.distributed LocalCluster vs the local process pool.

N generated PNGs (the photo-like waves of scan_throughput.py) scanned with the given checks, once
with the local process pool (``--jobs W``) and once on a ``LocalCluster`` of W single-threaded
worker processes (``--dask-scheduler``), alternating, each repeated; the cluster is started before
its timed runs (a real deployment has its workers running already). Both write results.jsonl and
the reports, and the two reports' per-file results must be identical (checked, not assumed).

    python benchmarks/dask_scan.py                  # 10,000 files of 64², 2 workers, metadata,phash
    python benchmarks/dask_scan.py -n 2000 --size 256 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json
from scan_throughput import make_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--checks", default="metadata,phash")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/dask_scan.json")
    args = ap.parse_args()

    from dask.distributed import LocalCluster

    import genaudit

    checks = tuple(args.checks.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "images")
        os.makedirs(src)
        make_images(src, args.n, args.size, args.seed)
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        times: dict[str, list[float]] = {"local process pool": [], "dask LocalCluster": []}
        files: dict[str, list[dict[str, object]]] = {}
        try:
            for r in range(args.repeats):
                for name in times:
                    settings = ({"jobs": args.workers} if name.startswith("local")
                                else {"dask_scheduler": cluster.scheduler_address})
                    out = os.path.join(tmp, f"report-{r}-{name.split()[0]}")
                    t0 = time.perf_counter()
                    report = genaudit.scan(src, checks=checks, batch_size=args.batch_size, report_dir=out,
                                           formats=("json",), **settings)
                    times[name].append(time.perf_counter() - t0)
                    files[name] = [f.to_dict() for f in report.files]
                    print(f"{name}: run {r + 1}, {args.n / times[name][-1]:.0f} files/s", file=sys.stderr, flush=True)
        finally:
            cluster.close()
    identical = files["local process pool"] == files["dask LocalCluster"]
    rows = []
    local_rate = args.n / statistics.median(times["local process pool"])
    for name, ts in times.items():
        rate = args.n / statistics.median(ts)
        rows.append({"runner": name, "workers": args.workers, "seconds_median": statistics.median(ts),
                     "files_per_s": rate, "ratio_to_local": rate / local_rate})
    print(f"\n{args.n} PNGs of {args.size}², checks {','.join(checks)}, batch size {args.batch_size},"
          f" median of {args.repeats}; per-file results identical: {identical}\n")
    print_table(["runner", "workers", "s (median)", "files/s", "× local"],
                [[r["runner"], r["workers"], f"{r['seconds_median']:.1f}", f"{r['files_per_s']:.0f}",
                  f"{r['ratio_to_local']:.2f}"] for r in rows])
    write_json(args.json, {"benchmark": "dask_scan", "n": args.n, "size": args.size, "checks": list(checks),
                           "identical_results": identical, "rows": rows, "environment": environment()})
    if not identical:
        sys.exit("the distributed scan's per-file results differ from the local scan's")


if __name__ == "__main__":
    main()
