"""Development certificate chains for C2PA signing: a local root CA and an ES256 signing
certificate, generated with ``cryptography``.

**Not for production.** Anyone can make such a chain; a manifest signed with it proves only
that the holder of this private key signed it. Production users pass their own PEM chain and
key (or a signing callback for an HSM/KMS).

The signing certificate carries what C2PA validators require: KeyUsage digitalSignature,
ExtendedKeyUsage emailProtection, Subject/Authority key identifiers; the chain is leaf-first.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

DEV_LABEL = "genaudit DEVELOPMENT ONLY - not for production"

Clock = Callable[[], dt.datetime]
"""Returns the current time as an aware UTC datetime; injected where certificate validity is decided."""


def utc_now() -> dt.datetime:
    """The real clock: the default :data:`Clock` of certificate creation and validity checks."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class DevChain:
    """PEM bytes of a development chain. ``chain_pem`` is the signing certificate then the root."""

    root_cert_pem: bytes
    signing_cert_pem: bytes
    private_key_pem: bytes
    root_key_pem: bytes

    @property
    def chain_pem(self) -> bytes:
        return self.signing_cert_pem + self.root_cert_pem


def create_dev_chain(organization: str = "genaudit development", *, valid_days: int = 365,
                     not_before: dt.datetime | None = None, valid_for: dt.timedelta | None = None,
                     clock: Clock = utc_now) -> DevChain:
    """Create a root CA and an ES256 signing certificate it issued.

    The signing certificate is valid from ``not_before`` (default: five minutes before
    ``clock()``) for ``valid_days`` (or ``valid_for``, finer); the root a day longer. A clock or
    ``not_before`` in the past or the future makes expired or not-yet-valid certificates for tests.

    >>> import datetime as dt
    >>> from cryptography import x509
    >>> chain = create_dev_chain(valid_days=30, clock=lambda: dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    >>> leaf = x509.load_pem_x509_certificate(chain.signing_cert_pem)
    >>> str(leaf.not_valid_before_utc), str(leaf.not_valid_after_utc)
    ('2019-12-31 23:55:00+00:00', '2020-01-30 23:55:00+00:00')
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = not_before or (clock() - dt.timedelta(minutes=5))
    end = start + (valid_for if valid_for is not None else dt.timedelta(days=valid_days))
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEV_LABEL)])

    root_name = name(f"{organization} root CA")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name(f"{organization} signer")).issuer_name(root_name)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
            .sign(root_key, hashes.SHA256()))
    pkcs8 = serialization.PrivateFormat.PKCS8
    return DevChain(
        root_cert_pem=root.public_bytes(serialization.Encoding.PEM),
        signing_cert_pem=leaf.public_bytes(serialization.Encoding.PEM),
        private_key_pem=leaf_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()),
        root_key_pem=root_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()),
    )


def write_dev_chain(directory: str, chain: DevChain | None = None) -> dict[str, str]:
    """Write ``root.pem``, ``chain.pem`` (signer + root), ``signer.key`` (mode 0600) and a README."""
    chain = chain or create_dev_chain()
    os.makedirs(directory, exist_ok=True)
    paths = {"root": os.path.join(directory, "root.pem"), "chain": os.path.join(directory, "chain.pem"),
             "key": os.path.join(directory, "signer.key")}
    with open(paths["root"], "wb") as fh:
        fh.write(chain.root_cert_pem)
    with open(paths["chain"], "wb") as fh:
        fh.write(chain.chain_pem)
    fd = os.open(paths["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when overwriting a key file that had a wider mode
    with os.fdopen(fd, "wb") as fh:
        fh.write(chain.private_key_pem)
    with open(os.path.join(directory, "README.txt"), "w", encoding="utf-8") as fh:
        fh.write(f"{DEV_LABEL}.\nroot.pem: trust anchor for verification; chain.pem + signer.key: signing.\n")
    return paths
