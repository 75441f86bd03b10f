"""Camera passwords never reach what rtliveness shows or writes (security review): errors, stream
events, the summary's ``source`` and ``error``, the fleet's log and files; and a camera's login is
never sent on to wherever its snapshot URL redirects."""

import base64
import functools
import http.server
import json
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import moving_face_frames, write_video
from rtliveness.errors import SourceOpenError, StreamLostError, one_line
from rtliveness.redact import redact, redact_url

LOGIN = "admin:s3cr3t"


def test_redact_masks_the_password_of_every_url_and_nothing_else():
    assert redact_url("rtsp://admin:secret@10.0.0.5:554/live?ch=1") == "rtsp://admin:***@10.0.0.5:554/live?ch=1"
    assert redact_url("http://u:p@s:s@cam:80/a?b=c@d") == "http://u:***@cam:80/a?b=c@d"  # '@' and ':' in it
    assert redact_url("http://admin:@cam/x") == "http://admin:***@cam/x"
    # the login ends where the authority does (the first / ? #): an '@' in the path is no login
    assert redact_url("rtsp://admin:pw@10.0.0.5:554/live@main") == "rtsp://admin:***@10.0.0.5:554/live@main"
    assert redact_url("http://proxy/view?u=rtsp://a:b@cam/x") == "http://proxy/view?u=rtsp://a:***@cam/x"
    for unchanged in ("rtsp://cam/live", "rtsp://admin@cam/live", "udp://@:5004", "clips/a.mp4", "camera 0",
                      "rtsp://admin:***@cam/live", "http://cam:8080/snap@2x.jpg", "file:///tmp/a:b@c"):
        assert redact_url(unchanged) == unchanged
    assert redact("cannot open stream 'rtsp://a:b@c:99999/x': port; and http://d:e@f/g: too") == \
        "cannot open stream 'rtsp://a:***@c:99999/x': port; and http://d:***@f/g: too"
    # quotes and angle brackets in a password (the diff review's finding): masked whole
    for password in ("it's", 'a"b', "a<b>"):
        assert redact(f"stream rtsp://admin:{password}@cam/x: refused") == "stream rtsp://admin:***@cam/x: refused"


def test_library_errors_and_status_lines_carry_no_password():
    e = SourceOpenError("cannot open stream rtsp://admin:secret@cam/x: refused")
    assert str(e) == "cannot open stream rtsp://admin:***@cam/x: refused"
    assert "secret" not in str(StreamLostError("stream http://admin:secret@cam/v.mjpg was lost"))
    assert one_line(RuntimeError("OpenCV: rtsp://admin:secret@cam/x\nfailed")) == "OpenCV: rtsp://admin:***@cam/x failed"


def test_malformed_and_unreachable_camera_urls_name_no_password():
    from rtliveness import open_source
    from rtliveness.errors import ConfigError

    with pytest.raises(ConfigError) as bad:
        open_source("rtsp://admin:secret@127.0.0.1:99999/x")
    with pytest.raises(SourceOpenError) as refused:
        open_source("rtsp://admin:secret@127.0.0.1:9/x")
    for e in (bad.value, refused.value):
        assert "secret" not in str(e) and "admin:***@127.0.0.1" in str(e)


class _Camera(http.server.SimpleHTTPRequestHandler):
    """A camera's web server: every path wants Basic ``LOGIN``; /redirect.jpg sends the client to
    another origin (``redirect_to``)."""

    redirect_to = ""
    seen: list = []

    def log_message(self, *a):
        pass

    def _authorised(self) -> bool:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") == "Basic " + base64.b64encode(LOGIN.encode()).decode():
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="cam"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self):
        if not self._authorised():
            return
        if self.path in ("/redirect.jpg", "/same.jpg"):
            self.send_response(302)
            self.send_header("Location", self.redirect_to if self.path == "/redirect.jpg" else "/snap.jpg")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def do_HEAD(self):
        if self._authorised():
            super().do_HEAD()


class _Elsewhere(http.server.SimpleHTTPRequestHandler):
    """Another origin: records the Authorization header of every request it gets."""

    seen: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Authorization")))
        super().do_GET()


def _serve(handler, folder):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_a_camera_login_is_not_sent_on_to_where_its_snapshot_redirects(tmp_path, grace):
    """Review finding: the second fetch of a snapshot URL sent the Basic login with the request,
    and urllib copied it to the redirect's target, another host (FFmpeg did not)."""
    from rtliveness.runtime import sources

    assert cv2.imwrite(str(tmp_path / "snap.jpg"), grace)
    other, cam = _serve(_Elsewhere, tmp_path), _serve(_Camera, tmp_path)
    _Elsewhere.seen, _Camera.seen = [], []
    _Camera.redirect_to = f"http://127.0.0.1:{other.server_address[1]}/snap.jpg"
    try:
        url = f"http://{LOGIN}@127.0.0.1:{cam.server_address[1]}/redirect.jpg"
        still = sources._still_at_url(url, grace, 5.0)
        assert still.name == f"http://admin:***@127.0.0.1:{cam.server_address[1]}/redirect.jpg"
        assert [auth is not None for _, auth in _Camera.seen] == [True]  # the camera got its login
        assert _Elsewhere.seen == [("/snap.jpg", None)]  # the other host got the request, not the login
        # a redirect within the camera (same scheme, host, port) keeps the login, as curl does:
        # without it the picture would be FFmpeg's decoding, without EXIF rotation
        _Camera.seen = []
        same = sources._still_at_url(url.replace("/redirect.jpg", "/same.jpg"), grace[::-1].copy(), 5.0)
        assert [(path, auth is not None) for path, auth in _Camera.seen] == [("/same.jpg", True), ("/snap.jpg", True)]
        assert np.array_equal(next(iter(same)).image_bgr, cv2.imread(str(tmp_path / "snap.jpg")))
    finally:
        for s in (cam, other):
            s.shutdown()
            s.server_close()


@pytest.mark.slow
def test_run_on_a_camera_url_with_a_login_writes_and_prints_no_password(tmp_path, grace, tiny_weights):
    write_video(tmp_path / "clip.mp4", moving_face_frames(grace, 8, size=(320, 240), face_side=120), fps=10)
    cam = _serve(_Camera, tmp_path)
    try:
        url = f"http://{LOGIN}@127.0.0.1:{cam.server_address[1]}/clip.mp4"
        jl = tmp_path / "out.jsonl"
        exe = Path(sys.executable).with_name("rtliveness")
        import subprocess

        r = subprocess.run([str(exe), "run", url, "--jsonl", str(jl), "--weights", str(tiny_weights), "--device", "cpu"],
                           capture_output=True, text=True, timeout=300)
    finally:
        cam.shutdown()
        cam.server_close()
    assert r.returncode == 0, r.stderr
    summary = json.loads(jl.read_text().splitlines()[-1])["summary"]
    assert summary["frames"] == 8  # the login worked: FFmpeg read the clip
    assert summary["source"] == f"http://admin:***@127.0.0.1:{cam.server_address[1]}/clip.mp4"
    assert "s3cr3t" not in jl.read_text() and "s3cr3t" not in r.stderr and "s3cr3t" not in r.stdout
    assert f"from http://admin:***@127.0.0.1:{cam.server_address[1]}/clip.mp4" in r.stderr


def test_the_fleet_logs_and_records_no_password(tmp_path):
    from rtliveness.fleet.config import FleetConfig
    from rtliveness.fleet.controller import Fleet

    said = []
    fleet = Fleet(FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "o", device="cpu"), log=said.append)
    (tmp_path / "o").mkdir()
    spec = "rtsp://admin:secret@:554/x"  # malformed (no host): fails alone, at once, without Ray
    fleet.add(spec)
    stream = fleet.streams[fleet.by_spec[spec]]
    assert stream.status == "failed"
    assert stream.ledger.source == "rtsp://admin:***@:554/x"
    assert "secret" not in (stream.ledger.epochs[-1].error or "x secret")
    assert said and not any("secret" in line for line in said)
    fleet.log("rtsp://op:hunter2@cam/z: added to the sources file; starting")
    assert said[-1] == "rtsp://op:***@cam/z: added to the sources file; starting"
