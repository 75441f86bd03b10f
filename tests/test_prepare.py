"""``prepare_videos`` (labelled videos → 5-crop samples) with a scripted detector on real video
files: window placement, the face follower dropping windows with a gap, numbering, errors."""

import json
import shutil

import cv2
import numpy as np
import pytest

from conftest import read_frames, write_video
from rtliveness.errors import ConfigError, DataError
from rtliveness.runtime.crop import crop_face
from rtliveness.training.prepare import VIDEO_EXT, labelled_videos, prepare_videos
from rtliveness.types import FaceBox

BOX = FaceBox(100, 60, 180, 160, 0.99)


class ScriptedDetector:
    """The same face on every frame except the frames listed in ``missing``."""

    def __init__(self, missing=()):
        self.missing = set(missing)
        self.calls = 0

    def detect(self, image_bgr, region=None, min_face=None):
        i = self.calls
        self.calls += 1
        return () if i in self.missing else (BOX,)


def numbered_video(path, n):
    """Frame i has grey level 10 * i + 5 (so a crop tells which frame it came from)."""
    return write_video(path, [np.full((240, 320, 3), 10 * i + 5, np.uint8) for i in range(n)], fourcc="MJPG")


def frame_of(png) -> int:
    return int(round((cv2.imread(str(png)).mean() - 5) / 10))


def test_windows_stride_step_and_crops(tmp_path):
    video = numbered_video(tmp_path / "clip.avi", 20)
    out = tmp_path / "d"
    rep = prepare_videos([(video, "real")], out, ScriptedDetector(), 1.5, 32, stride=2, window_step=4)
    # span (5-1)*2 = 8 frames: windows start at 0, 4, 8, 12 (12 + 8 = 20 > 19 ends it)
    assert rep == {"written": 3, "dropped": 0, "per_class": {"real": 3, "replay": 0, "printed": 0, "2dmask": 0},
                   "videos": [{"video": str(video), "class": "real", "person": "clip", "samples": 3, "dropped": 0, "skipped": False,
                                "frames": 20}]}
    samples = sorted((out / "real").iterdir())
    assert [s.name for s in samples] == ["real_clip_00000", "real_clip_00001", "real_clip_00002"]
    assert [[frame_of(s / f"{j}.png") for j in range(5)] for s in samples] == [
        [0, 2, 4, 6, 8], [4, 6, 8, 10, 12], [8, 10, 12, 14, 16]]
    frames = read_frames(video)
    np.testing.assert_array_equal(cv2.imread(str(samples[1] / "0.png")), crop_face(frames[4], BOX, 1.5, 32))
    assert json.loads((out / "rtliveness_data.json").read_text())["crop_scale"] == 1.5


def test_a_window_with_a_missed_detection_is_dropped(tmp_path):
    video = numbered_video(tmp_path / "v.avi", 15)
    rep = prepare_videos([(video, "printed")], tmp_path / "d", ScriptedDetector(missing={7}), 1.5, 32)
    # windows 0-4, 5-9 (frame 7 missing: dropped), 10-14
    assert rep["written"] == 2 and rep["dropped"] == 1
    firsts = sorted(frame_of(s / "0.png") for s in (tmp_path / "d" / "printed").iterdir())
    assert firsts == [0, 10]


def test_numbering_continues_and_max_samples(tmp_path):
    video = numbered_video(tmp_path / "v.avi", 15)
    out = tmp_path / "d"
    prepare_videos([(video, "replay")], out, ScriptedDetector(), 1.5, 32, person="Ann", max_samples=2)
    rep = prepare_videos([(video, "replay")], out, ScriptedDetector(), 1.5, 32, person="Ann")
    assert rep["written"] == 3
    assert sorted(p.name for p in (out / "replay").iterdir()) == [f"replay_ann_{k:05d}" for k in range(5)]
    # the whole cut is recorded: the same video again is skipped (review finding: a rerun duplicated it)
    seen = []
    again = prepare_videos([(video, "replay")], out, ScriptedDetector(), 1.5, 32, person="Ann", on_video=seen.append)
    assert again["written"] == 0 and seen == [{"video": str(video), "class": "replay", "person": "ann", "samples": 3,
                                               "dropped": 0, "skipped": True}]
    assert prepare_videos([(video, "replay")], out, ScriptedDetector(), 1.5, 32, person="Bo")["written"] == 3  # another person
    with pytest.raises(DataError, match="holds crops at scale 1.5, not 2.0"):
        prepare_videos([(video, "replay")], out, ScriptedDetector(), 2.0, 32)
    with pytest.raises(DataError, match=r"holds crops of 32 px, not 64; use --crop-size 32 or another --out"):
        prepare_videos([(video, "replay")], out, ScriptedDetector(), 1.5, 64)  # review finding: sizes were mixed


def test_an_interrupted_prepare_leaves_only_whole_samples(tmp_path, monkeypatch):
    """A crash while a sample's crops are written (here on its 4th crop of the 2nd sample) leaves
    nothing of the video being cut but a hidden folder, which datasets skip and the next run
    replaces: the samples it had written are removed, so running again cuts it whole, once
    (review finding: a rerun after Ctrl+C duplicated the samples written before it)."""
    from rtliveness.training import files as prep
    from rtliveness.training.data import scan_dataset

    video = numbered_video(tmp_path / "v.avi", 15)
    out = tmp_path / "d"
    real_write, written = cv2.imwrite, []

    def failing_write(path, image):
        written.append(path)
        if len(written) == 9:
            raise KeyboardInterrupt
        return real_write(path, image)

    monkeypatch.setattr(prep.cv2, "imwrite", failing_write)
    with pytest.raises(KeyboardInterrupt):
        prepare_videos([(video, "real")], out, ScriptedDetector(), 1.5, 32)
    assert sorted(p.name for p in (out / "real").iterdir()) == [".real_v_00001.partial"]
    with pytest.raises(DataError, match="no usable samples"):  # nothing of the unfinished video
        scan_dataset(out)
    monkeypatch.setattr(prep.cv2, "imwrite", real_write)
    assert prepare_videos([(video, "real")], out, ScriptedDetector(), 1.5, 32)["written"] == 3
    assert sorted(p.name for p in (out / "real").iterdir()) == [f"real_v_{k:05d}" for k in range(3)]
    # a crop that cannot be written (OpenCV returns False) is one DataError naming it
    other = numbered_video(tmp_path / "w.avi", 15)
    monkeypatch.setattr(prep.cv2, "imwrite", lambda path, image: False)
    with pytest.raises(DataError, match=r"could not write .*\.real_w_00000\.partial/0\.png; check the disk"):
        prepare_videos([(other, "real")], out, ScriptedDetector(), 1.5, 32)


def test_errors(tmp_path):
    video = numbered_video(tmp_path / "v.avi", 6)
    with pytest.raises(DataError, match="unknown label 'deepfake'"):
        prepare_videos([(video, "deepfake")], tmp_path / "d", ScriptedDetector(), 1.5, 32)
    with pytest.raises(ConfigError, match=r"^--stride and --step must be >= 1 frame, got 0 and 5$"):
        prepare_videos([(video, "real")], tmp_path / "d", ScriptedDetector(), 1.5, 32, stride=0)


def test_labelled_videos_from_class_folders(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "2dmask").mkdir()
    numbered_video(tmp_path / "real" / "b.avi", 3)
    numbered_video(tmp_path / "2dmask" / "a.avi", 3)
    (tmp_path / "real" / "notes.txt").write_text("ignored")
    (tmp_path / "real" / "C.MOV").write_bytes(b"a phone's upper-case extension")
    (tmp_path / "real" / "d.3gp").write_bytes(b"a phone video")
    (tmp_path / "real" / "ann").mkdir()  # a person's folder: several recordings, one person
    numbered_video(tmp_path / "real" / "ann" / "1.avi", 8)
    numbered_video(tmp_path / "real" / "ann" / "2.avi", 3)
    warned = []
    assert labelled_videos(tmp_path, warn=warned.append) == [
        (tmp_path / "2dmask" / "a.avi", "2dmask"), (tmp_path / "real" / "C.MOV", "real"),
        (tmp_path / "real" / "ann" / "1.avi", "real", "ann"), (tmp_path / "real" / "ann" / "2.avi", "real", "ann"),
        (tmp_path / "real" / "b.avi", "real"), (tmp_path / "real" / "d.3gp", "real")]
    assert warned == ["left out 1 file that is not a video (" + ", ".join(VIDEO_EXT) + "): real/notes.txt"]
    cv2.imwrite(str(tmp_path / "real" / "e.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r"e\.jpg is a photo: prepare cuts videos"):  # review finding: it was skipped silently
        labelled_videos(tmp_path)
    (tmp_path / "real" / "e.jpg").unlink()
    rep = prepare_videos([(tmp_path / "real" / "ann" / "1.avi", "real", "ann")], tmp_path / "out", ScriptedDetector(), 1.5, 32)
    assert rep["videos"][0]["person"] == "ann" and (tmp_path / "out" / "real" / "real_ann_00000").is_dir()
    for name in ("C.MOV", "d.3gp"):
        (tmp_path / "real" / name).unlink()
    shutil.rmtree(tmp_path / "real" / "ann")
    (tmp_path / "cartoon").mkdir()
    with pytest.raises(DataError, match="unknown class folder"):
        labelled_videos(tmp_path)
    (tmp_path / "cartoon").rmdir()
    empty = tmp_path / "empty"
    (empty / "real").mkdir(parents=True)
    with pytest.raises(DataError, match="no videos"):
        labelled_videos(empty)
    with pytest.raises(DataError, match="is not a folder"):
        labelled_videos(tmp_path / "real" / "b.avi")



class ScriptedLoop:
    """Stands in for a LivenessPipeline: ``step`` returns the scripted (track_id, box) faces of each frame."""

    def __init__(self, script):
        self.script = script
        self.i = 0
        self.resets = 0

    def reset(self):
        self.resets += 1

    def step(self, image):
        from rtliveness.types import FrameResult, Verdict

        faces = self.script[min(self.i, len(self.script) - 1)]
        self.i += 1
        return FrameResult(self.i - 1, float(self.i - 1), tuple(Verdict(t, b, None, "pending") for t, b in faces))


def test_loop_boxes_follow_the_largest_face_then_its_track():
    from rtliveness.training.prepare import LoopBoxes

    small, big = FaceBox(0, 0, 20, 20, 0.9), FaceBox(50, 50, 110, 110, 0.9)
    loop = LoopBoxes(ScriptedLoop([[], [(1, small), (2, big)], [(1, big), (2, small)], [(1, small)], [(3, big)]]))
    loop.reset()
    assert loop.pipeline.resets == 1
    # nothing, then the larger face (track 2), kept while it lasts although track 1 grows, then the largest left
    assert [loop(None) for _ in range(5)] == [None, (2, big), (2, small), (1, small), (3, big)]


def test_loop_boxes_near_a_box_follow_the_face_found_there():
    from rtliveness.training.prepare import LoopBoxes

    small, big = FaceBox(0, 0, 20, 20, 0.9), FaceBox(50, 50, 110, 110, 0.9)
    script = [[(1, small), (2, big)], [(1, small), (2, big)], [(2, big)], [(2, big), (4, small)]]
    loop = LoopBoxes(ScriptedLoop(script))
    # the renderer put the face at the small box: that track, not the largest, and nothing once it is gone
    loop.reset(near=FaceBox(2, 1, 21, 22, 0.9), min_iou=0.5)
    assert [loop(None) for _ in range(4)] == [(1, small), (1, small), None, (4, small)]
    # no face overlapping the given box by min_iou: none is followed
    loop = LoopBoxes(ScriptedLoop(script))
    loop.reset(near=FaceBox(200, 200, 240, 240, 0.9))
    assert loop(None) is None
    # a plain reset forgets the box: the largest face again
    loop.reset()
    assert loop(None) == (2, big)


def test_windows_from_the_loop_need_one_track_on_all_five_frames(tmp_path):
    from rtliveness.training.prepare import LoopBoxes

    video = numbered_video(tmp_path / "v.avi", 15)
    other = FaceBox(10, 10, 60, 70, 0.9)
    script = [[(1, BOX)]] * 7 + [[]] + [[(2, other)]] * 2 + [[(2, BOX)]] * 5
    rep = prepare_videos([(video, "real")], tmp_path / "d", LoopBoxes(ScriptedLoop(script)), 1.5, 32)
    # windows 0-4 (track 1), 5-9 (frame 7 has no face: dropped), 10-14 (track 2)
    assert rep["written"] == 2 and rep["dropped"] == 1
    frames = read_frames(video)
    s1 = tmp_path / "d" / "real" / "real_v_00001"
    assert [frame_of(s1 / f"{j}.png") for j in range(5)] == [10, 11, 12, 13, 14]
    np.testing.assert_array_equal(cv2.imread(str(s1 / "0.png")), crop_face(frames[10], BOX, 1.5, 32))
    # a window whose frames belong to two tracks is dropped too
    script = [[(1, BOX)]] * 3 + [[(2, BOX)]] * 12
    rep = prepare_videos([(video, "real")], tmp_path / "e", LoopBoxes(ScriptedLoop(script)), 1.5, 32)
    assert rep["written"] == 2 and rep["dropped"] == 1


def test_resume_rules_same_video_twice_settings_and_videos_without_a_sample(tmp_path):
    """Review findings on the resume: a video given twice in one run was cut twice; a video that
    gave no sample was recorded, so the rerun the warning asks for (another --min-face) skipped it;
    the detector's settings were not part of what makes a cut the same cut."""
    video = numbered_video(tmp_path / "v.avi", 15)
    out = tmp_path / "d"
    rep = prepare_videos([(video, "real"), (video, "real")], out, ScriptedDetector(), 1.5, 32)
    assert rep["written"] == 3 and [v["skipped"] for v in rep["videos"]] == [False, True]
    again = prepare_videos([(video, "real")], out, ScriptedDetector(), 1.5, 32, settings={"min_face": 40})
    assert again["written"] == 3  # other detector settings: another cut
    blind = ScriptedDetector(missing=set(range(100)))
    wall = numbered_video(tmp_path / "wall.avi", 15)
    assert prepare_videos([(wall, "printed")], out, blind, 1.5, 32)["videos"][0]["samples"] == 0
    second = prepare_videos([(wall, "printed")], out, ScriptedDetector(), 1.5, 32)["videos"][0]
    assert second["skipped"] is False and second["samples"] == 3


def test_videos_in_folders_below_a_person_folder_are_that_persons(tmp_path):
    """Review finding: `real/alice/monday/1.mp4` (a person's recordings sorted by session) was left
    out without a word; a tree holding only such videos was 'no videos in class folders'."""
    for folder in ("real/alice/monday", "real/alice/tuesday", "printed/alice"):
        (tmp_path / folder).mkdir(parents=True)
    numbered_video(tmp_path / "real" / "alice" / "monday" / "1.avi", 3)
    numbered_video(tmp_path / "real" / "alice" / "tuesday" / "2.avi", 3)
    numbered_video(tmp_path / "printed" / "alice" / "3.avi", 3)
    numbered_video(tmp_path / "4.avi", 3)  # beside the class folders: named, not left out in silence
    warned = []
    assert labelled_videos(tmp_path, warn=warned.append) == [
        (tmp_path / "printed" / "alice" / "3.avi", "printed", "alice"),
        (tmp_path / "real" / "alice" / "monday" / "1.avi", "real", "alice"),
        (tmp_path / "real" / "alice" / "tuesday" / "2.avi", "real", "alice")]
    assert warned == [f"left out 1 video outside the class folders of {tmp_path} (4.avi): move it into real, replay, printed, 2dmask"]


def test_an_unreadable_video_is_left_out_and_the_others_are_cut(tmp_path):
    """Review finding: one zero-byte or undecodable .mp4 (a half-copied recording) stopped the
    whole run, and a fresh dataset folder was left with an empty class folder and its metadata."""
    from rtliveness.errors import SourceOpenError

    good = numbered_video(tmp_path / "good.avi", 15)
    empty = tmp_path / "half.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 100)
    out = tmp_path / "d"
    seen = []
    rep = prepare_videos([(empty, "printed"), (good, "real"), (junk, "replay")], out, ScriptedDetector(), 1.5, 32,
                         on_video=seen.append)
    assert rep["written"] == 3 and rep["per_class"]["real"] == 3
    assert [v.get("error") for v in rep["videos"]] == [
        f"video file is empty (0 bytes): {empty}; give a file that holds frames (was its recording finished?)",
        None,
        f"cannot decode video file {junk}: not a video OpenCV can read, or corrupt (a recording cut off before it "
        "was finished has no index); convert it to mp4 (H.264) and retry"]
    assert seen == rep["videos"] and [v["samples"] for v in seen] == [0, 3, 0]
    assert sorted(p.name for p in out.iterdir()) == ["real", "rtliveness_data.json"]  # no printed/ nor replay/
    # every video unreadable: one error, and a fresh folder is not even made
    with pytest.raises(SourceOpenError) as exc:
        prepare_videos([(empty, "real"), (junk, "real")], tmp_path / "e", ScriptedDetector(), 1.5, 32)
    assert str(exc.value) == (f"none of the 2 videos can be read (half.mp4, junk.mp4); the first: video file is empty "
                              f"(0 bytes): {empty}; give a file that holds frames (was its recording finished?)")
    with pytest.raises(SourceOpenError, match=r"^video file is empty \(0 bytes\): "):
        prepare_videos([(empty, "real")], tmp_path / "e", ScriptedDetector(), 1.5, 32)
    assert not (tmp_path / "e").exists()
    # an existing dataset: left as it was (the unreadable video adds no folder, no record)
    before = (out / "rtliveness_data.json").read_text()
    with pytest.raises(SourceOpenError):
        prepare_videos([(junk, "2dmask")], out, ScriptedDetector(), 1.5, 32)
    assert sorted(p.name for p in out.iterdir()) == ["real", "rtliveness_data.json"]
    assert (out / "rtliveness_data.json").read_text() == before


def test_a_link_back_up_or_to_another_person_is_not_read_again(tmp_path):
    """Diff review: reading folders below a person's followed links: `real/alice/again -> ..` gave
    the same video 41 times, and `real/alice/shared -> ../bob` cut bob's videos again as alice's
    (one person in train and test)."""
    for folder in ("real/alice", "real/bob"):
        (tmp_path / folder).mkdir(parents=True)
    numbered_video(tmp_path / "real" / "alice" / "1.avi", 3)
    numbered_video(tmp_path / "real" / "bob" / "2.avi", 3)
    (tmp_path / "real" / "alice" / "again").symlink_to("..")
    (tmp_path / "real" / "alice" / "shared").symlink_to(tmp_path / "real" / "bob")
    assert labelled_videos(tmp_path) == [(tmp_path / "real" / "alice" / "1.avi", "real", "alice"),
                                         (tmp_path / "real" / "bob" / "2.avi", "real", "bob")]


def test_the_report_counts_the_frames_of_a_video_too_short_for_one_sample(tmp_path):
    """`prepare` names a video shorter than one sample's span as that (review finding: it said no
    face was followed through 5 frames)."""
    video = numbered_video(tmp_path / "short.avi", 3)
    rep = prepare_videos([(video, "real")], tmp_path / "d", ScriptedDetector(), 1.5, 32)
    assert rep["videos"] == [{"video": str(video), "class": "real", "person": "short", "samples": 0, "dropped": 0,
                              "skipped": False, "frames": 3}]
