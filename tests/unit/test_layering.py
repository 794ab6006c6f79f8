"""Arrows only point down: features/ imports no engine; the memorization engine imports no other
engine, no check, and neither the Auditor nor the CLI (read from the source, lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ENGINES = {"features", "detector", "watermark", "memorization", "bias", "provenance"}
ABOVE = {"checks", "audit", "cli", "registry", "report", "release", "config"}


def genaudit_imports(path: Path) -> set[str]:
    """Every ``genaudit.<module>`` this file imports (relative imports resolved)."""
    package = list(path.relative_to(SRC).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n.split(".")[1] for n in names if n.startswith("genaudit.") and n.count(".") >= 1)
    return found


@pytest.mark.parametrize(("package", "allowed_engines"), [("features", set()), ("memorization", {"features"})])
def test_engine_imports_point_down(package: str, allowed_engines: set[str]) -> None:
    files = sorted((SRC / "genaudit" / package).rglob("*.py"))
    assert files
    bad = {f.name: sorted(genaudit_imports(f) & ((ENGINES - allowed_engines - {package}) | ABOVE)) for f in files}
    assert not any(bad.values()), bad


def test_the_import_reader_sees_relative_and_lazy_imports() -> None:
    mod = SRC / "genaudit" / "memorization" / "search.py"
    assert {"features", "memorization"} <= genaudit_imports(mod)   # lazy `from ..features.hashing import ...`
