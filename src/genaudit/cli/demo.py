"""``genaudit demo``: sample files (and broken ones) plus a release, scanned end to end."""

from __future__ import annotations

import os

import click

from .output import EXIT_OK, Progress, print_summary


@click.command("demo")
@click.option("--out", "out_dir", default="genaudit-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the sample images and the report: new, empty, or made by an earlier demo"
                   " (then rewritten; a folder holding anything else is refused).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Worker processes; 0 = one per core.")
def demo_cmd(out_dir: str, jobs: int) -> int:
    """Make a folder of real sample images (and some broken files), scan it, print the report path."""
    from ..audit import Auditor
    from ..demo import RELEASED, REPORT_DIR, prepare_demo

    demo = prepare_demo(out_dir)
    click.echo(f"genaudit demo: wrote {len(demo.written)} sample files to {demo.samples_dir}", err=True)
    if demo.skipped:
        click.echo(f"genaudit demo: skipping the release demo ({demo.skipped})", err=True)
    else:
        click.echo(f"genaudit demo: released {RELEASED} GAN samples (watermarked, audited, C2PA-signed with a"
                   f" development chain) to {demo.release_dir}; keys in {demo.key_dir}", err=True)
    report_dir = os.path.join(out_dir, REPORT_DIR)
    cfg = demo.audit_config(report_dir, jobs)
    progress = Progress(enabled=True)
    try:
        report = Auditor(cfg).scan([demo.samples_dir], report_dir=report_dir, progress=progress)
    finally:
        progress.close()
    print_summary(report, report_dir, cfg.formats, limit=None)
    if not demo.skipped:
        from ..demo import BIAS_PER_CLASS, bias_demo

        click.echo(f"genaudit demo: bias audit of gan-fmnist ({BIAS_PER_CLASS} samples per class) with the"
                   " project's CLIP …", err=True)
        doc = bias_demo(out_dir)
        cls = doc["attributes"]["class"]
        tv = cls["disparity"]["(all)"]["total_variation"]
        click.echo(f"bias: CLIP labels agree with the class asked for on"
                   f" {doc['demo']['label_agrees_with_requested_class']:.0%} of {doc['n_images']} samples;"
                   f" {cls['overall']['abstained']} abstained; class distribution vs uniform: total variation"
                   f" {tv['value']:.3f} [{tv['ci_low']:.3f}, {tv['ci_high']:.3f}]"
                   f" -> {os.path.join(report_dir, 'bias.json')}")
    return EXIT_OK
