"""The three methods of the ``invisible-watermark`` package, behind genaudit's interface.

They are called, not copied. Each embeds 32 key-derived bits (the package's own payload field);
verification decodes the bits and applies the exact binomial test, so their results are
comparable with genaudit's method at the same false-positive rate. They carry no genaudit payload.
All three work on BGR colour images of at least 256×256 pixels (area) and embed in colour
channels, so greyscale images are skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .keys import WatermarkKey
from .stats import binomial_pvalue

N_BITS = 32
MIN_AREA = 256 * 256


@dataclass(frozen=True)
class WrappedMethod:
    """One of ``dwtDct``, ``dwtDctSvd``, ``rivaGan`` from invisible-watermark."""

    name: str

    def check_bits(self, key: WatermarkKey) -> list[int]:
        return [int(b) for b in key.rng(f"wrapped/{self.name}/bits").integers(0, 2, N_BITS)]

    def unsupported(self, pixels: np.ndarray) -> str | None:
        """Why this method cannot handle ``pixels``, or None."""
        h, w = pixels.shape[:2]
        if pixels.ndim == 2 or pixels.shape[2] < 3:
            return f"{self.name} embeds in colour channels; greyscale images are not supported"
        if h * w < MIN_AREA:
            return f"image is {w}×{h}; {self.name} (invisible-watermark) needs at least 256×256 pixels"
        return None

    def _prepare(self) -> None:
        if self.name == "rivaGan":
            from imwatermark import WatermarkDecoder, WatermarkEncoder

            WatermarkEncoder.loadModel()
            WatermarkDecoder.loadModel()

    def embed(self, pixels: np.ndarray, key: WatermarkKey) -> np.ndarray:
        from imwatermark import WatermarkEncoder

        reason = self.unsupported(pixels)
        if reason:
            raise ValueError(reason)
        self._prepare()
        enc = WatermarkEncoder()
        enc.set_watermark("bits", self.check_bits(key))
        bgr = np.ascontiguousarray(pixels[:, :, 2::-1])
        out_bgr = enc.encode(bgr, self.name)
        out = pixels.copy()
        out[:, :, :3] = np.asarray(out_bgr)[:, :, ::-1]
        return out

    def detect(self, pixels: np.ndarray, key: WatermarkKey) -> tuple[float, float, dict[str, Any]]:
        """(exact p-value, bit accuracy, details)."""
        from imwatermark import WatermarkDecoder

        self._prepare()
        dec = WatermarkDecoder("bits", N_BITS)
        bits = dec.decode(np.ascontiguousarray(pixels[:, :, 2::-1]), self.name)
        expected = self.check_bits(key)
        matches = int(sum(int(bool(a)) == b for a, b in zip(bits, expected, strict=True)))
        return binomial_pvalue(matches, N_BITS), matches / N_BITS, {"matching_bits": matches, "bits": N_BITS}

    def params(self) -> dict[str, Any]:
        return {"bits": N_BITS, "package": "invisible-watermark"}


WRAPPED = ("dwtDct", "dwtDctSvd", "rivaGan")
