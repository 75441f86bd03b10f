"""The exception family of rtliveness.

Every error the library raises on purpose is an :class:`RtlivenessError`; the CLI turns it into
one line on stderr and a non-zero exit code. Messages say what went wrong, where, and what to do.
"""

from __future__ import annotations

from .redact import redact

__all__ = [
    "RtlivenessError",
    "ConfigError",
    "SourceError",
    "SourceOpenError",
    "StreamLostError",
    "WeightsError",
    "FrameError",
    "DataError",
    "ClosedError",
    "OutputError",
]


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An error's message on one line, at most ``limit`` characters (for a status field or an
    HTTP reason, where a traceback-like text must not spill)."""
    return " ".join(redact(str(exc)).split())[:limit]


class RtlivenessError(Exception):
    """Base class of every error rtliveness raises on purpose. A password in a URL in its
    message is masked (:func:`rtliveness.redact.redact`): messages end up in logs."""

    exit_code = 1

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(RtlivenessError, ValueError):
    """An option or configuration value is invalid."""

    exit_code = 2


class SourceError(RtlivenessError):
    """A frame source failed (file, camera or stream)."""

    exit_code = 3


class SourceOpenError(SourceError):
    """A source could not be opened: missing/corrupt file, camera absent, URL unreachable."""


class StreamLostError(SourceError):
    """A live stream was lost and did not come back within the give-up time."""

    exit_code = 4


class WeightsError(RtlivenessError):
    """Weights are missing, corrupt, of the wrong architecture, or fail their checksum."""

    exit_code = 5


class FrameError(RtlivenessError, ValueError):
    """A frame handed to the API has an unsupported shape or dtype."""

    exit_code = 2


class DataError(RtlivenessError):
    """A dataset in the origin layout is malformed."""

    exit_code = 6


class OutputError(RtlivenessError, OSError):
    """An output could not be written while running: the disk is full, the pipe was closed, the
    folder went away (``--out`` video, ``--jsonl`` lines). What was written before stays whole."""

    exit_code = 7


class ClosedError(RtlivenessError, RuntimeError):
    """An object was used after ``close()`` (a pipeline, a scorer)."""
