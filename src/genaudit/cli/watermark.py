"""``genaudit watermark keygen|embed|verify``."""

from __future__ import annotations

from typing import Any

import click

from .output import EXIT_OK, FileResults, json_option

EMBED_FAILED = "embed_failed"
"""Error code of ``watermark embed`` for a readable image the method cannot mark (too small, …)."""


@click.group("watermark")
def watermark_group() -> None:
    """Invisible watermarks: make a key, embed, verify."""


@watermark_group.command("keygen")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Key file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def watermark_keygen(out: str, force: bool) -> int:
    """Write a new random 256-bit watermark key (mode 0600). Keep it secret."""
    from ..io import refuse_existing
    from ..watermark import generate_key, save_key

    refuse_existing([out], force)
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
@click.option("--force", is_flag=True, help="Overwrite outputs that already exist.")
@json_option
def watermark_embed(inputs: tuple[str, ...], out_dir: str, key_file: str, method: str, payload: str | None,
                    psnr: float | None, force: bool, as_json: bool) -> int:
    """Watermark images; writes PNGs (greyscale and alpha kept) named like the inputs, with the
    input folders' tree mirrored under OUT. Refuses to overwrite existing outputs without --force.
    Exit 0 when every input was written, 1 otherwise."""
    from ..errors import ImageLoadError
    from ..io import open_image, plan_outputs, write_png
    from ..watermark import METHODS, WatermarkError, embed, format_payload, load_key, parse_payload

    _check_method(method, METHODS)
    key = load_key(key_file)
    value = parse_payload(payload)
    params = {"psnr": psnr} if psnr is not None else None
    out = FileResults(as_json)
    for planned in plan_outputs(inputs, out_dir, suffix=".png", force=force, ignored=out.ignored):
        path, dest = planned.path, planned.output
        if planned.error is not None or dest is None:
            out.error(path, *planned.code_message())
            continue
        try:
            marked = embed(open_image(path), key, value, method, params=params)
        except ImageLoadError as exc:
            out.error(path, exc.code, exc.message)
            continue
        except WatermarkError as exc:
            out.error(path, EMBED_FAILED, str(exc))
            continue
        write_png(dest, marked)
        out.result({"path": path, "status": "written", "output": dest, "method": method, "key_id": key.key_id,
                    "payload": format_payload(value)}, f"{path} -> {dest}")
    return out.finish(inputs)


@watermark_group.command("verify")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--key-file", required=True, type=click.Path(dir_okay=False))
@click.option("--method", default="tiled", show_default=True, help="tiled, dwtDct, dwtDctSvd or rivaGan.")
@click.option("--fpr", type=float, default=1e-6, show_default=True, help="False-positive rate of the decision.")
@json_option
def watermark_verify(inputs: tuple[str, ...], key_file: str, method: str, fpr: float, as_json: bool) -> int:
    """Test images for the key's watermark. Exit 0 when every input carries it, 1 otherwise."""
    from ..errors import ImageLoadError
    from ..io import open_image
    from ..watermark import METHODS, load_key, verify

    _check_method(method, METHODS)
    if not 0 < fpr < 1:
        raise click.BadParameter("must be between 0 and 1", param_hint="--fpr")
    key = load_key(key_file)
    out = FileResults(as_json)
    for path in out.readable(inputs, detected=False):
        try:
            result = verify(open_image(path), key, method, fpr=fpr)
        except ImageLoadError as exc:
            out.error(path, exc.code, exc.message, detected=False)
            continue
        out.result({"path": path, **result.to_dict()}, _verify_line(path, result), good=result.detected)
    return out.finish(inputs)


def _check_method(method: str, methods: tuple[str, ...]) -> None:
    if method not in methods:
        raise click.BadParameter(f"unknown method {method!r}; choose from {', '.join(methods)}", param_hint="--method")


def _verify_line(path: str, r: Any) -> str:
    if r.status == "skipped":
        return f"{path}: skipped: {r.reason}"
    extra = f", payload {r.payload}" if r.payload else ""
    return (f"{path}: {'DETECTED' if r.detected else 'not detected'} (p={r.p_value:.3g}, check-bit accuracy"
            f" {r.bit_accuracy:.2f}{extra})")
