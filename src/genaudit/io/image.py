"""What the loader hands out: :class:`LoadedImage` (RGB pixels + what is known about the file),
:class:`ImageMetadata`, and the :class:`LoadLimits` applied before any decode.

>>> LoadLimits(max_pixels=0)
Traceback (most recent call last):
...
genaudit.errors.ConfigError: max_pixels and max_file_bytes must be positive
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from .. import errors as E
from ..results import ImageInfo

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

DEFAULT_MAX_PIXELS = 150_000_000
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024

GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")


@dataclass(frozen=True)
class LoadLimits:
    """Resource limits applied to every file before it is decoded."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if self.max_pixels <= 0 or self.max_file_bytes <= 0:
            raise E.ConfigError("max_pixels and max_file_bytes must be positive")


@dataclass(frozen=True)
class ImageMetadata:
    """Metadata the decoder found, kept raw for the checks to interpret."""

    text: dict[str, str] = field(default_factory=dict)
    """Text chunks / comments (PNG tEXt/iTXt/zTXt, JPEG COM, GIF comment)."""
    xmp: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    """Selected EXIF string tags by name (Software, Make, Model, UserComment, ...)."""
    has_icc_profile: bool = False


class NoPixels:
    """Stands in for the pixels of a file that could not be decoded (a bytes-only view, see
    :func:`genaudit.io.decode.undecoded_view`): using it in any way raises the decoding error.

    >>> NoPixels("corrupt", "cannot decode PNG data").width
    Traceback (most recent call last):
    ...
    genaudit.errors.ImageLoadError: corrupt: the image could not be decoded: cannot decode PNG data
    """

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message

    def _fail(self) -> E.ImageLoadError:
        return E.ImageLoadError(self.code, f"the image could not be decoded: {self.message}")

    def __getattr__(self, name: str) -> NoReturn:
        raise self._fail()

    def __array__(self, *args: object, **kwargs: object) -> NoReturn:
        raise self._fail()

    def __repr__(self) -> str:
        return f"<pixels not decoded: {self.code}>"


@dataclass
class LoadedImage:
    """A decoded image: RGB pixels plus what is known about the file it came from.

    ``pil`` is an RGB ``PIL.Image``; ``array`` the same pixels as an (H, W, 3) uint8 array.
    ``raw`` is the file's bytes (empty for in-memory images). For a file whose pixels could not be
    decoded, checks that read bytes only get a view whose ``pil`` is :class:`NoPixels`
    (``decoded`` is False): its ``info`` comes from the header and ``metadata`` from what Pillow
    parsed without the pixels.
    """

    pil: Image.Image
    info: ImageInfo
    sha256: str
    size_bytes: int
    path: str | None = None
    raw: bytes = b""
    metadata: ImageMetadata = field(default_factory=ImageMetadata)
    alpha: np.ndarray | None = field(default=None, repr=False)
    """The original alpha channel (uint8, H×W) when the image had one; ``pil`` is composited."""
    _array: np.ndarray | None = field(default=None, repr=False)

    @property
    def decoded(self) -> bool:
        """False for the bytes-only view of a file whose pixels could not be decoded."""
        return not isinstance(self.pil, NoPixels)

    @property
    def is_grey(self) -> bool:
        """Was the source greyscale (any bit depth, with or without alpha)?"""
        return self.info.original_mode.split("/")[0] in GREY_MODES

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            import numpy as np

            self._array = np.asarray(self.pil)
        return self._array

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height
