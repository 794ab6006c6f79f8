"""Invisible watermarks with a statistical decision: embed a keyed payload, verify it later.

>>> from genaudit import watermark
>>> from genaudit.samples import photo_crops
>>> key = watermark.WatermarkKey.from_passphrase("doctest")
>>> _, img = next(photo_crops(256, 1, seed=0))
>>> marked = watermark.embed(img, key, payload="c0ffee42")
>>> r = watermark.verify(marked, key)
>>> r.detected, r.payload, r.p_value < 1e-6
(True, 'c0ffee42', True)
>>> watermark.verify(img, key).detected
False

Methods (``method=``): ``tiled`` (genaudit's own, the default; see :mod:`.tiled`) and the three
methods of invisible-watermark, wrapped: ``dwtDct``, ``dwtDctSvd``, ``rivaGan``.

Every ``verify`` is an exact hypothesis test: ``p_value`` is the probability that an image without
this key's watermark scores at least as high, and ``detected`` means ``p_value <= fpr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import GenauditError
from ..suggest import did_you_mean
from .keys import WatermarkKey, WatermarkKeyError, generate_key, load_key, save_key
from .tiled import TiledParams

DEFAULT_METHOD = "tiled"
DEFAULT_FPR = 1e-6
METHODS = ("tiled", "dwtDct", "dwtDctSvd", "rivaGan")


class WatermarkError(GenauditError):
    """A watermark cannot be embedded (image too small, unsupported mode, bad payload...)."""


@dataclass(frozen=True)
class WatermarkResult:
    """The outcome of :func:`verify`.

    ``status`` is ``ok`` when the test ran and ``skipped`` (with ``reason``) when the method
    cannot read this image (too small, greyscale for a colour-only method).
    """

    detected: bool
    p_value: float | None
    bit_accuracy: float | None
    payload: str | None
    method: str
    fpr: float
    key_id: str
    status: str = "ok"
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"detected": self.detected, "p_value": self.p_value, "bit_accuracy": self.bit_accuracy,
                "payload": self.payload, "method": self.method, "fpr": self.fpr, "key_id": self.key_id,
                "status": self.status, "reason": self.reason, "details": dict(self.details)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WatermarkResult:
        return cls(detected=bool(d["detected"]), p_value=d.get("p_value"), bit_accuracy=d.get("bit_accuracy"),
                   payload=d.get("payload"), method=str(d["method"]), fpr=float(d["fpr"]), key_id=str(d["key_id"]),
                   status=str(d.get("status", "ok")), reason=d.get("reason"), details=dict(d.get("details") or {}))


def parse_payload(payload: int | str | None) -> int | None:
    """A 32-bit payload from an int or a hex string (``"c0ffee42"``, ``"0x1f"``)."""
    if payload is None:
        return None
    if isinstance(payload, str):
        text = payload.strip().lower().removeprefix("0x")
        try:
            value = int(text, 16)
        except ValueError:
            raise WatermarkError(f"payload must be hexadecimal, got {payload!r}") from None
    elif isinstance(payload, int) and not isinstance(payload, bool):
        value = payload
    else:
        raise WatermarkError(f"payload must be an int or a hex string, got {type(payload).__name__}")
    if not 0 <= value < 2**32:
        raise WatermarkError(f"payload must fit in 32 bits, got {payload!r}")
    return value


def format_payload(value: int | None) -> str | None:
    return None if value is None else f"{value:08x}"


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise WatermarkError(f"unknown watermark method {method!r}{did_you_mean(method, METHODS)};"
                             f" choose from {', '.join(METHODS)}")


# --------------------------------------------------------------------------------------------
# Image adapters: keep the caller's type, mode, greyscale and alpha
# --------------------------------------------------------------------------------------------

@dataclass
class _Pixels:
    color: np.ndarray            # (H, W) grey or (H, W, 3) RGB, uint8
    alpha: np.ndarray | None     # (H, W) uint8
    kind: str                    # "pil" or "array"
    mode: str                    # PIL mode to give back


def _from_image(image: Any) -> _Pixels:
    from PIL import Image

    from ..io import GREY_MODES, LoadedImage, alpha_of

    if isinstance(image, LoadedImage):
        color = image.array[:, :, 0] if image.is_grey else image.array
        mode = ("LA" if image.alpha is not None else "L") if image.is_grey else (
            "RGBA" if image.alpha is not None else "RGB")
        return _Pixels(np.ascontiguousarray(color), image.alpha, "pil", mode)
    if isinstance(image, Image.Image):
        alpha = alpha_of(image)
        if image.mode in GREY_MODES:
            from ..io import load_pil

            grey = load_pil(image).array[:, :, 0]  # 16-bit / float greyscale scaled to 8 bits
            return _Pixels(np.ascontiguousarray(grey), alpha, "pil", "LA" if alpha is not None else "L")
        rgb = np.asarray(image.convert("RGB"))
        return _Pixels(rgb, alpha, "pil", "RGBA" if alpha is not None else "RGB")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise WatermarkError(f"arrays must be uint8, got {a.dtype}")
    if a.ndim == 2:
        return _Pixels(a, None, "array", "L")
    if a.ndim == 3 and a.shape[2] in (1, 2, 3, 4):
        color = a[:, :, 0] if a.shape[2] in (1, 2) else a[:, :, :3]
        alpha = a[:, :, -1] if a.shape[2] in (2, 4) else None
        return _Pixels(np.ascontiguousarray(color), alpha, "array", "")
    raise WatermarkError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {a.shape}")


def _to_image(px: _Pixels, color: np.ndarray) -> Any:
    from PIL import Image

    if px.kind == "array":
        return color if px.alpha is None else np.dstack([color, px.alpha])
    if color.ndim == 2:
        img = Image.fromarray(color, "L")
        return Image.merge("LA", (img, Image.fromarray(px.alpha, "L"))) if px.alpha is not None else img
    img = Image.fromarray(color, "RGB")
    if px.alpha is not None:
        img.putalpha(Image.fromarray(px.alpha, "L"))
    return img


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def _tiled_params(params: TiledParams | Mapping[str, Any] | None) -> TiledParams:
    if params is None:
        return TiledParams()
    if isinstance(params, TiledParams):
        return params
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return replace(TiledParams(), **fields)


def embed(image: Any, key: WatermarkKey, payload: int | str | None = None, method: str = DEFAULT_METHOD, *,
          params: TiledParams | Mapping[str, Any] | None = None) -> Any:
    """Return ``image`` with the watermark of ``key`` (and ``payload``, tiled method only).

    Accepts a ``PIL.Image`` (returns one of the same greyscale/colour/alpha kind) or a uint8
    array (returns an array of the same shape). Raises :class:`WatermarkError` when the image is
    too small or the method cannot carry the request.
    """
    _check_method(method)
    value = parse_payload(payload)
    px = _from_image(image)
    if method == "tiled":
        from . import tiled

        try:
            marked = tiled.embed(px.color, key, value, _tiled_params(params))
        except ValueError as exc:
            raise WatermarkError(str(exc)) from None
        return _to_image(px, marked)
    from .wrapped import WrappedMethod

    if value is not None:
        raise WatermarkError(f"{method} carries no genaudit payload; use method='tiled' for a payload")
    wm = WrappedMethod(method)
    reason = wm.unsupported(px.color)
    if reason:
        raise WatermarkError(reason)
    return _to_image(px, wm.embed(px.color, key))


def verify(image: Any, key: WatermarkKey, method: str = DEFAULT_METHOD, *, fpr: float = DEFAULT_FPR,
           params: TiledParams | Mapping[str, Any] | None = None) -> WatermarkResult:
    """Test whether ``image`` carries ``key``'s watermark; see :class:`WatermarkResult`."""
    _check_method(method)
    if not 0 < fpr < 1:
        raise WatermarkError(f"fpr must be in (0, 1), got {fpr}")
    px = _from_image(image)
    base: dict[str, Any] = {"method": method, "fpr": fpr, "key_id": key.key_id}
    if method == "tiled":
        from .tiled import detect

        p = _tiled_params(params)
        h, w = px.color.shape[:2]
        if min(h, w) < p.min_size:
            return WatermarkResult(False, None, None, None, status="skipped",
                                   reason=f"image is {w}×{h}; the tiled method needs at least"
                                          f" {p.min_size}×{p.min_size}", **base)
        d = detect(px.color, key, p)
        return WatermarkResult(d.p_value <= fpr, d.p_value, d.bit_accuracy,
                               format_payload(d.payload) if d.p_value <= fpr else None,
                               details=d.details(), **base)
    from .wrapped import WrappedMethod

    wm = WrappedMethod(method)
    reason = wm.unsupported(px.color)
    if reason:
        return WatermarkResult(False, None, None, None, status="skipped", reason=reason, **base)
    p_value, acc, details = wm.detect(px.color, key)
    return WatermarkResult(p_value <= fpr, p_value, acc, None, details=details, **base)


def method_params(method: str, params: TiledParams | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters a method runs with (for reports)."""
    _check_method(method)
    if method == "tiled":
        from dataclasses import asdict

        return asdict(_tiled_params(params))
    from .wrapped import WrappedMethod

    return WrappedMethod(method).params()


__all__ = ["DEFAULT_FPR", "DEFAULT_METHOD", "METHODS", "TiledParams", "WatermarkError", "WatermarkKey",
           "WatermarkKeyError", "WatermarkResult", "embed", "generate_key", "load_key", "method_params",
           "parse_payload", "save_key", "verify"]
