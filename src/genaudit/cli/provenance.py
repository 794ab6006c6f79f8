"""``genaudit keys init``, ``genaudit sign`` and ``genaudit verify-manifest``: C2PA provenance."""

from __future__ import annotations

import os
from typing import Any

import click

from .output import EXIT_OK, FileResults, json_option


@click.group("keys")
def keys_group() -> None:
    """Signing keys and certificates for C2PA manifests."""


@keys_group.command("init")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--organization", default="genaudit development", show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True, help="Validity in days.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def keys_init(out_dir: str, organization: str, days: int, force: bool) -> int:
    """Create a DEVELOPMENT certificate chain (root CA + ES256 signer). Not for production."""
    from ..io import refuse_existing
    from ..provenance.certs import DEV_LABEL, create_dev_chain, write_dev_chain

    refuse_existing([os.path.join(out_dir, f) for f in ("root.pem", "chain.pem", "signer.key")], force)
    paths = write_dev_chain(out_dir, create_dev_chain(organization, valid_days=days))
    click.echo(f"{DEV_LABEL}\n  trust anchor: {paths['root']}\n  chain: {paths['chain']}\n  key: {paths['key']}")
    return EXIT_OK


@click.command("sign")
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
@click.option("--force", is_flag=True, help="Overwrite outputs that already exist.")
@json_option
def sign_cmd(inputs: tuple[str, ...], out_dir: str, cert: str, key_file: str, model_id: str | None,
             model_version: str | None, checks: str, watermark_key_file: str | None, training_mining: str,
             thumbnail: bool, tsa_url: str | None, force: bool, as_json: bool) -> int:
    """Sign images with a C2PA manifest marking them AI-generated; files keep their names and format,
    with the input folders' tree mirrored under OUT. Refuses to overwrite existing outputs without
    --force. Exit 0 when every input was signed, 1 otherwise."""
    from ..provenance.c2pa import SignerConfig
    from ..release import sign_files
    from ..watermark import load_key

    signer = SignerConfig.from_files(cert, key_file, tsa_url=tsa_url)
    wkey = load_key(watermark_key_file) if watermark_key_file else None
    out = FileResults(as_json)
    for r in sign_files(inputs, out_dir, signer, model_id=model_id, model_version=model_version,
                        checks=[c.strip() for c in checks.split(",")], watermark_key=wkey,
                        training_mining=training_mining, thumbnail=thumbnail, force=force,
                        ignored=out.ignored):
        doc = r.to_dict()
        if r.error is not None:
            out.error(r.path, r.error.code, r.error.message,
                      **{k: v for k, v in doc.items() if k not in ("path", "status", "error")})
            continue
        out.result(doc, f"{r.path} -> {r.output} (+{r.bytes_added} bytes"
                        + (", watermark soft binding" if r.watermark else "") + ")")
    return out.finish(inputs)


@click.command("verify-manifest")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--trust-anchors", type=click.Path(dir_okay=False), help="PEM file of trusted root certificates.")
@json_option
def verify_manifest(inputs: tuple[str, ...], trust_anchors: str | None, as_json: bool) -> int:
    """Read and validate C2PA manifests. Exit 0 when every input is valid (trusted when anchors are
    given), 1 otherwise. A file whose manifest store cannot be read is a file error."""
    from ..errors import ImageLoadError
    from ..io import iter_inputs, read_file
    from ..provenance.c2pa import load_trust_anchors, read_manifest

    anchors = load_trust_anchors(trust_anchors) if trust_anchors else None
    out = FileResults(as_json)
    for item in iter_inputs(inputs, ignored=out.ignored):
        if item.error is not None:
            out.error(item.path, item.error.code, item.error.message, codes=[f"genaudit.{item.error.code}"],
                      reason=item.error.message)
            continue
        try:  # the loader's limits and file checks (never a FIFO, never over max_file_bytes)
            data = read_file(item.path)
        except ImageLoadError as exc:
            out.error(item.path, exc.code, exc.message, codes=[f"genaudit.{exc.code}"], reason=exc.message)
            continue
        doc = {"path": item.path, **read_manifest(data, trust_anchors=anchors).to_dict()}
        if doc["status"] == "error":  # the file or its manifest store cannot be read
            code = doc["codes"][0].removeprefix("genaudit.") if doc.get("codes") else "unreadable"
            out.error(item.path, code, doc.get("reason") or "", **{k: v for k, v in doc.items()
                                                                    if k not in ("path", "status")})
            continue
        good = doc["status"] == "valid_trusted" or (anchors is None and doc["status"] == "valid_untrusted")
        out.result(doc, _manifest_line(doc), good=good)
    return out.finish(inputs)


def _manifest_line(doc: dict[str, Any]) -> str:
    line = f"{doc['path']}: {doc['status']}"
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
    return line
