"""A check that uses a model file, as model checks do: its sha256 is part of what determines results."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from genaudit.checks.base import Check
from genaudit.io import LoadedImage
from genaudit.results import CheckResult


@dataclass(frozen=True)
class ModelFileOptions:
    model: str = ""


class ModelFileCheck(Check):
    """Declares ``model`` as its model file; reports the image width."""

    name = "modelfile"
    Options = ModelFileOptions

    def models(self) -> list[dict[str, Any]]:
        with open(self.options.model, "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        return [{"name": "toy weights", "path": self.options.model, "sha256": sha}]

    def run(self, image: LoadedImage) -> CheckResult:
        return CheckResult.ok(self.name, {"width": image.width})
