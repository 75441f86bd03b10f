"""What every command shares: one-line errors with exit codes, and the common options.

``--debug`` is held in a context variable set by the root callback for the invocation that is
running (no mutable module state: two invocations in one process do not share it).
"""

from __future__ import annotations

import contextvars
import functools
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from ..errors import ConfigError, RtlivenessError
from ..redact import redact
from ..config import LOW_LIGHT_MAX_GAIN, TrackerConfig

#: the exit status of a command stopped by Ctrl+C or SIGTERM (128 + SIGINT, the shell's convention)
EXIT_INTERRUPTED = 130

__all__ = ["EXIT_INTERRUPTED", "guarded", "fail", "debug_enabled", "DeviceOpt", "WeightsOpt", "LowLightOpt", "RestartOpt",
           "RESTART_DEFAULT", "tracker_config", "quiet_native_logs"]


DEBUG: contextvars.ContextVar[bool] = contextvars.ContextVar("rtliveness_debug", default=False)


def debug_enabled() -> bool:
    """True when ``rtliveness --debug`` was given for the running invocation."""
    return DEBUG.get()


def fail(message: str, code: int) -> None:
    """One line on stderr (a password in a URL masked), then exit with ``code``."""
    typer.echo(f"rtliveness: error: {redact(message)}", err=True)
    raise typer.Exit(code)


def quiet_native_logs(debug: bool) -> None:
    """Silence OpenCV's and FFmpeg's own logging (they print before our one-line errors);
    ``--debug`` keeps it. Called by commands before they open sources or models."""
    import os

    if debug:
        return
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "0")
    if "cv2" in sys.modules:
        _cv2_quiet()


def _cv2_quiet() -> None:
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # very old OpenCV
        pass


def guarded(fn: Callable) -> Callable:
    """Turn library errors into one clear line and their exit code (``--debug``: the traceback,
    with the same exit code)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = debug_enabled()
        quiet_native_logs(debug)
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RtlivenessError as exc:
            if debug:
                import traceback

                traceback.print_exc()
                raise typer.Exit(exc.exit_code)
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("rtliveness: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED)
        except MemoryError:
            fail("out of memory; use smaller frames/batches or a bigger machine", 1)
        except Exception as exc:  # OpenCV/torch/runtime failures: still one line (--debug shows all)
            if debug:
                import traceback

                traceback.print_exc()
                raise typer.Exit(1)
            if isinstance(exc, OSError):
                fail(f"{exc.strerror or exc} ({exc.filename or 'I/O'})", 1)
            first = (str(exc).strip().splitlines() or [""])[-1][:300]
            fail(f"unexpected {type(exc).__name__}: {first}; rerun as rtliveness --debug COMMAND … for the traceback", 1)

    return wrapper


DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N (auto: CUDA when available).")]
WeightsOpt = Annotated[Optional[Path], typer.Option("--weights", help="SpoofModel checkpoint (default: the bundled weights).")]
RestartOpt = Annotated[str, typer.Option("--restart-distance", help="Restart a face's window (pending again, same id) when its new crop's embedding lies further than this cosine distance from the previous crop's: another face in its box, e.g. a photo raised where a live face was. 'off' never does. Set on the bundled weights (README, Limits).")]


def tracker_config(restart_distance: str):
    """The tracker settings of ``--restart-distance`` (a number, or ``off``); one line when bad
    (the range is TrackerConfig's to check)."""
    if restart_distance.strip().lower() == "off":
        return TrackerConfig(restart_distance=None)
    try:
        value = float(restart_distance)
    except ValueError:
        raise ConfigError(f"--restart-distance must be a number or 'off', got {restart_distance!r}") from None
    return TrackerConfig(restart_distance=value)


#: ``--restart-distance``'s default, as the option shows it
RESTART_DEFAULT = f"{TrackerConfig.restart_distance:g}"
LowLightOpt = Annotated[float, typer.Option("--low-light-target", help=f"Brighten a face crop whose mean grey level (background included) is under this fraction of full scale (0.35 = about 89 of 255) up to it, at most x{LOW_LIGHT_MAX_GAIN:g}, before it is scored, as a camera's auto gain would; brighter crops are untouched (0 = off).")]
