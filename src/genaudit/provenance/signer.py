"""How genaudit signs C2PA manifests: :class:`SignerConfig` (a PEM certificate chain and its private
key, or a callback for keys held in an HSM or KMS), checked up front with one-line messages for the
usual mistakes (a key given as the certificate, a certificate as the key, a file that is not PEM)."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import GenauditError
from .certs import Clock, utc_now


class ProvenanceError(GenauditError):
    """A signing set-up problem: unreadable certificate or key, key not matching the certificate,
    a certificate outside its validity period, or a file the SDK cannot sign."""


# --------------------------------------------------------------------------------------------
# signer
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignerConfig:
    """How to sign: a PEM certificate chain (signing certificate first) and either its private
    key (PEM) or a ``callback(data: bytes) -> signature bytes`` for keys held in an HSM or KMS
    (ES256: DER or raw r||s ECDSA signatures are accepted by the SDK)."""

    chain_pem: bytes
    key_pem: bytes | None = field(default=None, repr=False)
    callback: Callable[[bytes], bytes] | None = field(default=None, repr=False)
    alg: str = "es256"
    tsa_url: str | None = None
    """RFC 3161 timestamp authority; ``None`` (the default) keeps signing offline."""
    clock: Clock = field(default=utc_now, repr=False, compare=False)
    """What "now" is for :meth:`validate` (the real clock by default). The C2PA SDK checks the
    certificate against the real clock when it signs and reads, whatever this says."""

    def __post_init__(self) -> None:
        if (self.key_pem is None) == (self.callback is None):
            raise ProvenanceError("give exactly one of key_pem and callback")
        if self.alg not in ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"):
            raise ProvenanceError(f"unsupported signing algorithm {self.alg!r}")

    @classmethod
    def from_files(cls, cert: str | os.PathLike[str], key: str | os.PathLike[str], **kw: Any) -> SignerConfig:
        """Read a PEM chain and a PEM private key, and check that they belong together.

        >>> import tempfile
        >>> from genaudit.provenance.certs import create_dev_chain, write_dev_chain
        >>> paths = write_dev_chain(tempfile.mkdtemp(), create_dev_chain("doctest"))
        >>> SignerConfig.from_files(paths["key"], paths["chain"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        genaudit.provenance.signer.ProvenanceError: certificate chain .../signer.key is a private key, not ...
        """
        chain = _read_file(cert, "certificate chain")
        key_pem = _read_file(key, "private key")
        _check_pem(chain, os.fspath(cert), want="CERTIFICATE")
        _check_pem(key_pem, os.fspath(key), want="PRIVATE KEY")
        cfg = cls(chain_pem=chain, key_pem=key_pem, **kw)
        cfg.validate()
        return cfg

    def leaf_certificate(self) -> Any:
        from cryptography import x509

        try:
            certs = x509.load_pem_x509_certificates(self.chain_pem)
        except ValueError:
            raise ProvenanceError("the certificate chain is not a readable PEM certificate chain") from None
        return certs[0]

    def validate(self, when: dt.datetime | None = None) -> None:
        """Raise :class:`ProvenanceError` when the key does not match the signing certificate or
        the certificate is not valid at ``when`` (default: ``self.clock()``, now); the SDK refuses
        both, with vaguer messages."""
        from cryptography.hazmat.primitives import serialization

        leaf = self.leaf_certificate()
        now = when or self.clock()
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            fmt = "%Y-%m-%d %H:%M:%S"
            raise ProvenanceError(f"signing certificate {leaf.subject.rfc4514_string()} is valid from"
                                  f" {leaf.not_valid_before_utc:{fmt}} to {leaf.not_valid_after_utc:{fmt}} UTC,"
                                  f" not now ({now:{fmt}} UTC): expired or not yet valid")
        if self.key_pem is not None:
            try:
                key = serialization.load_pem_private_key(self.key_pem, password=None)
            except (ValueError, TypeError):
                raise ProvenanceError("the private key is not a readable, unencrypted PEM private key") from None
            spki = serialization.PublicFormat.SubjectPublicKeyInfo
            der = serialization.Encoding.DER
            if key.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
                raise ProvenanceError("the private key does not belong to the signing certificate"
                                      f" ({leaf.subject.rfc4514_string()}): wrong key for this certificate")

    def c2pa_signer(self) -> Any:
        import c2pa

        try:
            if self.callback is not None:
                alg = getattr(c2pa.C2paSigningAlg, self.alg.upper())
                return c2pa.Signer.from_callback(self.callback, alg, self.chain_pem.decode(), self.tsa_url)
            info = c2pa.C2paSignerInfo(alg=self.alg.encode(), sign_cert=self.chain_pem, private_key=self.key_pem,
                                       ta_url=self.tsa_url.encode() if self.tsa_url else None)
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise ProvenanceError(f"cannot create a C2PA signer: {exc}") from None


def _read_file(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ProvenanceError(f"cannot read {what} {os.fspath(path)!r}: {exc.strerror or exc}") from None


_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_HINT = "(the certificate is the PEM chain, e.g. chain.pem; the key the PEM private key, e.g. signer.key)"


def _check_pem(data: bytes, path: str, want: str) -> None:
    """One clear line when a file is not the PEM it should be (``want``: ``CERTIFICATE`` or
    ``PRIVATE KEY``): no PEM at all, binary, a private key given as the certificate chain or the
    reverse, an encrypted key. The parsers' own messages say none of this."""
    what = "certificate chain" if want == "CERTIFICATE" else "private key"
    labels = {m.group(1).decode() for m in _PEM_LABEL.finditer(data)}
    keys = {label for label in labels if label.endswith("PRIVATE KEY")}
    if want == "CERTIFICATE" and "CERTIFICATE" in labels:
        return
    if want != "CERTIFICATE":
        if keys - {"ENCRYPTED PRIVATE KEY"}:
            return
        if keys:
            raise ProvenanceError(f"private key {path} is encrypted; genaudit needs an unencrypted PEM private key")
    if keys:
        found = "a private key"
    elif "CERTIFICATE" in labels:
        found = "a certificate"
    elif labels:
        found = f"a PEM {min(labels).lower()}"
    elif b"\0" in data or not _is_text(data):
        found = "a binary file"
    else:
        found = "text without a PEM block"
    raise ProvenanceError(f"{what} {path} is {found}, not a PEM {what} {_PEM_HINT}")


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
