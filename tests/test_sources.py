import re
from pathlib import Path
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import moving_face_frames, write_video
from media_support import damaged_copy
from rtliveness.config import StreamConfig
from rtliveness.errors import ClosedError, ConfigError, SourceOpenError, StreamLostError
from rtliveness.runtime.sources import (STILL_FRAMES, ArraySource, FileSource, LiveSource, StillSource, is_still_image,
                                       open_source, parse_source)


def test_parse_source():
    assert parse_source("0") == ("camera", 0)
    assert parse_source(2) == ("camera", 2)
    assert parse_source("rtsp://127.0.0.1:8554/x") == ("stream", "rtsp://127.0.0.1:8554/x")
    assert parse_source("HTTP://h/x.mjpg")[0] == "stream"
    assert parse_source("https://h/x")[0] == "stream"
    assert parse_source("clip.mp4") == ("file", "clip.mp4")
    # what FFmpeg opens stays a stream: IPv6 hosts, brackets in a password, its listening forms without a host
    for url in ("rtsp://user:pw@[::1]:554/live", "http://admin:p[1]@cam/x", "udp://@:5004", "tcp://:5000?listen=1",
                "rtsp://u:p@ss@cam/x", "rtsp://cam?x=1"):
        assert parse_source(url) == ("stream", url)
    # a file URL is its local path ('video file not found: file:/tmp/x.mov' before: the path garbled)
    assert parse_source("file:///tmp/a%20b.mov") == ("file", "/tmp/a b.mov")
    assert parse_source("FILE://localhost/tmp/x.mp4") == ("file", "/tmp/x.mp4")
    for bad, message in [("file://cam.local/x.mp4", "file URL 'file://cam.local/x.mp4' names another machine (cam.local); "
                                                    "give a local path, or a stream URL (rtsp://, http://) for a remote camera"),
                         ("file://", "file URL 'file://' names no file; e.g. file:///home/me/clip.mp4"),
                         ("-1", "camera index must be >= 0, got -1"),
                         (-1, "camera index must be >= 0, got -1"),  # an int -1 (OpenCV's "any camera") crashed cv2
                         (True, "invalid source True: give a camera index (0, 1 …), a URL or a file path"),
                         (None, "invalid source None: give a camera index (0, 1 …), a URL or a file path"),
                         (" ", "empty source: give a camera index (0, 1 …), a URL or a file path"),
                         ("rtsp://", "malformed stream URL 'rtsp://': no host; e.g. rtsp://camera.local:554/stream"),
                         ("rtsp://[::1", "malformed stream URL 'rtsp://[::1': an IPv6 host needs its closing ]; e.g. rtsp://camera.local:554/stream"),
                         ("rtsp://cam:0/x", "malformed stream URL 'rtsp://cam:0/x': port '0' is not a number in 1..65535; e.g. rtsp://camera.local:554/stream")]:
        with pytest.raises(ConfigError) as err:
            parse_source(bad)
        assert str(err.value) == message
    with pytest.raises(ConfigError, match="^camera index must be >= 0, got -1$"):
        open_source(-1)  # the API refuses it before OpenCV sees it


def test_file_source_delivers_every_frame_in_order(tmp_path, grace):
    frames = moving_face_frames(grace, 40)
    path = write_video(tmp_path / "v.avi", frames, fps=30, fourcc="MJPG")
    with FileSource(path) as src:
        assert src.frame_count == 40 and src.fps == pytest.approx(30)
        got = list(src)
        with pytest.raises(ClosedError, match="^a FileSource can be iterated once; open the file again$"):
            list(src)
    assert [f.index for f in got] == list(range(40))
    assert got[10].timestamp == pytest.approx(10 / 30)
    # MJPG is lossy but close: frame i is the face shifted by i pixels, not another frame
    for i in (0, 17, 39):
        assert np.abs(got[i].image_bgr.astype(int) - frames[i].astype(int)).mean() < 4


def test_file_source_close_mid_iteration_ends_thread(tmp_path, grace):
    path = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 60))
    before = threading.active_count()
    src = FileSource(path, prefetch=2)
    it = iter(src)
    next(it)
    time.sleep(0.2)  # the reader is now blocked on a full queue
    src.close()
    assert not src._thread.is_alive()
    assert threading.active_count() == before


_ROOT = Path(__file__).resolve().parents[1]
_CLIP = _ROOT / "examples" / "live_webcam.mov"


@pytest.mark.parametrize("make", [
    "open_source(CLIP)",
    # a LiveSource on a file-like path (its own reader thread, same abort): closed at exit too
    "LiveSource(CLIP, opener=lambda spec, cfg: cv2.VideoCapture(spec))",
], ids=["file", "live"])
def test_a_source_read_partly_and_never_closed_exits_cleanly(make):
    """API review: ``s = open_source("clip.mov"); it = iter(s); next(it)`` and the script ends:
    the decoder thread was still inside FFmpeg when the interpreter finalised, and the process
    aborted (exit code 134, "terminate called without an active exception" / "FATAL: exception
    not rethrown"), about every time."""
    import subprocess
    import sys

    script = ("import cv2\n"
              "from rtliveness.runtime.sources import LiveSource, open_source\n"
              f"CLIP = {str(_CLIP)!r}\n"
              f"s = {make}; it = iter(s); next(it)\n")
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", script], cwd=_ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "terminate" not in done.stderr and "FATAL" not in done.stderr, done.stderr[-2000:]


def test_dropped_file_sources_stop_their_decoder_threads():
    """40 partly read file sources never closed kept 40 decoder threads (waiting on their full
    queues for ever), their file descriptors and ~166 MB: leaving the iteration stops the
    decoder, and a dropped source releases its capture."""
    import gc

    kept, decoders = [], []
    for _ in range(5):
        s = open_source(str(_CLIP))
        it = iter(s)
        next(it)
        kept.append((s, it))
        decoders.append(s._thread)  # this test's own threads: others' may end meanwhile
    assert all(t.is_alive() for t in decoders)
    del kept, s, it
    gc.collect()
    deadline = time.monotonic() + 10
    while any(t.is_alive() for t in decoders) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.is_alive() for t in decoders)


def test_leaving_the_iteration_of_a_kept_file_source_stops_its_decoder():
    with open_source(str(_CLIP)) as s:
        for _ in s:
            break  # the iterator is dropped here; the source is still open
        deadline = time.monotonic() + 3
        while s._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not s._thread.is_alive()
    s.close()  # idempotent


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated", "folder"])
def test_bad_files(tmp_path, kind, grace):
    p = tmp_path / "bad.mp4"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not a video\n" * 50)
    elif kind == "truncated":
        good = write_video(tmp_path / "good.mp4", moving_face_frames(grace, 30))
        p.write_bytes(good.read_bytes()[:2000])
    elif kind == "folder":
        p.mkdir()
    with pytest.raises(SourceOpenError) as ei:
        FileSource(p)
    assert str(p) in str(ei.value)


def test_array_source_converts_gray_and_bgra():
    src = ArraySource([np.zeros((8, 9), np.uint8), np.zeros((8, 9, 4), np.uint8)], fps=10)
    out = list(src)
    assert [f.image_bgr.shape for f in out] == [(8, 9, 3), (8, 9, 3)]
    assert out[1].timestamp == pytest.approx(0.1)


class _FakeCap:
    """A scripted cv2.VideoCapture stand-in: yields n frames, then fails (a lost stream)."""

    def __init__(self, n, value=0, delay=0.01):
        self.n, self.value, self.delay, self.released = n, value, delay, False

    def isOpened(self):
        return True

    def get(self, prop):
        return 25.0

    def read(self):
        time.sleep(self.delay)
        if self.n <= 0:
            return False, None
        self.n -= 1
        return True, np.full((4, 4, 3), self.value, np.uint8)

    def release(self):
        self.released = True


def test_live_source_reconnects_with_new_epoch_and_gives_up():
    opened = []
    events = []

    def opener(spec, cfg):
        k = len(opened)
        if k >= 2:
            return None  # the server never comes back a second time
        cap = _FakeCap(5, value=10 * (k + 1))
        opened.append(cap)
        return cap

    cfg = StreamConfig(backoff_initial_s=0.05, backoff_max_s=0.1, give_up_s=0.5)
    src = LiveSource("rtsp://fake", cfg, on_event=lambda e, d: events.append(e), opener=opener)
    got = []
    with pytest.raises(StreamLostError, match="did not come back"):
        for f in src:
            got.append((f.epoch, int(f.image_bgr[0, 0, 0])))
            time.sleep(0.001)
    src.close()
    assert not src.alive
    assert events[:3] == ["lost", "reconnected", "lost"] and events[-1] == "gave_up"
    assert {e for e, _ in got} == {0, 1}
    # frames of the second connection all carry epoch 1 and the second connection's pixels
    assert all(v == 20 for e, v in got if e == 1) and all(v == 10 for e, v in got if e == 0)
    assert all(c.released for c in opened)


def test_live_source_keeps_freshest_and_counts_drops():
    src = LiveSource("rtsp://fake", StreamConfig(reconnect=False), opener=lambda s, c: _FakeCap(60, delay=0.005))
    publish, after_begin = src._publish, []

    def counted(image, epoch):  # frames published once the loop asked for its first (the condition's lock is reentrant)
        with src._cond:
            after_begin.append(src._started)
            publish(image, epoch)

    src._publish = counted
    begin, waiting = src._begin, []

    def counted_begin():  # whether a frame from before the start waits (it is handed out first)
        with src._cond:
            waiting.append(src._latest is not None and not src._started)
            begin()

    src._begin = counted_begin
    got = []
    with pytest.raises(StreamLostError):
        for f in src:
            got.append(f)
            time.sleep(0.03)  # the consumer is slow: the reader overwrote frames
    src.close()
    assert 2 <= len(got) < 30 and src.dropped == sum(after_begin) + waiting[0] - len(got)


def test_a_live_source_counts_time_and_drops_from_the_first_frame_asked_for():
    """run opens the source before the model loads (a bad URL fails first): the frames the camera
    sent meanwhile are not drops of the loop, and its clock starts with the loop. Before, a 2.5 s
    model load gave a first frame at time 2.5 and more frames 'dropped' than processed."""
    src = LiveSource("rtsp://fake", StreamConfig(reconnect=False), opener=lambda s, c: _FakeCap(200, delay=0.005))
    time.sleep(0.4)  # the model loads; about 80 frames arrive
    it = iter(src)
    first = next(it)
    assert first.timestamp == 0.0 and src.dropped < 5  # (a frame or two may arrive while this runs)
    second = next(it)
    assert 0.0 < second.timestamp < 0.2
    src.close()


def test_live_source_close_ends_thread_while_reading():
    src = LiveSource("rtsp://fake", StreamConfig(), opener=lambda s, c: _FakeCap(10**9, delay=0.005))
    it = iter(src)
    next(it)
    t0 = time.monotonic()
    src.close()
    assert not src.alive and time.monotonic() - t0 < 2


def test_camera_that_does_not_open():
    with pytest.raises(SourceOpenError, match="camera 57 did not open"):
        open_source("57")


def test_reopens_without_frames_still_give_up():
    """A stream that reopens but never delivers a frame must not reconnect forever."""
    class _Dead(_FakeCap):
        def read(self):
            time.sleep(0.01)
            return False, None

    src = LiveSource("rtsp://fake", StreamConfig(backoff_initial_s=0.05, backoff_max_s=0.05, give_up_s=0.5),
                     opener=lambda s, c: _Dead(0))
    t0 = time.monotonic()
    with pytest.raises(StreamLostError, match="did not come back within 0.5 s"):
        for _ in src:
            pass
    assert time.monotonic() - t0 < 3
    src.close()
    assert not src.alive


def test_finite_http_video_is_read_like_a_file(tmp_path, grace):
    import functools
    import http.server
    import threading as th

    write_video(tmp_path / "clip.mp4", moving_face_frames(grace, 12))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = th.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        with open_source(f"http://127.0.0.1:{httpd.server_address[1]}/clip.mp4") as src:
            assert isinstance(src, FileSource)
            frames = list(src)
        assert [f.index for f in frames] == list(range(12))
        # review finding: a file whose container states no duration (MPEG-TS here; a browser's WebM
        # recording) has no frame count, so it was read as a live stream and replayed for ever
        ts = cv2.VideoWriter(str(tmp_path / "rec.ts"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
        for frame in moving_face_frames(grace, 12):
            ts.write(frame)
        ts.release()
        with open_source(f"http://127.0.0.1:{httpd.server_address[1]}/rec.ts") as src:
            assert isinstance(src, FileSource)
            frames = list(src)
        assert [f.index for f in frames] == list(range(12))
        # one picture at a URL (a camera's snapshot.jpg) is a still scene, as the same photo on
        # disk: it was a one-frame video, always pending
        assert cv2.imwrite(str(tmp_path / "snapshot.jpg"), grace)
        url = f"http://127.0.0.1:{httpd.server_address[1]}/snapshot.jpg"
        with open_source(url) as src:
            assert isinstance(src, StillSource) and src.name == url
            shots = list(src)
        assert len(shots) == STILL_FRAMES  # decoded as the file is (its decoder, its EXIF orientation)
        assert np.array_equal(shots[0].image_bgr, cv2.imread(str(tmp_path / "snapshot.jpg")))
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_live_mjpeg_camera_over_http_stays_a_live_stream(grace):
    """The other side of reading a URL whose frame count FFmpeg does not know as a file: an IP
    camera's MJPEG stream (multipart/x-mixed-replace, no length) is live, read as it comes."""
    import http.server
    import threading as th

    jpeg = cv2.imencode(".jpg", grace)[1].tobytes()

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                    time.sleep(0.02)
            except OSError:  # the client left
                pass

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    httpd.daemon_threads = True
    th.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with open_source(f"http://127.0.0.1:{httpd.server_address[1]}/video.mjpg", StreamConfig(reconnect=False)) as src:
            assert isinstance(src, LiveSource)
            first = next(iter(src))
        assert first.image_bgr.shape == grace.shape
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_mp4_on_a_server_without_byte_ranges_is_explained(tmp_path, grace):
    """Python's http.server answers no Range request: FFmpeg reads an mp4's header, cannot seek to
    its index at the end (cv2 writes it there) and decodes nothing. The error blamed a truncated or
    corrupt file; it now names the server's missing byte ranges and what to do."""
    import functools
    import http.server
    import threading as th

    rng = np.random.default_rng(0)  # noise: a file too large for FFmpeg to read past without seeking
    noisy = [np.clip(f.astype(np.int16) + rng.integers(-40, 40, f.shape), 0, 255).astype(np.uint8)
             for f in moving_face_frames(grace, 12)]
    write_video(tmp_path / "clip.mp4", noisy)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    th.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/clip.mp4"
    try:
        with pytest.raises(SourceOpenError) as err:
            open_source(url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert str(err.value) == (f"cannot decode any frame of video {url}: truncated or corrupt, or an mp4 whose index is "
                              "at its end on a server without byte ranges (HTTP Range); download it and give the file, "
                              "or serve it from a server that answers Range requests")


def test_an_opener_that_raises_is_reported_with_its_reason_then_retried():
    calls = []

    def opener(spec, cfg):
        calls.append(spec)
        if len(calls) == 1:
            return _FakeCap(3)
        if len(calls) == 2:
            raise OSError("no route to host\nsecond line")
        return _FakeCap(10**6, value=50)

    events = []
    cfg = StreamConfig(backoff_initial_s=0.05, backoff_max_s=0.05, give_up_s=5)
    src = LiveSource("rtsp://fake", cfg, on_event=lambda e, d: events.append((e, d)), opener=opener)
    for f in src:
        if f.epoch == 1:
            break
    src.close()
    assert [e for e, _ in events] == ["lost", "open_failed", "reconnected"]
    assert events[1][1] == "rtsp://fake: OSError: no route to host"  # the reason, on one line
    assert int(f.image_bgr[0, 0, 0]) == 50 and len(calls) == 3


# ------------------------------------------------------------------ still photos
def test_a_still_photo_is_a_static_scene_of_one_window(tmp_path, grace):
    import cv2

    jpg = tmp_path / "photo.dat"  # told by its bytes, not its name
    assert cv2.imwrite(str(tmp_path / "p.jpg"), grace)
    jpg.write_bytes((tmp_path / "p.jpg").read_bytes())
    png = tmp_path / "p.png"
    assert cv2.imwrite(str(png), grace)
    for path in (jpg, png):
        assert is_still_image(path)
        with open_source(str(path)) as src:
            assert isinstance(src, StillSource) and src.frame_count == STILL_FRAMES == 5 and src.fps == 25.0
            got = list(src)
        assert [f.index for f in got] == [0, 1, 2, 3, 4] and got[2].timestamp == pytest.approx(2 / 25)
        assert all(np.array_equal(f.image_bgr, got[0].image_bgr) for f in got)
        assert got[0].image_bgr.shape == grace.shape
    assert np.array_equal(got[0].image_bgr, grace)  # PNG: lossless
    with pytest.raises(ValueError):
        got[0].image_bgr[0, 0] = 0  # every frame is the same array: read-only
    # a video is not a still photo, whatever its first frame looks like
    video = write_video(tmp_path / "v.avi", moving_face_frames(grace, 6), fourcc="MJPG")
    assert not is_still_image(video)
    with open_source(str(video)) as src:
        assert isinstance(src, FileSource)
    assert not is_still_image(tmp_path / "missing.jpg")
    # more frames on request; a deadline already passed gives none
    assert len(list(StillSource(png, frames=12))) == 12
    assert list(StillSource(png).frames_until(time.monotonic() - 1)) == []
    with pytest.raises(ConfigError, match="frames >= 1"):
        StillSource(png, frames=0)


def test_a_photo_is_turned_by_its_exif_orientation(tmp_path, grace, monkeypatch):
    """A phone photo stored sideways with EXIF orientation 6 (turn 90° clockwise to view) is
    delivered upright — by OpenCV, and by the Pillow fallback where OpenCV cannot decode."""
    import cv2
    from PIL import Image

    import rtliveness.runtime.sources as sources

    wide = np.ascontiguousarray(grace[:, 64:448])  # 512 high, 384 wide: the turn shows in the shape
    stored = np.ascontiguousarray(np.rot90(wide, k=1))  # stored turned 90° anticlockwise: 384 x 512
    photo = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB)).save(photo, quality=95, exif=exif)

    def upright(image):
        return image.shape == wide.shape and float(np.abs(image.astype(float) - wide).mean()) < 4.0

    with open_source(str(photo)) as src:
        assert upright(next(iter(src)).image_bgr)
    monkeypatch.setattr(sources.cv2, "imread", lambda *a, **k: None)
    with open_source(str(photo)) as src:
        assert upright(next(iter(src)).image_bgr)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_corrupt_photo_is_one_clear_error(tmp_path, grace, kind):
    import cv2

    bad = tmp_path / "broken.jpg"
    if kind == "garbage":
        bad.write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 20)
    else:
        good = cv2.imencode(".jpg", grace)[1].tobytes()
        bad.write_bytes(good[:len(good) // 2])
    with pytest.raises(SourceOpenError) as ei:
        open_source(str(bad))
    assert str(ei.value) == (f"cannot decode image file {bad}: corrupt or an unsupported format; "
                             "save it as JPEG or PNG and retry")


@pytest.mark.parametrize("ext", [".bmp", ".webp", ".tiff"])
def test_other_photo_formats_are_photos(tmp_path, grace, ext):
    import cv2

    path = tmp_path / f"p{ext}"
    assert cv2.imwrite(str(path), grace)
    assert is_still_image(path)
    with open_source(str(path)) as src:
        assert isinstance(src, StillSource) and len(list(src)) == 5


@pytest.mark.parametrize("fmt", ["GIF", "PPM", "JPEG2000", "AVIF"])
def test_photo_formats_a_video_decoder_would_open_as_one_frame_are_photos(tmp_path, grace, fmt):
    """Told by their bytes (the name says nothing), decoded whole, the picture kept."""
    from PIL import Image

    from PIL import features

    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow reads no AVIF (11.2+ does): an AVIF goes to the video decoder, as before")
    path = tmp_path / "upload.bin"
    Image.fromarray(grace[:, :, ::-1]).save(path, format=fmt)
    assert is_still_image(path)
    with open_source(str(path)) as src:
        assert isinstance(src, StillSource) and src.size == (grace.shape[1], grace.shape[0])
        frames = list(src)
    assert len(frames) == 5
    if fmt == "PPM":  # lossless
        assert np.array_equal(frames[0].image_bgr, grace)
    else:  # a palette (GIF) or a lossy codec: the same picture, near enough
        assert np.abs(frames[0].image_bgr.astype(int) - grace.astype(int)).mean() < 12


def test_a_photo_opencv_cannot_decode_is_decoded_by_pillow(tmp_path, grace, monkeypatch):
    """opencv-python before 4.11 has no GIF decoder, and some builds no AVIF: Pillow decodes those."""
    from PIL import Image

    from rtliveness.runtime import sources

    path = tmp_path / "p.gif"
    Image.fromarray(grace[:, :, ::-1]).save(path)
    want = StillSource(path)._image
    monkeypatch.setattr(sources.cv2, "imread", lambda *a, **k: None)
    got = StillSource(path)._image
    assert np.array_equal(got, want) and got.flags.c_contiguous and not got.flags.writeable
    bad = tmp_path / "bad.gif"
    bad.write_bytes(path.read_bytes()[:40])
    with pytest.raises(SourceOpenError, match="cannot decode image file"):
        StillSource(bad)


def test_a_phone_photo_with_a_second_picture_is_a_photo_and_a_raw_mjpeg_stream_a_video(tmp_path, grace):
    """Ultra HDR and gain-map photos, and MPF multi-picture files, store a second JPEG right after
    the first; their header declares it (MPF here, written by Pillow). Before, any JPEG followed
    by another was a raw MJPEG stream: one frame, no verdict, no EXIF rotation."""
    from PIL import Image

    small = cv2.resize(grace, (128, 128))
    mpo = tmp_path / "PXL_0001.jpg"
    Image.fromarray(grace[:, :, ::-1]).save(mpo, format="MPO", save_all=True,
                                            append_images=[Image.fromarray(small[:, :, ::-1])])
    raw = mpo.read_bytes()
    assert raw.count(b"\xff\xd9\xff\xd8") == 1 and b"MPF\x00" in raw[:4096]
    assert is_still_image(mpo)
    at = raw.find(b"\xff\xe2")  # the MPF segment, with a fill byte before its marker (allowed)
    filled = tmp_path / "filled.jpg"
    filled.write_bytes(raw[:at] + b"\xff" + raw[at:])
    assert is_still_image(filled)
    with open_source(str(mpo)) as src:
        assert isinstance(src, StillSource) and [f.image_bgr.shape for f in src] == [grace.shape] * 5
    # two plain JPEGs of one size back to back (no such header): an MJPEG stream, as before
    mjpeg = tmp_path / "cam.mjpg"
    mjpeg.write_bytes(cv2.imencode(".jpg", grace)[1].tobytes() + cv2.imencode(".jpg", grace[::-1])[1].tobytes())
    assert not is_still_image(mjpeg)


def test_a_photo_with_a_smaller_picture_appended_is_a_photo(tmp_path, grace):
    """Review finding: a camera's photo with its preview appended after the image, with no header
    declaring it, was taken for a raw MJPEG stream, read by FFmpeg as one frame: no verdict. A
    stream's pictures all have one size; a preview or thumbnail is smaller."""
    photo = tmp_path / "DSC_0001.jpg"
    photo.write_bytes(cv2.imencode(".jpg", grace)[1].tobytes()
                      + cv2.imencode(".jpg", cv2.resize(grace, (160, 160)))[1].tobytes())
    assert is_still_image(photo)
    with open_source(str(photo)) as src:
        assert isinstance(src, StillSource) and src.size == (grace.shape[1], grace.shape[0])
    # a progressive JPEG's frame header (SOF2) is read as well, after a fill byte
    import io

    from rtliveness.runtime.sources.stills import _jpeg_size

    prog = cv2.imencode(".jpg", grace, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert _jpeg_size(io.BytesIO(b"junk" + prog[:2] + b"\xff" + prog[2:]), 4) == grace.shape[:2]
    assert _jpeg_size(io.BytesIO(prog[:20]), 0) is None  # cut before its frame header
    # a stream stays a stream: more pictures after a smaller one, a second picture cut off in its
    # header, a larger second picture
    small = cv2.imencode(".jpg", cv2.resize(grace, (160, 160)))[1].tobytes()
    big = cv2.imencode(".jpg", grace)[1].tobytes()
    for name, data in (("more", big + small + small), ("cut", big + small[:10]), ("larger", small + big)):
        (tmp_path / f"{name}.jpg").write_bytes(data)
        assert not is_still_image(tmp_path / f"{name}.jpg"), name


def test_a_raw_mjpeg_stream_named_like_a_photo_is_played_whole(tmp_path, grace):
    """Review finding: FFmpeg picks its reader by the suffix first, so a raw MJPEG dump saved as
    .jpg (told a video by its bytes) was read as its first picture alone: 1 frame, no verdict."""
    frames = moving_face_frames(grace, 9)
    for name in ("dump.jpg", "dump.JPEG", "dump.png", "dump"):
        stream = tmp_path / name
        stream.write_bytes(b"".join(cv2.imencode(".jpg", f)[1].tobytes() for f in frames))
        assert not is_still_image(stream)
        with open_source(str(stream)) as src:
            assert isinstance(src, FileSource) and src.name == str(stream)
            assert len(list(src)) == 9, name
    # no usable temp folder for the link (a read-only root file system): opened by its own name
    import tempfile

    missing = tmp_path / "no-such-temp"
    old, tempfile.tempdir = tempfile.tempdir, str(missing)
    try:
        with open_source(str(tmp_path / "dump")) as src:  # no suffix: FFmpeg probes the bytes
            assert len(list(src)) == 9
    finally:
        tempfile.tempdir = old


def test_an_animated_gif_or_avif_sequence_is_a_video_and_heic_is_a_photo_refused_in_one_line(tmp_path, grace):
    from PIL import Image

    from PIL import features

    frames = [Image.fromarray(f[:, :, ::-1]) for f in moving_face_frames(grace, 6)]
    for fmt, name in (("GIF", "anim.gif"),) + ((("AVIF", "anim.avif"),) if features.check("avif") else ()):
        path = tmp_path / name
        frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=40)
        assert not is_still_image(path), fmt
    with open_source(str(tmp_path / "anim.gif")) as src:
        assert isinstance(src, FileSource) and len(list(src)) == 6
    # one picture in a GIF is a photo
    frames[0].save(tmp_path / "one.gif", format="GIF")
    assert is_still_image(tmp_path / "one.gif")
    # an MP4 shares the ISO box layout with AVIF / HEIF: its brand tells them apart
    mp4 = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 6))
    assert mp4.read_bytes()[4:8] == b"ftyp" and not is_still_image(mp4)
    # a HEIC photo (an iPhone's default) is a photo this build cannot decode: one clear line
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    assert is_still_image(heic)
    with pytest.raises(SourceOpenError) as ei:
        open_source(str(heic))
    assert str(ei.value) == (f"cannot decode image file {heic}: corrupt or an unsupported format; "
                             "save it as JPEG or PNG and retry")


def test_several_pictures_in_one_file_are_a_video(tmp_path, grace):
    """A raw MJPEG stream (JPEGs back to back, as IP cameras send them) stays a video."""
    import cv2

    frames = moving_face_frames(grace, 6)
    stream = tmp_path / "camera.mjpeg"
    stream.write_bytes(b"".join(cv2.imencode(".jpg", f)[1].tobytes() for f in frames))
    assert not is_still_image(stream)
    one = tmp_path / "one.jpg"
    one.write_bytes(cv2.imencode(".jpg", frames[0])[1].tobytes())
    assert is_still_image(one)
    # an animated PNG announces its frames (acTL) before the image data
    png = cv2.imencode(".png", frames[0])[1].tobytes()
    ihdr_end = 8 + 25
    actl = b"\x00\x00\x00\x08acTL" + b"\x00\x00\x00\x02\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    (tmp_path / "anim.png").write_bytes(png[:ihdr_end] + actl + png[ihdr_end:])
    assert not is_still_image(tmp_path / "anim.png") and is_still_image_bytes(png, tmp_path)
    # two letters are not a BMP, nor a priority list a PPM
    (tmp_path / "notes.txt").write_text("BMW service notes\n" * 10)
    assert not is_still_image(tmp_path / "notes.txt")
    (tmp_path / "todo.txt").write_text("P1 is the top priority\n")
    assert not is_still_image(tmp_path / "todo.txt")
    (tmp_path / "commented.pgm").write_bytes(b"P5\n# made by a scanner\n2 2\n255\n" + bytes(4))
    assert is_still_image(tmp_path / "commented.pgm")


def is_still_image_bytes(data: bytes, tmp_path) -> bool:
    path = tmp_path / "bytes.bin"
    path.write_bytes(data)
    return is_still_image(path)


@pytest.mark.parametrize("kind", ["missing", "folder", "empty"])
def test_still_source_on_a_bad_path_says_what_is_wrong(tmp_path, kind):
    path = tmp_path / "p.jpg"
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    words = {"missing": "image file not found", "folder": "source is a folder, not an image file",
             "empty": "image file is empty (0 bytes)"}[kind]
    with pytest.raises(SourceOpenError, match=re.escape(words)):
        StillSource(path)


@pytest.mark.parametrize("name", ["clip.mp4", "p.jpg"])
def test_an_unreadable_file_is_named_as_such_not_as_a_corrupt_video(tmp_path, monkeypatch, name):
    """Permission denied is not 'cannot decode video file ... convert it to mp4'. (Faked: the
    suite may run as root, who reads anything.)"""
    import builtins

    import rtliveness.runtime.sources as sources

    path = tmp_path / name
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"x" * 100)
    real_open = builtins.open

    def fake_open(p, *a, **k):
        if Path(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)  # every reader of the file meets the refusal
    with pytest.raises(SourceOpenError) as e:
        sources.open_source(str(path))
    assert str(e.value) == f"cannot read {path}: permission denied; check the file's permissions"


def test_a_huge_photo_is_decoded_not_refused(tmp_path, monkeypatch):
    """Pillow's decompression-bomb limit must not refuse a large phone photo: OpenCV decodes it."""
    import cv2
    from PIL import Image

    path = tmp_path / "big.png"
    assert cv2.imwrite(str(path), np.full((300, 400, 3), 90, np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 120,000 px is over twice this: Pillow refuses
    with StillSource(path) as src:
        assert src.size == (400, 300)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # between 1x and 2x: Pillow warns; nothing printed
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that got out would fail here
        with StillSource(path) as src:
            assert src.size == (400, 300)


@pytest.mark.slow
def test_decide_on_a_photo_needs_one_window(tmp_path):
    """A photo is one window: decide() asks for 5 by default (undecided), windows=1 decides."""
    import cv2

    from rtliveness import LivenessPipeline, PipelineConfig
    from rtliveness.runtime.decision import decide

    cap = cv2.VideoCapture(str(Path(__file__).resolve().parents[1] / "examples" / "attack_printed.mp4"))
    for _ in range(20):
        ok, frame = cap.read()
    cap.release()
    photo = tmp_path / "printed.jpg"
    assert ok and cv2.imwrite(str(photo), frame)
    with LivenessPipeline.from_config(PipelineConfig(device="cpu")) as pipe:
        with open_source(str(photo)) as src:
            assert decide(pipe, src, timeout_s=30).label == "undecided"
        pipe.reset()
        with open_source(str(photo)) as src:
            assert decide(pipe, src, timeout_s=30, windows=1).label == "spoof"


def test_the_scan_for_a_second_picture_spans_read_chunks():
    import io

    from rtliveness.runtime.sources.stills import _contains

    data = b"\xff\xd8\xff" + b"x" * 20 + b"\xff\xd9\xff\xd8" + b"y" * 5
    for chunk in (1, 2, 3, 5, 1 << 20):  # the marker split across reads in every way
        fh = io.BytesIO(data)
        start = fh.read(4)
        assert _contains(fh, start, b"\xff\xd9\xff\xd8", chunk=chunk)
    fh = io.BytesIO(data.replace(b"\xff\xd9\xff\xd8", b"\xff\xd9zz"))
    assert not _contains(fh, fh.read(4), b"\xff\xd9\xff\xd8", chunk=2)


def test_a_snapshot_url_login_becomes_basic_auth_and_a_broken_second_fetch_keeps_ffmpegs_picture(monkeypatch, grace):
    """Cameras take http://user:pass@cam/snapshot.jpg; urllib took 'user:pass@cam' for the host
    (the password went to the resolver). A camera's broken HTTP answer (BadStatusLine,
    IncompleteRead) escaped as an unexpected error although FFmpeg had decoded the picture."""
    import base64
    import http.client
    import urllib.request

    from rtliveness.runtime import sources

    req = sources._plain_request("http://admin:s%40cret@cam.example:8080/snap.jpg?ch=1")
    assert req.full_url == "http://cam.example:8080/snap.jpg?ch=1"
    assert req.get_header("Authorization") == "Basic " + base64.b64encode(b"admin:s@cret").decode()
    assert sources._plain_request("http://u@[fe80::1]/s.jpg").full_url == "http://[fe80::1]/s.jpg"
    assert sources._plain_request("http://cam/s.jpg").get_header("Authorization") is None

    def broken(*a, **k):
        raise http.client.BadStatusLine("HELLO")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", broken)
    still = sources._still_at_url("http://cam/s.jpg", grace, 1.0)
    assert isinstance(still, StillSource) and still.name == "http://cam/s.jpg"
    assert np.array_equal(next(iter(still)).image_bgr, grace)


# ---------------------------------------------------------------- media time, damaged stretches
LIVE_CLIP = Path(__file__).resolve().parents[1] / "examples" / "live_webcam.mov"  # H.264, 100 frames at 25 fps


def test_media_time_follows_the_container_and_falls_back_one_frame_on():
    from rtliveness.runtime.sources.files import media_time

    assert media_time(0.0, None, 25.0) == 0.0
    assert media_time(480.0, None, 25.0) == pytest.approx(0.48)  # a first frame after a damaged start
    assert media_time(float("nan"), None, 25.0) == media_time(-40.0, None, 25.0) == 0.0
    assert media_time(40.0, 0.0, 25.0) == pytest.approx(0.04)
    assert media_time(1200.0, 0.04, 25.0) == pytest.approx(1.2)  # a long frame (variable rate)
    for bad in (float("nan"), 40.0, 20.0):  # none, or not after the previous one: one frame on
        assert media_time(bad, 0.04, 25.0) == pytest.approx(0.08)


def _two_rate_mp4(path: Path, frames: list[np.ndarray]) -> Path:
    """An mp4 whose first half lasts one tick per frame and second half three (a variable frame rate
    phone recording): cv2 writes a constant-rate file, then its sample-duration table ('stts', one
    entry) is rewritten as two entries, every box holding it grows by the 8 bytes added, and the
    edit list (which would end playback at the old duration) is made a free box."""
    import struct

    write_video(path, frames, fps=25.0)
    data = bytearray(path.read_bytes())

    def boxes(start, end, parents):
        while start < end:
            size, kind = struct.unpack(">I4s", data[start:start + 8])
            yield start, size, kind, parents
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
                yield from boxes(start + 8, start + size, parents + [start])
            start += size

    order = [k for _, _, k, p in boxes(0, len(data), []) if not p]
    assert order.index(b"mdat") < order.index(b"moov")  # chunk offsets stay valid when moov grows
    for at, size, kind, parents in boxes(0, len(data), []):
        if kind == b"edts":  # the edit list would cut playback at the old duration
            data[at + 4:at + 8] = b"free"
        if kind == b"mdhd":
            scale, duration = struct.unpack(">II", data[at + 20:at + 28])
            data[at + 24:at + 28] = struct.pack(">I", duration * 2)
        if kind == b"stts":
            entries, count, tick = struct.unpack(">III", data[at + 12:at + 24])
            assert (entries, count) == (1, len(frames))
            half = len(frames) // 2
            data[at:at + size] = struct.pack(">I4sIIIIII", size + 8, b"stts", 0, 2, half, tick, len(frames) - half, 3 * tick)
            for parent in parents:
                data[parent:parent + 4] = struct.pack(">I", struct.unpack(">I", data[parent:parent + 4])[0] + 8)
            break
    path.write_bytes(bytes(data))
    return path


def test_a_variable_frame_rate_file_gets_its_media_time(tmp_path, grace):
    """`time` is media time for files (README): it was index / average fps, up to 1.2 s off here."""
    video = _two_rate_mp4(tmp_path / "vfr.mp4", moving_face_frames(grace, 20))
    src = FileSource(video)
    try:
        times = [f.timestamp for f in src]
    finally:
        src.close()
    assert len(times) == 20
    assert times == pytest.approx([i * 0.04 for i in range(10)] + [0.4 + i * 0.12 for i in range(10)])


def test_a_damaged_stretch_mid_file_is_skipped_and_the_frames_after_it_kept(tmp_path):
    """20 KB of garbage at 40 % of a phone-style H.264 file: one read fails, the next frames decode.
    The source stopped at the first failed read (44 of 100 frames, 'stopped: end'); now it reads on
    and counts the stretch, and the frames after it keep their media time."""
    damaged = damaged_copy(LIVE_CLIP, tmp_path / "damaged.mov", 0.40)
    src = FileSource(damaged)
    try:
        frames = list(src)
    finally:
        src.close()
    assert len(frames) == 99 and src.gaps == 1 and [f.index for f in frames] == list(range(99))
    steps = np.round(np.diff([f.timestamp for f in frames]), 6)
    assert sorted(set(steps)) == [0.04, 0.08] and list(steps).count(0.08) == 1  # one frame lost, time says so
    from rtliveness.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["run", str(damaged), "--jsonl", str(tmp_path / "o.jsonl"), "--max-faces", "1",
                                 "--detector", "haar"])
    assert r.exit_code == 0, r.output
    assert (f"rtliveness: warning: {damaged} has damaged data: 1 stretch of it could not be decoded and was skipped"
            in r.output)
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 100  # 99 frames and the summary


def _faststart_copy(path: Path, out: Path) -> Path:
    """``path`` (an mp4/mov with its index, 'moov', after the frame data) rewritten with the index
    first, as ``-movflags +faststart`` and phones' streaming-ready files have it: the chunk offsets
    ('stco') move by the index's size."""
    import struct

    data = path.read_bytes()
    boxes, at = {}, 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        boxes[kind] = data[at:at + size]
        at += size
    moov = bytearray(boxes[b"moov"])

    def shift(start: int, end: int) -> None:
        at = start
        while at < end:
            size, kind = struct.unpack(">I4s", moov[at:at + 8])
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                shift(at + 8, at + size)
            elif kind == b"stco":
                (n,) = struct.unpack(">I", moov[at + 12:at + 16])
                for k in range(n):
                    o = at + 16 + 4 * k
                    moov[o:o + 4] = struct.pack(">I", struct.unpack(">I", moov[o:o + 4])[0] + len(moov))
            at += size

    shift(8, len(moov))
    out.write_bytes(boxes[b"ftyp"] + bytes(moov) + b"".join(v for k, v in boxes.items() if k not in (b"ftyp", b"moov")))
    return out


def test_a_cut_off_file_with_its_index_first_is_called_truncated_not_only_damaged(tmp_path):
    """Review finding: an mp4 with its index first ('faststart'), copied 60 % of the way, decodes 38
    of its 100 frames and fails one read on the way (a stretch counted as damage): only the damage
    warning came, saying the frames after it were scored, and the 62 missing frames went unsaid."""
    whole = _faststart_copy(LIVE_CLIP, tmp_path / "whole.mov")
    src = FileSource(whole)
    try:
        assert len(list(src)) == 100 and src.gaps == 0
    finally:
        src.close()
    cut = tmp_path / "cut.mov"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    from rtliveness.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["run", str(cut), "--max-faces", "1", "--detector", "haar"])
    assert r.exit_code == 0, r.output
    decoded = int(r.output.split(" frames in ")[0])
    assert 20 < decoded < 80, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"rtliveness: warning: {decoded} of the 100 frames {cut} declares could be decoded; the file may be truncated "
        "(was its recording finished?)")


def test_a_file_damaged_at_its_start_is_read_from_its_first_good_frame(tmp_path):
    """The same damage at the very start of the frame data was 'cannot decode any frame ... truncated
    or corrupt' while the frames after it decode: the first read gets the same second chances, and
    the first frame's time shows what was skipped."""
    src = FileSource(damaged_copy(LIVE_CLIP, tmp_path / "damaged_start.mov", 0.0, 3000))
    try:
        frames = list(src)
    finally:
        src.close()
    assert src.gaps == 1 and 50 < len(frames) < 100 and [f.index for f in frames] == list(range(len(frames)))
    assert frames[0].timestamp > 0.04 and np.all(np.diff([f.timestamp for f in frames]) > 0)


def test_a_live_source_timeout_must_be_finite():
    """StreamConfig(open_timeout_s=inf) was accepted, then open_source raised a bare OverflowError."""
    for name in ("open_timeout_s", "read_timeout_s"):
        for bad in (float("inf"), 1e12, 0.0):
            with pytest.raises(ConfigError, match=rf"^{name} must be > 0 and at most 86400 seconds, got "):
                StreamConfig(**{name: bad})
    assert StreamConfig(give_up_s=float("inf")).give_up_s == float("inf")  # never giving up stays allowed


def test_a_transparent_picture_is_seen_on_white_as_viewers_show_it(tmp_path, grace):
    """Review finding: decoding to BGR kept the colour under transparent pixels (black here), so
    a cut-out portrait was scored on black — spoof 0.73 — and on white, as it shows, live 0.06."""
    h, w = grace.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    alpha[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    alpha[0, 0] = 128  # half transparent
    rgba = np.dstack([grace * (alpha[:, :, None] > 0), alpha])
    assert cv2.imwrite(str(tmp_path / "cut.png"), rgba)
    with StillSource(tmp_path / "cut.png") as src:
        image = next(iter(src)).image_bgr
    assert (image[h - 1, w - 1] == 255).all() and (image[0, 1] == 255).all()  # transparent: white
    assert np.array_equal(image[h // 2, w // 2], grace[h // 2, w // 2])  # opaque: as it was
    assert np.allclose(image[0, 0].astype(int), (grace[0, 0].astype(int) * 128 + 255 * 127) / 255, atol=1)
    # 16 bits per channel: alpha on its own scale
    assert cv2.imwrite(str(tmp_path / "cut16.png"), rgba.astype(np.uint16) * 257)
    with StillSource(tmp_path / "cut16.png") as src:
        assert (next(iter(src)).image_bgr[h - 1, w - 1] == 255).all()
    # no alpha, or an opaque one: the picture exactly as decoded
    for name, data in (("plain.png", grace), ("opaque.png", np.dstack([grace, np.full((h, w), 255, np.uint8)]))):
        assert cv2.imwrite(str(tmp_path / name), data)
        with StillSource(tmp_path / name) as src:
            assert np.array_equal(next(iter(src)).image_bgr, grace)


def test_a_bgra_frame_given_to_the_api_is_seen_on_white_as_run_sees_its_png(tmp_path, grace):
    """Review finding: ``as_bgr`` dropped the alpha channel, so a cut-out portrait loaded with
    ``cv2.IMREAD_UNCHANGED`` and given to ``step`` was scored on black (p_spoof 0.42, at the
    threshold) while ``rtliveness run`` of the same PNG scored it on white (0.04)."""
    from rtliveness.types import as_bgr

    h, w = grace.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    alpha[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    alpha[0, :10] = 128
    bgra = np.dstack([grace * (alpha[:, :, None] > 0), alpha])
    assert cv2.imwrite(str(tmp_path / "cut.png"), bgra)
    with StillSource(tmp_path / "cut.png") as src:
        as_run_sees_it = next(iter(src)).image_bgr
    loaded = cv2.imread(str(tmp_path / "cut.png"), cv2.IMREAD_UNCHANGED)
    assert loaded.shape == (h, w, 4)
    assert np.array_equal(as_bgr(loaded), as_run_sees_it)
    assert (as_run_sees_it[h - 1, w - 1] == 255).all() and np.array_equal(as_run_sees_it[h // 2, w // 4: 3 * w // 4], grace[h // 2, w // 4: 3 * w // 4])
    # an alpha byte that is all 255 or all 0 (a capture API's padding) is no transparency
    for pad in (255, 0):
        assert np.array_equal(as_bgr(np.dstack([grace, np.full((h, w), pad, np.uint8)])), grace)


def test_transparency_follows_the_exif_turn_and_a_bmp_padding_byte_is_no_alpha(tmp_path):
    """Diff review: with OpenCV's alpha (which ignores EXIF orientation) a transparent PNG turned
    180 degrees had its opaque half painted white; a 32-bit BMP whose fourth byte is unused
    padding (0) came out all white."""
    from PIL import Image

    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[:, :30] = (200, 30, 20, 255)  # RGB red, opaque, on the left; transparent black on the right
    exif = Image.Exif()
    exif[0x0112] = 3  # orientation: turned 180 degrees
    Image.fromarray(rgba).save(tmp_path / "turned.png", exif=exif)
    with StillSource(tmp_path / "turned.png") as src:
        image = next(iter(src)).image_bgr
    assert (image[:, 30:] == (20, 30, 200)).all() and (image[:, :30] == 255).all()  # turned: red on the right
    # grey with alpha, and a palette picture with a transparent colour
    Image.fromarray(rgba).convert("LA").save(tmp_path / "grey.png")
    Image.fromarray(rgba).convert("RGB").convert("P").save(tmp_path / "pal.png", transparency=0)
    for name in ("grey.png", "pal.png"):
        with StillSource(tmp_path / name) as src:
            assert (next(iter(src)).image_bgr[:, 30:] == 255).all(), name
    # a 32-bit BMP, BI_BITFIELDS X8R8G8B8: its fourth byte is padding, 0
    w, h = 60, 40
    header = (b"BM" + (14 + 56 + w * h * 4).to_bytes(4, "little") + b"\0\0\0\0" + (14 + 56).to_bytes(4, "little")
              + (56).to_bytes(4, "little") + w.to_bytes(4, "little") + (-h).to_bytes(4, "little", signed=True)
              + (1).to_bytes(2, "little") + (32).to_bytes(2, "little") + (3).to_bytes(4, "little")
              + (w * h * 4).to_bytes(4, "little") + b"\0" * 16
              + bytes.fromhex("0000ff00" "00ff0000" "ff000000" "00000000"))  # R, G, B masks; no alpha mask
    (tmp_path / "x.bmp").write_bytes(header + bytes((20, 30, 200, 0)) * (w * h))
    with StillSource(tmp_path / "x.bmp") as src:
        assert (next(iter(src)).image_bgr == (20, 30, 200)).all()
