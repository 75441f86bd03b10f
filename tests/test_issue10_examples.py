"""Issue 10: the example scripts answer in one clear line, with the exit codes their docstrings state.

Each script runs as a user runs it: a subprocess of the venv's Python, without a display.
"""

import ast
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name, *args, timeout=180, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def one_error_line(r, needle):
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docstring(name) -> str:
    return ast.get_docstring(ast.parse((EXAMPLES / name).read_text()))


# ------------------------------------------------------------------------------------ webcam.py
@pytest.mark.parametrize("extra", [[], ["--no-show"]])
def test_webcam_missing_camera_is_one_line_exit_3(extra):
    r = example("webcam.py", 99, *extra, timeout=60)
    assert r.returncode == 3, r.stderr
    one_error_line(r, "camera 99 did not open")
    assert r.stdout == ""


@pytest.mark.slow
def test_webcam_no_show_advice_names_an_option_it_accepts(tmp_path):
    clip = EXAMPLES / "live_webcam.mov"
    r = example("webcam.py", clip, cwd=tmp_path)  # a window without a display
    assert r.returncode == 2, r.stderr
    one_error_line(r, "run with --no-show")
    r = example("webcam.py", clip, "--no-show", cwd=tmp_path)  # ... and the advice works
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(r"^track 1: live \(mean p_spoof 0\.\d{3} over \d+ windows\)$", r.stdout, re.M), r.stdout
    assert "webcam.py 0 --no-show" in docstring("webcam.py")


# ------------------------------------------------------------------------------------- kiosk.py
def test_kiosk_docstring_lists_every_exit_code():
    doc = " ".join(docstring("kiosk.py").split())
    assert "Exit code: 0 live, 1 spoof, 2 undecided (timeout or no face), 3 error" in doc


@pytest.mark.parametrize("args,needle", [
    ([99], "camera 99 did not open"),
    ([f"rtsp://127.0.0.1:{_free_port()}/x"], "connection refused"),
    (["0", "abc"], "TIMEOUT_S must be a number of seconds > 0"),
    (["0", "5", "extra"], "usage: python examples/kiosk.py"),
])
def test_kiosk_errors_are_one_line_exit_3(args, needle):
    r = example("kiosk.py", *args, timeout=60)
    assert r.returncode == 3, r.stderr
    one_error_line(r, needle)
    assert r.stdout == ""


@pytest.mark.slow
def test_kiosk_decides_spoof_on_the_printed_attack():
    r = example("kiosk.py", EXAMPLES / "attack_printed.mp4")
    assert r.returncode == 1 and r.stderr == "", r.stderr
    assert re.fullmatch(r"spoof: track \d+, p_spoof 0\.\d{3}, after \d+ frames / \d+\.\d s\n", r.stdout), r.stdout


def test_kiosk_decides_on_a_photo(tmp_path):
    """A photo is one window: decide(windows=5) said 'undecided' on every photo."""
    import cv2

    cap = cv2.VideoCapture(str(EXAMPLES / "attack_printed.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok and cv2.imwrite(str(tmp_path / "photo.jpg"), frame)
    r = example("kiosk.py", tmp_path / "photo.jpg")
    assert r.returncode == 1 and r.stderr == "", r.stderr
    assert re.fullmatch(r"spoof: track 1, p_spoof 0\.\d{3}, after 5 frames / \d+\.\d s\n", r.stdout), r.stdout


# -------------------------------------------------------------------------------- video_file.py
def test_video_file_errors_are_one_line():
    r = example("video_file.py", "/nonexistent/clip.mp4", timeout=60)
    assert r.returncode == 3, r.stderr
    one_error_line(r, "video file not found: /nonexistent/clip.mp4")
    r = example("video_file.py", timeout=60)
    assert r.returncode == 2
    one_error_line(r, "usage: python examples/video_file.py VIDEO")


@pytest.mark.slow
def test_video_file_scores_the_live_clip(tmp_path):
    out, jl = tmp_path / "a.mp4", tmp_path / "r.jsonl"
    r = example("video_file.py", EXAMPLES / "live_webcam.mov", out, jl)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(r"^100 frames at \d+\.\d FPS$", r.stdout, re.M), r.stdout
    assert re.search(r"^track 1: live  mean p_spoof=0\.\d{3}  windows=\d+$", r.stdout, re.M), r.stdout
    assert out.stat().st_size > 0 and len(jl.read_text().splitlines()) == 101


@pytest.mark.slow
def test_video_file_scores_a_photo_and_never_overwrites_its_input(tmp_path):
    """A review found the example read a photo as a one-frame video (no verdict) and, given its
    input as the output, cut the video down to 12 frames: process_source now refuses that, as run does."""
    import shutil

    photo = tmp_path / "face.jpg"
    shutil.copy(Path(__file__).resolve().parents[1] / "assets" / "grace_hopper_512x512.jpg", photo)
    r = example("video_file.py", photo, tmp_path / "p.mp4", tmp_path / "p.jsonl")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^5 frames at \d+\.\d FPS$", r.stdout, re.M) and "windows=1" in r.stdout, r.stdout
    clip = tmp_path / "clip.mov"
    shutil.copy(EXAMPLES / "live_webcam.mov", clip)
    before = clip.read_bytes()
    r = example("video_file.py", clip, clip, tmp_path / "c.jsonl")
    assert r.returncode == 2
    one_error_line(r, f"out= is the source file itself: {clip}; write to another path")
    assert clip.read_bytes() == before and not (tmp_path / "c.jsonl").exists()
