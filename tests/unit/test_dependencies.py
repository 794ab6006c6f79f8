"""Every third-party module the package imports must be a declared dependency.

A module that happens to be installed in a developer's environment but is missing from
``pyproject.toml`` passes every local test and then fails in a fresh clone; this test catches
that class of mistake by reading the imports from the source itself.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {"genaudit", "reference_models", "benchmarks", "tests"}


def _imported_top_level(paths: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return {_normalise(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}


def test_every_runtime_import_is_declared() -> None:
    sources = sorted((ROOT / "src" / "genaudit").rglob("*.py")) + sorted((ROOT / "reference_models").rglob("*.py"))
    assert sources, "no sources found"
    imports = _imported_top_level(sources)
    dist_of = packages_distributions()
    declared = _declared()
    missing = []
    for module, where in sorted(imports.items()):
        if module in sys.stdlib_module_names or module in LOCAL:
            continue
        dists = {_normalise(d) for d in dist_of.get(module, [])}
        if not dists:
            missing.append(f"{module} (imported in {where.relative_to(ROOT)}; not installed here)")
        elif not dists & declared:
            missing.append(f"{module} -> {sorted(dists)} (imported in {where.relative_to(ROOT)})")
    assert not missing, "imports not declared in pyproject.toml: " + "; ".join(missing)


def test_every_package_directory_is_listed() -> None:
    """A subpackage left out of ``[tool.setuptools] packages`` is absent from a non-editable install."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT / "src").parts)
        for p in (ROOT / "src" / "genaudit").rglob("__init__.py")
    }
    assert on_disk - listed == set(), f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
