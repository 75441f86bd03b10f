"""2D paper-mask attacks: a printed face cut-out worn over a live head, following it with a lag."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...types import FaceBox
from .printed import _print_image
from .scene import _affine_box, _apply_h, _box_corners, _box_from_points, _cover_affine, _f32, _face_source, _flip_box, _light_field, _logu, _maybe_flip, _plane_h, _smooth_track, _target_face, _u, _video_indices, _warp_affine


def _render_2dmask(src, ident, rng, cfg, n, w, h):
    p: dict = {}
    hosts = src.video_ids()
    if not hosts:
        return None
    host = ident if (ident.kind == "video" and rng.random() < 0.5) else hosts[int(rng.integers(len(hosts)))]
    stride = int(rng.integers(cfg.frame_stride[0], cfg.frame_stride[1] + 1))
    idx = _video_indices(host, rng, n, stride)
    hboxes = [src.box(host, i) for i in idx]
    if hboxes[0] is None:
        return None
    for i in range(1, n):
        if hboxes[i] is None:
            hboxes[i] = hboxes[i - 1]
    flip = bool(rng.random() < 0.5)
    frames, hboxes = _maybe_flip([host.frames[i] for i in idx], hboxes, flip)
    sh, sw = frames[0].shape[:2]
    target = _target_face(rng, cfg, hboxes[0].width)
    A = _cover_affine(sw, sh, hboxes[0], target, w, h, rng)
    L, p["light"] = _light_field(rng, w, h, strength=0.5)
    scenes_host = [_warp_affine(_f32(f), A, w, h) for f in frames]
    hb = [_affine_box(A, b) for b in hboxes]
    host_face = hb[0].width
    # the mask: a printed face of ``ident`` cut to an oval
    img, box = _face_source(src, ident, rng)
    if rng.random() < 0.5:
        img = img[:, ::-1]
        box = _flip_box(box, img.shape[1])
    mask_scale = _u(rng, (1.0, 1.35))
    cell_cam = _logu(rng, cfg.halftone_cell_px)
    r = min(max(2.0, 2.5 / cell_cam), 3.5)
    fw_sheet = min(host_face * mask_scale * r, 360.0)
    r = fw_sheet / (host_face * mask_scale)
    s = fw_sheet / box.width
    cx, cy = box.center
    half = 1.0 * max(box.width, box.height)
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half * 1.15))
    x2, y2 = int(min(img.shape[1], cx + half)), int(min(img.shape[0], cy + half * 1.0))
    crop = img[y1:y2, x1:x2]
    mw, mh = max(8, int((x2 - x1) * s)), max(8, int((y2 - y1) * s))
    photo = cv2.resize(_f32(np.ascontiguousarray(crop)), (mw, mh), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    refl, pp = _print_image(np.clip(photo, 0, 1), rng, cfg, max(1.2, cell_cam * r))
    refl = cv2.GaussianBlur(refl, (0, 0), _u(rng, (0.3, 0.9)))
    fb = FaceBox((box.x1 - x1) * s, (box.y1 - y1) * s, (box.x2 - x1) * s, (box.y2 - y1) * s)
    # irregular oval cut-out (scissors), optional eye holes
    ocx, ocy = fb.center[0], fb.center[1] - fb.height * _u(rng, (0.0, 0.12))
    ax, ay = fb.width * _u(rng, (0.55, 0.7)), fb.height * _u(rng, (0.68, 0.85))
    ang = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    wob = 1.0 + 0.02 * np.interp(ang, np.linspace(0, 2 * np.pi, 9), np.r_[rng.standard_normal(8), 0])
    wob[0] = wob[-1]
    chin = 1.0 - 0.12 * np.clip(np.sin(ang), 0, 1) ** 2 * np.abs(np.cos(ang)) * 2.0   # narrower jaw
    pts = np.c_[ocx + ax * np.cos(ang) * wob * chin, ocy + ay * np.sin(ang) * wob]
    cut = np.zeros((mh, mw), np.uint8)
    cv2.fillPoly(cut, [np.round(pts * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
    eyes = rng.random() < cfg.eye_holes_p
    if eyes:
        for ex in (0.31, 0.69):
            c = (int((fb.x1 + ex * fb.width) * 4), int((fb.y1 + 0.38 * fb.height) * 4))
            cv2.ellipse(cut, c, (int(fb.width * 0.09 * 4), int(fb.height * 0.045 * 4)), 0, 0, 360, 0, -1, cv2.LINE_AA, 2)
    cut = cut.astype(np.float32) / 255.0
    rim_w = max(1, int(round(r * _u(rng, (0.4, 1.5)))))
    rim = np.clip(cut - cv2.erode(cut, np.ones((2 * rim_w + 1, 2 * rim_w + 1), np.uint8)), 0, 1)
    rim_a = _u(rng, (0.2, 0.8))
    refl = refl * (1 - rim_a * rim[:, :, None]) + rim_a * rim[:, :, None] * np.asarray(pp["paper"], np.float32)
    cut = cv2.GaussianBlur(cut, (0, 0), max(0.5, 0.35 * r))
    refl = cv2.GaussianBlur(refl, (0, 0), 0.35 * r)
    lag = _u(rng, cfg.mask_lag_frames)
    off = rng.uniform(-0.08, 0.08, 2) * np.array([hb[0].width, hb[0].height])
    tilt = _u(rng, (0.0, 20.0))
    phi = rng.uniform(0, 2 * np.pi)
    base_ang = np.array([tilt * math.cos(phi), tilt * math.sin(phi), rng.uniform(-8, 8)])
    tr = _smooth_track(rng, n, host.fps, np.array([2.0, 2.0, 2.0, 2.0, 2.0]))
    focal = rng.uniform(0.9, 1.8) * w
    shadow = (rng.uniform(-6, 6, 2), _u(rng, (0.15, 0.45)), _u(rng, (2, 8)))
    centers = np.array([b.center for b in hb])
    widths = np.array([b.width for b in hb])
    scenes, expected = [], []
    for i in range(n):
        t = max(0.0, i - lag)
        j0, fr = int(math.floor(t)), t - math.floor(t)
        j1 = min(n - 1, j0 + 1)
        c = centers[j0] * (1 - fr) + centers[j1] * fr + off + tr[i, 3:5]
        fwid = widths[j0] * (1 - fr) + widths[j1] * fr
        H = _plane_h(mw, mh, (ocx, fb.center[1]), fwid * mask_scale / fb.width, base_ang + np.r_[tr[i, :3]], c, focal)
        layer = cv2.warpPerspective(refl, H, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(cut, H, (w, h), flags=cv2.INTER_LINEAR)
        M = np.float32([[1, 0, shadow[0][0]], [0, 1, shadow[0][1]]])
        sa = cv2.GaussianBlur(cv2.warpAffine(alpha, M, (w, h)), (0, 0), shadow[2])
        out = scenes_host[i] * (1 - shadow[1] * sa)[:, :, None]
        out = (out * (1 - alpha[:, :, None]) + layer * alpha[:, :, None]) * L[:, :, None]
        scenes.append(out)
        expected.append(_box_from_points(_apply_h(H, _box_corners(fb))))
    p.update({"host": host.pid, "host_frames": idx, "stride": stride, "flip": flip, "face_px": round(target, 1),
              "mask_scale": round(mask_scale, 3), "lag_frames": round(lag, 3), "offset_px": np.round(off, 2).tolist(),
              "angles": np.round(base_ang, 2).tolist(), "eye_holes": bool(eyes), "rim_px": rim_w, "rim_alpha": round(rim_a, 3),
              "halftone_cell_cam_px": round(cell_cam, 3), "print": pp})
    return scenes, expected, p
