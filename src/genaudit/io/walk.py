"""Walking inputs: every file under the given paths once, in a stable order; problems as data."""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .. import errors as E
from ..results import FileError
from .sniff import named_as_image, sniff_format


@dataclass(frozen=True)
class InputItem:
    """One input path found by :func:`iter_inputs`; ``error`` is set when it cannot even be opened."""

    path: str
    error: FileError | None = None


def _excluded(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _read_head(path: str, n: int = 64) -> bytes | None:
    """The first ``n`` bytes of a regular file, or None when they cannot be read (never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, n)
    except OSError:
        return None
    finally:
        os.close(fd)


def _not_an_image(path: str, st: os.stat_result) -> bool:
    """A walked file that is neither named nor sniffed as an image: not an image extension, and
    its first bytes readable and no image format's. A file that cannot be read is not judged."""
    if named_as_image(path) or not stat.S_ISREG(st.st_mode):
        return False
    head = _read_head(path)
    return head is not None and sniff_format(head) is None


def no_images_message(inputs: Sequence[str | os.PathLike[str]], n_ignored: int) -> str:
    """The one line for a walk that found nothing to work on.

    >>> no_images_message(["out/"], 3)
    'no image files found in out/ (3 files ignored: not images)'
    """
    ignored = f" ({n_ignored} file{'s' * (n_ignored != 1)} ignored: not images)" if n_ignored else ""
    return f"no image files found in {', '.join(os.fspath(p) for p in inputs)}{ignored}"


def iter_inputs(paths: Iterable[str | os.PathLike[str]], *, exclude: Sequence[str] = (),
                exclude_dirs: Sequence[str] = (), ignored: list[str] | None = None) -> Iterator[InputItem]:
    """Yield every file under ``paths`` exactly once, in a stable (sorted) order.

    Directories are walked recursively. Symbolic links to directories are followed unless they
    lead back to a directory already on the current walk (a loop), which is reported as
    ``symlink_loop``; broken links are reported as ``broken_symlink``. ``exclude`` holds glob
    patterns matched against the path relative to its root and against the bare name.
    ``exclude_dirs`` are directories (e.g. the report directory) that are never entered.

    With an ``ignored`` list, files found in folders that are neither named nor sniffed as images
    (``README.md``, ``meta.json``, ``signer.key``: an extension that is no image's, and leading
    bytes of no image format) are not yielded; their paths are added to ``ignored`` when the
    iteration ends. A file with an image extension or none is always yielded, and so is every
    path given in ``paths`` itself, whatever it holds.

    >>> import os, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("b.png", "a.png", "notes.txt"):
    ...         _ = Path(d, name).write_bytes(b"x")
    ...     items = list(iter_inputs([d, os.path.join(d, "missing.png")], exclude=["*.txt"]))
    >>> [(os.path.basename(i.path), i.error.code if i.error else None) for i in items]
    [('a.png', None), ('b.png', None), ('missing.png', 'not_found')]
    >>> ignored: list[str] = []
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = Path(d, "a.png").write_bytes(b"x"), Path(d, "README.md").write_text("# notes")
    ...     names = [os.path.basename(i.path) for i in iter_inputs([d], ignored=ignored)]
    >>> names, [os.path.basename(p) for p in ignored]
    (['a.png'], ['README.md'])
    """
    seen: set[str] = set()
    skipped: dict[str, str] = {}  # files ignored in walks, by absolute path
    skip_dirs: set[tuple[int, int]] = set()
    for d in exclude_dirs:
        try:
            st = os.stat(d)
            skip_dirs.add((st.st_dev, st.st_ino))
        except OSError:
            continue

    def emit(path: str, error: FileError | None = None) -> Iterator[InputItem]:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            skipped.pop(key, None)  # named on its own after a walk ignored it: reported
            yield InputItem(path, error)

    def emit_walked(path: str, st: os.stat_result) -> Iterator[InputItem]:
        key = os.path.abspath(path)
        if ignored is not None and key not in seen and (key in skipped or _not_an_image(path, st)):
            skipped[key] = path
            return
        yield from emit(path)

    def list_dir(top: str) -> list[os.DirEntry[str]] | FileError:
        try:
            with os.scandir(top) as it:
                return sorted(it, key=lambda e: e.name)
        except PermissionError:
            return FileError(E.PERMISSION_DENIED, "directory cannot be listed: permission denied")
        except OSError as exc:
            return FileError(E.READ_ERROR, f"directory cannot be listed: {exc.strerror or exc}")

    def entry_stat(entry: os.DirEntry[str]) -> tuple[os.stat_result | None, FileError | None]:
        """Stat an entry, following a link; a problem becomes a FileError."""
        try:
            if not entry.is_symlink():
                return entry.stat(follow_symlinks=False), None
            try:
                return os.stat(entry.path), None
            except FileNotFoundError:
                return None, FileError(E.BROKEN_SYMLINK, f"symbolic link to missing target {os.readlink(entry.path)!r}")
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return None, FileError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)")
                raise
        except PermissionError:
            return None, FileError(E.PERMISSION_DENIED, "cannot stat: permission denied")
        except OSError as exc:
            return None, FileError(E.READ_ERROR, f"cannot stat: {exc.strerror or exc}")

    def walk(top: str, top_key: tuple[int, int]) -> Iterator[InputItem]:
        """Depth-first, sorted, with an explicit stack (no recursion limit on deep trees)."""
        listing = list_dir(top)
        if isinstance(listing, FileError):
            yield from emit(top, listing)
            return
        # Each frame: the remaining entries of one directory and the directories above it.
        stack: list[tuple[list[os.DirEntry[str]], int, frozenset[tuple[int, int]]]] = [
            (listing, 0, frozenset({top_key}))]
        while stack:
            entries, i, ancestors = stack.pop()
            if i >= len(entries):
                continue
            entry = entries[i]
            stack.append((entries, i + 1, ancestors))
            if _excluded(os.path.relpath(entry.path, top), entry.name, exclude):
                continue
            st, error = entry_stat(entry)
            if st is None:
                yield from emit(entry.path, error)
                continue
            if not stat.S_ISDIR(st.st_mode):
                yield from emit_walked(entry.path, st)
                continue
            key = (st.st_dev, st.st_ino)
            if key in skip_dirs:
                continue
            if key in ancestors:
                target = os.readlink(entry.path) if entry.is_symlink() else entry.path
                yield from emit(entry.path, FileError(
                    E.SYMLINK_LOOP, f"link to {target!r} leads back to a directory being walked: not followed"))
                continue
            sub = list_dir(entry.path)
            if isinstance(sub, FileError):
                yield from emit(entry.path, sub)
            else:
                stack.append((sub, 0, ancestors | {key}))

    for raw in paths:
        p = os.fspath(raw)
        if not os.path.lexists(p):
            yield from emit(p, FileError(E.NOT_FOUND, "no such file or directory"))
            continue
        try:
            st = os.stat(p)
        except FileNotFoundError:
            yield from emit(p, FileError(E.BROKEN_SYMLINK, f"symbolic link to missing target {os.readlink(p)!r}"))
            continue
        except PermissionError:
            yield from emit(p, FileError(E.PERMISSION_DENIED, "cannot stat: permission denied"))
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                yield from emit(p, FileError(E.SYMLINK_LOOP, "symbolic link loop (too many levels)"))
            else:
                yield from emit(p, FileError(E.READ_ERROR, f"cannot stat: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from walk(p, (st.st_dev, st.st_ino))
        else:
            yield from emit(p)
    if ignored is not None:
        ignored.extend(skipped.values())
