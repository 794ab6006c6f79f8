"""Releasing generated images: watermarked, audited and C2PA-signed, in one fixed order.

Two entry points share this pipeline and one soft-binding schema (:func:`soft_binding`):

* ``genaudit.wrap(generator, ...)`` (:func:`wrap`): every image a generator makes leaves
  watermarked, audited and signed. Example (three lines add responsible release to a generator)::

      gen = genaudit.wrap(models.load("ddpm-fmnist"), watermark_key=key, signer=signer, size=256)
      outputs = gen.sample(8, seed=0, out_dir="release/")

* ``genaudit sign`` (:func:`sign_files`): sign existing image files, recording the audit and, when
  a watermark key is given and its mark is present, the soft binding.

The order is fixed, because each step must see the previous one's result and signing must be the
last write to the file:

1. generate (the wrapped model's ``sample`` or any callable returning images) — or read the file
   and decode it once;
2. optional resize (``size=``): the reference generators make 28×28 images, smaller than the
   watermark's minimum of 128×128;
3. embed the watermark (payload = the model id's 32-bit tag unless given), then verify it on the
   pixels that will be encoded (a failed read-back is an error, never a silent unmarked image) —
   ``sign`` only verifies;
4. run the audit checks on the final pixels. The audit carries only real check results: the
   watermark record lives in the soft binding (add ``"watermark"`` to the checks, with its
   ``key_file`` option, to also run the watermark check);
5. encode (PNG with the label and seed in text chunks, or JPEG), then sign the C2PA manifest
   carrying the audit, the watermark soft binding and the training-mining policy.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import GenauditError
from .io import LoadLimits, PlannedOutput, write_atomic
from .provenance.c2pa import ManifestSpec, SignerConfig, sign_bytes
from .results import FileError

if TYPE_CHECKING:  # pragma: no cover
    from .watermark import WatermarkKey, WatermarkResult

SIGN_FAILED = "sign_failed"
"""Error code of :class:`SignedFile` when the C2PA SDK refuses to sign a readable image (the other
codes are the loader's, :data:`genaudit.errors.ERROR_CODES`)."""


def soft_binding(result: WatermarkResult, embedded_payload: str | None = None) -> dict[str, Any]:
    """The watermark record of a released image (``c2pa.soft-binding``), the same for
    :func:`wrap` and :func:`sign_files`: ``{method, key_id, payload, payload_read_back, p_value}``.

    ``payload`` is the payload that was embedded when it is known (``wrap``), else the one decoded
    (``sign``); ``payload_read_back`` says whether the decoded payload equals it; ``p_value`` is the
    detection p-value on the released pixels. The key itself is never part of it.

    >>> from genaudit.watermark import WatermarkResult
    >>> r = WatermarkResult(detected=True, p_value=1e-9, bit_accuracy=1.0, payload=None, method="tiled",
    ...                     fpr=1e-6, key_id="k1")
    >>> soft_binding(r, embedded_payload="c0ffee42")
    {'method': 'tiled', 'key_id': 'k1', 'payload': 'c0ffee42', 'payload_read_back': False, 'p_value': 1e-09}
    """
    payload = embedded_payload if embedded_payload is not None else result.payload
    return {"method": result.method, "key_id": result.key_id, "payload": payload,
            "payload_read_back": result.payload is not None and result.payload == payload,
            "p_value": result.p_value}


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
        names = tuple(c for c in checks if c and c != "none")
        self.auditor = Auditor(checks=names, options=dict(check_options or {}), jobs=1) if names else None

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
        # Detection (keyed, exact p-value) is what the soft binding relies on; the 32-bit payload
        # needs more pixels (at 128² about 70% of Fashion-MNIST upscales decode, at ≥ 192² all),
        # so whether it read back is recorded rather than required.
        return soft_binding(res, embedded_payload=format_payload(self.payload))

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
               out_dir: str | os.PathLike[str] | None = None, prefix: str = "sample",
               force: bool = False) -> list[ProvenancedImage]:
        """Generate ``n`` images and release each one watermarked, audited and signed.

        With ``out_dir``, also writes ``{prefix}-{seed}-{index:05d}.png|jpg`` there (atomically);
        files already there are refused before anything is generated
        (:class:`~genaudit.io.OutputExistsError`) unless ``force``.
        Deterministic for a seed when the generator is.
        """
        from .io import refuse_existing

        if n < 0:
            raise WrapError("n must be >= 0")
        if labels is not None and len(labels) != n:
            raise WrapError(f"got {len(labels)} labels for {n} samples")
        ext = "png" if self.fmt == "PNG" else "jpg"
        if out_dir is not None:
            refuse_existing([os.path.join(os.fspath(out_dir), f"{prefix}-{seed}-{i:05d}.{ext}") for i in range(n)],
                            force)
        images, used_labels = self._generate(n, labels, seed)
        marked = [self._embed(self._to_pil(x)) for x in images]
        encoded = [self._encode(img, used_labels[i], seed, i) for i, img in enumerate(marked)]
        marks = [self._read_back(data, self.key) if self.key is not None else None for data in encoded]
        audits = self.auditor.audit_images(marked) if self.auditor is not None else [None] * len(marked)
        out: list[ProvenancedImage] = []
        for i, (img, data, mark, audit) in enumerate(zip(marked, encoded, marks, audits, strict=True)):
            label = used_labels[i]
            name = f"{prefix}-{seed}-{i:05d}.{ext}"
            checks = {r.check: r.to_dict() for r in audit.checks} if audit is not None else {}
            if self.signer is not None:
                spec = ManifestSpec(title=name, model_id=self.model_id, model_version=self.model_version,
                                    audit=checks if audit is not None else None, watermark=mark,
                                    training_mining=self.training_mining, thumbnail=self.thumbnail)
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
    ``watermark_key``, audited by ``checks`` and signed by ``signer`` (each step optional: ``checks=()``
    records no audit).

    ``generator`` is a genaudit reference model (``genaudit.models.load(...)``), any object with
    ``sample(n, labels=..., seed=...)``, or any callable ``f(n, seed=...)`` returning a uint8 array
    (n, H, W[, 3]) or a list of PIL images / arrays. Keyword options: ``model_id``,
    ``model_version``, ``payload`` (32-bit, default derived from the model id), ``size`` (resize
    outputs to size×size first), ``fmt`` (PNG or JPEG), ``training_mining``, ``thumbnail``,
    ``check_options``.

    >>> from genaudit.samples import photo_crops
    >>> from genaudit.watermark import WatermarkKey
    >>> def toy(n, seed=0):  # any callable returning images
    ...     return [img for _, img in photo_crops(160, n, seed=seed)]
    >>> [out] = wrap(toy, watermark_key=WatermarkKey.from_passphrase("doctest"), model_id="toy").sample(1, seed=3)
    >>> out.width, sorted(out.audit), out.watermark["method"], out.watermark["p_value"] < 1e-6, out.signed
    (160, ['metadata', 'phash'], 'tiled', True, False)
    """
    return WrappedGenerator(generator, watermark_key=watermark_key, signer=signer, checks=checks, **kwargs)


# -- signing existing files ---------------------------------------------------------------------
@dataclass(frozen=True)
class SignedFile:
    """The outcome of signing one input with :func:`sign_files`: ``status`` is ``signed`` (with
    ``output``) or ``error`` (with ``error``: a loader code, or :data:`SIGN_FAILED`)."""

    path: str
    output: str | None = None
    bytes_added: int = 0
    audit: Mapping[str, Any] | None = None
    """The audit recorded in the manifest (check name → result), ``None`` without checks."""
    watermark: Mapping[str, Any] | None = None
    """The :func:`soft_binding` recorded when the key's watermark was detected."""
    error: FileError | None = None

    @property
    def status(self) -> str:
        return "error" if self.error is not None else "signed"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "output": self.output, "bytes_added": self.bytes_added,
                "watermark": dict(self.watermark) if self.watermark is not None else None,
                "audit": dict(self.audit) if self.audit is not None else None,
                "error": self.error.to_dict() if self.error is not None else None}


def sign_files(inputs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], signer: SignerConfig, *,
               model_id: str | None = None, model_version: str | None = None,
               checks: Sequence[str] = ("metadata", "phash"), watermark_key: WatermarkKey | None = None,
               training_mining: str = "notAllowed", thumbnail: bool = False,
               limits: LoadLimits | None = None, force: bool = False,
               ignored: list[str] | None = None) -> Iterator[SignedFile]:
    """Sign every image of ``inputs`` (files and folders) with a C2PA manifest marking it
    AI-generated, into ``out_dir``; yields one :class:`SignedFile` per input, in order.

    Per file: read → decode once (only when an audit or a watermark check needs pixels) → audit
    with ``checks`` → verify ``watermark_key`` (a :func:`soft_binding` when detected) → manifest →
    sign → write atomically. Files keep their name and format, placed by
    :func:`genaudit.io.plan_outputs` (input folders mirrored under ``out_dir``, which is never
    walked; the same name from two inputs gets a numbered suffix). ``limits`` bound every read
    (default :class:`~genaudit.io.LoadLimits`). A file that cannot be read or signed is an
    ``error`` outcome, never an exception; a bad signer or policy, and outputs that already exist
    (unless ``force``: :class:`~genaudit.io.OutputExistsError`), raise at the call. Files in input
    folders that are not images are left out and, with an ``ignored`` list, listed there.

    >>> import os, tempfile
    >>> from PIL import Image
    >>> from genaudit.io import write_png
    >>> from genaudit.provenance.c2pa import read_manifest
    >>> from genaudit.provenance.certs import create_dev_chain
    >>> from genaudit.samples import photo_crops
    >>> tmp = tempfile.TemporaryDirectory()
    >>> src = write_png(os.path.join(tmp.name, "a.png"), Image.fromarray(next(photo_crops(64, 1))[1]))
    >>> _ = open(os.path.join(tmp.name, "b.png"), "wb").write(b"not an image")
    >>> chain = create_dev_chain("doctest")
    >>> signer = SignerConfig(chain.chain_pem, chain.private_key_pem)
    >>> a, b = sign_files([tmp.name], os.path.join(tmp.name, "out"), signer, model_id="toy")
    >>> a.status, os.path.basename(a.output), sorted(a.audit), b.status, b.error.code
    ('signed', 'a.png', ['metadata', 'phash'], 'error', 'not_an_image')
    >>> read_manifest(a.output, trust_anchors=chain.root_cert_pem.decode()).status
    'valid_trusted'
    >>> tmp.cleanup()
    """
    from .audit import Auditor
    from .io import plan_outputs

    signer.validate()
    ManifestSpec(training_mining=training_mining)  # a bad policy fails now, not at the first file
    names = tuple(c for c in checks if c and c != "none")
    auditor = Auditor(checks=names, jobs=1) if names else None
    spec_args = {"model_id": model_id, "model_version": model_version, "training_mining": training_mining,
                 "thumbnail": thumbnail}
    plan = plan_outputs(inputs, out_dir, force=force, ignored=ignored)  # never re-signs our own outputs
    return _sign_each(plan, signer, auditor, watermark_key, limits or LoadLimits(), spec_args)


def _sign_each(plan: list[PlannedOutput], signer: SignerConfig, auditor: Any,
               key: WatermarkKey | None, limits: LoadLimits, spec_args: dict[str, Any]) -> Iterator[SignedFile]:
    from .errors import ImageLoadError
    from .io import decode_bytes, read_file
    from .provenance.c2pa import ProvenanceError
    from .watermark import verify

    for item in plan:
        if item.error is not None or item.output is None:
            yield SignedFile(item.path, error=item.error or FileError(*item.code_message()))
            continue
        try:
            data = read_file(item.path, limits)
            # decoded once, for the audit and the watermark, only when one of them is asked for
            loaded = decode_bytes(data, path=item.path, limits=limits) if auditor or key else None
        except ImageLoadError as exc:
            yield SignedFile(item.path, error=FileError(exc.code, exc.message))
            continue
        audit = {r.check: r.to_dict() for r in auditor.audit_image(loaded).checks} if auditor else None
        mark = None
        if key is not None:
            v = verify(loaded, key)
            mark = soft_binding(v) if v.detected else None
        spec = ManifestSpec(title=os.path.basename(item.path), audit=audit, watermark=mark, **spec_args)
        try:
            signed = sign_bytes(data, signer, spec)
        except ProvenanceError as exc:
            yield SignedFile(item.path, audit=audit, watermark=mark, error=FileError(SIGN_FAILED, str(exc)))
            continue
        dest = write_atomic(item.output, signed)
        yield SignedFile(item.path, output=dest, bytes_added=len(signed) - len(data), audit=audit, watermark=mark)
