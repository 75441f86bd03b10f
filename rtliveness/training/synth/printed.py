"""Printed-photo attacks: ink models (halftone, dither, continuous tone), paper, edges, fingers, hand-held motion."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...types import FaceBox
from .config import SynthConfig
from .scene import _apply_h, _background, _box_corners, _box_from_points, _f32, _face_source, _fingers, _light_field, _logu, _maybe_flip, _paint_skin, _photo_region, _planar_pose, _plane_h, _skin_color, _target_face, _u

_INK = np.array([[0.08, 0.30, 0.90],
                 [0.25, 0.85, 0.10],
                 [0.85, 0.08, 0.02],
                 [0.90, 0.90, 0.90]], np.float32)


_BAYER8 = np.array([[0, 32, 8, 40, 2, 34, 10, 42], [48, 16, 56, 24, 50, 18, 58, 26],
                    [12, 44, 4, 36, 14, 46, 6, 38], [60, 28, 52, 20, 62, 30, 54, 22],
                    [3, 35, 11, 43, 1, 33, 9, 41], [51, 19, 59, 27, 49, 17, 57, 25],
                    [15, 47, 7, 39, 13, 45, 5, 37], [63, 31, 55, 23, 61, 29, 53, 21]], np.float32)


def _print_image(img01: np.ndarray, rng, cfg: SynthConfig, cell_px: float) -> tuple[np.ndarray, dict]:
    """Reflectance of ``img01`` (float BGR) printed on paper; ``cell_px`` = halftone period in
    this image's pixels. Returns (reflectance float BGR, parameters)."""
    h, w = img01.shape[:2]
    mode = str(rng.choice(list(cfg.print_modes)))
    sat = _u(rng, cfg.print_saturation)
    con = _u(rng, (0.8, 1.0))
    lum = img01.mean(axis=2, keepdims=True)
    x = lum + sat * (img01 - lum)
    x = np.clip(0.5 + con * (x - 0.5), 0, 1)
    cmy = 1.0 - x[:, :, ::-1]                                   # C from R, M from G, Y from B
    gcr = _u(rng, (0.3, 0.9))
    k = cmy.min(axis=2) * gcr
    cov = np.concatenate([cmy - k[:, :, None], k[:, :, None]], axis=2)
    dot_gain = _u(rng, (0.75, 1.1))
    cov = np.power(np.clip(cov, 0, 1), dot_gain, dtype=np.float32)
    p: dict = {"mode": mode, "saturation": round(sat, 3), "contrast": round(con, 3), "gcr": round(gcr, 3),
               "dot_gain": round(dot_gain, 3), "cell_px": round(float(cell_px), 3)}
    if mode == "am":
        base = rng.uniform(0, 90)
        xs = np.arange(w, dtype=np.float32)[None, :]
        ys = np.arange(h, dtype=np.float32)[:, None]
        dots = np.empty_like(cov)
        sharp = 3.0 * max(1.0, cell_px / 2.0)
        k2 = np.float32(2 * math.pi / cell_px)
        for i, ang in enumerate((15.0, 75.0, 0.0, 45.0)):
            a = math.radians(base + ang)
            ca, sa = np.float32(math.cos(a)) * k2, np.float32(math.sin(a)) * k2
            # cos(u) + cos(v) with u = x ca + y sa, v = -x sa + y ca, from separable 1-D factors
            cu = np.cos(xs * ca) * np.cos(ys * sa) - np.sin(xs * ca) * np.sin(ys * sa)
            cv_ = np.cos(xs * sa) * np.cos(ys * ca) + np.sin(xs * sa) * np.sin(ys * ca)
            spot = 0.5 - 0.25 * (cu + cv_)
            dots[:, :, i] = np.clip((cov[:, :, i] - spot) * sharp + 0.5, 0, 1)
        p["screen_angle"] = round(float(base), 2)
    elif mode == "fm":
        cell = max(1.0, cell_px / 2.0)
        sh, sw = max(2, int(h / cell)), max(2, int(w / cell))
        n = rng.standard_normal((sh, sw, 4)).astype(np.float32)
        n = n - cv2.GaussianBlur(n, (0, 0), 1.5)           # blue-ish noise, like error diffusion
        n /= n.std() + 1e-6
        thr = 1.0 / (1.0 + np.exp(-1.702 * n))
        thr = cv2.resize(thr, (w, h), interpolation=cv2.INTER_NEAREST)
        dots = (cov > thr).astype(np.float32)
    elif mode == "ordered":
        rep = max(1, int(round(cell_px / 3.0)))
        tile = np.kron((_BAYER8 + 0.5) / 64.0, np.ones((rep, rep), np.float32))
        th, tw = tile.shape
        thr = np.tile(tile, (h // th + 1, w // tw + 1))[:h, :w]
        dots = (cov > thr[:, :, None]).astype(np.float32)
    else:                                                     # photo lab print: grain only
        dots = cov + 0.03 * rng.standard_normal(cov.shape).astype(np.float32)
    spread = _u(rng, (0.3, 0.9))
    dots = cv2.GaussianBlur(np.clip(dots, 0, 1), (0, 0), spread)
    dmax = rng.uniform(0.82, 0.97, 4).astype(np.float32)
    paper = np.array([_u(rng, (0.9, 1.0)), _u(rng, (0.93, 1.0)), _u(rng, (0.93, 1.0))], np.float32)
    refl = np.ones((h, w, 3), np.float32) * paper
    for i in range(4):
        refl *= 1.0 - (dmax[i] * dots[:, :, i:i + 1]) * _INK[i][None, None, :]
    tex_amp = _u(rng, (0.01, 0.05))
    tex = rng.standard_normal((h // 2 + 1, w // 2 + 1)).astype(np.float32)
    tex = cv2.resize(cv2.GaussianBlur(tex, (0, 0), 1.0), (w, h))
    refl *= (1.0 + tex_amp * tex)[:, :, None]
    p.update({"ink_spread": round(spread, 3), "dmax": [round(float(v), 3) for v in dmax],
              "paper": [round(float(v), 3) for v in paper], "texture": round(tex_amp, 4)})
    return np.clip(refl, 0, 1.1), p


def _render_printed(src, ident, rng, cfg, n, w, h):
    p: dict = {}
    img, box = _face_source(src, ident, rng)
    if rng.random() < 0.7 or ident.kind == "still":
        img, box = _photo_region(img, box, rng, ident.kind)
    flip = bool(rng.random() < 0.5)
    (img,), (box,) = _maybe_flip([img], [box], flip)
    ph, pw = img.shape[:2]
    target = _target_face(rng, cfg, box.width)
    cell_cam = _logu(rng, cfg.halftone_cell_px)
    # sheet resolution: r sheet px per camera px (>= 2 so that dots exist), sheet <= 1100 px
    r = min(max(2.0, 2.5 / cell_cam), 4.0)
    scale = target * r / box.width
    margin = _u(rng, (0.03, 0.15)) if rng.random() < cfg.paper_margin_p else 0.0
    if max(pw, ph) * scale * (1 + 2 * margin) > 900:
        scale = 900 / (max(pw, ph) * (1 + 2 * margin))
        r = scale * box.width / target
    sw_, sh_ = max(8, int(pw * scale)), max(8, int(ph * scale))
    photo = cv2.resize(_f32(img), (sw_, sh_), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    refl, pp = _print_image(np.clip(photo, 0, 1), rng, cfg, max(1.2, cell_cam * r))
    m = int(round(margin * max(sw_, sh_)))
    paper = np.asarray(pp["paper"], np.float32)
    sheet = np.ones((sh_ + 2 * m, sw_ + 2 * m, 3), np.float32) * paper
    sheet[m:m + sh_, m:m + sw_] = refl
    sheet = cv2.GaussianBlur(sheet, (0, 0), _u(rng, (0.3, 1.0)))
    fb_sheet = FaceBox(box.x1 * scale + m, box.y1 * scale + m, box.x2 * scale + m, box.y2 * scale + m)
    Sh, Sw = sheet.shape[:2]
    glossy = bool(rng.random() < 0.25)
    bg, p["background"] = _background(rng, src, w, h)
    L, p["light"] = _light_field(rng, w, h)
    handheld = bool(rng.random() < 0.8)
    poses, focal, p["pose"] = _planar_pose(rng, cfg, n, 25.0, target, w, h, handheld)
    use_fingers = handheld and rng.random() < cfg.finger_p
    skin = _skin_color(img, box, rng)
    finger_len = fb_sheet.width * rng.uniform(0.5, 0.85)
    aa = _u(rng, (0.25, 0.6))
    sheet_aa = cv2.GaussianBlur(sheet, (0, 0), aa * r) if r > 1.2 else sheet
    shadow = (rng.uniform(-8, 8, 2), _u(rng, (0.1, 0.45)), _u(rng, (3, 15)))
    glare = (rng.uniform(0, 1, 2), _u(rng, (0.3, 1.0)), _u(rng, (0.05, 0.3))) if glossy else None
    fseed = int(rng.integers(1 << 62))
    scenes, expected = [], []
    for i, (ang, ctr, zs) in enumerate(poses):
        H = _plane_h(Sw, Sh, fb_sheet.center, zs / r, ang, ctr, focal)
        layer = cv2.warpPerspective(sheet_aa, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpPerspective(np.ones((Sh, Sw), np.float32), H, (w, h), flags=cv2.INTER_LINEAR)
        M = np.float32([[1, 0, shadow[0][0]], [0, 1, shadow[0][1]]])
        sh_a = cv2.GaussianBlur(cv2.warpAffine(alpha, M, (w, h)), (0, 0), shadow[2])
        out = bg * (1.0 - shadow[1] * sh_a)[:, :, None]
        front = None
        if use_fingers:
            front, back, edge = _fingers(np.random.default_rng(fseed), H, Sw, Sh, finger_len, w, h, skin)
            out = _paint_skin(out, back * (1 - alpha), skin, np.ones((h, w), np.float32))
        out = out * (1 - alpha[:, :, None]) + layer * alpha[:, :, None]
        if glare is not None:
            gx, gy = glare[0] * np.array([w, h])
            rr = glare[1] * target
            yy, xx = np.ogrid[0:h, 0:w]
            g = glare[2] * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * rr * rr)).astype(np.float32)
            out = out + (g * alpha)[:, :, None]
        if front is not None:
            out = _paint_skin(out, front, skin, np.ones((h, w), np.float32))
        out = out * L[:, :, None]
        scenes.append(out)
        expected.append(_box_from_points(_apply_h(H, _box_corners(fb_sheet))))
    p.update({"flip": flip, "face_px": round(target, 1), "sheet_px_per_cam_px": round(r, 3), "halftone_cell_cam_px": round(cell_cam, 3),
              "margin": round(margin, 3), "glossy": glossy, "fingers": bool(use_fingers), "print": pp, "antialias": round(aa, 3)})
    return scenes, expected, p
