"""Where the bundled checkpoints live: the reference generators' and the shipped detector's.

A small module below the engines, so that every engine can find the bundled files without
importing another engine.
"""

from __future__ import annotations

import os


def checkpoint_dir() -> str:
    """The bundled checkpoints folder (``GENAUDIT_CHECKPOINT_DIR`` overrides)."""
    override = os.environ.get("GENAUDIT_CHECKPOINT_DIR")
    if override:
        return override
    import reference_models

    return os.path.join(os.path.dirname(os.path.abspath(reference_models.__file__)), "checkpoints")


def expected_sha256(section: str, name: str, directory: str | None = None) -> str | None:
    """The sha256 that ``manifest.json`` (beside the checkpoints) records for ``name`` in ``section``
    (``detectors``, ``clip``, ...); ``None`` when there is no manifest or no entry."""
    import json

    path = os.path.join(directory or checkpoint_dir(), "manifest.json")
    try:
        with open(path, encoding="utf-8") as fh:
            entry = (json.load(fh).get(section) or {}).get(name) or {}
    except (OSError, ValueError):
        return None
    sha = entry.get("sha256")
    return sha if isinstance(sha, str) else None
