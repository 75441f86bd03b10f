"""A worker's error as the driver reports it: the innermost message of a Ray error on one line,
and our own error type back from its text."""

from __future__ import annotations

from ..errors import ConfigError, RtlivenessError

__all__ = ["remote_cause", "our_error"]


def remote_cause(exc: BaseException) -> str:
    """The innermost message of a Ray error, on one line: our own errors by their message, others
    by their last line (Ray's text holds the remote traceback before it)."""
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    lines = [x.strip() for x in str(cause).splitlines() if x.strip()]
    text = lines[-1] if lines else type(cause).__name__
    return text[:300]


def our_error(text: str) -> tuple[type[RtlivenessError], str]:
    """``rtliveness.errors.WeightsError: no int8 …`` (a remote error's last line) → (WeightsError,
    ``no int8 …``); anything else → (ConfigError, the text as it is)."""
    from .. import errors

    head, sep, rest = text.partition(": ")
    if sep and head.startswith("rtliveness.errors."):
        kind = getattr(errors, head.rsplit(".", 1)[1], None)
        if isinstance(kind, type) and issubclass(kind, RtlivenessError):
            return kind, rest
    return ConfigError, text
