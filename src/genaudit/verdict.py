"""One verdict per image, joining the evidence of every check, with the reasons.

A check's ``finding`` means different things — a declaration, a proof, an estimate, a problem — so
each becomes :class:`Evidence` with a ``kind`` and a ``severity``:

=======================  ========  ===========================================================
kind                     severity  from
=======================  ========  ===========================================================
``tampered_manifest``    high      provenance: a C2PA manifest whose hashes no longer match
                                   (``*.mismatch`` codes: pixels or assertions changed)
``near_copy``            high      memorization: a near-copy of a training item
``invalid_manifest``     medium    provenance: invalid for another reason (expired or bad
                                   signing credential)
``unreadable_manifest``  medium    provenance: a manifest store that cannot be parsed
``untrusted_manifest``   medium    provenance (``require_trusted``): valid, signer not trusted
``detector_generated``   medium    detector: p(generated) at or above its operating point
``check_error``          low       any check that failed on this image
``declared_ai``          info      metadata (IPTC digitalSourceType, generator text chunks) or a
                                   valid C2PA manifest claiming AI generation
``watermark_found``      info      watermark: the configured key's watermark is present
``c2pa_present``         info      metadata (``flag_c2pa_presence``): a manifest store exists
``<check>_finding``      medium    any other check's finding (plug-ins)
=======================  ========  ===========================================================

The verdict's ``label`` is the most telling kind: ``unreadable`` (the file could not be audited),
``tampered``, ``memorized``, ``generated`` (declared or watermarked), ``likely_generated``
(detector only), ``flagged`` (other findings), else ``no_evidence``. ``severity`` is the highest
among the reasons (``none`` without any; ``error`` for an unreadable file).

>>> from genaudit.results import CheckResult
>>> v = verdict_of("ok", None, [CheckResult.finding("detector", {"p_generated": 0.97}, "generated (p=0.970)"),
...                              CheckResult.finding("watermark", {}, "watermark detected: tiled (p=1e-9)")])
>>> v.label, v.severity, [r.kind for r in v.reasons]
('generated', 'medium', ['detector_generated', 'watermark_found'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("none", "info", "low", "medium", "high", "error")
LABELS = ("unreadable", "tampered", "memorized", "generated", "likely_generated", "flagged", "no_evidence")


@dataclass(frozen=True)
class Evidence:
    kind: str
    severity: str
    check: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "severity": self.severity, "check": self.check, "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    label: str
    severity: str
    reasons: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "severity": self.severity, "reasons": [r.to_dict() for r in self.reasons]}


def _provenance(data: Mapping[str, Any], summary: str) -> Evidence:
    status = data.get("status")
    if status == "invalid":
        codes = [str(c) for c in data.get("codes") or ()]
        if not codes or any(c.endswith("mismatch") for c in codes):  # content or assertions changed
            return Evidence("tampered_manifest", "high", "provenance", summary)
        return Evidence("invalid_manifest", "medium", "provenance", summary)  # e.g. an expired certificate
    if status == "error":
        return Evidence("unreadable_manifest", "medium", "provenance", summary)
    if status in ("valid_trusted", "valid_untrusted") and "not trusted" in summary:
        return Evidence("untrusted_manifest", "medium", "provenance", summary)
    return Evidence("declared_ai", "info", "provenance", summary)


def evidence_of(check: str, status: str, data: Mapping[str, Any], summary: str, reason: str | None) -> list[Evidence]:
    """The evidence one check result gives (none for ``ok`` and ``skipped`` results)."""
    if status == "error":
        return [Evidence("check_error", "low", check, reason or summary)]
    if status != "finding":
        return []
    if check == "metadata":
        if data.get("ai_markers") or "AI-generation markers" in summary:
            return [Evidence("declared_ai", "info", check, summary)]
        return [Evidence("c2pa_present", "info", check, summary)]
    if check == "provenance":
        return [_provenance(data, summary)]
    if check == "watermark":
        return [Evidence("watermark_found", "info", check, summary)]
    if check == "detector":
        return [Evidence("detector_generated", "medium", check, summary)]
    if check == "memorization":
        return [Evidence("near_copy", "high", check, summary)]
    return [Evidence(f"{check}_finding", "medium", check, summary)]


def verdict_of(file_status: str, file_error: Any, checks: Iterable[Any]) -> Verdict:
    """The verdict of one image from its file status/error and its :class:`CheckResult` s."""
    reasons: list[Evidence] = []
    if file_status == "error" and file_error is not None:
        reasons.append(Evidence("unreadable_file", "error", "io", f"{file_error.code}: {file_error.message}"))
    for c in checks:
        reasons += evidence_of(c.check, c.status, c.data, c.summary, c.reason)
    kinds = {r.kind for r in reasons}
    if file_status == "error":
        label = "unreadable"
    elif "tampered_manifest" in kinds:
        label = "tampered"
    elif "near_copy" in kinds:
        label = "memorized"
    elif kinds & {"declared_ai", "watermark_found"}:
        label = "generated"
    elif "detector_generated" in kinds:
        label = "likely_generated"
    elif any(r.severity in ("medium", "high") for r in reasons):
        label = "flagged"
    else:
        label = "no_evidence"
    severity = max((r.severity for r in reasons), key=SEVERITIES.index, default="none")
    return Verdict(label, severity, tuple(reasons))
