"""Pillow without touching process-wide state, so that decoding is safe from many threads.

Two Pillow habits would make decoding change what other threads see:

* ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is one switch for the whole process; a caller may set it
  to get partial images. genaudit never decodes a partial image, whatever the switch says, and
  never flips it: :func:`load_strict` runs Pillow's own ``ImageFile.load`` code with a private
  copy of its module globals in which the switch is off, and gives the image (only this image)
  a reader that fails when the data runs out, where Pillow would stop early or, for JPEG, pretend
  the file ended.
* warnings (corrupt EXIF, decompression-bomb size, ...) are silenced per call by
  ``warnings.catch_warnings``, which swaps the process's filter list and is not thread-safe.
  :func:`quiet_warnings` marks the current thread instead, and one filter, added to
  ``warnings.filters`` once, ignores warnings raised on marked threads only.

>>> import io
>>> from PIL import Image, ImageFile
>>> buf = io.BytesIO()
>>> Image.linear_gradient("L").save(buf, "JPEG")
>>> data = buf.getvalue()
>>> ImageFile.LOAD_TRUNCATED_IMAGES = True  # a caller asks Pillow for partial images
>>> im = Image.open(io.BytesIO(data[: len(data) * 3 // 4]))
>>> try:
...     load_strict(im)
... except OSError as exc:
...     print(exc)
image file is truncated
>>> ImageFile.LOAD_TRUNCATED_IMAGES  # left as the caller set it
True
>>> ImageFile.LOAD_TRUNCATED_IMAGES = False
"""

from __future__ import annotations

import struct
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

_LOCAL = threading.local()
_LOCK = threading.Lock()
_STRICT_LOAD: Callable[[Any], Any] | None = None


class _MarkedThread:
    """Stands where a warnings filter keeps its module pattern: ``match`` is true on threads
    inside :func:`quiet_warnings`, whatever module warns."""

    pattern = "<a thread decoding in genaudit>"

    def match(self, module: str) -> bool:
        return getattr(_LOCAL, "depth", 0) > 0

    def __repr__(self) -> str:
        return self.pattern


_FILTER = ("ignore", None, Warning, _MarkedThread(), 0)


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Ignore warnings raised by this thread inside the block; other threads are not affected.

    >>> import warnings
    >>> with quiet_warnings(), warnings.catch_warnings(record=True) as seen:
    ...     warnings.warn("corrupt EXIF")
    >>> seen
    []
    """
    if _FILTER not in warnings.filters:  # once, and again if a catch_warnings block dropped it
        with _LOCK:
            if _FILTER not in warnings.filters:
                cast("list[Any]", warnings.filters).insert(0, _FILTER)
    _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
    try:
        yield
    finally:
        _LOCAL.depth -= 1


def _strict_imagefile_load() -> Callable[[Any], Any]:
    """``ImageFile.ImageFile.load`` with ``LOAD_TRUNCATED_IMAGES`` off in its own globals."""
    global _STRICT_LOAD
    if _STRICT_LOAD is None:
        from PIL import ImageFile

        fn = ImageFile.ImageFile.load
        scope = dict(fn.__globals__)
        scope["LOAD_TRUNCATED_IMAGES"] = False
        _STRICT_LOAD = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    return _STRICT_LOAD


def load_strict(im: Image.Image) -> None:
    """Load ``im``'s pixels; raise ``OSError`` rather than return a partial image.

    The same as ``im.load()`` with ``ImageFile.LOAD_TRUNCATED_IMAGES`` off, without changing it.
    """
    from PIL import ImageFile, JpegImagePlugin

    if not isinstance(im, ImageFile.ImageFile) or not im.tile:
        im.load()
        return
    # JPEG's own reader pads a file that ends early with an end marker when the switch is on.
    base = None if isinstance(im, JpegImagePlugin.JpegImageFile) else getattr(type(im), "load_read", None)

    def read(n: int) -> bytes:
        fp = im.fp  # looked up at each read: a format's own load may replace it (WebP)
        if fp is None:
            raise OSError("image file is closed")
        try:
            s = base(im, n) if base is not None else fp.read(n)
        except (IndexError, struct.error) as exc:
            raise OSError("image file is truncated") from exc
        if not s:
            raise OSError("image file is truncated")
        return s

    im.load_read = read  # type: ignore[attr-defined]  # ImageFile.load prefers it to fp.read
    try:
        if type(im).load is ImageFile.ImageFile.load:
            _strict_imagefile_load()(im)
        else:  # a format's own load (TIFF, WebP) ends in ImageFile.load, which uses ``read``
            im.load()
    finally:
        im.__dict__.pop("load_read", None)  # no reference cycle left behind
