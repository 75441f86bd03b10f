"""The ``run`` job: a source through a pipeline into sinks.

``process_source(pipeline, source, sinks=[...])`` drives the loop and hands every frame and its
result to each :class:`~rtliveness.runtime.sinks.Sink`. Outputs are always finalised: every
sink gets the run's summary (``end``) and is closed, also on Ctrl+C, a lost stream or an error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence, TextIO

from ..config import as_bool, check_max_frames
from ..errors import ConfigError
from ..model.dims import WINDOW
from ..redact import redact
from ..types import FrameResult, TrackSummary
from .pipeline import LivenessPipeline, check_frame_source
from .progress import FpsMeter, Progress
from .sinks import CallbackSink, JsonlSink, Sink, StopRequested, VideoSink, WindowSink, check_output_paths
from .stopsignals import stop_signals, stop_signals_as_interrupt  # the latter re-exported: its home before

__all__ = ["RunReport", "process_source", "format_summary", "build_sinks", "interrupted_before_start",
           "stop_signals_as_interrupt"]


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


def _count(n: int, noun: str) -> str:
    """``1 frame``, ``2 frames``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_summary(report: RunReport) -> str:
    """One paragraph for humans: frames, FPS, per-track verdicts."""
    parts = [f"{_count(report.frames, 'frame')} in {report.seconds:.1f} s ({report.fps:.1f} FPS) from {report.source}"]
    if report.dropped:
        parts.append(f"{report.dropped} stale frames dropped")
    if report.stopped not in ("end",):
        parts.append(f"stopped: {report.stopped}")
    if report.tracks:
        verdicts = []
        for t in report.tracks:
            if t.mean_p_spoof is None:  # seen, never scored: a verdict needs a window of its face
                score = f" (seen on {_count(t.frames, 'frame')}; a verdict needs {WINDOW} in a row)"
            else:
                score = f" (mean p_spoof {t.mean_p_spoof:.2f}, {_count(t.windows, 'window')})"
            verdicts.append(f"track {t.track_id}: {t.label}{score}")
        parts.append("; ".join(verdicts))
    else:
        parts.append("no faces found")
    return ". ".join(parts) + "."


def _source_file(source) -> str | None:
    """The path of the file ``source`` reads, None where its name is no file here (a camera, a
    URL, an upload's client-given name, a name the file system cannot even look up)."""
    name = getattr(source, "name", None)
    try:
        return name if isinstance(name, str) and Path(name).is_file() else None
    except (OSError, ValueError):  # too long for the file system, a NUL byte
        return None


def build_sinks(source, out: Path | None = None, jsonl: Path | None = None, show: bool = False,
                meter: FpsMeter | None = None) -> list[Sink]:
    """The ``run`` command's sinks: window (checked first: it refuses without a display before
    any file is created), annotated video, JSON lines. Already-opened sinks are closed when a
    later one fails. A wrong kind of ``out`` / ``jsonl`` / ``show`` is a :class:`ConfigError`
    naming it, at the call (a number was a bare ``TypeError``), by the config records' rules
    (:func:`~rtliveness.config.check_field_types`): a path is a str or a path object, a flag a
    bool or 0 / 1."""
    for name, value in (("out=", out), ("jsonl=", jsonl)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{name} must be a path (str or pathlib.Path) or None, got {value!r}")
    flag = False if show is None else as_bool(show)  # None: no window, as before (run's own default is decided earlier)
    if flag is None:
        raise ConfigError(f"show= must be true or false, got {show!r}")
    show = flag
    # the run command checks these before the model loads; a host calling process_source gets the
    # same refusal here: an output naming the file being read, or the other output, overwrites it
    if out is not None or jsonl is not None:
        check_output_paths(_source_file(source), out, jsonl, ("out=", "jsonl="))
    sinks: list[Sink] = []
    try:
        if show:
            sinks.append(WindowSink(meter=meter))
        if out is not None:
            sinks.append(VideoSink(out, getattr(source, "fps", None), meter=meter))
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
    re-raised after the outputs are finalised (the summary records it). A stop signal that comes
    while the outputs are finalised waits for them (a second one during that is obeyed at once);
    after a run that had ended otherwise it is then raised as ``KeyboardInterrupt`` (the summary
    says how the run ended).
    """
    try:
        max_frames = check_max_frames(max_frames, "max_frames")
    except ConfigError:
        for s in sinks:
            s.close()
        raise
    meter = FpsMeter()
    all_sinks: list[Sink] = list(sinks)
    try:
        check_frame_source(source, "process_source()")
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
    # this run's tracks and the frame each was first seen on, and where their counts stood: a
    # pipeline reused across clips keeps earlier tracks, and without reset() carries one into the next
    tracks_seen: dict[int, int] = {}
    mark = pipeline.summary_mark()
    stopped = "end"
    error: BaseException | None = None
    guard = _WholeFrames()
    t_start = time.perf_counter()
    try:
        for frame, result in pipeline.run_frames(source):
            meter.tick()
            faces = len(result.faces)
            for v in result.faces:
                tracks_seen.setdefault(v.track_id, frame.index)
            try:
                with guard:  # Ctrl+C waits until every sink has this frame
                    for s in all_sinks:
                        s.write(frame, result)
                    frames += 1  # counted once every sink has it (a sink that fails: not counted)
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
        guard.hold()  # from here a stop signal (a second Ctrl+C) waits until every output is finalised
        seconds = time.perf_counter() - t_start
        if frames:
            bar.update(frames, f"{meter.fps:5.1f} FPS  faces {faces}", force=True)
        bar.finish()
        report = RunReport(
            source=redact(str(getattr(source, "name", None) or f"<{type(source).__name__}>")),  # not an object's address
            frames=frames,
            seconds=seconds,
            fps=frames / seconds if seconds > 0 else 0.0,
            dropped=int(getattr(source, "dropped", 0)),
            stopped=stopped,
            tracks=list(pipeline.track_summaries(tracks_seen, since=mark)),
            error=None if error is None else redact(str(error)),
        )
        try:
            _finalise(all_sinks, report)
        finally:
            late = guard.close()
    if error is not None:
        raise error
    if late and stopped != "interrupted":
        raise KeyboardInterrupt  # the run had ended, its outputs are whole: the signal is obeyed now
    return report


def interrupted_before_start(source_name: str, jsonl: Path | None = None) -> RunReport:
    """The report of a run stopped (Ctrl+C, SIGTERM) before its first frame — while its source
    opened or its model loaded — and its JSON lines, as every other exit leaves them: the summary
    line (``stopped: interrupted``, no frame)."""
    report = RunReport(source=redact(source_name), frames=0, seconds=0.0, fps=0.0, dropped=0, stopped="interrupted")
    if jsonl is not None:
        sink = JsonlSink(jsonl)
        try:
            sink.end(report.to_json())
        finally:
            sink.close()
    return report


class _WholeFrames:
    """A stop signal (Ctrl+C; SIGTERM / SIGHUP under :func:`stop_signals_as_interrupt`) during the
    sink writes of a frame is held until every sink has written it, so the video and the JSON
    lines end on the same frame; anywhere else it interrupts at once. Active only in the main
    thread, for signals whose handler is Python's default SIGINT handler (a host's own handler is
    left alone)."""

    def __init__(self) -> None:
        self._inside = False
        self._pending = False
        self._previous: dict = {}
        if threading.current_thread() is threading.main_thread():
            for sig in stop_signals():
                with contextlib.suppress(ValueError, TypeError, OSError):
                    if signal.getsignal(sig) is signal.default_int_handler:
                        self._previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        if self._inside and not self._pending:
            self._pending = True
        else:  # outside the held part, or a signal already held: the user insists, obey at once
            raise KeyboardInterrupt

    def __enter__(self) -> "_WholeFrames":
        self._inside = True
        return self

    def __exit__(self, *exc) -> None:
        self._inside = False
        if self._pending and exc[0] is None:
            self._pending = False
            raise KeyboardInterrupt

    def hold(self) -> None:
        """Hold every stop signal from now until :meth:`close` (the outputs are being finalised)."""
        self._inside = True

    def close(self) -> bool:
        """Give the handlers back; whether a stop signal is still held."""
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError, OSError):
                signal.signal(sig, handler)
        self._previous = {}
        return self._pending


def _finalise(sinks: Sequence[Sink], report: RunReport) -> None:
    """Close the sinks without a summary first (the video: its trailer, checked), then
    ``end(summary)`` and ``close()`` the others, so a video that could not be finalised is the
    summary's error; every sink is closed even if one fails, and the first failure is raised."""
    first: BaseException | None = None
    for s in [s for s in sinks if not callable(getattr(s, "end", None))]:
        try:
            s.close()
        except BaseException as exc:  # noqa: BLE001 - keep closing the others, re-raise below
            first = first or exc
    if isinstance(first, Exception) and report.error is None:  # not a stop signal arriving meanwhile
        report = replace(report, stopped="error", error=redact(str(first)) or type(first).__name__)
    for s in [s for s in sinks if callable(getattr(s, "end", None))]:
        try:
            s.end(report.to_json())
        except BaseException as exc:  # noqa: BLE001
            first = first or exc
        finally:
            try:
                s.close()
            except BaseException as exc:  # noqa: BLE001
                first = first or exc
    if first is not None:
        raise first
