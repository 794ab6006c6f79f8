"""Generator-quality metrics in a classifier's feature space.

* :func:`frechet_distance` — FID in the MNIST-literature sense: the Fréchet distance between
  Gaussians fitted to the evaluation classifier's penultimate features (torchmetrics computes it).
* :func:`precision_recall` — improved precision and recall (Kynkäänniemi et al., 2019): the share of
  generated samples inside the k-NN manifold of real samples, and vice versa.
* :func:`class_accuracy` — how often the classifier agrees with the label a conditional generator
  was asked for, overall and per class.

Each takes uint8 images (N, H, W) and a :class:`~genaudit.models.FeatureClassifier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from . import FeatureClassifier


def frechet_distance(real: np.ndarray, fake: np.ndarray, classifier: FeatureClassifier,
                     batch_size: int = 1000) -> float:
    """Fréchet distance between classifier features of ``real`` and ``fake`` (uint8, (N, H, W))."""
    import numpy as np
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=classifier.torch_feature_module(), normalize=False)
    with torch.inference_mode():
        for images, is_real in ((real, True), (fake, False)):
            for i in range(0, len(images), batch_size):
                fid.update(torch.as_tensor(np.array(images[i:i + batch_size])).unsqueeze(1), real=is_real)
        return float(fid.compute())


def _kth_neighbour_radii(feats: Any, k: int, chunk: int) -> Any:
    import torch

    radii = torch.empty(len(feats), dtype=feats.dtype)
    for i in range(0, len(feats), chunk):
        d = torch.cdist(feats[i:i + chunk], feats)
        radii[i:i + chunk] = d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0
    return radii


def _coverage(queries: Any, refs: Any, radii: Any, chunk: int) -> float:
    import torch

    inside = torch.zeros(len(queries), dtype=torch.bool)
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i:i + chunk], refs)
        inside[i:i + chunk] = (d <= radii[None, :]).any(dim=1)
    return float(inside.float().mean())


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray, k: int = 3,
                     chunk: int = 1000) -> tuple[float, float]:
    """Improved precision and recall with k-NN manifolds (Kynkäänniemi et al. 2019).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(300, 8)).astype(np.float32)
    >>> p, r = precision_recall(a, a.copy())
    >>> (p, r)
    (1.0, 1.0)
    >>> p, r = precision_recall(a, a[:, :] * 0.01)   # collapsed "generator": precise, no recall
    >>> p > 0.9 and r < 0.1
    True
    """
    import torch

    real = torch.as_tensor(real_features, dtype=torch.float32)
    fake = torch.as_tensor(fake_features, dtype=torch.float32)
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"need more than k={k} real and generated samples")
    precision = _coverage(fake, real, _kth_neighbour_radii(real, k, chunk), chunk)
    recall = _coverage(real, fake, _kth_neighbour_radii(fake, k, chunk), chunk)
    return precision, recall


@dataclass(frozen=True)
class ClassAccuracy:
    overall: float
    by_class: dict[int, float]


def class_accuracy(images: np.ndarray, labels: Sequence[int], classifier: FeatureClassifier) -> ClassAccuracy:
    """Share of images the classifier assigns to the label they were generated for."""
    import numpy as np

    y = np.asarray(labels)
    pred = classifier.predict(images)
    by_class = {int(c): float((pred[y == c] == c).mean()) for c in np.unique(y)}
    return ClassAccuracy(overall=float((pred == y).mean()), by_class=by_class)
