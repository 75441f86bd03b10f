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
    class FakeRay:
        def __init__(self, cpu, gpu=0.0, free_cpu=None):
            self.res = {"CPU": cpu, "GPU": gpu} if gpu else {"CPU": cpu}
            self.free = {**self.res, "CPU": cpu if free_cpu is None else free_cpu}

        def cluster_resources(self):
            return self.res

        def available_resources(self):
            return self.free

    from rtliveness.fleet.cluster import check_resources

    config = FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "o", workers=2, device="cpu")
    check_resources(FakeRay(3.0), config, 0.0)  # 2 workers + 1 scorer fit in 3 CPUs
    with pytest.raises(ConfigError, match=re.escape(
            "the Ray cluster has 2 CPUs and 0 GPUs free; this fleet needs 3 CPUs (--workers 2 x --worker-cpus 1 + 1 scorer x 1): "
            "lower --workers / --worker-cpus, wait for the other jobs, or add nodes")):
        check_resources(FakeRay(2.0), config, 0.0)
    with pytest.raises(ConfigError, match=re.escape("and 1 GPUs (--device cpu)")):
        check_resources(FakeRay(8.0), config, 1.0)
    # review finding: a joined cluster busy with another fleet made this one wait for ever
    with pytest.raises(ConfigError, match=re.escape(
            "the Ray cluster has 1 CPUs and 0 GPUs free (of 8 and 0: other jobs hold the rest); this fleet needs 3 CPUs")):
        check_resources(FakeRay(8.0, free_cpu=1.0), config, 0.0)


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
from rtliveness.fleet.cluster import ray_shutdown

got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))

class Ray:  # what Ray's native shutdown does: SIGTERM back to its default action beneath Python
    @staticmethod
    def shutdown():
        ctypes.CDLL(None).signal(int(signal.SIGTERM), ctypes.c_void_p(0))

ray_shutdown(Ray)
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


# ---------------------------------------------------------------- fleet review (controller with a fake Ray)
class _Ref:
    """A fake Ray object ref: its value (or error), and whether its answer has arrived."""

    def __init__(self, value=None, exc=None, ready=True):
        self.value, self.exc, self.ready = value, exc, ready


class _Worker:
    """A stream worker as the controller sees it: a call runs at once (as Ray runs it, eventually)
    and its answer arrives when ``ready``; ``hold`` polls are answered late."""

    def __init__(self, pipeline=None, incarnation="a"):
        from rtliveness.fleet.runner import drain_runners

        self.runners, self.incarnation, self.hold, self.calls = {}, incarnation, 0, []
        self.held, self.add_error, self._pipeline, self._drain = [], None, pipeline, drain_runners
        for method in ("drain_all", "add", "stop", "stop_all", "info"):
            setattr(self, method, self._method(method))

    def _method(self, name):
        worker = self

        class Method:
            @staticmethod
            def remote(*args):
                worker.calls.append((name, args))
                return getattr(worker, "_" + name)(*args)

        return Method()

    def _drain_all(self, acks=None, forget=()):
        ref = _Ref({"incarnation": self.incarnation, "streams": self._drain(self.runners, acks, forget)},
                   ready=self.hold == 0)
        self.hold = max(0, self.hold - 1)
        self.held.append(ref)
        return ref

    def _add(self, spec):
        if self.add_error is not None:
            return _Ref(exc=self.add_error)
        if self._pipeline is not None:
            self.runners[spec.name] = StreamRunner(spec, self._pipeline).start()
        return _Ref(self.incarnation)

    def _stop(self, name, epoch=None):
        return _Ref()

    def _stop_all(self):
        for r in self.runners.values():
            r.stop()
        return _Ref()

    def _info(self):
        return _Ref({"incarnation": self.incarnation, "node": "n" * 12, "pid": 1})


@pytest.fixture
def fake_ray(monkeypatch):
    """ray.wait / ray.get over :class:`_Ref`; ``interrupt`` armed: the next wait is Ctrl+C."""
    import ray

    state = {"interrupt": False}

    def wait(refs, num_returns=1, timeout=None):
        if state["interrupt"]:
            state["interrupt"] = False
            raise KeyboardInterrupt
        return [r for r in refs if r.ready], [r for r in refs if not r.ready]

    def get(ref, timeout=None):
        if not ref.ready:
            raise ray.exceptions.GetTimeoutError("not yet")
        if ref.exc is not None:
            raise ref.exc
        return ref.value

    monkeypatch.setattr(ray, "wait", wait)
    monkeypatch.setattr(ray, "get", get)
    monkeypatch.setattr(ray, "cancel", lambda ref: None)
    return state


def _fleet(tmp_path, workers, said=None, **config):
    """A fleet whose workers are fakes (no Ray started); ``config``: FleetConfig's fields."""
    from rtliveness.fleet.controller import Fleet

    (tmp_path / "o").mkdir(exist_ok=True)
    config.setdefault("sources", ("rtsp://cam/unused",))
    fleet = Fleet(FleetConfig(out_dir=tmp_path / "o", device="cpu", **config),
                  log=(said if said is not None else []).append)
    fleet.workers = workers
    fleet.worker_state = [{"incarnation": w.incarnation, "node": "n" * 12, "pid": 1, "restarts": 0, "down_since": None}
                          for w in workers]
    if fleet.config.sources_file is not None:
        fleet._file_specs = fleet._read_sources_file(strict=True)
    return fleet


def _lines(path):
    lines = [json.loads(x) for x in Path(path).read_text().splitlines()]
    return [r["frame"] for r in lines[:-1]], lines[-1]["summary"]


class _Gate:
    """A camera that delivers a frame only when let through: ``let(n)`` then wait for them."""

    def __init__(self, grace):
        import threading

        self.sem = threading.Semaphore(0)
        box = FaceBox(40, 60, 160, 180, 0.99)
        gate = self

        def factory():
            inner = fake_pipeline(FakeDetector([(box,)]), FakeScorer())

            class Gated:
                def step(self, frame):
                    gate.sem.acquire()
                    return inner.step(frame)

                def __getattr__(self, name):
                    return getattr(inner, name)

            return Gated()

        self.factory = factory

    def let(self, worker, name, n):
        runner = worker.runners[name]
        target = runner.frames + n
        for _ in range(n):
            self.sem.release()
        t0 = time.monotonic()
        while runner.frames < target and runner.running and time.monotonic() - t0 < 30:
            time.sleep(0.005)


def test_a_poll_answered_late_or_cut_by_ctrl_c_loses_no_record(tmp_path, grace, fake_ray):
    """Review finding 1: the worker emptied its buffer as it answered; an answer the driver gave up
    on (a worker slow for 2 s) or that Ctrl+C cut short was lost: gaps in the frames, exit 0.
    Now the worker drops only what the driver says it wrote, and a late answer is waited for."""
    gate = _Gate(grace)
    video = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 20, size=(160, 120), face_side=60))
    worker = _Worker(gate.factory)
    fleet = _fleet(tmp_path, [worker], sources=(str(video),))
    fleet.add(str(video))
    gate.let(worker, "v", 5)
    worker.hold = 1  # the worker is slow to answer this poll
    fleet.step()
    gate.let(worker, "v", 5)
    for ref in worker.held:  # its answer arrives, late
        ref.ready = True
    fleet.step()
    fleet.step()
    assert fleet.streams["v"].ledger.written == 10 and fleet.worker_state[0]["down_since"] is None
    gate.let(worker, "v", 10)
    worker.runners["v"]._thread.join(30)
    fake_ray["interrupt"] = True  # Ctrl+C inside the poll that carries the last 10 records
    with pytest.raises(KeyboardInterrupt):
        fleet.step()
    result = fleet.finish("interrupted", timeout_s=5)
    frames, summary = _lines(tmp_path / "o" / "v.jsonl")
    assert frames == list(range(20)) and summary["frames"] == 20
    assert result["sources"]["v"]["frames"] == 20 and result["finished"] is True


def test_a_worker_keeps_an_ended_stream_until_the_driver_has_seen_it_end(tmp_path, grace):
    """Review finding 1: an answer saying the stream stopped was lost with the stream forgotten: it
    stayed running and the fleet never ended."""
    from rtliveness.fleet.runner import drain_runners

    video = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 6, size=(160, 120), face_side=60))
    runners = {"v": _runner(video).start()}
    runners["v"]._thread.join(30)
    lost = drain_runners(runners)  # this answer never reaches the driver
    again = drain_runners(runners, {"v": (0, 2)})
    assert lost["v"]["stopped"] == again["v"]["stopped"] == "end" and len(lost["v"]["records"]) == 6
    assert [r["frame"] for r in again["v"]["records"]] == [2, 3, 4, 5] and again["v"]["first"] == 3
    assert drain_runners(runners, forget=[("v", 1)]) and "v" in runners  # another epoch's: kept
    assert drain_runners(runners, {"v": (0, 6)}, forget=[("v", 0)]) == {} and runners == {}


def test_a_stream_being_stopped_is_not_restarted_by_a_worker_restart_or_move(tmp_path, fake_ray):
    """Review finding 2: a camera removed from the sources file (or stopping at Ctrl+C) was started
    again when its worker restarted or moved before the stop was collected, then ran for ever."""
    workers = [_Worker(), _Worker(incarnation="b")]
    fleet = _fleet(tmp_path, workers, move_after_s=0.0)
    for spec in ("rtsp://cam/a", "rtsp://cam/b"):
        fleet.add(spec)
    assert [fleet.streams[n].worker for n in ("cam_a", "cam_b")] == [0, 1]
    fleet.remove("rtsp://cam/a")
    fleet.remove("rtsp://cam/b")
    fleet._apply(0, {"incarnation": "a2", "streams": {}})  # worker 0 restarted: cam_a's runner is gone
    fleet._maybe_move(1)  # worker 1 unreachable: cam_b would move to worker 0
    adds = [args[0].name for w in workers for name, args in w.calls if name == "add"]
    assert adds == ["cam_a", "cam_b"]  # each started once, never again
    for name in ("cam_a", "cam_b"):
        s = fleet.streams[name]
        assert s.done and s.status == "stopped" and s.ledger.restarts == 0
        assert _lines(tmp_path / "o" / f"{name}.jsonl")[1]["stopped"] == "user"


def test_a_restart_after_every_max_frames_was_written_ends_the_stream(tmp_path, fake_ray):
    """Review finding 6: a worker restart (or move) after all --max-frames were written left the
    stream running for ever, and a move added an epoch at every poll."""
    workers = [_Worker(), _Worker(incarnation="b")]
    fleet = _fleet(tmp_path, workers, max_frames=3, move_after_s=0.0)
    fleet.add("rtsp://cam/a")
    fleet.add("rtsp://cam/b")
    for i, name in ((0, "cam_a"), (1, "cam_b")):
        rep = {"epoch": 0, "first": 1, "records": [{"frame": k, "time": k * 0.1, "faces": []} for k in range(3)],
               "frames": 3, "seconds": 0.3, "dropped": 0, "tracks": [], "stopped": None, "error": None, "events": []}
        fleet._apply(i, {"incarnation": workers[i].incarnation, "streams": {name: rep}})
    fleet._apply(0, {"incarnation": "a2", "streams": {}})  # restarted before it reported max_frames
    fleet._maybe_move(1)
    fleet._maybe_move(1)
    assert sum(1 for w in workers for name, _ in w.calls if name == "add") == 2
    for name in ("cam_a", "cam_b"):
        s = fleet.streams[name]
        assert s.done and s.status == "ended" and len(s.ledger.epochs) == 1
        frames, summary = _lines(tmp_path / "o" / f"{name}.jsonl")
        assert frames == [0, 1, 2] and (summary["frames"], summary["stopped"]) == (3, "max_frames")
    assert fleet.done


def test_a_jsonl_that_cannot_be_written_fails_that_stream_alone(tmp_path, fake_ray):
    """Review finding 3: a write failure on one stream's JSON lines escaped the poll and aborted the
    fleet: the healthy stream's summary said interrupted, fleet.json stayed finished: false, and the
    error told to 'choose another --jsonl', an option fleet does not have."""
    said = []
    worker = _Worker()
    fleet = _fleet(tmp_path, [worker], said)
    (tmp_path / "o" / "cam_bad.jsonl").symlink_to("/dev/full")
    fleet.add("rtsp://cam/bad")
    fleet.add("rtsp://cam/ok")
    rep = {"epoch": 0, "first": 1, "records": [{"frame": k, "time": k * 0.1, "faces": []} for k in range(2)],
           "frames": 2, "seconds": 0.2, "dropped": 0, "tracks": [], "stopped": "end", "error": None, "events": []}
    fleet._apply(0, {"incarnation": "a", "streams": {"cam_bad": {**rep, "stopped": None}, "cam_ok": rep}})
    bad, ok = fleet.streams["cam_bad"], fleet.streams["cam_ok"]
    words = ("cannot write JSON lines to /dev/full: No space left on device after 0 lines "  # the file, seen through the link
             "(written whole); free disk space or choose another --out-dir")
    assert said == [f"error: cam_bad: {words}"]
    assert bad.done and bad.status == "failed" and ("stop", ("cam_bad", 0)) in worker.calls
    assert ok.done and ok.status == "ended" and _lines(tmp_path / "o" / "cam_ok.jsonl")[1]["stopped"] == "end"
    result = fleet.finish("end", timeout_s=1)
    assert result["finished"] is True and result["sources"]["cam_bad"]["error"] == words
    assert json.loads((tmp_path / "o" / "fleet.json").read_text())["sources"]["cam_bad"]["status"] == "failed"


def test_the_sources_file_is_not_watched_while_the_fleet_finishes(tmp_path, fake_ray):
    """Review finding 5: a line added while the fleet finished started a new stream then."""
    listed = tmp_path / "cams.txt"
    listed.write_text("rtsp://cam/a\n")
    worker = _Worker()
    fleet = _fleet(tmp_path, [worker], sources=(), sources_file=listed)
    fleet.add("rtsp://cam/a")
    listed.write_text("rtsp://cam/a\nrtsp://cam/b\n")
    fleet.finish("interrupted", timeout_s=0.5)
    assert list(fleet.streams) == ["cam_a"] and [n for n, _ in worker.calls].count("add") == 1


def test_the_sources_file_is_acted_on_once_two_reads_agree(tmp_path, fake_ray):
    """Review finding 4: a sources file caught mid-write (empty, half a line) stopped cameras or
    ended the fleet; a write that kept the file's time was never noticed; a line added again while
    its stream still stopped was dropped for good."""
    said = []
    listed = tmp_path / "cams.txt"
    listed.write_text("rtsp://cam/a\nrtsp://cam/b\n")
    worker = _Worker()
    fleet = _fleet(tmp_path, [worker], said, sources=(), sources_file=listed)
    for spec in fleet._file_specs:
        fleet.add(spec)
    stat = listed.stat()
    listed.write_text("")  # caught mid-write, for one poll
    fleet._watch_sources_file()
    listed.write_text("rtsp://cam/a\nrtsp://cam/b\n")
    fleet._watch_sources_file()
    fleet._watch_sources_file()
    assert not any(s.stop_as for s in fleet.streams.values()) and said == []
    listed.write_text("rtsp://cam/a\n")
    os.utime(listed, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same time as before
    fleet._watch_sources_file()
    assert fleet.streams["cam_b"].stop_as is None  # one read is not enough
    fleet._watch_sources_file()
    assert fleet.streams["cam_b"].stop_as == "stopped" and said == ["cam_b: removed from the sources file; stopping"]
    listed.write_text("rtsp://cam/a\nrtsp://cam/b\n")  # back before its stop was collected
    fleet._watch_sources_file()
    fleet._watch_sources_file()
    stopped = {"epoch": 0, "first": 1, "records": [], "frames": 0, "seconds": 0.1, "dropped": 0, "tracks": [],
               "stopped": "stopped", "error": None, "events": []}
    fleet._apply(0, {"incarnation": "a", "streams": {"cam_b": stopped}})
    assert fleet.streams["cam_b"].status == "stopped"
    fleet.step()
    again = fleet.streams[fleet.by_spec["rtsp://cam/b"]]
    assert again.ledger.name == "cam_b-2" and again.status == "running"  # the stopped stream's file is kept
    assert [args[0].name for n, args in worker.calls if n == "add"] == ["cam_a", "cam_b", "cam_b-2"]


def test_a_stream_its_worker_refuses_to_start_fails(tmp_path, fake_ray):
    """Review finding 8: the answer to starting a stream was never looked at: a stream the worker
    refused showed running, with no records, for ever."""
    import ray

    said = []
    worker = _Worker()
    worker.add_error = ray.exceptions.RayTaskError("add", "Traceback ...", ValueError("boom"))
    fleet = _fleet(tmp_path, [worker], said)
    fleet.add("rtsp://cam/a")
    fleet.step()
    s = fleet.streams["cam_a"]
    assert s.done and s.status == "failed" and said == ["error: cam_a: worker 0 could not start the stream: boom"]


def test_messages_name_a_file_source_as_written(tmp_path, monkeypatch, fake_ray):
    """Review finding 13: the fleet's lines showed the absolute path, not the source as written."""
    said = []
    monkeypatch.chdir(tmp_path)
    listed = tmp_path / "cams.txt"
    listed.write_text("rtsp://cam/a\n")
    fleet = _fleet(tmp_path, [_Worker()], said, sources=(), sources_file=listed)
    listed.write_text("rtsp://cam/a\nclips/missing.mp4\n")
    fleet._watch_sources_file()
    fleet._watch_sources_file()
    assert said == ["clips/missing.mp4: added to the sources file; starting",
                    "error: missing: video file not found: clips/missing.mp4; check the path"]


def test_earlier_outputs_in_out_dir_are_pointed_out(tmp_path, monkeypatch):
    """Review finding 11: an earlier run's files stayed next to the new ones, names unstable
    across runs, without a word."""
    from rtliveness.fleet import controller
    from rtliveness.fleet.controller import Fleet

    out = tmp_path / "o"
    out.mkdir()
    for name in ("door.jsonl", "door-2.jsonl", "door.epoch1.mp4", "notes.txt"):
        (out / name).write_text("x")
    said = []
    monkeypatch.setattr(controller, "check_options", lambda config: None)

    def refused(self, ray):
        raise ConfigError("stop here")

    monkeypatch.setattr(Fleet, "_init_ray", refused)
    with pytest.raises(ConfigError):
        Fleet(FleetConfig(sources=("rtsp://h/door",), out_dir=out, device="cpu"), log=said.append).start()
    assert said == [(f"warning: --out-dir {out} already holds 3 output files this run will not write (door-2.jsonl, "
                     "door.epoch1.mp4, door.jsonl); they are kept as they are: give each run an empty --out-dir to "
                     "tell them apart")]


def test_a_worker_stops_its_streams_together_not_one_after_another(monkeypatch, grace):
    """Review finding 9: stop_all stopped the streams one by one, and closing a dead camera waits
    out its timeouts (10-15 s), so one dead camera delayed every other stream of its worker."""
    import threading

    import rtliveness.runtime.sources as sources
    from rtliveness.fleet.actors import StreamWorker
    from rtliveness.types import Frame

    class DeadCamera:  # one frame, then a read that stalls until closed; closing takes 1.5 s
        is_live, fps, dropped = True, 10.0, 0

        def __init__(self, *args, **kwargs):
            self.closed = threading.Event()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.closed.set()
            return False

        def __iter__(self):
            yield Frame(0, grace, 0.0)
            self.closed.wait(30)
            yield Frame(1, grace, 0.1)  # the read the close ended

        def close(self):
            time.sleep(1.5)
            self.closed.set()

    monkeypatch.setattr(sources, "open_source", DeadCamera)
    worker = object.__new__(StreamWorker.__ray_actor_class__)  # the actor's own class, without Ray
    worker.runners = {n: _runner(f"rtsp://cam/{n}").start() for n in ("a", "b", "c")}
    t0 = time.monotonic()
    while any(r.frames < 1 for r in worker.runners.values()) and time.monotonic() - t0 < 30:
        time.sleep(0.01)
    t0 = time.monotonic()
    worker.stop_all()
    took = time.monotonic() - t0
    assert [r.stopped for r in worker.runners.values()] == ["stopped"] * 3
    assert took < 3.0, f"three dead cameras took {took:.1f} s to stop (one after another: 4.5 s)"


def test_the_scorer_batch_histogram_survives_a_scorer_restart_and_restarts_are_reported(tmp_path, fake_ray):
    """Review finding 10: fleet.json's batch histogram was read from the live scorer actors, so it
    went back down when Ray restarted one (counting from 0), and the restart was not reported."""
    class Scorer:
        def __init__(self, incarnation, histogram):
            self.answer = _Ref({"incarnation": incarnation, "embed": {"callers_histogram": histogram}})
            self.stats = self

        def remote(self):
            return self.answer

    a, b = Scorer("a1", {"1": 5, "2": 3}), Scorer("b1", {"1": 2})
    fleet = _fleet(tmp_path, [_Worker()])
    fleet.scorers = [a, b]
    doc = fleet._write_json()
    assert doc["scorer"]["batch_sizes"] == {"1": 7, "2": 3}
    before = doc["scorer"].get("restarts")
    a.answer = _Ref({"incarnation": "a2", "embed": {"callers_histogram": {"1": 1}}})  # Ray restarted scorer 0
    doc = fleet._write_json()
    assert doc["scorer"]["batch_sizes"] == {"1": 8, "2": 3}  # the first incarnation's 5 + 3 are kept
    assert (before, doc["scorer"]["restarts"]) == (0, 1) and [s["restarts"] for s in doc["scorer"]["batching"]] == [1, 0]
    a.answer = _Ref(ready=False)  # unreachable for now: its last read still counts, and it is shown as None
    doc = fleet._write_json()
    assert doc["scorer"]["batch_sizes"] == {"1": 8, "2": 3} and doc["scorer"]["batching"][0] is None
    a.answer = _Ref({"incarnation": "a2", "embed": {"callers_histogram": {"1": 4, "3": 1}}})  # back, not restarted
    doc = fleet._write_json(finished=True)
    assert doc["scorer"]["batch_sizes"] == {"1": 11, "2": 3, "3": 1} and doc["scorer"]["restarts"] == 1
    assert json.loads((tmp_path / "o" / "fleet.json").read_text())["scorer"] == doc["scorer"]


def test_a_stop_signal_while_ray_starts_interrupts_once_ray_init_has_returned(tmp_path, monkeypatch):
    """Review finding 7: Ctrl+C in the first seconds, inside ray.init, crashed the driver (exit -11
    after 'fleet interrupted') or left Ray's agents running. Ctrl+C, and SIGTERM taken over, are now
    held while ray.init starts Ray, then interrupt: Ray is shut down, the fleet ends 'interrupted'."""
    import os
    import signal

    import ray

    from rtliveness.fleet import controller
    from rtliveness.fleet.controller import run_fleet

    steps, given = [], {}

    def init(**kwargs):
        steps.append("init")
        given.update(kwargs)
        signal.signal(signal.SIGTERM, lambda signo, frame: steps.append("ray's own SIGTERM handler"))  # as Ray does
        os.kill(os.getpid(), signal.SIGTERM)  # a supervisor's stop (taken over as Ctrl+C), in the middle of ray.init
        time.sleep(0.05)  # delivered here, to the main thread (a second signal would be obeyed at once)
        steps.append("started")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: steps.append("shutdown"))
    monkeypatch.setattr(controller, "check_options", lambda config: None)
    monkeypatch.setattr(controller.Fleet, "_start_actors", lambda self, ray: steps.append("actors"))
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    term = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a shell leaves it: the fleet takes it over
    try:
        result = run_fleet(FleetConfig(sources=("a.mp4",), out_dir=tmp_path / "o", device="cpu"), log=lambda line: None)
        assert steps == ["init", "started", "shutdown"]  # not cut inside ray.init; Ray shut down; no actor started
        # a Ray of its own: without an address ray.init joined a Ray already running on the machine
        # (another fleet's, a 'ray start --head') and refused num_cpus: "unexpected ValueError"
        assert given["address"] == "local" and given["num_cpus"] >= 1
        assert result == {"finished": True, "stopped": "interrupted", "sources": {}}
        assert not (tmp_path / "o").exists()
        assert signal.getsignal(signal.SIGINT) is before[signal.SIGINT] and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, term)
    assert signal.signal is not None and {s: signal.getsignal(s) for s in before} == before


def test_interrupts_held_leaves_other_signals_and_threads_alone():
    """The hold of finding 7 takes only the stop signals, on the main thread only."""
    import os
    import signal
    import threading

    from rtliveness.runtime.stopsignals import interrupts_held

    real, got = signal.signal, []
    with interrupts_held() as noted:
        previous = signal.signal(signal.SIGUSR1, lambda signo, frame: got.append(signo))  # not a stop signal: set
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        signal.signal(signal.SIGUSR1, previous)
    assert got == [signal.SIGUSR1] and noted == [] and signal.signal is real  # nothing held: no interrupt
    out = []
    t = threading.Thread(target=lambda: out.append(interrupts_held().__enter__()))
    t.start()
    t.join()
    assert out == [[]] and signal.signal is real  # off the main thread nothing changes
    with pytest.raises(KeyboardInterrupt), interrupts_held():  # Ctrl+C inside: noted, then the interrupt
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and signal.signal is real
    # a second Ctrl+C while held (ray.init hanging): obeyed at once, not after the call
    reached = []
    with pytest.raises(KeyboardInterrupt), interrupts_held() as noted:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        reached.append("after")
    assert reached == [] and noted == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and signal.signal is real
