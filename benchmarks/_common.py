"""Helpers shared by the benchmark scripts: environment description and result output."""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    import genaudit

    deps = {}
    for d in ("numpy", "pillow", "imagehash", "torch"):
        try:
            deps[d] = version(d)
        except Exception:  # noqa: BLE001
            continue
    return {"genaudit": genaudit.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "dependencies": deps, "argv": sys.argv}


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


def write_json(path: str, doc: dict[str, Any] | list[Any]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
    print(f"\nwrote {path}")


def clopper_pearson(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a binomial proportion k / n."""
    from scipy.stats import binomtest

    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(conf)
    return float(ci.low), float(ci.high)
