"""Writing files: PNG encoding with text chunks, and atomic writes (temporary file + rename).

Files genaudit writes (reports, released and signed images, indexes) get the mode an ordinary
``open(path, "w")`` would give them: ``0o666`` less the user's umask (:func:`new_file_mode`).
Key files are the exception: they are written 0600 by their own writers.
"""

from __future__ import annotations

import os
from typing import Any


def _umask_from_proc() -> int | None:
    """The umask as Linux (4.7+) reports it in ``/proc/self/status``, or None where it does not."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _umask_by_setting() -> int:
    """Read the umask the only portable way: set it and set it back (briefly process-wide)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


# Where /proc cannot tell, the umask is read once, here: ``os.umask`` changes a process-wide
# setting, and another thread creating a file between the two calls would get the wrong mode.
# Importing this module normally happens before a program starts threads.
_proc_umask = _umask_from_proc()
_UMASK_AT_IMPORT: int = _umask_by_setting() if _proc_umask is None else _proc_umask


def current_umask() -> int:
    """The process's umask, read without changing it: from ``/proc/self/status`` on Linux (so a
    later ``os.umask`` call is seen), else the value it had when :mod:`genaudit.io` was imported.

    >>> 0 <= current_umask() <= 0o777
    True
    """
    mask = _umask_from_proc()
    return _UMASK_AT_IMPORT if mask is None else mask


def new_file_mode() -> int:
    """The mode of a new, non-secret file: ``0o666 & ~umask`` (0644 under the usual umask 022).

    >>> new_file_mode() == 0o666 & ~current_umask()
    True
    """
    return 0o666 & ~current_umask()


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
    crash never leaves a half-written file. Creates the folder. The file gets
    :func:`new_file_mode` (the temporary file starts 0600). Returns the path.

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
        if hasattr(os, "fchmod"):
            os.fchmod(fd, new_file_mode())
        else:  # pragma: no cover - Windows before Python 3.13
            os.chmod(tmp, new_file_mode())
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


def thumbnail_data_uri(image: Any, max_side: int = 96) -> str:
    """A small picture of ``image`` (PIL or uint8 array) as a ``data:`` URI, at most ``max_side`` px
    on its longer side (aspect kept; never enlarged): how reports embed pictures without files or
    network. Greyscale and transparent images become PNG (exact, ~0.5 KB for 28²); colour images JPEG
    at quality 85 (~3 KB at 96 px, where a PNG would take ~30 KB).

    >>> import numpy as np
    >>> thumbnail_data_uri(np.zeros((200, 100), np.uint8), 50)[:22]
    'data:image/png;base64,'
    """
    import base64

    import numpy as np
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    img = img.copy()
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if img.mode == "RGB":
        import io as _io

        buf = _io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return "data:image/png;base64," + base64.b64encode(encode_png(img)).decode("ascii")
