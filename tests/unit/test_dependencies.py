"""Declared dependencies and imports match, in both directions.

A module that happens to be installed in a developer's environment but is missing from
``pyproject.toml`` passes every local test and then fails in a fresh clone; a declared dependency
that nothing uses costs every install its download. Both are caught by reading the imports from
the source itself. Dependencies needed without being imported are listed below, each with the
reason, and each reason is checked against the installed packages.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {"genaudit", "reference_models", "benchmarks", "tests"}

# Runtime dependencies that genaudit needs although no genaudit module imports them.
# distribution -> (module genaudit imports, module that one imports without declaring it)
UNDECLARED_BY_A_DEPENDENCY = {
    # invisible-watermark's rivaGan method (imwatermark/rivaGan.py) imports onnxruntime, but the
    # package does not list it; genaudit offers rivaGan through watermark/wrapped.py.
    "onnxruntime": ("imwatermark", "onnxruntime"),
}
# distribution -> the dependency that needs it: pinned exactly by genaudit (never imported) so that pip takes
# the release that matches the torch pin from local disk instead of fetching a multi-GB build.
PINNED_FOR = {
    "torchvision": "open_clip_torch",
}
# distribution -> the package whose shipped files genaudit.samples reads (found with importlib's
# find_spec, never imported): the photographs of `genaudit demo`, the watermark doctests and benchmarks.
SHIPS_DATA = {
    "scikit-learn": "sklearn",  # sklearn/datasets/images: china.jpg, flower.jpg
    "scikit-image": "skimage",  # skimage/data: astronaut.png, coffee.png, ...
}


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


def _requirement_names(reqs: list[str]) -> set[str]:
    return {_normalise(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}


def _declared(runtime_only: bool = False) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    if not runtime_only:
        for extra in project.get("optional-dependencies", {}).values():
            reqs.extend(extra)
    return _requirement_names(reqs)


def _runtime_sources() -> list[Path]:
    sources = sorted((ROOT / "src" / "genaudit").rglob("*.py")) + sorted((ROOT / "reference_models").rglob("*.py"))
    assert sources, "no sources found"
    return sources


def test_every_runtime_import_is_declared() -> None:
    imports = _imported_top_level(_runtime_sources())
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


def test_every_runtime_dependency_is_used() -> None:
    imports = _imported_top_level(_runtime_sources())
    dist_of = packages_distributions()
    imported_dists = {_normalise(d) for module in imports for d in dist_of.get(module, [])}
    unused = (_declared(runtime_only=True) - imported_dists - set(UNDECLARED_BY_A_DEPENDENCY) - set(SHIPS_DATA)
              - set(PINNED_FOR))
    assert not unused, f"declared in [project] dependencies but imported by nothing: {sorted(unused)}"


def test_allow_listed_dependencies_are_declared_and_still_needed() -> None:
    declared = _declared(runtime_only=True)
    imports = _imported_top_level(_runtime_sources())
    assert set(UNDECLARED_BY_A_DEPENDENCY) | set(SHIPS_DATA) <= declared
    dist_of = packages_distributions()
    for dist, (user, needed) in UNDECLARED_BY_A_DEPENDENCY.items():
        assert user in imports, f"{dist}: genaudit no longer imports {user}"
        (user_dist,) = dist_of[user]
        package = distribution(user_dist)
        files = [package.locate_file(f) for f in package.files or [] if f.parts[0] == user and f.suffix == ".py"]
        assert needed in _imported_top_level([Path(str(f)) for f in files]), f"{user} no longer imports {needed}"
        assert _normalise(dist) not in _requirement_names(package.requires or []), (
            f"{user_dist} now declares {dist}: drop it from the allow-list (and maybe from pyproject.toml)")
    samples = ast.parse((ROOT / "src" / "genaudit" / "samples.py").read_text(encoding="utf-8"))
    looked_up = {node.args[0].value for node in ast.walk(samples)
                 if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                 and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("_package_dir", "find_spec")}
    from genaudit.samples import _package_dir, photo_paths

    photos = photo_paths()
    for dist, module in SHIPS_DATA.items():
        assert module in looked_up, f"{dist}: genaudit.samples no longer reads {module}'s files"
        directory = _package_dir(module)
        assert directory and any(p.startswith(directory) for p in photos), f"{dist} ships no photograph we read"


def test_every_package_directory_is_listed() -> None:
    """A subpackage left out of ``[tool.setuptools] packages`` is absent from a non-editable install."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT / "src").parts)
        for p in (ROOT / "src" / "genaudit").rglob("__init__.py")
    }
    assert on_disk - listed == set(), f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"


def test_pinned_dependencies_are_still_required_by_their_user() -> None:
    declared = _declared(runtime_only=True)
    for dist, user in PINNED_FOR.items():
        assert dist in declared, f"{dist} is on PINNED_FOR but not declared"
        assert _normalise(dist) in _requirement_names(distribution(user).requires or []), (
            f"{user} no longer requires {dist}: drop the pin")
