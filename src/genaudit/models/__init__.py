"""Reference generators bundled with genaudit, and the :class:`Generator` protocol.

genaudit ships its own small generators (trained on Fashion-MNIST; architectures and training
code in ``reference_models/``) so that every detector has something real to audit::

    >>> from genaudit import models
    >>> [m.name for m in models.list_models()]
    ['ddpm-fmnist', 'ddpm-fmnist-memorize', 'gan-fmnist', 'vae-fmnist']
    >>> gen = models.load("gan-fmnist")
    >>> out = gen.sample(4, labels=[0, 1, 2, 3], seed=7)
    >>> out.images.shape, out.labels, out.seed
    ((4, 28, 28), (0, 1, 2, 3), 7)

Checkpoints are verified against the sha256 recorded in ``reference_models/checkpoints/manifest.json``
before they are loaded; a missing or altered file is an error naming the file and the expected hash.
Any callable that returns images satisfies :class:`Generator` for ``genaudit.wrap``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..checkpoints import checkpoint_dir
from ..errors import GenauditError
from ..suggest import did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch


class ModelError(GenauditError):
    """A reference model cannot be found, verified or loaded."""


@dataclass(frozen=True, eq=False)
class SampleOutput:
    """What :meth:`ReferenceGenerator.sample` returns: the images and what made each one.

    ``images[i]`` (uint8, shape (n, H, W)) was generated for class ``labels[i]`` from noise seeded
    by ``(seed, i)``, by ``model`` (checkpoint ``checkpoint_sha256``) with the ``sampler`` settings.
    ``len(out)`` is the number of images and iterating yields the images; everything else is an
    explicit field.

    >>> import numpy as np
    >>> out = SampleOutput(np.zeros((2, 4, 4), np.uint8), labels=(3, 1), seed=7, model="toy")
    >>> len(out), out.labels, [img.shape for img in out]
    (2, (3, 1), [(4, 4), (4, 4)])
    >>> out.file_name(1), out.png_text(1)["genaudit:label"]
    ('toy_seed7_00001_label1.png', '1')
    """

    images: np.ndarray
    labels: tuple[int, ...]
    seed: int
    model: str
    checkpoint_sha256: str = ""
    sampler: Mapping[str, Any] = field(default_factory=dict)
    """The sampler settings used (DDPM: ``steps``, ``guidance``), defaults included."""
    classes: tuple[str, ...] = ()
    """Class names of the model, indexed by label (empty when unknown)."""

    def __post_init__(self) -> None:
        import numpy as np

        if not isinstance(self.images, np.ndarray) or self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError("images must be a uint8 array of shape (n, H, W)")
        object.__setattr__(self, "labels", tuple(int(y) for y in self.labels))
        if len(self.labels) != len(self.images):
            raise ValueError(f"got {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.images)

    def file_name(self, index: int) -> str:
        """``{model}_seed{seed}_{index:05d}_label{label}.png``: the name :meth:`save` writes."""
        return f"{self.model}_seed{self.seed}_{index:05d}_label{self.labels[index]}.png"

    def png_text(self, index: int) -> dict[str, str]:
        """The ``genaudit:*`` PNG text chunks recording how sample ``index`` was made."""
        y = self.labels[index]
        text = {"genaudit:model": self.model, "genaudit:checkpoint_sha256": self.checkpoint_sha256,
                "genaudit:seed": str(self.seed), "genaudit:index": str(index), "genaudit:label": str(y)}
        if 0 <= y < len(self.classes):
            text["genaudit:class"] = self.classes[y]
        text["genaudit:sampler"] = json.dumps(dict(self.sampler), sort_keys=True)
        return text

    def save(self, out_dir: str | os.PathLike[str], *, force: bool = False) -> list[str]:
        """Write every sample as a PNG named by :meth:`file_name` with its :meth:`png_text`
        (atomically); returns the paths. Files already there are refused before anything is
        written (:class:`~genaudit.io.OutputExistsError`) unless ``force``."""
        from ..io import refuse_existing, write_png

        paths = [os.path.join(os.fspath(out_dir), self.file_name(i)) for i in range(len(self.images))]
        refuse_existing(paths, force)
        return [write_png(path, img, self.png_text(i)) for i, (path, img) in enumerate(zip(paths, self.images,
                                                                                          strict=True))]


@runtime_checkable
class Generator(Protocol):
    """Anything that makes images: ``sample(n, labels=None, seed=0)`` returning a
    :class:`SampleOutput`, a uint8 array (n, H, W[, 3]) or a list of images."""

    def sample(self, n: int, labels: Sequence[int] | None = None, seed: int = 0) -> Any: ...


@dataclass(frozen=True)
class ModelInfo:
    """A bundled model as the manifest describes it."""

    name: str
    arch: str
    file: str
    sha256: str
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def is_generator(self) -> bool:
        return self.arch in ("gan", "vae", "ddpm")


def _manifest(directory: str | None = None) -> dict[str, ModelInfo]:
    d = directory or checkpoint_dir()
    path = os.path.join(d, "manifest.json")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ModelError(f"no model manifest at {path}") from None
    except ValueError as exc:
        raise ModelError(f"model manifest {path} is not valid JSON: {exc}") from None
    out = {}
    for name, e in (doc.get("models") or {}).items():
        out[name] = ModelInfo(name=name, arch=e["arch"], file=e["file"], sha256=e["sha256"],
                              config=dict(e.get("config") or {}), meta=dict(e.get("meta") or {}),
                              sampler=dict(e.get("sampler") or {}), description=str(e.get("description", "")))
    return out


def list_models(include_classifiers: bool = False, directory: str | None = None) -> list[ModelInfo]:
    """The bundled generators (and, on request, evaluation classifiers), sorted by name."""
    return [m for _, m in sorted(_manifest(directory).items()) if include_classifiers or m.is_generator]


def model_info(name: str, directory: str | None = None) -> ModelInfo:
    models = _manifest(directory)
    if name not in models:
        known = sorted(models)
        raise ModelError(f"unknown model {name!r}{did_you_mean(name, known)}; known models: {', '.join(known)}")
    return models[name]


def _resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "cpu"):
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA device")
    return device


def _load_module(info: ModelInfo, directory: str | None, device: str) -> tuple[Any, Any, Any]:
    """(arch module, config, nn.Module in eval mode) for a manifest entry, sha256-verified."""
    import importlib

    from reference_models.common import config_from_dict, read_checkpoint

    path = os.path.join(directory or checkpoint_dir(), info.file)
    try:
        tensors, ck = read_checkpoint(path, expected_sha256=info.sha256)
    except (FileNotFoundError, ValueError) as exc:
        raise ModelError(str(exc)) from None
    if ck.arch != info.arch:
        raise ModelError(f"checkpoint {path} holds a {ck.arch!r} model, the manifest says {info.arch!r}")
    module = importlib.import_module(f"reference_models.{info.arch}")
    cfg = config_from_dict(module.Config, ck.config)
    net = module.build(cfg)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ModelError(f"checkpoint {path} does not fit the {info.arch} architecture: {exc}") from None
    return module, cfg, net.to(device).eval()


class ReferenceGenerator:
    """A loaded reference generator. ``sample`` is deterministic for a seed.

    Each sample's noise depends only on (seed, its index), so the same seed gives the same images
    whatever ``batch_size`` is used (up to floating-point differences between batch shapes).
    """

    def __init__(self, info: ModelInfo, directory: str | None = None, device: str | None = None) -> None:
        self.info = info
        self.name = info.name
        self.device = _resolve_device(device)
        self._module, self.config, self.network = _load_module(info, directory, self.device)
        self.classes: list[str] = list(info.meta.get("classes") or [str(i) for i in range(self.n_classes)])

    @property
    def n_classes(self) -> int:
        return int(getattr(self.config, "n_classes", 10))

    @property
    def sha256(self) -> str:
        return self.info.sha256

    def default_labels(self, n: int) -> list[int]:
        """Labels used when none are given: 0, 1, …, n_classes−1, 0, 1, … (balanced)."""
        return [i % self.n_classes for i in range(n)]

    def sample(self, n: int, labels: Sequence[int] | None = None, seed: int = 0, *, batch_size: int = 250,
               progress: Callable[[int, int], None] | None = None, **sampler: Any) -> SampleOutput:
        """``n`` images (uint8 (n, 28, 28) in ``.images``) with their labels, seed and model.
        Without ``labels``, :meth:`default_labels`. ``sampler`` overrides the model's sampler
        settings (DDPM: ``steps``, ``guidance``). ``progress(done, n)`` is called after each batch;
        the images do not depend on ``batch_size``."""
        import numpy as np
        import torch
        from reference_models.common import per_sample_noise, to_uint8

        if n < 0:
            raise ValueError("n must be >= 0")
        ys = list(self.default_labels(n) if labels is None else labels)
        if len(ys) != n:
            raise ValueError(f"got {len(ys)} labels for {n} samples")
        bad = [y for y in ys if not 0 <= int(y) < self.n_classes]
        if bad:
            raise ValueError(f"labels must be in 0..{self.n_classes - 1}; got {bad[:5]}")
        kwargs = {**self.info.sampler, **sampler}
        shape = self._module.noise_shape(self.config)
        out = np.empty((n, self.config.image_size, self.config.image_size), dtype=np.uint8)
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                noise = per_sample_noise(seed, stop - start, shape, offset=start).to(self.device)
                y = torch.tensor(ys[start:stop], dtype=torch.long, device=self.device)
                out[start:stop] = to_uint8(self._module.generate(self.network, noise, y, **kwargs))
                if progress is not None:
                    progress(stop, n)
        return SampleOutput(out, labels=tuple(ys), seed=seed, model=self.name, checkpoint_sha256=self.sha256,
                            sampler=kwargs, classes=tuple(self.classes))

    def __call__(self, n: int, labels: Sequence[int] | None = None, seed: int = 0) -> SampleOutput:
        return self.sample(n, labels=labels, seed=seed)

    def __repr__(self) -> str:
        return f"ReferenceGenerator({self.name!r}, arch={self.info.arch!r}, sha256={self.sha256[:12]}…)"


def load(name: str, *, device: str | None = None, directory: str | None = None) -> ReferenceGenerator:
    """Load a bundled generator by name (see :func:`list_models`)."""
    info = model_info(name, directory)
    if not info.is_generator:
        raise ModelError(f"{name!r} is a {info.arch}, not a generator; use load_classifier()")
    return ReferenceGenerator(info, directory, device)


class FeatureClassifier:
    """The Fashion-MNIST evaluation classifier: logits, predictions and penultimate features."""

    def __init__(self, info: ModelInfo, directory: str | None = None, device: str | None = None) -> None:
        self.info = info
        self.device = _resolve_device(device)
        _, self.config, self.network = _load_module(info, directory, self.device)

    @property
    def feature_dim(self) -> int:
        return int(self.config.feature_dim)

    def _batches(self, images: np.ndarray, batch_size: int = 1000) -> Any:
        import numpy as np
        import torch
        from reference_models.common import to_tensor

        a = np.asarray(images)
        if a.ndim == 4 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 3 or a.dtype != np.uint8:
            raise ValueError(f"expected uint8 images (N, H, W), got {a.dtype} {a.shape}")
        with torch.inference_mode():
            for i in range(0, len(a), batch_size):
                yield to_tensor(a[i:i + batch_size]).to(self.device)

    def features(self, images: np.ndarray) -> np.ndarray:
        import numpy as np

        parts = [self.network.features(x).cpu().numpy() for x in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros((0, self.feature_dim), np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        import numpy as np

        parts = [self.network(x).argmax(1).cpu().numpy() for x in self._batches(images)]
        return np.concatenate(parts) if parts else np.zeros((0,), np.int64)

    def torch_feature_module(self) -> torch.nn.Module:
        """An ``nn.Module`` mapping uint8 images (N, 1, H, W) to features, with ``num_features``
        (the form torchmetrics' FrechetInceptionDistance accepts as ``feature=``)."""
        import torch

        net = self.network
        dim = self.feature_dim

        class _Features(torch.nn.Module):
            num_features = dim

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if x.dtype == torch.uint8:
                    x = x.float() / 127.5 - 1.0
                if x.ndim == 3:
                    x = x.unsqueeze(1)
                return net.features(x)

        return _Features().eval()


def load_classifier(name: str = "classifier-fmnist", *, device: str | None = None,
                    directory: str | None = None) -> FeatureClassifier:
    """Load the bundled evaluation classifier."""
    info = model_info(name, directory)
    if info.arch != "classifier":
        raise ModelError(f"{name!r} is a {info.arch}, not a classifier")
    return FeatureClassifier(info, directory, device)

__all__ = ["FeatureClassifier", "Generator", "ModelError", "ModelInfo", "ReferenceGenerator", "SampleOutput",
           "list_models", "load", "load_classifier", "model_info"]
