"""Rates of findings over a scan, overall and per group, with Wilson 95% intervals: what the
``memorization`` and ``detector`` summaries report (share of images memorized / called generated)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..memorization.stats import wilson_interval
from ..results import CheckResult


def rate(k: int, n: int, count_key: str) -> dict[str, Any]:
    """``{count_key: k, "audited": n, "rate": k / n, "ci95": [lo, hi]}``.

    >>> rate(0, 0, "generated")
    {'generated': 0, 'audited': 0, 'rate': None, 'ci95': [0.0, 1.0]}
    """
    lo, hi = wilson_interval(k, n)
    return {count_key: k, "audited": n, "rate": k / n if n else None, "ci95": [lo, hi]}


def finding_rates(items: Sequence[tuple[str | None, CheckResult]], count_key: str,
                  group_key: str = "generator") -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The share of results that are findings among those that are ``ok`` or ``finding``, overall
    and per ``data[group_key]`` (sorted by group)."""
    groups: dict[str, list[int]] = {}
    for _, r in items:
        if r.status not in ("ok", "finding"):
            continue
        g = groups.setdefault(str(r.data.get(group_key) or "unknown"), [0, 0])
        g[0] += int(r.status == "finding")
        g[1] += 1
    k, n = sum(v[0] for v in groups.values()), sum(v[1] for v in groups.values())
    return rate(k, n, count_key), {g: rate(v[0], v[1], count_key) for g, v in sorted(groups.items())}
