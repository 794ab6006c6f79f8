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
        raise WatermarkKeyError(f"{p} exists; refusing to overwrite a key")
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
    """Read a key file written by :func:`save_key` (``genaudit watermark keygen``)."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise WatermarkKeyError(f"watermark key file {p} does not exist") from None
    except (OSError, ValueError) as exc:
        raise WatermarkKeyError(f"watermark key file {p} is not readable JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise WatermarkKeyError(f"{p} is not a genaudit watermark key (no \"format\": \"{KEY_FORMAT}\")")
    if doc.get("version") != KEY_VERSION:
        raise WatermarkKeyError(
            f"{p} has key version {doc.get('version')!r}; this genaudit reads version {KEY_VERSION}")
    try:
        key = WatermarkKey(bytes.fromhex(str(doc["secret"])))
    except (KeyError, ValueError) as exc:
        raise WatermarkKeyError(f"{p} has no valid hex \"secret\": {exc}") from None
    if doc.get("key_id") not in (None, key.key_id):
        raise WatermarkKeyError(f"{p}: key_id does not match the secret (the file was edited or damaged)")
    return key
