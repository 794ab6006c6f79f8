"""Shared fixtures: the hostile corpus, and running the real CLI in a subprocess."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import corpus

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_dac_capabilities() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def permissions_enforced() -> bool:
    """Can a child process be made to obey file permissions (non-root, or root without DAC caps)?"""
    if os.geteuid() != 0:
        return True
    try:
        r = subprocess.run(["true"], preexec_fn=_drop_dac_capabilities, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _no_report_left_in_the_working_directory() -> Iterator[None]:
    """``genaudit.scan`` writes ``./genaudit-report`` by default, as ``genaudit scan`` does: a test
    that scans gives ``report_dir=None`` (in memory) or a folder under ``tmp_path``."""
    path = os.path.join(os.getcwd(), "genaudit-report")
    existed = os.path.exists(path)
    yield
    if not existed and os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)
        pytest.fail(f"the test left {path}: scan with report_dir=None or a folder under tmp_path")


def run_cli_once(*args: str, cwd: str | os.PathLike[str] | None = None, obey_permissions: bool = False,
                 timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m genaudit ARGS`` for real; ``obey_permissions=True`` drops root's DAC bypass."""
    preexec = _drop_dac_capabilities if (obey_permissions and os.geteuid() == 0) else None
    return subprocess.run([sys.executable, "-m", "genaudit", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec, env={**os.environ, **(env or {})}, check=False)


@pytest.fixture
def run_cli() -> CliRunner:
    """:func:`run_cli_once` as a fixture."""
    return run_cli_once


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The hostile corpus in a fresh folder: (root, {relative path: expected outcome})."""
    root = tmp_path / "corpus"
    root.mkdir()
    expected = corpus.build(str(root))
    yield root, expected
    os.chmod(root / "unreadable.png", 0o644)
