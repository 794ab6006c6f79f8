"""Watermark keys: 256-bit secrets in small JSON files, and the key-derived random streams.

Every key-dependent choice of a watermark method (which frequencies carry what, their phases, the
check bits, the payload scrambling) comes from an HMAC-SHA256 stream of the secret with a label,
so methods and purposes never share randomness. ``key_id`` is a public fingerprint (it cannot be
turned back into the secret) for reports and manifests; the secret itself is never reported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import GenauditError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

KEY_FORMAT = "genaudit-watermark-key"
KEY_VERSION = 1


class WatermarkKeyError(GenauditError):
    """A key file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class WatermarkKey:
    """A secret watermark key. Create with :func:`generate_key`, persist with :func:`save_key`."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) < 16:
            raise WatermarkKeyError("a watermark key needs at least 16 secret bytes")

    @property
    def key_id(self) -> str:
        """A public 16-hex-digit fingerprint of the key."""
        return hashlib.sha256(b"genaudit-key-id:" + self.secret).hexdigest()[:16]

    def digest(self, label: str) -> bytes:
        return hmac.new(self.secret, label.encode("utf-8"), hashlib.sha256).digest()

    def rng(self, label: str) -> np.random.Generator:
        """A numpy generator seeded from HMAC(secret, label): independent for different labels."""
        import numpy as np

        return np.random.default_rng(np.random.SeedSequence(int.from_bytes(self.digest(label), "big")))

    @classmethod
    def from_passphrase(cls, passphrase: str) -> WatermarkKey:
        """A key derived from a passphrase (PBKDF2-SHA256); for tests and demos."""
        return cls(hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), b"genaudit-watermark", 100_000))


def generate_key() -> WatermarkKey:
    """A fresh random 256-bit key from the operating system's CSPRNG."""
    return WatermarkKey(secrets.token_bytes(32))


def save_key(key: WatermarkKey, path: str | os.PathLike[str], *, overwrite: bool = False) -> str:
    """Write ``key`` as JSON readable only by its owner (mode 0600)."""
    p = os.fspath(path)
    if os.path.exists(p) and not overwrite:
        raise WatermarkKeyError(f"refusing to overwrite {p}: it exists; use --force (overwrite=True) to replace"
                                " the key")
    doc = {"format": KEY_FORMAT, "version": KEY_VERSION, "key_id": key.key_id,
           "created": datetime.now(UTC).isoformat(timespec="seconds"), "secret": key.secret.hex()}
    os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when overwriting a file that had a wider mode
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    return p


def load_key(path: str | os.PathLike[str]) -> WatermarkKey:
    """Read a key file written by :func:`save_key` (``genaudit watermark keygen``). Anything else
    (a PEM certificate or key, a binary file, damaged JSON) is a :class:`WatermarkKeyError` with one
    line saying what the file is.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
    ...     _ = f.write("-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"); f.flush()
    ...     load_key(f.name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    genaudit.watermark.keys.WatermarkKeyError: watermark key file ....pem is a PEM certificate, not ...
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise WatermarkKeyError(f"watermark key file {p} does not exist") from None
    except OSError as exc:
        raise WatermarkKeyError(f"cannot read watermark key file {p}: {exc.strerror or exc}") from None
    make = "(make one with: genaudit watermark keygen -o KEY)"
    if b"-----BEGIN " in raw:
        kind = "private key" if b"PRIVATE KEY-----" in raw else "certificate" if b"CERTIFICATE-----" in raw else "file"
        raise WatermarkKeyError(f"watermark key file {p} is a PEM {kind}, not a genaudit watermark key {make}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise WatermarkKeyError(f"watermark key file {p} is a binary file, not a genaudit watermark key {make}") \
            from None
    except ValueError:
        raise WatermarkKeyError(f"watermark key file {p} is not JSON, so not a genaudit watermark key {make}") \
            from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise WatermarkKeyError(f"watermark key file {p} is not a genaudit watermark key"
                                f" (no \"format\": \"{KEY_FORMAT}\") {make}")
    if doc.get("version") != KEY_VERSION:
        raise WatermarkKeyError(f"watermark key file {p} has key version {doc.get('version')!r};"
                                f" this genaudit reads version {KEY_VERSION}")
    secret = doc.get("secret")
    if not isinstance(secret, str):
        raise WatermarkKeyError(f"watermark key file {p} has no \"secret\": the file is damaged")
    try:
        data = bytes.fromhex(secret)
    except ValueError:
        raise WatermarkKeyError(f"watermark key file {p} has a \"secret\" that is not hex digits:"
                                " the file is damaged") from None
    if len(data) < 16:
        raise WatermarkKeyError(f"watermark key file {p} has a \"secret\" of {len(data)} bytes; a key needs at"
                                " least 16")
    key = WatermarkKey(data)
    if doc.get("key_id") not in (None, key.key_id):
        raise WatermarkKeyError(f"watermark key file {p}: key_id does not match the secret (the file was edited"
                                " or damaged)")
    return key
