"""The CLI output layer's exit-code policy (``genaudit.cli.output.run``), the same for every command:
the command's own 0/1, 2 for usage and configuration errors, 3 for a bug — each failure one line."""

from __future__ import annotations

import click
import pytest

from genaudit.cli.output import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, FileResults, run
from genaudit.errors import ConfigError


@click.group()
def tool() -> None:
    """A command group built the way genaudit's are."""


@tool.command("files")
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
def files(paths: tuple[str, ...], as_json: bool) -> int:
    out = FileResults(as_json)
    for p in out.readable(paths):
        out.result({"path": p, "status": "ok"}, f"{p}: ok")
    return out.exit_code


@tool.command("bug")
def bug() -> None:
    raise KeyError("oops")


@tool.command("config")
def config() -> None:
    raise ConfigError("unknown key 'jobz'; did you mean 'jobs'?")


def test_file_results_exit_0_when_all_good_and_1_on_a_file_error(tmp_path, capsys) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    assert run(tool, ["files", str(tmp_path / "a.png")]) == EXIT_OK
    assert capsys.readouterr().out == f"{tmp_path / 'a.png'}: ok\n"
    assert run(tool, ["files", str(tmp_path / "a.png"), str(tmp_path / "gone.png"), "--json"]) == EXIT_FINDINGS
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines()[1] == (f'{{"path": "{tmp_path / "gone.png"}", "status": "error", "error": '
                                            '{"code": "not_found", "message": "no such file or directory"}}')


def test_usage_and_config_errors_exit_2_bugs_exit_3_with_one_line(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GENAUDIT_DEBUG", raising=False)
    for args, code, needle in ((["nope"], EXIT_USAGE, "No such command 'nope'"),
                               (["config"], EXIT_USAGE, "did you mean 'jobs'"),
                               (["bug"], EXIT_INTERNAL, "internal error: KeyError: 'oops'")):
        assert run(tool, args) == code
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert captured.out == "" and len(lines) == 1 and lines[0].startswith("genaudit: error:"), captured
        assert needle in lines[0]
    monkeypatch.setenv("GENAUDIT_DEBUG", "1")
    with pytest.raises(KeyError):
        run(tool, ["bug"])


def test_a_result_without_path_or_status_is_refused() -> None:
    with pytest.raises(ValueError, match="path and a status"):
        FileResults(as_json=True).result({"path": "a.png"}, "a.png")
