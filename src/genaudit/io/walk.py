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


@dataclass(frozen=True)
class InputItem:
    """One input path found by :func:`iter_inputs`; ``error`` is set when it cannot even be opened."""

    path: str
    error: FileError | None = None


def _excluded(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def iter_inputs(paths: Iterable[str | os.PathLike[str]], *, exclude: Sequence[str] = (),
                exclude_dirs: Sequence[str] = ()) -> Iterator[InputItem]:
    """Yield every file under ``paths`` exactly once, in a stable (sorted) order.

    Directories are walked recursively. Symbolic links to directories are followed unless they
    lead back to a directory already on the current walk (a loop), which is reported as
    ``symlink_loop``; broken links are reported as ``broken_symlink``. ``exclude`` holds glob
    patterns matched against the path relative to its root and against the bare name.
    ``exclude_dirs`` are directories (e.g. the report directory) that are never entered.

    >>> import os, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("b.png", "a.png", "notes.txt"):
    ...         _ = Path(d, name).write_bytes(b"x")
    ...     items = list(iter_inputs([d, os.path.join(d, "missing.png")], exclude=["*.txt"]))
    >>> [(os.path.basename(i.path), i.error.code if i.error else None) for i in items]
    [('a.png', None), ('b.png', None), ('missing.png', 'not_found')]
    """
    seen: set[str] = set()
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
            yield InputItem(path, error)

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
                yield from emit(entry.path)
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
