"""The Sink protocol: ``write(frame, result)`` + ``close()`` (+ optional ``end(summary)``), the
built-in sinks, and a fourth sink written by a test in a few lines."""

import json

import numpy as np
import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline, moving_face_frames, read_frames, write_video
from rtliveness.errors import ConfigError
from rtliveness.runtime.app import process_source
from rtliveness.runtime.progress import FpsMeter
from rtliveness.runtime.sinks import JsonlSink, MemorySink, Sink, StopRequested, VideoSink, check_output_paths
from rtliveness.runtime.sources import ArraySource, FileSource
from rtliveness.types import FaceBox, Frame, FrameResult, TrackSummary, Verdict

BOX = FaceBox(40, 60, 160, 180, 0.99)


class ListSink:
    """A fourth sink: everything a new sink (WebSocket, Redis …) needs is these two methods."""

    def __init__(self):
        self.got: list[tuple[int, tuple, int, int]] = []
        self.closed = 0

    def write(self, frame, result):
        self.got.append((frame.index, frame.image_bgr.shape, result.frame_index, len(result.faces)))

    def close(self):
        self.closed += 1


def test_a_new_sink_gets_every_frame_of_a_real_video_and_is_closed(tmp_path, grace):
    video = write_video(tmp_path / "v.mp4", moving_face_frames(grace, 24))
    mine, mem = ListSink(), MemorySink(keep_images=True)
    assert isinstance(mine, Sink) and isinstance(mem, Sink)
    pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
    with FileSource(video) as src:
        report = process_source(pipe, src, sinks=[mine, mem])
    assert report.frames == 24 and report.stopped == "end"
    assert [g[0] for g in mine.got] == list(range(24))  # every frame, in order, once
    assert all(g[0] == g[2] for g in mine.got)  # each frame arrives with its own result
    assert all(g[1] == (240, 320, 3) and g[3] == 1 for g in mine.got)
    assert mine.closed == 1
    # MemorySink: every result, the frames (decoded pixels: the moving face), end(summary) then close
    assert [r.frame_index for r in mem.results] == list(range(24)) and len(mem.frames) == 24
    assert np.abs(mem.frames[10].image_bgr.astype(int) - read_frames(video)[10].astype(int)).max() == 0
    assert mem.closed
    s = mem.summary
    assert s == report.to_json()
    assert s["frames"] == 24 and s["stopped"] == "end" and s["error"] is None
    assert len(s["tracks"]) == 1 and s["tracks"][0]["windows"] == 20 and s["tracks"][0]["frames"] == 24


def test_end_comes_once_before_close_and_sinks_are_finalised_on_errors(tmp_path):
    calls = []

    class Recorder:
        def __init__(self, name, fail_write_at=None, fail_close=False):
            self.name, self.fail_write_at, self.fail_close = name, fail_write_at, fail_close

        def write(self, frame, result):
            calls.append((self.name, "write", frame.index))
            if frame.index == self.fail_write_at:
                raise RuntimeError(f"{self.name} broke")

        def end(self, summary):
            calls.append((self.name, "end", summary["stopped"]))

        def close(self):
            calls.append((self.name, "close"))
            if self.fail_close:
                raise OSError("disk gone")

    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    frames = [np.zeros((30, 40, 3), np.uint8)] * 6
    with pytest.raises(RuntimeError, match="a broke"):
        process_source(pipe, ArraySource(frames), sinks=[Recorder("a", fail_write_at=2), Recorder("b")])
    # b never saw frame 2 (a raised first); both were told the run ended in an error, then closed
    assert calls[-4:] == [("a", "end", "error"), ("a", "close"), ("b", "end", "error"), ("b", "close")]
    assert ("b", "write", 2) not in calls and ("b", "write", 1) in calls

    calls.clear()
    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    with pytest.raises(OSError, match="disk gone"):  # a failing close does not keep others open
        process_source(pipe, ArraySource(frames), sinks=[Recorder("a", fail_close=True), Recorder("b")])
    assert calls[-3:] == [("a", "close"), ("b", "end", "end"), ("b", "close")]


def test_stop_requested_by_a_sink_ends_the_run_as_user():
    class StopAt3:
        closed = False

        def write(self, frame, result):
            if frame.index == 3:
                raise StopRequested("q pressed")

        def close(self):
            self.closed = True

    stop, mem = StopAt3(), MemorySink()
    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    report = process_source(pipe, ArraySource([np.zeros((30, 40, 3), np.uint8)] * 10), sinks=[stop, mem])
    # frame 3 reached no sink after the one that stopped (run's window comes before the video and
    # the JSON lines): 3 frames, as the outputs hold (it said 4)
    assert report.stopped == "user" and report.frames == 3 and len(mem.results) == 3
    assert stop.closed and mem.closed and mem.summary["stopped"] == "user"


def test_on_result_and_shortcuts_are_sinks_too(tmp_path):
    seen = []
    pipe = fake_pipeline(FakeDetector([(FaceBox(5, 5, 25, 25),)]), FakeScorer())
    jl = tmp_path / "o.jsonl"
    report = process_source(pipe, ArraySource([np.full((40, 40, 3), 200, np.uint8)] * 7), jsonl=jl,
                            on_result=seen.append, max_frames=6)
    assert [r.frame_index for r in seen] == list(range(6)) and report.stopped == "max_frames"
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert [x["frame"] for x in lines[:-1]] == list(range(6)) and lines[-1]["summary"]["frames"] == 6


def _result(i, label, p):
    return FrameResult(i, i / 10, (Verdict(1, FaceBox(20, 20, 80, 80), p, label),))


def test_jsonl_and_video_sinks_take_frame_and_result(tmp_path):
    img = np.full((120, 160, 3), 100, np.uint8)
    frames = [Frame(i, img, i / 10) for i in range(4)]
    results = [_result(0, "pending", None), _result(1, "live", 0.2), _result(2, "spoof", 0.9), _result(3, "spoof", 0.8)]
    js = JsonlSink(tmp_path / "o.jsonl")
    meter = FpsMeter()
    vs = VideoSink(tmp_path / "o.avi", 10, meter=meter)
    for i, (f, r) in enumerate(zip(frames, results)):
        meter.tick()
        js.write(f, r)
        vs.write(f, r)
        # each line is in the file as soon as it is written (a crash loses no whole line)
        assert len((tmp_path / "o.jsonl").read_text().splitlines()) == i + 1
    js.end({"frames": 4})
    js.close()
    vs.close()
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [x["faces"][0]["label"] for x in lines[:-1]] == ["pending", "live", "spoof", "spoof"]
    assert lines[-1] == {"summary": {"frames": 4}}
    out = read_frames(tmp_path / "o.avi")
    assert len(out) == 4 and out[0].shape == (120, 160, 3)
    # the overlay is drawn by the video sink: a green box for live, a red one for spoof
    def edge(fr):  # mean BGR of the box's left edge
        return fr[50, 19:22].astype(int).mean(axis=0)

    g, r = edge(out[1]), edge(out[2])
    assert g[1] > g[2] + 60 and r[2] > r[1] + 60
    assert np.abs(out[1][100:, 100:].astype(int) - 100).max() < 8  # away from the box: the frame itself
    # the source frame was not drawn on
    assert (img == 100).all()


def test_video_sink_refuses_unknown_extension_and_missing_folder(tmp_path):
    from rtliveness.errors import ConfigError

    with pytest.raises(ConfigError, match="unsupported output video extension"):
        VideoSink(tmp_path / "o.gif", 25)
    with pytest.raises(ConfigError, match="folder does not exist"):
        JsonlSink(tmp_path / "no" / "o.jsonl")


def test_frames_a_codec_cannot_take_are_the_error_not_a_full_disk(tmp_path):
    """A 9000x3000 panorama or a 1 px picture: mp4v and XVID refuse the size. The cause is the
    error (it was hidden by 'could not be finalised … the disk may be full', exit 7), the run's
    summary says so, and no file is left; MJPG (.avi) takes the same frames."""
    pano = np.full((3000, 9000, 3), 90, np.uint8)
    for name, fourcc in (("o.mp4", "mp4v"), ("o.mkv", "XVID")):
        jl = tmp_path / f"{name}.jsonl"
        pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
        with pytest.raises(ConfigError) as ei:
            process_source(pipe, ArraySource([pano] * 2), out=tmp_path / name, jsonl=jl)
        assert str(ei.value) == (f"cannot write video {tmp_path / name}: its {fourcc} codec takes 2 to 8191 pixels a side, "
                                 "the frames are 9000x3000; write an .avi (MJPG) or give a smaller input")
        assert json.loads(jl.read_text().splitlines()[-1])["summary"]["error"] == str(ei.value)
        assert not (tmp_path / name).exists()
    sink = VideoSink(tmp_path / "one.mp4", 25)
    with pytest.raises(ConfigError, match=r"takes 2 to 8191 pixels a side, the frames are 1x1"):
        sink.write_image(np.zeros((1, 1, 3), np.uint8))
    sink.close()  # nothing opened, nothing to finalise
    avi = VideoSink(tmp_path / "o.avi", 25)
    avi.write_image(pano)
    avi.close()
    assert read_frames(tmp_path / "o.avi")[0].shape == pano.shape


def test_json_lines_whose_file_was_removed_while_running_are_an_output_error(tmp_path):
    """The --jsonl folder removed mid-run: the lines went to an unlinked file, exit 0 and nothing
    said (the video in the same case was exit 7). Now the summary's end says so."""
    import shutil

    from rtliveness.errors import OutputError

    folder = tmp_path / "out"
    folder.mkdir()
    js = JsonlSink(folder / "o.jsonl")
    js.write_obj({"frame": 0})
    shutil.rmtree(folder)
    with pytest.raises(OutputError) as ei:
        js.end({"frames": 1})
    js.close()
    assert str(ei.value) == (f"the JSON lines file {folder / 'o.jsonl'} was removed while running (its 2 lines are lost); "
                             "keep its folder, or choose another --jsonl")
    kept = JsonlSink(tmp_path / "kept.jsonl")
    kept.end({"frames": 0})  # a file still there: no error
    kept.close()


def test_closed_jsonl_sink_refuses_writes(tmp_path):
    js = JsonlSink(tmp_path / "o.jsonl")
    js.close()
    js.close()  # idempotent
    from rtliveness.errors import ClosedError

    with pytest.raises(ClosedError, match=r"^JSON lines sink .* is closed; open a new JsonlSink$"):
        js.write(Frame(0, np.zeros((4, 4, 3), np.uint8), 0.0), FrameResult(0, 0.0))


def test_jsonl_that_cannot_be_opened_is_one_config_error(tmp_path):
    (tmp_path / "f.txt").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match=r"cannot write JSON lines .*x\.jsonl: Not a directory; check the path"):
        JsonlSink(tmp_path / "f.txt" / "x.jsonl")


def test_outputs_must_not_name_the_source_or_each_other(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(src)
    (tmp_path / "sub").mkdir()
    check_output_paths(src, tmp_path / "o.mp4", tmp_path / "o.jsonl")  # distinct: fine
    check_output_paths(None, tmp_path / "o.mp4", None)                # a camera: no source file
    with pytest.raises(ConfigError, match="--out is the source file itself"):
        check_output_paths(src, tmp_path / "link.mp4", None)           # through a link too
    with pytest.raises(ConfigError, match="--jsonl is the source file itself"):
        check_output_paths(str(src), None, tmp_path / "." / "in.mp4")
    with pytest.raises(ConfigError, match="--out and --jsonl are the same file"):
        check_output_paths(src, tmp_path / "o.mp4", tmp_path / "sub" / ".." / "o.mp4")


def test_process_source_refuses_outputs_that_would_overwrite_its_input(tmp_path, grace):
    """A host calling process_source (examples/video_file.py) had no such check: jsonl= naming the
    source turned the video into a JSON lines file; out= and jsonl= naming one file failed only
    at the end ('the disk may be full')."""
    video = write_video(tmp_path / "in.mp4", moving_face_frames(grace, 6))
    before = video.read_bytes()
    for kw, words in (({"jsonl": video}, "^jsonl= is the source file itself"),
                      ({"out": tmp_path / "o.mp4", "jsonl": tmp_path / "o.mp4"}, "^out= and jsonl= are the same file")):
        pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
        with FileSource(video) as src, pytest.raises(ConfigError, match=words):
            process_source(pipe, src, **kw)
    assert video.read_bytes() == before and not (tmp_path / "o.mp4").exists()


def test_process_source_takes_a_source_named_what_no_file_system_can_look_up(tmp_path, grace):
    """An upload's client-given name (the service) is a source's name too: 300 characters made
    the output check's is_file() raise ENAMETOOLONG, and the service answer 500."""
    video = write_video(tmp_path / "in.mp4", moving_face_frames(grace, 6))
    for name in ("a" * 300 + ".mp4", "nul\0byte.mp4"):
        pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
        with FileSource(video) as src:
            src.name = name
            report = process_source(pipe, src, jsonl=tmp_path / "o.jsonl")
            assert report.frames == 6
        assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 7
        pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
        with FileSource(video) as src:
            src.name = name
            assert process_source(pipe, src).frames == 6


class _FullAfter:
    """A file object that takes ``room`` more bytes, then fails as a full disk does (part of a write first)."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self.room = fh, room

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(28, "No space left on device")
        n = min(len(data), self.room)
        self.room -= n
        return self._fh.write(bytes(data[:n]))

    def __getattr__(self, name):
        return getattr(self._fh, name)


@pytest.mark.parametrize("own", [True, False], ids=["its-own-file", "standard-output"])
def test_a_line_that_cannot_be_written_whole_is_cut_back_only_from_a_file_the_sink_opened(tmp_path, own):
    from rtliveness.errors import OutputError

    path = tmp_path / "o.jsonl"
    js = JsonlSink(path)
    js._own = own  # standard output (--jsonl -) may hold other writers' lines: never cut back
    js.write_obj({"frame": 0})
    js._fh = _FullAfter(js._fh, 5)
    with pytest.raises(OutputError, match=r"No space left on device after 1 line \(written whole\); free disk space"):
        js.write_obj({"frame": 1})
    with pytest.raises(OutputError):  # the sink stays failed
        js.write_obj({"frame": 2})
    js.end({"frames": 3})  # nothing more is written after a failure
    js.close()
    assert path.read_text() == ('{"frame":0}\n' if own else '{"frame":0}\n{"fra')


# ---------------------------------------------------------------- API integrator review (2026-12-07)
def test_a_pipeline_reused_across_clips_reports_each_clips_own_tracks(tmp_path):
    """Batch processing with one pipeline and reset() between clips (as the README advises): each
    summary listed every earlier clip's tracks too, a 'live' track in an attack video's summary."""
    class TwoFaces(FakeDetector):  # one face in the first clip, another place in the second
        def detect(self, image, region=None, min_face=None):
            return (BOX,) if image.mean() < 100 else (FaceBox(90, 60, 150, 120, 0.99),)

    pipe = fake_pipeline(TwoFaces([()]), FakeScorer())
    first = process_source(pipe, ArraySource([np.full((240, 320, 3), 50, np.uint8)] * 6), jsonl=tmp_path / "a.jsonl")
    pipe.reset()
    second = process_source(pipe, ArraySource([np.full((240, 320, 3), 200, np.uint8)] * 6), jsonl=tmp_path / "b.jsonl")
    assert [t.track_id for t in first.tracks] == [1] and [t.track_id for t in second.tracks] == [2]
    summary = json.loads((tmp_path / "b.jsonl").read_text().splitlines()[-1])["summary"]
    assert [t["track"] for t in summary["tracks"]] == [2] and summary["tracks"][0]["label"] == "spoof"


def test_a_track_carried_into_the_next_clip_counts_only_that_clips_frames(tmp_path):
    """The same pipeline without reset() between clips (a review, 2026-12-07): the attack clip's
    track continued the live clip's, and its summary counted both clips (12 frames, 8 windows,
    a mean pulled towards live), the README saying a run's summary is its own."""
    pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
    first = process_source(pipe, ArraySource([np.full((240, 320, 3), 50, np.uint8)] * 6))
    second = process_source(pipe, ArraySource([np.full((240, 320, 3), 200, np.uint8)] * 6), jsonl=tmp_path / "b.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    (a,), (b,) = first.tracks, second.tracks
    assert (a.track_id, a.frames, a.windows) == (1, 6, 2) and a.mean_p_spoof == pytest.approx(50 / 255)
    # its windows in this clip: 1..5 crops of 200 after 4..0 of 50, then one more of 200 alone
    assert (b.track_id, b.frames, b.windows, b.label) == (1, 6, 6, "spoof")
    assert (b.first_frame, b.last_frame) == (lines[0]["frame"], lines[-2]["frame"])
    assert b.mean_p_spoof == pytest.approx((80 + 110 + 140 + 170 + 200 + 200) / 6 / 255)
    assert lines[-1]["summary"]["tracks"] == [b.to_json()]
    assert pipe.track_summaries() == (TrackSummary(1, a.first_frame, b.last_frame, 12, 8, pytest.approx((100 + 900) / 8 / 255), "live"),)  # what it said: live


def test_process_source_takes_plain_images_as_run_does(tmp_path):
    """pipeline.run() and decide() take arrays; process_source(iter(arrays), out=...) failed with an
    AttributeError and a summary of 1 frame over 0 lines, its source an object's address."""
    images = [np.full((240, 320, 3), 90, np.uint8) for _ in range(6)]
    pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
    report = process_source(pipe, iter(images), out=tmp_path / "o.mp4", jsonl=tmp_path / "o.jsonl")
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert report.frames == 6 and len(lines) == 7 and report.source == "<list_iterator>"
    assert [json.loads(x)["frame"] for x in lines[:-1]] == list(range(6))
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    cap.release()


def test_a_frame_a_sink_failed_on_is_not_counted(tmp_path):
    """A user sink that raised on frame 5: the JSON lines held 5 frames, the summary said 6."""
    class FailsAt5(Sink):
        def write(self, frame, result):
            if frame.index == 5:
                raise RuntimeError("host sink failed")

    pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
    with pytest.raises(RuntimeError, match="host sink failed"):
        process_source(pipe, ArraySource([np.full((240, 320, 3), 90, np.uint8)] * 9), [FailsAt5()],
                       jsonl=tmp_path / "o.jsonl")
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    summary = json.loads(lines[-1])["summary"]
    assert summary["frames"] == len(lines) - 1 == 5 and summary["stopped"] == "error"


def test_a_closed_file_source_is_refused_not_read_as_an_empty_video(tmp_path, grace):
    from rtliveness.errors import ClosedError

    src = FileSource(write_video(tmp_path / "v.mp4", moving_face_frames(grace, 6)))
    src.close()
    pipe = fake_pipeline(FakeDetector([(BOX,)]), FakeScorer())
    with pytest.raises(ClosedError, match="is closed; open the file again"):
        process_source(pipe, src)
