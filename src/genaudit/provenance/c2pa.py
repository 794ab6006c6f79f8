"""Sign images with C2PA manifests that say they are AI-generated, and read/validate them.

Built on c2pa-python (the Content Authenticity Initiative's Rust SDK). What a genaudit manifest
carries:

* ``c2pa.actions.v2`` with one ``c2pa.created`` action, IPTC digitalSourceType
  ``trainedAlgorithmicMedia`` and the generating model as ``softwareAgent``;
* claim generator info: genaudit and its version, plus the model id and version;
* ``org.genaudit.audit``: the audit results for this image (check name → status, summary, data);
* ``c2pa.soft-binding`` when a watermark was embedded: method, key id and payload (never the key),
  so a copy whose manifest was stripped can be tied back by verifying the watermark;
* ``cawg.training-mining``: the training and data-mining policy (``notAllowed`` by default).

Offline by default: no timestamp authority is contacted (``tsa_url=None``); thumbnails are off.

Reading gives a :class:`ManifestReport` whose ``status`` is one of

=================  ============================================================================
``no_manifest``    no C2PA manifest store in the file (never signed, stripped, or re-encoded)
``valid_trusted``  every check passed and the signing certificate chains to a trust anchor
``valid_untrusted`` the manifest and the pixels are intact, but the signer is not trusted
                   (no anchors given, or a chain not issued by one of them)
``invalid``        a C2PA validation failure; ``codes`` holds the C2PA status codes, e.g.
                   ``assertion.dataHash.mismatch`` (pixels changed),
                   ``assertion.hashedURI.mismatch`` (an assertion changed),
                   ``claimSignature.mismatch``, ``signingCredential.expired``
``error``          the file could not be parsed as the asset type it claims to be (truncated,
                   not an image); ``reason`` has the SDK's message and ``codes`` ``genaudit.unparseable``
                   or ``genaudit.unsupported``
=================  ============================================================================
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from .signer import ProvenanceError, SignerConfig, _read_file

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AUDIT_LABEL = "org.genaudit.audit"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
TRAINING_MINING_LABEL = "cawg.training-mining"
TRAINING_USES = ("cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training", "cawg.data_mining")
POLICIES = ("notAllowed", "allowed", "constrained")
STATUSES = ("no_manifest", "valid_trusted", "valid_untrusted", "invalid", "error")
#: failure codes that only say "not trusted": a manifest with no other failure is valid-untrusted
_TRUST_ONLY = frozenset({"signingCredential.untrusted"})

#: genaudit's sniffed format names → MIME types the C2PA SDK reads and signs
MIME_BY_FORMAT = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
                  "tiff": "image/tiff", "bmp": "image/bmp", "avif": "image/avif", "heif": "image/heif"}


# --------------------------------------------------------------------------------------------
# manifest definition
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestSpec:
    """What goes into the manifest of one image."""

    title: str | None = None
    model_id: str | None = None
    """The generator, e.g. ``ddpm-fmnist``; recorded as the created action's softwareAgent."""
    model_version: str | None = None
    audit: Mapping[str, Any] | None = None
    """The audit results for this image (JSON-serialisable): ``org.genaudit.audit``."""
    watermark: Mapping[str, Any] | None = None
    """An embedded watermark's record (``c2pa.soft-binding``): ``genaudit.release.soft_binding``'s schema."""
    training_mining: str = "notAllowed"
    """Policy for all four CAWG uses: ``notAllowed``, ``allowed`` or ``constrained``."""
    constraint_info: str | None = None
    """Free text for ``constrained`` (e.g. a licence URL)."""
    thumbnail: bool = False
    """Embed a small claim thumbnail (JPEG q75, longest side ``thumbnail_size``)."""
    thumbnail_size: int = 128

    def __post_init__(self) -> None:
        if self.training_mining not in POLICIES:
            raise ProvenanceError(f"training_mining must be one of {', '.join(POLICIES)};"
                                  f" got {self.training_mining!r}")
        for name in ("audit", "watermark"):
            value = getattr(self, name)
            if value is not None:
                try:
                    json.dumps(value)
                except (TypeError, ValueError) as exc:
                    raise ProvenanceError(f"{name} must be JSON-serialisable: {exc}") from None
        if self.watermark is not None and any(k in self.watermark for k in ("key", "secret")):
            raise ProvenanceError("the watermark soft binding must not carry the key")

    def to_manifest(self) -> dict[str, Any]:
        """The manifest definition handed to ``c2pa.Builder``."""
        generator: dict[str, Any] = {"name": "genaudit", "version": __version__}
        if self.model_id:
            generator["org.genaudit.model"] = {"id": self.model_id, "version": self.model_version or ""}
        created: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE}
        if self.model_id:
            created["softwareAgent"] = {"name": self.model_id, "version": self.model_version or ""}
        entry: dict[str, Any] = {"use": self.training_mining}
        if self.training_mining == "constrained" and self.constraint_info:
            entry["constraint_info"] = self.constraint_info
        assertions: list[dict[str, Any]] = [
            {"label": "c2pa.actions.v2", "data": {"actions": [created]}},
            {"label": TRAINING_MINING_LABEL, "data": {"entries": {u: dict(entry) for u in TRAINING_USES}}},
        ]
        if self.audit is not None:
            assertions.append({"label": AUDIT_LABEL, "data": {"genaudit_version": __version__,
                                                              "checks": dict(self.audit)}})
        if self.watermark is not None:
            wm = dict(self.watermark)
            value = json.dumps({k: wm[k] for k in sorted(wm)}, separators=(",", ":")).encode()
            assertions.append({"label": SOFT_BINDING_LABEL, "data": {
                "alg": f"org.genaudit.{wm.get('method', 'watermark')}",
                "blocks": [{"scope": {}, "value": base64.b64encode(value).decode()}],
                "pad": [0], "name": "genaudit invisible watermark",
                "org.genaudit.watermark": wm}})
        manifest: dict[str, Any] = {"claim_generator_info": [generator], "assertions": assertions}
        if self.title:
            manifest["title"] = self.title
        return manifest


@functools.lru_cache(maxsize=1)
def _sign_context() -> Any:
    """The SDK's own thumbnail is off: genaudit adds its small one (:func:`_thumbnail`) on request."""
    import c2pa

    return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})


THUMBNAIL_ID = "genaudit-thumbnail.jpg"


def _thumbnail(data: bytes, size: int) -> bytes | None:
    """A small JPEG claim thumbnail (longest side ``size``), or ``None`` if the image can't be decoded."""
    from PIL import Image

    from ..errors import ImageLoadError
    from ..io import decode_bytes

    try:
        img = decode_bytes(data).pil.copy()
    except ImageLoadError:
        return None
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=75)
    return buf.getvalue()


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of an image by content (``None`` when genaudit does not know it)."""
    from ..io import sniff_format

    s = sniff_format(data[:64])
    return MIME_BY_FORMAT.get(s.name.lower()) if s is not None else None


def sign_bytes(data: bytes, signer: SignerConfig, spec: ManifestSpec, *, mime: str | None = None) -> bytes:
    """Sign encoded image bytes (PNG, JPEG, WebP, GIF, TIFF); returns the signed file's bytes.

    Signing must be the last write: any later change of pixels or metadata makes the manifest
    ``invalid`` (``assertion.dataHash.mismatch``) or drops it (re-encoding).
    """
    import c2pa

    mime = mime or sniff_mime(data)
    if mime is None:
        raise ProvenanceError("not an image genaudit can sign (PNG, JPEG, WebP, GIF, TIFF, BMP)")
    manifest = spec.to_manifest()
    thumb = _thumbnail(data, spec.thumbnail_size) if spec.thumbnail else None
    if thumb is not None:
        manifest["thumbnail"] = {"format": "image/jpeg", "identifier": THUMBNAIL_ID}
    builder = c2pa.Builder(manifest, context=_sign_context())
    out = io.BytesIO()
    try:
        if thumb is not None:
            builder.add_resource(THUMBNAIL_ID, io.BytesIO(thumb))
        with signer.c2pa_signer() as c_signer:
            builder.sign(c_signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        msg = str(exc)
        if "not valid at time of signing" in msg:
            msg += " (the signing certificate is expired or not yet valid)"
        elif "does not match" in msg:
            msg += " (wrong key for this certificate?)"
        raise ProvenanceError(f"C2PA signing failed: {msg}") from None
    finally:
        builder.close()
    return out.getvalue()


def encode_image(image: Any, fmt: str = "PNG", *, quality: int = 95) -> bytes:
    """Encode a PIL image or uint8 array (H×W or H×W×3/4) for signing."""
    import numpy as np
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or a uint8 array, got {type(image).__name__}")
    buf = io.BytesIO()
    if fmt.upper() in ("JPEG", "JPG"):
        image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(buf, "JPEG", quality=quality)
    else:
        image.save(buf, fmt.upper())
    return buf.getvalue()


def sign(image_or_path: Any, signer: SignerConfig, spec: ManifestSpec, *,
         out: str | os.PathLike[str] | None = None, fmt: str = "PNG") -> bytes:
    """Sign an image given as a path, encoded bytes, a PIL image or an array.

    Returns the signed bytes; with ``out`` also writes them there (atomically: a temporary file
    then a rename, so a crash never leaves a half-written signed file).
    """
    if isinstance(image_or_path, str | os.PathLike):
        data = _read_file(image_or_path, "image")
    elif isinstance(image_or_path, bytes | bytearray | memoryview):
        data = bytes(image_or_path)
    else:
        data = encode_image(image_or_path, fmt)
    signed = sign_bytes(data, signer, spec)
    if out is not None:
        from ..io import write_atomic

        write_atomic(out, signed)
    return signed


# --------------------------------------------------------------------------------------------
# reading and validation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestReport:
    """What a file's C2PA manifest says and whether it validates. JSON-ready via :meth:`to_dict`."""

    status: str
    codes: tuple[str, ...] = ()
    """C2PA failure status codes of the active manifest (or a ``genaudit.*`` code for errors)."""
    reason: str | None = None
    trusted: bool = False
    manifest_label: str | None = None
    ai_generated: bool | None = None
    digital_source_types: tuple[str, ...] = ()
    claim_generator: tuple[Mapping[str, Any], ...] = ()
    generator: Mapping[str, Any] | None = None
    """The softwareAgent of the ``c2pa.created`` action (which model made it)."""
    training_mining: Mapping[str, str] | None = None
    audit: Mapping[str, Any] | None = None
    watermark: Mapping[str, Any] | None = None
    signer: Mapping[str, Any] | None = None
    n_manifests: int = 0
    thumbnail: str | None = None
    """MIME type of the claim thumbnail, when there is one."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def valid(self) -> bool:
        return self.status in ("valid_trusted", "valid_untrusted")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "codes": list(self.codes), "reason": self.reason, "trusted": self.trusted,
                "manifest_label": self.manifest_label, "ai_generated": self.ai_generated,
                "digital_source_types": list(self.digital_source_types),
                "claim_generator": [dict(g) for g in self.claim_generator],
                "generator": dict(self.generator) if self.generator else None,
                "training_mining": dict(self.training_mining) if self.training_mining else None,
                "audit": self.audit, "watermark": self.watermark, "signer": self.signer,
                "n_manifests": self.n_manifests, "thumbnail": self.thumbnail}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ManifestReport:
        return cls(status=d["status"], codes=tuple(d.get("codes") or ()), reason=d.get("reason"),
                   trusted=bool(d.get("trusted")), manifest_label=d.get("manifest_label"),
                   ai_generated=d.get("ai_generated"),
                   digital_source_types=tuple(d.get("digital_source_types") or ()),
                   claim_generator=tuple(d.get("claim_generator") or ()), generator=d.get("generator"),
                   training_mining=d.get("training_mining"), audit=d.get("audit"), watermark=d.get("watermark"),
                   signer=d.get("signer"), n_manifests=int(d.get("n_manifests") or 0), thumbnail=d.get("thumbnail"))


def load_trust_anchors(path: str | os.PathLike[str]) -> str:
    """Read a PEM file of trust anchor certificates (checked to hold at least one)."""
    from cryptography import x509

    pem = _read_file(path, "trust anchors")
    try:
        if not x509.load_pem_x509_certificates(pem):
            raise ValueError("no certificate")
    except ValueError as exc:
        raise ProvenanceError(f"trust anchors {os.fspath(path)!r} hold no PEM certificate: {exc}") from None
    return pem.decode()


@functools.lru_cache(maxsize=8)
def _read_context(trust_anchors: str | None) -> Any:
    import c2pa

    if trust_anchors is None:
        return c2pa.Context.from_dict({"verify": {"verify_trust": False}})
    return c2pa.Context.from_dict({"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_anchors}})


def read_manifest(data: bytes | str | os.PathLike[str], *, trust_anchors: str | None = None,
                  mime: str | None = None) -> ManifestReport:
    """Read and validate the C2PA manifest of a file (bytes or path). Never raises for bad input.

    ``trust_anchors`` is PEM text (see :func:`load_trust_anchors`); without it no signer is
    trusted and a sound manifest reads as ``valid_untrusted``.
    """
    import c2pa

    if not isinstance(data, bytes | bytearray):
        try:
            data = _read_file(data, "image")
        except ProvenanceError as exc:
            return ManifestReport("error", ("genaudit.unreadable",), str(exc))
    data = bytes(data)
    mime = mime or sniff_mime(data)
    if mime is None:
        return ManifestReport("error", ("genaudit.unsupported",), "not an image format that can carry C2PA")
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, _read_context(trust_anchors))
    except c2pa.C2paError as exc:
        code = "genaudit.unsupported" if "unsupported" in str(exc).lower() else "genaudit.unparseable"
        return ManifestReport("error", (code,), f"the C2PA SDK could not parse this {mime} file: {exc}")
    if reader is None:
        return ManifestReport("no_manifest")
    with reader:
        try:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
        except (c2pa.C2paError, ValueError) as exc:
            return ManifestReport("error", ("genaudit.unparseable",), f"unreadable manifest store: {exc}")
    return _report_from_store(store, state, trust_anchors is not None)


def _report_from_store(store: Mapping[str, Any], state: str | None, anchors: bool) -> ManifestReport:
    label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    active = manifests.get(label) or {}
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = tuple(f.get("code", "?") for f in results.get("failure") or ())
    if not active and not failures:  # a store whose active manifest is missing
        failures = ("claim.missing",)
    if set(failures) - _TRUST_ONLY or (state == "Invalid" and not failures):
        status, trusted = "invalid", False
    elif state == "Trusted" and not failures:
        status, trusted = "valid_trusted", True
    else:
        status, trusted = "valid_untrusted", False
    reason = None
    if status == "invalid":
        reason = "; ".join(f"{f.get('code')}: {f.get('explanation', '')}" for f in results.get("failure") or ())
    elif status == "valid_untrusted":
        reason = ("no trust anchors given" if not anchors
                  else "the signing certificate does not chain to a configured trust anchor")
    by_label: dict[str, Any] = {}
    for a in active.get("assertions") or ():
        by_label.setdefault(a.get("label"), a.get("data"))
    sources: list[str] = []
    agent = None
    for key in ("c2pa.actions.v2", "c2pa.actions"):
        for action in (by_label.get(key) or {}).get("actions") or ():
            if action.get("digitalSourceType"):
                sources.append(action["digitalSourceType"])
            if action.get("action") == "c2pa.created" and action.get("softwareAgent"):
                agent = action["softwareAgent"]
    ai = any(s.rstrip("/").rsplit("/", 1)[-1] in ("trainedAlgorithmicMedia", "compositeSynthetic",
                                                  "algorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
             for s in sources)
    tm = by_label.get(TRAINING_MINING_LABEL) or by_label.get("c2pa.training-mining")
    training = {k: v.get("use", "?") for k, v in (tm or {}).get("entries", {}).items()} if tm else None
    soft = by_label.get(SOFT_BINDING_LABEL)
    watermark = (soft or {}).get("org.genaudit.watermark") if soft else None
    if soft and watermark is None:
        watermark = {"alg": soft.get("alg")}
    sig = active.get("signature_info") or {}
    signer = {k: sig[k] for k in ("alg", "issuer", "common_name", "cert_serial_number", "time") if k in sig} or None
    return ManifestReport(status=status, codes=failures, reason=reason, trusted=trusted, manifest_label=label,
                          ai_generated=ai if active else None, digital_source_types=tuple(sources),
                          claim_generator=tuple(active.get("claim_generator_info") or ()), generator=agent,
                          training_mining=training, audit=by_label.get(AUDIT_LABEL), watermark=watermark,
                          signer=signer, n_manifests=len(manifests),
                          thumbnail=(active.get("thumbnail") or {}).get("format"))
