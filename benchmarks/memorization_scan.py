"""Memorization scan speed: ``genaudit scan --checks memorization`` on reference-generator samples
against the full 60,000-image Fashion-MNIST index, before and after stored embeddings, one run.

* **before** — the landed check: a hash-only index (phash + dhash), stage 2 embeds every hash
  candidate at query time. Run from the source tree at ``--before-rev`` (a git revision checked
  out in a temporary worktree, default the last commit before stored embeddings) with the same
  Python environment, so "before" is the code as it was, not today's code with a switch.
* **after** — today's check on an index built by ``genaudit index build`` with stored vectors
  (``--regions``, ``--embed-size``): stage 2 reads the vectors and searches them with faiss.

Both scans are the CLI exactly as a user runs it (``-j`` worker processes, results streamed to
results.jsonl, reports written); images/s is files over the scan's wall time, model loading
included. The two runs' verdicts are compared (how many samples each flags, and how many it
flags alike). The index build time and file size are reported too.

    python benchmarks/memorization_scan.py                       # 1,000 samples (500 GAN + 500 VAE)
    python benchmarks/memorization_scan.py -n 200 --index-after idx.gaidx
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(args: list[str], src: str, timeout: float = 7200) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": src}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "genaudit", *args], capture_output=True, text=True, env=env,
                       timeout=timeout, check=False)
    return time.perf_counter() - t0, r


def samples(out: str, n: int, seed: int) -> int:
    """n class-balanced samples, half from the GAN and half from the VAE, as PNGs."""
    import numpy as np

    from genaudit import models
    from genaudit.io import write_png

    count = 0
    for k, name in enumerate(("gan-fmnist", "vae-fmnist")):
        m = n // 2 + (n % 2 if k == 0 else 0)
        labels = (np.arange(m) % 10).tolist()
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        for i, img in enumerate(models.load(name).sample(m, labels=labels, seed=seed + k).images):
            write_png(os.path.join(folder, f"{i:05d}.png"), img)
            count += 1
    return count


def verdicts(report_dir: str) -> dict[str, str]:
    with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    return {os.path.relpath(f["path"], report_dir): f["checks"]["memorization"]["status"] for f in report["files"]}


def _vector_search(path: str) -> dict[str, Any] | None:
    from genaudit.memorization.index import TrainingIndex

    vi = TrainingIndex.load(path).vectors
    return None if vi is None else vi.describe()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="generator samples [1000]")
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--before-rev", default="1d9fad0", help="git revision of the landed check")
    ap.add_argument("--index-before", help="existing hash-only index of fashion-mnist:train (else built)")
    ap.add_argument("--index-after", help="existing index with stored vectors (else built)")
    ap.add_argument("--regions", default="whole")
    ap.add_argument("--embed-size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/memorization_scan.json")
    args = ap.parse_args()

    src_now = os.path.join(ROOT, "src")
    with tempfile.TemporaryDirectory(prefix="genaudit-memscan-") as tmp:
        before_tree = os.path.join(tmp, "before")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", before_tree, args.before_rev],
                       check=True, capture_output=True)
        try:
            data = os.path.join(tmp, "samples")
            n = samples(data, args.n, args.seed)
            builds: dict[str, Any] = {}
            idx_before = args.index_before or os.path.join(tmp, "before.gaidx")
            if not args.index_before:
                s, r = cli(["index", "build", "fashion-mnist:train", "-o", idx_before, "--hashes", "phash,dhash",
                            "-j", str(args.jobs), "-q"], os.path.join(before_tree, "src"))
                assert r.returncode == 0, r.stderr
                builds["before"] = {"seconds": round(s, 1), "bytes": os.path.getsize(idx_before)}
            idx_after = args.index_after or os.path.join(tmp, "after.gaidx")
            if not args.index_after:
                s, r = cli(["index", "build", "fashion-mnist:train", "-o", idx_after, "--hashes", "phash,dhash",
                            "--regions", args.regions, "--embed-size", str(args.embed_size), "-j", str(args.jobs),
                            "-q"], src_now)
                assert r.returncode == 0, r.stderr
                builds["after"] = {"seconds": round(s, 1), "bytes": os.path.getsize(idx_after)}
            for key, path in (("before", idx_before), ("after", idx_after)):
                builds.setdefault(key, {"given": path, "bytes": os.path.getsize(path)})
            builds["after"]["vector_search"] = _vector_search(idx_after)
            print(f"indexes: {builds}", file=sys.stderr, flush=True)
            runs: dict[str, dict[str, Any]] = {}
            for name, src, idx in (("before (landed)", os.path.join(before_tree, "src"), idx_before),
                                   ("after (stored vectors)", src_now, idx_after)):
                rep = os.path.join(tmp, f"report-{name.split()[0]}")
                s, r = cli(["scan", data, "--checks", "memorization", "--index", idx, "-j", str(args.jobs), "-q",
                            "--report-dir", rep], src)
                assert r.returncode in (0, 1), r.stderr
                v = verdicts(rep)
                runs[name] = {"seconds": round(s, 2), "images_per_s": round(n / s, 2),
                              "findings": sum(x == "finding" for x in v.values()),
                              "errors": sum(x not in ("ok", "finding") for x in v.values()), "verdicts": v}
                print(f"{name}: {n} images in {s:.1f} s = {n / s:.2f} images/s", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", before_tree], check=False,
                           capture_output=True)
    b, a = runs["before (landed)"], runs["after (stored vectors)"]
    agree = sum(b["verdicts"][k] == a["verdicts"].get(k) for k in b["verdicts"])
    print()
    print_table(["run", "images", "seconds", "images/s", "× before", "findings", "errors"],
                [[k, n, r["seconds"], r["images_per_s"], f"{r['images_per_s'] / b['images_per_s']:.1f}",
                  r["findings"], r["errors"]] for k, r in runs.items()])
    print(f"\nverdicts alike: {agree}/{n}; index builds: {builds}")
    write_json(args.json, {"benchmark": "memorization_scan", "n": n, "jobs": args.jobs, "before_rev": args.before_rev,
                           "regions": args.regions, "embed_size": args.embed_size, "builds": builds,
                           "runs": {k: {kk: vv for kk, vv in r.items() if kk != "verdicts"} for k, r in runs.items()},
                           "verdicts_alike": agree, "environment": environment()})


if __name__ == "__main__":
    main()
