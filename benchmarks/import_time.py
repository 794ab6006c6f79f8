"""Start-up cost of genaudit: ``python -c "import genaudit"`` and ``genaudit --help``.

Each command runs in a fresh subprocess, ``--repeats`` times, the commands taking turns (after
``--warmup`` unrecorded runs each, so the files are in the page cache); the table gives the median
wall time, its spread and the part above a bare ``python -c pass`` (the interpreter's own start).
A second pass runs each command with ``PYTHONPROFILEIMPORTTIME=1`` (the ``-X importtime`` report)
for genaudit's own cumulative import time (the figure ``tests/unit/test_import.py`` guards) and
for which heavy libraries each command imports. ``genaudit`` is the console script next to this
Python when there is one, else ``python -m genaudit``; the code measured is whatever ``import
genaudit`` finds (mind ``PYTHONPATH``).

    python benchmarks/import_time.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json

HEAVY = ("numpy", "PIL", "torch", "open_clip", "imwatermark", "c2pa", "pandas", "sklearn", "scipy", "click",
         "rich", "cryptography", "dask")


def commands() -> dict[str, list[str]]:
    script = os.path.join(os.path.dirname(sys.executable), "genaudit")
    cli = [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "genaudit"]
    return {"python -c pass": [sys.executable, "-c", "pass"],
            'python -c "import genaudit"': [sys.executable, "-c", "import genaudit"],
            "genaudit --help": [*cli, "--help"]}


def wall_s(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def importtime(cmd: list[str]) -> tuple[int | None, set[str]]:
    """(genaudit's cumulative import µs or None, top-level modules imported) from one profiled run."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    genaudit_us, modules = None, set()
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        modules.add(name.split(".")[0])
        if name == "genaudit":
            genaudit_us = int(parts[1])
    return genaudit_us, modules


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/results/import_time.json")
    args = ap.parse_args()

    cmds = commands()
    for _ in range(args.warmup):
        for cmd in cmds.values():
            wall_s(cmd)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(args.repeats):
        for name, cmd in cmds.items():
            times[name].append(wall_s(cmd))
    profiles = {name: [importtime(cmd) for _ in range(max(3, args.repeats // 5))] for name, cmd in cmds.items()}

    bare = statistics.median(times["python -c pass"])
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    for name, cmd in cmds.items():
        ts = times[name]
        med = statistics.median(ts)
        own = [us for us, _ in profiles[name] if us is not None]
        heavy = sorted(set().union(*(mods for _, mods in profiles[name])) & set(HEAVY))
        r = {"command": name, "argv": cmd, "runs": len(ts), "median_s": med, "min_s": min(ts), "max_s": max(ts),
             "above_bare_python_s": med - bare,
             "genaudit_cumulative_import_us_median": statistics.median(own) if own else None,
             "heavy_modules_imported": heavy}
        results.append(r)
        rows.append([name, f"{med * 1000:.1f}", f"{min(ts) * 1000:.1f}–{max(ts) * 1000:.1f}",
                     f"{(med - bare) * 1000:+.1f}", f"{statistics.median(own) / 1000:.1f}" if own else "—",
                     ", ".join(heavy) or "none"])
    print_table(["command", "median ms", "min–max ms", "vs python -c pass ms", "genaudit import ms (-X importtime)",
                 "heavy modules imported"], rows)
    write_json(args.json, {"benchmark": "import_time", "environment": environment(), "repeats": args.repeats,
                           "warmup": args.warmup, "results": results})


if __name__ == "__main__":
    main()
