"""``genaudit.wrap(generator, ...)``: every image a generator makes leaves watermarked, audited
and signed.

Example (three lines add responsible release to a generator)::

    gen = genaudit.wrap(models.load("ddpm-fmnist"), watermark_key=key, signer=signer, size=256)
    outputs = gen.sample(8, seed=0, out_dir="release/")

The order is fixed, because each step must see the previous one's result and signing must be the
last write to the file:

1. generate (the wrapped model's ``sample`` or any callable returning images);
2. optional resize (``size=``): the reference generators make 28×28 images, smaller than the
   watermark's minimum of 128×128;
3. embed the watermark (payload = the model id's 32-bit tag unless given), then verify it on the
   pixels that will be encoded (a failed read-back is an error, never a silent unmarked image);
4. run the audit checks on the final pixels;
5. encode (PNG with the label and seed in text chunks, or JPEG), then sign the C2PA manifest
   carrying the audit, the watermark soft binding and the training-mining policy.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import GenauditError
from .io import write_atomic
from .provenance.c2pa import ManifestSpec, SignerConfig, sign_bytes


class WrapError(GenauditError):
    """The wrapped generator returned something genaudit cannot release, or a step failed."""


@dataclass(frozen=True)
class ProvenancedImage:
    """One released output: the signed file's bytes and what was done to it."""

    data: bytes = field(repr=False)
    format: str
    index: int
    seed: int
    label: int | None
    width: int
    height: int
    sha256: str
    audit: Mapping[str, Any]
    watermark: Mapping[str, Any] | None
    signed: bool
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "seed": self.seed, "label": self.label, "format": self.format,
                "width": self.width, "height": self.height, "sha256": self.sha256, "bytes": len(self.data),
                "audit": dict(self.audit), "watermark": dict(self.watermark) if self.watermark else None,
                "signed": self.signed, "path": self.path}


def model_payload(model_id: str) -> int:
    """A stable 32-bit payload for a model id (first 4 bytes of its sha256)."""
    return int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:4], "big")


class WrappedGenerator:
    """See :func:`wrap`."""

    def __init__(self, generator: Any, *, watermark_key: Any = None, signer: SignerConfig | None = None,
                 checks: Sequence[str] = ("metadata", "phash"), check_options: Mapping[str, Any] | None = None,
                 model_id: str | None = None, model_version: str | None = None, payload: int | str | None = None,
                 size: int | None = None, fmt: str = "PNG", jpeg_quality: int = 95,
                 training_mining: str = "notAllowed", thumbnail: bool = False, watermark_fpr: float = 1e-6) -> None:
        from .audit import Auditor
        from .watermark import WatermarkKey, parse_payload

        if not (hasattr(generator, "sample") or callable(generator)):
            raise WrapError("generator must have a sample(n, labels=..., seed=...) method or be callable")
        if watermark_key is not None and not isinstance(watermark_key, WatermarkKey):
            raise WrapError("watermark_key must be a genaudit.watermark.WatermarkKey (see load_key)")
        if fmt.upper() not in ("PNG", "JPEG"):
            raise WrapError(f"fmt must be PNG or JPEG, got {fmt!r}")
        if size is not None and size < 1:
            raise WrapError("size must be positive")
        self.generator = generator
        self.key = watermark_key
        self.signer = signer
        if signer is not None:
            signer.validate()
        self.model_id = model_id or getattr(generator, "name", None) or getattr(generator, "__name__", None) \
            or type(generator).__name__
        self.model_version = model_version or (getattr(generator, "sha256", "") or "")[:16] or None
        self.payload = parse_payload(payload) if payload is not None else model_payload(self.model_id)
        self.size = size
        self.fmt = fmt.upper()
        self.jpeg_quality = jpeg_quality
        self.training_mining = training_mining
        self.thumbnail = thumbnail
        self.fpr = watermark_fpr
        ManifestSpec(training_mining=training_mining)  # validates the policy now, not at the first sample
        self.auditor = Auditor(checks=tuple(checks), options=dict(check_options or {}), jobs=1)

    # ---------------------------------------------------------------------------------------
    def _generate(self, n: int, labels: Sequence[int] | None, seed: int) -> tuple[list[Any], list[int | None]]:
        """The generator's ``n`` images and their labels (from a :class:`SampleOutput`, else the
        labels asked for, else unknown)."""
        import numpy as np

        from .models import SampleOutput

        fn: Callable[..., Any] = self.generator.sample if hasattr(self.generator, "sample") else self.generator
        try:
            accepted = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            accepted = {}  # type: ignore[assignment]
        kw: dict[str, Any] = {}
        if "seed" in accepted:
            kw["seed"] = seed
        if labels is not None:
            if "labels" not in accepted:
                raise WrapError(f"{self.model_id} takes no labels")
            kw["labels"] = list(labels)
        out = fn(n, **kw)
        used: list[int | None]
        if isinstance(out, SampleOutput):
            items, used = list(out.images), list(out.labels)
        else:
            single = isinstance(out, np.ndarray) and out.ndim == 2 and n == 1
            items = [out] if single else list(out)
            used = list(labels) if labels is not None else [None] * len(items)
        if len(items) != n:
            raise WrapError(f"{self.model_id} returned {len(items)} images for n={n}")
        return items, used

    def _to_pil(self, item: Any) -> Any:
        import numpy as np
        from PIL import Image

        if isinstance(item, Image.Image):
            img = item
        else:
            arr = np.asarray(item)
            if arr.dtype != np.uint8:
                if arr.dtype.kind == "f" and arr.size and float(arr.min()) >= 0.0 and float(arr.max()) <= 1.0:
                    arr = np.round(arr * 255.0).astype(np.uint8)
                else:
                    raise WrapError(f"{self.model_id} returned {arr.dtype} pixels; expected uint8 or floats in [0, 1]")
            if arr.ndim == 3 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
                raise WrapError(f"{self.model_id} returned an image of shape {arr.shape}")
            img = Image.fromarray(arr)
        if self.size is not None and (img.width, img.height) != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.Resampling.LANCZOS)
        return img

    def _embed(self, img: Any) -> Any:
        from .watermark import WatermarkError, embed

        if self.key is None:
            return img
        try:
            return embed(img, self.key, self.payload)
        except WatermarkError as exc:
            hint = " (pass size=128 or more to wrap() to upscale small outputs)" if self.size is None else ""
            raise WrapError(f"cannot watermark a {img.width}×{img.height} output: {exc}{hint}") from None

    def _read_back(self, data: bytes, key: Any) -> dict[str, Any]:
        """Verify the watermark on the encoded file (after JPEG compression, if any): what is
        released, not the pixels before encoding."""
        from .io import decode_bytes
        from .watermark import format_payload, verify

        res = verify(decode_bytes(data), key, fpr=self.fpr)
        if not res.detected:
            raise WrapError(f"the embedded watermark does not read back (p={res.p_value}); refusing to release")
        payload = format_payload(self.payload)
        # Detection (keyed, exact p-value) is what the soft binding relies on; the 32-bit payload
        # needs more pixels (at 128² about 70% of Fashion-MNIST upscales decode, at ≥ 192² all),
        # so whether it read back is recorded rather than required.
        return {"method": res.method, "key_id": key.key_id, "payload": payload,
                "payload_read_back": res.payload == payload, "p_value_at_release": res.p_value}

    def _encode(self, img: Any, label: int | None, seed: int, index: int) -> bytes:
        from .io import encode_png
        from .provenance.c2pa import encode_image

        if self.fmt == "PNG":
            text = {"genaudit:model": self.model_id, "genaudit:seed": str(seed), "genaudit:index": str(index)}
            if label is not None:
                text["genaudit:label"] = str(label)
            return encode_png(img, text)
        return encode_image(img, "JPEG", quality=self.jpeg_quality)

    # ---------------------------------------------------------------------------------------
    def sample(self, n: int, labels: Sequence[int] | None = None, seed: int = 0, *,
               out_dir: str | os.PathLike[str] | None = None, prefix: str = "sample") -> list[ProvenancedImage]:
        """Generate ``n`` images and release each one watermarked, audited and signed.

        With ``out_dir``, also writes ``{prefix}-{seed}-{index:05d}.png|jpg`` there (atomically).
        Deterministic for a seed when the generator is.
        """
        if n < 0:
            raise WrapError("n must be >= 0")
        if labels is not None and len(labels) != n:
            raise WrapError(f"got {len(labels)} labels for {n} samples")
        images, used_labels = self._generate(n, labels, seed)
        marked = [self._embed(self._to_pil(x)) for x in images]
        encoded = [self._encode(img, used_labels[i], seed, i) for i, img in enumerate(marked)]
        marks = [self._read_back(data, self.key) if self.key is not None else None for data in encoded]
        audits = self.auditor.audit_images(marked)
        ext = "png" if self.fmt == "PNG" else "jpg"
        out: list[ProvenancedImage] = []
        for i, (img, data, mark, audit) in enumerate(zip(marked, encoded, marks, audits, strict=True)):
            label = used_labels[i]
            name = f"{prefix}-{seed}-{i:05d}.{ext}"
            checks = {r.check: r.to_dict() for r in audit.checks}
            if mark is not None:
                checks["watermark"] = {"status": "finding", "summary": "embedded and read back", "data": mark}
            if self.signer is not None:
                spec = ManifestSpec(title=name, model_id=self.model_id, model_version=self.model_version,
                                    audit=checks, watermark=mark, training_mining=self.training_mining,
                                    thumbnail=self.thumbnail)
                data = sign_bytes(data, self.signer, spec)  # the last write
            path = write_atomic(os.path.join(os.fspath(out_dir), name), data) if out_dir is not None else None
            out.append(ProvenancedImage(data=data, format=self.fmt, index=i, seed=seed, label=label,
                                        width=img.width, height=img.height, sha256=hashlib.sha256(data).hexdigest(),
                                        audit=checks, watermark=mark, signed=self.signer is not None, path=path))
        return out

    def __repr__(self) -> str:
        return (f"WrappedGenerator({self.model_id!r}, watermark={'yes' if self.key else 'no'},"
                f" signed={'yes' if self.signer else 'no'})")


def wrap(generator: Any, watermark_key: Any = None, signer: SignerConfig | None = None,
         checks: Sequence[str] = ("metadata", "phash"), **kwargs: Any) -> WrappedGenerator:
    """Wrap a generator so that ``sample(...)`` returns released images: watermarked with
    ``watermark_key``, audited by ``checks`` and signed by ``signer`` (each step optional).

    ``generator`` is a genaudit reference model (``genaudit.models.load(...)``), any object with
    ``sample(n, labels=..., seed=...)``, or any callable ``f(n, seed=...)`` returning a uint8 array
    (n, H, W[, 3]) or a list of PIL images / arrays. Keyword options: ``model_id``,
    ``model_version``, ``payload`` (32-bit, default derived from the model id), ``size`` (resize
    outputs to size×size first), ``fmt`` (PNG or JPEG), ``training_mining``, ``thumbnail``,
    ``check_options``.
    """
    return WrappedGenerator(generator, watermark_key=watermark_key, signer=signer, checks=checks, **kwargs)
