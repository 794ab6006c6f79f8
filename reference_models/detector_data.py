"""The data of the shipped real-vs-fake detector (``detector-fmnist``) and of its benchmark.

Real images: Fashion-MNIST (train split for training and calibration, test split for evaluation)
and natural-photo crops (the photos split by file: a photo's crops are all in one split). Fake
images: samples of the three reference generators (GAN, VAE, DDPM at its default sampler), drawn
with *training seeds* for training and calibration and *evaluation seeds* (never used in training)
for evaluation.

Generator samples are slow to draw on CPU (the DDPM takes ~0.5 s an image on 2 cores), so they are
cached as ``.npz`` files under ``cache_dir`` keyed by model, checkpoint sha256, count and seed.

Simulated generated images (:mod:`reference_models.simulators`): real Fashion-MNIST training
images outside the real pool, reconstructed by small generator-like decoders trained on real images
only; they teach the detector generator traces in general rather than three generators' own.

Perturbations (:func:`perturb`) are what users do to images: PNG round trip (lossless), JPEG at a
quality, a resize that keeps its new size, a Gaussian blur. Training applies the same random mix
to real and fake images alike, so that no perturbation becomes a cue for one class.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

GENERATORS = ("gan-fmnist", "vae-fmnist", "ddpm-fmnist")
TRAIN_SEED = 1000
"""Seed of the generator samples used for training and calibration."""
EVAL_SEED = 2000
"""Seed of the generator samples used only for evaluation."""


def default_cache_dir() -> str:
    return os.environ.get("GENAUDIT_DETECTOR_CACHE", os.path.join(os.getcwd(), "benchmarks", "results", "cache"))


def cached_images(name: str, make: Callable[[], np.ndarray], cache_dir: str | None = None) -> np.ndarray:
    """``make()``, cached as ``name`` (an ``.npz`` file) under ``cache_dir`` (written atomically)."""
    path = os.path.join(cache_dir or default_cache_dir(), name)
    if os.path.isfile(path):
        with np.load(path) as z:
            return np.asarray(z["images"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    images = make()
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, images=images)
    os.replace(tmp, path)
    return images


def generator_samples(name: str, n: int, seed: int, cache_dir: str | None = None, *,
                      progress: bool = True) -> np.ndarray:
    """``n`` uint8 (n, 28, 28) samples of reference generator ``name`` drawn with ``seed`` (cached)."""
    from genaudit import models

    gen = models.load(name)

    def report(done: int, total: int) -> None:
        if progress:
            print(f"  {name} seed {seed}: {done}/{total} samples", flush=True)

    return cached_images(f"{name}-{gen.sha256[:12]}-n{n}-seed{seed}.npz",
                         lambda: gen.sample(n, seed=seed, batch_size=100, progress=report).images, cache_dir)


def _draw(n_images: int, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` of ``n_images`` items, drawn without replacement with ``seed``."""
    return np.sort(np.random.default_rng(seed).choice(n_images, size=min(n, n_images), replace=False))


def fashion_mnist(split: str, n: int, seed: int) -> np.ndarray:
    """``n`` Fashion-MNIST images of ``split`` ("train" or "test"), drawn without replacement."""
    from genaudit.datasets import load_fashion_mnist

    images, _ = load_fashion_mnist(split)
    return images[_draw(len(images), n, seed)]


REAL_POOL_FMNIST = 6000
"""Fashion-MNIST training images in the real part of the training pool."""


def real_pool_indices(seed: int, n_images: int) -> np.ndarray:
    """Indices (of the ``n_images`` Fashion-MNIST training images) of those in the real part of
    :func:`training_part` at ``seed`` — what the simulators must not train on."""
    return _draw(n_images, REAL_POOL_FMNIST, seed + 1)


def _photo_group(path: str) -> str:
    """Near-duplicate photos (aero1/aero3, graf1/graf3, leuvenA/leuvenB, left/right, …) share a group."""
    import re

    stem = os.path.splitext(os.path.basename(path))[0].lower()
    if stem in ("left", "right"):
        return "stereo"
    return re.sub(r"(\d+|_?(left|right)|[lrab])$", "", stem) or stem


def photo_split(split: str) -> list[str]:
    """The natural photos of ``split`` ("train", "cal" or "test"): every third group of photos by
    sorted name, near-duplicates kept in one split so that no test photo has a twin in training."""
    from genaudit.samples import natural_photo_paths

    paths = sorted(natural_photo_paths())
    groups = sorted({_photo_group(p) for p in paths})
    k = {"train": 0, "cal": 1, "test": 2}[split]
    chosen = {g for i, g in enumerate(groups) if i % 3 == k}
    return [p for p in paths if _photo_group(p) in chosen]


def photo_crops(split: str, n: int, seed: int) -> list[np.ndarray]:
    """``n`` crops of the photos of ``split``: half colour crops of 32–192 px kept at their size,
    half greyscale crops resized to 28² (the size of the generators' images)."""
    from PIL import Image

    paths = photo_split(split)
    rng = np.random.default_rng(seed)
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    out: list[np.ndarray] = []
    while len(out) < n:
        img = photos[int(rng.integers(len(photos)))]
        h, w = img.shape[:2]
        side = int(rng.integers(32, min(192, h, w) + 1))
        y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        crop = img[y:y + side, x:x + side]
        if len(out) % 2:
            grey = Image.fromarray(crop).convert("L").resize((28, 28), Image.Resampling.LANCZOS)
            out.append(np.asarray(grey))
        else:
            out.append(np.ascontiguousarray(crop))
    return out


PERTURBATIONS = ("none", "png", "jpeg75", "jpeg50", "resize0.5", "blur")


def perturb(image: np.ndarray, kind: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """``image`` after perturbation ``kind`` (one of :data:`PERTURBATIONS`, or ``"random"``: none,
    JPEG q50–95, resize ×0.4–0.9 or blur σ 0.4–1.2, drawn from ``rng``)."""
    from PIL import Image, ImageFilter

    pil = Image.fromarray(image)
    if kind == "random":
        assert rng is not None
        choice = int(rng.integers(4))
        if choice == 0:
            return image
        if choice == 1:
            return _jpeg(pil, int(rng.integers(50, 96)))
        if choice == 2:
            return _resize(pil, float(rng.uniform(0.4, 0.9)))
        return np.asarray(pil.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.2)))))
    if kind in ("none", "png"):
        if kind == "png":
            buf = io.BytesIO()
            pil.save(buf, "PNG")
            return np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        return image
    if kind.startswith("jpeg"):
        return _jpeg(pil, int(kind[4:]))
    if kind.startswith("resize"):
        return _resize(pil, float(kind[6:]))
    if kind == "blur":
        return np.asarray(pil.filter(ImageFilter.GaussianBlur(1.0)))
    raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")


def _jpeg(pil: Any, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def _resize(pil: Any, scale: float) -> np.ndarray:
    from PIL import Image

    w, h = pil.size
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(pil.resize(size, Image.Resampling.BICUBIC))


def augment(images: Sequence[np.ndarray], seed: int, p: float = 0.5) -> list[np.ndarray]:
    """Each image, perturbed at random (:func:`perturb` ``"random"``) with probability ``p``."""
    rng = np.random.default_rng(seed)
    return [perturb(im, "random", rng) if rng.random() < p else im for im in images]


TRAIN_COUNTS = {"gan-fmnist": 4000, "vae-fmnist": 4000, "ddpm-fmnist": 1000}
SIM_COUNT = 3000
"""Simulated generated images per simulator (:mod:`reference_models.simulators`)."""
SIMULATORS = ("sim-nearest", "sim-denoise")
"""The simulators the shipped detector trains on: the subset of :data:`ALL_SIMULATORS` with the
best worst-case leave-one-generator-out AUC on the training-seed samples
(``python benchmarks/detector_simulators.py``, docs/benchmarks.md); evaluation seeds took no part."""
ALL_SIMULATORS = ("sim-tconv", "sim-nearest", "sim-bilinear", "sim-denoise")
EVAL_COUNTS = {"gan-fmnist": 2000, "vae-fmnist": 2000, "ddpm-fmnist": 1000}
POOL_DESCRIPTION = {
    "real": ["Fashion-MNIST train: 6,000 images (random, seed 1)",
             "natural-photo crops: 1,500 (train and calibration photos; half colour 32–192 px, half greyscale 28²)"],
    "generated": [f"{name}: {n:,} samples, seed {TRAIN_SEED}" for name, n in TRAIN_COUNTS.items()]
    + [f"{name}: {SIM_COUNT:,} real Fashion-MNIST training images (outside the real pool) reconstructed by a"
       " generator-artifact simulator trained on real images only (reference_models/simulators.py)"
       for name in SIMULATORS],
    "augmentation": "each image with p=0.5: JPEG q50–95, resize ×0.4–0.9 (kept), or Gaussian blur σ 0.4–1.2"
                    " (one at random), real and generated alike"}


def training_part(part: str, seed: int = 0, cache_dir: str | None = None) -> list[np.ndarray]:
    """One part of the shipped detector's training data (before its train / calibration /
    validation split), each image perturbed at random with probability 0.5 (:func:`augment`):
    ``real`` (Fashion-MNIST train 6,000 + 1,500 crops of the train and calibration photos) or a
    generator of :data:`TRAIN_COUNTS` (its samples at the training seed)."""
    if part == "real":
        from genaudit.datasets import load_fashion_mnist

        train, _ = load_fashion_mnist("train")
        images = list(train[real_pool_indices(seed, len(train))]) + photo_crops("train", 1000, seed + 2) \
            + photo_crops("cal", 500, seed + 3)
        return augment(images, seed + 10)
    if part in ALL_SIMULATORS:
        from reference_models.simulators import simulated_samples

        index = ALL_SIMULATORS.index(part)
        return augment(list(simulated_samples(part.removeprefix("sim-"), SIM_COUNT, seed, cache_dir)),
                       seed + 21 + index)
    index = list(TRAIN_COUNTS).index(part)
    return augment(list(generator_samples(part, TRAIN_COUNTS[part], TRAIN_SEED, cache_dir)), seed + 11 + index)


def evaluation_part(part: str, seed: int = 0, cache_dir: str | None = None) -> list[np.ndarray]:
    """Held-out images, never used in training or calibration (unperturbed): ``real-fmnist``
    (Fashion-MNIST test, 2,000), ``real-photo`` (500 crops of the test photos), or a generator of
    :data:`EVAL_COUNTS` (its samples at the evaluation seed)."""
    if part == "real-fmnist":
        return list(fashion_mnist("test", 2000, seed + 5))
    if part == "real-photo":
        return photo_crops("test", 500, seed + 6)
    return list(generator_samples(part, EVAL_COUNTS[part], EVAL_SEED, cache_dir))


def cached_features(key: str, images: Callable[[], Sequence[Any]], extractor: Any,
                    cache_dir: str | None = None) -> np.ndarray:
    """``extractor(images())``, cached under ``key`` and the extractor's blocks and weights."""
    import hashlib

    cache_dir = cache_dir or default_cache_dir()
    tag = hashlib.sha256(f"{key}|{extractor.blocks}|{extractor.embedder_sha256}".encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"features-{key}-{tag}.npy")
    if os.path.isfile(path):
        return np.load(path)
    os.makedirs(cache_dir, exist_ok=True)
    data = images()
    t0 = time.perf_counter()
    x = extractor(data)
    print(f"  features of {key}: {len(data)} images in {time.perf_counter() - t0:.0f} s", flush=True)
    np.save(path + ".tmp.npy", x)
    os.replace(path + ".tmp.npy", path)
    return x
