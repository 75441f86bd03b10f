"""The ``run`` job: a source through a pipeline into sinks (annotated video, JSON lines, window).

Used by the CLI and usable from Python. Outputs are always finalised: the video trailer is
written and the JSON lines end with a summary, also on Ctrl+C, a lost stream or an error.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from .overlay import draw_result
from .pipeline import LivenessPipeline
from .sinks import JsonlSink, VideoSink, WindowSink
from .types import FrameResult, TrackSummary

__all__ = ["RunReport", "process_source", "format_summary"]


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


class _Progress:
    def __init__(self, stream: TextIO | None, total: int | None) -> None:
        self.stream = stream
        self.total = total
        self._last = 0.0

    def update(self, done: int, fps: float, faces: int, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 24)
            text = f"\r[{bar:<24}] {done}/{self.total} frames  {fps:5.1f} FPS  faces {faces}"
        else:
            text = f"\r{done} frames  {fps:5.1f} FPS  faces {faces}"
        self.stream.write(text)
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


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


def process_source(
    pipeline: LivenessPipeline,
    source,
    out: Path | None = None,
    jsonl: Path | None = None,
    show: bool = False,
    max_frames: int | None = None,
    progress: TextIO | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
) -> RunReport:
    """Run ``source`` through ``pipeline`` writing the requested outputs; always finalises them.

    ``KeyboardInterrupt`` stops the loop and returns a report with ``stopped='interrupted'``;
    any other exception is re-raised after the outputs are finalised (the JSONL summary records
    it).
    """
    window = WindowSink() if show else None  # refuses before any file is created
    video = VideoSink(out, source.fps or 25.0) if out is not None else None
    lines = None
    try:
        lines = JsonlSink(jsonl) if jsonl is not None else None
    except BaseException:
        if video is not None:
            video.close()
        raise
    bar = _Progress(progress, getattr(source, "frame_count", None))
    frames = 0
    stopped = "end"
    error: BaseException | None = None
    fps_ema: float | None = None
    t_start = time.perf_counter()
    t_prev = t_start
    try:
        for frame, result in pipeline.run_frames(source):
            now = time.perf_counter()
            dt = now - t_prev
            t_prev = now
            if dt > 0:
                fps_ema = 1.0 / dt if fps_ema is None else 0.9 * fps_ema + 0.1 / dt
            frames += 1
            if lines is not None:
                lines.write(result.to_json())
            if video is not None or window is not None:
                drawn = draw_result(frame.image_bgr, result, fps_ema)
                if video is not None:
                    video.write(drawn)
                if window is not None and not window.show(drawn):
                    stopped = "user"
                    break
            if on_result is not None:
                on_result(result)
            bar.update(frames, fps_ema or 0.0, len(result.faces))
            if max_frames is not None and frames >= max_frames:
                stopped = "max_frames"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    except BaseException as exc:
        stopped = "error"
        error = exc
    finally:
        seconds = time.perf_counter() - t_start
        bar.update(frames, fps_ema or 0.0, 0, force=True)
        if frames:
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
        try:
            if lines is not None:
                lines.write({"summary": report.to_json()})
        finally:
            if lines is not None:
                lines.close()
            if video is not None:
                video.close()
            if window is not None:
                window.close()
    if error is not None:
        raise error
    return report


def stderr_if_tty() -> TextIO | None:
    return sys.stderr if sys.stderr.isatty() else None
