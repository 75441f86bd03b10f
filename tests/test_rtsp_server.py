"""Proves the RTSP test harness (tests/rtsp_server.py + tests/rtsp_support.py) with plain OpenCV.

A real GStreamer RTSP server on 127.0.0.1 streams tests/data/talking_head.mov (looped); OpenCV's
FFmpeg backend reads it; the server is killed mid-stream and brought back on the same URL.
Skipped (with the reason) where the GStreamer RTSP server is not installed; CI installs it with
.ci/install-system-deps.sh.  The measured timings are printed in the terminal summary.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

cv2 = pytest.importorskip("cv2")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also works under --import-mode=importlib
from rtsp_support import (  # noqa: E402
    DEFAULT_VIDEO,
    DEFAULT_VIDEO_SIZE,
    RtspServer,
    RtspServerError,
    free_port,
    rtsp_available,
    rtsp_server,  # noqa: F401  (pytest fixture)
)

pytestmark = pytest.mark.rtsp

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000
W, H = DEFAULT_VIDEO_SIZE

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_timings(request):
    """Print what this module measured, when asked: ``pytest -v`` or RTLIVENESS_RTSP_TIMINGS=1
    (a plain ``pytest -q`` stays quiet)."""
    yield
    if not TIMINGS or not (request.config.getoption("verbose") > 0 or os.environ.get("RTLIVENESS_RTSP_TIMINGS")):
        return
    lines = [f"  {k}: {v:.3f} s" for k, v in TIMINGS.items()]
    text = "\nRTSP harness timings (OpenCV %s):\n%s" % (cv2.__version__, "\n".join(lines))
    capman = request.config.pluginmanager.getplugin("capturemanager")
    tr = request.config.pluginmanager.getplugin("terminalreporter")
    if capman is not None and tr is not None:
        with capman.global_and_fixture_disabled():
            tr.write_line(text)
    else:
        print(text)


def open_capture(url: str, open_ms: int = OPEN_TIMEOUT_MS, read_ms: int = READ_TIMEOUT_MS):
    """cv2.VideoCapture with open/read timeouts; returns (cap, seconds it took)."""
    t = time.monotonic()
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms,
                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_ms])
    return cap, time.monotonic() - t


def read_frames(cap, n: int) -> list:
    frames = []
    for _ in range(n):
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def read_until_failure(cap, limit_s: float) -> tuple[int, float]:
    """Read until cap.read() fails; returns (frames still read, seconds until the failure)."""
    t = time.monotonic()
    n = 0
    while time.monotonic() - t < limit_s:
        ok, _ = cap.read()
        if not ok:
            return n, time.monotonic() - t
        n += 1
    pytest.fail(f"cap.read() still succeeding {limit_s} s after the server went away ({n} frames)")


def socket_addresses(pid: int) -> list[tuple[str, str, int]]:
    """(proto, local IPv4 address, port) of every TCP/UDP socket process *pid* holds (Linux)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for proto in ("tcp", "udp", "tcp6", "udp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[9] in inodes:
                addr, port = f[1].split(":")
                if len(addr) == 8:
                    ip = socket.inet_ntoa(bytes.fromhex(addr)[::-1])
                else:
                    ip = "ipv6:" + addr
                out.append((proto, ip, int(port, 16)))
    return out


# ---------------------------------------------------------------------------------------------


def test_rtsp_available_reports_a_reason():
    ok, why = rtsp_available()
    assert isinstance(ok, bool) and isinstance(why, str)
    assert ok or why, "a reason must be given when the server is unavailable"


def test_test_video_is_present():
    assert DEFAULT_VIDEO.is_file()
    cap = cv2.VideoCapture(str(DEFAULT_VIDEO))
    try:
        ok, frame = cap.read()
        assert ok and frame.shape == (H, W, 3)
    finally:
        cap.release()


def test_server_starts_on_loopback_only(rtsp_server):
    srv = rtsp_server()
    TIMINGS["server start (spawn -> READY)"] = srv.startup_s
    assert srv.running
    assert srv.url == f"rtsp://127.0.0.1:{srv.port}/live"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5):
        pass
    if os.path.isdir(f"/proc/{srv.pid}/fd"):
        addrs = socket_addresses(srv.pid)
        assert ("tcp", "127.0.0.1", srv.port) in addrs, addrs
        assert all(ip == "127.0.0.1" for _, ip, _ in addrs), addrs


def test_opencv_reads_frames(rtsp_server):
    srv = rtsp_server()
    cap, t_open = open_capture(srv.url)
    try:
        assert cap.isOpened(), f"OpenCV could not open {srv.url}"
        TIMINGS["VideoCapture open"] = t_open
        assert t_open < OPEN_TIMEOUT_MS / 1000 + 2
        t = time.monotonic()
        frames = read_frames(cap, 150)  # 6 s of video: more than the 4 s clip, so it looped
        TIMINGS["read 150 frames (clip is 100 frames: looped)"] = time.monotonic() - t
        assert len(frames) == 150
        assert all(f.shape == (H, W, 3) for f in frames)
        assert float(frames[-1].std()) > 10  # a real picture, not a flat/grey frame
        # every frame is a picture of the clip, not a decoder's smear (the stream came in a form
        # FFmpeg split: frames between IDRs were smeared; the 99th percentile difference was ~110)
        ref = cv2.VideoCapture(str(DEFAULT_VIDEO))
        clip = [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (5, 5), 0).astype(np.int16)
                for f in read_frames(ref, 1000)]
        ref.release()
        for f in frames[:60:3]:
            g = cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (5, 5), 0).astype(np.int16)
            assert min(float(np.percentile(np.abs(g - c), 99)) for c in clip) < 30
    finally:
        cap.release()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("how", ["kill", "stop"])
def test_read_fails_soon_after_server_dies(rtsp_server, monkeypatch, how, transport):
    """SIGKILL (no TEARDOWN) or SIGTERM mid-stream: cap.read() must fail, and quickly.

    The RTSP control connection (TCP) closes with the process, so FFmpeg sees EOF at once for
    both RTP-over-TCP and RTP-over-UDP; only the frames held in the decoder still come out.
    """
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{transport}")
    srv = rtsp_server()
    cap, _ = open_capture(srv.url)
    try:
        assert cap.isOpened()
        assert len(read_frames(cap, 25)) == 25
        if transport == "udp" and os.path.isdir(f"/proc/{srv.pid}/fd"):
            addrs = socket_addresses(srv.pid)
            assert any(p == "udp" for p, _, _ in addrs), addrs  # RTP really went over UDP
            assert all(ip == "127.0.0.1" for _, ip, _ in addrs), addrs
        getattr(srv, how)()
        assert not srv.running
        n_after, t_fail = read_until_failure(cap, limit_s=3 * READ_TIMEOUT_MS / 1000 + 5)
        TIMINGS[f"read fails after server {how} ({transport})"] = t_fail
        assert n_after <= 25  # only what was already decoded / in socket buffers (UDP)
        assert t_fail < 3 * READ_TIMEOUT_MS / 1000 + 2
        t = time.monotonic()
        assert not cap.read()[0]  # and it stays failed, without blocking
        assert time.monotonic() - t < 1
    finally:
        cap.release()


def test_restart_same_url_new_capture_reads(rtsp_server):
    srv = rtsp_server()
    url, port = srv.url, srv.port
    old, _ = open_capture(url)
    try:
        assert len(read_frames(old, 25)) == 25
        srv.kill()
        read_until_failure(old, limit_s=20)
        t = time.monotonic()
        srv.start()  # same port and path; the old client's connection is still in FIN-WAIT
        TIMINGS["server restart on the same port"] = time.monotonic() - t
        assert (srv.url, srv.port) == (url, port)
        new, t_open = open_capture(url)
        try:
            assert new.isOpened()
            TIMINGS["VideoCapture re-open after restart"] = t_open
            frames = read_frames(new, 25)
            assert len(frames) == 25 and frames[0].shape == (H, W, 3)
        finally:
            new.release()
        assert not old.read()[0]  # the old capture does not come back by itself
        # restart() = stop() + start(), again on the same URL
        srv.restart()
        assert srv.url == url
        again, _ = open_capture(url)
        try:
            assert len(read_frames(again, 10)) == 10
        finally:
            again.release()
    finally:
        old.release()


def test_stalled_server_read_timeout_is_honoured(rtsp_server):
    """A frozen server (connection open, no data) makes each read block READ_TIMEOUT_MSEC.

    OpenCV 4.x: the first reads after the stall each wait the full timeout and still return
    the frames held in the decoder; the failing read comes after about 3 x READ_TIMEOUT_MSEC.
    """
    read_ms = 1000
    srv = rtsp_server()
    cap, _ = open_capture(srv.url, read_ms=read_ms)
    try:
        assert len(read_frames(cap, 25)) == 25
        srv.freeze()
        t = time.monotonic()
        longest = 0.0
        ok = True
        while ok and time.monotonic() - t < 20:
            t_read = time.monotonic()
            ok = cap.read()[0]
            longest = max(longest, time.monotonic() - t_read)
        t_fail = time.monotonic() - t
        assert not ok, "read never failed on a stalled stream"
        TIMINGS[f"longest single read on stalled server (READ_TIMEOUT={read_ms} ms)"] = longest
        assert read_ms / 1000 * 0.8 < longest < read_ms / 1000 + 1
        TIMINGS[f"read fails on stalled server (READ_TIMEOUT={read_ms} ms)"] = t_fail
        assert read_ms / 1000 * 0.8 < t_fail < 5 * read_ms / 1000 + 1
        srv.thaw()
    finally:
        cap.release()


def test_two_clients_at_once(rtsp_server):
    srv = rtsp_server()  # shared=True (one pipeline for all clients); shared=False works too
    a, _ = open_capture(srv.url)
    b, t_b = open_capture(srv.url)
    try:
        assert a.isOpened() and b.isOpened()
        TIMINGS["second client open (shared media)"] = t_b
        for _ in range(25):
            assert a.read()[0] and b.read()[0]
    finally:
        a.release()
        b.release()


def test_unreachable_url_fails_fast():
    """No server on the port: open fails (connection refused) well within 10 s."""
    url = f"rtsp://127.0.0.1:{free_port()}/live"
    cap, t_open = open_capture(url)
    try:
        assert not cap.isOpened()
        TIMINGS["open of unreachable URL fails"] = t_open
        assert t_open < 10
    finally:
        cap.release()


def test_stalled_server_open_times_out(rtsp_server):
    """A server that accepts TCP but never answers: open fails after CAP_PROP_OPEN_TIMEOUT_MSEC."""
    srv = rtsp_server()
    srv.freeze()
    try:
        cap, t_open = open_capture(srv.url, open_ms=2000)
        cap.release()
        assert not cap.isOpened()
        TIMINGS["open of stalled server fails (OPEN_TIMEOUT=2000 ms)"] = t_open
        assert 1.5 < t_open < 6
    finally:
        srv.thaw()


def test_start_failures_raise_clear_errors(tmp_path, rtsp_server):
    with pytest.raises(RtspServerError, match="not found"):
        RtspServer(file=tmp_path / "missing.mov").start()
    bad = tmp_path / "bad.mov"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(RtspServerError, match="exited with status"):
        RtspServer(file=bad).start()
    busy = rtsp_server()
    t = time.monotonic()
    with pytest.raises(RtspServerError, match="cannot listen on 127.0.0.1"):
        RtspServer(port=busy.port).start(timeout=1)
    assert time.monotonic() - t < 5
    assert busy.running


def test_stop_really_ends_the_process(rtsp_server):
    srv = rtsp_server()
    pid = srv.pid
    srv.freeze()  # even a SIGSTOPped server must go
    srv.stop(timeout=2)
    assert not srv.running and srv.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    srv.stop()  # idempotent


def test_context_manager():
    ok, why = rtsp_available()
    if not ok:
        pytest.skip(why)
    with RtspServer(loop=False) as srv:
        cap, _ = open_capture(srv.url)
        try:
            assert len(read_frames(cap, 20)) == 20
        finally:
            cap.release()
        proc = srv.proc
    assert proc.poll() is not None
