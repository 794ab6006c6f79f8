"""Error correction for watermark payloads: a 32-bit payload in a binary BCH codeword (bchlib)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

PAYLOAD_BITS = 32


@lru_cache(maxsize=8)
def _bch(t: int, m: int) -> Any:
    import bchlib

    return bchlib.BCH(t=t, m=m)


@dataclass(frozen=True)
class PayloadCode:
    """BCH over GF(2^m) correcting ``t`` bit errors; codeword = 32 data bits + parity bits."""

    t: int = 10
    m: int = 7

    @property
    def length(self) -> int:
        return PAYLOAD_BITS + _bch(self.t, self.m).ecc_bits

    def encode(self, payload: int) -> list[int]:
        """Codeword bits (0/1) for a 32-bit unsigned payload."""
        if not 0 <= payload < 2**PAYLOAD_BITS:
            raise ValueError(f"payload must be a {PAYLOAD_BITS}-bit unsigned integer, got {payload}")
        bch = _bch(self.t, self.m)
        data = bytearray(payload.to_bytes(4, "big"))
        ecc = bch.encode(data)
        bits = _to_bits(bytes(data), PAYLOAD_BITS) + _to_bits(bytes(ecc), bch.ecc_bits)
        return bits

    def decode(self, bits: list[int]) -> tuple[int | None, int]:
        """(payload, corrected bit errors) — payload None when there are too many errors."""
        bch = _bch(self.t, self.m)
        if len(bits) != self.length:
            raise ValueError(f"expected {self.length} code bits, got {len(bits)}")
        data = bytearray(_from_bits(bits[:PAYLOAD_BITS]))
        ecc = bytearray(_from_bits(bits[PAYLOAD_BITS:], nbytes=bch.ecc_bytes))
        n_err = bch.decode(data, ecc)
        if n_err < 0:
            return None, -1
        bch.correct(data, ecc)
        return int.from_bytes(bytes(data), "big"), int(n_err)


def _to_bits(data: bytes, n: int) -> list[int]:
    return [(data[i // 8] >> (7 - i % 8)) & 1 for i in range(n)]


def _from_bits(bits: list[int], nbytes: int | None = None) -> bytes:
    nbytes = nbytes if nbytes is not None else (len(bits) + 7) // 8
    out = bytearray(nbytes)
    for i, b in enumerate(bits):
        if b:
            out[i // 8] |= 1 << (7 - i % 8)
    return bytes(out)
