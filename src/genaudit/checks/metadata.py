"""``metadata`` check: what the file says about itself, and AI-generation markers in it.

Markers looked for (each reported with where it was found and the evidence):

* **IPTC digital source type** (XMP ``Iptc4xmpExt:DigitalSourceType``, and the IPTC NewsCodes
  URI anywhere in the file, e.g. inside a C2PA manifest): ``trainedAlgorithmicMedia``,
  ``compositeWithTrainedAlgorithmicMedia``, ``algorithmicMedia``, ``compositeSynthetic``.
* **Generator parameters** in text chunks: ``parameters`` (AUTOMATIC1111, Forge, Fooocus),
  ComfyUI ``prompt``/``workflow`` graphs, InvokeAI ``invokeai_metadata``/``sd-metadata``/``Dream``,
  NovelAI ``Comment`` JSON, genaudit's own ``genaudit:*`` chunks, and the
  ``Steps: N, Sampler: ...`` parameter line wherever it appears (e.g. EXIF UserComment).
* **AI software names** in EXIF/PNG ``Software``, ``Source`` or XMP ``CreatorTool``.
* **C2PA manifest store** (JUMBF box labelled ``c2pa``; PNG ``caBX`` chunk, JPEG APP11 segment,
  or another container). Its presence alone is not a finding (cameras sign too); the
  provenance check validates it.

The result is a ``finding`` when at least one AI-generation marker is present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..io import LoadedImage
from ..results import CheckResult
from .base import Check

#: IPTC NewsCodes digital source types that declare synthetic / AI-generated content
SYNTHETIC_SOURCE_TYPES: dict[str, str] = {
    "trainedAlgorithmicMedia": "created by a trained algorithmic model (generative AI)",
    "compositeWithTrainedAlgorithmicMedia": "composite including generative-AI elements",
    "algorithmicMedia": "created purely by an algorithm",
    "compositeSynthetic": "composite including synthetic elements",
}

#: text-chunk keys written by common generators -> (tool, condition on the value or None)
GENERATOR_TEXT_KEYS: dict[str, tuple[str, str | None]] = {
    "parameters": ("AUTOMATIC1111 / Forge / Fooocus generation parameters", None),
    "prompt": ("ComfyUI prompt graph", r"class_type|\"inputs\""),
    "workflow": ("ComfyUI workflow", r"\"nodes\"|\"links\""),
    "invokeai_metadata": ("InvokeAI generation metadata", None),
    "invokeai_graph": ("InvokeAI graph", None),
    "sd-metadata": ("InvokeAI (legacy) generation metadata", None),
    "dream": ("InvokeAI / lstein dream (legacy) prompt", None),
    "fooocus_scheme": ("Fooocus metadata scheme", None),
    "generation_data": ("generation parameters", None),
    "aigc": ("AIGC label (China TC260 implicit label)", None),
}

_A1111_LINE = re.compile(r"Steps: *\d+, *Sampler: *[^,\n]+", re.IGNORECASE)
_AI_SOFTWARE = re.compile(
    r"stable[ -]?diffusion|novelai|midjourney|dall[·\- ]?e|adobe firefly|\bimagen\b|comfyui|automatic1111"
    r"|invokeai|fooocus|leonardo\.ai|ideogram|\bsdxl\b|genaudit", re.IGNORECASE)
# Case-sensitive on purpose (a literal prefix searches ~20x faster over whole files); the URI path
# is lowercase by definition, camel case is the common mistake.
_DST_URI = re.compile(rb"newscodes/digital[sS]ource[tT]ype/([A-Za-z]{3,60})")
_DST_XMP = re.compile(r"DigitalSourceType\s*(?:=\s*[\"']|>)\s*(?:[^\"'<>\s]*/)?([A-Za-z]{3,60})",
                      re.IGNORECASE)
_EVIDENCE_CHARS = 200


def _evidence(value: str) -> str:
    v = " ".join(value.split())
    return v if len(v) <= _EVIDENCE_CHARS else v[:_EVIDENCE_CHARS] + "…"


def _canonical_term(term: str) -> str:
    lower = term.lower()
    for known in SYNTHETIC_SOURCE_TYPES:
        if known.lower() == lower:
            return known
    return term


def find_c2pa(raw: bytes) -> tuple[str | None, tuple[int, int]]:
    """Locate a C2PA manifest store (JUMBF ``jumd`` box labelled ``c2pa``) in a file's bytes.

    Returns the container it sits in (None when absent) and its byte span in the file.
    """
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        pos = 8
        while pos + 8 <= len(raw):
            length = int.from_bytes(raw[pos:pos + 4], "big")
            ctype = raw[pos + 4:pos + 8]
            if ctype == b"caBX":
                return "PNG caBX chunk", (pos, pos + 12 + length)
            if ctype == b"IEND" or length > len(raw):
                break
            pos += 12 + length
        return None, (0, 0)  # PNG keeps C2PA in caBX only: the chunk walk is authoritative
    if raw.startswith(b"\xff\xd8"):
        pos, first, last = 2, -1, -1
        while pos + 4 <= len(raw) and raw[pos] == 0xFF:
            marker = raw[pos + 1]
            if marker in (0xD9, 0xDA):  # EOI / start of scan: no more metadata segments
                break
            length = int.from_bytes(raw[pos + 2:pos + 4], "big")
            segment = raw[pos + 4:pos + 2 + length]
            if marker == 0xEB and segment[:2] == b"JP" and (b"jumb" in segment or first >= 0):
                first = pos if first < 0 else first
                last = pos + 2 + length
            pos += 2 + length
        if first >= 0 and b"c2pa" in raw[first:last]:
            return "JPEG APP11 segments", (first, last)
        return None, (0, 0)
    start = 0
    for _ in range(64):
        i = raw.find(b"jumd", start)
        if i < 0:
            break
        if b"c2pa" in raw[i:i + 48]:
            return "JUMBF box", (max(i - 8, 0), len(raw))
        start = i + 4
    return None, (0, 0)


@dataclass(frozen=True)
class MetadataOptions:
    flag_c2pa_presence: bool = False
    """Also report a finding when a C2PA manifest is present without an AI marker."""


class MetadataCheck(Check):
    name = "metadata"
    version = "1"
    description = "format, size, mode and AI-generation markers in the file"
    Options = MetadataOptions
    needs_pixels = False
    thread_safe = True  # pure functions of the decoded metadata and bytes

    def run(self, image: LoadedImage) -> CheckResult:
        meta = image.metadata
        markers: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()

        def add(kind: str, source: str, value: str, meaning: str) -> None:
            key = (kind, source)
            if key not in seen:
                seen.add(key)
                markers.append({"kind": kind, "source": source, "value": _evidence(value), "meaning": meaning})

        # IPTC digital source type: XMP, then the NewsCodes URI anywhere (C2PA, EXIF, text chunks).
        source_types: dict[str, str] = {}
        if meta.xmp:
            for m in _DST_XMP.finditer(meta.xmp):
                source_types.setdefault(_canonical_term(m.group(1)), "XMP")
        c2pa_container, (c2pa_start, c2pa_end) = find_c2pa(image.raw)
        for mb in _DST_URI.finditer(image.raw, c2pa_start, c2pa_end):  # XMP/EXIF/text are parsed above/below
            source_types.setdefault(_canonical_term(mb.group(1).decode("ascii")), "C2PA manifest")
        for key, value in list(meta.text.items()) + list(meta.exif.items()):
            for mb in _DST_URI.finditer(value.encode("utf-8", "ignore")):
                source_types.setdefault(_canonical_term(mb.group(1).decode("ascii")), f"text {key!r}")
        for term, where in source_types.items():
            if term in SYNTHETIC_SOURCE_TYPES:
                add("iptc_digital_source_type", where, term, SYNTHETIC_SOURCE_TYPES[term])

        # Generator text chunks and parameter lines.
        for key, value in meta.text.items():
            spec = GENERATOR_TEXT_KEYS.get(key.lower())
            if spec is not None and (spec[1] is None or re.search(spec[1], value)):
                add("generator_parameters", f"text chunk {key!r}", value, spec[0])
            elif key.lower().startswith("genaudit"):
                add("generator_parameters", f"text chunk {key!r}", value, "genaudit reference generator output")
            elif key.lower() == "comment" and _novelai_comment(value):
                add("generator_parameters", "text chunk 'Comment'", value, "NovelAI generation parameters")
        for key, value in list(meta.text.items()) + list(meta.exif.items()):
            if _A1111_LINE.search(value):
                add("generator_parameters", f"{'EXIF' if key in meta.exif else 'text'} {key!r}", value,
                    "Stable Diffusion web-UI parameter line")

        # AI software names.
        software_fields = {f"EXIF {k}": v for k, v in meta.exif.items() if k in ("Software", "Artist")}
        software_fields.update({f"text chunk {k!r}": v for k, v in meta.text.items()
                                if k.lower() in ("software", "source", "generator")})
        if meta.xmp:
            for m in re.finditer(r"CreatorTool\s*(?:=\s*[\"']|>)\s*([^\"'<]{1,200})", meta.xmp):
                software_fields["XMP CreatorTool"] = m.group(1)
        for where, value in software_fields.items():
            if _AI_SOFTWARE.search(value):
                add("ai_software", where, value, "software name of an image generator")

        c2pa = {"present": c2pa_container is not None, "container": c2pa_container}
        info = image.info
        data: dict[str, Any] = {
            "format": info.format,
            "width": info.width,
            "height": info.height,
            "mode": info.original_mode,
            "bit_depth": info.bit_depth,
            "n_frames": info.n_frames,
            "has_alpha": info.has_alpha,
            "exif_orientation": info.exif_orientation,
            "size_bytes": image.size_bytes,
            "has_icc_profile": meta.has_icc_profile,
            "has_xmp": meta.xmp is not None,
            "text_keys": sorted(meta.text),
            "exif": {k: _evidence(v) for k, v in sorted(meta.exif.items())},
            "digital_source_types": sorted(source_types),
            "c2pa": c2pa,
            "ai_markers": markers,
            "warnings": [w.to_dict() for w in info.warnings],
        }
        if markers:
            kinds = sorted({m["kind"] for m in markers})
            return CheckResult.finding(self.name, data, summary=f"AI-generation markers: {', '.join(kinds)}")
        if c2pa["present"] and self.options.flag_c2pa_presence:
            return CheckResult.finding(self.name, data, summary=f"C2PA manifest store ({c2pa['container']})")
        extra = f"; C2PA manifest store ({c2pa['container']})" if c2pa["present"] else ""
        return CheckResult.ok(self.name, data, summary=f"{info.format.upper()} {info.width}×{info.height}"
                                                       f" {info.original_mode}; no AI-generation markers{extra}")

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        formats: dict[str, int] = {}
        with_markers = with_c2pa = mismatched = 0
        for _, r in items:
            if r.status not in ("ok", "finding"):
                continue
            formats[str(r.data.get("format"))] = formats.get(str(r.data.get("format")), 0) + 1
            ms = r.data.get("ai_markers") or []
            with_markers += bool(ms)
            for k in {m["kind"] for m in ms}:
                kinds[k] = kinds.get(k, 0) + 1
            with_c2pa += bool((r.data.get("c2pa") or {}).get("present"))
            mismatched += any(w.get("code") == "extension_mismatch" for w in r.data.get("warnings") or [])
        return {
            "files_with_ai_markers": with_markers,
            "marker_kinds": dict(sorted(kinds.items())),
            "files_with_c2pa_manifest": with_c2pa,
            "extension_mismatches": mismatched,
            "formats": dict(sorted(formats.items())),
        }


def _novelai_comment(value: str) -> bool:
    try:
        d = json.loads(value)
    except (ValueError, TypeError):
        return False
    return isinstance(d, dict) and "steps" in d and ("sampler" in d or "seed" in d)
