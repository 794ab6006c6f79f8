"""The one place genaudit reads images.

* The format is sniffed from the content, never from the file name.
* Files are read once (bounded by ``max_file_bytes``); the sha256 is taken from those bytes.
* The pixel count declared in the header is checked against ``max_pixels`` *before* decoding,
  so decompression bombs are refused without allocating their pixels.
* EXIF orientation is applied; palette / alpha / 16-bit / CMYK / greyscale images become RGB
  uint8 and the original mode is recorded. Alpha is composited over white.
* Every failure is an :class:`~genaudit.errors.ImageLoadError` with a code from
  :data:`genaudit.errors.ERROR_CODES`; nothing returns ``None`` silently.

The package has one module per job: :mod:`~genaudit.io.sniff` (format from content),
:mod:`~genaudit.io.read` (bounded file reads), :mod:`~genaudit.io.decode` (bytes to pixels, with
:mod:`~genaudit.io.metadata` and :mod:`~genaudit.io.convert`), :mod:`~genaudit.io.memory`
(in-memory images), :mod:`~genaudit.io.image` (the :class:`LoadedImage` it all returns),
:mod:`~genaudit.io.write` (PNG encoding, atomic writes), :mod:`~genaudit.io.walk` (input folders) and
:mod:`~genaudit.io.outputs` (where outputs go: mirrored, never overwritten without ``force``).
Import from ``genaudit.io``; numpy and Pillow load on first use.

>>> import numpy as np
>>> img = load_array(np.zeros((4, 6), dtype=np.uint8))
>>> img.array.shape, img.info.original_mode
((4, 6, 3), 'L')
"""

from __future__ import annotations

from .convert import alpha_of
from .decode import decode_bytes
from .image import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS, GREY_MODES, ImageMetadata, LoadedImage, LoadLimits
from .memory import load_any, load_array, load_pil
from .outputs import OutputExistsError, PlannedOutput, plan_outputs, refuse_existing
from .read import open_image, read_file, sha256_file
from .sniff import SUPPORTED_FORMATS, Sniffed, sniff_format
from .walk import InputItem, iter_inputs, no_images_message
from .write import encode_png, thumbnail_data_uri, write_atomic, write_png

__all__ = [  # noqa: RUF022 - grouped by topic
    "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_FILE_BYTES", "LoadLimits", "ImageMetadata", "LoadedImage", "GREY_MODES",
    "SUPPORTED_FORMATS", "Sniffed", "sniff_format",
    "read_file", "open_image", "sha256_file", "decode_bytes", "alpha_of",
    "load_pil", "load_array", "load_any",
    "encode_png", "thumbnail_data_uri", "write_atomic", "write_png",
    "InputItem", "iter_inputs", "no_images_message",
    "plan_outputs", "PlannedOutput", "refuse_existing", "OutputExistsError",
]
