"""The CLI reference (docs/cli.md), generated from the commands themselves.

    python -m genaudit.cli.reference > docs/cli.md

A test renders it again and fails when docs/cli.md differs: the reference cannot drift from the CLI.
"""

from __future__ import annotations

import inspect

import click


def _usage(cmd: click.Command, path: str) -> str:
    ctx = click.Context(cmd, info_name=path)
    return " ".join(cmd.collect_usage_pieces(ctx))


def _options(cmd: click.Command) -> list[str]:
    rows = []
    for p in cmd.params:
        if isinstance(p, click.Option):
            names = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
            meta = "" if p.is_flag else f" {p.metavar or p.type.name.upper()}"
            default = p.default if p.show_default and p.default not in (None, (), False) else None
            help_text = (p.help or "").replace("|", "\\|").replace("\n", " ")
            if default is not None:
                help_text += f" [default: {default}]"
            meta = meta.replace("|", "\\|")
            rows.append(f"| {names}{meta} | {help_text} |")
    return rows


def _command(cmd: click.Command, path: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", "", f"```\n{path} {_usage(cmd, path)}\n```", ""]
    if cmd.help:
        lines += [inspect.cleandoc(click.unstyle(cmd.help)), ""]
    rows = _options(cmd)
    if rows:
        lines += ["| option | meaning |", "|---|---|", *rows, ""]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            lines += _command(cmd.commands[name], f"{path} {name}", level + 1)
    return lines


def render() -> str:
    """docs/cli.md as text."""
    from . import cli

    lines = ["# Command-line reference", "",
             "Generated from the commands by `python -m genaudit.cli.reference > docs/cli.md`;"
             " `tests/unit/test_cli_reference.py` fails when this file and the CLI disagree.", "",
             "Exit codes: 0 clean; 1 findings, failed gates or file errors (per command); 2 usage,"
             " configuration or output errors (one line on stderr); 3 a bug; 130 interrupted.", ""]
    for name in sorted(cli.commands):
        lines += _command(cli.commands[name], f"genaudit {name}", 2)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
