"""Zero-shot attribute labels: image embeddings against each group's ensembled prompt embedding.

Probabilities are the softmax of ``logit_scale · cos(image, group)`` over the attribute's groups
(CLIP's own scale); a label whose top probability is below the attribute's ``abstain_below`` is
``-1`` (abstained) and is counted as such, never forced into a group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .attributes import Attribute

ABSTAIN = -1


@dataclass(frozen=True, eq=False)
class Labels:
    """Labels of n images for one attribute."""

    attribute: str
    groups: tuple[str, ...]
    group_index: np.ndarray
    """(n,) int: index into ``groups``, or :data:`ABSTAIN`."""
    probabilities: np.ndarray
    """(n, len(groups)) float32."""

    @property
    def abstained(self) -> np.ndarray:
        return self.group_index == ABSTAIN

    def names(self) -> list[str | None]:
        return [self.groups[i] if i >= 0 else None for i in self.group_index.tolist()]


class ZeroShotLabeler:
    """Labels images for ``attribute`` with ``embedder`` (a :class:`~.clip.ClipEmbedder` or any
    object with ``embed``, ``embed_texts`` and ``logit_scale``)."""

    def __init__(self, embedder: Any, attribute: Attribute, abstain_below: float | None = None) -> None:
        self.embedder = embedder
        self.attribute = attribute
        self.abstain_below = attribute.abstain_below if abstain_below is None else abstain_below
        rows = []
        for g in attribute.groups:
            e = embedder.embed_texts(list(g.prompts)).mean(axis=0)
            rows.append(e / max(float(np.linalg.norm(e)), 1e-12))
        self.group_embeddings = np.stack(rows).astype(np.float32)
        self.scale = float(embedder.logit_scale)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        z = self.scale * (np.asarray(embeddings, np.float32) @ self.group_embeddings.T)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def label_embeddings(self, embeddings: np.ndarray) -> Labels:
        p = self.probabilities(embeddings) if len(embeddings) else np.empty((0, len(self.attribute.groups)),
                                                                               np.float32)
        idx = p.argmax(axis=1) if len(p) else np.empty(0, np.int64)
        top = p.max(axis=1) if len(p) else np.empty(0, np.float32)
        idx = np.where(top >= self.abstain_below, idx, ABSTAIN).astype(np.int64)
        return Labels(self.attribute.name, self.attribute.group_names, idx, p)

    def label(self, images: list[Any]) -> Labels:
        return self.label_embeddings(self.embedder.embed(images))
