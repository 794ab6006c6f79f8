"""AuditConfig: validation, pyproject.toml loading, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from genaudit.config import AuditConfig
from genaudit.errors import ConfigError


def test_defaults_and_derived_values() -> None:
    cfg = AuditConfig()
    assert cfg.checks == ("metadata", "phash")
    assert cfg.effective_jobs >= 1
    assert cfg.limits.max_pixels == cfg.max_pixels


@pytest.mark.parametrize(("settings", "message"), [
    ({"checks": ""}, "no checks"),
    ({"checks": "phash,phash"}, "listed twice"),
    ({"formats": "json,pdf"}, "unknown report format"),
    ({"fail_on": "never,errors"}, "cannot be combined"),
    ({"jobs": -1}, "at least 0"),
    ({"jobs": "many"}, "must be an integer"),
    ({"batch_size": 0}, "at least 1"),
    ({"max_pixels": True}, "must be an integer"),
    ({"options": {"phash": 3}}, "tables of settings"),
    ({"report-dirr": "x"}, "did you mean 'report_dir'"),
])
def test_invalid_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AuditConfig.from_mapping(settings)


def test_pyproject_table_and_precedence(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.genaudit]\nchecks = "phash"\njobs = 3\nfail-on = ["errors"]\n'
        '[tool.genaudit.options.phash]\nhash_size = 16\n', encoding="utf-8")
    cfg = AuditConfig.discover(tmp_path)
    assert (cfg.checks, cfg.jobs, cfg.fail_on) == (("phash",), 3, ("errors",))
    assert cfg.options_for("phash") == {"hash_size": 16}
    assert cfg.replace(jobs=1).jobs == 1 and cfg.replace(jobs=1).checks == ("phash",)
    with pytest.raises(ConfigError, match="unknown setting"):
        cfg.replace(colour="red")


def test_missing_or_broken_pyproject(tmp_path: Path) -> None:
    assert AuditConfig.discover(tmp_path) == AuditConfig()
    (tmp_path / "pyproject.toml").write_text("[tool.genaudit\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        AuditConfig.discover(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.genaudit]\njobs = 0\nformats = ['html5']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[tool.genaudit\] in .*unknown report format"):
        AuditConfig.discover(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        AuditConfig.from_pyproject(tmp_path / "nope.toml")
