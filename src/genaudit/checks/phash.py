"""``phash`` check: perceptual hashes, bit-identical to the ``imagehash`` package.

The hashes come from :mod:`genaudit.features.hashing` (the implementation the memorization index
uses too). The image is converted to greyscale once and each hash family runs on that greyscale
image, which is exactly what ``imagehash`` does internally, so ``data["phash"]`` equals
``str(imagehash.phash(img, hash_size))`` for the RGB image genaudit decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..features.hashing import FAMILIES as HASH_FAMILIES
from ..io import LoadedImage
from ..results import CheckResult
from .base import Check


@dataclass(frozen=True)
class PHashOptions:
    hashes: tuple[str, ...] = ("phash",)
    """Which hash families to compute (phash, dhash, ahash, whash)."""
    hash_size: int = 8
    """Bits per side: 8 gives 64-bit hashes."""

    def __post_init__(self) -> None:
        if isinstance(self.hashes, str):
            object.__setattr__(self, "hashes", tuple(h.strip() for h in self.hashes.split(",") if h.strip()))
        unknown = [h for h in self.hashes if h not in HASH_FAMILIES]
        if unknown or not self.hashes:
            raise ValueError(f"hashes must be a non-empty subset of {', '.join(HASH_FAMILIES)}; got {self.hashes}")
        if not (isinstance(self.hash_size, int) and 2 <= self.hash_size <= 64) or (
                "whash" in self.hashes and self.hash_size & (self.hash_size - 1)):
            raise ValueError("hash_size must be an integer from 2 to 64 (a power of two for whash)")


class PerceptualHashCheck(Check):
    name = "phash"
    version = "1"
    description = "perceptual hashes (imagehash-compatible hex)"
    Options = PHashOptions
    thread_safe = True  # pure functions of the pixels

    def run(self, image: LoadedImage) -> CheckResult:
        from ..features.hashing import bits_to_hex, hash_bits

        n = self.options.hash_size
        if min(image.width, image.height) < n:
            return CheckResult.skipped(
                self.name, f"image is {image.width}×{image.height}, smaller than the {n}×{n} pixels"
                           f" a {n * n}-bit hash needs")
        # each family converts to greyscale itself; with several hashes, convert once and share it.
        src = image.pil if len(self.options.hashes) == 1 else image.pil.convert("L")
        data: dict[str, Any] = {h: bits_to_hex(hash_bits([src], h, n))[0] for h in self.options.hashes}
        data["bits"] = n * n
        return CheckResult.ok(self.name, data, summary=" ".join(f"{h}={data[h]}" for h in self.options.hashes))

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        hashed = 0
        for path, r in items:
            if r.status == "ok" and "phash" in r.data:
                hashed += 1
                groups.setdefault(str(r.data["phash"]), []).append(path or "<memory>")
        dup = [sorted(v) for v in groups.values() if len(v) > 1]
        dup.sort(key=lambda g: (-len(g), g[0]))
        return {
            "hashed": hashed,
            "identical_phash_groups": len(dup),
            "files_in_identical_groups": sum(len(g) for g in dup),
            "largest_groups": dup[:10],
        }
