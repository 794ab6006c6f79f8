"""``genaudit demo``: sample files (and broken ones) plus a release, scanned end to end."""

from __future__ import annotations

import os
from typing import Any

import click

from .output import EXIT_OK, Progress, print_summary


@click.command("demo")
@click.option("--out", "out_dir", default="genaudit-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the sample images and the report.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Worker processes; 0 = one per core.")
def demo_cmd(out_dir: str, jobs: int) -> int:
    """Make a folder of real sample images (and some broken files), scan it, print the report path."""
    import shutil

    from ..audit import Auditor
    from ..config import AuditConfig
    from ..samples import write_demo_corpus

    samples = os.path.join(out_dir, "samples")
    if os.path.isdir(samples):
        shutil.rmtree(samples)
    written = write_demo_corpus(samples)
    click.echo(f"genaudit demo: wrote {len(written)} sample files to {samples}", err=True)
    keys = _demo_release(out_dir, os.path.join(samples, "generated"))
    report_dir = os.path.join(out_dir, "report")
    cfg = AuditConfig(jobs=jobs, report_dir=report_dir,
                      checks=("metadata", "phash", "watermark", "provenance") if keys else ("metadata", "phash"),
                      options={"watermark": {"key_file": keys["watermark"]},
                               "provenance": {"trust_anchors": keys["root"]}} if keys else {})
    progress = Progress(enabled=True)
    try:
        report = Auditor(cfg).scan([samples], report_dir=report_dir, progress=progress)
    finally:
        progress.close()
    print_summary(report, report_dir, cfg.formats)
    for f in report.files:
        if f.has_findings:
            click.echo(f"  finding: {f.path}: " + "; ".join(r.summary for r in f.checks if r.status == "finding"),
                       err=True)
        elif f.error is not None:
            click.echo(f"  error:   {f.path}: {f.error.code}: {f.error.message}", err=True)
    return EXIT_OK


def _demo_release(out_dir: str, gen_dir: str) -> dict[str, str] | None:
    """Release 4 samples of the bundled GAN through ``genaudit.wrap`` (watermark + audit + C2PA
    signature with a development chain), plus one copy with a pixel changed after signing.
    Returns the key paths, or ``None`` (with a message) when the models are not available."""
    from ..models import ModelError, load
    from ..provenance.c2pa import SignerConfig
    from ..provenance.certs import create_dev_chain, write_dev_chain
    from ..release import wrap
    from ..watermark import generate_key, save_key

    try:
        gan = load("gan-fmnist")
    except (ModelError, ImportError) as exc:
        click.echo(f"genaudit demo: skipping the release demo ({exc})", err=True)
        return None
    key_dir = os.path.join(out_dir, "keys")
    chain = create_dev_chain("genaudit demo")
    paths = write_dev_chain(key_dir, chain)
    wm_key = generate_key()
    paths["watermark"] = save_key(wm_key, os.path.join(key_dir, "watermark.key"), overwrite=True)
    released = wrap(gan, watermark_key=wm_key, signer=SignerConfig(chain.chain_pem, chain.private_key_pem),
                    size=256).sample(4, seed=0, out_dir=gen_dir, prefix="gan-fmnist")
    # what a careless edit after signing looks like: same file, one pixel changed
    import io

    from PIL import Image

    from ..io import encode_png

    img = Image.open(io.BytesIO(released[0].data))
    img.load()
    px: Any = img.getpixel((0, 0))
    img.putpixel((0, 0), 255 - px if isinstance(px, int) else tuple(255 - int(v) for v in px))
    from ..samples import replace_png_pixels

    with open(os.path.join(gen_dir, "edited-after-signing.png"), "wb") as fh:
        fh.write(replace_png_pixels(released[0].data, encode_png(img)))
    click.echo(f"genaudit demo: released {len(released)} GAN samples (watermarked, audited, C2PA-signed with a"
               f" development chain) to {gen_dir}; keys in {key_dir}", err=True)
    return paths
