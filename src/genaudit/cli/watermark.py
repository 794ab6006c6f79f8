"""``genaudit watermark keygen|embed|verify``."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from .output import EXIT_FINDINGS, EXIT_OK, image_inputs


@click.group("watermark")
def watermark_group() -> None:
    """Invisible watermarks: make a key, embed, verify."""


@watermark_group.command("keygen")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Key file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def watermark_keygen(out: str, force: bool) -> int:
    """Write a new random 256-bit watermark key (mode 0600). Keep it secret."""
    from ..watermark import generate_key, save_key

    key = generate_key()
    save_key(key, out, overwrite=force)
    click.echo(f"wrote key {key.key_id} to {out}")
    return EXIT_OK


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
    from ..errors import ImageLoadError
    from ..io import open_image, write_png
    from ..watermark import METHODS, WatermarkError, embed, load_key, parse_payload

    if method not in METHODS:
        raise click.BadParameter(f"unknown method {method!r}; choose from {', '.join(METHODS)}", param_hint="--method")
    key = load_key(key_file)
    value = parse_payload(payload)
    params = {"psnr": psnr} if psnr is not None else None
    failures = 0
    for item in image_inputs(inputs):
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
    from ..errors import ImageLoadError
    from ..io import open_image
    from ..watermark import METHODS, load_key, verify

    if method not in METHODS:
        raise click.BadParameter(f"unknown method {method!r}; choose from {', '.join(METHODS)}", param_hint="--method")
    if not 0 < fpr < 1:
        raise click.BadParameter("must be between 0 and 1", param_hint="--fpr")
    key = load_key(key_file)
    all_detected = True
    for item in image_inputs(inputs):
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
