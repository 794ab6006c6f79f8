"""Command-line interface: a thin layer over the Python API, one module per command group
(:mod:`.scan`, :mod:`.models`, :mod:`.watermark`, :mod:`.provenance`, :mod:`.index`, :mod:`.demo`)
over one output layer (:mod:`.output`).

Exit codes: 0 clean; 1 findings or file/check errors (per ``--fail-on``); 2 usage or
configuration error (one line on stderr, no traceback); 3 internal error (a bug).
"""

from __future__ import annotations

import os
import sys

import click

from .._version import __version__
from ..errors import ConfigError, GenauditError
from .demo import demo_cmd
from .index import index_group
from .models import models_group
from .output import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, err
from .provenance import keys_group, sign_cmd, verify_manifest
from .scan import checks_cmd, scan_cmd
from .watermark import watermark_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="genaudit")
def cli() -> None:
    """genaudit: audit generated images and prove where they came from."""


for _command in (scan_cmd, checks_cmd, demo_cmd, models_group, watermark_group, keys_group, sign_cmd, verify_manifest,
                 index_group):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and turns every failure into a one-line message + exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rv = cli.main(args=args, prog_name="genaudit", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        err(exc.format_message().strip().splitlines()[0] if exc.format_message().strip() else "usage error")
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        err("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        err(exc.format_message())
        sys.exit(EXIT_USAGE)
    except (ConfigError, GenauditError) as exc:
        err(str(exc))
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        err("interrupted; re-run with --resume to continue")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GENAUDIT_DEBUG"):
            raise
        err(f"internal error: {type(exc).__name__}: {exc} (set GENAUDIT_DEBUG=1 for a traceback)")
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)


__all__ = ["cli", "main"]
