"""``rtliveness`` command line: a thin typer layer (options → config → library call).

Every command imports the heavy parts (torch, OpenCV) only when it runs, so ``--help`` and
errors found before a model loads answer at once. Errors become one line on stderr and a
non-zero exit code (``--debug`` shows the traceback and keeps the exit code); usage errors too.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Annotated, Optional

import typer

from .. import __version__
from .common import DEBUG, EXIT_INTERRUPTED
from .data import prepare, synth
from .model import calibrate, eval_cmd, export, pretrain, train
from .run import run

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Real-time face liveness (presentation attack detection) on video streams.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rtliveness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and OpenCV/FFmpeg logs (exit codes stay).")] = False,
) -> None:
    DEBUG.set(debug)


app.command("run")(run)
app.command("prepare")(prepare)
app.command("synth")(synth)
app.command("pretrain")(pretrain)
app.command("train")(train)
app.command("eval")(eval_cmd)
app.command("calibrate")(calibrate)
app.command("export")(export)


def _register_optional() -> None:
    from .bench import bench
    from .fleet import fleet
    from .serve import serve

    app.command("bench")(bench)
    app.command("serve")(serve)
    app.command("fleet")(fleet)


_register_optional()


def main(argv: list[str] | None = None) -> None:
    """The console entry point: runs the typer app with usage errors as one line (exit 2)."""
    from ._compat import NoArgsIsHelpError, UsageError

    args = sys.argv[1:] if argv is None else list(argv)
    # started with standard error (or output) closed, as some daemonisers do: Python has None
    # there, and every message or progress line would crash the command before it did its job
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    token = DEBUG.set(False)
    try:
        rv = app(args=args, prog_name="rtliveness", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else str(exc))
        sys.exit(0)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "rtliveness"
        msg = " ".join(exc.format_message().split())
        negative = re.fullmatch(r"No such option: (-[1-9]\d*)", msg)
        after_run = args[args.index("run") + 1:args.index("run") + 2] if "run" in args else []
        if negative and where == "rtliveness run" and after_run == [negative.group(1)]:  # `run -1`: the SOURCE, parsed as an option
            msg = f"camera index must be >= 0, got {negative.group(1)}"
        typer.echo(f"rtliveness: error: {msg} (see '{where} --help')", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("rtliveness: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    finally:
        DEBUG.reset(token)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
