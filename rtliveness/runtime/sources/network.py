"""Reaching a stream's server: a TCP probe before FFmpeg gets the URL, and the capture with its timeouts."""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

import cv2

from ...config import StreamConfig
from ...errors import SourceOpenError

_PROBE_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}


def _probe_stream(url: str, timeout_s: float) -> None:
    """Fail at once, in one line, when a stream URL's server cannot be reached.

    A TCP connect to the URL's host and port (for ``rtsp``, ``rtsps``, ``http``, ``https`` and
    ``rtmp``) before FFmpeg gets the URL: a refused connection or an unknown host raises
    :class:`SourceOpenError` immediately; a host that does not answer, after ``timeout_s`` (the
    open timeout). Anything else (other schemes, a URL without a host or with a malformed port,
    http(s) behind an ``http_proxy``) is left to FFmpeg.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port or _PROBE_PORTS.get(scheme)
    except ValueError:  # a malformed port: FFmpeg's own failure says it
        return
    if scheme not in _PROBE_PORTS or not host or not port:
        return
    if scheme in ("http", "https") and (os.environ.get("http_proxy") or os.environ.get("HTTP_PROXY")):
        return  # FFmpeg connects to the proxy, not to the host
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    problem = tcp_probe(host, port, timeout_s)
    if problem is None:
        return  # something listens: the stream itself is FFmpeg's business
    if problem == "unknown host":
        raise SourceOpenError(f"cannot open stream {url}: unknown host {host!r}; check the host name in the URL")
    if problem == "connection refused":
        raise SourceOpenError(f"cannot open stream {url}: connection refused by {where} (nothing listens on that port); "
                              "check the port in the URL and that the camera/server is running")
    if problem == "no answer":
        raise SourceOpenError(f"cannot open stream {url}: no answer from {where} within {timeout_s:g} s; "
                              "check the host address, the network and any firewall")
    raise SourceOpenError(f"cannot open stream {url}: cannot connect to {where} ({problem}); check the URL and the network")


def tcp_probe(host: str, port: int, timeout_s: float) -> str | None:
    """Try a TCP connection to ``host:port`` within ``timeout_s``: None when something accepts
    it, else why not — ``"unknown host"``, ``"connection refused"``, ``"no answer"`` or the
    system's reason. Used for stream URLs and for cluster addresses."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return "unknown host"
    deadline = time.monotonic() + timeout_s
    last: OSError | None = None
    for family, kind, proto, _, addr in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(addr)
            return None
        except OSError as exc:
            last = exc
        finally:
            sock.close()
    if isinstance(last, ConnectionRefusedError):
        return "connection refused"
    if last is None or isinstance(last, TimeoutError):
        return "no answer"
    return last.strerror or type(last).__name__


def http_serves_a_file(url: str, timeout_s: float) -> bool:
    """Whether an http(s) server answers ``url`` as a file of a stated size — a ``Content-Length``,
    or the total of a ``Content-Range`` — and not as a playlist or a multipart (MJPEG) stream: what
    tells a recorded video from a live one when its container states no duration (a browser's
    WebM recording, an MPEG-TS file: FFmpeg's frame count is then unknown). One request for its
    first byte, its body not read; False when the server cannot tell or cannot be asked."""
    import ssl
    import urllib.request

    try:
        parts = urlsplit(url)
        if parts.username is not None or parts.path.lower().endswith((".m3u8", ".m3u")):
            return False  # a login is never sent ahead of a challenge (nor to a redirect); a playlist is live
        headers = {"Range": "bytes=0-0", "User-Agent": "rtliveness"}
        context = ssl._create_unverified_context()  # as FFmpeg reads https (no certificate check); headers only
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s,
                                    context=context) as resp:
            ctype = resp.headers.get_content_type().lower()
            if ctype.startswith("multipart/") or "mpegurl" in ctype:
                return False
            if resp.status == 206:
                return resp.headers.get("Content-Range", "").rpartition("/")[2].strip().isdigit()
            return resp.status == 200 and (resp.headers.get("Content-Length") or "").strip().isdigit()
    except Exception:  # noqa: BLE001 - any failure: not known to be a file (read as a live stream, as before)
        return False


def _open_capture(spec: str | int, config: StreamConfig) -> cv2.VideoCapture:
    if isinstance(spec, int):
        return cv2.VideoCapture(spec)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(config.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(config.read_timeout_s * 1000),
    ]
    return cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)
