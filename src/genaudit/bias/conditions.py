r"""Conditions to compare images under: the class label or prompt recorded in an image's text chunks,
its folder, or a CSV table of FILE,GROUP rows.

>>> label_of({"genaudit:class": "Dress", "genaudit:label": "3"})
'Dress'
>>> prompt_of({"parameters": "a photo of a nurse\nSteps: 20"})
'a photo of a nurse'
"""

from __future__ import annotations

import csv
import os

UNLABELLED = "(unlabelled)"
PROMPT_KEYS = ("genaudit:prompt", "prompt", "parameters", "Description")
LABEL_KEYS = ("genaudit:class", "genaudit:label")


def label_of(text: dict[str, str]) -> str | None:
    """The class label ``genaudit models sample`` wrote into a PNG's text chunks (name, else number)."""
    for k in LABEL_KEYS:
        if text.get(k):
            return text[k]
    return None


def prompt_of(text: dict[str, str]) -> str | None:
    """The prompt recorded in an image's text chunks (genaudit's, or the common ``prompt`` /
    ``parameters`` keys of popular generation tools: their first line)."""
    for k in PROMPT_KEYS:
        v = text.get(k)
        if v:
            return v.strip().splitlines()[0][:200]
    return None


def read_csv_groups(path: str) -> dict[str, str]:
    from ..errors import ConfigError

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"--group-by csv: cannot read {path}: {exc}") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] in (["file", "group"], ["path", "group"]):
        rows = rows[1:]
    out = {}
    for i, row in enumerate(rows, 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise ConfigError(f"--group-by csv: {path} line {i}: expected FILE,GROUP")
        out[os.path.normpath(row[0].strip())] = row[1].strip()
        out[os.path.basename(row[0].strip())] = row[1].strip()
    return out


def parse_group_by(value: str) -> tuple[str, dict[str, str] | None]:
    from ..errors import ConfigError

    """``label``, ``prompt``, ``folder``, ``none`` or ``csv:FILE`` → (how, table for csv)."""
    if value in ("label", "prompt", "folder", "none"):
        return value, None
    if value.startswith("csv:"):
        return "csv", read_csv_groups(value[4:])
    raise ConfigError(f"--group-by must be label, prompt, folder, none or csv:FILE, got {value!r}")


def condition_of(how: str, table: dict[str, str] | None, path: str, text: dict[str, str]) -> str:
    """The condition an image is compared under (``how`` from :func:`parse_group_by`), from its
    path and PNG text chunks; images without one are :data:`UNLABELLED`."""
    if how == "label":
        return label_of(text) or UNLABELLED
    if how == "prompt":
        return prompt_of(text) or UNLABELLED
    if how == "folder":
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or UNLABELLED
    if how == "csv" and table is not None:
        return table.get(os.path.normpath(path)) or table.get(os.path.basename(path)) or UNLABELLED
    return "all"
