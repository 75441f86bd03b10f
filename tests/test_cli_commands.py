"""Every data and model command through the real console script, on small real inputs:
prepare (class-folder tree and --label files), synth, train (--exclude, --pretrained), eval,
calibrate, export. (``run`` is covered in test_cli.py.)"""

from collections import Counter
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import make_dataset, moving_face_frames, read_frames, write_video
from rtliveness.model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint, sha256_file
from rtliveness.model.spoofmodel import SpoofModel
from rtliveness.training.data import scan_dataset

EXE = Path(sys.executable).with_name("rtliveness")
ASSETS = Path(__file__).resolve().parents[1] / "assets"

pytestmark = pytest.mark.slow


def rtl(*args, timeout=600):
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert "Traceback" not in r.stderr
    return r


def one_error_line(r, code, needle):
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == code, (r.returncode, r.stderr)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("rtliveness: error: ") and needle in lines[0], lines[0]
    return lines[0]


def mad(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


# ------------------------------------------------------------------ prepare
def test_prepare_a_class_folder_tree(tmp_path, grace):
    """One folder with a sub-folder per class; crops are the serving crop at the boxes the deployed
    loop gives the face (the default), or at MTCNN's box on every frame (``--boxes detect``)."""
    videos = tmp_path / "videos"
    (videos / "real").mkdir(parents=True)
    (videos / "printed").mkdir()
    frames = moving_face_frames(grace, 12, size=(320, 240), face_side=120)
    write_video(videos / "real" / "Alice Smith.mp4", frames)
    write_video(videos / "printed" / "bob.mp4", frames[::-1])
    out = tmp_path / "data"
    r = ok(rtl("prepare", videos, "--out", out, "--crop-scale", "2.0", "--crop-size", "64", "--device", "cpu"))
    assert "wrote 4 samples" in r.stderr and "real 2, printed 2" in r.stderr
    names = sorted(str(p.relative_to(out)) for p in out.glob("*/*") if p.is_dir())
    # 12 frames, windows of 5 consecutive frames starting every 5th frame: starts 0 and 5
    assert names == ["printed/printed_bob_00000", "printed/printed_bob_00001",
                     "real/real_alicexsmith_00000", "real/real_alicexsmith_00001"]
    meta = json.loads((out / "rtliveness_data.json").read_text())
    assert meta["crop_scale"] == 2.0 and meta["crop_size"] == 64
    ds = scan_dataset(out)
    assert ds.crop_scale == 2.0 and ds.counts()["real"] == 2 and {s.person for s in ds.samples} == {"alicexsmith", "bob"}
    # the second real sample = frames 5..9 cropped exactly where `run` crops them: the boxes of the
    # deployed loop (MTCNN every 3rd frame, the tracker's boxes between)
    from rtliveness import LivenessPipeline, PipelineConfig
    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.crop import crop_face
    from rtliveness.runtime.detect import build_detector
    from rtliveness.runtime.track import follow_face

    decoded = read_frames(videos / "real" / "Alice Smith.mp4")
    with LivenessPipeline.from_config(PipelineConfig(device="cpu")) as pipe:
        results = [pipe.step(f) for f in decoded]
    assert all(len(r.faces) == 1 for r in results) and [r.detected for r in results[5:10]] == [False, True, False, False, True]
    loop_boxes = [r.faces[0].box for r in results[5:10]]
    for j in range(5):
        stored = cv2.imread(str(out / "real" / "real_alicexsmith_00001" / f"{j}.png"))
        assert stored.shape == (64, 64, 3)
        assert mad(stored, crop_face(decoded[5 + j], loop_boxes[j], 2.0, 64)) < 2.0  # the video's decode, not the crop, varies
    # --boxes detect: MTCNN on every frame, the face followed
    out2 = tmp_path / "data_detect"
    ok(rtl("prepare", videos, "--out", out2, "--crop-scale", "2.0", "--crop-size", "64", "--device", "cpu", "--boxes", "detect"))
    det = build_detector(DetectorConfig(), device="cpu")
    boxes = follow_face([det.detect(f) for f in decoded[5:10]])
    assert boxes is not None and boxes != loop_boxes  # the loop carries boxes between detector runs
    for j in range(5):
        stored = cv2.imread(str(out2 / "real" / "real_alicexsmith_00001" / f"{j}.png"))
        assert mad(stored, crop_face(decoded[5 + j], boxes[j], 2.0, 64)) < 2.0
    one_error_line(rtl("prepare", videos, "--out", tmp_path / "x", "--boxes", "every"), 2, "--boxes must be loop or detect")
    # review findings: a line per video; run again, every video already cut is skipped, not duplicated;
    # a video with no face is named; --out naming a file is one line, exit 2
    assert f"{videos / 'real' / 'Alice Smith.mp4'}: 2 real samples of person alicexsmith" in r.stderr
    write_video(videos / "printed" / "wall.mp4", [np.full((240, 320, 3), 90, np.uint8)] * 12)
    again = ok(rtl("prepare", videos, "--out", out, "--crop-scale", "2.0", "--crop-size", "64", "--device", "cpu"))
    assert f"{videos / 'real' / 'Alice Smith.mp4'}: already prepared in {out} (2 samples), skipped" in again.stderr
    assert (f"rtliveness: warning: {videos / 'printed' / 'wall.mp4'}: no sample (no face followed through 5 frames; "
            "2 windows lost the face); check that a face is in view and large enough (--min-face)") in again.stderr
    assert "wrote 0 samples" in again.stderr and "2 videos already prepared, skipped" in again.stderr
    assert sorted(str(p.relative_to(out)) for p in out.glob("*/*") if p.is_dir()) == names
    one_error_line(rtl("prepare", videos, "--out", out / "rtliveness_data.json"), 2, "--out")


def test_prepare_labelled_files_with_haar_and_one_person(tmp_path, grace):
    a = write_video(tmp_path / "a.mp4", moving_face_frames(grace, 10, size=(320, 240), face_side=120))
    b = write_video(tmp_path / "b.mp4", moving_face_frames(grace, 10, size=(320, 240), face_side=120)[::-1])
    out = tmp_path / "data"
    r = ok(rtl("prepare", a, b, "--label", "replay", "--person", "Carol", "--out", out, "--detector", "haar",
               "--crop-size", "48", "--step", "3", "--device", "cpu"))
    # 10 frames, step 3: windows start at 0 and 3 (frame 6 + 4 > 9); one person across both files
    assert "wrote 4 samples" in r.stderr
    assert sorted(p.name for p in (out / "replay").iterdir()) == [f"replay_carol_{k:05d}" for k in range(4)]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["replay"]
    img = cv2.imread(str(out / "replay" / "replay_carol_00003" / "4.png"))
    assert img.shape == (48, 48, 3) and img.std() > 10  # a face crop, not a flat fill
    # a label that is not a class is a usage error (exit 2) before any detector loads, naming the classes
    one_error_line(rtl("prepare", a, "--label", "live", "--out", tmp_path / "y"), 2,
                   "--label must be one of real | replay | printed | 2dmask (a live person is real), got 'live'")
    assert not (tmp_path / "y").exists()


def test_prepare_leaves_out_an_unreadable_video_named_in_a_warning_and_counted(tmp_path, grace):
    """Review finding: one zero-byte .mp4 (a half-copied recording) among the videos stopped the
    whole run (exit 3) and left an empty class folder and rtliveness_data.json in a fresh --out."""
    videos = tmp_path / "videos"
    (videos / "real").mkdir(parents=True)
    (videos / "printed").mkdir()
    ann = write_video(videos / "real" / "ann.mp4", moving_face_frames(grace, 10, size=(320, 240), face_side=120))
    half = videos / "printed" / "half.mp4"
    half.write_bytes(b"")
    out = tmp_path / "data"
    r = ok(rtl("prepare", videos, "--out", out, "--detector", "haar", "--crop-size", "32", "--device", "cpu"))
    assert r.stderr.splitlines() == [
        f"rtliveness: warning: left out: video file is empty (0 bytes): {half}; give a file that holds frames "
        "(was its recording finished?)",
        f"{ann}: 2 real samples of person ann",
        f"wrote 2 samples to {out} (real 2; 0 windows dropped: face lost); 1 unreadable video left out (named above)"]
    assert sorted(p.name for p in out.iterdir()) == ["real", "rtliveness_data.json"]
    assert len(scan_dataset(out).samples) == 2
    # every video unreadable: one error line, and no dataset folder
    shutil.rmtree(videos / "real")
    one_error_line(rtl("prepare", videos, "--out", tmp_path / "o", "--detector", "haar", "--device", "cpu"), 3,
                   f"rtliveness: error: video file is empty (0 bytes): {half}; give a file that holds frames "
                   "(was its recording finished?)")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ synth
def test_synth_two_samples_per_class_from_the_repo_assets(tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    for name in ("webcam_talking_head.mov", "grace_hopper_512x512.jpg", "astronaut.png", "dogs.jpg"):
        (assets / name).symlink_to(ASSETS / name)
    out = tmp_path / "synth"
    r = ok(rtl("synth", "--out", out, "--samples-per-class", "2", "--assets", assets, "--width", "320", "--height", "240"))
    rep = json.loads(r.stderr.strip().splitlines()[-1])
    assert rep["counts"] == {"real": 2, "replay": 2, "printed": 2, "2dmask": 2}
    ds = scan_dataset(out)  # a valid dataset in the origin layout, usable by train as it is
    assert ds.counts() == {"real": 2, "replay": 2, "printed": 2, "2dmask": 2} and ds.crop_scale == 2.7
    for s in ds.samples:
        assert [p.name for p in s.images] == [f"{i}.png" for i in range(5)]
        assert cv2.imread(str(s.images[0])).shape == (224, 224, 3)
    meta = json.loads((out / "rtliveness_data.json").read_text())
    assert meta["generator"] == "rtliveness synth" and meta["config"]["frame_size"] == [320, 240]
    # --classes renders only those classes
    only = tmp_path / "only_live"
    r = ok(rtl("synth", "--out", only, "--samples-per-class", "2", "--assets", assets, "--width", "320", "--height", "240",
               "--classes", "real"))
    assert json.loads(r.stderr.strip().splitlines()[-1])["counts"] == {"real": 2}
    assert scan_dataset(only).counts() == {"real": 2, "replay": 0, "printed": 0, "2dmask": 0}
    bad = rtl("synth", "--out", tmp_path / "bad", "--classes", "real,hologram", "--assets", assets)
    assert bad.returncode != 0 and "hologram" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = rtl("synth", "--out", tmp_path / "bad", "--boxes", "every", "--assets", assets)
    one_error_line(bad, 2, "--boxes must be loop or detect, got 'every'")
    # --boxes detect: the old cut (no warm-up frames)
    old = tmp_path / "detect"
    ok(rtl("synth", "--out", old, "--samples-per-class", "1", "--assets", assets, "--width", "320", "--height", "240",
           "--classes", "real", "--boxes", "detect"))
    assert json.loads((old / "rtliveness_data.json").read_text())["config"]["boxes"] == "detect"


def test_synth_with_workers_stopped_by_ctrl_c_keeps_only_recorded_samples(tmp_path):
    """A terminal's Ctrl+C reaches the whole process group, workers included: one line, exit
    130, and every sample folder on disk has its record (a worker's finished but uncollected
    sample is removed, no half-written one is left)."""
    import os
    import signal
    import time

    assets = tmp_path / "assets"
    assets.mkdir()
    for name in ("webcam_talking_head.mov", "grace_hopper_512x512.jpg", "astronaut.png"):
        (assets / name).symlink_to(ASSETS / name)
    out = tmp_path / "synth"
    proc = subprocess.Popen([str(EXE), "synth", "--out", str(out), "--samples-per-class", "12", "--assets", str(assets),
                             "--width", "320", "--height", "240", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        # 4 samples from 2 workers: one worker has finished two, so its first result was sent
        if sum(1 for p in out.glob("*/*") if not p.name.startswith(".")) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "synth ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert [x for x in err.splitlines() if x.strip()] == ["rtliveness: interrupted"]
    on_disk = sorted(f"{p.parent.name}/{p.name}" for p in out.glob("*/*"))
    recs = [json.loads(x)["sample"] for x in (out / "synth_samples.jsonl").read_text().splitlines()]
    assert len(recs) >= 1 and on_disk == sorted(recs)  # hidden .partial folders would show here too
    meta = json.loads((out / "rtliveness_data.json").read_text())
    assert meta["report"]["interrupted"] is True and sum(meta["report"]["counts"].values()) == len(recs)
    # --replay-source-p: the replay's content is recorded first, and the sample says how
    rec = tmp_path / "recorded"
    ok(rtl("synth", "--out", rec, "--samples-per-class", "2", "--assets", assets, "--width", "320", "--height", "240",
           "--classes", "replay", "--replay-source-p", "1"))
    assert json.loads((rec / "rtliveness_data.json").read_text())["config"]["replay_source_p"] == 1.0
    params = [json.loads(line)["params"] for line in (rec / "synth_samples.jsonl").read_text().splitlines()]
    assert len(params) == 2 and all(set(p["source"]) == {"scale", "tone", "saturation", "sharpen", "jpeg"} for p in params)
    assert not any("source" in json.loads(line)["params"] for line in (out / "synth_samples.jsonl").read_text().splitlines()
                   if json.loads(line)["class"] == "replay")
    bad = rtl("synth", "--out", tmp_path / "bad", "--replay-source-p", "1.5", "--assets", assets)
    one_error_line(bad, 2, "--replay-source-p must be in [0, 1], got 1.5")
    # --camera-tone-p: the capture camera tone-maps and saturates too, whatever the class
    toned = tmp_path / "toned"
    ok(rtl("synth", "--out", toned, "--samples-per-class", "1", "--assets", assets, "--width", "320", "--height", "240",
           "--classes", "real,printed", "--camera-tone-p", "1"))
    cams = [json.loads(line)["params"]["camera"] for line in (toned / "synth_samples.jsonl").read_text().splitlines()]
    assert len(cams) == 2 and all(0 <= c["tone"] <= 0.35 and 0 <= c["saturation"] <= 0.3 for c in cams)
    assert json.loads((toned / "rtliveness_data.json").read_text())["config"]["camera_tone_p"] == 1.0
    bad = rtl("synth", "--out", tmp_path / "bad", "--camera-tone-p", "-1", "--assets", assets)
    one_error_line(bad, 2, "--camera-tone-p must be in [0, 1], got -1.0")


# ------------------------------------------------------------------ train → eval → calibrate → export
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny dataset and one CLI training run on it: 1 epoch, 32 px, printed attacks left out,
    the encoder initialised from a torchvision resnet18 state dict."""
    import torchvision

    base = tmp_path_factory.mktemp("cli_train")
    data = make_dataset(base / "data", per_class=6, persons=6, size=40)
    torch.manual_seed(3)
    pre = base / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), pre)
    run = base / "run"
    r = rtl("train", data, "--out", run, "--epochs", "1", "--batch-size", "8", "--input-size", "32", "--lr", "0.01",
            "--device", "cpu", "--exclude", "printed", "--pretrained", pre, "--mixstyle", "0.5", "--degrade", "0.3", "--still", "0.25",
            "--gray", "0.2", "--balance", "families", "--pixel-aux", "0.5")
    return data, run, r, pre


def test_train_one_epoch_with_exclude_and_pretrained(trained):
    data, run, r, pre = trained
    ok(r)
    split = json.loads((run / "split.json").read_text())
    n_train = sum(1 for n in split["train"] if not n.startswith("printed/"))
    n_dev = sum(1 for n in split["dev"] if not n.startswith("printed/"))
    assert any(n.startswith("printed/") for n in split["train"])  # printed is in the data ...
    # ... but left out of training and of the dev calibration
    assert f"{n_train} train / {n_dev} dev / {len(split['test'])} test samples" in r.stderr
    assert f"encoder initialised from {pre}" in r.stderr
    assert "MixStyle after encoder.layer1, encoder.layer2 (p 0.5; training only)" in r.stderr
    assert "camera degradations (roll, blur, lowres, lowlight, white_balance, jpeg) on 30% of windows, every class alike" in r.stderr
    assert "25% of windows made static (one of their crops five times, as a photo), every class alike" in r.stderr
    assert "20% of windows turned grey (as an infrared camera sees them), every class alike" in r.stderr
    assert "pixel-wise supervision on encoder.layer3 (weight 0.5; training only)" in r.stderr
    # the loss weights: live half, the two families left (replay, 2D mask) a quarter each
    counts = Counter(n.split("/")[0] for n in split["train"] if not n.startswith("printed/"))
    n = sum(counts.values())
    assert ("loss weights balanced: bona fide and attacks half each, every attack family an equal part ("
            f"2dmask {n / 4 / counts['2dmask']:.2f}, real {n / 2 / counts['real']:.2f}, replay {n / 4 / counts['replay']:.2f})") in r.stderr
    m = re.search(r"model: (\S+) \(threshold ([0-9.]+)\)", r.stderr)
    assert m and Path(m.group(1)) == run / "model.pt"
    loaded = load_checkpoint(run / "model.pt")
    assert loaded.meta.input_size == 32 and loaded.meta.threshold == pytest.approx(float(m.group(2)), abs=5e-5)
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1]
    ck = torch.load(run / "model.pt", map_location="cpu", weights_only=False)
    assert ck["train"]["config"]["mixstyle"] == 0.5 and ck["train"]["config"]["degrade"] == 0.3  # the settings are recorded ...
    assert ck["train"]["config"]["still"] == 0.25 and ck["train"]["config"]["balance"] == "families"
    assert ck["train"]["config"]["pixel_aux"] == 0.5
    assert set(ck["state_dict"]) == set(SpoofModel().state_dict())  # ... the graph's parameters are the origin's


def test_eval_on_the_test_split(trained, tmp_path):
    data, run, r, _ = trained
    ok(r)
    rep_path = tmp_path / "report.json"
    e = ok(rtl("eval", data, "--weights", run / "model.pt", "--split-file", run / "split.json", "--json", rep_path,
               "--device", "cpu"))
    for key in ("APCER printed", "APCER replay", "BPCER", "ACER", "EER", "AUC"):
        assert key in e.stdout, e.stdout
    rep = json.loads(rep_path.read_text())
    test_names = json.loads((run / "split.json").read_text())["test"]
    assert rep["n"] == len(test_names) and sorted(s["sample"] for s in rep["scores"]) == sorted(test_names)
    assert rep["threshold"] == pytest.approx(load_checkpoint(run / "model.pt").meta.threshold)
    # at a stored security level (as run --security); --threshold overrides it; an unknown level
    # is refused before any sample is scored
    strict = dict(load_checkpoint(run / "model.pt").meta.security_levels)["strict"]
    ok(rtl("eval", data, "--weights", run / "model.pt", "--split-file", run / "split.json", "--json", rep_path,
           "--device", "cpu", "--security", "strict"))
    assert json.loads(rep_path.read_text())["threshold"] == pytest.approx(strict)
    ok(rtl("eval", data, "--weights", run / "model.pt", "--split-file", run / "split.json", "--json", rep_path,
           "--device", "cpu", "--security", "strict", "--threshold", "0.3"))
    assert json.loads(rep_path.read_text())["threshold"] == pytest.approx(0.3)
    one_error_line(rtl("eval", data, "--weights", run / "model.pt", "--security", "paranoid"), 2,
                   "unknown security level 'paranoid'; this model has: convenience, balanced, strict")


def test_calibrate_on_the_dev_split_next_to_the_weights(trained, tmp_path):
    from rtliveness.training.evaluate import score_dataset
    from rtliveness.training.metrics import deployment_threshold

    data, run, r, _ = trained
    ok(r)
    out = tmp_path / "calibrated.pt"
    c = ok(rtl("calibrate", data, "--weights", run / "model.pt", "--out", out, "--device", "cpu"))
    m = re.fullmatch(r"threshold ([0-9.]+) written to (\S+); security levels convenience ([0-9.]+), balanced ([0-9.]+), "
                     r"strict ([0-9.]+) \(calibrated on (\d+) samples: the dev split of (\S+)\)\s*", c.stdout)
    assert m and Path(m.group(2)) == out and Path(m.group(7)) == run / "split.json", c.stdout
    cal = load_checkpoint(out)
    assert cal.meta.threshold == pytest.approx(float(m.group(1)), abs=5e-5)
    assert [round(v, 4) for _, v in cal.meta.security_levels] == [float(m.group(k)) for k in (3, 4, 5)]
    # the EER threshold of the run's dev split, recomputed here
    scores, classes, names, _, _ = score_dataset(data, run / "model.pt", "cpu", run / "split.json", "dev")
    assert sorted(names) == sorted(json.loads((run / "split.json").read_text())["dev"]) and len(names) == int(m.group(6))
    expect = deployment_threshold(scores, np.asarray(classes))
    assert cal.meta.threshold == pytest.approx(expect, abs=1e-4)
    orig = load_checkpoint(run / "model.pt").model.state_dict()
    assert all(torch.equal(v, cal.model.state_dict()[k]) for k, v in orig.items())  # weights untouched
    # train's name for the choice, --calibration, is calibrate's --method too
    by = {}
    for flag in ("--method", "--calibration"):
        ok(rtl("calibrate", data, "--weights", run / "model.pt", "--out", tmp_path / f"{flag}.pt", flag, "apcer",
               "--target", "0.05", "--device", "cpu"))
        by[flag] = load_checkpoint(tmp_path / f"{flag}.pt").meta.threshold
    assert by["--method"] == by["--calibration"] and by["--method"] != cal.meta.threshold
    # without a split next to the weights it refuses in one line, before loading anything
    lone = tmp_path / "lone.pt"
    lone.write_bytes((run / "model.pt").read_bytes())
    one_error_line(rtl("calibrate", data, "--weights", lone, "--out", tmp_path / "x.pt"), 2, "--split-file")


def test_export_onnx_folder(trained, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    _, run, r, _ = trained
    ok(r)
    out = tmp_path / "export"
    x = ok(rtl("export", "--out", out, "--weights", run / "model.pt"))
    assert f"exported to {out}" in x.stdout
    assert sorted(p.name for p in out.iterdir()) == ["encoder.onnx", "head.onnx", "meta.json"]
    info = json.loads((out / "meta.json").read_text())
    assert info["checkpoint_sha256"] == sha256_file(run / "model.pt") and info["meta"]["input_size"] == 32
    # the exported graphs compute what the checkpoint computes
    from rtliveness.model.backends import TorchScorer
    from rtliveness.model.onnx import OnnxScorer

    crops = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(5)]
    ref = TorchScorer(load_checkpoint(run / "model.pt"), device="cpu")
    got = OnnxScorer.from_onnx(out, threads=1)
    np.testing.assert_allclose(got.embed(crops), ref.embed(crops), atol=1e-4, rtol=1e-4)
    w = ref.embed(crops)[None]
    np.testing.assert_allclose(got.head(w), ref.head(w), atol=1e-5)
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)  # a folder like any other, not mkdtemp's private one
    ok(rtl("export", "--out", out, "--weights", run / "model.pt"))  # an earlier export is replaced
    # anything else at --out is refused before any work and left as it was (the run folder survived)
    before = sorted(p.name for p in run.iterdir())
    one_error_line(rtl("export", "--out", run, "--weights", run / "model.pt"), 2,
                   f"--out {run} holds other files")
    assert sorted(p.name for p in run.iterdir()) == before
    one_error_line(rtl("export", "--out", run / "model.pt", "--weights", run / "model.pt"), 2,
                   f"--out {run / 'model.pt'} is a file; name a new folder for the export")
    assert (run / "model.pt").is_file()
    one_error_line(rtl("export", "--out", run / "model.pt" / "sub", "--weights", run / "model.pt"), 2,
                   f"--out cannot go under {run / 'model.pt'}: it is a file, not a folder; give another path")


def test_train_consistency_without_crop_jitter_is_one_error_line(trained, tmp_path):
    data, _, _, _ = trained
    line = one_error_line(rtl("train", data, "--out", tmp_path / "run", "--augment", "strong", "--consistency", "1",
                              "--device", "cpu"), 2, "needs crop jitter (--crop-jitter > 0)")
    assert not (tmp_path / "run" / "last.pt").exists(), line


def test_train_anchor_clean_without_degrade_is_one_error_line(trained, tmp_path):
    data, run, _, _ = trained
    one_error_line(rtl("train", data, "--out", tmp_path / "run", "--init-weights", run / "model.pt", "--anchor-live", "1",
                       "--anchor-clean", "--device", "cpu"), 2, "--anchor-clean takes the live anchor on the window before "
                   "--degrade's degradations: it needs --anchor-live W and --degrade P")
    assert not (tmp_path / "run").exists()


def test_train_records_crop_jitter_and_consistency(trained, tmp_path):
    data, _, _, _ = trained
    run = tmp_path / "run"
    r = ok(rtl("train", data, "--out", run, "--epochs", "1", "--batch-size", "8", "--input-size", "32", "--device", "cpu",
               "--augment", "strong", "--crop-jitter", "0.05", "--consistency", "0.5"))
    assert "each crop of a window moved and zoomed on its own by up to 5% of its side; two views per window, " \
           "logit consistency weight 0.5" in r.stderr
    cfg = torch.load(run / "model.pt", map_location="cpu", weights_only=False)["train"]["config"]
    assert (cfg["crop_jitter"], cfg["consistency"], cfg["augment"]) == (0.05, 0.5, "strong")


def test_train_distill_agree_without_teacher_is_one_error_line(trained, tmp_path):
    data, _, _, _ = trained
    one_error_line(rtl("train", data, "--out", tmp_path / "run", "--distill-agree", "--device", "cpu"), 2,
                   "distilling only where the teacher agrees needs a teacher: add --teacher DIR")


def test_train_out_on_a_file_and_input_size_zero_are_one_error_line(trained, tmp_path):
    """Review findings: --out naming a file was 'File exists', exit 1; --input-size 0 trained at 224 px."""
    data, run, r, _ = trained
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    one_error_line(rtl("train", data, "--out", a_file, "--device", "cpu"), 2, f"--out is a file: {a_file}; give a folder path")
    one_error_line(rtl("train", data, "--out", a_file / "run", "--device", "cpu"), 2,
                   f"--out cannot go under {a_file}: it is a file, not a folder")
    one_error_line(rtl("train", data, "--out", tmp_path / "run", "--input-size", "0", "--device", "cpu"), 2,
                   "input size must be in 16..1024, got 0")
    assert not (tmp_path / "run").exists()


def test_train_feature_distillation_without_teacher_is_one_error_line(trained, tmp_path):
    data, _, _, _ = trained
    one_error_line(rtl("train", data, "--out", tmp_path / "run", "--distill-features", "1", "--device", "cpu"), 2,
                   "feature distillation needs a teacher: add --teacher DIR")


def test_train_with_a_teacher_only_where_it_agrees(trained, tmp_path):
    """The teacher (random weights in its own format) scores every training sample; with
    --distill-agree its score is blended into exactly the samples where it is on the label's side."""
    from test_teacher_minifasnet import write_fake_teacher

    data, _, _, _ = trained
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    write_fake_teacher(teacher)
    run = tmp_path / "run"
    r = ok(rtl("train", data, "--out", run, "--epochs", "1", "--batch-size", "8", "--input-size", "32", "--device", "cpu",
               "--teacher", teacher, "--distill-weight", "0.4", "--distill-agree", "--distill-features", "0.5"))
    scores = json.loads((run / "teacher_scores.json").read_text())
    train_names = json.loads((run / "split.json").read_text())["train"]
    labels = np.array([0.0 if n.startswith("real/") else 1.0 for n in train_names])
    t = np.array([scores[n] for n in train_names])
    cls_ok = np.array([n.split("/")[0] in ("real", "printed", "replay") for n in train_names])
    agree = cls_ok & ((t >= 0.5) == (labels >= 0.5))
    want = np.where(agree, 0.6 * labels + 0.4 * t, labels)
    np.testing.assert_allclose(np.load(run / "targets.npy"), want, atol=1e-6)
    assert f"soft targets on {int(agree.sum())} of {len(train_names)} train samples (weight 0.4, classes real, printed, " \
           f"replay, only where it agrees with the label)" in r.stderr
    cfg = torch.load(run / "model.pt", map_location="cpu", weights_only=False)["train"]["config"]
    assert cfg["distill_agree"] is True and cfg["distill_weight"] == 0.4 and cfg["distill_features"] == 0.5
    assert "feature distillation: the encoder's crop embeddings predict the teacher's 128-d ones (weight 0.5; training only)" in r.stderr
    with np.load(run / "teacher_features.npz") as z:
        assert sorted(z.files) == sorted(train_names) and z[train_names[0]].shape == (5, 128)


def test_fine_tune_path_review_cases_are_one_line_each_before_any_work(trained, tmp_path):
    """A black-box review of the fine-tune path: each of these used to train an epoch and then
    fail, train the wrong number of epochs, write over a run, evaluate the wrong samples, or
    load a training state as an origin checkpoint with the wrong preprocessing."""
    data, run, r, _ = trained
    ok(r)
    new = tmp_path / "new"
    for args, words in (
            (["--calibration", "apcer"], "--calibration apcer needs --target T, a rate in [0, 1] (e.g. 0.05)"),
            (["--calibration", "eer", "--target", "0.05"], "--calibration eer takes no --target"),
            (["--calibration", "bpcer", "--target", "2"], "--calibration bpcer needs --target in [0, 1]"),
            (["--epochs", "0"], "--epochs must be >= 1, got 0"), (["--batch-size", "0"], "--batch-size must be >= 1, got 0")):
        one_error_line(rtl("train", data, "--out", new, "--device", "cpu", *args), 2, words)
        assert not new.exists()
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    one_error_line(rtl("train", data, "--out", run, "--device", "cpu"), 2,
                   f"{run} already holds a training run (model.pt / last.pt); continue it with --resume")
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    one_error_line(rtl("calibrate", data, "--weights", run / "model.pt", "--out", tmp_path / "c.pt", "--method", "apcer"), 2,
                   "--method apcer needs --target")
    one_error_line(rtl("eval", data, "--weights", run / "model.pt", "--split", "dev"), 2,
                   "--split dev needs --split-file RUN/split.json")
    for cmd in (["eval", data], ["export", "--out", tmp_path / "e"]):
        one_error_line(rtl(*cmd, "--weights", run / "last.pt"), 5,
                       f"{run / 'last.pt'} is a training state (last.pt), not a model: it has no calibrated threshold; use model.pt")


def test_outputs_inside_the_dataset_and_imagenet_init_weights_are_one_line_before_any_work(tmp_path, tiny_weights):
    """Review findings: `train DATA --out DATA/runs/r1` trained, then every later eval of DATA (and
    --resume) stopped at 'unknown class folders: runs'; eval --json / --plots and calibrate --out
    could make such a folder too. `train --init-weights resnet18.pt` (a torchvision ImageNet state
    dict) said 'size mismatch for fc.weight'."""
    import torchvision

    data = make_dataset(tmp_path / "d", per_class=2, persons=2, size=32)
    run = data / "runs" / "r1"
    one_error_line(rtl("train", data, "--out", run, "--device", "cpu"), 2,
                   f"rtliveness: error: --out {run} is inside the dataset {data}, where a folder reads as a class or a "
                   f"sample folder and stops every later train, eval or --resume on it; give a folder outside it, e.g. "
                   f"{tmp_path / 'runs' / 'r1'}")
    one_error_line(rtl("train", data, "--out", data, "--device", "cpu"), 2,
                   f"rtliveness: error: --out {data} is the dataset {data} itself; give a folder outside it")
    one_error_line(rtl("eval", data, "--weights", tiny_weights, "--plots", data / "real" / "plots"), 2,
                   f"rtliveness: error: --plots {data / 'real' / 'plots'} is inside the dataset {data}, where a folder ")
    for cmd, option in ((["eval", data, "--weights", tiny_weights], "--json"),
                        (["calibrate", data, "--weights", tiny_weights, "--all-samples"], "--out")):
        target = data / "reports" / "today" / "r.json"
        one_error_line(rtl(*cmd, option, target), 2,
                       f"rtliveness: error: {option} {target} would make the folder {data / 'reports'} inside the "
                       f"dataset {data}, where a folder reads as a class or a sample folder and stops every later "
                       f"train, eval or --resume on it; write it outside {data}, or into a folder already there")
    assert sorted(p.name for p in data.iterdir()) == ["2dmask", "printed", "real", "replay"]
    # a file right in DATA makes no folder: harmless, and DATA still reads
    ok(rtl("eval", data, "--weights", tiny_weights, "--json", data / "report.json", "--device", "cpu"))
    assert len(scan_dataset(data).samples) == 8
    # prepare: a dataset inside the folder of videos it reads is a class folder of that folder next time
    (tmp_path / "videos" / "real").mkdir(parents=True)
    one_error_line(rtl("prepare", tmp_path / "videos", "--out", tmp_path / "videos" / "data"), 2,
                   f"rtliveness: error: --out {tmp_path / 'videos' / 'data'} is inside the video folder "
                   f"{tmp_path / 'videos'}, where a folder reads as a class or a person folder and stops the next "
                   f"prepare of it; give a folder outside it, e.g. {tmp_path / 'data'}")
    r18 = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), r18)
    new = tmp_path / "new"
    one_error_line(rtl("train", data, "--out", new, "--init-weights", r18, "--device", "cpu"), 5,
                   f"rtliveness: error: weights file {r18} is a torchvision resnet18 ImageNet classifier (1000 classes), "
                   f"not a SpoofModel checkpoint; it can only start the encoder: rtliveness train DATA --pretrained {r18} "
                   "(--init-weights and --weights take a SpoofModel checkpoint, e.g. a training run's model.pt)")
    assert not new.exists()


def test_prepare_refuses_a_photo_in_one_line(tmp_path):
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), np.full((120, 160, 3), 128, np.uint8))
    r = rtl("prepare", photo, "--label", "real", "--out", tmp_path / "data")
    line = one_error_line(r, r.returncode, f"{photo} is a photo: prepare cuts videos into samples of 5 consecutive frames")
    assert r.returncode != 0 and line and not (tmp_path / "data" / "real").exists()


# ------------------------------------------------------------------ eval / calibrate inputs and outputs
def test_eval_and_calibrate_say_what_skip_bad_left_out_and_read_split_files_strictly(tmp_path, tiny_weights):
    """--skip-bad counts what it left out (eval printed nothing, calibrate had no such option and
    its error message advised it); a split file that is not a split is one line naming it."""
    data = make_dataset(tmp_path / "d", per_class=3, persons=3, size=32)
    (data / "printed" / "printed_p0_000" / "2.png").write_bytes(b"x")
    e = ok(rtl("eval", data, "--weights", tiny_weights, "--device", "cpu", "--skip-bad", "--json", tmp_path / "r" / "e.json"))
    assert "skipped 1 malformed sample (--skip-bad)" in e.stderr and e.stdout.startswith("11 samples (3 bona fide, 8 attacks)")
    assert json.loads((tmp_path / "r" / "e.json").read_text())["skipped"] == 1  # its folder made, like calibrate's
    one_error_line(rtl("calibrate", data, "--weights", tiny_weights, "--out", tmp_path / "c.pt", "--all-samples",
                       "--device", "cpu"), 6, "image 2.png cannot be read")
    c = ok(rtl("calibrate", data, "--weights", tiny_weights, "--out", tmp_path / "c.pt", "--all-samples", "--device", "cpu",
               "--skip-bad"))
    assert "skipped 1 malformed sample (--skip-bad)" in c.stderr and load_checkpoint(tmp_path / "c.pt").meta.threshold > 0
    # one class only: a data error (exit 6), not "unexpected"
    (tmp_path / "live.json").write_text(json.dumps({"dev": ["real/real_p0_000", "real/real_p1_001"]}))
    one_error_line(rtl("calibrate", data, "--weights", tiny_weights, "--out", tmp_path / "x.pt", "--split-file",
                       tmp_path / "live.json", "--device", "cpu", "--skip-bad"), 6,
                   f"calibration needs both bona fide ('real') and attack samples; the dev split of {tmp_path / 'live.json'} "
                   "has 2 bona fide and 0 attack samples")
    for name, text in (("list.json", "[1, 2]"), ("str.json", '{"test": "real/real_p0_000"}'), ("num.json", '{"test": [5]}')):
        (tmp_path / name).write_text(text)
        one_error_line(rtl("eval", data, "--weights", tiny_weights, "--device", "cpu", "--skip-bad", "--split-file",
                           tmp_path / name), 6, f"split file {tmp_path / name} is not a split: expected a JSON object of sample-name lists")
    one_error_line(rtl("eval", data, "--weights", tiny_weights, "--split-file", tmp_path / "none.json"), 2,
                   f"split file not found: {tmp_path / 'none.json'}; pass the split.json a training run wrote")
    one_error_line(rtl("eval", data, "--weights", tiny_weights, "--split-file", tmp_path), 2,
                   f"split file {tmp_path} is a folder; pass the split.json inside a training run")


# ------------------------------------------------------------------ messy data, stops (a user's review)
def test_eval_reads_no_macos_companion_files_and_refuses_loose_images(tmp_path, tiny_weights):
    """A dataset copied by a Mac to a USB disk has a hidden `._0.png` beside every `0.png`: each
    sample 'had 10 images, expected 5'. Images put straight into a class folder were ignored
    without a word ('no usable samples', or that class silently left out)."""
    data = make_dataset(tmp_path / "my data", per_class=2, persons=2, size=32)
    for png in sorted((data / "real" / "real_p0_000").glob("*.png")):
        png.with_name("._" + png.name).write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    r = ok(rtl("eval", data, "--weights", tiny_weights, "--device", "cpu"))
    assert r.stdout.startswith("8 samples (2 bona fide, 6 attacks), threshold 0.5000\n")
    for png in (data / "printed" / "printed_p0_000").glob("*.png"):
        (data / "printed" / f"x{png.name}").write_bytes(png.read_bytes())
    one_error_line(rtl("eval", data, "--weights", tiny_weights, "--device", "cpu"), 6,
                   f"{data / 'printed'} holds 5 images outside any sample folder (x0.png, x1.png, x2.png …); a sample is a "
                   f"folder of 5 images ({data / 'printed'}/<sample>/0.png … 4.png): move them into sample folders")


def test_a_folder_of_recordings_given_as_a_dataset_says_to_prepare_it_first(tmp_path, tiny_weights, grace):
    """The layout `prepare` takes (a folder per class of videos) given to eval/train/calibrate: 'no
    usable samples under …', nothing about what was expected or what to run."""
    videos = tmp_path / "vids"
    for cls in ("real", "printed"):
        (videos / cls).mkdir(parents=True)
    write_video(videos / "real" / "alice.mov", moving_face_frames(grace, 6))
    write_video(videos / "printed" / "alice.mp4", moving_face_frames(grace, 6))
    words = (f"{videos / 'printed'} holds video (alice.mp4), not sample folders of 5 images: cut the recordings into "
             f"samples first: rtliveness prepare {videos} --out DATA, then use DATA")
    one_error_line(rtl("eval", videos, "--weights", tiny_weights, "--device", "cpu"), 6, words)
    one_error_line(rtl("train", videos, "--out", tmp_path / "run", "--device", "cpu"), 6, words)


def test_eval_says_when_a_runs_split_lies_next_to_its_weights(trained):
    """calibrate reads RUN/split.json by default; eval scored every sample, training ones included,
    without a word."""
    data, run, _, _ = trained
    r = ok(rtl("eval", data, "--weights", run / "model.pt", "--device", "cpu"))
    note = (f"rtliveness: note: {run / 'split.json'} lies next to --weights, and every sample of {data} was evaluated: "
            f"if that run trained on it, its training samples are included; pass --split-file {run / 'split.json'} "
            "for its held-out test split")
    assert note in r.stderr.splitlines(), r.stderr
    r = ok(rtl("eval", data, "--weights", run / "model.pt", "--device", "cpu", "--split-file", run / "split.json"))
    assert "note:" not in r.stderr


def test_skip_bad_leaves_out_a_malformed_sample_of_the_split_and_counts_only_the_splits(tmp_path, tiny_weights):
    """With --split-file, --skip-bad refused a malformed sample of the split as 'missing from
    DATA; give the dataset the split was made for'; eval of another split said 'skipped 1'."""
    data = make_dataset(tmp_path / "d", per_class=3, persons=3, size=32)
    names = sorted(s.name for s in scan_dataset(data).samples)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [], "dev": [n for n in names if "_p2_" not in n],
                                 "test": [n for n in names if "_p2_" in n]}))
    (data / "printed" / "printed_p0_000" / "2.png").write_bytes(b"")
    c = ok(rtl("calibrate", data, "--weights", tiny_weights, "--out", tmp_path / "c.pt", "--split-file", split,
               "--device", "cpu", "--skip-bad"))
    assert c.stderr == "skipped 1 malformed sample (--skip-bad)\n"
    assert c.stdout.endswith(f"(calibrated on 7 samples: the dev split of {split})\n")
    e = ok(rtl("eval", data, "--weights", tiny_weights, "--split-file", split, "--device", "cpu", "--skip-bad"))
    assert e.stderr == "" and e.stdout.startswith("4 samples (1 bona fide, 3 attacks)")


def test_eval_of_one_class_says_why_its_rates_are_undefined(tmp_path, tiny_weights):
    data = make_dataset(tmp_path / "d", per_class=2, persons=2, size=32)
    for c in ("printed", "replay", "2dmask"):
        shutil.rmtree(data / c)
    r = ok(rtl("eval", data, "--weights", tiny_weights, "--device", "cpu"))
    assert r.stdout.splitlines()[0] == "2 samples (2 bona fide, 0 attacks), threshold 0.5000"
    assert r.stdout.splitlines()[-1] == ("  note: no attack samples, so APCER, ACER, EER, AUC, BPCER@APCER and F1 macro are "
                                         "undefined (n/a); evaluate a set with printed/, replay/ or 2dmask/ samples too")


def test_prepare_a_folder_with_label_or_one_class_folder_alone_is_one_clear_line(tmp_path, grace):
    videos = tmp_path / "videos"
    (videos / "real").mkdir(parents=True)
    write_video(videos / "real" / "ann.mp4", moving_face_frames(grace, 6))
    one_error_line(rtl("prepare", videos / "real", videos / "printed", "--label", "real", "--out", tmp_path / "o"), 2,
                   f"{videos / 'real'} is a folder: with --label give video files (e.g. {videos / 'real' / '*.mp4'}), or "
                   "give one folder with a sub-folder per class, without --label")  # it said 'video not found'
    one_error_line(rtl("prepare", videos / "real", "--out", tmp_path / "o"), 6,
                   f"{videos / 'real'} holds videos but no class folders; give its videos with --label real "
                   f"({videos / 'real' / '*.mp4'} --label real), or the folder above it with a sub-folder per class "
                   "(real, replay, printed, 2dmask)")  # it said 'no videos ... in class folders under videos/real'
    assert not (tmp_path / "o").exists()


def _stop_after(args, line_starts: str, sig=signal.SIGTERM):
    """Start `rtliveness ARGS`, send ``sig`` once a stderr line starts with ``line_starts``; (rc, stderr)."""
    p = subprocess.Popen([str(EXE), *map(str, args)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith(line_starts):
            p.send_signal(sig)
            break
    seen.append(p.stderr.read())
    return p.wait(timeout=60), "".join(seen)


def test_train_stopped_by_sigterm_saves_its_state_as_ctrl_c_does(tmp_path):
    """`docker stop`, systemd or `timeout` (SIGTERM) killed a training run outright: no state saved
    since the last epoch, no message, exit -15."""
    data = make_dataset(tmp_path / "d", per_class=6, persons=6, size=32)
    run = tmp_path / "run"
    rc, err = _stop_after(["train", data, "--out", run, "--epochs", "1000", "--batch-size", "2", "--input-size", "16",
                           "--device", "cpu"], "epoch 1:")
    assert rc == 130, err
    assert err.splitlines()[-1] == f"interrupted: training state saved to {run / 'last.pt'}; continue with --resume"
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    # stopped after epoch 1's dev figures: its 8 steps are kept (a resume redoes only the validation)
    assert state["epoch"] >= 1 or state["step_in_epoch"] == 8
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_prepare_stopped_by_sigterm_leaves_no_sample_of_the_video_being_cut(tmp_path, grace):
    """Killed by SIGTERM, prepare left the samples of the video it was cutting without its record,
    so the next run cut that video again beside them (duplicates in train and test)."""
    first = write_video(tmp_path / "a.mp4", moving_face_frames(grace, 10))
    frames = moving_face_frames(grace, 24)
    second = write_video(tmp_path / "b.mp4", (frames + frames[::-1]) * 8)
    out = tmp_path / "data"
    rc, err = _stop_after(["prepare", first, second, "--label", "real", "--out", out, "--crop-size", "32", "--device", "cpu"],
                          f"{first}: ")
    assert rc == 130, err
    assert sorted(p.name for p in (out / "real").iterdir()) == ["real_a_00000", "real_a_00001"]
    assert list(json.loads((out / "rtliveness_data.json").read_text())["videos"].values()) == [{"samples": 2, "dropped": 0}]


def test_resume_of_a_finished_run_says_there_is_nothing_to_resume(trained):
    """It said 'resuming from RUN/last.pt at epoch 2' of a 1-epoch run, loaded every window, trained nothing."""
    data, run, r, _ = trained
    ok(r)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    again = ok(rtl("train", data, "--out", run, "--resume", "--device", "cpu"))
    thr = load_checkpoint(run / "model.pt").meta.threshold
    assert again.stderr.splitlines() == [
        f"{run} has finished its 1 epoch: nothing to resume (to train on, give --resume --epochs N with N > 1)",
        f"model: {run / 'model.pt'} (threshold {thr:.4f}); test split in {run / 'split.json'}"]
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_an_output_below_a_linked_class_folder_is_inside_and_a_hidden_one_is_not(tmp_path):
    """Diff review: with DATA/real a link to another disk, `train --out DATA/real/runs` passed the
    check (resolved, it lay outside DATA) and made a folder read as a sample; DATA/.runs, never
    read, was refused."""
    from rtliveness.errors import ConfigError
    from rtliveness.outputs import check_outside

    data, store = tmp_path / "DATA", tmp_path / "store" / "real"
    store.mkdir(parents=True)
    data.mkdir()
    (data / "real").symlink_to(store)
    with pytest.raises(ConfigError, match=r"^--out .*/DATA/real/runs is inside the dataset "):
        check_outside(data / "real" / "runs", data, "--out")
    check_outside(data / ".runs", data, "--out")  # hidden folders are not read: fine
    check_outside(tmp_path / "runs", data, "--out")


def test_training_that_diverges_on_an_epochs_last_step_and_a_non_finite_lr_are_one_line(tmp_path):
    """Review findings: a divergence on the last step of an epoch (here the only one) ended as
    'unexpected ValueError: scores contain 6 NaN value(s)…' (exit 1), not the 'training diverged …
    lower --lr' (exit 6) of an earlier step; --lr inf passed the option check."""
    data = make_dataset(tmp_path / "d", per_class=6, persons=6, size=32)
    r = rtl("train", data, "--out", tmp_path / "run", "--lr", "1e3", "--epochs", "1", "--batch-size", "64",
            "--input-size", "32", "--device", "cpu")
    assert r.returncode == 6, r.stderr
    assert re.fullmatch(r"rtliveness: error: training diverged \((weights not finite|\d+ of \d+ dev scores not finite)\) "
                        r"at epoch 1( step 0)?; lower --lr", r.stderr.splitlines()[-1]), r.stderr
    one_error_line(rtl("train", data, "--out", tmp_path / "r2", "--lr", "inf", "--device", "cpu"), 2,
                   "--lr must be a finite number, got inf")  # (nan and the other settings: test_train_eval.py)
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_synth_stopped_by_sigterm_or_sighup_keeps_its_records_as_ctrl_c_does(tmp_path, sig):
    """Review finding: killed by SIGTERM or SIGHUP (exit -15 / -1), synth left sample folders with
    no rtliveness_data.json and no synth_samples.jsonl."""
    import time

    assets = tmp_path / "assets"
    assets.mkdir()
    for name in ("grace_hopper_512x512.jpg", "astronaut.png"):
        (assets / name).symlink_to(ASSETS / name)
    out = tmp_path / "synth"
    proc = subprocess.Popen([str(EXE), "synth", "--out", str(out), "--samples-per-class", "20", "--assets", str(assets),
                             "--width", "320", "--height", "240"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not any(out.glob("real/real_*")):
        time.sleep(0.05)
    assert proc.poll() is None, "synth ended before it could be stopped"
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)
    assert [x for x in err.splitlines() if x.strip()] == ["rtliveness: interrupted"]
    recs = [json.loads(x)["sample"] for x in (out / "synth_samples.jsonl").read_text().splitlines()]
    assert len(recs) >= 1 and sorted(f"{p.parent.name}/{p.name}" for p in out.glob("*/*")) == sorted(recs)
    report = json.loads((out / "rtliveness_data.json").read_text())["report"]
    assert report["interrupted"] is True and sum(report["counts"].values()) == len(recs)


def test_resume_of_a_fine_tune_from_another_folder_does_not_read_init_weights_again(tmp_path):
    """Review finding: `train --resume` re-read --init-weights by its relative path although the
    model comes from last.pt: from another folder it failed with 'weights file not found: init.pt'."""
    data = make_dataset(tmp_path / "d", per_class=6, persons=6, size=32)
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    torch.manual_seed(0)
    save_checkpoint(here / "init.pt", SpoofModel(), ModelMeta(input_size=32, crop_scale=1.0, threshold=0.5))
    args = ["train", data, "--out", tmp_path / "run", "--init-weights", "init.pt", "--epochs", "1", "--batch-size", "64",
            "--device", "cpu"]

    def at(cwd, *more):
        return subprocess.run([str(EXE), *map(str, args), *more], capture_output=True, text=True, timeout=600, cwd=cwd)
    ok(at(here))
    r = ok(at(there, "--resume", "--epochs", "2"))  # the same command, from a folder without init.pt
    assert r.stderr.splitlines()[-1].startswith(f"model: {tmp_path / 'run' / 'model.pt'} (threshold ")
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]["init_weights"] == str(here / "init.pt")
    assert [h["epoch"] for h in json.loads((tmp_path / "run" / "history.json").read_text())] == [1, 2]


def test_a_crop_scale_taken_from_init_weights_wider_than_the_stored_crops_says_where_it_came_from(tmp_path):
    """Review finding: 'crop scale 2.2 is wider than the dataset's stored crops (1.5)', when the
    user never gave 2.2 (it came from the --init-weights checkpoint) and no way out was named."""
    data = make_dataset(tmp_path / "d", per_class=6, persons=6, size=32)
    (data / "rtliveness_data.json").write_text(json.dumps({"crop_scale": 1.5}))
    wide = tmp_path / "wide.pt"
    save_checkpoint(wide, SpoofModel(), ModelMeta(input_size=32, crop_scale=2.2, threshold=0.5))
    one_error_line(rtl("train", data, "--out", tmp_path / "run", "--init-weights", wide, "--device", "cpu"), 2,
                   f"--init-weights {wide} was trained on crops at scale 2.2 (train's crop scale when --crop-scale is not "
                   f"given), wider than the crops {data} stores (1.5, its rtliveness_data.json); give --crop-scale 1.5 or "
                   "less to fine-tune on these crops, or cut the videos again into a new folder with rtliveness prepare "
                   "--crop-scale 2.2")
    assert not (tmp_path / "run").exists()


def test_prepare_names_a_video_too_short_for_one_sample(tmp_path, grace):
    """Review finding: a 3-frame video was 'no sample (no face followed through 5 frames); check that
    a face is in view and large enough (--min-face)', though the face was there all along."""
    short = write_video(tmp_path / "short.mp4", moving_face_frames(grace, 3))
    r = ok(rtl("prepare", short, "--label", "real", "--out", tmp_path / "o", "--crop-size", "32", "--device", "cpu"))
    assert r.stderr.splitlines()[0] == (f"rtliveness: warning: {short}: no sample: the video has 3 frames and a sample "
                                        "needs 5 frames; record or give a longer video")
    r = ok(rtl("prepare", short, "--label", "real", "--out", tmp_path / "o", "--crop-size", "32", "--device", "cpu",
               "--stride", "2"))
    assert r.stderr.splitlines()[0] == (f"rtliveness: warning: {short}: no sample: the video has 3 frames and a sample "
                                        "needs 9 frames (5 crops 2 frames apart, --stride); record or give a longer video")
