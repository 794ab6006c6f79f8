"""CLIP image and text embeddings on open_clip, from a local checkpoint only (nothing is downloaded).

:class:`ClipEmbedder` builds any open_clip architecture by name (``open_clip.list_models()`` plus the
configs shipped in :file:`configs/`, registered with ``add_model_config``) and loads its weights from
a local file (safetensors, or a torch state dict read with ``weights_only=True``). Users with their
own CLIP pass ``model=`` (an open_clip-like object with ``encode_image``/``encode_text``) and
``preprocess=``/``tokenizer=``, or plain callables ``image_fn``/``text_fn``.

Embeddings are L2-normalised float32 and computed in batches; an optional on-disk cache
(:class:`EmbeddingCache`) keys them by image sha256 and model id.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
DEFAULT_ARCH = "genaudit-fmnist-vit"
DEFAULT_CHECKPOINT_NAME = "clip-fmnist.safetensors"
_registered = False
_lock = threading.Lock()


def register_configs() -> None:
    """Register the architectures shipped with genaudit with open_clip (once)."""
    global _registered
    with _lock:
        if _registered:
            return
        import open_clip

        for name in sorted(os.listdir(CONFIG_DIR)):
            if name.endswith(".json"):
                open_clip.add_model_config(os.path.join(CONFIG_DIR, name))
        _registered = True


def known_architectures() -> list[str]:
    import open_clip

    register_configs()
    return list(open_clip.list_models())


def default_checkpoint() -> str:
    from ..checkpoints import checkpoint_dir

    return os.path.join(checkpoint_dir(), DEFAULT_CHECKPOINT_NAME)


def _sha256(path: str) -> str:
    from ..io.read import sha256_file

    return sha256_file(path)


def _read_state_dict(path: str) -> dict[str, Any]:
    import torch

    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ConfigError(f"CLIP checkpoint {path} cannot be read as safetensors: {exc}") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ConfigError(f"CLIP checkpoint {path} cannot be read as a torch state dict: {exc}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ConfigError(f"CLIP checkpoint {path} does not hold a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


class ClipEmbedder:
    """Batched CLIP embeddings of images and texts.

    ``arch``: an open_clip architecture name; ``checkpoint``: a local weights file (required unless
    ``model`` or ``image_fn``/``text_fn`` are given). Unknown names and missing or mismatching
    checkpoints raise :class:`~genaudit.errors.ConfigError` with one clear line.
    """

    def __init__(self, arch: str = DEFAULT_ARCH, checkpoint: str | None = None, *, model: Any = None,
                 preprocess: Callable[[Any], Any] | None = None, tokenizer: Callable[[list[str]], Any] | None = None,
                 image_fn: Callable[[list[Any]], Any] | None = None, text_fn: Callable[[list[str]], Any] | None = None,
                 model_id: str | None = None, batch_size: int = 256, device: str = "cpu",
                 cache: EmbeddingCache | None = None) -> None:
        self.batch_size = batch_size
        self.device = device
        self.cache = cache
        self._image_fn = image_fn
        self._text_fn = text_fn
        self._lock = threading.Lock()
        if image_fn is not None or text_fn is not None:
            if image_fn is None or text_fn is None:
                raise ConfigError("an injected CLIP needs both image_fn and text_fn")
            self.arch, self.checkpoint, self.sha256 = arch, checkpoint, ""
            self.model_id = model_id or "injected"
            self._model: Any = None
            return
        if model is None:
            model, preprocess, tokenizer, sha = self._load(arch, checkpoint)
        else:
            sha = ""
            if preprocess is None or tokenizer is None:
                raise ConfigError("an injected CLIP model needs preprocess= and tokenizer= as well")
        self.arch, self.checkpoint, self.sha256 = arch, checkpoint, sha
        self.model_id = model_id or (f"{arch}@{sha[:16]}" if sha else f"{arch}@injected")
        self._model = model.eval()
        self._preprocess = preprocess
        self._tokenizer = tokenizer

    @staticmethod
    def _load(arch: str, checkpoint: str | None) -> tuple[Any, Any, Any, str]:
        import open_clip

        register_configs()
        known = open_clip.list_models()
        if arch not in known:
            from ..suggest import did_you_mean

            raise ConfigError(f"unknown CLIP architecture {arch!r}{did_you_mean(arch, known)}"
                              f" (known: {len(known)} open_clip configs, e.g. {DEFAULT_ARCH}, ViT-B-32)")
        if checkpoint is None:
            raise ConfigError(f"CLIP architecture {arch!r} needs a local checkpoint (--clip-checkpoint PATH);"
                              " genaudit never downloads weights")
        if not os.path.isfile(checkpoint):
            raise ConfigError(f"CLIP checkpoint {checkpoint} not found")
        sha = _sha256(checkpoint)
        import logging

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # open_clip warns "no pretrained weights" otherwise
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
        finally:
            logging.getLogger().setLevel(quiet)
        sd = _read_state_dict(checkpoint)
        sd = {k: v.float() if hasattr(v, "is_floating_point") and v.is_floating_point() else v for k, v in sd.items()}
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = first[1].strip() if len(first) > 1 else first[0]
            raise ConfigError(f"CLIP checkpoint {checkpoint} does not fit architecture {arch!r}: {detail}") from None
        return model, preprocess, open_clip.get_tokenizer(arch), sha

    @classmethod
    def default(cls, **kwargs: Any) -> ClipEmbedder:
        """The project's own small CLIP (``genaudit-fmnist-vit``, shipped weights, sha256 checked)."""
        from ..checkpoints import expected_sha256

        path = default_checkpoint()
        expected = expected_sha256("clip", "clip-fmnist")
        if os.path.isfile(path) and expected and _sha256(path) != expected:
            raise ConfigError(f"{path} is corrupted or was replaced: its sha256 does not match manifest.json")
        return cls(DEFAULT_ARCH, path, **kwargs)

    @classmethod
    def from_choice(cls, arch: str | None = None, checkpoint: str | None = None, **kwargs: Any) -> ClipEmbedder:
        """What ``--clip-model/--clip-checkpoint`` (or the bias check's options) select: the shipped
        CLIP when neither is given, else ``arch`` (default :data:`DEFAULT_ARCH`) with ``checkpoint``."""
        if arch is None and checkpoint is None:
            return cls.default(**kwargs)
        return cls(arch or DEFAULT_ARCH, checkpoint, **kwargs)

    # -- embeddings ----------------------------------------------------------------------------
    def _images_to_tensor(self, images: Sequence[Any]) -> Any:
        import torch
        from PIL import Image

        tensors = []
        for im in images:
            if not isinstance(im, Image.Image):
                arr = np.asarray(im)
                im = Image.fromarray(arr)
            tensors.append(self._preprocess(im.convert("RGB")))
        return torch.stack(tensors).to(self.device)

    def _embed_images_now(self, images: Sequence[Any]) -> np.ndarray:
        if self._image_fn is not None:
            out = np.asarray(self._image_fn(list(images)), dtype=np.float32)
        else:
            import torch

            with self._lock, torch.inference_mode():
                out = self._model.encode_image(self._images_to_tensor(images)).float().cpu().numpy()
        return _normalise(out)

    def embed(self, images: Sequence[Any], keys: Sequence[str] | None = None,
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Embeddings (n, d) of ``images`` (PIL or uint8 arrays), ``batch_size`` at a time.

        ``keys`` (image sha256s) let the cache, when one is set, skip images it has seen."""
        n = len(images)
        out: list[np.ndarray | None] = [None] * n
        todo = list(range(n))
        if self.cache is not None and keys is not None:
            hits = self.cache.get_many(self.model_id, keys)
            todo = [i for i in range(n) if hits[i] is None]
            for i in range(n):
                if hits[i] is not None:
                    out[i] = hits[i]
        for a in range(0, len(todo), self.batch_size):
            chunk = todo[a:a + self.batch_size]
            emb = self._embed_images_now([images[i] for i in chunk])
            for j, i in enumerate(chunk):
                out[i] = emb[j]
            if self.cache is not None and keys is not None:
                self.cache.put_many(self.model_id, [keys[i] for i in chunk], emb)
            if progress is not None:
                progress(n - len(todo) + min(a + self.batch_size, len(todo)), n)
        if n == 0:
            return np.empty((0, 0), np.float32)
        return np.stack(out).astype(np.float32)  # type: ignore[arg-type]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self._text_fn is not None:
            return _normalise(np.asarray(self._text_fn(list(texts)), dtype=np.float32))
        import torch

        with self._lock, torch.inference_mode():
            tokens = self._tokenizer(list(texts)).to(self.device)
            out = self._model.encode_text(tokens).float().cpu().numpy()
        return _normalise(out)

    @property
    def logit_scale(self) -> float:
        if self._model is not None and hasattr(self._model, "logit_scale"):
            return float(self._model.logit_scale.exp().item())
        return 100.0

    def describe(self) -> dict[str, Any]:
        return {"arch": self.arch, "checkpoint": self.checkpoint, "sha256": self.sha256, "model_id": self.model_id}


def _normalise(x: np.ndarray) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"a CLIP embedding batch must be 2-D, got shape {x.shape}")
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class EmbeddingCache:
    """Embeddings on disk, one ``.npy`` file per (model id, image sha256), sharded by hash prefix.

    Writes are atomic (temporary file + rename), so concurrent scans can share a cache folder.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, model_id: str, key: str) -> str:
        mid = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        return os.path.join(self.directory, mid, key[:2], f"{key}.npy")

    def get_many(self, model_id: str, keys: Sequence[str]) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for k in keys:
            p = self._path(model_id, k)
            try:
                out.append(np.load(p, allow_pickle=False))
            except (OSError, ValueError):
                out.append(None)
        return out

    def put_many(self, model_id: str, keys: Sequence[str], embeddings: np.ndarray) -> None:
        for k, e in zip(keys, embeddings, strict=True):
            p = self._path(model_id, k)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            tmp = f"{p}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(e, np.float32), allow_pickle=False)
            os.replace(tmp, p)
