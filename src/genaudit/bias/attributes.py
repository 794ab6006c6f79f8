"""Attribute sets as data: attribute → groups → prompts, read from TOML.

A set file looks like this (the shipped ones are in :file:`sets/`)::

    name = "fashion-mnist"
    description = "..."
    templates = ["an image showing a {}.", "this is a {}."]   # default for every attribute
    abstain_below = 0.5                                      # default: min probability of the top group

    [[attribute]]
    name = "tone"
    target = "uniform"                # or a table {dark = 0.5, light = 0.5}; omitted: no target
    [[attribute.group]]
    name = "dark"
    phrases = ["dark item of clothing"]      # put into every template
    prompts = ["a dark photo of a garment"]  # used as they are (optional)

Prompt ensembling: a group's text embedding is the mean of its prompts' embeddings. Labels whose
top-group probability is below ``abstain_below`` are counted as abstained, never forced.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

SETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sets")


@dataclass(frozen=True)
class Group:
    name: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Attribute:
    name: str
    groups: tuple[Group, ...]
    abstain_below: float = 0.0
    target: tuple[float, ...] | None = None
    """Target share per group (same order as ``groups``), or ``None``."""
    description: str = ""

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    def index_of(self, group: str) -> int:
        """Index of a group by name (case-insensitive); -1 when unknown."""
        lowered = [g.lower() for g in self.group_names]
        return lowered.index(group.lower()) if group.lower() in lowered else -1


@dataclass(frozen=True)
class AttributeSet:
    name: str
    attributes: tuple[Attribute, ...]
    description: str = ""
    source: str = ""
    caveats: tuple[str, ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        from ..suggest import did_you_mean

        names = [a.name for a in self.attributes]
        raise ConfigError(f"attribute set {self.name!r} has no attribute {name!r}{did_you_mean(name, names)}"
                          f" (it has: {', '.join(names)})")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source,
                "attributes": [{"name": a.name, "groups": [{"name": g.name, "prompts": list(g.prompts)}
                                                           for g in a.groups],
                                "abstain_below": a.abstain_below,
                                "target": list(a.target) if a.target is not None else None}
                               for a in self.attributes]}


def shipped_sets() -> list[str]:
    """Names of the attribute sets shipped with genaudit.

    >>> "fashion-mnist" in shipped_sets()
    True
    """
    return sorted(n[:-5] for n in os.listdir(SETS_DIR) if n.endswith(".toml"))


def load_attribute_set(name_or_path: str) -> AttributeSet:
    """A shipped set by name, or a TOML file. Errors are one-line :class:`ConfigError` s."""
    path = name_or_path
    if not os.path.exists(path):
        if os.sep in name_or_path or name_or_path.endswith(".toml"):
            raise ConfigError(f"attribute file {name_or_path} not found")
        if name_or_path not in shipped_sets():
            from ..suggest import did_you_mean

            raise ConfigError(f"unknown attribute set {name_or_path!r}{did_you_mean(name_or_path, shipped_sets())}"
                              f" (shipped: {', '.join(shipped_sets())}; or give a TOML file)")
        path = os.path.join(SETS_DIR, f"{name_or_path}.toml")
    if os.path.isdir(path):
        raise ConfigError(f"attribute file {path} is a directory")
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"attribute file {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"attribute file {path} cannot be read: {exc}") from None
    return parse_attribute_set(doc, source=path)


def _fail(source: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"attribute file {source}: {where}: {msg}")


def _str_list(value: Any, source: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(source, where, "must be a list of non-empty strings")
    return tuple(value)


def _probability(value: Any, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise _fail(source, where, f"must be a number in [0, 1), got {value!r}")
    return float(value)


def parse_attribute_set(doc: dict[str, Any], source: str = "<dict>") -> AttributeSet:
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(source, "name", "missing (a non-empty string)")
    templates = _str_list(doc.get("templates"), source, "templates")
    default_abstain = _probability(doc.get("abstain_below", 0.0), source, "abstain_below")
    raw = doc.get("attribute")
    if not isinstance(raw, list) or not raw:
        raise _fail(source, "attribute", "no [[attribute]] tables")
    attributes = []
    seen: set[str] = set()
    for i, a in enumerate(raw):
        where = f"attribute {i + 1}"
        if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not a["name"]:
            raise _fail(source, where, "needs a name")
        where = f"attribute {a['name']!r}"
        if a["name"] in seen:
            raise _fail(source, where, "defined twice")
        seen.add(a["name"])
        a_templates = _str_list(a.get("templates"), source, f"{where}.templates") or templates
        for t in a_templates:
            if t.count("{}") != 1:
                raise _fail(source, f"{where}.templates", f"template {t!r} must contain exactly one {{}}")
        groups = []
        gnames: set[str] = set()
        for j, g in enumerate(a.get("group") or []):
            if not isinstance(g, dict) or not isinstance(g.get("name"), str) or not g["name"]:
                raise _fail(source, f"{where} group {j + 1}", "needs a name")
            gwhere = f"{where} group {g['name']!r}"
            if g["name"].lower() in gnames:
                raise _fail(source, gwhere, "defined twice")
            gnames.add(g["name"].lower())
            phrases = _str_list(g.get("phrases"), source, f"{gwhere}.phrases")
            literal = _str_list(g.get("prompts"), source, f"{gwhere}.prompts")
            if phrases and not a_templates:
                raise _fail(source, gwhere, "has phrases but there are no templates")
            prompts = tuple(t.format(p) for p in phrases for t in a_templates) + literal
            if not prompts:
                raise _fail(source, gwhere, "has no phrases or prompts")
            groups.append(Group(g["name"], prompts))
        if len(groups) < 2:
            raise _fail(source, where, "needs at least two [[attribute.group]] tables")
        abstain = _probability(a.get("abstain_below", default_abstain), source, f"{where}.abstain_below")
        target = _target(a.get("target"), [g.name for g in groups], source, where)
        attributes.append(Attribute(a["name"], tuple(groups), abstain, target, str(a.get("description", ""))))
    caveats = _str_list(doc.get("caveats"), source, "caveats")
    return AttributeSet(name, tuple(attributes), str(doc.get("description", "")), source, caveats)


def _target(value: Any, groups: list[str], source: str, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if value == "uniform":
        return tuple(1.0 / len(groups) for _ in groups)
    if not isinstance(value, dict):
        raise _fail(source, f"{where}.target", "must be \"uniform\" or a table of group = share")
    unknown = [k for k in value if k not in groups]
    if unknown:
        raise _fail(source, f"{where}.target", f"unknown group(s) {', '.join(map(repr, unknown))}")
    shares = []
    for g in groups:
        v = value.get(g, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise _fail(source, f"{where}.target", f"share of {g!r} must be a number >= 0")
        shares.append(float(v))
    total = sum(shares)
    if abs(total - 1.0) > 1e-6:
        raise _fail(source, f"{where}.target", f"shares add up to {total:g}, not 1")
    return tuple(shares)
