"""Long runs, shutdown, SIGINT, exceptions from host callbacks and sources, odd frames."""

import json
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline, moving_face_frames, read_frames, write_video
from rtliveness.runtime.app import process_source
from rtliveness.config import DetectorConfig, PipelineConfig
from rtliveness.errors import SourceOpenError
from rtliveness.runtime.pipeline import LivenessPipeline
from rtliveness.runtime.crop import crop_face, square_region
from rtliveness.runtime.sources import ArraySource, FileSource
from rtliveness.types import FaceBox


class ScheduleDetector:
    """Faces appear and disappear: every 40 frames a new face enters for 25 frames."""

    def __init__(self):
        self.i = 0

    def detect(self, image, region=None):
        i = self.i
        self.i += 1
        boxes = []
        for k in range(3):
            start = (i // 40) * 40 + k * 7
            if start <= i < start + 25:
                x = (i // 40 % 5) * 10 + k * 40
                boxes.append(FaceBox(x, 5, x + 30, 35, 0.99))
        return tuple(boxes)


@pytest.mark.slow
def test_ten_thousand_frames_stay_bounded(tmp_path):
    n = 10_400
    path = tmp_path / "long.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 48))
    frame = np.full((48, 160, 3), 120, np.uint8)
    for _ in range(n):
        vw.write(frame)
    vw.release()
    threads_before = threading.active_count()
    pipe = fake_pipeline(ScheduleDetector(), FakeScorer(), max_summaries=100)
    samples = []
    tracemalloc.start()
    with FileSource(path) as src:
        for k, r in enumerate(pipe.run(src)):
            assert len(r.faces) <= 3
            if k % 1000 == 999:
                samples.append((len(pipe.buffer), pipe.open_tracks, len(pipe._stats), tracemalloc.get_traced_memory()[0]))
    tracemalloc.stop()
    pipe.close()
    assert k == n - 1
    assert max(s[0] for s in samples) <= 3 and max(s[1] for s in samples) <= 3
    assert all(s[2] <= 100 for s in samples)  # summaries are capped
    mem = [s[3] for s in samples]
    assert mem[-1] - mem[1] < 2_000_000, mem  # flat after warm-up (bytes traced by Python)
    time.sleep(0.1)
    assert threading.active_count() == threads_before
    assert pipe.tracker._next_id > 500  # many faces came and went


def test_host_callback_exception_finalises_outputs_and_closes(tmp_path, grace):
    video = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 30))
    pipe = fake_pipeline(FakeDetector([(FaceBox(40, 60, 160, 180),)]), FakeScorer())
    out, jl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    calls = []

    def boom(result):
        calls.append(result.frame_index)
        if len(calls) == 10:
            raise RuntimeError("host failed")

    with pytest.raises(RuntimeError, match="host failed"):
        with FileSource(video) as src:
            process_source(pipe, src, out=out, jsonl=jl, on_result=boom)
    assert not src._thread.is_alive()
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert len(lines) == 11 and lines[-1]["summary"]["stopped"] == "error"
    assert "host failed" in lines[-1]["summary"]["error"]
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10


_DOUBLE_CTRL_C = """
import json, os, signal, sys
from pathlib import Path
from conftest import FakeDetector, FakeScorer, fake_pipeline
from rtliveness.runtime.app import process_source
from rtliveness.runtime.sources import FileSource
from rtliveness.types import FaceBox

video, out, jl, stop_in_loop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1"
pipe = fake_pipeline(FakeDetector([(FaceBox(40, 60, 160, 180),)]), FakeScorer())
summaries = pipe.track_summaries

def second_signal(*args, **kw):  # called once the loop has ended, while the report is built
    os.kill(os.getpid(), signal.SIGINT)
    return summaries(*args, **kw)

pipe.track_summaries = second_signal
seen = []

def first_signal(result):
    seen.append(result.frame_index)
    if stop_in_loop and len(seen) == 10:
        os.kill(os.getpid(), signal.SIGINT)

with FileSource(video) as src:
    try:
        report = process_source(pipe, src, out=out, jsonl=jl, on_result=first_signal)
        outcome = {"returned": report.stopped, "frames": report.frames}
    except KeyboardInterrupt:
        outcome = {"raised": "KeyboardInterrupt"}
outcome["handler_restored"] = signal.getsignal(signal.SIGINT) is signal.default_int_handler
print(json.dumps(outcome))
"""


@pytest.mark.parametrize("stop_in_loop", [True, False], ids=["ctrl-c-twice", "ctrl-c-after-the-end"])
def test_a_second_ctrl_c_while_the_outputs_are_finalised_waits_for_them(tmp_path, grace, stop_in_loop):
    """An impatient double Ctrl+C: the first stops the loop, the second lands while the report is
    built. Before, it raised there and no output was finalised (no summary line); now it waits
    until every output is whole, and the run reports 'interrupted' (the signal already obeyed).
    A stop signal that arrives while a run that ended normally is finalised is obeyed after.
    (In a process of its own, as a user's run is: signals sent to the test process itself land
    among the threads other tests' native libraries left behind.)"""
    video = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 30))
    out, jl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    r = subprocess.run([sys.executable, "-c", _DOUBLE_CTRL_C, str(video), str(out), str(jl), "1" if stop_in_loop else "0"],
                       capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent,
                       env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parent)})
    assert r.returncode == 0, r.stderr[-2000:]
    outcome = json.loads(r.stdout.strip().splitlines()[-1])
    n = 10 if stop_in_loop else 30
    assert outcome == ({"returned": "interrupted", "frames": 10} if stop_in_loop else {"raised": "KeyboardInterrupt"}) | {
        "handler_restored": True}
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert len(lines) == n + 1 and lines[-1]["summary"]["stopped"] == ("interrupted" if stop_in_loop else "end")
    assert len(read_frames(out)) == n


def test_source_exception_is_reported_not_hung(tmp_path):
    def frames():
        yield from ArraySource([np.zeros((40, 40, 3), np.uint8)] * 3)
        raise SourceOpenError("camera unplugged")

    class Src:
        fps = 25.0
        name = "flaky"

        def __iter__(self):
            return frames()

    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    jl = tmp_path / "o.jsonl"
    with pytest.raises(SourceOpenError, match="unplugged"):
        process_source(pipe, Src(), jsonl=jl)
    last = json.loads(jl.read_text().splitlines()[-1])["summary"]
    assert last["frames"] == 3 and last["stopped"] == "error"


@pytest.mark.parametrize("shape", [(16, 16), (2160, 3840), (640, 360)])
def test_tiny_huge_and_portrait_frames_real_mtcnn(tiny_weights, grace, shape):
    h, w = shape
    img = np.full((h, w, 3), 80, np.uint8)
    if min(h, w) >= 200:
        side = min(h, w) // 2
        img[10:10 + side, 10:10 + side] = cv2.resize(grace, (side, side))
    with LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, device="cpu")) as p:
        r = p.step(img)
    if min(h, w) >= 200:
        assert len(r.faces) == 1
        x1, y1, x2, y2 = r.faces[0].box.as_list()
        assert 10 <= x1 < x2 <= 10 + min(h, w) // 2 + 2
    else:
        assert r.faces == ()


def test_face_at_frame_edge_is_cropped_with_padding(tiny_weights, grace):
    img = np.full((240, 320, 3), 80, np.uint8)
    face = cv2.resize(grace, (200, 200))  # the face itself spans about x 66..140 of this image
    img[20:220, 200:] = face[:, :120]  # the frame's right edge cuts off about a quarter of the face
    with LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, device="cpu", backend="torch")) as p:
        crops = []
        embed = p.scorer.embed
        p.scorer.embed = lambda cs: crops.append([c.copy() for c in cs]) or embed(cs)
        results = [p.step(img) for _ in range(5)]
        scale, size = p.meta.crop_scale, p.meta.input_size
    # MTCNN finds the cut face on every frame; its box ends at the frame edge
    assert [len(r.faces) for r in results] == [1] * 5
    box = results[-1].faces[0].box
    assert 250 < box.x1 < box.x2 == 320 and 30 < box.y1 < box.y2 < 200
    assert results[-1].faces[0].p_spoof is not None  # a full window of edge crops was scored
    # the crop region leaves the frame on the right: the pipeline's crop is the padded serving crop
    x1, y1, x2, y2 = square_region(box, scale)
    assert x2 > 320 + 10 and x1 > 0 and y1 > 0 and y2 < 240
    assert crops[-1][0].shape == (size, size, 3)
    np.testing.assert_array_equal(crops[-1][0], crop_face(img, box, scale, size))
    # at the region's own size (no resampling): the inside is the frame, the outside replicates the
    # last column of the frame (edge-replicated padding, not black, not mirrored)
    side = x2 - x1
    full = crop_face(img, box, scale, side)
    inside = 320 - x1
    np.testing.assert_array_equal(full[:, :inside], img[y1:y2, x1:])
    np.testing.assert_array_equal(full[:, inside:], np.repeat(img[y1:y2, 319:320], side - inside, axis=1))
    assert full[:, inside:].std() > 5  # the replicated column is the face's texture, not a flat fill


def test_many_faces_are_capped(tiny_weights, grace):
    tile = cv2.resize(grace, (100, 100))
    img = np.vstack([np.hstack([tile] * 6)] * 4)  # 24 faces
    cfg = PipelineConfig(weights=tiny_weights, device="cpu", detector=DetectorConfig(max_faces=20))
    with LivenessPipeline.from_config(cfg) as p:
        r = p.step(img)
    assert len(r.faces) == 20
    cfg = PipelineConfig(weights=tiny_weights, device="cpu", detector=DetectorConfig(max_faces=30))
    with LivenessPipeline.from_config(cfg) as p:
        assert len(p.step(img).faces) == 24


def _limit_file_size(limit: int):
    """A subprocess's files may not grow past ``limit`` bytes: the kernel then fails its writes as
    a full disk does (RLIMIT_FSIZE, with SIGXFSZ ignored so the write errors instead of killing)."""
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


@pytest.mark.parametrize("ext", ["mp4", "avi"])  # an mp4 loses its index, an AVI its frame count
def test_a_full_disk_under_the_video_is_one_line_exit_7_and_the_summary_says_so(tmp_path, tiny_weights, ext):
    video = write_video(tmp_path / "in.avi", [np.random.default_rng(i).integers(0, 255, (240, 320, 3), np.uint8)
                                             for i in range(30)], fourcc="MJPG")
    out, jl = tmp_path / f"o.{ext}", tmp_path / "o.jsonl"
    exe = Path(sys.executable).with_name("rtliveness")
    r = subprocess.run([str(exe), "run", str(video), "--out", str(out), "--jsonl", str(jl), "--weights", str(tiny_weights),
                        "--backend", "torch", "--device", "cpu"], capture_output=True, text=True, timeout=120,
                       preexec_fn=_limit_file_size(60_000))
    message = f"the video {out} could not be finalised after 30 frames (the disk may be full); free disk space or choose another --out"
    assert r.returncode == 7 and r.stderr.strip().splitlines()[-1] == f"rtliveness: error: {message}", r.stderr
    summary = json.loads(jl.read_text().splitlines()[-1])["summary"]
    assert summary["stopped"] == "error" and summary["error"] == message and summary["frames"] == 30


def test_a_full_disk_under_the_json_lines_keeps_whole_lines_and_is_exit_7(tmp_path, tiny_weights):
    video = write_video(tmp_path / "in.avi", [np.full((120, 160, 3), 30 + i, np.uint8) for i in range(200)], fourcc="MJPG")
    jl = tmp_path / "o.jsonl"
    exe = Path(sys.executable).with_name("rtliveness")
    r = subprocess.run([str(exe), "run", str(video), "--jsonl", str(jl), "--weights", str(tiny_weights), "--backend", "torch",
                        "--device", "cpu"], capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(1000))
    raw = jl.read_text()
    lines = raw.splitlines()
    assert raw.endswith("\n") and len(raw) <= 1000 and [json.loads(x)["frame"] for x in lines] == list(range(len(lines)))
    assert 1000 - len(raw) < min(len(x) + 1 for x in lines)  # the lines that fit whole, and no part of the next
    assert r.returncode == 7 and r.stderr.strip().splitlines()[-1] == (
        f"rtliveness: error: cannot write JSON lines to {jl}: File too large after {len(lines)} lines (written whole); "
        "free disk space or choose another --jsonl"), r.stderr


def test_jsonl_dash_writes_the_lines_to_standard_output_and_a_truncated_file_is_warned(tmp_path, tiny_weights):
    frames = [np.full((120, 160, 3), 4 * i, np.uint8) for i in range(60)]
    video = write_video(tmp_path / "in.avi", frames, fps=25, fourcc="MJPG")
    exe = Path(sys.executable).with_name("rtliveness")
    r = subprocess.run([str(exe), "run", str(video), "--jsonl", "-", "--weights", str(tiny_weights), "--backend", "torch",
                        "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]  # stdout holds the JSON lines and nothing else
    assert [x["frame"] for x in lines[:-1]] == list(range(60)) and lines[-1]["summary"]["frames"] == 60
    assert not (Path.cwd() / "-").exists() and "warning" not in r.stderr
    cut = tmp_path / "cut.avi"  # a recording that stopped half-way: the header still declares 60 frames
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    r = subprocess.run([str(exe), "run", str(cut), "--weights", str(tiny_weights), "--backend", "torch", "--device", "cpu"],
                       capture_output=True, text=True, timeout=120)
    decoded = int(r.stderr.split(" frames in ")[0])
    assert r.returncode == 0 and 10 < decoded < 40, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"rtliveness: warning: {decoded} of the 60 frames {cut} declares could be decoded; the file may be truncated "
        "(was its recording finished?)")


def test_no_face_video(tmp_path, tiny_weights):
    video = write_video(tmp_path / "empty.mp4", [np.full((120, 160, 3), 30 + i, np.uint8) for i in range(10)])
    jl = tmp_path / "o.jsonl"
    exe = Path(sys.executable).with_name("rtliveness")
    r = subprocess.run([str(exe), "run", str(video), "--jsonl", str(jl), "--weights", str(tiny_weights)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no faces found" in r.stderr
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert len(lines) == 11 and all(x["faces"] == [] for x in lines[:-1]) and lines[-1]["summary"]["tracks"] == []


@pytest.mark.slow
@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_a_stop_signal_finalises_video_and_jsonl(tmp_path, grace, tiny_weights, signo):
    """Ctrl+C, a supervisor's SIGTERM (systemd, docker stop) and a closed terminal's SIGHUP all
    end the run cleanly: a playable video and a summary line, exit 130."""
    if signo is None:
        pytest.skip("no SIGHUP on this platform")
    video = write_video(tmp_path / "long.mp4", moving_face_frames(grace, 150, size=(320, 240)) * 3)
    out, jl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    exe = Path(sys.executable).with_name("rtliveness")
    proc = subprocess.Popen([str(exe), "run", str(video), "--out", str(out), "--jsonl", str(jl),
                             "--weights", str(tiny_weights), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if jl.exists() and len(jl.read_text().splitlines()) >= 20:
            break
        time.sleep(0.05)
    proc.send_signal(signo)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped: interrupted" in err
    raw = jl.read_text()
    assert raw.endswith("\n")
    lines = [json.loads(x) for x in raw.splitlines()]  # every line is complete JSON
    summary = lines[-1]["summary"]
    assert summary["stopped"] == "interrupted"
    n = summary["frames"]
    assert 20 <= n < 450 and len(lines) == n + 1
    assert len(read_frames(out)) == n  # the mp4 is finalised and playable with every processed frame


@pytest.mark.parametrize("kw, words", [
    ({"stream": {"give_up_s": 5}}, "stream must be a StreamConfig, e.g. StreamConfig(give_up_s=5), got dict"),
    ({"stream": "x"}, "stream must be a StreamConfig, e.g. StreamConfig(give_up_s=5), got str"),
    ({"on_event": "print"}, "on_event must be a function on_event(event, detail), got str")])
@pytest.mark.parametrize("spec", ["rtsp://127.0.0.1:9/live", "http://127.0.0.1:9/s.mjpg", "clip.mp4"])
def test_open_source_refuses_stream_settings_of_another_kind_before_opening(spec, kw, words):
    """API review: a dict as ``stream=`` gave a bare AttributeError for a URL (and was accepted
    silently for a file)."""
    from rtliveness.errors import ConfigError
    from rtliveness.runtime.sources import open_source

    with pytest.raises(ConfigError) as err:
        open_source(spec, **kw)
    assert str(err.value) == words
