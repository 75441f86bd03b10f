"""Usage-error classes of the click that typer runs on: typer >= 0.2x vendors click as
``typer._click``; older typer versions depend on the ``click`` package."""

from __future__ import annotations

try:  # typer with its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - typer that depends on the click package
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef]

__all__ = ["UsageError", "NoArgsIsHelpError"]
