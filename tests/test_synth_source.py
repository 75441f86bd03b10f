"""The attacker's recording of a replay's content (``synth/source.py``) and its switch in the renderer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtliveness.training import synth
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
    assert synth.SynthConfig().replay_source_p == 0.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"replay_source_p must be in \[0, 1\]"):
            synth.SynthConfig(replay_source_p=bad)
