"""The memorization verdict rule: which of an image's scored candidates are copies of it.

A candidate is ``(id, hash distance, embedding similarity, aligned correlation)``, with None where
a stage did not score it. The memorization check applies :func:`matching_ids` to every image and
lists matches in :func:`match_order`; the recall and control benchmarks sweep the same function.
"""

from __future__ import annotations

from collections.abc import Sequence

Candidate = tuple[int, int, "float | None", "float | None"]
"""One candidate as the verdict rule sees it: (id, hash distance, similarity, aligned correlation)."""


def matching_ids(cands: Sequence[Candidate], exact_radius: int, similarity: float, margin: float = 0.0,
                 aligned: float = 2.0, support: float = 0.0, aligned_margin: float = 0.0) -> set[int]:
    """The verdict rule on one image's candidates ``(id, hash distance, similarity, aligned)`` (None
    where a stage did not score the candidate). A candidate matches when

    * its hash distance is at most ``exact_radius``, or
    * its aligned correlation is at least ``aligned`` (with ``aligned_margin > 0``: only the best
      aligned candidate, and only when it leads the next one by ``aligned_margin``), or
    * its similarity is at least ``similarity`` and, with ``support > 0``, its aligned correlation
      is at least ``support``; with ``margin > 0`` only the most similar candidate can match this
      way, and only when it leads the next one by ``margin``.

    ``benchmarks/memorization_recall.py`` sweeps this same function.

    >>> sorted(matching_ids([(1, 3, 0.5, None), (2, 20, 0.95, None), (3, 20, 0.94, None)], 4, 0.9))
    [1, 2, 3]
    >>> sorted(matching_ids([(1, 3, 0.5, None), (2, 20, 0.95, None), (3, 20, 0.94, None)], 4, 0.9, margin=0.04))
    [1]
    >>> sorted(matching_ids([(1, 30, 0.5, 0.99), (2, 20, 0.95, 0.90), (3, 20, 0.94, 0.95)], 4, 0.9,
    ...                     aligned=0.98, support=0.93))
    [1, 3]
    """
    sim_leader = _leader([c[2] for c in cands], margin)
    al_leader = _leader([c[3] for c in cands], aligned_margin)
    hits = set()
    for i, hd, sim, al in cands:
        by_sim = (sim is not None and sim >= similarity and (margin <= 0 or sim == sim_leader)
                  and (support <= 0 or (al is not None and al >= support)))
        by_al = al is not None and al >= aligned and (aligned_margin <= 0 or al == al_leader)
        if hd <= exact_radius or by_al or by_sim:
            hits.add(i)
    return hits


def _leader(scores: Sequence[float | None], margin: float) -> float | None:
    """The highest score when it leads the next one by at least ``margin`` (None: no clear leader)."""
    ranked = sorted((s for s in scores if s is not None), reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[0] - ranked[1] < margin):
        return None
    return ranked[0]


def match_order(c: Candidate) -> tuple[float, float, int]:
    """Sort key for matches, best first: aligned correlation, then similarity, then hash distance
    (a stage that did not score a candidate ranks it last on that stage).

    >>> sorted([(1, 3, 0.5, None), (2, 20, 0.95, 0.9), (3, 0, None, None)], key=match_order)
    [(2, 20, 0.95, 0.9), (1, 3, 0.5, None), (3, 0, None, None)]
    """
    return (-(c[3] if c[3] is not None else -2.0), -(c[2] if c[2] is not None else -2.0), c[1])
