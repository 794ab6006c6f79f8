"""Command-line interface: a thin layer over the Python API.

Exit codes: 0 clean; 1 findings or file/check errors (per ``--fail-on``); 2 usage or
configuration error (one line on stderr, no traceback); 3 internal error (a bug).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from ._version import __version__
from .errors import ConfigError, GenauditError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _err(message: str) -> None:
    click.echo(f"genaudit: error: {message}", err=True)


class _Progress:
    """Progress on stderr: a live bar on a terminal, a line every 10 s otherwise."""

    def __init__(self, enabled: bool, label: str = "scanning") -> None:
        self.enabled = enabled
        self.label = label
        self.tty = sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._t0 = self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            if self._bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

                self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                     MofNCompleteColumn(), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=True)
                self._bar.start()
                self._task = self._bar.add_task(self.label, total=total)
            self._bar.update(self._task, completed=done, total=total)
        else:
            now = time.monotonic()
            if now - self._last >= 10.0 and done < total:
                self._last = now
                rate = done / max(now - self._t0, 1e-9)
                click.echo(f"genaudit: {self.label} {done}/{total} files ({rate:.0f} files/s)", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _parse_option(text: str) -> tuple[str, str, Any]:
    """``check.key=value`` → (check, key, value); the value is JSON if it parses, else a string."""
    name, sep, raw = text.partition("=")
    check, dot, key = name.strip().partition(".")
    if not sep or not dot or not check or not key:
        raise click.BadParameter(f"expected CHECK.KEY=VALUE, got {text!r}", param_hint="--option")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return check, key, value


def _load_config(config_file: str | None) -> Any:
    from .config import AuditConfig

    if config_file:
        return AuditConfig.from_pyproject(config_file)
    return AuditConfig.discover()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="genaudit")
def cli() -> None:
    """genaudit: audit generated images and prove where they came from."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--checks", "checks", help="Comma-separated checks to run (see `genaudit checks`).")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Where reports go [genaudit-report].")
@click.option("--format", "formats", help="Report formats, comma-separated: json,md [json,md].")
@click.option("--jobs", "-j", type=click.IntRange(min=0), help="Worker processes; 0 = one per core [0].")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per batch [16].")
@click.option("--resume", is_flag=True, default=None, help="Reuse finished files from results.jsonl.")
@click.option("--fail-on", help="Exit 1 on: findings, errors, both (comma-separated) or never [findings,errors].")
@click.option("--exclude", multiple=True, help="Glob pattern to leave out of folder walks (repeatable).")
@click.option("--max-pixels", type=click.IntRange(min=1), help="Refuse images declaring more pixels.")
@click.option("--max-file-bytes", type=click.IntRange(min=1), help="Refuse files larger than this.")
@click.option("--option", "-O", "options", multiple=True, metavar="CHECK.KEY=VALUE",
              help="Set a check option, e.g. -O phash.hashes=phash,dhash,whash (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Read [tool.genaudit] from this TOML file instead of ./pyproject.toml.")
@click.option("--watermark-key-file", type=click.Path(dir_okay=False),
              help="Watermark key: runs the watermark check (added to the checks unless --checks is given).")
@click.option("--index", "index_file", type=click.Path(dir_okay=False),
              help="Training-set hash index (genaudit index build): runs the memorization check"
                   " (added to the checks unless --checks is given).")
@click.option("--trust-anchors", type=click.Path(dir_okay=False),
              help="PEM trust anchors for C2PA manifests: runs the provenance check"
                   " (added to the checks unless --checks is given).")
@click.option("--quiet", "-q", is_flag=True, default=None, help="No progress and no summary on the terminal.")
def scan(paths: tuple[str, ...], checks: str | None, report_dir: str | None, formats: str | None,
         jobs: int | None, batch_size: int | None, resume: bool | None, fail_on: str | None,
         exclude: tuple[str, ...], max_pixels: int | None, max_file_bytes: int | None,
         options: tuple[str, ...], config_file: str | None, watermark_key_file: str | None,
         index_file: str | None, trust_anchors: str | None, quiet: bool | None) -> int:
    """Scan image files and folders; write report.json and report.md."""
    from .audit import Auditor

    cfg = _load_config(config_file)
    user_checks = checks
    # Shortcut options: each sets its check's option and adds the check unless --checks was given.
    for path, check, key in ((watermark_key_file, "watermark", "key_file"), (index_file, "memorization", "index"),
                             (trust_anchors, "provenance", "trust_anchors")):
        if path:
            options = (*options, f"{check}.{key}={json.dumps(path)}")
            current = checks.split(",") if checks is not None else list(cfg.checks)
            if user_checks is None and check not in current:
                checks = ",".join((*current, check))
    overrides: dict[str, Any] = {}
    for key, value in (("checks", checks), ("report_dir", report_dir), ("formats", formats), ("jobs", jobs),
                       ("batch_size", batch_size), ("resume", resume), ("fail_on", fail_on),
                       ("max_pixels", max_pixels), ("max_file_bytes", max_file_bytes), ("quiet", quiet)):
        if value is not None:
            overrides[key] = value
    if exclude:
        overrides["exclude"] = tuple(cfg.exclude) + tuple(exclude)
    if options:
        merged = {k: dict(v) for k, v in cfg.options.items()}
        for text in options:
            check, key, value = _parse_option(text)
            merged.setdefault(check, {})[key] = value
        overrides["options"] = merged
    cfg = cfg.replace(**overrides) if overrides else cfg
    auditor = Auditor(cfg)
    progress = _Progress(enabled=not cfg.quiet)
    try:
        report = auditor.scan(list(paths), report_dir=cfg.report_dir, progress=progress)
    finally:
        progress.close()
    if not cfg.quiet:
        _print_summary(report, cfg.report_dir, cfg.formats)
    return report.exit_code(cfg.fail_on)


def _print_summary(report: Any, report_dir: str, formats: tuple[str, ...]) -> None:
    s = report.summary
    parts = [f"{s.files} files", f"{s.ok} ok", f"{s.errors} file errors", f"{s.with_findings} with findings"]
    click.echo(f"genaudit: scanned {', '.join(parts)} in {report.run.duration_s:.1f} s"
               + (f" ({report.run.resumed_files} reused from the previous run)" if report.run.resumed_files else ""),
               err=True)
    for name, counts in s.statuses.items():
        click.echo(f"  {name:<14} " + "  ".join(f"{k} {v}" for k, v in counts.items()), err=True)
    if s.error_codes:
        click.echo("  file errors:   " + ", ".join(f"{k} {v}" for k, v in s.error_codes.items()), err=True)
    ext = {"json": "report.json", "md": "report.md"}
    for f in formats:
        click.echo(f"report: {os.path.join(report_dir, ext[f])}")


@cli.command("checks")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def checks_cmd(as_json: bool) -> int:
    """List the available checks."""
    from .registry import list_checks

    specs = list_checks()
    if as_json:
        click.echo(json.dumps([{"name": s.name, "description": s.description} for s in specs], indent=2))
    else:
        width = max(len(s.name) for s in specs)
        for s in specs:
            click.echo(f"{s.name:<{width}}  {s.description}")
    return EXIT_OK


@cli.command()
@click.option("--out", "out_dir", default="genaudit-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the sample images and the report.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Worker processes; 0 = one per core.")
def demo(out_dir: str, jobs: int) -> int:
    """Make a folder of real sample images (and some broken files), scan it, print the report path."""
    import shutil

    from .audit import Auditor
    from .config import AuditConfig
    from .samples import write_demo_corpus

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
    progress = _Progress(enabled=True)
    try:
        report = Auditor(cfg).scan([samples], report_dir=report_dir, progress=progress)
    finally:
        progress.close()
    _print_summary(report, report_dir, cfg.formats)
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
    from .models import ModelError, load
    from .provenance.c2pa import SignerConfig
    from .provenance.certs import create_dev_chain, write_dev_chain
    from .release import wrap
    from .watermark import generate_key, save_key

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

    from .io import encode_png

    img = Image.open(io.BytesIO(released[0].data))
    img.load()
    px: Any = img.getpixel((0, 0))
    img.putpixel((0, 0), 255 - px if isinstance(px, int) else tuple(255 - int(v) for v in px))
    from .samples import replace_png_pixels

    with open(os.path.join(gen_dir, "edited-after-signing.png"), "wb") as fh:
        fh.write(replace_png_pixels(released[0].data, encode_png(img)))
    click.echo(f"genaudit demo: released {len(released)} GAN samples (watermarked, audited, C2PA-signed with a"
               f" development chain) to {gen_dir}; keys in {key_dir}", err=True)
    return paths


@cli.group()
def models() -> None:
    """Bundled reference generators (Fashion-MNIST GAN, VAE, DDPM)."""


@models.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list evaluation classifiers.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_list(show_all: bool, as_json: bool) -> int:
    """List the bundled models with their checkpoint sha256 and training facts."""
    from .models import list_models

    infos = list_models(include_classifiers=show_all)
    if as_json:
        click.echo(json.dumps([{"name": m.name, "arch": m.arch, "file": m.file, "sha256": m.sha256,
                                "description": m.description, "sampler": m.sampler,
                                "parameters": m.meta.get("parameters"), "steps": m.meta.get("steps"),
                                "hardware": m.meta.get("hardware")} for m in infos], indent=2))
        return EXIT_OK
    for m in infos:
        params = m.meta.get("parameters")
        click.echo(f"{m.name:<22} {m.arch:<10} {(params or 0) / 1e6:5.2f}M params  sha256 {m.sha256[:12]}  "
                   f"{m.description}")
    return EXIT_OK


@models.command("sample")
@click.argument("name")
@click.option("-n", "count", type=click.IntRange(min=1), default=10, show_default=True, help="Number of images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--labels", help="Comma-separated class labels, cycled over the samples (default: all classes).")
@click.option("--batch-size", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), help="DDPM: sampling steps (DDIM).")
@click.option("--guidance", type=float, help="DDPM: classifier-free guidance scale.")
def models_sample(name: str, count: int, seed: int, out_dir: str, labels: str | None, batch_size: int,
                  steps: int | None, guidance: float | None) -> int:
    """Sample a bundled generator into PNG files (label, seed and model recorded in text chunks)."""
    from .models import load

    gen = load(name)
    ys: list[int] | None = None
    if labels:
        try:
            cycle = [int(v) for v in labels.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected integers, got {labels!r}", param_hint="--labels") from None
        if not cycle:
            raise click.BadParameter("no labels given", param_hint="--labels")
        ys = [cycle[i % len(cycle)] for i in range(count)]
    sampler = {k: v for k, v in (("steps", steps), ("guidance", guidance)) if v is not None}
    if sampler and gen.info.arch != "ddpm":
        raise click.BadParameter(f"--steps/--guidance apply to DDPM models, not {gen.info.arch}")
    try:
        out = gen.sample(count, labels=ys, seed=seed, batch_size=batch_size, **sampler)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    out.save(out_dir)
    click.echo(f"wrote {count} images to {out_dir}")
    return EXIT_OK


@cli.group("watermark")
def watermark_group() -> None:
    """Invisible watermarks: make a key, embed, verify."""


@watermark_group.command("keygen")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Key file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def watermark_keygen(out: str, force: bool) -> int:
    """Write a new random 256-bit watermark key (mode 0600). Keep it secret."""
    from .watermark import generate_key, save_key

    key = generate_key()
    save_key(key, out, overwrite=force)
    click.echo(f"wrote key {key.key_id} to {out}")
    return EXIT_OK


def _image_inputs(paths: tuple[str, ...]) -> list[Any]:
    from .io import iter_inputs

    return list(iter_inputs(paths))


@watermark_group.command("embed")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--key-file", required=True, type=click.Path(dir_okay=False))
@click.option("--method", default="tiled", show_default=True, help="tiled, dwtDct, dwtDctSvd or rivaGan.")
@click.option("--payload", help="32-bit payload as hex (tiled method), e.g. c0ffee42.")
@click.option("--psnr", type=float, help="Target PSNR in dB (tiled method) [38.3, measured after clipping].")
def watermark_embed(inputs: tuple[str, ...], out_dir: str, key_file: str, method: str, payload: str | None,
                    psnr: float | None) -> int:
    """Watermark images; writes PNGs (greyscale and alpha kept) named like the inputs."""
    from .errors import ImageLoadError
    from .io import open_image, write_png
    from .watermark import METHODS, WatermarkError, embed, load_key, parse_payload

    if method not in METHODS:
        raise click.BadParameter(f"unknown method {method!r}; choose from {', '.join(METHODS)}", param_hint="--method")
    key = load_key(key_file)
    value = parse_payload(payload)
    params = {"psnr": psnr} if psnr is not None else None
    failures = 0
    for item in _image_inputs(inputs):
        name = os.path.splitext(os.path.basename(item.path))[0] + ".png"
        if item.error is not None:
            click.echo(f"error: {item.path}: {item.error.code}: {item.error.message}", err=True)
            failures += 1
            continue
        try:
            img = open_image(item.path)
            marked = embed(img, key, value, method, params=params)
        except ImageLoadError as exc:
            click.echo(f"error: {item.path}: {exc.code}: {exc.message}", err=True)
            failures += 1
            continue
        except WatermarkError as exc:
            click.echo(f"error: {item.path}: {exc}", err=True)
            failures += 1
            continue
        dest = write_png(os.path.join(out_dir, name), marked)
        click.echo(f"{item.path} -> {dest}")
    return EXIT_FINDINGS if failures else EXIT_OK


@watermark_group.command("verify")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--key-file", required=True, type=click.Path(dir_okay=False))
@click.option("--method", default="tiled", show_default=True, help="tiled, dwtDct, dwtDctSvd or rivaGan.")
@click.option("--fpr", type=float, default=1e-6, show_default=True, help="False-positive rate of the decision.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input on stdout.")
def watermark_verify(inputs: tuple[str, ...], key_file: str, method: str, fpr: float, as_json: bool) -> int:
    """Test images for the key's watermark. Exit 0 when every input carries it, 1 otherwise."""
    from .errors import ImageLoadError
    from .io import open_image
    from .watermark import METHODS, load_key, verify

    if method not in METHODS:
        raise click.BadParameter(f"unknown method {method!r}; choose from {', '.join(METHODS)}", param_hint="--method")
    if not 0 < fpr < 1:
        raise click.BadParameter("must be between 0 and 1", param_hint="--fpr")
    key = load_key(key_file)
    all_detected = True
    for item in _image_inputs(inputs):
        doc: dict[str, Any] = {"path": item.path}
        try:
            if item.error is not None:
                raise ImageLoadError(item.error.code, item.error.message)
            result = verify(open_image(item.path), key, method, fpr=fpr)
            doc.update(result.to_dict())
            all_detected &= result.detected
        except ImageLoadError as exc:
            doc.update({"detected": False, "status": "error", "error": {"code": exc.code, "message": exc.message}})
            all_detected = False
        if as_json:
            click.echo(json.dumps(doc))
        elif doc.get("status") == "error":
            click.echo(f"{item.path}: error {doc['error']['code']}: {doc['error']['message']}")
        elif doc["status"] == "skipped":
            click.echo(f"{item.path}: skipped: {doc['reason']}")
        else:
            verdict = "DETECTED" if doc["detected"] else "not detected"
            extra = f", payload {doc['payload']}" if doc.get("payload") else ""
            click.echo(f"{item.path}: {verdict} (p={doc['p_value']:.3g}, check-bit accuracy"
                       f" {doc['bit_accuracy']:.2f}{extra})")
    return EXIT_OK if all_detected else EXIT_FINDINGS


@cli.group("keys")
def keys_group() -> None:
    """Signing keys and certificates for C2PA manifests."""


@keys_group.command("init")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--organization", default="genaudit development", show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True, help="Validity in days.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def keys_init(out_dir: str, organization: str, days: int, force: bool) -> int:
    """Create a DEVELOPMENT certificate chain (root CA + ES256 signer). Not for production."""
    from .provenance.certs import DEV_LABEL, create_dev_chain, write_dev_chain

    existing = [f for f in ("root.pem", "chain.pem", "signer.key") if os.path.exists(os.path.join(out_dir, f))]
    if existing and not force:
        raise click.UsageError(f"{out_dir} already holds {', '.join(existing)}; use --force to overwrite")
    paths = write_dev_chain(out_dir, create_dev_chain(organization, valid_days=days))
    click.echo(f"{DEV_LABEL}\n  trust anchor: {paths['root']}\n  chain: {paths['chain']}\n  key: {paths['key']}")
    return EXIT_OK


@cli.command("sign")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--cert", required=True, type=click.Path(dir_okay=False), help="PEM chain, signing certificate first.")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False), help="PEM private key.")
@click.option("--model-id", help="The generator that made the images (recorded as softwareAgent).")
@click.option("--model-version", help="Its version.")
@click.option("--checks", default="metadata,phash", show_default=True,
              help="Checks whose results go into the audit assertion ('none' for no audit).")
@click.option("--watermark-key-file", type=click.Path(dir_okay=False),
              help="Verify this key's watermark and record a soft binding when it is present.")
@click.option("--training-mining", type=click.Choice(["notAllowed", "allowed", "constrained"]),
              default="notAllowed", show_default=True, help="CAWG training and data-mining policy.")
@click.option("--thumbnail", is_flag=True, help="Embed a claim thumbnail (off by default).")
@click.option("--tsa-url", help="RFC 3161 timestamp authority (default: none, offline).")
def sign_cmd(inputs: tuple[str, ...], out_dir: str, cert: str, key_file: str, model_id: str | None,
             model_version: str | None, checks: str, watermark_key_file: str | None, training_mining: str,
             thumbnail: bool, tsa_url: str | None) -> int:
    """Sign images with a C2PA manifest marking them AI-generated; files keep their names and format."""
    from .provenance.c2pa import SignerConfig
    from .release import sign_files
    from .watermark import load_key

    signer = SignerConfig.from_files(cert, key_file, tsa_url=tsa_url)
    wkey = load_key(watermark_key_file) if watermark_key_file else None
    failures = 0
    for r in sign_files(inputs, out_dir, signer, model_id=model_id, model_version=model_version,
                        checks=[c.strip() for c in checks.split(",")], watermark_key=wkey,
                        training_mining=training_mining, thumbnail=thumbnail):
        if r.error is not None:
            click.echo(f"error: {r.path}: {r.error.code}: {r.error.message}", err=True)
            failures += 1
            continue
        click.echo(f"{r.path} -> {r.output} (+{r.bytes_added} bytes"
                   + (", watermark soft binding" if r.watermark else "") + ")")
    return EXIT_FINDINGS if failures else EXIT_OK


@cli.command("verify-manifest")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--trust-anchors", type=click.Path(dir_okay=False), help="PEM file of trusted root certificates.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input on stdout.")
def verify_manifest(inputs: tuple[str, ...], trust_anchors: str | None, as_json: bool) -> int:
    """Read and validate C2PA manifests. Exit 0 when every input is valid (trusted when anchors are
    given), 1 otherwise."""
    from .provenance.c2pa import load_trust_anchors, read_manifest

    anchors = load_trust_anchors(trust_anchors) if trust_anchors else None
    all_good = True
    for item in _image_inputs(inputs):
        if item.error is not None:
            doc: dict[str, Any] = {"path": item.path, "status": "error", "codes": [f"genaudit.{item.error.code}"],
                                   "reason": item.error.message}
        else:
            doc = {"path": item.path, **read_manifest(item.path, trust_anchors=anchors).to_dict()}
        good = doc["status"] == "valid_trusted" or (anchors is None and doc["status"] == "valid_untrusted")
        all_good &= good
        if as_json:
            click.echo(json.dumps(doc))
            continue
        line = f"{item.path}: {doc['status']}"
        if doc.get("codes"):
            line += f" [{', '.join(doc['codes'])}]"
        if doc["status"] in ("valid_trusted", "valid_untrusted"):
            gen = (doc.get("generator") or {}).get("name")
            line += (f"; AI-generated{' by ' + gen if gen else ''}" if doc.get("ai_generated") else "; no AI claim")
            if doc.get("training_mining"):
                line += f"; training: {sorted(set(doc['training_mining'].values()))[0]}"
            signer = doc.get("signer") or {}
            if signer.get("common_name"):
                line += f"; signed by {signer['common_name']}"
        elif doc.get("reason"):
            line += f": {doc['reason']}"
        click.echo(line)
    return EXIT_OK if all_good else EXIT_FINDINGS


@cli.group("index")
def index_group() -> None:
    """Perceptual-hash index of a training set: build, add, query (memorization checks)."""


def _families_opt(text: str) -> tuple[str, ...]:
    from .memorization.hashing import FAMILIES

    fams = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        raise click.BadParameter(f"choose from {', '.join(FAMILIES)}", param_hint="--hashes")
    return fams


def _build_into(sources: tuple[str, ...], index: Any, jobs: int, scheduler: str | None, quiet: bool) -> Any:
    from .memorization.build import build_index

    progress = _Progress(enabled=not quiet, label="hashing")
    try:
        _, report = build_index(list(sources), families=index.families, index=index, jobs=jobs,
                                scheduler=scheduler, progress=progress)
    except (FileNotFoundError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        progress.close()
    for path, code, message in report.errors:
        click.echo(f"{path}: error {code}: {message}", err=True)
    return report


@index_group.command("build")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Index file to write.")
@click.option("--hashes", default="phash", show_default=True, help="Hash families, comma-separated.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Dask worker processes; 0 = one per core.")
@click.option("--scheduler", help="Address of an existing Dask scheduler (default: an embedded local cluster).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def index_build(sources: tuple[str, ...], out: str, hashes: str, jobs: int, scheduler: str | None, quiet: bool) -> int:
    """Hash SOURCES (folders, image files, fashion-mnist:train|test, IDX files) into a new index."""
    from .memorization.index import TrainingIndex

    index = TrainingIndex(_families_opt(hashes))
    report = _build_into(sources, index, jobs, scheduler, quiet)
    index.save(out)
    click.echo(f"{out}: {len(index)} items ({', '.join(index.families)}), {len(report.errors)} files refused,"
               f" {report.seconds:.1f} s on {report.scheduler}")
    return EXIT_FINDINGS if report.errors else EXIT_OK


@index_group.command("add")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("sources", nargs=-1, required=True)
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Dask worker processes; 0 = one per core.")
@click.option("--scheduler", help="Address of an existing Dask scheduler.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def index_add(index_file: str, sources: tuple[str, ...], jobs: int, scheduler: str | None, quiet: bool) -> int:
    """Add SOURCES to an existing index (written back in place, atomically)."""
    from .memorization.index import TrainingIndex

    index = TrainingIndex.load(index_file)
    before = len(index)
    report = _build_into(sources, index, jobs, scheduler, quiet)
    index.save(index_file)
    click.echo(f"{index_file}: {before} + {len(index) - before} = {len(index)} items,"
               f" {len(report.errors)} files refused")
    return EXIT_FINDINGS if report.errors else EXIT_OK


@index_group.command("query")
@click.argument("index_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--radius", type=click.IntRange(0, 64), default=8, show_default=True,
              help="Report training items within this many bits (first hash family).")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Also report the k nearest items, whatever their distance.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout.")
def index_query(index_file: str, images: tuple[str, ...], radius: int, k: int, as_json: bool) -> int:
    """Find training items near IMAGES. Exit 1 when any image has a match within --radius (or errors)."""
    from .errors import ImageLoadError
    from .io import open_image
    from .memorization.hashing import hash_images, to_hex
    from .memorization.index import TrainingIndex

    index = TrainingIndex.load(index_file)
    family = index.families[0]
    hamming = index.indexes[family]
    any_hit = False
    for item in _image_inputs(images):
        doc: dict[str, Any] = {"path": item.path, "family": family}
        try:
            if item.error is not None:
                raise ImageLoadError(item.error.code, item.error.message)
            code = hash_images([open_image(item.path).pil], family)
            ids, dists = hamming.radius_search(code[0], radius)
            nn_ids, nn_d = hamming.knn(code, k)
            doc.update({"hash": to_hex(code[0]), "radius": radius,
                        "matches": [{"id": int(i), "source": index.sources[i], "distance": int(d)}
                                    for i, d in zip(ids, dists, strict=True)],
                        "nearest": [{"id": int(i), "source": index.sources[i], "distance": int(d)}
                                    for i, d in zip(nn_ids[0], nn_d[0], strict=True) if i >= 0]})
            any_hit |= bool(len(ids))
        except ImageLoadError as exc:
            doc.update({"status": "error", "error": {"code": exc.code, "message": exc.message}})
            any_hit = True
        if as_json:
            click.echo(json.dumps(doc))
        elif doc.get("status") == "error":
            click.echo(f"{item.path}: error {doc['error']['code']}: {doc['error']['message']}")
        else:
            best = doc["nearest"][0] if doc["nearest"] else None
            click.echo(f"{item.path}: {len(doc['matches'])} within {radius} bits"
                       + (f"; nearest {best['source']} at {best['distance']}" if best else ""))
    return EXIT_FINDINGS if any_hit else EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and turns every failure into a one-line message + exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rv = cli.main(args=args, prog_name="genaudit", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        _err(exc.format_message().strip().splitlines()[0] if exc.format_message().strip() else "usage error")
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        _err("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        _err(exc.format_message())
        sys.exit(EXIT_USAGE)
    except (ConfigError, GenauditError) as exc:
        _err(str(exc))
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        _err("interrupted; re-run with --resume to continue")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GENAUDIT_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set GENAUDIT_DEBUG=1 for a traceback)")
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)
