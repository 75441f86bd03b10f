"""The fleet's Ray-free parts: names, the sources file, epochs merged into one summary, and a
stream runner resuming after a restart without repeating a frame or a track."""

import json
import re
import time
from pathlib import Path

import numpy as np

from conftest import FakeDetector, FakeScorer, fake_pipeline, moving_face_frames, write_video
from rtliveness.fleet.merge import StreamLedger
from rtliveness.fleet.naming import read_sources_file, source_name, unique_names
from rtliveness.fleet.runner import StreamRunner, StreamSpec
from rtliveness.types import FaceBox


def test_source_names_are_safe_and_unique(tmp_path):
    assert source_name("0") == "camera0"
    assert source_name("/videos/door 1.mp4") == "door_1"
    assert source_name("rtsp://admin:secret@cam-3:8554/live?x=1") == "cam-3_8554_live"
    names = unique_names(["a/door.mp4", "b/door.mp4", "c/door.mkv"])
    assert list(names.values()) == ["door", "door-2", "door-3"]
    f = tmp_path / "sources.txt"
    f.write_text("# cameras\n\nrtsp://h/a\n  b.mp4  \nrtsp://h/a\n")
    assert read_sources_file(f) == ["rtsp://h/a", "b.mp4"]


def test_ledger_merges_epochs_into_the_run_summary():
    led = StreamLedger("door", "/v/door.mp4")
    led.new_epoch()
    led.add_records([{"frame": i, "time": 0.0, "faces": [{"track": 1}]} for i in range(10)])
    led.update({"frames": 10, "seconds": 2.0, "dropped": 2, "stopped": None, "error": None,
                "tracks": [{"track": 1, "windows": 6, "mean_p_spoof": 0.1, "label": "live"}]})
    led.new_epoch()  # the worker died: resumed
    led.add_records([{"frame": i, "time": 0.0, "faces": [{"track": 2}]} for i in range(10, 20)])
    led.update({"frames": 10, "seconds": 3.0, "dropped": 1, "stopped": "end", "error": None,
                "tracks": [{"track": 2, "windows": 6, "mean_p_spoof": 0.2, "label": "live"}]})
    s = led.summary()
    assert set(s) == {"source", "frames", "seconds", "fps", "dropped", "stopped", "error", "tracks"}
    assert (s["frames"], s["seconds"], s["fps"], s["dropped"], s["stopped"]) == (20, 5.0, 4.0, 3, "end")
    assert [t["track"] for t in s["tracks"]] == [1, 2] and led.last_frame == 19 and led.max_track == 2


def _runner(path, **spec):
    box = FaceBox(40, 60, 160, 180, 0.99)
    return StreamRunner(StreamSpec(name="v", source=str(path), **spec),
                        lambda: fake_pipeline(FakeDetector([(box,)]), FakeScorer()))


def test_runner_resumes_after_the_last_written_frame_with_new_track_ids(tmp_path, grace):
    video = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 20))
    first = _runner(video, max_frames=8).start()
    first._thread.join(30)
    a = first.drain()
    assert a["stopped"] == "max_frames" and [r["frame"] for r in a["records"]] == list(range(8))
    assert {f["track"] for r in a["records"] for f in r["faces"]} == {1}
    resumed = _runner(video, epoch=1, start_frame=8, track_offset=1).start()
    resumed._thread.join(30)
    b = resumed.drain()
    assert b["stopped"] == "end" and [r["frame"] for r in b["records"]] == list(range(8, 20))
    assert {f["track"] for r in b["records"] for f in r["faces"]} == {2}
    assert [t["track"] for t in b["tracks"]] == [2]
    json.dumps(b)  # what travels back to the controller is plain JSON


def test_runner_reports_a_source_that_cannot_open_in_one_line(tmp_path):
    r = _runner(tmp_path / "missing.mp4").start()
    r._thread.join(10)
    rep = r.drain()
    assert rep["stopped"] == "error" and "missing.mp4" in rep["error"] and "\n" not in rep["error"]
    assert rep["records"] == [] and np.isfinite(rep["seconds"])


# ---------------------------------------------------------------- checks made before Ray starts
import os  # noqa: E402

import pytest  # noqa: E402

from rtliveness.config import DetectorConfig  # noqa: E402
from rtliveness.errors import ConfigError, WeightsError  # noqa: E402
from rtliveness.fleet.checks import absolute_source, check_options, check_out_dir, check_source, output_clash  # noqa: E402
from rtliveness.fleet.config import FleetConfig  # noqa: E402


def test_no_source_name_ends_like_a_restarted_streams_video():
    """A restarted stream's video is NAME.epochN.mp4; a source named door.epoch1 used to write
    over door's epoch-1 video (and it over door.epoch1's)."""
    assert source_name("/v/door.epoch1.mp4") == "door_epoch1"
    assert source_name("rtsp://h/door.epoch12") == "h_door_epoch12"
    assert source_name("/v/door.epochs.mp4") == "door.epochs"  # only the exact suffix
    assert list(unique_names(["/a/door.mp4", "/b/door.epoch1.mp4"]).values()) == ["door", "door_epoch1"]


def test_sources_file_with_a_bom_and_one_that_is_not_utf8(tmp_path):
    f = tmp_path / "s.txt"
    f.write_bytes("\ufeffsrc/a.mp4\n# Kamera Tür\nrtsp://h/x\n".encode("utf-8"))
    assert read_sources_file(f) == ["src/a.mp4", "rtsp://h/x"]
    f.write_bytes("# Kamera T\xfcr\nrtsp://h/x\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"--sources-file .*s\.txt is not UTF-8 text \(byte 0xfc at offset 10\); save it as UTF-8"):
        read_sources_file(f)


def test_sources_are_named_after_the_path_given_and_folders_are_not_missing_files(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "short3.mp4").write_bytes(b"x")
    (tmp_path / "cams").mkdir()
    os.symlink(tmp_path / "src" / "short3.mp4", tmp_path / "cams" / "front_door.mp4")
    spec = absolute_source(str(tmp_path / "cams" / ".." / "cams" / "front_door.mp4"))
    assert spec == str(tmp_path / "cams" / "front_door.mp4") and source_name(spec) == "front_door"
    assert check_source(str(tmp_path / "src")) == f"source is a folder, not a video file: {tmp_path / 'src'}; give one video or photo file"
    assert check_source(str(tmp_path / "nope.mp4")) == f"video file not found: {tmp_path / 'nope.mp4'}; check the path"
    (tmp_path / "empty.mp4").write_bytes(b"")  # the same rule as run's (rtliveness.runtime.sources.check_file)
    assert check_source(str(tmp_path / "empty.mp4")).startswith(f"video file is empty (0 bytes): {tmp_path / 'empty.mp4'}; ")


def test_the_fleet_classifies_sources_as_run_does():
    """One rule (rtliveness.runtime.sources.parse_source): upper-case schemes are streams, a
    negative camera index is run's ConfigError message, a path with '://' inside is a file."""
    from rtliveness.fleet.naming import source_kind

    assert [source_kind(s) for s in ("3", " 0 ", "RTSP://cam/x", "https://h/v.m3u8", "-1", "clips/a.mp4")] == [
        "camera", "camera", "stream", "stream", "invalid", "file"]
    assert absolute_source("RTSP://cam/x") == "RTSP://cam/x" and source_name("RTSP://cam/x") == "cam_x"
    assert check_source("-1") == "camera index must be >= 0, got -1"
    assert check_source("2") is None and check_source("rtsp://cam/x") is None
    assert source_kind("file:///v/a.mp4") == "file"  # run opens it as a file path, so the fleet checks it as one


def test_outputs_never_overwrite_a_source_even_through_a_link(tmp_path):
    src = tmp_path / "door.mp4"
    src.write_bytes(b"video")
    os.symlink(src, tmp_path / "link.mp4")
    assert output_clash(str(src), [tmp_path / "door.jsonl"]) is None
    assert output_clash(str(src), [tmp_path / "door.jsonl", tmp_path / "door.mp4"]) == (
        f"{src} would be overwritten by the fleet's output {tmp_path / 'door.mp4'}; choose an --out-dir that does not hold the sources")
    assert output_clash(str(tmp_path / "link.mp4"), [tmp_path / "door.mp4"]) is not None
    assert output_clash("rtsp://h/door", [tmp_path / "door.mp4"]) is None and output_clash("0", []) is None


def test_out_dir_and_options_are_checked_before_ray(tmp_path):
    check_out_dir(tmp_path / "new")
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []  # the probe file is gone
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"--out-dir .*afile is a file, not a folder"):
        FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "afile")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ConfigError, match=r"cannot write in --out-dir .*ro: Permission denied"):
            check_out_dir(ro)
    base = dict(sources=("a.mp4",), out_dir=tmp_path / "o")
    for kw, words in (({"give_up_s": -1.0}, "--give-up must be >= 0 seconds, got -1.0"),
                      ({"worker_cpus": -1.0}, "--worker-cpus must be a number of CPUs > 0, got -1.0"),
                      ({"worker_cpus": float("nan")}, "--worker-cpus must be a number of CPUs > 0"),
                      # run's rule and words (rtliveness.config.check_max_frames)
                      ({"max_frames": 0}, "--max-frames must be an integer >= 1 (leave it out for every frame), got 0")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            FleetConfig(**base, **kw)
    check_options(FleetConfig(**base, device="cpu", security="strict"))
    for kw, err, words in (
            ({"security": "bogus"}, ConfigError, "unknown security level 'bogus'"),
            ({"detector": DetectorConfig(kind="bogus")}, ConfigError, "unknown detector 'bogus': use mtcnn"),
            ({"backend": "bogus"}, ConfigError, "unknown backend 'bogus': use auto, torch"),
            ({"device": "bogus"}, ConfigError, "bogus"),
            ({"weights": tmp_path / "nofile.pt"}, WeightsError, "weights file not found"),
            # run's and serve's exit 5, on the driver before Ray starts (it was exit 2 from a Ray actor)
            ({"backend": "onnx-int8"}, WeightsError, "no int8 encoder made from ")):
        with pytest.raises(err, match=re.escape(words)):
            check_options(FleetConfig(**{**base, "device": "cpu", **kw}))
    import torch

    if not torch.cuda.is_available():  # a local cluster has this machine's devices: refused at once
        with pytest.raises(ConfigError, match="CUDA is not available here"):
            check_options(FleetConfig(**base, device="cuda"))


def test_a_remote_error_keeps_its_type_and_loses_its_class_name():
    from rtliveness.fleet.remote import our_error as _our_error

    assert _our_error("rtliveness.errors.WeightsError: no int8 encoder made from w.pt") == (WeightsError, "no int8 encoder made from w.pt")
    assert _our_error("rtliveness.errors.Nope: x") == (ConfigError, "rtliveness.errors.Nope: x")
    assert _our_error("RuntimeError: boom") == (ConfigError, "RuntimeError: boom")


def test_a_fleet_the_cluster_cannot_hold_is_refused_not_left_waiting(tmp_path):
    from rtliveness.fleet.controller import Fleet

    class FakeRay:
        def __init__(self, cpu, gpu=0.0, free_cpu=None):
            self.res = {"CPU": cpu, "GPU": gpu} if gpu else {"CPU": cpu}
            self.free = {**self.res, "CPU": cpu if free_cpu is None else free_cpu}

        def cluster_resources(self):
            return self.res

        def available_resources(self):
            return self.free

    fleet = Fleet(FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "o", workers=2, device="cpu"))
    fleet._check_resources(FakeRay(3.0), 0.0)  # 2 workers + 1 scorer fit in 3 CPUs
    with pytest.raises(ConfigError, match=re.escape(
            "the Ray cluster has 2 CPUs and 0 GPUs free; this fleet needs 3 CPUs (--workers 2 x --worker-cpus 1 + 1 scorer x 1): "
            "lower --workers / --worker-cpus, wait for the other jobs, or add nodes")):
        fleet._check_resources(FakeRay(2.0), 0.0)
    with pytest.raises(ConfigError, match=re.escape("and 1 GPUs (--device cpu)")):
        fleet._check_resources(FakeRay(8.0), 1.0)
    # review finding: a joined cluster busy with another fleet made this one wait for ever
    with pytest.raises(ConfigError, match=re.escape(
            "the Ray cluster has 1 CPUs and 0 GPUs free (of 8 and 0: other jobs hold the rest); this fleet needs 3 CPUs")):
        fleet._check_resources(FakeRay(8.0, free_cpu=1.0), 0.0)


def test_a_second_stop_signal_while_the_fleet_finishes_is_noted_not_obeyed():
    """Review finding: Ctrl+C then SIGTERM 0.15 s later killed the driver inside finish(): no
    summaries, fleet.json not final, Ray left running."""
    import os
    import signal

    from rtliveness.fleet.controller import _hold_stop_signals

    said = []
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    held = _hold_stop_signals(said.append, (signal.SIGTERM,))
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # delivered here, to the main thread: no KeyboardInterrupt, no exit
        assert said == ["finishing: writing every summary and fleet.json; this takes a few seconds"]
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        # the second is noted too, and opens the way out should finishing hang: the next is obeyed
        assert said[1:] == ["finishing; one more Ctrl+C or SIGTERM stops at once, without the summaries"]
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_source_where_a_restart_would_write_its_video_is_refused(tmp_path):
    """Review finding: after a worker restart, stream 'door' writes door.epoch1.mp4 in --out-dir;
    a source of that name there was overwritten while another stream read it."""
    from rtliveness.fleet.checks import epoch_video_clash

    out = tmp_path / "out"
    out.mkdir()
    victim = out / "door.epoch1.mp4"
    victim.write_bytes(b"x")
    assert epoch_video_clash(str(victim), out, ["door", "other"]) == (
        f"{victim} would be overwritten by the video of stream 'door' after a worker restart; "
        "choose an --out-dir that does not hold the sources")
    assert epoch_video_clash(str(victim), out, ["other"]) is None  # no stream of that name
    assert epoch_video_clash(str(victim), tmp_path, ["door"]) is None  # written elsewhere
    assert epoch_video_clash("rtsp://cam/door.epoch1.mp4", out, ["door"]) is None
    elsewhere = tmp_path / "clip.mp4"  # a link in --out-dir named as the restart video: the writer would follow it
    elsewhere.write_bytes(b"x")
    link = out / "door.epoch2.mp4"
    link.symlink_to(elsewhere)
    assert epoch_video_clash(str(link), out, ["door"]).startswith(f"{link} would be overwritten by the video of stream 'door'")


def test_a_malformed_source_added_to_a_running_fleet_fails_alone(tmp_path):
    """Review finding: naming the source the run way raised for camera -1, which stopped the whole
    fleet instead of failing that one source."""
    from rtliveness.fleet.controller import Fleet

    said = []
    fleet = Fleet(FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "o", device="cpu"), log=said.append)
    (tmp_path / "o").mkdir()
    for spec in ("-1", "rtsp://:554/x"):
        fleet.add(spec)
        stream = fleet.streams[fleet.by_spec[spec]]
        assert stream.status == "failed" and stream.done
        assert stream.ledger.source == spec
    assert len(said) == 2 and all(line.startswith("error: ") for line in said)


def test_an_address_that_is_not_ray_is_refused_within_seconds():
    """A web server, or a port that accepts and never answers, at --address made Ray retry for
    minutes; the probe wants the gRPC handshake Ray's servers give (an HTTP/2 SETTINGS frame)."""
    import socket
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from rtliveness.fleet.checks import grpc_probe, probe_address

    web = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    h2 = socket.socket()  # answers like a gRPC server: a SETTINGS frame
    h2.bind(("127.0.0.1", 0))
    h2.listen(4)

    def settings():
        conn, _ = h2.accept()
        conn.recv(64)
        conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        time.sleep(0.5)
        conn.close()

    threading.Thread(target=settings, daemon=True).start()
    try:
        assert grpc_probe("127.0.0.1", h2.getsockname()[1], 5.0) is None
        assert grpc_probe("127.0.0.1", web.server_address[1], 5.0) == "the port answers, but not as a Ray cluster (no gRPC handshake)"
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=re.escape(
                f"cannot join the Ray cluster at 127.0.0.1:{silent.getsockname()[1]}: the port accepts connections but "
                "does not answer as Ray does within 1 s; start it with 'ray start --head' or omit --address")):
            probe_address(f"127.0.0.1:{silent.getsockname()[1]}", timeout_s=1.0)
        assert time.monotonic() - t0 < 5
    finally:
        web.shutdown()
        silent.close()
        h2.close()


def test_batching_histograms_of_every_scorer_are_summed_in_caller_order():
    from rtliveness.fleet.merge import merge_histograms

    stats = [{"embed": {"callers_histogram": {"1": 5, "2": 3}}}, None,
             {"embed": {"callers_histogram": {"10": 1, "2": 4}}}]
    assert list(merge_histograms(stats).items()) == [("1", 5), ("2", 7), ("10", 1)]  # numeric order, not text


# ---------------------------------------------------------------- fleet review (2026-12-07)
def test_a_stream_removed_from_the_sources_file_ends_in_runs_words():
    """Its summary said stopped: 'stopped', a word `run --jsonl` never writes; it is run's q/Esc, 'user'."""
    led = StreamLedger("door", "rtsp://cam/door")
    led.new_epoch()
    led.add_records([{"frame": 0, "time": 0.5, "faces": []}, {"frame": 1, "time": 0.25, "faces": []}])
    led.update({"frames": 2, "seconds": 1.0, "dropped": 0, "stopped": "stopped", "error": None, "tracks": []})
    assert led.summary()["stopped"] == "user" and led.summary("stopped")["stopped"] == "user"
    assert led.summary("interrupted")["stopped"] == "interrupted" and led.last_time == 0.5


def test_a_live_stream_resumed_after_a_restart_keeps_its_time_growing(monkeypatch, grace):
    """After a worker restart a live stream's frame numbers went on but its time began at 0 again."""
    from types import SimpleNamespace

    import rtliveness.fleet.stream as stream_mod
    import rtliveness.runtime.sources as sources
    from rtliveness.fleet.stream import DriverStream
    from rtliveness.types import Frame

    class Camera:  # a live source: time counts from the loop's first frame
        is_live, fps, dropped = True, 10.0, 0

        def __init__(self, *args, **kwargs):
            self.frames = [Frame(i, grace, i * 0.1) for i in range(3)]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __iter__(self):
            return iter(self.frames)

        def close(self):
            pass

    monkeypatch.setattr(sources, "open_source", Camera)
    now = [100.0]
    monkeypatch.setattr(stream_mod, "time", SimpleNamespace(monotonic=lambda: now[0]))  # the driver's clock only
    stream = DriverStream("rtsp://cam/a", "a", Path("/nonexistent"), write=False)
    assert stream.resume_time() == 0.0
    stream.ledger.new_epoch()
    stream.ledger.add_records([{"frame": 54, "time": 4.79, "faces": []}])
    stream.last_write_at = 100.0
    now[0] = 102.5  # the restart took 2.5 s
    start_time = stream.resume_time()
    assert start_time == pytest.approx(7.29)
    r = _runner("rtsp://cam/a", epoch=1, start_frame=55, start_time=start_time).start()
    r._thread.join(30)
    got = r.drain()["records"]
    assert [x["frame"] for x in got] == [55, 56, 57]
    assert [x["time"] for x in got] == pytest.approx([7.29, 7.39, 7.49])


def test_a_refused_start_leaves_no_out_dir_behind(tmp_path, monkeypatch):
    """A cluster that refused the fleet, and a sources file that is not UTF-8, left an empty --out-dir
    (the README says a refused option leaves none): the folder is made last, and removed again when
    Ray refuses; the cluster's address is probed before the weights load."""
    from rtliveness.fleet.controller import Fleet

    video = write_video(tmp_path / "v.mp4", [np.zeros((48, 64, 3), np.uint8)] * 3)
    latin = tmp_path / "sources.txt"
    latin.write_bytes(b"v.mp4\n\xe9t\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8|UTF-8"):
        Fleet(FleetConfig(sources_file=latin, out_dir=tmp_path / "o1", device="cpu")).start()
    assert not (tmp_path / "o1").exists()
    loaded = []
    monkeypatch.setattr("rtliveness.fleet.controller.check_options", lambda config: loaded.append(config))
    with pytest.raises(ConfigError, match="cannot join the Ray cluster at 127.0.0.1:1"):
        Fleet(FleetConfig(sources=(str(video),), out_dir=tmp_path / "o2", address="127.0.0.1:1", device="cpu")).start()
    assert not (tmp_path / "o2").exists() and loaded == []  # refused before the weights were read

    def refused(self, ray):
        raise ConfigError("cannot join the Ray cluster at auto: no cluster")

    monkeypatch.setattr(Fleet, "_init_ray", refused)
    with pytest.raises(ConfigError, match="no cluster"):
        Fleet(FleetConfig(sources=(str(video),), out_dir=tmp_path / "o3", device="cpu")).start()
    assert not (tmp_path / "o3").exists()
    (tmp_path / "o4").mkdir()  # a folder the user made is theirs: kept
    with pytest.raises(ConfigError, match="no cluster"):
        Fleet(FleetConfig(sources=(str(video),), out_dir=tmp_path / "o4", device="cpu")).start()
    assert (tmp_path / "o4").is_dir()


def test_fleet_json_lists_only_videos_written_and_names_sources_as_given(tmp_path, monkeypatch):
    """A source that failed to open was listed with a video that was never written; fleet.json
    named a file source by its absolute path where the summary names it as given."""
    from rtliveness.fleet.controller import Fleet

    class Worker:
        class add:
            @staticmethod
            def remote(spec):
                pass

    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "v.mp4", [np.zeros((48, 64, 3), np.uint8)] * 3)
    out = tmp_path / "o"
    out.mkdir()
    fleet = Fleet(FleetConfig(sources=("v.mp4",), out_dir=out, device="cpu", save_video=True))
    fleet.workers, fleet.worker_state = [Worker()], [{"down_since": None}]
    fleet.add(fleet._absolute("v.mp4"))
    doc = fleet._write_json()
    assert doc["sources"]["v"]["videos"] == [] and doc["sources"]["v"]["source"] == "v.mp4"
    # the worker reports its first frame (it wrote the video on its own node: the driver may not see the file)
    fleet.streams["v"].ledger.update({"frames": 1, "seconds": 0.1, "dropped": 0, "stopped": None, "error": None,
                                      "tracks": []})
    assert fleet._write_json()["sources"]["v"]["videos"] == [str((out / "v.mp4").resolve())]


SIGNAL_SCRIPT = r"""
import ctypes, os, signal, sys, time
from rtliveness.fleet.controller import _ray_shutdown

got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))

class Ray:  # what Ray's native shutdown does: SIGTERM back to its default action beneath Python
    @staticmethod
    def shutdown():
        ctypes.CDLL(None).signal(int(signal.SIGTERM), ctypes.c_void_p(0))

_ray_shutdown(Ray)
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.2)
print("handled", got)
"""


def test_the_stop_signal_handlers_are_set_again_after_ray_shuts_down():
    """A second SIGTERM while the fleet finished killed the driver (exit 143, no final line): Ray's
    shutdown had left SIGTERM at its default action beneath Python's handler."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", SIGNAL_SCRIPT], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "handled [15]", (r.returncode, r.stdout, r.stderr)


def test_a_fleet_refused_while_its_workers_start_ends_in_its_own_line(tmp_path, monkeypatch):
    """A worker that failed to start (or Ctrl+C meanwhile) after the actors existed: run_fleet then
    finished the fleet, writing fleet.json into the --out-dir start() had removed, and the user
    got 'No such file or directory' instead of the reason."""
    from rtliveness.fleet import controller
    from rtliveness.fleet.controller import Fleet, run_fleet

    video = write_video(tmp_path / "v.mp4", [np.zeros((48, 64, 3), np.uint8)] * 3)
    monkeypatch.setattr(controller, "check_options", lambda config: None)
    monkeypatch.setattr(Fleet, "_init_ray", lambda self, ray: None)

    def workers_fail(self, ray):
        self.scorers, self.workers = [object()], [object()]
        raise ConfigError("a stream worker failed to start: boom")

    monkeypatch.setattr(Fleet, "_start_actors", workers_fail)
    with pytest.raises(ConfigError, match="^a stream worker failed to start: boom$"):
        run_fleet(FleetConfig(sources=(str(video),), out_dir=tmp_path / "o", device="cpu"), log=lambda line: None)
    assert not (tmp_path / "o").exists()


def test_the_fleet_leaves_an_ignored_hangup_ignored(tmp_path, monkeypatch):
    """`nohup rtliveness fleet ...` ignores SIGHUP: the fleet took it over, so logging out stopped a
    fleet started to outlive the terminal. It takes only stop signals still at their default action."""
    import signal

    from rtliveness.fleet import controller
    from rtliveness.fleet.controller import Fleet, run_fleet

    seen = {}

    def start(self):
        seen["hup"], seen["term"] = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)
        seen["owned"] = self.owned_signals
        raise KeyboardInterrupt

    monkeypatch.setattr(Fleet, "start", start)
    monkeypatch.setattr(controller, "_shutdown", lambda fleet, reason: {"stopped": reason})
    # as under nohup; SIGTERM at its default action (an earlier test's ray.init may have left Ray's own)
    before = {signal.SIGHUP: signal.signal(signal.SIGHUP, signal.SIG_IGN),
              signal.SIGTERM: signal.signal(signal.SIGTERM, signal.SIG_DFL)}
    try:
        assert run_fleet(FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "o", device="cpu"),
                         log=lambda line: None) == {"stopped": "interrupted"}
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert seen == {"hup": signal.SIG_IGN, "term": signal.default_int_handler, "owned": (signal.SIGTERM,)}


def test_a_sources_file_named_as_an_output_in_out_dir_is_refused_before_ray(tmp_path, monkeypatch):
    """Security review: `--sources-file out/door.jsonl --out-dir out` with a source named door:
    the fleet wrote door's summary over the sources file, then read it back as a new source."""
    from rtliveness.fleet.checks import sources_file_clash
    from rtliveness.fleet.controller import Fleet

    out = tmp_path / "out"
    out.mkdir()
    for name in ("door.jsonl", "fleet.json", "cams.MP4"):
        listed = out / name
        listed.write_text("door.mp4\n")
        with pytest.raises(ConfigError) as err:
            Fleet(FleetConfig(sources_file=listed, out_dir=out, device="cpu")).start()
        assert str(err.value).startswith(f"--sources-file {listed} is in --out-dir and named as the fleet's outputs are")
        assert listed.read_text() == "door.mp4\n"
    link = tmp_path / "list.txt"  # a link outside to a file named so inside: still the file at risk
    link.symlink_to(out / "door.jsonl")
    assert sources_file_clash(link, out) is not None
    assert sources_file_clash(out / "sources.txt", out) is None  # any other name in --out-dir is fine
    assert sources_file_clash(tmp_path / "door.jsonl", out) is None  # and any name elsewhere
    assert sources_file_clash(None, out) is None
