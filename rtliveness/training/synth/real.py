"""Bona fide samples: live video windows, and stills animated like a live sitter."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .scene import _affine_box, _cover_affine, _f32, _light_field, _maybe_flip, _smooth_track, _target_face, _u, _video_indices, _warp_affine


def _render_real(src, ident, rng, cfg, n, w, h):
    p: dict = {}
    L, p["light"] = _light_field(rng, w, h, strength=0.35)
    flip = bool(rng.random() < 0.5)
    if ident.kind == "video":
        stride = int(rng.integers(cfg.frame_stride[0], cfg.frame_stride[1] + 1))
        idx = _video_indices(ident, rng, n, stride)
        frames = [ident.frames[i] for i in idx]
        b0 = src.box(ident, idx[0])
        if b0 is None:
            return None
        frames, (b0,) = _maybe_flip(frames, [b0], flip)
        sh, sw = frames[0].shape[:2]
        target = _target_face(rng, cfg, b0.width)
        A = _cover_affine(sw, sh, b0, target, w, h, rng)
        scenes = [_warp_affine(_f32(f), A, w, h) * L[:, :, None] for f in frames]
        expected = _affine_box(A, b0)
        p.update({"source": "video", "frames": idx, "stride": stride, "flip": flip, "affine": np.round(A, 4).tolist()})
        return scenes, [expected] + [None] * (n - 1), p
    img, box = ident.frames[0], ident.box
    frames, (box,) = _maybe_flip([img], [box], flip)
    img = frames[0]
    sh, sw = img.shape[:2]
    target = _target_face(rng, cfg, box.width)
    A = _cover_affine(sw, sh, box, target, w, h, rng)
    if A[0, 0] * box.width > cfg.face_size[1] * 1.05:
        # a small still must be blown up to cover the frame: its face would be far larger than
        # any attack's and its context crop would run off the frame (edge streaks only reals
        # have) — a label shortcut. Such stills give no real sample.
        return None
    base = _warp_affine(_f32(img), A, w, h) * L[:, :, None]
    fb = _affine_box(A, box)
    cx, cy = fb.center
    fw = max(fb.width, fb.height)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    win = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * (0.75 * fw) ** 2))).astype(np.float32)
    amp = _u(rng, (0.01, 0.035)) * fw
    fields = []
    for _ in range(2):
        g = rng.standard_normal((2, 5, 5)).astype(np.float32)
        fields.append([cv2.resize(g[k], (w, h), interpolation=cv2.INTER_CUBIC) for k in range(2)])
    rot_amp = _u(rng, (0.5, 2.5))
    shift_amp = _u(rng, (0.005, 0.03)) * fw
    light_amp = _u(rng, (0.005, 0.03))
    tr = _smooth_track(rng, n, ident.fps, np.array([1.0, 1.0, rot_amp, shift_amp, shift_amp, light_amp]))
    tr -= tr[0]
    scenes = []
    for i in range(n):
        a1, a2 = math.sin(tr[i, 0]), math.sin(tr[i, 1])
        th = math.radians(tr[i, 2])
        dxr = (math.cos(th) - 1) * (xs - cx) - math.sin(th) * (ys - cy)
        dyr = math.sin(th) * (xs - cx) + (math.cos(th) - 1) * (ys - cy)
        dx = win * (amp * (a1 * fields[0][0] + a2 * fields[1][0]) + dxr + tr[i, 3])
        dy = win * (amp * (a1 * fields[0][1] + a2 * fields[1][1]) + dyr + tr[i, 4])
        fr = cv2.remap(base, (xs + dx).astype(np.float32), (ys + dy).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        fr *= (1.0 + tr[i, 5] * win)[:, :, None]
        scenes.append(fr)
    p.update({"source": "still", "flip": flip, "affine": np.round(A, 4).tolist(), "elastic_px": round(amp, 3),
              "rot_deg": round(rot_amp, 3), "shift_px": round(shift_amp, 3), "light_change": round(light_amp, 4)})
    return scenes, [fb] + [None] * (n - 1), p
