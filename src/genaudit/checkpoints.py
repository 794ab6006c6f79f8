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
