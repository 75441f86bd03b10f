"""Frame sources behind one protocol: video files, cameras, RTSP/HTTP streams, in-memory arrays.

* Files deliver every frame in order and never drop one; decoding runs on a background thread
  a few frames ahead (bounded queue) so it overlaps with inference.
* A still photo (JPEG, PNG, BMP, WebP, TIFF, GIF, PPM, JPEG 2000, AVIF: told by its first bytes, not its name) is a static
  scene: :class:`StillSource` delivers it ``STILL_FRAMES`` times — one full window — so a
  photo gets a verdict like a video does instead of staying ``pending`` after one frame.
* Live sources (camera index, ``rtsp://``/``http(s)://``) read on a background thread and hand
  out the freshest frame, counting the ones they drop. A lost stream is retried with backoff;
  each reconnect increases ``Frame.epoch`` so the pipeline clears its windows. No substitute
  frame (black, repeated) is ever produced. After ``give_up_s`` without frames the iterator
  raises :class:`StreamLostError`. Before the first open of a network URL a TCP connect to its
  host and port tells a refused connection, an unknown host or a host that does not answer
  apart at once (one line), instead of leaving it to FFmpeg's open timeout.
* File and live sources also have ``frames_until(deadline)``: the same frames, but the wait for
  the next one never passes ``deadline`` (``time.monotonic()``), so a caller's timeout holds
  even when no frame comes (a frozen camera); :func:`~rtliveness.runtime.decision.decide` uses it.

Every source is a context manager; ``close()`` ends its thread (joined with a timeout).

Modules: :mod:`.spec` (what a SOURCE argument is), :mod:`.base` (the protocol, in-memory frames),
:mod:`.files` (video files), :mod:`.stills` (photos), :mod:`.live` (cameras and streams),
:mod:`.network` (reaching a stream's server); this module opens the right one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import cv2

from ...config import StreamConfig
from ...errors import ConfigError, SourceOpenError
from ...redact import redact_url
from .base import ArraySource, FrameSource, SourceEvent
from .files import FileSource
from .live import LiveSource
from .network import _open_capture, _probe_stream, http_serves_a_file
from .spec import parse_source
from .stills import STILL_FRAMES, StillSource, is_still_image

__all__ = [
    "FrameSource",
    "FileSource",
    "StillSource",
    "STILL_FRAMES",
    "is_still_image",
    "open_file",
    "LiveSource",
    "ArraySource",
    "open_source",
    "parse_source",
    "SourceEvent",
]


def open_file(path: str | os.PathLike, still_frames: int = STILL_FRAMES) -> "FileSource | StillSource":
    """A local file: a :class:`StillSource` for a still photo, else a :class:`FileSource`."""
    p = Path(path)
    if p.is_file() and is_still_image(p):
        return StillSource(p, frames=still_frames)
    return FileSource(p)


#: the largest picture fetched from a URL to be decoded as a file (a 200 MP JPEG is about 60 MB)
_MAX_URL_PICTURE = 128 << 20


def _plain_request(url: str):
    """A request for ``url`` with its ``user:password@`` (a camera's login, which FFmpeg sends as
    Basic auth) moved into an Authorization header: urllib would take it for part of the host.
    The header is not one urllib copies to wherever a redirect points (another host, plain http):
    :func:`_fetch` sends it on only to the same scheme, host and port."""
    import base64
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    req = urllib.request.Request(urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)))
    req.add_unredirected_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode("ascii"))
    return req


def _fetch(req, timeout_s: float, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer to ``req``, following redirects; its login goes on
    only to a redirect of the same origin (scheme, host, port), as curl and requests do."""
    import urllib.parse
    import urllib.request

    def origin(url: str) -> tuple:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port

    class SameOriginLogin(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            login = req.unredirected_hdrs.get("Authorization")
            if new is not None and login is not None and origin(newurl) == origin(req.full_url):
                new.add_unredirected_header("Authorization", login)
            return new

    with urllib.request.build_opener(SameOriginLogin).open(req, timeout=timeout_s) as resp:  # noqa: S310 - the user's own URL
        return resp.read(limit)


def _still_at_url(url: str, decoded, timeout_s: float) -> StillSource:
    """The picture at ``url`` decoded as the same file on disk would be (its own decoder, its EXIF
    orientation); FFmpeg's decoding (``decoded``) when the bytes cannot be fetched again (a
    camera's self-signed certificate, say) or do not decode as a photo."""
    import tempfile

    try:
        data = _fetch(_plain_request(url), timeout_s, _MAX_URL_PICTURE + 1)
    except Exception:  # noqa: BLE001 - a best-effort second fetch: broken HTTP, auth, TLS … keep FFmpeg's picture
        data = b""
    if 0 < len(data) <= _MAX_URL_PICTURE:
        with tempfile.TemporaryDirectory(prefix="rtliveness-url-") as tmp:
            path = Path(tmp) / "picture"
            path.write_bytes(data)
            if is_still_image(path):
                with contextlib.suppress(SourceOpenError):  # not a photo its decoder reads: FFmpeg's picture
                    still = StillSource(path)
                    still.name = redact_url(url)
                    return still
    return StillSource.from_image(decoded, redact_url(url))


def open_source(spec: str | int, stream: StreamConfig | None = None,
                on_event: SourceEvent | None = None) -> FileSource | StillSource | LiveSource:
    """Open SOURCE: an integer is a camera index; ``rtsp://``/``http(s)://`` are streams (an
    http(s) URL of a finite video is read as a file, of one picture as a still photo); anything
    else is a file path (a video, or a still photo: see :func:`open_file`)."""
    if stream is not None and not isinstance(stream, StreamConfig):  # a dict failed later with a bare AttributeError
        raise ConfigError(f"stream must be a StreamConfig, e.g. StreamConfig(give_up_s=5), got {type(stream).__name__}")
    if on_event is not None and not callable(on_event):
        raise ConfigError(f"on_event must be a function on_event(event, detail), got {type(on_event).__name__}")
    kind, value = parse_source(spec)
    if kind == "file":
        return open_file(value)
    if kind == "stream" and str(value).lower().startswith(("http://", "https://")):
        # a finite video file served over HTTP has a frame count: read it like a file (every
        # frame, end at its end) instead of "reconnecting" to replay it forever
        cfg = stream or StreamConfig()
        _probe_stream(str(value), cfg.open_timeout_s)
        cap = _open_capture(value, cfg)
        count = (cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
        if count == 1:  # one picture (a camera's snapshot.jpg): a still scene, as the same photo on disk
            ok, image = cap.read()
            cap.release()
            if not ok or image is None:
                raise SourceOpenError(f"cannot decode the picture at {value}; check the URL")
            return _still_at_url(str(value), image, cfg.open_timeout_s)
        # a count FFmpeg does not know (a WebM or MPEG-TS file, no duration in its header) is a huge
        # negative number: such a file was "reconnected" to at its end and replayed for ever
        if count > 0 or (cap.isOpened() and http_serves_a_file(str(value), cfg.open_timeout_s)):
            return FileSource(value, capture=cap, remote=True)
        # a live stream: hand this capture over (a second open would double the wait when it
        # failed, and a second connection for nothing when it worked); reconnects open anew
        first = [cap]

        def opener(spec: str | int, config: StreamConfig) -> cv2.VideoCapture:
            return first.pop() if first else _open_capture(spec, config)

        return LiveSource(value, cfg, on_event=on_event, opener=opener)
    return LiveSource(value, stream, on_event=on_event)
