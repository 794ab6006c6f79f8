"""Error types and the per-file error codes used throughout genaudit.

Error codes are constants so that tests, reports and users' code can depend on them.
Every code has a one-line description; ``genaudit`` never reports a file error without one
of these codes.
"""

from __future__ import annotations

# --- per-file error codes (FileError.code) -------------------------------------------------
EMPTY_FILE = "empty_file"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
UNSUPPORTED_FORMAT = "unsupported_format"
NOT_AN_IMAGE = "not_an_image"
PERMISSION_DENIED = "permission_denied"
TOO_LARGE = "too_large"
FILE_TOO_LARGE = "file_too_large"
NOT_FOUND = "not_found"
BROKEN_SYMLINK = "broken_symlink"
SYMLINK_LOOP = "symlink_loop"
NOT_A_REGULAR_FILE = "not_a_regular_file"
READ_ERROR = "read_error"
INTERNAL_ERROR = "internal_error"
INVALID_INPUT = "invalid_input"

ERROR_CODES: dict[str, str] = {
    EMPTY_FILE: "the file has zero bytes",
    TRUNCATED: "the file ends before the image data does",
    CORRUPT: "the image data is damaged and cannot be decoded",
    UNSUPPORTED_FORMAT: "a recognised image format that genaudit does not decode",
    NOT_AN_IMAGE: "the content is not an image (whatever the file name says)",
    PERMISSION_DENIED: "the file or directory cannot be read with the current permissions",
    TOO_LARGE: "the image declares more pixels than the configured limit (decompression-bomb guard)",
    FILE_TOO_LARGE: "the file is larger than the configured byte limit",
    NOT_FOUND: "the path does not exist",
    BROKEN_SYMLINK: "a symbolic link whose target does not exist",
    SYMLINK_LOOP: "a symbolic link that leads back into a directory already being walked",
    NOT_A_REGULAR_FILE: "a FIFO, socket or device, which genaudit never opens",
    READ_ERROR: "the operating system reported an I/O error while reading",
    INTERNAL_ERROR: "genaudit itself failed on this file (a bug: please report it)",
    INVALID_INPUT: "an in-memory object that is not an image: not a PIL image, an array, encoded bytes or a path;"
                   " an array of the wrong shape or type; a closed PIL image",
}

# --- warning codes (ImageInfo.warnings) -----------------------------------------------------
EXTENSION_MISMATCH = "extension_mismatch"


class GenauditError(Exception):
    """Base class of all errors genaudit raises on purpose."""


class ConfigError(GenauditError):
    """Invalid configuration or command-line usage (CLI exit code 2)."""


class UnknownCheckError(ConfigError):
    """A check name that is not registered."""


class ImageLoadError(GenauditError):
    """An input could not be loaded as an image. ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OutputError(GenauditError):
    """A file genaudit writes could not be written: disk full, permissions, an I/O error (CLI exit 2).

    >>> import errno
    >>> str(OutputError.from_os_error("rep/report.json", OSError(errno.ENOSPC, "No space left on device")))
    'cannot write rep/report.json: No space left on device'
    """

    @classmethod
    def from_os_error(cls, path: str, exc: OSError, hint: str = "") -> OutputError:
        return cls(f"cannot write {path}: {exc.strerror or exc}" + (f"; {hint}" if hint else ""))


class NoImagesError(ConfigError):
    """A scan found nothing to audit: empty folders, or only files that are not images."""


class ResumeError(ConfigError):
    """``--resume`` was asked for but the previous results cannot be reused."""
