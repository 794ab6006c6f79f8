"""What ``genaudit demo`` scans: real sample images, broken files, and a release of the bundled GAN.

:func:`prepare_demo` writes the folder; :meth:`DemoFiles.audit_config` is the scan that shows it
off (with the watermark and provenance checks when the release part could run).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import AuditConfig

RELEASED = 4
"""GAN samples released (watermarked, audited, signed); one more copy is edited after signing."""


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
    skipped: str | None = None
    """Why the release part was skipped (the bundled models are not available)."""

    def audit_config(self, report_dir: str, jobs: int = 0) -> AuditConfig:
        """The demo scan: metadata and phash, plus watermark and provenance with the demo's keys.

        >>> DemoFiles("d/samples", (), "d/samples/generated", skipped="no models").audit_config("d/report").checks
        ('metadata', 'phash')
        """
        if not self.keys:
            return AuditConfig(jobs=jobs, report_dir=report_dir, checks=("metadata", "phash"))
        return AuditConfig(jobs=jobs, report_dir=report_dir, checks=("metadata", "phash", "watermark", "provenance"),
                           options={"watermark": {"key_file": self.keys["watermark"]},
                                    "provenance": {"trust_anchors": self.keys["root"]}})


def prepare_demo(out_dir: str) -> DemoFiles:
    """(Re)write ``out_dir/samples``: the demo corpus (:func:`genaudit.samples.write_demo_corpus`)
    and, in ``samples/generated``, :data:`RELEASED` samples of the bundled GAN released through
    ``genaudit.wrap`` plus one copy with a pixel changed after signing (keys in ``out_dir/keys``)."""
    from .models import ModelError, load
    from .samples import write_demo_corpus

    samples = os.path.join(out_dir, "samples")
    if os.path.isdir(samples):
        shutil.rmtree(samples)
    written = tuple(write_demo_corpus(samples))
    gen_dir = os.path.join(samples, "generated")
    try:
        gan = load("gan-fmnist")
    except (ModelError, ImportError) as exc:
        return DemoFiles(samples, written, gen_dir, skipped=str(exc))
    key_dir = os.path.join(out_dir, "keys")
    keys, released = _release(gan, key_dir, gen_dir)
    return DemoFiles(samples, written, gen_dir, released=released, keys=keys, key_dir=key_dir)


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
