"""Cost of C2PA provenance: sign and verify milliseconds per image and bytes added, at 64², 512² and
1024², PNG and JPEG, with and without the claim thumbnail, in one run.

genaudit's ``sign_bytes`` builds the full genaudit manifest (created action, audit assertion,
watermark soft binding, CAWG training-mining) and checks the input format; the baseline is
c2pa-python called directly with a minimal manifest (one ``c2pa.created`` action), on the same
images and signer. Verification: ``read_manifest`` (validation against the dev root as trust
anchor, plus parsing the claims) vs the SDK's ``Reader`` + ``json()``. Medians over ``--repeats``.

    python benchmarks/provenance_overhead.py
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment, print_table, write_json
from genaudit.provenance.c2pa import DIGITAL_SOURCE_TYPE, ManifestSpec, SignerConfig, read_manifest, sign_bytes
from genaudit.provenance.certs import create_dev_chain
from genaudit.samples import photo_crops


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="64,512,1024")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", default="benchmarks/results/provenance_overhead.json")
    args = ap.parse_args()

    import c2pa
    from PIL import Image

    chain = create_dev_chain()
    signer = SignerConfig(chain.chain_pem, chain.private_key_pem)
    signer.validate()
    anchors = chain.root_cert_pem.decode()
    audit = {"metadata": {"status": "ok", "summary": "png 512x512 RGB", "data": {}},
             "phash": {"status": "ok", "summary": "", "data": {"phash": "8f3a11c0d2e4b697"}}}
    mark = {"method": "tiled", "key_id": "0123456789abcdef", "payload": "c0ffee42"}
    baseline_manifest = {"claim_generator_info": [{"name": "baseline", "version": "1"}],
                         "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                             {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE}]}}]}
    raw_ctx = {t: c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": t}}}) for t in (False, True)}
    read_ctx = c2pa.Context.from_dict({"verify": {"verify_trust": True}, "trust": {"trust_anchors": anchors}})

    def raw_sign(data: bytes, mime: str, thumb: bool) -> bytes:
        b = c2pa.Builder(baseline_manifest, context=raw_ctx[thumb])
        out = io.BytesIO()
        with c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain.chain_pem,
                                                       private_key=chain.private_key_pem, ta_url=None)) as s:
            b.sign(s, mime, io.BytesIO(data), out)
        b.close()
        return out.getvalue()

    def raw_read(data: bytes, mime: str) -> str:
        with c2pa.Reader(mime, io.BytesIO(data), context=read_ctx) as r:
            r.json()
            return str(r.get_validation_state())

    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        _, img = next(photo_crops(size, 1, seed=11))
        pil = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
        for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
            buf = io.BytesIO()
            pil.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            src = buf.getvalue()
            for thumb in (False, True):
                spec = ManifestSpec(title=f"x.{fmt.lower()}", model_id="ddpm-fmnist", model_version="1",
                                    audit=audit, watermark=mark, thumbnail=thumb)
                g_sign, signed = timed(lambda: sign_bytes(src, signer, spec, mime=mime), args.repeats)  # noqa: B023
                b_sign, bsigned = timed(lambda: raw_sign(src, mime, thumb), args.repeats)  # noqa: B023
                g_ver, rep = timed(lambda: read_manifest(signed, trust_anchors=anchors), args.repeats)  # noqa: B023
                b_ver, state = timed(lambda: raw_read(bsigned, mime), args.repeats)  # noqa: B023
                assert rep.status == "valid_trusted", rep
                assert state == "Trusted", state
                r = {"size": size, "format": fmt, "thumbnail": thumb, "input_bytes": len(src),
                     "genaudit_sign_ms": g_sign, "sdk_sign_ms": b_sign, "genaudit_verify_ms": g_ver,
                     "sdk_verify_ms": b_ver, "genaudit_overhead_bytes": len(signed) - len(src),
                     "sdk_overhead_bytes": len(bsigned) - len(src)}
                results.append(r)
                rows.append([f"{size}²", fmt, "on" if thumb else "off", f"{len(src):,}",
                             f"{g_sign:.1f}", f"{b_sign:.1f}", f"{g_sign / b_sign:.2f}",
                             f"{g_ver:.1f}", f"{b_ver:.1f}", f"{g_ver / b_ver:.2f}",
                             f"{r['genaudit_overhead_bytes']:,}", f"{r['sdk_overhead_bytes']:,}"])
                print(f"{size} {fmt} thumb={thumb}: sign {g_sign:.1f} ms, verify {g_ver:.1f} ms,"
                      f" +{r['genaudit_overhead_bytes']} B", file=sys.stderr)
    print_table(["size", "format", "thumbnail", "input bytes", "sign ms", "SDK sign ms", "ratio",
                 "verify ms", "SDK verify ms", "ratio", "+bytes genaudit", "+bytes SDK minimal"], rows)
    write_json(args.json, {"benchmark": "provenance_overhead", "environment": environment(),
                           "repeats": args.repeats, "results": results})


if __name__ == "__main__":
    main()
