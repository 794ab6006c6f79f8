"""Check options are converted by their declared type, from the command line and TOML alike;
a value that does not convert is a configuration error naming CHECK.OPTION, the value and the type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genaudit.checks.base import parse_options
from genaudit.checks.memorization import MemorizationOptions
from genaudit.checks.metadata import MetadataOptions
from genaudit.checks.phash import PHashOptions
from genaudit.checks.watermark import WatermarkOptions
from genaudit.errors import ConfigError
from tests.conftest import CliRunner


@pytest.mark.parametrize(("text", "expected"), [
    ("False", False), ("false", False), ("NO", False), ("0", False), (False, False), (0, False),
    ("True", True), ("yes", True), ("1", True), (True, True), (1, True),
])
def test_booleans_from_strings_and_values(text: object, expected: bool) -> None:
    opts = parse_options(MetadataOptions, {"flag_c2pa_presence": text}, "metadata")
    assert opts.flag_c2pa_presence is expected


def test_numbers_lists_and_optional_strings() -> None:
    opts = parse_options(MemorizationOptions, {"candidates": "4", "similarity": "0.9", "align": "off",
                                               "index": "train.gaidx"}, "memorization")
    assert (opts.candidates, opts.similarity, opts.align, opts.index) == (4, 0.9, False, "train.gaidx")
    assert parse_options(MemorizationOptions, {"index": ""}, "memorization").index is None
    assert parse_options(PHashOptions, {"hashes": "phash, dhash", "hash_size": "16"}, "phash") == \
        PHashOptions(hashes=("phash", "dhash"), hash_size=16)
    assert parse_options(PHashOptions, {"hashes": ["dhash"]}, "phash").hashes == ("dhash",)
    assert parse_options(WatermarkOptions, {"fpr": "1e-3"}, "watermark").fpr == 1e-3


@pytest.mark.parametrize(("options_type", "check", "values", "message"), [
    (MetadataOptions, "metadata", {"flag_c2pa_presence": "maybe"},
     "invalid value for option metadata.flag_c2pa_presence: expected true or false (yes/no, 1/0), got 'maybe'"),
    (MetadataOptions, "metadata", {"flag_c2pa_presence": 2},
     "invalid value for option metadata.flag_c2pa_presence: expected true or false (yes/no, 1/0), got 2"),
    (PHashOptions, "phash", {"hash_size": "eight"},
     "invalid value for option phash.hash_size: expected an integer, got 'eight'"),
    (PHashOptions, "phash", {"hash_size": True},
     "invalid value for option phash.hash_size: expected an integer, got True"),
    (PHashOptions, "phash", {"hashes": 3},
     "invalid value for option phash.hashes: expected a comma-separated list of strings, got 3"),
    (MemorizationOptions, "memorization", {"similarity": "high"},
     "invalid value for option memorization.similarity: expected a number, got 'high'"),
    (MemorizationOptions, "memorization", {"similarity": "nan"},
     "invalid value for option memorization.similarity: expected a number, got 'nan'"),
    (MemorizationOptions, "memorization", {"index": 5},
     "invalid value for option memorization.index: expected a string, got 5"),
])
def test_bad_values_name_the_option_the_value_and_the_type(options_type: type, check: str, values: dict,
                                                           message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_options(options_type, values, check)
    assert str(info.value) == message


def test_the_options_class_own_check_names_the_check() -> None:
    with pytest.raises(ConfigError, match=r"^invalid options for check 'phash': hashes must be"):
        parse_options(PHashOptions, {"hashes": "md5"}, "phash")


def _params(report_dir: Path, check: str) -> dict:
    rep = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    return next(c["params"] for c in rep["checks"] if c["name"] == check)


def test_cli_option_is_parsed_by_type(run_cli: CliRunner, tmp_path: Path) -> None:
    from tests.corpus import encode, photo

    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    r = run_cli("scan", "a.png", "-q", "--checks", "metadata,phash", "--report-dir", "r1",
                "-O", "metadata.flag_c2pa_presence=False", "-O", "phash.hash_size=16", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _params(tmp_path / "r1", "metadata") == {"flag_c2pa_presence": False}
    assert _params(tmp_path / "r1", "phash")["hash_size"] == 16
    r = run_cli("scan", "a.png", "-q", "--report-dir", "r2", "-O", "metadata.flag_c2pa_presence=maybe",
                cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines() == [
        "genaudit: error: invalid value for option metadata.flag_c2pa_presence: expected true or false"
        " (yes/no, 1/0), got 'maybe'"]


def test_toml_option_is_parsed_by_type(run_cli: CliRunner, tmp_path: Path) -> None:
    from tests.corpus import encode, photo

    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.genaudit]\nchecks = ["metadata"]\n[tool.genaudit.options.metadata]\nflag_c2pa_presence = "no"\n',
        encoding="utf-8")
    r = run_cli("scan", "a.png", "-q", "--report-dir", "r", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _params(tmp_path / "r", "metadata") == {"flag_c2pa_presence": False}
    (tmp_path / "pyproject.toml").write_text(
        '[tool.genaudit]\nchecks = ["metadata"]\n[tool.genaudit.options.metadata]\nflag_c2pa_presence = "perhaps"\n',
        encoding="utf-8")
    r = run_cli("scan", "a.png", "-q", "--report-dir", "r", cwd=tmp_path)
    assert r.returncode == 2
    assert "metadata.flag_c2pa_presence" in r.stderr and "'perhaps'" in r.stderr
