"""Writing files: PNG encoding with text chunks, and atomic writes (temporary file + rename)."""

from __future__ import annotations

import os
from typing import Any


def encode_png(image: Any, text: dict[str, str] | None = None) -> bytes:
    """Encode an array ((H, W) grey, (H, W, 3) RGB, uint8) or ``PIL.Image`` as PNG with text chunks.

    >>> import numpy as np
    >>> encode_png(np.zeros((4, 4), np.uint8), {"genaudit:seed": "0"})[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    import io as _io

    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    img = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = _io.BytesIO()
    img.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def write_atomic(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    crash never leaves a half-written file. Creates the folder. Returns the path.

    >>> import os, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_atomic(os.path.join(d, "sub", "x.bin"), b"abc")
    ...     Path(p).read_bytes(), os.listdir(os.path.dirname(p))
    (b'abc', ['x.bin'])
    """
    import tempfile

    p = os.fspath(path)
    d = os.path.dirname(os.path.abspath(p))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(p)[1], dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def write_png(path: str | os.PathLike[str], image: Any, text: dict[str, str] | None = None) -> str:
    """Write :func:`encode_png` output atomically (:func:`write_atomic`). Returns the path."""
    return write_atomic(path, encode_png(image, text))
