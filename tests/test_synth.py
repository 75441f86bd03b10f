"""Tests of the attack synthesiser (rtliveness.training.synth): layout, reproducibility, clips, and that
each attack medium leaves the physical trace it is meant to leave."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import read_frames
from rtliveness.config import DetectorConfig
from rtliveness.training import synth
from rtliveness.training.attacks import CLASSES
from rtliveness.training.synth.mask2d import _render_2dmask
from rtliveness.training.synth.printed import _print_image, _render_printed
from rtliveness.training.synth.real import _render_real
from rtliveness.training.synth.replay import _render_replay, _screen_layer
from rtliveness.types import FaceBox
from rtliveness.runtime.detect import build_detector

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SMALL = ("webcam_talking_head.mov", "grace_hopper_512x512.jpg", "astronaut.png")


@pytest.fixture(scope="module")
def detector():
    return build_detector(DetectorConfig(min_face_size=40, factor=0.6), device="cpu")


def _cfg(seed: int, **kw) -> synth.SynthConfig:
    base = dict(samples_per_class=2, seed=seed, frame_size=(320, 240), face_size=(60.0, 100.0), sources=SMALL)
    base.update(kw)
    return synth.SynthConfig(**base)


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, detector):
    base = tmp_path_factory.mktemp("synth")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        rep = synth.synthesize(ASSETS, base / name, _cfg(seed), detector=detector)
        out[name] = (base / name, rep)
    return out


def test_layout_and_meta(runs):
    root, rep = runs["a"]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(CLASSES)
    pat = re.compile(r"^[^_]+_([^_]+)_")
    persons = set()
    for cls in CLASSES:
        samples = sorted((root / cls).iterdir())
        assert len(samples) == rep["counts"][cls] == 2
        for s in samples:
            assert s.name.startswith(cls + "_")
            m = pat.match(s.name)
            assert m and m.group(1) in rep["identities"]
            persons.add(m.group(1))
            assert sorted(p.name for p in s.iterdir()) == [f"{i}.png" for i in range(5)]
            for p in s.iterdir():
                img = cv2.imread(str(p))
                assert img.shape == (224, 224, 3)
            # five frames of a sample are not five copies of one image
            imgs = [cv2.imread(str(s / f"{i}.png")).astype(np.int16) for i in range(5)]
            assert max(np.abs(imgs[0] - im).mean() for im in imgs[1:]) > 0.5
    assert persons <= {"talkinghead", "gracexhopperx512x512", "astronaut"}
    meta = json.loads((root / "rtliveness_data.json").read_text())
    assert meta["crop_scale"] == 2.7 and meta["crop_size"] == 224
    assert meta["generator"] == "rtliveness synth"
    assert meta["config"]["seed"] == 0 and meta["config"]["frame_size"] == [320, 240]
    assert meta["report"]["counts"] == rep["counts"] and meta["report"]["total"] == 8
    lines = (root / "synth_samples.jsonl").read_text().splitlines()
    assert len(lines) == 8 and all("camera" in json.loads(x)["params"] for x in lines)


def test_reproducible_for_a_seed(runs):
    a, b, c = (_tree(runs[k][0]) for k in "abc")
    assert a and a == b
    assert a != c
    ja = json.loads((runs["a"][0] / "rtliveness_data.json").read_text())
    jb = json.loads((runs["b"][0] / "rtliveness_data.json").read_text())
    for j in (ja, jb):
        for k in ("seconds", "seconds_render", "seconds_detect"):
            j["report"].pop(k)
    assert ja == jb
    assert (runs["a"][0] / "synth_samples.jsonl").read_bytes() == (runs["b"][0] / "synth_samples.jsonl").read_bytes()


def test_samples_are_cut_at_the_deployed_loops_boxes(runs, detector, sources):
    """Each sample is cut at the boxes an independent LivenessPipeline (``run``'s detector cadence
    and tracker) gives the rendered face on the last 5 frames, after the recorded warm-up."""
    from conftest import FakeScorer
    from rtliveness.runtime.crop import crop_face
    from rtliveness.runtime.pipeline import LivenessPipeline
    from rtliveness.runtime.track import box_iou
    from rtliveness.training.attacks import class_seed

    root, _ = runs["a"]
    cfg = _cfg(0)
    recs = [json.loads(x) for x in (root / "synth_samples.jsonl").read_text().splitlines()]
    warmups, carried = set(), 0
    for rec in recs:
        kind, k = rec["class"], int(rec["sample"].rsplit("_", 1)[1])
        rng = np.random.default_rng([0, class_seed(kind), k, rec["attempt"]])
        warm = int(rng.integers(4, 7))
        assert rec["params"]["warmup"] == warm
        warmups.add(warm)
        frames, expected, _ = synth.render._render_sample(sources, _ident(sources, rec["person"]), kind, rng, cfg,
                                                          warm + 5, cfg.frame_size)
        pipe = LivenessPipeline(detector, FakeScorer(), detector_config=DetectorConfig())
        results = [pipe.step(f) for f in frames]
        first = {v.track_id: v.box for v in results[0].faces}
        tid = max(first, key=lambda t: box_iou(first[t], expected[0]))
        boxes = [next(v.box for v in r.faces if v.track_id == tid) for r in results][warm:]
        assert [b.as_list() for b in boxes] == rec["boxes"]
        for j, b in enumerate(boxes):
            np.testing.assert_array_equal(cv2.imread(str(root / rec["sample"] / f"{j}.png")),
                                          crop_face(frames[warm + j], b, 2.7, 224))
        # between detector runs the box is the tracker's, not where the detector would put it
        for j, b in enumerate(boxes):
            dets = detector.detect(frames[warm + j])
            carried += bool(dets) and min(abs(np.subtract(d.as_list(), b.as_list())).max() for d in dets) > 0
    assert carried >= len(recs)  # about two frames in three are carried
    assert len(warmups) >= 2      # the cadence phase varies between samples


def test_detect_boxes_keep_the_old_cut(tmp_path, detector):
    rep = synth.synthesize(ASSETS, tmp_path / "d", _cfg(0, classes=("real",), boxes="detect"), detector=detector)
    assert rep["counts"] == {"real": 2}
    rec = json.loads((tmp_path / "d" / "synth_samples.jsonl").read_text().splitlines()[0])
    assert "warmup" not in rec["params"]


def test_an_existing_dataset_is_refused_and_an_interrupted_run_keeps_its_records(tmp_path, detector, monkeypatch):
    """synth into a folder holding samples is refused (the records would describe only the new
    run); a Ctrl+C keeps the whole samples written so far with their records (marked interrupted),
    and no half-written sample."""
    from rtliveness.errors import ConfigError
    from rtliveness.training.data import scan_dataset
    from rtliveness.training.synth import render

    out = tmp_path / "d"
    synth.synthesize(ASSETS, out, _cfg(0, classes=("real",)), detector=detector)
    with pytest.raises(ConfigError, match=r"already holds real, rtliveness_data.json, synth_samples.jsonl: synth writes a new dataset"):
        synth.synthesize(ASSETS, out, _cfg(0, classes=("real",)), detector=detector)
    real_make, calls = render._make_sample, []

    def interrupted_after_one(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_make(*args, **kw)

    monkeypatch.setattr(render, "_make_sample", interrupted_after_one)
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize(ASSETS, cut, _cfg(0, classes=("real", "printed")), detector=detector)
    recs = [json.loads(x) for x in (cut / "synth_samples.jsonl").read_text().splitlines()]
    meta = json.loads((cut / "rtliveness_data.json").read_text())
    assert [r["sample"] for r in recs] == [s.name for s in scan_dataset(cut).samples] and len(recs) == 1
    assert meta["report"]["interrupted"] is True and meta["report"]["counts"] == {"real": 1, "printed": 0}
    assert not any(p.name.startswith(".") for p in (cut / "real").iterdir())


def test_no_sample_rendered_is_an_error_and_unreadable_assets_are_named(tmp_path, detector, monkeypatch):
    from rtliveness.errors import DataError
    from rtliveness.training.synth import render

    assets = tmp_path / "assets"
    assets.mkdir()
    for name in SMALL:
        (assets / name).symlink_to(ASSETS / name)
    (assets / "broken.jpg").write_bytes(b"not a jpeg")
    rep = synth.synthesize(assets, tmp_path / "d", _cfg(0, classes=("real",), sources=()), detector=detector)
    assert rep["unreadable_assets"] == ["broken.jpg"] and rep["counts"] == {"real": 2}
    # every attempt fails (here: the renderer gives nothing): no sample is an error, not exit 0
    monkeypatch.setattr(render, "_render_sample", lambda *a, **k: None)
    with pytest.raises(DataError, match=r"synth rendered no sample \(1 given up: .* window of 320x240\); try a larger"):
        synth.synthesize(assets, tmp_path / "e", _cfg(0, classes=("real",), sources=(), samples_per_class=1,
                                                       max_attempts=2), detector=detector)


def test_config_validation():
    with pytest.raises(ValueError):
        synth.SynthConfig(classes=("real", "cartoon"))
    with pytest.raises(ValueError):
        synth.SynthConfig(samples_per_class=0)
    with pytest.raises(ValueError, match="boxes must be loop or detect"):
        synth.SynthConfig(boxes="every")
    with pytest.raises(ValueError, match="warmup"):
        synth.SynthConfig(warmup=(5, 2))


def test_render_clip(tmp_path, detector):
    out = synth.render_clip("replay", ASSETS, tmp_path / "replay.mp4", n_frames=12, seed=3, frame_size=(320, 240), detector=detector,
                            params_json=tmp_path / "replay.json")
    frames = read_frames(out)
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3)
    assert any(detector.detect(f) for f in frames[:3])
    # the scene's parameters, as synth records them; the same seed renders the same clip again
    rec = json.loads((tmp_path / "replay.json").read_text())
    assert rec["class"] == "replay" and rec["seed"] == 3 and "talkinghead" in rec["identity"]
    w, h = rec["params"]["screen_wh"]
    assert min(w, h) >= 4 and rec["params"]["face_px"] > 0
    again = synth.render_clip("replay", ASSETS, tmp_path / "again.mp4", n_frames=12, seed=3, frame_size=(320, 240), detector=detector)
    again = read_frames(again)
    assert len(again) == len(frames) and all(np.array_equal(a, b) for a, b in zip(again, frames))
    # another identity of the assets (the deployed-loop evaluation renders every held-out one), MJPG
    kw = dict(n_frames=6, seed=1, frame_size=(320, 240), detector=detector, face_size=(60.0, 100.0), fourcc="MJPG")
    astro = read_frames(synth.render_clip("printed", ASSETS, tmp_path / "a.avi", identity="astronaut", **kw))
    default = read_frames(synth.render_clip("printed", ASSETS, tmp_path / "d.avi", **kw))
    assert len(astro) == len(default) == 6 and any(detector.detect(f) for f in astro[:3])
    assert np.abs(astro[0].astype(np.int16) - default[0]).mean() > 5
    with pytest.raises(ValueError, match="no identity 'nobody'"):
        synth.render_clip("real", ASSETS, tmp_path / "x.avi", identity="nobody", **kw)


# ------------------------------------------------------------------ the media leave their traces
@pytest.fixture(scope="module")
def sources(detector):
    return synth.load_sources(ASSETS, _cfg(0), detector)


def _ident(src, pid):
    return next(i for i in src.identities if i.pid == pid)


def _sat(img01):
    hsv = cv2.cvtColor(np.clip(img01, 0, 1).astype(np.float32), cv2.COLOR_BGR2HSV)
    return float(hsv[:, :, 1].mean())


def _hf(img01, box):
    """Mean squared Laplacian of the luminance inside a face box: fine texture energy."""
    g = cv2.cvtColor(np.clip(img01, 0, 1).astype(np.float32), cv2.COLOR_BGR2GRAY)
    x1, y1, x2, y2 = (int(v) for v in (box.x1, box.y1, box.x2, box.y2))
    lap = cv2.Laplacian(g, cv2.CV_32F)[max(0, y1):y2, max(0, x1):x2]
    return float((lap ** 2).mean())


def test_print_loses_gamut_and_adds_halftone(sources):
    ident = _ident(sources, "astronaut")
    face = ident.frames[0][int(ident.box.y1):int(ident.box.y2), int(ident.box.x1):int(ident.box.x2)]
    face = cv2.resize(face, (240, 240), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    cfg = _cfg(0, print_modes=("am",))
    refl, p = _print_image(face, np.random.default_rng(0), cfg, cell_px=4.0)
    assert p["mode"] == "am"
    assert _sat(refl) < 0.9 * _sat(face)                     # gamut loss
    lum_o, lum_p = face.mean(axis=2), refl.mean(axis=2)
    assert np.percentile(lum_p, 1) > np.percentile(lum_o, 1) + 0.03   # lifted blacks
    # halftone dots: fine texture energy far above the (upsampled, smooth) original's
    whole = FaceBox(0, 0, 240, 240)
    assert _hf(refl, whole) > 4 * _hf(face, whole)
    contone, pc = _print_image(face, np.random.default_rng(0), _cfg(0, print_modes=("contone",)), cell_px=4.0)
    assert _hf(refl, whole) > 2 * _hf(contone, whole)          # dots, not just grain


def test_printed_scene_has_print_texture_real_does_not(sources):
    cfg = _cfg(0, print_modes=("am",), halftone_cell_px=(3.0, 3.5), face_size=(90.0, 100.0))
    ident = _ident(sources, "talkinghead")
    hf_real, hf_print = [], []
    for k in range(3):
        sc, ex, _ = _render_real(sources, ident, np.random.default_rng([1, k]), cfg, 2, 320, 240)
        hf_real.append(_hf(sc[0], ex[0]))
        sc, ex, p = _render_printed(sources, ident, np.random.default_rng([2, k]), cfg, 2, 320, 240)
        hf_print.append(_hf(sc[0], ex[0]))
        assert ex[0] is not None and p["print"]["mode"] == "am"
    assert min(hf_print) > 3 * max(hf_real)


def test_replay_screen_has_subpixel_grid(sources):
    ident = _ident(sources, "astronaut")
    img = ident.frames[0].astype(np.float32) / 255
    sub = {"fill": 0.9, "gap": 0.1, "horizontal": False, "order": [2, 1, 0]}
    scr = cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)
    H = np.array([[3.0, 0, 10], [0, 3.0, 10], [0, 0, 1]])          # 3 camera px per screen pixel
    layer, alpha = _screen_layer(scr, H, 220, 220, sub)
    assert alpha[50, 50] == pytest.approx(1.0) and alpha[5, 5] == 0.0
    region = layer[20:200, 20:200]
    # vertical RGB stripes: each channel lit in a different third of every screen pixel
    cols = region.mean(axis=0)                                  # (180, 3)
    phase = (np.arange(20, 200) - 10) % 3                       # third of the screen pixel
    for ch, third in ((2, 0), (1, 1), (0, 2)):                  # R first, then G, then B
        lit = cols[phase == third, ch].mean()
        dark = cols[phase != third, ch].mean()
        assert lit > 2.5 * dark
    # periodic energy at 1/3 cycles/px, absent from the plain (real-like) resampled image
    plain = cv2.warpAffine(scr, H[:2], (220, 220))[20:200, 20:200]
    def peak(im):
        prof = im.mean(axis=(0, 2))
        f = np.abs(np.fft.rfft(prof - prof.mean()))
        return float(f[60] / (np.median(f[5:90]) + 1e-9))       # bin 60 = 180/3
    assert peak(region) > 20 and peak(plain) < 5


def test_replay_scene_is_cooler_and_gridded_than_real(sources):
    cfg = _cfg(0, screen_pixel_px=(1.4, 1.6), face_size=(90.0, 100.0), glare_p=0.0)
    ident = _ident(sources, "talkinghead")
    for k in range(2):
        sc_r, ex_r, _ = _render_real(sources, ident, np.random.default_rng([3, k]), cfg, 2, 320, 240)
        sc_s, ex_s, p = _render_replay(sources, ident, np.random.default_rng([4, k]), cfg, 2, 320, 240)
        assert ex_s[0] is not None and p["cam_px_per_screen_px"] == pytest.approx(1.5, abs=0.11)
        assert _hf(sc_s[0], ex_s[0]) > 3 * _hf(sc_r[0], ex_r[0])


def test_2dmask_covers_host_with_print(sources):
    cfg = _cfg(0, print_modes=("am",), halftone_cell_px=(3.0, 3.5), face_size=(90.0, 100.0))
    ident = _ident(sources, "gracexhopperx512x512")
    host = _ident(sources, "talkinghead")
    for k in range(2):
        sc, ex, p = _render_2dmask(sources, ident, np.random.default_rng([5, k]), cfg, 5, 320, 240)
        assert p["host"] == "talkinghead" and ex[0] is not None
        sc_r, ex_r, _ = _render_real(sources, host, np.random.default_rng([6, k]), cfg, 2, 320, 240)
        assert _hf(sc[0], ex[0]) > 3 * _hf(sc_r[0], ex_r[0])
        # the mask follows the head rigidly: its box moves, but keeps its size within 15 %
        widths = [b.width for b in ex]
        assert max(widths) / min(widths) < 1.15
