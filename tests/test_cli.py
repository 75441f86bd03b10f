"""The CLI contract, through the real console script and typer's runner."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from conftest import moving_face_frames, read_frames, write_video
from rtliveness.cli import app

RUNNER = CliRunner()


def rtl(*args, timeout=300, **kw):
    exe = Path(sys.executable).with_name("rtliveness")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def test_version():
    r = rtl("--version")
    assert r.returncode == 0 and r.stdout.startswith("rtliveness ")


def test_run_real_video_end_to_end(tmp_path, grace, tiny_weights):
    frames = moving_face_frames(grace, 20, size=(320, 240), face_side=120)
    video = write_video(tmp_path / "in.mp4", frames, fps=20)
    out, jl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    r = rtl("run", video, "--out", out, "--jsonl", jl, "--weights", tiny_weights, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "track 1:" in r.stderr
    assert len(read_frames(out)) == 20
    cap = cv2.VideoCapture(str(out))
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (320, 240)
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert len(lines) == 21
    assert [x["frame"] for x in lines[:-1]] == list(range(20))
    assert lines[3]["time"] == pytest.approx(3 / 20)
    for i, line in enumerate(lines[:-1]):
        assert len(line["faces"]) == 1
        face = line["faces"][0]
        assert set(face) == {"track", "box", "p_spoof", "label"}
        assert face["track"] == 1
        x1, y1, x2, y2 = face["box"]
        # the face was pasted at x=40+i, y=60, 120 px wide: its box lies inside that square
        assert 40 + i - 5 <= x1 < x2 <= 40 + i + 125 and 55 <= y1 < y2 <= 185
        if i < 4:
            assert face["label"] == "pending" and face["p_spoof"] is None
        else:
            assert face["label"] in ("live", "spoof") and 0 <= face["p_spoof"] <= 1
    s = lines[-1]["summary"]
    assert s["frames"] == 20 and s["stopped"] == "end" and s["fps"] > 0 and s["seconds"] > 0
    assert len(s["tracks"]) == 1 and s["tracks"][0]["windows"] == 16 and s["tracks"][0]["label"] in ("live", "spoof")


def test_relative_names_with_a_colon_are_files_not_protocols(tmp_path, grace, tiny_weights):
    """A recorder's time-stamped file, relative to the working folder: FFmpeg read the part before
    the colon as a protocol ('2024-01-01T12'), the input 'not a video OpenCV can read' (exit 3)
    and an --out 'cannot write video' (exit 2), as `./name` too."""
    write_video(tmp_path / "2024-01-01T12:30:00.mp4", moving_face_frames(grace, 8, size=(320, 240), face_side=120), fps=10)
    r = rtl("run", "./2024-01-01T12:30:00.mp4", "--out", "cam1:front.mp4", "--jsonl", "cam1:front.jsonl",
            "--weights", tiny_weights, "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(read_frames(tmp_path / "cam1:front.mp4")) == 8
    lines = [json.loads(x) for x in (tmp_path / "cam1:front.jsonl").read_text().splitlines()]
    assert len(lines) == 9 and lines[-1]["summary"]["frames"] == 8 and lines[-1]["summary"]["stopped"] == "end"


@pytest.mark.slow
@pytest.mark.parametrize("clip,label,fmt", [("live_webcam.mov", "live", "jpg"), ("attack_printed.mp4", "spoof", "jpg"),
                                            ("live_webcam.mov", "live", "gif"), ("attack_printed.mp4", "spoof", "avif")])
def test_run_a_photo_gives_a_verdict(tmp_path, clip, label, fmt):
    """A still photo is a static scene of one window: one verdict from the bundled weights, not a
    face left pending after one frame — a GIF or an AVIF too, which a video decoder would open
    as one frame. The photos are frames of the bundled examples."""
    cap = cv2.VideoCapture(str(Path(__file__).resolve().parents[1] / "examples" / clip))
    for _ in range(20):
        ok, frame = cap.read()
    cap.release()
    if fmt == "avif":
        from PIL import features

        if not features.check("avif"):
            pytest.skip("this Pillow writes no AVIF (11.2+ does)")
    photo = tmp_path / f"photo.{fmt}"
    assert ok
    if fmt == "jpg":
        assert cv2.imwrite(str(photo), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
    else:
        from PIL import Image

        Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).save(photo)
    out, jl = tmp_path / "photo.mp4", tmp_path / "photo.jsonl"
    r = rtl("run", photo, "--out", out, "--jsonl", jl, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert [x["frame"] for x in lines[:-1]] == [0, 1, 2, 3, 4]
    assert [f["label"] for f in lines[3]["faces"]] == ["pending"]
    assert [f["label"] for f in lines[4]["faces"]] == [label]
    s = lines[-1]["summary"]
    assert s["frames"] == 5 and s["stopped"] == "end"
    assert len(s["tracks"]) == 1 and s["tracks"][0]["windows"] == 1 and s["tracks"][0]["label"] == label
    assert len(read_frames(out)) == 5
    assert f"track 1: {label}" in r.stderr


@pytest.mark.slow
def test_a_phone_video_with_rotation_metadata_is_read_upright(tmp_path):
    """Phones store frames sideways and a rotation in the container: `run` applies it (the face is
    found and live, the output video upright); read sideways, no face would be found at all."""
    video = Path(__file__).resolve().parent / "data" / "portrait_phone.mp4"
    raw = cv2.VideoCapture(str(video))
    raw.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    ok, sideways = raw.read()
    raw.release()
    assert ok and sideways.shape == (320, 240, 3)
    out, jl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    r = rtl("run", video, "--out", out, "--jsonl", jl, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    s = json.loads(jl.read_text().splitlines()[-1])["summary"]
    assert s["frames"] == 50 and len(s["tracks"]) == 1 and s["tracks"][0]["label"] == "live"
    assert s["tracks"][0]["windows"] >= 40
    assert {f.shape for f in read_frames(out)} == {(240, 320, 3)}


def test_a_truncated_photo_is_one_line_exit_3(tmp_path, grace):
    """Nothing but the one error line: OpenCV's JPEG decoder would print its own complaint."""
    good = cv2.imencode(".jpg", grace)[1].tobytes()
    photo = tmp_path / "cut.jpg"
    photo.write_bytes(good[:len(good) // 2])
    r = rtl("run", photo, "--device", "cpu")
    assert r.returncode == 3
    assert r.stderr.splitlines() == [f"rtliveness: error: cannot decode image file {photo}: corrupt or an unsupported "
                                     "format; save it as JPEG or PNG and retry"]


def test_max_frames_and_haar(tmp_path, grace, tiny_weights):
    video = write_video(tmp_path / "in.mp4", moving_face_frames(grace, 12))
    jl = tmp_path / "o.jsonl"
    r = RUNNER.invoke(app, ["run", str(video), "--jsonl", str(jl), "--weights", str(tiny_weights),
                            "--device", "cpu", "--detector", "haar", "--max-frames", "7", "--no-show"])
    assert r.exit_code == 0, r.output
    lines = jl.read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["summary"]["stopped"] == "max_frames"
    assert all(len(json.loads(x)["faces"]) == 1 for x in lines[:-1])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case,args,needle,code", [
    ("missing", ["run", "{tmp}/nope.mp4"], "video file not found", 3),
    ("text", ["run", "{tmp}/text.mp4"], "cannot decode video file", 3),
    # FFmpeg opens .txt/.nfo/.asc... as "ANSI art" frames: run used to score 5 frames of letters, exit 0
    ("text_art", ["run", "{tmp}/notes.txt"], "not a video: {tmp}/notes.txt is a text file (FFmpeg would draw its characters as frames); give a video or photo file", 3),
    ("weights", ["run", "{video}", "--weights", "{tmp}/none.pt"], "weights file not found", 5),
    ("corrupt_w", ["run", "{video}", "--weights", "{tmp}/text.mp4"], "cannot read weights file", 5),
    ("threshold", ["run", "{video}", "--threshold", "1.5"], "--threshold (threshold) must be in (0, 1), got 1.5; leave it out for the weights' calibrated threshold, or choose --security LEVEL", 2),
    ("eval_threshold", ["eval", "{tmp}", "--threshold", "0"], "--threshold (threshold) must be in (0, 1), got 0.0", 2),
    ("fleet_threshold", ["fleet", "{video}", "--out-dir", "{tmp}/o", "--threshold", "1"], "--threshold (threshold) must be in (0, 1), got 1.0", 2),
    ("threads", ["run", "{video}", "--threads", "-1"], "--threads (cpu_threads) must be an integer >= 0", 2),
    ("low_light", ["run", "{video}", "--low-light-target", "1.5"], "--low-light-target (low_light_target) must be in [0, 1)", 2),
    ("serve_low_light", ["serve", "--low-light-target", "2"], "--low-light-target (low_light_target) must be in [0, 1)", 2),
    ("restart", ["run", "{video}", "--restart-distance", "near"], "--restart-distance must be a number or 'off', got 'near'", 2),
    ("serve_restart", ["serve", "--restart-distance", "0"], "--restart-distance (restart_distance) must be a cosine distance in (0, 2] ('off' / None: never), got 0.0", 2),
    ("fleet_restart", ["fleet", "{video}", "--out-dir", "{tmp}/o", "--restart-distance", "3"], "--restart-distance (restart_distance) must be a cosine distance in (0, 2] ('off' / None: never), got 3.0", 2),
    ("fleet_low_light", ["fleet", "{video}", "--out-dir", "{tmp}/o", "--low-light-target", "-1"], "--low-light-target (low_light_target) must be in [0, 1)", 2),
    ("device", ["run", "{video}", "--device", "gpu"], "invalid device 'gpu'", 2),
    ("detector", ["run", "{video}", "--detector", "yolo"], "invalid detector 'yolo'", 2),
    ("max_frames", ["run", "{video}", "--max-frames", "0"], "--max-frames must be an integer >= 1 (leave it out for every frame), got 0", 2),
    ("url_no_host", ["run", "rtsp://"], "malformed stream URL 'rtsp://': no host; e.g. rtsp://camera.local:554/stream", 2),
    ("url_port", ["run", "rtsp://127.0.0.1:99999/x"], "malformed stream URL 'rtsp://127.0.0.1:99999/x': port '99999' is not a number in 1..65535", 2),
    ("url_one_slash", ["run", "rtsp:/127.0.0.1/x"], "a stream URL needs two slashes, e.g. rtsp://host:port/path", 3),
    ("full_detect", ["run", "{video}", "--full-detect-every", "0"], "--full-detect-every (full_every) must be an integer >= 1 (1 = always the whole frame), got 0", 2),
    ("detect_every", ["run", "{video}", "--detect-every", "0"], "--detect-every (every_n) must be an integer >= 1, got 0", 2),
    ("give_up", ["run", "{video}", "--give-up", "-1"], "--give-up (give_up_s) must be >= 0 seconds (inf: never give up), got -1.0", 2),
    ("out_ext", ["run", "{video}", "--out", "{tmp}/o.gif"], "unsupported output video extension", 2),
    ("out_dir", ["run", "{video}", "--jsonl", "{tmp}/no/dir/o.jsonl"], "folder does not exist", 2),
    ("out_is_source", ["run", "{video}", "--out", "{video}"], "--out is the source file itself", 2),
    ("jsonl_is_source", ["run", "{video}", "--jsonl", "{video}"], "--jsonl is the source file itself", 2),
    ("same_outputs", ["run", "{video}", "--out", "{tmp}/o.mp4", "--jsonl", "{tmp}/o.mp4"], "--out and --jsonl are the same file", 2),
    ("jsonl_folder", ["run", "{video}", "--jsonl", "{tmp}"], "--jsonl is a folder", 2),
    ("out_under_file", ["run", "{video}", "--out", "{tmp}/text.mp4/o.mp4"], "--out cannot go under {tmp}/text.mp4: it is a file, not a folder", 2),
    ("camera", ["run", "42", "--no-show"], "camera 42 did not open", 3),
])
def test_bad_input_one_line(tmp_path, face_video, case, args, needle, code):
    (tmp_path / "text.mp4").write_text("not a video\n" * 20)
    (tmp_path / "notes.txt").write_text("hello world\n" * 100)
    argv = [a.format(tmp=tmp_path, video=face_video) for a in args]
    before = Path(face_video).read_bytes()
    r = RUNNER.invoke(app, argv)
    assert r.exit_code == code, (r.exit_code, r.output)
    assert Path(face_video).read_bytes() == before  # the source is never written to
    lines = [x for x in r.output.splitlines() if x.startswith("rtliveness: error:")]
    assert len(lines) == 1 and needle.format(tmp=tmp_path) in lines[0], r.output
    assert "Traceback" not in r.output


def test_run_refuses_a_read_only_output_folder_before_opening_the_source(tmp_path, face_video, monkeypatch):
    """run's --out / --jsonl go through rtliveness.outputs like every other command's outputs: a
    folder it cannot write is one line and exit 2 before the source or the model is opened
    (checked with os.access, faked here: the suite may run as root, who writes anywhere)."""
    import rtliveness.outputs as outputs

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    r = RUNNER.invoke(app, ["run", str(tmp_path / "missing.mp4"), "--jsonl", str(ro / "o.jsonl")])
    assert r.exit_code == 2, r.output  # not 3: the missing source is never reached
    lines = [x for x in r.output.splitlines() if x.startswith("rtliveness: error:")]
    assert lines == [f"rtliveness: error: --jsonl cannot be written: {ro} is read-only or not yours; give another path"]
    assert not (ro / "o.jsonl").exists()


def test_unreachable_url_fails_fast_without_traceback(tiny_weights):
    port = _free_port()
    t0 = time.monotonic()
    r = rtl("run", f"rtsp://127.0.0.1:{port}/live", "--weights", tiny_weights, "--no-show", timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 3
    assert "cannot open stream rtsp://127.0.0.1" in r.stderr and "Traceback" not in r.stderr
    assert took < 20  # includes interpreter + torch start-up; the open itself is bounded at 10 s


def test_debug_shows_traceback(tmp_path):
    r = rtl("--debug", "run", tmp_path / "nope.mp4")
    assert r.returncode != 0 and "Traceback" in r.stderr and "SourceOpenError" in r.stderr


def test_show_without_display_is_one_line(tmp_path, face_video, tiny_weights, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = RUNNER.invoke(app, ["run", str(face_video), "--show", "--weights", str(tiny_weights), "--device", "cpu"])
    assert r.exit_code == 2 and "no display" in r.output and "--no-show" in r.output


# ------------------------------------------------------------------ one-line errors, lazy imports
def error_line(r, code, needle):
    """The command failed with ``code`` and exactly one non-empty stderr line naming the problem."""
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == code, (r.returncode, r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("rtliveness: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["run"], "Missing argument"),
    (["run", "x.mp4", "--threshold", "abc"], "Invalid value for '--threshold'"),
    (["run", "x.mp4", "--max-frames", "1.5"], "Invalid value for '--max-frames'"),
    (["run", "x.mp4", "--bogus"], "No such option"),
    (["export"], "Missing option '--out'"),
    (["train", "data"], "Missing option '--out'"),
    (["frobnicate"], "No such command"),
], ids=["missing-arg", "non-numeric", "non-integer", "unknown-option", "missing-option", "missing-out", "unknown-command"])
def test_usage_errors_are_one_line_exit_2(args, needle):
    line = error_line(rtl(*args, timeout=60), 2, needle)
    assert "--help" in line  # and it says where to look


@pytest.mark.parametrize("args,code,needle", [
    (["run", "{tmp}/nope.mp4"], 3, "video file not found"),
    (["eval", "{tmp}/nope"], 6, "dataset folder not found"),
    (["train", "{tmp}/nope", "--out", "{tmp}/run"], 6, "dataset folder not found"),
    (["calibrate", "{tmp}/nope", "--weights", "{tmp}/w.pt", "--out", "{tmp}/c.pt"], 6, "dataset folder not found"),
    (["prepare", "{tmp}/nope.mp4", "--label", "real", "--out", "{tmp}/d"], 2, "video not found"),
    (["prepare", "{tmp}", "--label", "real", "--out", "{tmp}/d"], 2, "--label is for video files"),
    (["prepare", "{tmp}", "--out", "{tmp}/d", "--stride", "0"], 2, "--stride and --step must be >= 1 frame, got 0 and 5"),
    (["synth", "--out", "{tmp}/s", "--samples-per-class", "0"], 2, "--samples-per-class must be >= 1"),
    (["export", "--out", "{tmp}/e", "--format", "tflite"], 2, "unsupported --format 'tflite'"),
    (["export", "--out", "{tmp}/e", "--opset", "5"], 2, "ONNX opset must be in 7..20"),
    (["eval", "/etc/hostname"], 6, "dataset path is a file, not a folder: /etc/hostname"),
    (["eval", "{tmp}", "--json", "{tmp}"], 2, "--json is a folder: {tmp}; give a file path"),
    (["eval", "{tmp}", "--json", "/etc/hostname/r.json"], 2, "--json cannot go under /etc/hostname: it is a file"),
    (["eval", "{tmp}", "--plots", "/etc/hostname"], 2, "--plots is a file: /etc/hostname; give a folder path"),
    (["calibrate", "{tmp}", "--weights", "{tmp}/w.pt", "--out", "{tmp}/c.pt", "--all-samples", "--split-file", "{tmp}/s.json"],
     2, "--all-samples calibrates on every sample of DATA and --split-file on one split of it: give one"),
    (["calibrate", "{tmp}", "--weights", "{tmp}/w.pt", "--out", "{tmp}", "--all-samples"], 2, "--out is a folder"),
    (["bench", "--json", "{tmp}"], 2, "--json is a folder"),
    (["bench", "--json", "{tmp}/no/b.json"], 2, "--json folder does not exist: {tmp}/no; create it first"),
    (["bench", "--work-dir", "/etc/hostname"], 2, "--work-dir is a file: /etc/hostname; give a folder path"),
    (["bench", "--video", "{tmp}"], 2, "--video is a folder"),
    (["bench", "--weights", "{tmp}/nope.pt"], 5, "weights file not found: {tmp}/nope.pt; check --weights"),
    (["pretrain", "{tmp}", "--dlib", "{tmp}/d.dnn", "--out", "{tmp}/e.pt", "--lr", "nan"], 2, "--lr > 0"),
    (["pretrain", "{tmp}", "--dlib", "{tmp}/d.dnn", "--out", "{tmp}/e.pt", "--lr", "inf"], 2, "--lr > 0"),
    (["pretrain", "{tmp}", "--dlib", "{tmp}/d.dnn", "--out", "{tmp}"], 2, "--out is a folder"),
    (["synth", "--out", "{tmp}/s", "--width", "0"], 2, "--width and --height must be at least 64, got 0x480"),
    (["synth", "--out", "{tmp}/s", "--workers", "0"], 2, "--workers must be >= 1, got 0"),
    (["synth", "--out", "/etc/hostname"], 2, "--out is a file: /etc/hostname; give a folder path"),
    (["synth", "--out", "{tmp}/s", "--classes", ","], 2, "--classes needs at least one of real, replay, printed, 2dmask, got ','"),
], ids=["run", "eval", "train", "calibrate", "prepare-file", "prepare-label-dir", "prepare-stride", "synth", "export", "export-opset",
        "eval-data-file", "eval-json-folder", "eval-json-under-file", "eval-plots-file", "calibrate-two-sources",
        "calibrate-out-folder", "bench-json-folder", "bench-json-no-folder", "bench-work-dir-file", "bench-video-folder",
        "bench-weights", "pretrain-lr-nan", "pretrain-lr-inf", "pretrain-out-folder", "synth-width", "synth-workers",
        "synth-out-file", "synth-classes"])
def test_missing_inputs_are_one_line_and_fast(tmp_path, args, code, needle):
    """Errors found before any model loads answer at once (no torch import) in one line."""
    argv = [a.format(tmp=tmp_path) for a in args]
    t0 = time.monotonic()
    r = rtl(*argv, timeout=60)
    took = time.monotonic() - t0
    error_line(r, code, needle.format(tmp=tmp_path))
    assert took < 5, took  # ~0.5-1.5 s; importing torch alone takes several seconds here


@pytest.mark.slow
def test_weights_that_are_not_a_checkpoint_are_one_line(face_video):
    r = rtl("run", face_video, "--weights", "/etc/hostname", "--backend", "torch", "--device", "cpu", timeout=120)
    line = error_line(r, 5, "cannot read weights file /etc/hostname")
    assert "weights_only" not in line and "PyTorch 2.6" not in line, line


@pytest.mark.slow
def test_onnx_backend_on_cuda_without_cuda_is_one_line(face_video, tiny_weights):
    import torch

    providers = []
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
    except ImportError:
        pass
    if torch.cuda.is_available() and "CUDAExecutionProvider" in providers:
        pytest.skip("this machine can run ONNX Runtime on CUDA")
    r = rtl("run", face_video, "--backend", "onnx", "--device", "cuda", "--weights", tiny_weights, timeout=120)
    line = error_line(r, 2, "")
    assert "CUDA" in line and ("--device cpu" in line or "--backend torch" in line)  # says what to do instead


def test_lazy_imports_leave_torch_and_cv2_out():
    code = ("import sys, rtliveness, rtliveness.cli, rtliveness.training.metrics, rtliveness.config, "
            "rtliveness.runtime.decision; "
            "print(sorted(m for m in ('torch', 'cv2', 'torchvision', 'facenet_pytorch', 'onnxruntime', "
            "'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    # the public names still resolve (lazily), as the "done when" asks
    code = ("import sys; from rtliveness import LivenessPipeline, PipelineConfig, DetectorConfig, open_source, decide; "
            "import rtliveness; assert 'decide' in dir(rtliveness); print(LivenessPipeline.__module__, open_source.__module__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["rtliveness.runtime.pipeline", "rtliveness.runtime.sources"], r.stderr


@pytest.mark.parametrize("cmd", ["run", "serve", "fleet"])
def test_help_install_hints_can_be_copied(cmd):
    """Help is plain text (no rich markup): a markup escape showed as 'rtliveness\\[onnx]'."""
    r = RUNNER.invoke(app, [cmd, "--help"], terminal_width=200)
    assert r.exit_code == 0 and "'rtliveness[openvino]' extra" in r.output and "\\[" not in r.output


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=["help", "run-help"])
def test_help_answers_in_well_under_a_second(args):
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = rtl(*args, timeout=60)
        times.append(time.perf_counter() - t0)
        assert r.returncode == 0 and r.stdout.startswith("Usage: rtliveness")
    assert sorted(times)[1] < 1.5, times
    if args == ["--help"]:
        for cmd in ("run", "prepare", "synth", "train", "eval", "calibrate", "export", "bench"):
            assert re.search(rf"^\s+{cmd}\s", r.stdout, re.M), cmd


def test_debug_is_per_invocation_not_module_state(tmp_path):
    import rtliveness.cli as cli

    assert not hasattr(cli, "_STATE")
    r1 = RUNNER.invoke(app, ["--debug", "run", str(tmp_path / "nope.mp4")])
    r2 = RUNNER.invoke(app, ["run", str(tmp_path / "nope.mp4")])
    assert r1.exit_code == r2.exit_code == 3
    assert isinstance(r1.exc_info[1], SystemExit)
    assert "rtliveness: error:" not in r1.output  # --debug: the traceback instead of the one line
    assert r2.output.count("rtliveness: error: video file not found") == 1  # the next call is not in debug mode


def test_run_minus_one_is_the_camera_refusal_and_a_closed_stderr_does_not_stop_the_run(tmp_path, grace, tiny_weights):
    """`run -1` was 'No such option: -1' (parsed as an option); a process started with standard
    error closed (some daemonisers) crashed before it wrote anything (exit 1)."""
    r = rtl("run", "-1")
    assert r.returncode == 2 and r.stderr == "rtliveness: error: camera index must be >= 0, got -1 (see 'rtliveness run --help')\n"
    video = write_video(tmp_path / "face.mp4", moving_face_frames(grace, 12))
    jl = tmp_path / "o.jsonl"
    cmd = " ".join(map(str, [Path(sys.executable).with_name("rtliveness"), "run", video, "--jsonl", jl, "--weights", tiny_weights, "--device", "cpu"]))
    r = subprocess.run(["bash", "-c", f"exec 2>&-; {cmd}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout == ""
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert len(lines) == 13 and lines[-1]["summary"]["stopped"] == "end"


def test_synth_says_when_a_class_got_fewer_samples_than_asked(tmp_path, monkeypatch):
    """Review finding: 3 of 4 printed samples (one given up) ended with exit 0 and only the JSON
    line's counts to tell."""
    from rtliveness.training import synth

    def fake(assets, out, cfg, progress=None, workers=1):
        return {"counts": {"real": 4, "replay": 4, "printed": 3, "2dmask": 2}, "seconds": 1.0,
                "skipped": {}, "identities": {}}

    monkeypatch.setattr(synth, "synthesize", fake)
    r = RUNNER.invoke(app, ["synth", "--out", str(tmp_path / "s"), "--samples-per-class", "4"])
    assert r.exit_code == 0, r.output
    lines = r.stderr.strip().splitlines()
    assert lines[-2] == ("rtliveness: warning: fewer samples than --samples-per-class 4: printed 3, 2dmask 2 (a sample "
                         "whose face the detector lost in every attempt is given up: 'given_up' below); ask for more, "
                         "or render larger frames (--width/--height)")
    assert json.loads(lines[-1])["counts"]["2dmask"] == 2


def test_a_clip_shorter_than_a_window_says_why_its_face_is_pending(tmp_path, grace, tiny_weights):
    """Review finding: a 1–4 frame clip ended with a bare 'track 1: pending' (and '1 frames')."""
    for n, seen in ((3, "seen on 3 frames"), (1, "seen on 1 frame")):
        video = write_video(tmp_path / f"short{n}.mp4", moving_face_frames(grace, n, size=(320, 240), face_side=120), fps=10)
        r = rtl("run", video, "--weights", tiny_weights, "--device", "cpu")
        assert r.returncode == 0, r.stderr
        frames = f"{n} frame{'s' if n > 1 else ''} in "
        assert frames in r.stderr and f"track 1: pending ({seen}; a verdict needs 5 in a row)." in r.stderr, r.stderr


def test_a_read_only_home_adds_no_onnx_runtime_line_to_the_run(tmp_path):
    """Review finding: ONNX Runtime's telemetry client, started by its import, printed a coloured
    warning of its own ('Failed to persist telemetry device ID') wherever the home is read-only —
    a systemd service, `docker --read-only` — before every summary and every one-line error.
    Its telemetry is off by default now (ORT_DISABLE_TELEMETRY; a value the user sets is kept)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env.update(HOME="/proc", RTLIVENESS_CACHE=str(tmp_path / "cache"))  # /proc: not writable, even by root
    clip = Path(__file__).resolve().parents[1] / "examples" / "live_webcam.mov"
    p = rtl("run", str(clip), "--max-frames", "10", "--backend", "onnx", env=env)
    assert p.returncode == 0, p.stderr
    (line,) = p.stderr.splitlines()  # the summary alone
    assert line.startswith("10 frames in ") and line.endswith(f"from {clip}. stopped: max_frames. track 1: live "
                                                              "(mean p_spoof 0.00, 6 windows).")


@pytest.mark.parametrize("where", ["source", "model"])
def test_a_stop_while_the_source_opens_or_the_model_loads_still_ends_the_json_lines_with_a_summary(
        tmp_path, monkeypatch, where):
    """Review finding: Ctrl+C or SIGTERM (a KeyboardInterrupt under run's signal handling) before
    the first frame — an RTSP camera slow to answer, the model still loading — left no JSON lines
    file at all, where the README promises a summary line on every exit."""
    from rtliveness.runtime import sources
    from rtliveness.runtime.pipeline import LivenessPipeline

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "source":
        monkeypatch.setattr(sources, "open_source", stop)
    else:
        monkeypatch.setattr(LivenessPipeline, "from_config", classmethod(stop))
    clip = Path(__file__).resolve().parents[1] / "examples" / "live_webcam.mov"
    out = tmp_path / "o.jsonl"
    r = RUNNER.invoke(app, ["run", str(clip), "--jsonl", str(out), "--out", str(tmp_path / "o.mp4")])
    assert r.exit_code == 130, r.output
    assert json.loads(out.read_text()) == {"summary": {"source": str(clip), "frames": 0, "seconds": 0.0, "fps": 0.0,
                                                       "dropped": 0, "stopped": "interrupted", "error": None,
                                                       "tracks": []}}
    assert out.read_text().count("\n") == 1
    assert r.output.splitlines()[-1] == f"0 frames in 0.0 s (0.0 FPS) from {clip}. stopped: interrupted. no faces found."
