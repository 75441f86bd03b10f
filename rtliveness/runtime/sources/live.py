"""Cameras and network streams: the freshest frame, read on a thread, reconnected with backoff."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

import cv2
import numpy as np

from ...config import StreamConfig
from ...errors import SourceOpenError, StreamLostError
from ...redact import redact
from ...types import Frame
from .base import SourceEvent, _SourceBase, sane_fps
from .network import _open_capture, _probe_stream
from .spec import display_name


class LiveSource(_SourceBase):
    """A camera index or a network stream, read on a background thread; freshest frame wins."""

    is_live = True

    def __init__(self, spec: str | int, config: StreamConfig | None = None,
                 on_event: SourceEvent | None = None,
                 opener: Callable[[str | int, StreamConfig], "cv2.VideoCapture"] | None = None) -> None:
        self.spec = spec
        self.config = config or StreamConfig()
        self.name = display_name(spec)
        self._on_event = on_event
        self._opener = opener or _open_capture
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, float, int] | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._ended = False
        self.dropped = 0
        self.reconnects = 0
        self._t0 = time.monotonic()
        self._started = False  # the first frame asked for restarts the clock and the dropped count
        if opener is None and isinstance(spec, str):
            _probe_stream(spec, self.config.open_timeout_s)  # a refused port fails now, in one line
        cap = self._opener(spec, self.config)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise SourceOpenError(self._open_failure_message())
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = sane_fps(fps)
        self._cap = cap
        self._thread = threading.Thread(target=self._reader, name=f"rtliveness-live-{id(self):x}", daemon=True)
        self._thread.start()

    def _open_failure_message(self) -> str:
        if isinstance(self.spec, int):
            return f"camera {self.spec} did not open: no such camera or it is busy; check the index (0 is the first camera) and that no other program uses it"
        return (f"cannot open stream {self.spec}: FFmpeg could not open it (waiting at most {self.config.open_timeout_s:g} s): "
                "unreachable, wrong path or unsupported protocol; check the URL and that the camera/server is up")

    def _emit(self, event: str, detail: str) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event, redact(detail))  # an FFmpeg reason may quote the URL
            except Exception:  # a host callback must not kill the reader thread
                pass

    def _publish(self, image: np.ndarray, epoch: int) -> None:
        with self._cond:
            if self._latest is not None:
                self.dropped += 1  # the consumer never saw the previous frame
            self._latest = (image, time.monotonic() - self._t0, epoch)
            self._seq += 1
            self._cond.notify_all()

    def _gave_up(self) -> StreamLostError:
        self._emit("gave_up", self.name)
        return StreamLostError(
            f"stream {self.name} was lost and did not come back within {self.config.give_up_s:g} s; "
            "check the camera/server, or raise the give-up time")

    def _reader(self) -> None:
        epoch = 0
        cap = self._cap
        last_frame_at = time.monotonic()  # the give-up clock runs from the last real frame
        try:
            while not self._stop.is_set():
                ok, image = cap.read() if cap is not None else (False, None)
                if ok and image is not None:
                    last_frame_at = time.monotonic()
                    self._publish(image, epoch)
                    continue
                if self._stop.is_set():
                    break
                # the stream is lost: never hand out a substitute frame; reconnect with backoff
                if cap is not None:
                    cap.release()
                    cap = None
                if not self.config.reconnect:
                    raise StreamLostError(f"stream {self.name} ended or was lost (reconnect disabled)")
                if time.monotonic() - last_frame_at > self.config.give_up_s:
                    raise self._gave_up()  # reopened, but no frame came: do not loop forever
                self._emit("lost", self.name)
                delay = self.config.backoff_initial_s
                while not self._stop.is_set():
                    left = self.config.give_up_s - (time.monotonic() - last_frame_at)
                    if left <= 0:
                        raise self._gave_up()
                    if self._stop.wait(min(delay, left)):
                        break
                    delay = min(self.config.backoff_max_s, delay * 2)
                    if time.monotonic() - last_frame_at > self.config.give_up_s:
                        raise self._gave_up()
                    try:
                        cand = self._opener(self.spec, self.config)
                    except Exception as exc:  # reported with its reason, then retried like a failed open
                        reason = (str(exc).strip().splitlines() or [""])[0][:200]
                        self._emit("open_failed", f"{self.name}: {type(exc).__name__}: {reason}")
                        cand = None
                    if cand is not None and cand.isOpened():
                        cap = cand
                        epoch += 1
                        self.reconnects += 1
                        with self._cond:
                            self._latest = None  # nothing from before the gap survives
                        self._emit("reconnected", self.name)
                        break
                    if cand is not None:
                        cand.release()
        except BaseException as exc:
            self._error = exc
        finally:
            if cap is not None:
                cap.release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames_until(None)

    def _begin(self) -> None:
        """At the first frame asked for: the clock starts and nothing counts as dropped yet. The
        source opens before the model loads (a bad URL fails first, in one line); the frames the
        camera sent meanwhile are not frames the loop skipped, and time counts from here."""
        with self._cond:
            if self._started:
                return
            self._started = True
            self._t0 = time.monotonic()
            self.dropped = 0
            if self._latest is not None:
                self._latest = (self._latest[0], 0.0, self._latest[2])

    def frames_until(self, deadline: float | None) -> Iterator[Frame]:
        """The freshest frames, as iteration gives them, but the iteration ends (no error) once
        ``time.monotonic()`` reaches ``deadline``, even when no frame arrives (a frozen camera
        or a stalled stream, which alone would end only at ``give_up_s``). ``None``: no deadline."""
        self._begin()
        i = 0
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return
            with self._cond:
                while self._latest is None and not self._ended and not self._stop.is_set():
                    wait = 0.1
                    if deadline is not None:
                        wait = min(wait, deadline - time.monotonic())
                        if wait <= 0:
                            return
                    self._cond.wait(timeout=wait)
                if self._latest is None:
                    break
                image, ts, epoch = self._latest
                self._latest = None
            yield Frame(i, image, ts, epoch)
            i += 1
        if self._error is not None and not self._stop.is_set():
            err = self._error
            if isinstance(err, StreamLostError):
                raise err
            raise StreamLostError(f"stream {self.name} failed: {err}") from err

    def close(self) -> None:
        """Stop and join the reader. A read or an open in progress is bounded by the stream's
        timeouts (OpenCV cannot interrupt them), so the join waits for the longer of the two."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=max(self.config.open_timeout_s, 3 * self.config.read_timeout_s) + 5.0)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


#: default TCP ports of the URL schemes probed before the first open
