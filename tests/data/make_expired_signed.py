"""Make ``expired_signed.png`` and ``expired_signed_root.pem``: a PNG signed with a development
chain whose signing certificate expired two seconds after it signed.

The C2PA SDK checks a certificate against the real clock both when it signs (it refuses an expired
one) and when it reads, so a file "signed while valid, read after expiry" cannot be made inside a
test without waiting; this file is made once, here, and read by
``tests/unit/test_provenance.py::test_certificate_expired_after_signing_reads_invalid``.
The chain's validity window is set through ``create_dev_chain``'s clock; the private key is not kept.

    PYTHONPATH=src python tests/data/make_expired_signed.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from genaudit.provenance.c2pa import ManifestSpec, SignerConfig, encode_image, read_manifest, sign_bytes
from genaudit.provenance.certs import create_dev_chain, utc_now

HERE = Path(__file__).resolve().parent
IMAGE, ROOT = HERE / "expired_signed.png", HERE / "expired_signed_root.pem"
SPEC = ManifestSpec(title="expired", model_id="expired-cert-fixture", model_version="1")


def main() -> None:
    signed_at = utc_now()
    # valid from five minutes before the clock's "now" for five minutes and two seconds
    chain = create_dev_chain("genaudit expired fixture", valid_for=dt.timedelta(minutes=5, seconds=2),
                             clock=lambda: signed_at)
    ramp = np.linspace(0, 255, 48, dtype=np.uint8)
    pixels = np.stack([np.tile(ramp, (48, 1)), np.tile(ramp[:, None], (1, 48)), np.full((48, 48), 90, np.uint8)], -1)
    signed = sign_bytes(encode_image(pixels), SignerConfig(chain.chain_pem, chain.private_key_pem), SPEC)
    assert read_manifest(signed, trust_anchors=chain.root_cert_pem.decode()).status == "valid_trusted"
    IMAGE.write_bytes(signed)
    ROOT.write_bytes(chain.root_cert_pem)
    print(f"wrote {IMAGE.name} ({len(signed)} bytes) and {ROOT.name}; signed {signed_at:%Y-%m-%d %H:%M:%S} UTC,"
          " the signing certificate expires 2 s later")


if __name__ == "__main__":
    main()
