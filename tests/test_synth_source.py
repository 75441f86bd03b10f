"""The attacker's recording of a replay's content (``synth/source.py``), the capture camera's tone
mapping (``synth/camera.py``), and their switches in the renderer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtliveness.training import synth
from rtliveness.training.synth.camera import SATURATION, TONE, _camera, saturate, tone_curve, tone_params
from rtliveness.training.synth.render import _render_sample
from rtliveness.training.synth.replay import _render_replay
from rtliveness.training.synth.source import SOURCE_FACE_PX, SOURCE_JPEG, record_frame, record_source, source_params
from rtliveness.types import FaceBox
from test_synth import _cfg, _ident, detector, sources  # noqa: F401  (module fixtures)


def _gradient(h=120, w=160):
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    img = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                          np.broadcast_to(255 - x, (h, w, 1))], axis=2)
    return np.ascontiguousarray(img).astype(np.uint8)


def _plain(**kw):
    sp = {"scale": 1.0, "tone": 0.0, "saturation": 0.0, "sharpen": 0.0, "jpeg": 100}
    sp.update(kw)
    return sp


def test_params_stay_in_their_ranges_and_never_upscale():
    rng = np.random.default_rng(0)
    for face_w in (40.0, 150.0, 900.0):
        for _ in range(200):
            sp = source_params(rng, face_w)
            assert 0 < sp["scale"] <= 1.0
            assert sp["scale"] == 1.0 or sp["scale"] * face_w >= SOURCE_FACE_PX[0] - 0.5
            assert sp["scale"] * face_w <= max(face_w, SOURCE_FACE_PX[1]) + 0.5
            assert SOURCE_JPEG[0] <= sp["jpeg"] <= SOURCE_JPEG[1]
            assert 0 <= sp["tone"] <= 0.35 and 0 <= sp["saturation"] <= 0.3 and 0 <= sp["sharpen"] <= 0.8
    # a face smaller than any recording's is never blown up
    assert all(source_params(rng, 40.0)["scale"] == 1.0 for _ in range(50))


def test_each_step_does_what_it_says():
    img = _gradient()
    same = record_frame(img, _plain())
    d = np.abs(same.astype(int) - img)
    assert same.shape == img.shape and d.max() <= 6 and d.mean() < 1.0             # JPEG 100 only
    small = record_frame(img, _plain(scale=0.5))
    assert small.shape == (60, 80, 3)
    # the S-curve darkens shadows and brightens highlights, keeps mid-grey
    grey = np.array([[[40] * 3, [128] * 3, [215] * 3]], np.uint8)
    tone = record_frame(np.repeat(np.repeat(grey, 16, 0), 16, 1), _plain(tone=0.3))[8, ::16, 0].astype(int)
    assert tone[0] < 40 - 3 and abs(tone[1] - 128) <= 2 and tone[2] > 215 + 3
    # saturation grows chroma, keeps a grey pixel grey
    sat = record_frame(img, _plain(saturation=0.3)).astype(int)
    chroma = lambda a: np.abs(a[:, :, 2] - a[:, :, 0]).mean()                       # noqa: E731
    assert chroma(sat) > 1.2 * chroma(img.astype(int))
    flat = record_frame(np.full((32, 32, 3), 100, np.uint8), _plain(saturation=0.3, sharpen=0.8, tone=0.2))
    assert np.abs(flat.astype(int) - flat[0, 0].astype(int)).max() <= 1
    # sharpening raises edge contrast; low JPEG quality loses detail
    edge = np.full((64, 64, 3), 60, np.uint8)
    edge[:, 32:] = 180
    edge = cv2.GaussianBlur(edge, (0, 0), 0.8)
    steep = lambda a: float(np.abs(np.diff(a[32, :, 1].astype(int))).max())        # noqa: E731
    sharp = record_frame(edge, _plain(sharpen=0.8))
    assert steep(sharp) > 1.2 * steep(edge)
    assert sharp[32, 26:32, 1].min() < 60 - 3 and sharp[32, 32:38, 1].max() > 180 + 3   # the halo of an unsharp mask
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    assert np.abs(record_frame(noise, _plain(jpeg=30)).astype(int) - noise).mean() > 10


def test_record_source_scales_the_box_and_shares_one_setting():
    img = _gradient(200, 300)
    other = _gradient(200, 300)[::-1].copy()
    box = FaceBox(100.0, 50.0, 250.0, 180.0)                       # 150 px wide
    rng = np.random.default_rng(5)
    out, b, sp = record_source([img, img, other], box, rng)
    assert out[0] is out[1] and out[2] is not out[0]                # a repeated frame is recorded once
    h, w = out[0].shape[:2]
    kx, ky = w / 300, h / 200
    assert b.x1 == pytest.approx(100 * kx) and b.x2 == pytest.approx(250 * kx)
    assert b.y1 == pytest.approx(50 * ky) and b.y2 == pytest.approx(180 * ky)
    assert sp == source_params(np.random.default_rng(5), 150.0)    # the same draw, recorded in the sample


def test_the_switch_changes_only_the_content(sources):  # noqa: F811
    ident = _ident(sources, "talkinghead")
    off, on = _cfg(0, glare_p=0.0), _cfg(0, glare_p=0.0, replay_source_p=1.0)
    for k in range(3):
        sc0, ex0, p0 = _render_replay(sources, ident, np.random.default_rng([7, k]), off, 2, 320, 240)
        sc1, ex1, p1 = _render_replay(sources, ident, np.random.default_rng([7, k]), on, 2, 320, 240)
        assert "source" not in p0 and set(p1["source"]) == {"scale", "tone", "saturation", "sharpen", "jpeg"}
        # the same scene, screen and pose: every other parameter is equal, the face where it was
        rest = {key: v for key, v in p1.items() if key not in ("source", "cam_px_per_screen_px", "screen_wh")}
        assert rest == {key: v for key, v in p0.items() if key not in ("cam_px_per_screen_px", "screen_wh")}
        assert abs(ex1[0].center[0] - ex0[0].center[0]) < 3 and abs(ex1[0].width - ex0[0].width) < 3
        # ... and the face's pixels differ
        x1, y1, x2, y2 = (int(v) for v in (ex0[0].x1, ex0[0].y1, ex0[0].x2, ex0[0].y2))
        assert np.abs(sc1[0][y1:y2, x1:x2] - sc0[0][y1:y2, x1:x2]).mean() > 0.002


def test_off_by_default_and_validated():
    assert synth.SynthConfig().replay_source_p == 0.0 and synth.SynthConfig().camera_tone_p == 0.0
    for name in ("replay_source_p", "camera_tone_p"):
        for bad in (-0.1, 1.5):
            with pytest.raises(ValueError, match=name + r" must be in \[0, 1\]"):
                synth.SynthConfig(**{name: bad})


def test_tone_curve_and_saturation_exactly():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    # (1 - c) x + c (3x^2 - 2x^3): ends and mid-grey fixed, a quarter moves by c * (0.15625 - 0.25)
    assert np.allclose(tone_curve(x, 0.2), [0.0, 0.25 - 0.2 * 0.09375, 0.5, 0.75 + 0.2 * 0.09375, 1.0], atol=1e-7)
    assert tone_curve(x, 0.0) is x
    px = np.array([[[0.2, 0.4, 0.6]]], np.float32)                        # BGR
    luma = 0.114 * 0.2 + 0.587 * 0.4 + 0.299 * 0.6
    assert np.allclose(saturate(px, 0.5), luma + (px - luma) * 1.5, atol=1e-6)
    grey = np.full((2, 2, 3), 0.3, np.float32)
    assert np.allclose(saturate(grey, 0.3), grey, atol=1e-6) and saturate(px, 0.0) is px
    rng = np.random.default_rng(0)
    for _ in range(100):
        tp = tone_params(rng)
        assert TONE[0] <= tp["tone"] <= TONE[1] and SATURATION[0] <= tp["saturation"] <= SATURATION[1]


def test_the_camera_tones_when_told_and_only_then():
    scene = np.ascontiguousarray(np.broadcast_to(np.linspace(0, 1, 160, dtype=np.float32)[None, :, None], (120, 160, 3)))
    cp = {"exposure": 1.0, "wb": [1.0, 1.0, 1.0], "gamma": 1.0, "blur": 0.3, "motion": None, "shot": 1e-9,
          "read": 1e-12, "sharpen": 0.0, "jpeg": 100, "flicker": 0.0}
    plain = _camera(scene, cp, np.random.default_rng(1)).astype(int)
    toned = _camera(scene, {**cp, "tone": 0.35, "saturation": 0.3}, np.random.default_rng(1)).astype(int)
    dark, bright = scene.mean(axis=2) < 0.3, scene.mean(axis=2) > 0.7
    assert toned[dark].mean() < plain[dark].mean() - 2 and toned[bright].mean() > plain[bright].mean() + 2


def test_camera_tone_is_label_neutral_and_off_draws_nothing(sources):  # noqa: F811
    ident = _ident(sources, "talkinghead")
    off, on = _cfg(0, glare_p=0.0), _cfg(0, glare_p=0.0, camera_tone_p=1.0)
    for kind in ("real", "printed", "replay", "2dmask"):
        r0 = _render_sample(sources, ident, kind, np.random.default_rng([9, 1]), off, 2, (320, 240))
        r1 = _render_sample(sources, ident, kind, np.random.default_rng([9, 1]), on, 2, (320, 240))
        assert r0 is not None and r1 is not None
        cam0, cam1 = r0[2].pop("camera"), r1[2].pop("camera")
        assert "tone" not in cam0 and {k: v for k, v in cam1.items() if k not in ("tone", "saturation")} == cam0
        assert r0[2] == r1[2] and r0[1] == r1[1]                          # same scene, same boxes
        assert np.abs(r0[0][0].astype(int) - r1[0][0]).mean() > 0.5       # toned pixels
