"""``bias`` check: CLIP zero-shot attribute labels per image, and group metrics in the scan summary.

An adapter over :mod:`genaudit.bias`. Each image gets, per attribute of the chosen set, its group
(or ``None`` = abstained) and the top probability, plus the condition it is compared under
(``group_by``: the class label or prompt in its text chunks, its folder, or its generator). The
result status is ``ok``: a label is not a finding about one image. The scan summary's ``bias``
section holds, per attribute, the distribution with bootstrap CIs overall and per condition,
disparity against the set's target and the selection-rate difference/ratio between conditions
with the four-fifths flag — the same figures as ``genaudit bias``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import LoadedImage
from ..results import CheckResult
from .base import Check, group_of


@dataclass(frozen=True)
class BiasCheckOptions:
    attributes: str = "fashion-mnist"
    """Attribute set: a shipped name or a TOML file."""
    clip_model: str | None = None
    """open_clip architecture (default: the project's ``genaudit-fmnist-vit``)."""
    clip_checkpoint: str | None = None
    """Local weights for ``clip_model`` (required with it; nothing is downloaded)."""
    group_by: str = "label"
    """``label``, ``prompt``, ``folder``, ``generator`` or ``none``."""
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.group_by not in ("label", "prompt", "folder", "generator", "none"):
            raise ValueError(f"group_by must be label, prompt, folder, generator or none, got {self.group_by!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class BiasCheck(Check):
    name = "bias"
    version = "1"
    description = ("CLIP zero-shot attribute labels; distributions, disparity and selection rates with CIs"
                   " in the summary")
    Options = BiasCheckOptions
    batched = True
    thread_safe = True  # the embedder serialises its model calls; labelers are read-only

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        from ..bias import load_attribute_set

        self.attribute_set = load_attribute_set(self.options.attributes)
        # the model is loaded now: a missing checkpoint or an unknown architecture is a
        # configuration error before any file is read, never a skip on every image
        from ..bias import ClipEmbedder

        o = self.options
        self._embedder: Any = ClipEmbedder.from_choice(o.clip_model, o.clip_checkpoint, batch_size=o.batch_size)
        self._labelers: list[Any] = []

    def setup(self) -> None:
        from ..bias import ZeroShotLabeler

        self._labelers = [ZeroShotLabeler(self._embedder, a) for a in self.attribute_set.attributes]

    def params(self) -> dict[str, Any]:
        d = dict(super().params())
        import hashlib
        import json

        d["attribute_set"] = self.attribute_set.name
        # another set file, or other prompts under the same name, changes the resume fingerprint
        d["attribute_set_sha256"] = hashlib.sha256(json.dumps(self.attribute_set.to_dict(),
                                                              sort_keys=True).encode()).hexdigest()
        return d

    def models(self) -> list[dict[str, Any]]:
        self.ensure_setup()
        e = self._embedder
        return [{"name": f"CLIP {e.arch}", "path": os.path.abspath(e.checkpoint) if e.checkpoint else None,
                 "sha256": e.sha256}]

    def _condition(self, image: LoadedImage) -> str:
        from ..bias.conditions import condition_of

        how = self.options.group_by
        if how == "generator":
            return group_of(image)
        text = dict(image.metadata.text) if image.metadata else {}
        return condition_of(how, None, image.path or "", text)

    def run(self, image: LoadedImage) -> CheckResult:
        return self.run_batch([image])[0]

    def run_batch(self, images: Sequence[LoadedImage]) -> list[CheckResult]:
        self.ensure_setup()
        emb = self._embedder.embed([im.pil for im in images])
        per_attr = [(lab.attribute, lab.label_embeddings(emb)) for lab in self._labelers]
        names = {a.name: lb.names() for a, lb in per_attr}
        out = []
        for i, image in enumerate(images):
            labels = {a: n[i] for a, n in names.items()}
            data = {"attribute_set": self.attribute_set.name, "source": self.attribute_set.source,
                    "condition": self._condition(image), "labels": labels,
                    "p": {a.name: round(float(lb.probabilities[i].max()), 6) for a, lb in per_attr}}
            shown = ", ".join(f"{k}={v if v is not None else 'abstained'}" for k, v in labels.items())
            out.append(CheckResult.ok(self.name, data, summary=shown))
        return out

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        from ..bias import BiasOptions, analyse, load_attribute_set
        from ..bias.labels import Labels

        done = [r for _, r in items if r.status == "ok" and r.data.get("labels") is not None]
        if not done:
            return {"labelled_images": 0}
        source = str(done[0].data.get("source") or done[0].data.get("attribute_set"))
        try:
            aset = load_attribute_set(source)
        except ConfigError as exc:
            return {"labelled_images": len(done), "error": f"cannot reload the attribute set: {exc}"}
        conds = [str(r.data.get("condition", "all")) for r in done]
        options = BiasOptions()
        attributes = {}
        for a in aset.attributes:
            idx = np.array([a.index_of(r.data["labels"].get(a.name)) if r.data["labels"].get(a.name) else -1
                            for r in done], np.int64)
            labels = Labels(a.name, a.group_names, idx, np.empty((len(done), len(a.groups)), np.float32))
            attributes[a.name] = analyse(labels, a, conds, options).to_dict()
        return {"labelled_images": len(done), "attribute_set": aset.name, "caveats": list(aset.caveats),
                "bootstrap": {"n_boot": options.n_boot, "confidence": options.confidence, "seed": options.seed},
                "attributes": attributes}
