"""The stop signals, in one place: Ctrl+C, a supervisor's stop (SIGTERM: ``docker stop``,
systemd, Kubernetes) and a closed terminal (SIGHUP) end ``run`` and ``fleet`` as Ctrl+C does —
``KeyboardInterrupt``, so every output is finalised.

SIGTERM and SIGHUP are taken over only where they still have their default action: a host's own
handler is left alone, and so is ``nohup``'s ignored hang-up. Main thread only (Python delivers
signals there); elsewhere nothing changes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["stop_signals", "stop_signals_as_interrupt", "take_over"]


def stop_signals() -> tuple[signal.Signals, ...]:
    """SIGINT, then SIGTERM and SIGHUP where the platform has them."""
    return tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def take_over(signals: tuple[signal.Signals, ...]) -> None:
    """Make each of ``signals`` interrupt as Ctrl+C does (again: ``ray.init`` replaces the
    driver's SIGTERM handler with its own, which exits at once and finalises nothing)."""
    for sig in signals:
        with contextlib.suppress(ValueError, TypeError, OSError):
            signal.signal(sig, signal.default_int_handler)


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[tuple[signal.Signals, ...]]:
    """While inside, SIGTERM and SIGHUP interrupt as Ctrl+C does where they still have the
    default action; yields the signals so taken over (their handlers are put back on leaving)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in stop_signals()[1:]:
            with contextlib.suppress(ValueError, TypeError, OSError):
                if signal.getsignal(sig) is signal.SIG_DFL:
                    previous[sig] = signal.signal(sig, signal.default_int_handler)
    try:
        yield tuple(previous)
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError, OSError):
                signal.signal(sig, handler)
