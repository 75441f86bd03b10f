"""The stop signals, in one place: Ctrl+C, a supervisor's stop (SIGTERM: ``docker stop``,
systemd, Kubernetes) and a closed terminal (SIGHUP) end ``run`` and ``fleet`` as Ctrl+C does —
``KeyboardInterrupt``, so every output is finalised.

SIGTERM and SIGHUP are taken over only where they still have their default action: a host's own
handler is left alone, and so is ``nohup``'s ignored hang-up. Main thread only (Python delivers
signals there); elsewhere nothing changes. ``interrupts_held`` holds them over a call that must not
be cut in the middle (``ray.init``), and interrupts once it has returned.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["interrupts_held", "stop_signals", "stop_signals_as_interrupt", "take_over"]


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


@contextlib.contextmanager
def interrupts_held() -> Iterator[list[int]]:
    """While inside, the stop signals that interrupt as Ctrl+C does (SIGINT, and SIGTERM / SIGHUP
    where taken over) are noted in the list yielded, not obeyed: for a call that a
    ``KeyboardInterrupt`` must not cut in the middle (``ray.init``: the driver could crash on the
    way out, or leave Ray's processes running). A handler set meanwhile for one of them
    (``ray.init`` sets its own for SIGTERM) is not installed: leaving puts back the handlers of
    before. Then, if one was noted and nothing else is raised, ``KeyboardInterrupt``. A second
    one is obeyed at once (the call may hang: a user who insists gets out). Main thread only;
    elsewhere nothing changes."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    real = signal.signal
    before = {}

    def held(signo, _frame) -> None:
        if noted:  # a second one: the user insists (the call may hang), obey at once
            raise KeyboardInterrupt
        noted.append(signo)
    for sig in stop_signals():
        with contextlib.suppress(ValueError, TypeError, OSError):
            if signal.getsignal(sig) is signal.default_int_handler:
                before[sig] = real(sig, held)

    def deferred(signalnum, handler):  # a handler set inside for a held signal: kept out
        if signalnum in before and threading.current_thread() is threading.main_thread():
            return signal.getsignal(signalnum)
        return real(signalnum, handler)

    signal.signal = deferred
    try:
        yield noted
    finally:
        signal.signal = real
        for sig, handler in before.items():
            with contextlib.suppress(ValueError, TypeError, OSError):
                real(sig, handler)
    if noted:
        raise KeyboardInterrupt
