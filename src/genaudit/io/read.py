"""Reading files: one bounded read of a regular file (:func:`read_file`), then
:func:`open_image` = read + :func:`~genaudit.io.decode.decode_bytes`."""

from __future__ import annotations

import errno
import os
import stat

from .. import errors as E
from .decode import decode_bytes
from .image import LoadedImage, LoadLimits


def read_file(path: str | os.PathLike[str], limits: LoadLimits = LoadLimits()) -> bytes:  # noqa: B008 - frozen
    """Read a regular file's bytes, refusing FIFOs/devices, empty and over-size files.

    Raises :class:`~genaudit.errors.ImageLoadError` with a specific code.

    >>> import tempfile
    >>> from genaudit.errors import ImageLoadError
    >>> with tempfile.TemporaryDirectory() as d:
    ...     try:
    ...         read_file(d)
    ...     except ImageLoadError as exc:
    ...         print(exc.code)
    not_a_regular_file
    """
    p = os.fspath(path)
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        raise E.ImageLoadError(E.NOT_FOUND, "no such file") from None
    except PermissionError:
        raise E.ImageLoadError(E.PERMISSION_DENIED, "permission denied while looking up the file") from None
    if stat.S_ISLNK(lst.st_mode):
        try:
            os.stat(p)
        except FileNotFoundError:
            raise E.ImageLoadError(E.BROKEN_SYMLINK,
                                   f"symbolic link to missing target {os.readlink(p)!r}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise E.ImageLoadError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)") from None
            raise
    try:
        # O_NONBLOCK: opening a FIFO must never hang the scan; we check the type right after.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        raise E.ImageLoadError(E.PERMISSION_DENIED, "permission denied: the file is not readable") from None
    except FileNotFoundError:
        raise E.ImageLoadError(E.NOT_FOUND, "the file disappeared before it could be read") from None
    except IsADirectoryError:
        raise E.ImageLoadError(E.NOT_A_REGULAR_FILE, "is a directory") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise E.ImageLoadError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):
            raise E.ImageLoadError(E.NOT_A_REGULAR_FILE, "a socket or device, not a regular file") from None
        raise E.ImageLoadError(E.READ_ERROR, f"cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
            raise E.ImageLoadError(E.NOT_A_REGULAR_FILE, f"{kind}, not a regular file: not opened")
        if st.st_size == 0:
            raise E.ImageLoadError(E.EMPTY_FILE, "the file is empty (0 bytes)")
        if st.st_size > limits.max_file_bytes:
            raise E.ImageLoadError(
                E.FILE_TOO_LARGE,
                f"{st.st_size:,} bytes is over the limit of {limits.max_file_bytes:,} bytes (max_file_bytes)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            # Ask for the size fstat gave (+1 to notice a growing file): asking for the byte limit
            # would make Python allocate the whole limit up front.
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:
                parts = [data]
                total = len(data)
                while total <= limits.max_file_bytes and (more := fh.read(1 << 20)):
                    parts.append(more)
                    total += len(more)
                data = b"".join(parts)
    except OSError as exc:
        raise E.ImageLoadError(E.READ_ERROR, f"I/O error while reading: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if not data:
        raise E.ImageLoadError(E.EMPTY_FILE, "the file is empty (0 bytes)")
    if len(data) > limits.max_file_bytes:
        raise E.ImageLoadError(E.FILE_TOO_LARGE,
                               f"over the limit of {limits.max_file_bytes:,} bytes (max_file_bytes)")
    return data


def open_image(path: str | os.PathLike[str], limits: LoadLimits = LoadLimits()) -> LoadedImage:  # noqa: B008 - frozen
    """Read and decode an image file. Raises :class:`~genaudit.errors.ImageLoadError`.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from genaudit.io import write_png
    >>> with tempfile.TemporaryDirectory() as d:
    ...     img = open_image(write_png(os.path.join(d, "grey.png"), np.zeros((8, 12), np.uint8)))
    >>> img.info.format, img.width, img.height, img.is_grey
    ('png', 12, 8, True)
    """
    p = os.fspath(path)
    data = read_file(p, limits)
    return decode_bytes(data, path=p, limits=limits)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks), hex: how genaudit names model files,
    indexes and its own outputs.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"abc"); fh.flush()
    ...     sha256_file(fh.name)[:16]
    'ba7816bf8f01cfea'
    """
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
