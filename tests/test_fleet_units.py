"""The fleet's Ray-free parts: names, the sources file, epochs merged into one summary, and a
stream runner resuming after a restart without repeating a frame or a track."""

import json

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
    led.update({"frames": 10, "seconds": 2.0, "dropped": 0, "stopped": None, "error": None,
                "tracks": [{"track": 1, "windows": 6, "mean_p_spoof": 0.1, "label": "live"}]})
    led.new_epoch()  # the worker died: resumed
    led.add_records([{"frame": i, "time": 0.0, "faces": [{"track": 2}]} for i in range(10, 20)])
    led.update({"frames": 10, "seconds": 3.0, "dropped": 1, "stopped": "end", "error": None,
                "tracks": [{"track": 2, "windows": 6, "mean_p_spoof": 0.2, "label": "live"}]})
    s = led.summary()
    assert set(s) == {"source", "frames", "seconds", "fps", "dropped", "stopped", "error", "tracks"}
    assert (s["frames"], s["seconds"], s["fps"], s["dropped"], s["stopped"]) == (20, 5.0, 4.0, 1, "end")
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
