"""Screen-replay attacks: sub-pixel grid through a homography, display gamma and white point, glare, bezel."""

from __future__ import annotations

import cv2
import numpy as np

from ...types import FaceBox
from .scene import _apply_h, _background, _box_corners, _box_from_points, _f32, _face_source, _fingers, _light_field, _logu, _maybe_flip, _paint_skin, _photo_region, _planar_pose, _plane_h, _target_face, _u, _video_indices
from .source import record_source


def _screen_layer(screen: np.ndarray, H: np.ndarray, w: int, h: int, sub: dict) -> tuple[np.ndarray, np.ndarray]:
    """Emitted light of a pixel-grid screen (``screen``: Hs x Ws x 3 float, one value per screen
    pixel) seen through ``H`` (screen px -> frame px): point-sampled at 2x with RGB sub-pixel
    stripes, then area-integrated to frame pixels (this is where moire comes from).
    Returns (layer, alpha), both frame-sized."""
    Hs, Ws = screen.shape[:2]
    quad = _apply_h(H, np.array([[0, 0], [Ws, 0], [Ws, Hs], [0, Hs]], np.float64))
    x1, y1 = np.floor(quad.min(axis=0)).astype(int)
    x2, y2 = np.ceil(quad.max(axis=0)).astype(int)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    layer = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return layer, alpha
    q = float(sub.get("q", 1.0))             # camera px per screen pixel
    grid = q >= 0.5
    # Below ~0.5 camera px per screen pixel the lens and the pixel area average the sub-pixel
    # stripes away (their MTF at >= 2 cycles/px is ~0): point-sampling them would alias into
    # moire far stronger than any camera records. Only near-magnified screens show the grid.
    ss = 4 if grid else 2
    Hi = np.linalg.inv(H).astype(np.float32)
    xs = ((np.arange(x1 * ss, x2 * ss, dtype=np.float32) + 0.5) / ss)[None, :]
    ys = ((np.arange(y1 * ss, y2 * ss, dtype=np.float32) + 0.5) / ss)[:, None]
    den = Hi[2, 0] * xs + Hi[2, 1] * ys + Hi[2, 2]
    u = (Hi[0, 0] * xs + Hi[0, 1] * ys + Hi[0, 2]) / den
    v = (Hi[1, 0] * xs + Hi[1, 1] * ys + Hi[1, 2]) / den
    inside = ((u >= 0) & (u < Ws) & (v >= 0) & (v < Hs)).astype(np.float32)
    col = cv2.remap(screen, np.floor(u), np.floor(v), cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    a, b = (u, v) if not sub["horizontal"] else (v, u)
    fa, fb = a - np.floor(a), b - np.floor(b)
    third = 1.0 / 3.0
    gain = 1.0 / (sub["fill"] * (1.0 - sub["gap"]))
    rowon = (fb < 1.0 - sub["gap"]).astype(np.float32) * gain
    order = sub["order"]                     # position of the B, G, R stripes
    if grid:
        for ch in range(3):
            start = order[ch] * third
            on = ((fa >= start) & (fa < start + sub["fill"] * third)).astype(np.float32)
            col[:, :, ch] *= on * rowon
    col *= inside[:, :, None]
    tw, th = x2 - x1, y2 - y1
    layer[y1:y2, x1:x2] = cv2.resize(col, (tw, th), interpolation=cv2.INTER_AREA)
    alpha[y1:y2, x1:x2] = cv2.resize(inside, (tw, th), interpolation=cv2.INTER_AREA)
    return layer, alpha


def _render_replay(src, ident, rng, cfg, n, w, h):
    p: dict = {}
    flip = bool(rng.random() < 0.5)
    if ident.kind == "video" and rng.random() < 0.85:
        stride = int(rng.integers(1, 3))
        idx = _video_indices(ident, rng, n, stride)
        b0 = src.box(ident, idx[0])
        if b0 is None:
            return None
        contents = [ident.frames[i] for i in idx]
        box = b0
        p.update({"content": "video", "frames": idx, "stride": stride})
    else:
        img, box = _face_source(src, ident, rng)
        if rng.random() < 0.6:
            img, box = _photo_region(img, box, rng, ident.kind)
        contents = [img]
        p["content"] = "still"
    contents, (box,) = _maybe_flip(contents, [box], flip)
    if cfg.replay_source_p > 0:
        # its own stream (a jump ahead of the sample's), so the scene, screen and camera are the
        # same with and without the recording, and p = 0 draws nothing
        srng = np.random.Generator(rng.bit_generator.jumped())
        if srng.random() < cfg.replay_source_p:
            contents, box, p["source"] = record_source(contents, box, srng)
    ch_, cw_ = contents[0].shape[:2]
    target = _target_face(rng, cfg, box.width)
    q = _logu(rng, cfg.screen_pixel_px)           # camera px per screen pixel
    face_sp = target / q                          # face width in screen pixels
    cs = face_sp / box.width                      # content px -> screen px
    max_side = 1400
    if max(cw_, ch_) * cs > max_side:
        cs = max_side / max(cw_, ch_)
        q = target / (cs * box.width)
    dw, dh = max(4, int(round(cw_ * cs))), max(4, int(round(ch_ * cs)))
    aspect = float(rng.choice([16 / 9, 4 / 3, 16 / 10, 19.5 / 9, 9 / 16, 3 / 4, 9 / 19.5]))
    Ws = max(dw, int(dh * aspect)) if aspect >= dw / dh else dw
    Hs = max(dh, int(Ws / aspect))
    Ws, Hs = int(Ws * rng.uniform(1.0, 1.08)), int(Hs * rng.uniform(1.0, 1.08))
    ox, oy = (Ws - dw) // 2, (Hs - dh) // 2
    gamma = _u(rng, (0.8, 1.25))
    cool = rng.random() < 0.85
    wp = np.array([1 + _u(rng, (0.0, 0.15)), 1.0, 1 - _u(rng, (0.0, 0.12))] if cool else
                  [1 - _u(rng, (0.05, 0.2)), 1.0, 1 + _u(rng, (0.0, 0.08))], np.float32)
    bright = _u(rng, (0.75, 1.3))
    black = _u(rng, (0.01, 0.08))
    sub = {"fill": _u(rng, (0.6, 0.95)), "gap": _u(rng, (0.0, 0.25)), "horizontal": bool(rng.random() < 0.2),
           "order": [2, 1, 0] if rng.random() < 0.85 else [0, 1, 2], "q": q}
    screens = []
    cache: dict = {}
    for c in contents:
        key = id(c)
        if key not in cache:
            disp = cv2.resize(_f32(c), (dw, dh), interpolation=cv2.INTER_AREA if cs < 1 else cv2.INTER_LINEAR)
            scr = np.zeros((Hs, Ws, 3), np.float32)
            scr[oy:oy + dh, ox:ox + dw] = np.power(np.clip(disp, 0, 1), gamma)
            cache[key] = (black + (1 - black) * scr) * wp * bright
        screens.append(cache[key])
    fb_s = FaceBox(box.x1 * cs + ox, box.y1 * cs + oy, box.x2 * cs + ox, box.y2 * cs + oy)
    bg, p["background"] = _background(rng, src, w, h)
    L, p["light"] = _light_field(rng, w, h)
    handheld = bool(rng.random() < 0.6)
    poses, focal, p["pose"] = _planar_pose(rng, cfg, n, 25.0, target, w, h, handheld)
    bez = _u(rng, (0.02, 0.12)) * max(Ws, Hs)
    body = np.float32(_u(rng, (0.02, 0.15)) if rng.random() < 0.85 else _u(rng, (0.5, 0.8)))
    glare = (rng.uniform(0.2, 0.8, 2), _u(rng, (0.3, 1.5)), _u(rng, (0.05, 0.45)), rng.uniform(0.9, 1.05, 3).astype(np.float32)) \
        if rng.random() < cfg.glare_p else None
    refl_a = _u(rng, (0.02, 0.12)) if rng.random() < 0.5 else 0.0
    refl_img = cv2.GaussianBlur(bg[::-1, ::-1], (0, 0), 6.0) if refl_a > 0 else None
    use_fingers = handheld and rng.random() < cfg.finger_p * 0.6
    skin = np.array([0.45, 0.55, 0.72], np.float32) * rng.uniform(0.6, 1.2, 3).astype(np.float32)
    fseed = int(rng.integers(1 << 62))
    scenes, expected = [], []
    for i, (ang, ctr, zs) in enumerate(poses):
        H = _plane_h(Ws, Hs, fb_s.center, q * zs, ang, ctr, focal)
        T = np.array([[1, 0, bez], [0, 1, bez], [0, 0, 1]], np.float64)
        Hb = H @ np.linalg.inv(T)               # device coords (screen + bezel) -> frame
        dev = _apply_h(Hb, np.array([[0, 0], [Ws + 2 * bez, 0], [Ws + 2 * bez, Hs + 2 * bez], [0, Hs + 2 * bez]], np.float64))
        dmask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(dmask, np.round(dev * 4).astype(np.int32), 255, lineType=cv2.LINE_AA, shift=2)
        dmask = dmask.astype(np.float32) / 255.0
        out = bg * L[:, :, None]
        out = out * (1 - 0.35 * cv2.GaussianBlur(dmask, (0, 0), 8.0))[:, :, None]     # contact shadow
        out = out * (1 - dmask[:, :, None]) + (body * L)[:, :, None] * dmask[:, :, None]
        if use_fingers:
            front, back, _ = _fingers(np.random.default_rng(fseed), Hb, Ws + 2 * bez, Hs + 2 * bez, fb_s.width * 0.9, w, h, skin)
            out = _paint_skin(out, back * (1 - dmask), skin, L)
        layer, alpha = _screen_layer(screens[i] if len(screens) > 1 else screens[0], H, w, h, sub)
        emitted = layer
        if refl_img is not None:
            emitted = emitted + refl_a * refl_img
        if glare is not None:
            gx, gy = glare[0] * np.array([w, h])
            rr = glare[1] * target
            yy, xx = np.ogrid[0:h, 0:w]
            g = glare[2] * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * rr * rr)).astype(np.float32)
            emitted = emitted + g[:, :, None] * glare[3]
        out = out * (1 - alpha[:, :, None]) + emitted * alpha[:, :, None]
        if use_fingers:
            out = _paint_skin(out, front, skin, L)
        scenes.append(out)
        expected.append(_box_from_points(_apply_h(H, _box_corners(fb_s))))
    p.update({"flip": flip, "face_px": round(target, 1), "cam_px_per_screen_px": round(q, 3), "screen_wh": [Ws, Hs],
              "aspect": round(aspect, 3), "gamma": round(gamma, 3), "white_point": np.round(wp, 3).tolist(),
              "brightness": round(bright, 3), "black": round(black, 3), "subpixel": sub, "bezel_px": round(bez, 1),
              "body": round(float(body), 3), "glare": None if glare is None else [round(float(glare[1]), 3), round(float(glare[2]), 3)],
              "reflection": round(refl_a, 3), "fingers": bool(use_fingers)})
    return scenes, expected, p
