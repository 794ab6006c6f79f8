"""``genaudit scan`` and ``genaudit checks``."""

from __future__ import annotations

import json
from typing import Any

import click

from .output import EXIT_OK, Progress, print_summary


def _parse_option(text: str) -> tuple[str, str, str]:
    """``check.key=value`` → (check, key, value). The value stays a string: the check converts it
    by the option's declared type (:func:`genaudit.checks.base.parse_options`), as for TOML values."""
    name, sep, raw = text.partition("=")
    check, dot, key = name.strip().partition(".")
    if not sep or not dot or not check or not key:
        raise click.BadParameter(f"expected CHECK.KEY=VALUE, got {text!r}", param_hint="--option")
    return check, key, raw


def _load_config(config_file: str | None) -> Any:
    from ..config import AuditConfig

    if config_file:
        return AuditConfig.from_pyproject(config_file)
    return AuditConfig.discover()

@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--checks", "checks", help="Comma-separated checks to run (see `genaudit checks`).")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Where reports go [genaudit-report].")
@click.option("--format", "formats",
              help="Report formats, comma-separated: json, md, html, csv, parquet [json,md,html].")
@click.option("--jobs", "-j", type=click.IntRange(min=0), help="Worker processes; 0 = one per core [0].")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per batch [16].")
@click.option("--dask-scheduler", metavar="ADDRESS",
              help="Run the batches on this Dask scheduler's workers (tcp://host:8786), or on a local cluster"
                   " started for the scan (local, local:N); replaces --jobs. Workers must see the files and"
                   " models at the same paths.")
@click.option("--resume", is_flag=True, default=None, help="Reuse finished files from results.jsonl.")
@click.option("--fail-on", help="Exit 1 on: findings, errors (comma-separated), both (= findings,errors) or never"
                               " [findings,errors].")
@click.option("--exclude", multiple=True, help="Glob pattern to leave out of folder walks (repeatable).")
@click.option("--max-pixels", type=click.IntRange(min=1), help="Refuse images declaring more pixels.")
@click.option("--max-file-bytes", type=click.IntRange(min=1), help="Refuse files larger than this.")
@click.option("--option", "-O", "options", multiple=True, metavar="CHECK.KEY=VALUE",
              help="Set a check option, e.g. -O phash.hashes=phash,dhash,whash (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Read [tool.genaudit] from this TOML file instead of ./pyproject.toml.")
@click.option("--watermark-key-file", type=click.Path(dir_okay=False),
              help="Watermark key: runs the watermark check (added to the checks unless --checks is given).")
@click.option("--index", "index_file", type=click.Path(dir_okay=False),
              help="Training-set hash index (genaudit index build): runs the memorization check"
                   " (added to the checks unless --checks is given).")
@click.option("--trust-anchors", type=click.Path(dir_okay=False),
              help="PEM trust anchors for C2PA manifests: runs the provenance check"
                   " (added to the checks unless --checks is given).")
@click.option("--detector", "detector_model", type=click.Path(dir_okay=False),
              help="Detector file (genaudit detector train): runs the detector check with it"
                   " (added to the checks unless --checks is given; -O detector.model=... alike).")
@click.option("--quiet", "-q", is_flag=True, default=None, help="No progress and no summary on the terminal.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON line per file on stdout as it finishes (its report entry), nothing else there;"
                   " the summary and report paths go to stderr.")
def scan_cmd(paths: tuple[str, ...], checks: str | None, report_dir: str | None, formats: str | None,
         jobs: int | None, batch_size: int | None, dask_scheduler: str | None, resume: bool | None,
         fail_on: str | None,
         exclude: tuple[str, ...], max_pixels: int | None, max_file_bytes: int | None,
         options: tuple[str, ...], config_file: str | None, watermark_key_file: str | None,
         index_file: str | None, trust_anchors: str | None, detector_model: str | None, quiet: bool | None,
         as_json: bool) -> int:
    """Scan image files and folders; write report.json and report.md."""
    from ..audit import Auditor

    cfg = _load_config(config_file).with_overrides(
        {"checks": checks, "report_dir": report_dir, "formats": formats, "jobs": jobs, "batch_size": batch_size,
         "dask_scheduler": dask_scheduler, "resume": resume, "fail_on": fail_on, "max_pixels": max_pixels,
         "max_file_bytes": max_file_bytes},
        options=[_parse_option(text) for text in options], exclude=exclude,
        shortcuts={"watermark_key_file": watermark_key_file, "index": index_file, "trust_anchors": trust_anchors,
                   "detector": detector_model})
    if quiet is None:  # a presentation setting: [tool.genaudit] quiet, read by the CLI only
        from ..config import read_cli_settings

        quiet = read_cli_settings(config_file)["quiet"]
    auditor = Auditor(cfg)
    progress = Progress(enabled=not quiet)
    try:
        report = auditor.scan(list(paths), progress=progress,  # writes to cfg.report_dir, as the API does
                              on_file=_print_json if as_json else None)
    finally:
        progress.close()
    if not quiet:
        print_summary(report, str(cfg.report_dir), cfg.formats, paths_on_stdout=not as_json)
    return report.exit_code(cfg.fail_on)


def _print_json(audit: Any) -> None:
    from ..results import dumps_json

    click.echo(dumps_json(audit.to_dict()))


@click.command("checks")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def checks_cmd(as_json: bool) -> int:
    """List the available checks."""
    from ..registry import list_checks

    specs = list_checks()
    if as_json:
        click.echo(json.dumps([{"name": s.name, "description": s.description} for s in specs], indent=2))
    else:
        width = max(len(s.name) for s in specs)
        for s in specs:
            click.echo(f"{s.name:<{width}}  {s.description}")
    return EXIT_OK
