"""What ``genaudit demo`` scans: real sample images, broken files, and a release of the bundled GAN.

:func:`prepare_demo` writes the folder; :meth:`DemoFiles.audit_config` is the scan that shows it
off (with the watermark and provenance checks when the release part could run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import AuditConfig
from .errors import ConfigError
from .io import sha256_file

RELEASED = 4
"""GAN samples released (watermarked, audited, signed); one more copy is edited after signing."""
MARKER = ".genaudit-demo.json"
"""The file that makes a folder the demo's: every file and folder the demo wrote there (files with
their sha256). A re-run removes exactly those, unchanged, and refuses a folder holding anything else."""
REPORT_DIR = "report"
REPORT_FILES = ("report.json", "report.md", "report.html", "results.jsonl", "bias.json")
_PARTS = ("samples", "keys", "training", "index", REPORT_DIR)
"""The demo's sub-folders: what an interrupted run wrote there is the demo's, too."""


class DemoFolderError(ConfigError):
    """The demo folder holds something the demo did not write; nothing was changed."""


@dataclass(frozen=True)
class DemoFiles:
    """The demo folder :func:`prepare_demo` wrote."""

    samples_dir: str
    written: tuple[str, ...]
    """The sample and broken files (the released GAN samples not included)."""
    release_dir: str
    released: tuple[str, ...] = ()
    """The signed GAN samples, then the copy edited after signing."""
    keys: Mapping[str, str] | None = None
    """``root``, ``chain``, ``key`` and ``watermark`` key paths; ``None`` when the release was skipped."""
    key_dir: str | None = None
    index: str | None = None
    """A memorization index over the demo's training sample (``training/``); one of its items, lightly
    edited, is among the scanned samples (``samples/memorized/``)."""
    skipped: str | None = None
    """Why the release part was skipped (the bundled models are not available)."""

    def audit_config(self, report_dir: str, jobs: int = 0) -> AuditConfig:
        """The demo scan: metadata and phash, plus watermark and provenance with the demo's keys.

        >>> DemoFiles("d/samples", (), "d/samples/generated", skipped="no models").audit_config("d/report").checks
        ('metadata', 'phash')
        """
        if not self.keys:
            return AuditConfig(jobs=jobs, report_dir=report_dir, checks=("metadata", "phash"))
        checks: tuple[str, ...] = ("metadata", "phash", "watermark", "provenance", "detector", "bias")
        options: dict[str, dict[str, Any]] = {"watermark": {"key_file": self.keys["watermark"]},
                                              "provenance": {"trust_anchors": self.keys["root"]},
                                              "bias": {"group_by": "folder"}}
        if self.index:
            checks += ("memorization",)
            options["memorization"] = {"index": self.index}
        return AuditConfig(jobs=jobs, report_dir=report_dir, checks=checks, options=options)


def prepare_demo(out_dir: str) -> DemoFiles:
    """(Re)write ``out_dir/samples``: the demo corpus (:func:`genaudit.samples.write_demo_corpus`)
    and, in ``samples/generated``, :data:`RELEASED` samples of the bundled GAN released through
    ``genaudit.wrap`` plus one copy with a pixel changed after signing (keys in ``out_dir/keys``).

    ``out_dir`` must be new, empty, or a folder an earlier demo made (:data:`MARKER`): then what that
    demo wrote is removed first. Anything else in it (a file the demo did not write, or one edited
    since) raises :class:`DemoFolderError` before anything is changed.
    """
    from .models import ModelError, load
    from .samples import write_demo_corpus

    _claim(out_dir)
    samples = os.path.join(out_dir, "samples")
    written = tuple(write_demo_corpus(samples))
    gen_dir = os.path.join(samples, "generated")
    try:
        gan = load("gan-fmnist")
    except (ModelError, ImportError) as exc:
        _record(out_dir)
        return DemoFiles(samples, written, gen_dir, skipped=str(exc))
    key_dir = os.path.join(out_dir, "keys")
    keys, released = _release(gan, key_dir, gen_dir)
    index, copy = _training_index(out_dir, samples)
    _record(out_dir)
    return DemoFiles(samples, (*written, copy), gen_dir, released=released, keys=keys, key_dir=key_dir, index=index)


TRAINING_ITEMS = 200
MEMORIZED_ITEM = 7


def _training_index(out_dir: str, samples: str) -> tuple[str, str]:
    """``training/``: the first :data:`TRAINING_ITEMS` Fashion-MNIST training images as PNGs, indexed
    into ``index/train.gaidx``; and ``samples/memorized/``: item :data:`MEMORIZED_ITEM` brightened
    by 6 grey levels — the near-copy of training data the memorization check should flag."""
    import numpy as np

    from .datasets import load_fashion_mnist
    from .io import write_png
    from .memorization.build import build_index

    images, _ = load_fashion_mnist("train")
    training = os.path.join(out_dir, "training")
    os.makedirs(training, exist_ok=True)
    for i in range(TRAINING_ITEMS):
        write_png(os.path.join(training, f"train_{i:05d}.png"), images[i])
    from .features.embedding import ImageEmbedder
    from .memorization.index import TrainingIndex
    from .memorization.vectors import EmbeddingSpec

    # stored whole-item embeddings, as `genaudit index build --regions whole` makes them
    spec = EmbeddingSpec.of(ImageEmbedder(), ("whole",))
    index, _ = build_index([training], index=TrainingIndex(("phash",), embedding=spec), jobs=1)
    path = os.path.join(out_dir, "index", "train.gaidx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    index.save(path)
    copy = np.clip(images[MEMORIZED_ITEM].astype(np.int16) + 6, 0, 255).astype(np.uint8)
    os.makedirs(os.path.join(samples, "memorized"), exist_ok=True)
    return path, write_png(os.path.join(samples, "memorized", f"near_copy_of_train_{MEMORIZED_ITEM:05d}.png"), copy)


BIAS_PER_CLASS = 20


def bias_demo(out_dir: str, per_class: int = BIAS_PER_CLASS) -> dict[str, Any]:
    """A bias audit of the bundled GAN with the project's own CLIP: ``per_class`` samples of each
    class (seed 0), the ``fashion-mnist`` attribute set, grouped by the class asked for. Writes
    ``report/bias.json`` and returns its document."""
    from .bias import BiasOptions, ClipEmbedder, audit_bias, load_attribute_set
    from .io import write_atomic
    from .models import load

    gan = load("gan-fmnist")
    labels = [c for c in range(gan.n_classes) for _ in range(per_class)]
    out = gan.sample(len(labels), labels=labels, seed=0)
    conds = [out.classes[y] if out.classes else str(y) for y in out.labels]
    report = audit_bias(list(out.images), conds, load_attribute_set("fashion-mnist"), ClipEmbedder.default(),
                        BiasOptions(seed=0), paths=[out.file_name(i) for i in range(len(out))])
    doc = report.to_dict()
    cls = report.results["class"]
    names = cls.labels.names()
    doc["demo"] = {"model": "gan-fmnist", "per_class": per_class, "seed": 0,
                   "label_agrees_with_requested_class": sum(n == c for n, c in zip(names, conds, strict=True))
                   / len(conds)}
    os.makedirs(os.path.join(out_dir, REPORT_DIR), exist_ok=True)
    write_atomic(os.path.join(out_dir, REPORT_DIR, "bias.json"), json.dumps(doc, indent=2).encode())
    return doc


def _contents(out_dir: str) -> tuple[list[str], list[str]]:
    """Every file (symbolic links included) and folder under ``out_dir``, relative, sorted."""
    files: list[str] = []
    dirs: list[str] = []

    def fail(exc: OSError) -> None:
        raise DemoFolderError(f"cannot read the demo folder {out_dir}: {exc.strerror or exc}")

    for top, subdirs, names in os.walk(out_dir, onerror=fail):
        rel = os.path.relpath(top, out_dir)
        for d in list(subdirs):
            if os.path.islink(os.path.join(top, d)):  # a link is never followed: it is an entry to account for
                subdirs.remove(d)
                names.append(d)
            else:
                dirs.append(os.path.normpath(os.path.join(rel, d)))
        files.extend(os.path.normpath(os.path.join(rel, n)) for n in names)
    return sorted(files), sorted(dirs)


def _claim(out_dir: str) -> None:
    """Make ``out_dir`` the demo's: new or empty, or made by an earlier demo whose files are all
    unchanged (then they are removed). Raises :class:`DemoFolderError` otherwise, changing nothing."""
    if not os.path.lexists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise DemoFolderError(f"refusing to use {out_dir} for the demo: it is not a folder; choose another --out")
    files, dirs = _contents(out_dir)
    if not files and not dirs:
        return
    try:
        with open(os.path.join(out_dir, MARKER), encoding="utf-8") as fh:
            marker = json.load(fh)
        known, known_dirs, complete = dict(marker["files"]), set(marker["dirs"]), bool(marker["complete"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DemoFolderError(f"refusing to use {out_dir} for the demo: it is not empty and was not made by"
                              f" genaudit demo (no readable {MARKER}); choose a new or empty folder with --out"
                              " (nothing was changed)") from None

    def ours(rel: str) -> bool:
        path = os.path.join(out_dir, rel)
        if rel == MARKER or (not complete and rel.split(os.sep)[0] in _PARTS and not os.path.islink(path)):
            return True
        if rel not in known or os.path.islink(path) or not os.path.isfile(path):
            return False
        try:
            return known[rel] is None or known[rel] == sha256_file(path)
        except OSError:
            return False

    foreign = [f for f in files if not ours(f)] + [d for d in dirs if d not in known_dirs and not ours(d)]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise DemoFolderError(f"refusing to use {out_dir} for the demo: {os.path.join(out_dir, foreign[0])}{more}"
                              f" {'were' if more else 'was'} not written by genaudit demo (or changed since);"
                              " move them away or choose another --out (nothing was changed)")
    for f in files:
        if f != MARKER:
            os.unlink(os.path.join(out_dir, f))
    for d in reversed(dirs):  # deepest first
        os.rmdir(os.path.join(out_dir, d))
    _write_marker(out_dir, {}, [], complete=False)


def _write_marker(out_dir: str, files: Mapping[str, str | None], dirs: list[str], *, complete: bool) -> None:
    from .io import write_atomic

    doc = {"genaudit_demo": 1, "complete": complete, "files": dict(files), "dirs": dirs}
    write_atomic(os.path.join(out_dir, MARKER), (json.dumps(doc, indent=1) + "\n").encode())


def _record(out_dir: str) -> None:
    """List what the demo wrote in :data:`MARKER`, with the report files the scan will write."""
    files, dirs = _contents(out_dir)
    known: dict[str, str | None] = {f: sha256_file(os.path.join(out_dir, f)) for f in files if f != MARKER}
    known.update({os.path.join(REPORT_DIR, name): None for name in REPORT_FILES})  # rewritten by every scan
    _write_marker(out_dir, known, sorted({*dirs, REPORT_DIR}), complete=True)


def _release(gan: Any, key_dir: str, gen_dir: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Watermark + audit + C2PA-sign (with a development chain) the GAN's samples, then write what
    a careless edit after signing looks like: the same file with one pixel changed."""
    import io

    from PIL import Image

    from .io import encode_png, write_atomic
    from .provenance.c2pa import SignerConfig
    from .provenance.certs import create_dev_chain, write_dev_chain
    from .release import wrap
    from .samples import replace_png_pixels
    from .watermark import generate_key, save_key

    chain = create_dev_chain("genaudit demo")
    paths = write_dev_chain(key_dir, chain)
    wm_key = generate_key()
    paths["watermark"] = save_key(wm_key, os.path.join(key_dir, "watermark.key"), overwrite=True)
    released = wrap(gan, watermark_key=wm_key, signer=SignerConfig(chain.chain_pem, chain.private_key_pem),
                    size=256).sample(RELEASED, seed=0, out_dir=gen_dir, prefix="gan-fmnist")
    img = Image.open(io.BytesIO(released[0].data))
    img.load()
    px: Any = img.getpixel((0, 0))
    img.putpixel((0, 0), 255 - px if isinstance(px, int) else tuple(255 - int(v) for v in px))
    edited = write_atomic(os.path.join(gen_dir, "edited-after-signing.png"),
                          replace_png_pixels(released[0].data, encode_png(img)))
    return paths, (*(r.path for r in released if r.path), edited)
