"""Captions for training the project's small CLIP on Fashion-MNIST, and the pixel rules behind them.

Every training image gets a freshly drawn caption each epoch: a template, a name for its class
(the class name or a synonym), and words computed from its pixels — tone (``dark``/``light``),
texture (``patterned``/``plain``) and shape (``wide``/``tall``). The same rules give the ground
truth for the bias benchmark's tone/texture/shape attributes.

The zero-shot evaluation uses :data:`EVAL_TEMPLATES`, wordings that never occur in training
(:data:`TRAIN_TEMPLATES`); a test checks the two lists share no wording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("t-shirt", "tee", "top", "t-shirt or top"),
    ("trouser", "pair of trousers", "pair of pants", "pair of slacks"),
    ("pullover", "sweater", "jumper"),
    ("dress", "gown", "frock"),
    ("coat", "jacket", "overcoat"),
    ("sandal", "flip-flop", "strappy sandal"),
    ("shirt", "button-up shirt", "blouse"),
    ("sneaker", "trainer", "running shoe"),
    ("bag", "handbag", "purse"),
    ("ankle boot", "boot", "bootie"),
)
"""Names used for each Fashion-MNIST class in training captions (index = label)."""

TRAIN_TEMPLATES = (
    "a photo of a {}.",
    "a {}.",
    "a picture of a {}.",
    "a product photo of a {}.",
    "a small photo of a {}.",
    "{}.",
    "a low resolution photo of a {}.",
    "a grayscale image of a {}.",
)
EVAL_TEMPLATES = (
    "an image showing a {}.",
    "this is a {}.",
    "a close-up of the {}.",
    "there is a {} in this picture.",
    "a black and white snapshot of a {}.",
)
"""Zero-shot wordings that never occur in training (used by the shipped ``fashion-mnist`` set)."""

GENERIC = ("item", "piece of clothing", "product", "thing")
FOREGROUND = 25
"""Pixel value above which a Fashion-MNIST pixel belongs to the item (the background is 0)."""


@dataclass(frozen=True)
class PixelRules:
    """Thresholds of the pixel attributes, the training set's terciles (fitted by :func:`fit_rules`)."""

    tone: tuple[float, float]
    texture: tuple[float, float]
    aspect: tuple[float, float] = (0.87, 1.15)


def measure(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image (N, 28, 28) uint8: foreground mean tone (0..255), texture (mean absolute
    horizontal+vertical difference inside the item, relative to its tone) and bounding-box aspect (w/h)."""
    x = images.astype(np.float32)
    fg = x > FOREGROUND
    n_fg = np.maximum(fg.sum(axis=(1, 2)), 1)
    tone = (x * fg).sum(axis=(1, 2)) / n_fg
    dx = np.abs(np.diff(x, axis=2)) * (fg[:, :, 1:] & fg[:, :, :-1])
    dy = np.abs(np.diff(x, axis=1)) * (fg[:, 1:, :] & fg[:, :-1, :])
    texture = (dx.sum(axis=(1, 2)) + dy.sum(axis=(1, 2))) / (2 * n_fg) / np.maximum(tone, 1.0)
    rows, cols = fg.any(axis=2), fg.any(axis=1)
    h = np.maximum(rows.sum(axis=1), 1)
    w = np.maximum(cols.sum(axis=1), 1)
    return {"tone": tone, "texture": texture, "aspect": w / h}


def fit_rules(images: np.ndarray) -> PixelRules:
    m = measure(images)
    t = np.quantile(m["tone"], [1 / 3, 2 / 3])
    s = np.quantile(m["texture"], [1 / 3, 2 / 3])
    return PixelRules(tone=(float(t[0]), float(t[1])), texture=(float(s[0]), float(s[1])))


def pixel_labels(images: np.ndarray, rules: PixelRules) -> dict[str, np.ndarray]:
    """Ground-truth words per image: ``tone`` ∈ {dark, light, ""}, ``texture`` ∈ {plain, patterned, ""},
    ``shape`` ∈ {tall, wide, ""} ("" = between the terciles: no word)."""
    m = measure(images)

    def cut(v: np.ndarray, lo_hi: tuple[float, float], low: str, high: str) -> np.ndarray:
        out = np.full(v.shape, "", dtype=object)
        out[v < lo_hi[0]] = low
        out[v > lo_hi[1]] = high
        return out

    return {"tone": cut(m["tone"], rules.tone, "dark", "light"),
            "texture": cut(m["texture"], rules.texture, "plain", "patterned"),
            "shape": cut(m["aspect"], rules.aspect, "tall", "wide")}


def caption(label: int, words: list[str], rng: np.random.Generator) -> str:
    """One training caption for an image of class ``label`` with pixel words ``words``."""
    kept = [w for w in words if w and rng.random() < 0.6]
    rng.shuffle(kept)  # type: ignore[arg-type]
    if rng.random() < 0.15 and kept:
        noun = GENERIC[int(rng.integers(len(GENERIC)))]
    else:
        names = SYNONYMS[label]
        noun = names[0] if rng.random() < 0.5 else names[int(rng.integers(len(names)))]
    phrase = " ".join([*kept, noun]) if len(kept) < 2 else f"{kept[0]}, {' '.join(kept[1:])} {noun}"
    template = TRAIN_TEMPLATES[int(rng.integers(len(TRAIN_TEMPLATES)))]
    text = template.format(phrase)
    if text.startswith("a ") and phrase[0] in "aeiou":
        text = "an " + text[2:]
    text = text.replace(" a a", " an a").replace(" a e", " an e").replace(" a o", " an o")
    return text
