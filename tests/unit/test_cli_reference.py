"""docs/cli.md is generated from the CLI: this fails when a command, option or help text changed
without the reference being regenerated (``python -m genaudit.cli.reference > docs/cli.md``)."""

from __future__ import annotations

from pathlib import Path

from genaudit.cli import cli
from genaudit.cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_matches_the_commands() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is out of date: python -m genaudit.cli.reference > docs/cli.md")


def test_every_command_and_option_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")

    def walk(group: object, path: str) -> None:
        for name, cmd in getattr(group, "commands", {}).items():
            assert f"`{path} {name}`" in text
            for p in cmd.params:
                for opt in getattr(p, "opts", []):
                    if opt.startswith("-"):
                        assert f"`{opt}`" in text, f"{path} {name} {opt}"
            walk(cmd, f"{path} {name}")

    walk(cli, "genaudit")
