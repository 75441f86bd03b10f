"""One place for progress display and for the FPS figure shown while a job runs.

FPS here is **processing FPS**: frames finished per second of wall-clock time, over a sliding
window of the last frames (:class:`FpsMeter`). The overlay, the progress line and ``--jsonl``
consumers that show a rate use this one meter; the run's summary reports the whole run's
average (frames / seconds), which is the same definition over the whole run.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO

__all__ = ["FpsMeter", "Progress", "stderr_if_tty"]


class FpsMeter:
    """Frames per second of wall-clock time over the last ``window`` frames."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window + 1)

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.perf_counter() if now is None else now)

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class Progress:
    """A one-line progress display on ``stream`` (a TTY), redrawn at most 10 times a second.

    ``update(done, detail)`` shows ``[#####   ] done/total  detail`` (without a bar when the
    total is unknown); ``finish()`` ends the line. With ``stream=None`` it does nothing."""

    def __init__(self, stream: TextIO | None, total: int | None = None, unit: str = "frames") -> None:
        self.stream = stream
        self.total = total if total and total > 0 else None
        self.unit = unit
        self._last = 0.0
        self._drawn = False

    def _due(self, force: bool) -> bool:
        """Whether to redraw now (a stream is set and 0.1 s passed, or ``force``)."""
        if self.stream is None:
            return False
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return False
        self._last = now
        return True

    def update(self, done: int, detail: str = "", force: bool = False) -> None:
        if not self._due(force):
            return
        if self.total:
            frac = min(1.0, done / self.total)
            text = f"\r[{'#' * int(frac * 24):<24}] {done}/{self.total} {self.unit}"
        else:
            text = f"\r{done} {self.unit}"
        if detail:
            text += f"  {detail}"
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def status(self, text: str, force: bool = False) -> None:
        """Show free text on the progress line (training steps, loading)."""
        if not self._due(force):
            return
        self.stream.write("\r" + text[:150] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def stderr_if_tty() -> TextIO | None:
    """stderr when it is a terminal (progress is for people), else None."""
    return sys.stderr if sys.stderr is not None and sys.stderr.isatty() else None
