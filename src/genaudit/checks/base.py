"""The contract every check honours.

A check is a class with a ``name``, a ``version``, an ``Options`` frozen dataclass and a
``run(image) -> CheckResult`` method (``run_batch`` for checks that batch model inference).
Checks never raise for a bad input: when they cannot run on an image they return
``CheckResult.skipped(name, reason)``; a check selected without an option it needs (a key, an
index) raises :class:`~genaudit.errors.ConfigError` when it is constructed (:attr:`Check.required`,
:meth:`Check.validate`); the :class:`~genaudit.Auditor` turns any exception that
escapes anyway into a per-image ``error`` result, so one broken check never stops a scan.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..errors import ConfigError
from ..io import LoadedImage
from ..results import CheckInfo, CheckResult
from ..suggest import did_you_mean

_SETUP_LOCK = threading.RLock()  # setup() runs once per check even when threads race to it


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A check without options."""


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _describe(tp: Any) -> str:
    if tp is bool:
        return "true or false (yes/no, 1/0)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if typing.get_origin(tp) is tuple:
        return f"a comma-separated list of {_describe(typing.get_args(tp)[0]).removeprefix('a ')}s"
    return getattr(tp, "__name__", str(tp))


def convert_option(tp: Any, value: Any) -> Any:
    """``value`` (a string from the command line, or a TOML / Python value) as type ``tp``:
    ``bool`` (true/false, yes/no, 1/0, on/off in any case), ``int``, ``float``, ``str``,
    ``tuple[X, ...]`` (a list, or a comma-separated string), ``X | None`` (``None`` or an empty
    string is ``None``). Other types are passed through for the options class to check.
    Raises ``ValueError`` naming the expected type.

    >>> convert_option(bool, "No"), convert_option(int, "8"), convert_option(tuple[str, ...], "a, b")
    (False, 8, ('a', 'b'))
    >>> convert_option(bool, "maybe")
    Traceback (most recent call last):
    ...
    ValueError: expected true or false (yes/no, 1/0), got 'maybe'
    """
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        if value is None or value == "":
            return None
        return convert_option(inner[0], value) if len(inner) == 1 else value
    bad = ValueError(f"expected {_describe(tp)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str | int) else None
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise bad from None
            if number == number:  # not NaN
                return number
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):  # a JSON list, as the command line used to take
                try:
                    value = json.loads(text)
                except ValueError:
                    raise bad from None
            else:
                value = [v.strip() for v in text.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise bad
        try:
            return tuple(convert_option(args[0], v) for v in value)
        except ValueError:
            raise bad from None
    return value


def parse_options(options_type: type, values: Mapping[str, Any] | None, check: str) -> Any:
    """Build ``options_type`` from a mapping, converting each value by its field's declared type
    (:func:`convert_option`: command-line strings and TOML values alike), with clear errors for
    unknown keys and bad values, each naming ``CHECK.OPTION``.

    >>> from genaudit.checks.metadata import MetadataOptions
    >>> parse_options(MetadataOptions, {"flag_c2pa_presence": "False"}, "metadata")
    MetadataOptions(flag_c2pa_presence=False)
    >>> parse_options(MetadataOptions, {"flag_c2pa_presence": "maybe"}, "metadata")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    genaudit.errors.ConfigError: invalid value for option metadata.flag_c2pa_presence: ..., got 'maybe'
    """
    values = dict(values or {})
    fields = dataclasses.fields(options_type)
    names = [f.name for f in fields]
    for key in values:
        if key not in names:
            known = ", ".join(names) or "none"
            raise ConfigError(f"unknown option {key!r} for check {check!r}{did_you_mean(key, names)};"
                              f" known options: {known}")
    try:
        hints = typing.get_type_hints(options_type)
    except Exception:  # noqa: BLE001 - unresolvable annotations: values go to the class as given
        hints = {}
    for f in fields:
        if f.name not in values:
            continue
        try:
            values[f.name] = convert_option(hints.get(f.name, f.type), values[f.name])
        except ValueError as exc:
            raise ConfigError(f"invalid value for option {check}.{f.name}: {exc}") from None
        if isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    try:
        return options_type(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid options for check {check!r}: {exc}") from None


def missing_option(check: str, option: str, how: str, when: str = "") -> str:
    """The one line of a check selected without an option it needs.

    >>> missing_option("watermark", "key_file", "--watermark-key-file KEY or -O watermark.key_file=KEY")
    'the watermark check needs option watermark.key_file: give --watermark-key-file KEY or -O watermark.key_file=KEY'
    """
    return f"the {check} check{' ' + when if when else ''} needs option {check}.{option}: give {how}"


class Check:
    """Base class of all checks. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    batched: ClassVar[bool] = False
    """True for checks whose ``run_batch`` is faster than image-by-image (model inference).
    Other checks run on each image right after it is decoded, while its pixels are in cache."""
    needs_pixels: ClassVar[bool] = True
    """False for checks that read only the file's bytes, header and metadata (``raw``, ``info``,
    ``metadata``): they also run on a file whose pixels could not be decoded (corrupt, truncated),
    on a view without pixels (``image.decoded`` is False); checks that need pixels are skipped."""
    thread_safe: bool = False
    """True when ``run``/``run_batch`` may run on several threads at once on one instance (no
    mutable state, or state behind its own lock). Otherwise an ``Auditor`` shared between
    threads runs this check on one thread at a time. An instance may refine it from its options."""
    required: ClassVar[Mapping[str, str]] = {}
    """Options the check cannot run without: option name → how a user gives it. Selecting the check
    without one is a :class:`~genaudit.errors.ConfigError` at construction (a scan stops before
    reading a file, exit 2), never a ``skipped`` result on every image."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options(self.Options, options, self.name)
        self.validate()
        self._ready = False

    def validate(self) -> None:
        """Raise :class:`~genaudit.errors.ConfigError` when the options lack what the check needs
        (by default: every :attr:`required` option is set). Called at construction; override for
        needs that depend on other options, with :func:`missing_option` for the message."""
        for option, how in self.required.items():
            if getattr(self.options, option, None) in (None, "", ()):
                raise ConfigError(missing_option(self.name, option, how))

    # -- lifecycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models or other heavy state. Called once per process before the first image."""

    def ensure_setup(self) -> None:
        """Run :meth:`setup` once, even when several threads ask at the same time; after a
        failure, the next call tries again."""
        if self._ready:
            return
        with _SETUP_LOCK:
            if not self._ready:
                self.setup()
                self._ready = True

    # -- work ----------------------------------------------------------------------------------
    def run(self, image: LoadedImage) -> CheckResult:
        raise NotImplementedError

    def run_batch(self, images: Sequence[LoadedImage]) -> list[CheckResult]:
        """Run on several images; override to batch model inference."""
        return [self.run(im) for im in images]

    # -- description ---------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.options)

    def models(self) -> list[dict[str, Any]]:
        """Model files this check uses, each ``{"name", "path", "sha256"}``."""
        return []

    def info(self) -> CheckInfo:
        return CheckInfo(name=self.name, version=self.version, description=self.description,
                         params=self.params(), models=tuple(self.models()))

    @classmethod
    def summarize(cls, items: Sequence[tuple[str | None, CheckResult]]) -> dict[str, Any]:
        """Aggregate this check's per-image ``(path, result)`` pairs for the report summary."""
        return {}


def group_of(image: LoadedImage) -> str:
    """The group an image's rates are reported under: the generator named by the ``genaudit:model``
    PNG text chunk (``genaudit models sample`` writes it), else the image's folder name."""
    model = image.metadata.text.get("genaudit:model") if image.metadata else None
    if model:
        return str(model)
    if image.path:
        return os.path.basename(os.path.dirname(os.path.abspath(image.path))) or "unknown"
    return "in-memory"
