"""``provenance`` check: read and validate the C2PA manifest of each file.

Per image: ``no_manifest``, ``valid_trusted``, ``valid_untrusted``, ``invalid`` (with the C2PA
status codes) or ``error`` (unparseable asset), plus the parsed claims: AI-generated?, which
generator, training-mining policy, genaudit audit, watermark soft binding.

Result status: ``finding`` when the manifest is invalid (tampered) or declares AI generation, and
with ``require_trusted`` when a valid manifest's signer does not chain to the trust anchors; ``ok``
when there is no manifest or a valid one without an AI claim; ``skipped`` for in-memory images (no
file bytes to read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..io import LoadedImage
from ..results import CheckResult
from .base import Check, missing_option


@dataclass(frozen=True)
class ProvenanceOptions:
    trust_anchors: str | None = None
    """PEM file of trust anchor certificates; without it no signer is trusted."""
    require_trusted: bool = False
    """Manifests must chain to ``trust_anchors`` (which it then needs): a valid manifest from an
    untrusted signer is a finding, not ``ok``."""


class ProvenanceCheck(Check):
    name = "provenance"
    version = "1"
    description = "C2PA manifest: no manifest / valid-trusted / valid-untrusted / invalid, and its AI claims"
    Options = ProvenanceOptions
    needs_pixels = False

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.anchors: str | None = None
        if self.options.trust_anchors:  # validate() made sure it is set when required
            from ..provenance.c2pa import ProvenanceError, load_trust_anchors

            try:
                self.anchors = load_trust_anchors(self.options.trust_anchors)
            except ProvenanceError as exc:
                raise ConfigError(str(exc)) from None

    def validate(self) -> None:
        if self.options.require_trusted and not self.options.trust_anchors:
            raise ConfigError(missing_option(self.name, "trust_anchors", "--trust-anchors PEM or"
                                             " -O provenance.trust_anchors=PEM", when="with require_trusted"))

    def params(self) -> dict[str, Any]:
        import hashlib

        sha = hashlib.sha256(self.anchors.encode()).hexdigest() if self.anchors else None
        return {"trust_anchors": self.options.trust_anchors, "trust_anchors_sha256": sha,
                "require_trusted": self.options.require_trusted}

    def run(self, image: LoadedImage) -> CheckResult:
        from ..provenance.c2pa import MIME_BY_FORMAT, read_manifest

        if not image.raw:
            return CheckResult.skipped(self.name, "in-memory image: no file bytes to read a C2PA manifest from")
        report = read_manifest(image.raw, trust_anchors=self.anchors,
                               mime=MIME_BY_FORMAT.get(image.info.format.lower()))
        data = report.to_dict()
        if report.status == "no_manifest":
            return CheckResult.ok(self.name, data, summary="no C2PA manifest")
        if report.status == "error":
            return CheckResult.finding(self.name, data, summary=f"C2PA manifest unreadable: {report.reason}")
        if report.status == "invalid":
            return CheckResult.finding(self.name, data,
                                       summary="C2PA manifest INVALID: " + ", ".join(report.codes))
        who = (report.generator or {}).get("name")
        trust = "trusted" if report.trusted else "untrusted signer"
        if self.options.require_trusted and not report.trusted:
            claim = f"; AI-generated{' by ' + who if who else ''}" if report.ai_generated else ""
            return CheckResult.finding(self.name, data, summary="C2PA manifest valid but its signer is not trusted"
                                                                " by the trust anchors" + claim)
        if report.ai_generated:
            return CheckResult.finding(self.name, data, summary=f"C2PA ({trust}): AI-generated"
                                                                + (f" by {who}" if who else ""))
        return CheckResult.ok(self.name, data, summary=f"C2PA manifest valid ({trust}), no AI-generation claim")

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        generators: dict[str, int] = {}
        codes: dict[str, int] = {}
        ai = 0
        for _, r in items:
            st = r.data.get("status")
            if st is None:
                continue
            statuses[st] = statuses.get(st, 0) + 1
            ai += bool(r.data.get("ai_generated")) and st in ("valid_trusted", "valid_untrusted")
            name = (r.data.get("generator") or {}).get("name")
            if name:
                generators[name] = generators.get(name, 0) + 1
            for c in r.data.get("codes") or ():
                codes[c] = codes.get(c, 0) + 1
        return {"statuses": dict(sorted(statuses.items())), "ai_generated_valid": ai,
                "generators": dict(sorted(generators.items())), "failure_codes": dict(sorted(codes.items()))}
