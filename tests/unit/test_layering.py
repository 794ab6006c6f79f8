"""Arrows only point down (read from the source, lazy imports included):

* ``features/`` imports no engine; every engine (watermark, memorization, provenance, models and the
  future detector and bias packages) may use ``features/`` but imports no other engine;
* no engine imports the orchestrator (Auditor, its engine, pool and journal), a check, the registry,
  the configuration, the release pipeline, the reports or the CLI;
* checks import engines, never the orchestrator, the release pipeline or the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ENGINES = {"features", "detector", "watermark", "memorization", "bias", "provenance", "models"}
ORCHESTRATION = {"audit", "engine", "pool", "cluster", "journal", "cli", "release", "demo", "report"}
ABOVE = {"checks", "registry", "config", *ORCHESTRATION}


def genaudit_imports(path: Path, root: Path = SRC) -> set[str]:
    """Every ``genaudit.<module>`` this file imports (relative imports resolved against ``root``)."""
    package = list(path.relative_to(root).parts[:-1])
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


PRESENT_ENGINES = sorted(p for p in ENGINES if (SRC / "genaudit" / p).is_dir())


def test_the_engines_that_exist_are_checked() -> None:
    assert {"features", "watermark", "memorization", "provenance", "models"} <= set(PRESENT_ENGINES)


@pytest.mark.parametrize("package", PRESENT_ENGINES)
def test_engine_imports_point_down(package: str) -> None:
    allowed_engines = set() if package == "features" else {"features"}
    files = sorted((SRC / "genaudit" / package).rglob("*.py"))
    assert files
    bad = {f.name: sorted(genaudit_imports(f) & ((ENGINES - allowed_engines - {package}) | ABOVE)) for f in files}
    assert not any(bad.values()), bad


def test_checks_do_not_import_the_orchestrator_or_the_cli() -> None:
    files = sorted((SRC / "genaudit" / "checks").rglob("*.py"))
    bad = {f.name: sorted(genaudit_imports(f) & ORCHESTRATION) for f in files}
    assert not any(bad.values()), bad


def test_the_import_reader_sees_an_upward_import(tmp_path: Path) -> None:
    engine = tmp_path / "genaudit" / "watermark"
    engine.mkdir(parents=True)
    (engine / "bad.py").write_text("def f():\n    from ..audit import Auditor\n    import genaudit.cli.scan\n")
    assert genaudit_imports(engine / "bad.py", root=tmp_path) & ABOVE == {"audit", "cli"}


def test_the_import_reader_sees_relative_and_lazy_imports() -> None:
    mod = SRC / "genaudit" / "memorization" / "search.py"
    assert {"features", "memorization"} <= genaudit_imports(mod)   # lazy `from ..features.hashing import ...`
