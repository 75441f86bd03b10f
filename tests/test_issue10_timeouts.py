"""Issue 10: a caller's timeout holds without frames, and a refused stream fails at once in one line."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline, moving_face_frames, write_video
from rtliveness.config import StreamConfig
from rtliveness.errors import SourceError, SourceOpenError, StreamLostError
from rtliveness.runtime import sources
from rtliveness.runtime.decision import decide
from rtliveness.runtime.sources import FileSource, LiveSource, open_source
from rtliveness.types import FaceBox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FrozenCap:
    """A camera that opened but delivers nothing: every read blocks for ``block_s`` and fails, as
    FFmpeg's read timeout does on a stalled stream (a V4L2 camera blocks in select alike)."""

    def __init__(self, block_s=0.3):
        self.block_s = block_s
        self.reads = 0
        self.released = False

    def isOpened(self):
        return True

    def get(self, prop):
        return 0.0 if prop == cv2.CAP_PROP_FRAME_COUNT else 25.0  # a live stream has no frame count

    def read(self):
        self.reads += 1
        time.sleep(self.block_s)
        return False, None

    def release(self):
        self.released = True


class StreamingCap(FrozenCap):
    """A camera delivering one uniform frame of ``value`` every ``delay`` seconds."""

    def __init__(self, value=230, delay=0.01):
        super().__init__()
        self.value, self.delay = value, delay

    def read(self):
        self.reads += 1
        time.sleep(self.delay)
        return True, np.full((60, 80, 3), self.value, np.uint8)


# ----------------------------------------------------------------------------------- A: decide
def test_decide_timeout_holds_when_a_frozen_camera_sends_nothing():
    # give_up_s is long: without a bounded wait, decide would block until the source gives up
    cfg = StreamConfig(read_timeout_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.2, give_up_s=8)
    caps = []

    def opener(spec, c):
        caps.append(FrozenCap(0.3))
        return caps[-1]

    pipe = fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer())
    src = LiveSource(0, cfg, opener=opener)
    try:
        t0 = time.monotonic()
        d = decide(pipe, src, timeout_s=1.0)
        took = time.monotonic() - t0
    finally:
        t1 = time.monotonic()
        src.close()
        closed_in = time.monotonic() - t1
    assert d.label == "undecided" and d.frames == 0 and d.track_id is None and d.p_spoof is None
    assert 1.0 <= d.seconds < 1.5 and took < 1.5, took  # the caller's timeout, not give_up_s
    assert caps and caps[0].reads >= 1  # the reader did try to read
    assert closed_in < 2 and not src.alive


def test_decide_on_a_live_source_still_decides():
    cfg = StreamConfig(give_up_s=5)
    pipe = fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer())
    with LiveSource(0, cfg, opener=lambda s, c: StreamingCap(230, 0.01)) as src:
        d = decide(pipe, src, timeout_s=10, windows=3)
    assert d.label == "spoof" and d.track_id == 1 and d.p_spoof == pytest.approx(230 / 255)
    assert d.seconds < 5


def test_decide_stream_lost_before_the_timeout_still_raises():
    cfg = StreamConfig(reconnect=False)
    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    with LiveSource(0, cfg, opener=lambda s, c: FrozenCap(0.05)) as src:
        with pytest.raises(StreamLostError):
            decide(pipe, src, timeout_s=5)


def test_live_frames_until_stops_at_the_deadline_without_frames():
    with LiveSource(0, StreamConfig(give_up_s=8), opener=lambda s, c: FrozenCap(0.2)) as src:
        t0 = time.monotonic()
        got = list(src.frames_until(t0 + 0.4))
        took = time.monotonic() - t0
    assert got == [] and 0.35 < took < 0.8


def test_file_frames_until(tmp_path, grace):
    path = write_video(tmp_path / "v.avi", moving_face_frames(grace, 12), fps=25, fourcc="MJPG")
    with FileSource(path) as src:
        assert [f.index for f in src.frames_until(time.monotonic() + 30)] == list(range(12))
    with FileSource(path) as src:
        assert list(src.frames_until(time.monotonic() - 1)) == []  # a deadline already passed
    with FileSource(path) as src:  # plain iteration is unchanged
        assert len(list(src)) == 12
    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    with FileSource(path) as src:
        d = decide(pipe, src, timeout_s=30)
    assert d.label == "undecided" and d.frames == 12


# ----------------------------------------------------------------------------- B: refused URLs
def _one_line(msg: str) -> bool:
    return "\n" not in msg and "\r" not in msg


@pytest.mark.parametrize("scheme", ["rtsp", "http", "rtmp"])
def test_refused_stream_fails_at_once_in_one_line(scheme):
    url = f"{scheme}://127.0.0.1:{_free_port()}/x"
    t0 = time.monotonic()
    with pytest.raises(SourceOpenError) as ei:
        open_source(url)
    took = time.monotonic() - t0
    msg = str(ei.value)
    assert took < 2, took
    assert _one_line(msg) and url in msg and "refused" in msg and "check" in msg, msg


def test_refused_live_source_fails_at_once():
    url = f"rtsp://127.0.0.1:{_free_port()}/live"
    t0 = time.monotonic()
    with pytest.raises(SourceOpenError, match="connection refused"):
        LiveSource(url, StreamConfig(open_timeout_s=10))
    assert time.monotonic() - t0 < 2


def test_host_that_does_not_answer_fails_within_the_open_timeout():
    # a listener whose accept queue is full drops further SYNs: the connect hangs, as it does
    # for a host behind a dropping firewall
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=1)
        try:
            url = f"rtsp://127.0.0.1:{port}/x"
            t0 = time.monotonic()
            with pytest.raises(SourceOpenError) as ei:
                sources._probe_stream(url, 0.5)
            took = time.monotonic() - t0
        finally:
            filler.close()
    msg = str(ei.value)
    assert 0.45 < took < 1.5, took  # the stated bound, not more
    assert _one_line(msg) and msg.startswith(f"cannot open stream {url}: no answer from 127.0.0.1:{port} within 0.5 s"), msg


def test_unroutable_host_fails_within_the_open_timeout():
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never routed. Depending on the network it times out,
    # is refused or has no route; any of them within the bound, in one line naming the URL
    t0 = time.monotonic()
    with pytest.raises(SourceOpenError) as ei:
        sources._probe_stream("rtsp://192.0.2.1:554/x", 0.5)
    msg = str(ei.value)
    assert time.monotonic() - t0 < 2
    assert _one_line(msg) and msg.startswith("cannot open stream rtsp://192.0.2.1:554/x: ") and "check" in msg, msg


def test_probe_passes_a_listening_server_and_skips_what_it_cannot_judge(monkeypatch):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        assert sources._probe_stream(f"rtsp://user:pw@127.0.0.1:{port}/x", 2) is None
    refused = _free_port()
    # schemes without a TCP server to probe, a malformed port: left to FFmpeg
    for url in (f"udp://127.0.0.1:{refused}", "rtsp://127.0.0.1:notaport/x", "rtsp:///x"):
        assert sources._probe_stream(url, 2) is None
    # behind an HTTP proxy FFmpeg connects to the proxy, not to the host
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:3128")
    assert sources._probe_stream(f"http://127.0.0.1:{refused}/x", 2) is None
    with pytest.raises(SourceOpenError):
        sources._probe_stream(f"rtsp://127.0.0.1:{refused}/x", 2)


def test_probe_is_only_for_the_first_open_of_the_default_opener():
    # an injected opener (tests, custom backends) is not second-guessed: "fake" would not resolve
    with LiveSource("rtsp://fake", StreamConfig(reconnect=False), opener=lambda s, c: StreamingCap()) as src:
        assert next(iter(src)).image_bgr.shape == (60, 80, 3)


def test_http_live_stream_is_opened_once(monkeypatch):
    calls = []

    def fake_open(spec, cfg):
        calls.append(spec)
        return StreamingCap(delay=0.02)  # frame count 0: a live stream, not a file

    monkeypatch.setattr(sources, "_open_capture", fake_open)
    monkeypatch.setattr(sources, "_probe_stream", lambda url, t: None)
    with open_source("http://cam.example/stream.mjpg") as src:
        assert isinstance(src, LiveSource)
        next(iter(src))
    assert calls == ["http://cam.example/stream.mjpg"]  # the probe's capture was handed over

    class Closed(StreamingCap):
        def isOpened(self):
            return False

    calls.clear()
    monkeypatch.setattr(sources, "_open_capture", lambda spec, cfg: calls.append(spec) or Closed())
    with pytest.raises(SourceOpenError, match="cannot open stream http://cam.example/x"):
        open_source("http://cam.example/x")
    assert len(calls) == 1  # a failed open is not tried a second time (that doubled the wait)


def test_cli_refused_rtsp_exits_with_the_source_error_code_in_one_line():
    exe = Path(sys.executable).with_name("rtliveness")
    url = f"rtsp://127.0.0.1:{_free_port()}/x"
    t0 = time.monotonic()
    r = subprocess.run([str(exe), "run", url, "--no-show"], capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == SourceError.exit_code == 3, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtliveness: error: cannot open stream " + url), r.stderr
    assert "refused" in lines[0] and r.stdout == ""
    assert took < 10  # interpreter start-up included; the model is never loaded
