"""One stream inside a fleet worker: source → pipeline → records (and the annotated video).

Ray-free: a :class:`StreamRunner` runs on a thread of whatever process holds it. The
controller collects its records with :meth:`StreamRunner.drain` and writes them; a runner
that resumes after a restart (``epoch`` > 0) skips the frames already written (files) or
continues the frame numbers (live sources), and shifts its track ids past those already used,
so the stream's JSON lines never repeat a frame or a track.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import one_line
from ..types import Frame, FrameResult

__all__ = ["StreamSpec", "StreamRunner", "drain_runners"]


@dataclass(frozen=True)
class StreamSpec:
    """What a worker needs to run one stream (sent by the controller; picklable)."""

    name: str
    source: str
    epoch: int = 0
    start_frame: int = 0  # first frame index to process (files: skip before it)
    start_time: float = 0.0  # live sources: added to every frame's time (it continues across restarts)
    track_offset: int = 0  # added to every track id of this epoch
    max_frames: int | None = None  # frames still to process (None: to the end)
    video_path: str | None = None  # this epoch's annotated video (None: no video)
    give_up_s: float = 30.0


class StreamRunner:
    """Runs one stream on a thread; thread-safe ``drain``/``stop`` (``request_stop`` then ``join``)."""

    def __init__(self, spec: StreamSpec, pipeline_factory: Callable[[], object],
                 on_event: Callable[[str, str], None] | None = None) -> None:
        self.spec = spec
        self._factory = pipeline_factory
        self._on_event = on_event
        self._lock = threading.Lock()
        self._records: list[dict] = []  # produced and not yet acknowledged by the controller
        self._first = 1  # the number of self._records[0]: an epoch's records are numbered from 1
        self._stop = threading.Event()
        self.frames = 0
        self.dropped = 0
        self.stopped: str | None = None  # end | max_frames | stopped | error (None while running)
        self.error: str | None = None
        self.events: list[str] = []
        self._summaries: list[dict] = []
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self._src = None
        self._closer: threading.Thread | None = None  # closes a live source for request_stop
        self._thread = threading.Thread(target=self._run, name=f"rtliveness-fleet-{spec.name}", daemon=True)

    def start(self) -> "StreamRunner":
        self._thread.start()
        return self

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        from ..config import StreamConfig
        from ..runtime.sources import open_source

        stopped, error = "end", None
        pipeline = None
        video = None
        try:
            pipeline = self._factory()
            src = open_source(self.spec.source, StreamConfig(give_up_s=self.spec.give_up_s), on_event=self._event)
            self._src = src
            with src:
                if self.spec.video_path:
                    from ..runtime.sinks import VideoSink

                    video = VideoSink(self.spec.video_path, getattr(src, "fps", None))
                live = bool(getattr(src, "is_live", False))
                for frame in src:
                    if self._stop.is_set():
                        stopped = "stopped"
                        break
                    if live:  # numbers and time continue across restarts
                        frame = Frame(frame.index + self.spec.start_frame, frame.image_bgr,
                                      frame.timestamp + self.spec.start_time, frame.epoch)
                    elif frame.index < self.spec.start_frame:
                        continue  # written before a restart
                    result = self._shift(pipeline.step(frame))
                    if video is not None:
                        video.write(frame, result)
                    with self._lock:
                        self._records.append(result.to_json())
                        self.frames += 1
                        self.dropped = int(getattr(src, "dropped", 0))
                        self._summaries = [self._shift_summary(t.to_json()) for t in pipeline.track_summaries()]
                    if self.spec.max_frames is not None and self.frames >= self.spec.max_frames:
                        stopped = "max_frames"
                        break
        except BaseException as exc:  # noqa: BLE001 - the stream ends with its one-line reason
            if self._stop.is_set():
                stopped, error = "stopped", None  # closed by stop(): not a failure
            else:
                stopped, error = "error", one_line(exc) or type(exc).__name__
        finally:
            try:
                if video is not None:
                    try:
                        video.close()
                    except Exception as exc:  # noqa: BLE001 - a video that could not be finalised fails the stream
                        if error is None:
                            stopped, error = "error", one_line(exc) or type(exc).__name__
            finally:
                if pipeline is not None:
                    pipeline.close()
                with self._lock:
                    self._t_end = time.monotonic()
                    self.stopped, self.error = stopped, error

    def _event(self, event: str, detail: str) -> None:
        with self._lock:
            self.events.append(f"{event}: {detail}")
        if self._on_event is not None:
            self._on_event(event, detail)

    def _shift(self, result: FrameResult) -> FrameResult:
        off = self.spec.track_offset
        if not off:
            return result
        faces = tuple(dataclasses.replace(v, track_id=v.track_id + off) for v in result.faces)
        return dataclasses.replace(result, faces=faces)

    def _shift_summary(self, summary: dict) -> dict:
        return {**summary, "track": summary["track"] + self.spec.track_offset}

    # ------------------------------------------------------------------ the controller's side
    def drain(self, ack: int = 0) -> dict:
        """Every record the controller has not acknowledged, and the stream's state (one consistent
        view). ``ack``: how many of this epoch's records the controller has written; those are
        dropped here, the rest are sent again until acknowledged, so an answer lost on the way (a
        poll given up on, Ctrl+C inside it) loses no record. ``first`` numbers the first record sent."""
        with self._lock:
            drop = max(0, min(ack - self._first + 1, len(self._records)))
            del self._records[:drop]
            self._first += drop
            end = self._t_end if self._t_end is not None else time.monotonic()
            events, self.events = self.events, []
            return {
                "epoch": self.spec.epoch,
                "first": self._first,
                "records": list(self._records),
                "frames": self.frames,
                "seconds": end - self._t0,
                "dropped": self.dropped,
                "tracks": list(self._summaries),
                "stopped": self.stopped,
                "error": self.error,
                "events": events,
            }

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current frame; a live source is closed so a stalled read ends too."""
        self.request_stop()
        self.join(timeout)

    def request_stop(self) -> None:
        """Ask the stream to stop and return at once: a live source is closed on a thread of its
        own (closing a dead camera waits out its read and open timeouts, 10-15 s), so a worker
        stopping all its streams stops them together, not one after the other."""
        with self._lock:
            self._stop.set()
            src = self._src
            if src is None or not getattr(src, "is_live", False) or self._closer is not None:
                return
            self._closer = threading.Thread(target=src.close, name=f"rtliveness-fleet-close-{self.spec.name}",
                                            daemon=True)
            self._closer.start()

    def join(self, timeout: float = 10.0, deadline: float | None = None) -> None:
        """Wait for a stop asked for: the source's close (bounded by its own timeouts), then the
        stream's thread, up to ``timeout`` seconds (or until the ``time.monotonic`` ``deadline``)."""
        closer = self._closer
        if closer is not None:
            closer.join()
        until = time.monotonic() + timeout if deadline is None else deadline
        self._thread.join(max(0.0, until - time.monotonic()))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def drain_runners(runners: dict[str, StreamRunner], acks: dict | None = None, forget=()) -> dict[str, dict]:
    """A worker's answer to the controller's poll: ``{name: drain report}``. ``acks``: ``{name:
    (epoch, records written)}``; ``forget``: ``(name, epoch)`` pairs the controller has seen end.
    An ended runner is kept (and reported again) until the controller forgets it, so the answer
    that said it stopped cannot be lost either."""
    acks = acks or {}
    for name, epoch in forget:
        runner = runners.get(name)
        if runner is not None and runner.spec.epoch == epoch and runner.stopped is not None:
            del runners[name]
    out = {}
    for name, runner in list(runners.items()):
        epoch, written = acks.get(name, (None, 0))
        out[name] = runner.drain(written if epoch == runner.spec.epoch else 0)
    return out
