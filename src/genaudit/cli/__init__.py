"""Command-line interface: a thin layer over the Python API, one module per command group
(:mod:`.scan`, :mod:`.detector`, :mod:`.models`, :mod:`.watermark`, :mod:`.provenance`, :mod:`.index`, :mod:`.demo`)
over one output layer (:mod:`.output`).

Exit codes: 0 clean; 1 findings or file/check errors (per ``--fail-on``); 2 usage or
configuration error (one line on stderr, no traceback); 3 internal error (a bug).
"""

from __future__ import annotations

import sys

import click

from .._version import __version__
from .bias import bias_cmd
from .demo import demo_cmd
from .detector import detect_cmd, detector_group
from .index import index_group
from .models import models_group
from .output import run
from .provenance import keys_group, sign_cmd, verify_manifest
from .release import release_check_cmd
from .scan import checks_cmd, scan_cmd
from .watermark import watermark_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="genaudit")
def cli() -> None:
    """genaudit: audit generated images and prove where they came from."""


for _command in (scan_cmd, checks_cmd, demo_cmd, detect_cmd, detector_group, models_group,
                 watermark_group, keys_group, sign_cmd, verify_manifest,
                 index_group, bias_cmd, release_check_cmd):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and turns every failure into a one-line message + exit code."""
    sys.exit(run(cli, sys.argv[1:] if argv is None else argv))


__all__ = ["cli", "main"]
