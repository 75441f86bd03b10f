"""The ``run`` job: a source through a pipeline into sinks.

``process_source(pipeline, source, sinks=[...])`` drives the loop and hands every frame and its
result to each :class:`~rtliveness.runtime.sinks.Sink`. Outputs are always finalised: every
sink gets the run's summary (``end``) and is closed, also on Ctrl+C, a lost stream or an error.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TextIO

from ..types import FrameResult, TrackSummary
from .pipeline import LivenessPipeline
from .progress import FpsMeter, Progress
from .sinks import CallbackSink, JsonlSink, Sink, StopRequested, VideoSink, WindowSink

__all__ = ["RunReport", "process_source", "format_summary", "build_sinks"]


@dataclass(frozen=True)
class RunReport:
    source: str
    frames: int
    seconds: float
    fps: float
    dropped: int
    stopped: str  # end | max_frames | user | interrupted | error
    tracks: tuple[TrackSummary, ...] = field(default_factory=tuple)
    error: str | None = None

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "frames": self.frames,
            "seconds": round(self.seconds, 4),
            "fps": round(self.fps, 3),
            "dropped": self.dropped,
            "stopped": self.stopped,
            "error": self.error,
            "tracks": [t.to_json() for t in self.tracks],
        }


def format_summary(report: RunReport) -> str:
    """One paragraph for humans: frames, FPS, per-track verdicts."""
    parts = [f"{report.frames} frames in {report.seconds:.1f} s ({report.fps:.1f} FPS) from {report.source}"]
    if report.dropped:
        parts.append(f"{report.dropped} stale frames dropped")
    if report.stopped not in ("end",):
        parts.append(f"stopped: {report.stopped}")
    if report.tracks:
        verdicts = []
        for t in report.tracks:
            score = "" if t.mean_p_spoof is None else f" (mean p_spoof {t.mean_p_spoof:.2f}, {t.windows} windows)"
            verdicts.append(f"track {t.track_id}: {t.label}{score}")
        parts.append("; ".join(verdicts))
    else:
        parts.append("no faces found")
    return ". ".join(parts) + "."


def build_sinks(source, out: Path | None = None, jsonl: Path | None = None, show: bool = False,
                meter: FpsMeter | None = None) -> list[Sink]:
    """The ``run`` command's sinks: window (checked first: it refuses without a display before
    any file is created), annotated video, JSON lines. Already-opened sinks are closed when a
    later one fails."""
    sinks: list[Sink] = []
    try:
        if show:
            sinks.append(WindowSink(meter=meter))
        if out is not None:
            sinks.append(VideoSink(out, getattr(source, "fps", None) or 25.0, meter=meter))
        if jsonl is not None:
            sinks.append(JsonlSink(jsonl))
    except BaseException:
        for s in sinks:
            s.close()
        raise
    return sinks


def process_source(
    pipeline: LivenessPipeline,
    source,
    sinks: Sequence[Sink] = (),
    *,
    out: Path | None = None,
    jsonl: Path | None = None,
    show: bool = False,
    max_frames: int | None = None,
    progress: TextIO | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
) -> RunReport:
    """Run ``source`` through ``pipeline``, handing each frame and result to every sink.

    ``out`` / ``jsonl`` / ``show`` / ``on_result`` are shortcuts that add the built-in sinks.
    Every sink is finalised (``end(summary)`` where defined, then ``close()``). ``KeyboardInterrupt``
    stops the loop and returns a report with ``stopped='interrupted'``; any other exception is
    re-raised after the outputs are finalised (the summary records it).
    """
    meter = FpsMeter()
    all_sinks: list[Sink] = list(sinks)
    try:
        all_sinks += build_sinks(source, out, jsonl, show, meter)
        for s in all_sinks:
            if getattr(s, "meter", False) is None:
                s.meter = meter  # a pixel sink passed without a meter shows this run's FPS
        if on_result is not None:
            all_sinks.append(CallbackSink(on_result))
    except BaseException:
        for s in sinks:
            s.close()
        raise
    bar = Progress(progress, getattr(source, "frame_count", None))
    frames = 0
    faces = 0
    stopped = "end"
    error: BaseException | None = None
    guard = _WholeFrames()
    t_start = time.perf_counter()
    try:
        for frame, result in pipeline.run_frames(source):
            meter.tick()
            frames += 1
            faces = len(result.faces)
            try:
                with guard:  # Ctrl+C waits until every sink has this frame
                    for s in all_sinks:
                        s.write(frame, result)
            except StopRequested:
                stopped = "user"
                break
            bar.update(frames, f"{meter.fps:5.1f} FPS  faces {faces}")
            if max_frames is not None and frames >= max_frames:
                stopped = "max_frames"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    except BaseException as exc:
        stopped = "error"
        error = exc
    finally:
        guard.close()
        seconds = time.perf_counter() - t_start
        if frames:
            bar.update(frames, f"{meter.fps:5.1f} FPS  faces {faces}", force=True)
        bar.finish()
        report = RunReport(
            source=getattr(source, "name", str(source)),
            frames=frames,
            seconds=seconds,
            fps=frames / seconds if seconds > 0 else 0.0,
            dropped=int(getattr(source, "dropped", 0)),
            stopped=stopped,
            tracks=pipeline.track_summaries(),
            error=None if error is None else str(error),
        )
        _finalise(all_sinks, report)
    if error is not None:
        raise error
    return report


class _WholeFrames:
    """Ctrl+C during the sink writes of a frame is held until every sink has written it, so the
    video and the JSON lines end on the same frame; anywhere else it interrupts at once. Active
    only in the main thread under Python's default SIGINT handler (a host's own handler is left
    alone)."""

    def __init__(self) -> None:
        self._inside = False
        self._pending = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, TypeError):
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    self._previous = signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame) -> None:
        if self._inside:
            self._pending = True
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> "_WholeFrames":
        self._inside = True
        return self

    def __exit__(self, *exc) -> None:
        self._inside = False
        if self._pending and exc[0] is None:
            self._pending = False
            raise KeyboardInterrupt

    def close(self) -> None:
        if self._previous is not None:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _finalise(sinks: Sequence[Sink], report: RunReport) -> None:
    """``end(summary)`` then ``close()`` on every sink; every sink is closed even if one fails."""
    first: BaseException | None = None
    for s in sinks:
        try:
            end = getattr(s, "end", None)
            if callable(end):
                end(report.to_json())
        except BaseException as exc:  # noqa: BLE001 - keep closing the others, re-raise below
            first = first or exc
        finally:
            try:
                s.close()
            except BaseException as exc:  # noqa: BLE001
                first = first or exc
    if first is not None:
        raise first
