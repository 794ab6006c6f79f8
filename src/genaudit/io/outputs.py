"""Where outputs go: one policy for every command and function that writes files.

* **Mirror the inputs.** A file given as an input goes to ``OUT/name``; the files found in an input
  folder keep their place below it: ``in/d/a.jpg`` → ``OUT/d/a.jpg`` (nothing is flattened).
* **Two inputs, one name.** When two inputs would get the same output (``a.jpg`` and ``a.png``
  both becoming ``a.png``, or the same name from two input folders), the input that keeps its own
  name wins, then the first in input order; the others get ``-1``, ``-2``, … before the extension,
  skipping every name that another input maps to. The plan depends only on the inputs, never on
  what is already on disk.
* **Never overwrite without force.** An output that already exists is refused before anything is
  written (:class:`OutputExistsError`, naming the first and how many), unless ``force``.
* **Outputs never become inputs.** The output folder is never walked as an input, and no output
  may replace one of the inputs, even with ``force``.

``genaudit index add`` is the one writer that updates its output (the index) in place, on purpose.

>>> import os, tempfile
>>> from pathlib import Path
>>> d = tempfile.mkdtemp()
>>> for rel in ("in/a.jpg", "in/a.png", "in/sub/a.jpg"):
...     os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
...     _ = Path(d, rel).write_bytes(b"x")
>>> plan = plan_outputs([os.path.join(d, "in")], os.path.join(d, "out"), suffix=".png")
>>> [(os.path.relpath(p.path, d), os.path.relpath(p.output, d)) for p in plan]
[('in/a.jpg', 'out/a-1.png'), ('in/a.png', 'out/a.png'), ('in/sub/a.jpg', 'out/sub/a.png')]
>>> os.makedirs(os.path.join(d, "out"))
>>> _ = Path(d, "out", "a.png").write_bytes(b"")
>>> plan_outputs([os.path.join(d, "in")], os.path.join(d, "out"), suffix=".png")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
genaudit.io.outputs.OutputExistsError: refusing to overwrite .../out/a.png: it exists; use --force to overwrite it
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..results import FileError
from .walk import iter_inputs


class OutputExistsError(ConfigError):
    """Outputs that already exist, refused without ``force`` (``--force``). ``paths`` lists them."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        first, more = self.paths[0], len(self.paths) - 1
        if more:
            text = (f"refusing to overwrite {first} and {more} more existing output{'s' if more > 1 else ''};"
                    " use --force to overwrite them")
        else:
            text = f"refusing to overwrite {first}: it exists; use --force to overwrite it"
        super().__init__(text)


def refuse_existing(paths: Iterable[str | os.PathLike[str]], force: bool = False) -> None:
    """Raise :class:`OutputExistsError` when any of ``paths`` exists and ``force`` is not set; a
    folder where a file should go is refused even with ``force``.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     refuse_existing([f.name], force=True)
    ...     refuse_existing([f.name + ".new"])
    """
    existing = [os.fspath(p) for p in paths if os.path.lexists(p)]
    folders = [p for p in existing if os.path.isdir(p)]
    if folders:
        raise ConfigError(f"cannot write {folders[0]}: it is a folder")
    if existing and not force:
        raise OutputExistsError(existing)


@dataclass(frozen=True)
class PlannedOutput:
    """One input of a plan: its ``output`` path, or the ``error`` that stops it from being read."""

    path: str
    output: str | None = None
    error: FileError | None = None

    def code_message(self) -> tuple[str, str]:
        """The error's code and message (for an input without an output)."""
        return (self.error.code, self.error.message) if self.error else ("internal_error", "no output planned")


def _relative_names(inputs: Iterable[str | os.PathLike[str]], out_dir: str, ignored: list[str] | None = None,
                    ) -> list[tuple[str, str | None, FileError | None]]:
    """(input path, its path relative to OUT, walking error) for every file, each once, in order
    (files in folders that are not images go to ``ignored``, see :func:`~genaudit.io.iter_inputs`)."""
    seen: set[str] = set()
    found: list[tuple[str, str | None, FileError | None]] = []
    for raw in inputs:
        root = os.fspath(raw)
        is_dir = os.path.isdir(root)
        for item in iter_inputs([root], exclude_dirs=[out_dir], ignored=ignored):
            key = os.path.abspath(item.path)
            if key in seen:
                continue
            seen.add(key)
            rel = os.path.normpath(os.path.relpath(item.path, root)) if is_dir else os.path.basename(item.path)
            found.append((item.path, None if item.error else rel, item.error))
    return found


def _free(name: str, taken: set[str]) -> str:
    """``name`` with the smallest ``-N`` before its extension that is not in ``taken``.

    >>> _free("d/a.png", {"d/a.png", "d/a-1.png"})
    'd/a-2.png'
    """
    stem, ext = os.path.splitext(name)
    n = 1
    while f"{stem}-{n}{ext}" in taken:
        n += 1
    return f"{stem}-{n}{ext}"


def plan_outputs(inputs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                 suffix: str | None = None, force: bool = False,
                 ignored: list[str] | None = None) -> list[PlannedOutput]:
    """Walk ``inputs`` (files and folders; ``out_dir`` is never entered) and give every file its
    output path under ``out_dir`` by the policy of this module; ``suffix`` (e.g. ``".png"``)
    replaces each output's extension. Raises :class:`OutputExistsError` when an output exists and
    ``force`` is not set, and :class:`~genaudit.errors.ConfigError` when an output would replace
    an input. Files that cannot be opened come back with their ``error`` and no output. With an
    ``ignored`` list, files found in folders that are not images are left out and listed there
    (as a scan does, see :func:`~genaudit.io.iter_inputs`)."""
    out = os.fspath(out_dir)
    found = _relative_names(inputs, out, ignored)
    names: list[str | None] = [None if rel is None else (os.path.splitext(rel)[0] + suffix if suffix else rel)
                               for _, rel, _ in found]
    taken = {n for n in names if n is not None}
    claimed: set[str] = set()
    final: list[str | None] = list(names)
    # the inputs that keep their own name choose first, then input order
    for i in sorted((i for i, n in enumerate(names) if n is not None), key=lambda i: (names[i] != found[i][1], i)):
        name = names[i]
        assert name is not None
        if name in claimed:
            name = _free(name, taken | claimed)
        claimed.add(name)
        final[i] = name
    plan = [PlannedOutput(path, None if name is None else os.path.join(out, name), error)
            for (path, _, error), name in zip(found, final, strict=True)]
    outputs = [p.output for p in plan if p.output is not None]
    inputs_abs = {os.path.realpath(p.path) for p in plan if p.output is not None}
    for p in plan:
        if p.output is not None and os.path.realpath(p.output) in inputs_abs:
            raise ConfigError(f"{p.output} would replace an input; choose an output folder outside the inputs")
    refuse_existing(outputs, force)
    return plan
