"""Scene geometry and light: random helpers, homographies of planar objects, hand-held motion, backgrounds, fingers and skin."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...errors import DataError
from ...types import FaceBox
from .assets import _Identity, _Sources
from .config import SynthConfig


def _u(rng, lo_hi) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _logu(rng, lo_hi) -> float:
    return float(math.exp(rng.uniform(math.log(lo_hi[0]), math.log(lo_hi[1]))))


def _f32(img_u8: np.ndarray) -> np.ndarray:
    return img_u8.astype(np.float32) * (1.0 / 255.0)


def _box_from_points(pts: np.ndarray) -> FaceBox | None:
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return FaceBox(float(x1), float(y1), float(x2), float(y2))


def _box_corners(b: FaceBox) -> np.ndarray:
    return np.array([[b.x1, b.y1], [b.x2, b.y1], [b.x2, b.y2], [b.x1, b.y2]], np.float64)


def _apply_h(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ H.T
    return p[:, :2] / p[:, 2:3]


def _flip_box(b: FaceBox, width: int) -> FaceBox:
    return FaceBox(width - b.x2, b.y1, width - b.x1, b.y2, b.score)


def _smooth_track(rng, n: int, fps: float, amps: np.ndarray) -> np.ndarray:
    """(n, len(amps)) smooth random motion: a sum of 3 sinusoids (0.3-4 Hz) per degree of
    freedom plus a slow drift, scaled to the given amplitudes."""
    t = np.arange(n, dtype=np.float64) / fps
    d = len(amps)
    out = np.zeros((n, d))
    for _ in range(3):
        f = rng.uniform(0.3, 4.0, size=d)
        ph = rng.uniform(0, 2 * np.pi, size=d)
        a = rng.uniform(0.2, 1.0, size=d)
        out += a * np.sin(2 * np.pi * f * t[:, None] + ph)
    out += rng.uniform(-0.5, 0.5, size=d) * t[:, None]
    return out / 2.0 * amps


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.deg2rad([yaw, pitch, roll])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return Rz @ Rx @ Ry


def _plane_h(w: float, h: float, anchor, scale: float, angles, center, focal: float) -> np.ndarray:
    """Homography that maps a w x h planar object (its own pixel units) into the frame: the
    object is rotated by ``angles`` (yaw, pitch, roll, degrees) about ``anchor``, which projects
    to ``center`` with ``scale`` frame px per object px, seen by a pinhole of focal ``focal``."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    R = _rot(*angles)
    loc = np.c_[(src - np.asarray(anchor)) * scale, np.zeros(4)]
    P = loc @ R.T + np.array([0.0, 0.0, focal])
    P[:, 2] = np.maximum(P[:, 2], 0.2 * focal)
    dst = focal * P[:, :2] / P[:, 2:3] + np.asarray(center)
    return cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)


def _light_field(rng, w: int, h: int, strength: float = 1.0) -> tuple[np.ndarray, dict]:
    """Smooth multiplicative room lighting: level x linear gradient x optional soft hot spot."""
    level = _u(rng, (0.7, 1.15))
    gx, gy = rng.uniform(-0.5, 0.5, 2) * strength
    xs = (np.arange(w, dtype=np.float32) / w - 0.5)
    ys = (np.arange(h, dtype=np.float32) / h - 0.5)
    L = level * (1.0 + gx * xs[None, :] + gy * ys[:, None])
    spot = None
    if rng.random() < 0.4 * strength:
        sx, sy, sr = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.3, 0.8) * max(w, h)
        amp = rng.uniform(0.1, 0.35) * strength
        d2 = ((np.arange(w, dtype=np.float32) - sx) ** 2)[None, :] + ((np.arange(h, dtype=np.float32) - sy) ** 2)[:, None]
        L = L * (1.0 + amp * np.exp(-d2 / (2 * sr * sr)))
        spot = [round(float(sx), 1), round(float(sy), 1), round(float(sr), 1), round(float(amp), 3)]
    L = np.clip(L, 0.2, 2.0).astype(np.float32)
    return L, {"level": round(level, 3), "gx": round(float(gx), 3), "gy": round(float(gy), 3), "spot": spot}


def _background(rng, src: _Sources, w: int, h: int, avoid=None) -> tuple[np.ndarray, dict]:
    """A scene behind a sheet / screen: a blurred photograph (out-of-focus room) or a wall."""
    choice = rng.random()
    if choice < 0.55 and src.backgrounds:
        img = src.backgrounds[int(rng.integers(len(src.backgrounds)))]
        ih, iw = img.shape[:2]
        s = max(w / iw, h / ih) * rng.uniform(1.0, 1.8)
        big = cv2.resize(img, (max(w, int(iw * s) + 1), max(h, int(ih * s) + 1)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        x0 = int(rng.integers(0, big.shape[1] - w + 1))
        y0 = int(rng.integers(0, big.shape[0] - h + 1))
        bg = big[y0:y0 + h, x0:x0 + w]
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        sigma = rng.uniform(2.5, 9.0)
        bg = cv2.GaussianBlur(bg, (0, 0), sigma)
        out = _f32(bg) * rng.uniform(0.6, 1.05)
        return out, {"type": "photo", "blur": round(float(sigma), 2)}
    base = rng.uniform(0.25, 0.9) * np.array(rng.uniform(0.8, 1.1, 3), np.float32)
    xs = (np.arange(w, dtype=np.float32) / w - 0.5)
    ys = (np.arange(h, dtype=np.float32) / h - 0.5)
    g = 1.0 + rng.uniform(-0.4, 0.4) * xs[None, :] + rng.uniform(-0.4, 0.4) * ys[:, None]
    out = g[:, :, None] * base[None, None, :]
    noise = cv2.resize(rng.standard_normal((h // 8 + 1, w // 8 + 1)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    out = out * (1.0 + 0.03 * noise[:, :, None])
    for _ in range(int(rng.integers(0, 4))):       # door frames, shelves, furniture
        x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x2, y2 = x1 + int(rng.integers(w // 10, w // 2)), y1 + int(rng.integers(h // 10, h))
        col = rng.uniform(0.1, 0.95) * rng.uniform(0.8, 1.1, 3)
        cv2.rectangle(out, (x1, y1), (x2, y2), tuple(float(c) for c in col), -1)
    out = cv2.GaussianBlur(out.astype(np.float32), (0, 0), rng.uniform(1.0, 4.0))
    return np.clip(out, 0, 1).astype(np.float32), {"type": "wall"}


def _face_source(src: _Sources, ident: _Identity, rng, index: int | None = None):
    """(image, face box) of one source picture: a still or one video frame."""
    if ident.kind == "still":
        return ident.frames[0], ident.box
    n = len(ident.frames)
    for _ in range(10):
        i = int(rng.integers(0, n)) if index is None else index
        b = src.box(ident, i)
        if b is not None:
            return ident.frames[i], b
        index = None
    raise DataError(f"no face found in frames of {ident.file}")


def _photo_region(img: np.ndarray, box: FaceBox, rng, kind: str) -> tuple[np.ndarray, FaceBox]:
    """Crop a photograph-like region around the face (face fills 1/2 - 1/4 of its width)."""
    ih, iw = img.shape[:2]
    fw = max(box.width, box.height)
    rw = min(iw, fw * rng.uniform(2.0, 4.0))
    rh = min(ih, rw * rng.uniform(0.75, 1.4))
    cx, cy = box.center
    x1 = np.clip(cx - rw / 2 + rng.uniform(-0.25, 0.25) * fw, 0, iw - rw)
    y1 = np.clip(cy - rh * rng.uniform(0.35, 0.55), 0, ih - rh)
    x1, y1, x2, y2 = int(x1), int(y1), int(x1 + rw), int(y1 + rh)
    crop = img[y1:y2, x1:x2]
    return crop, FaceBox(box.x1 - x1, box.y1 - y1, box.x2 - x1, box.y2 - y1)


def _video_indices(ident: _Identity, rng, n: int, stride: int) -> list:
    total = len(ident.frames)
    if (n - 1) * stride + 1 > total:
        idx = [min(total - 1, (i * stride) % (2 * total - 2)) for i in range(n)]
        return [i if i < total else 2 * total - 2 - i for i in idx]
    start = int(rng.integers(0, total - (n - 1) * stride))
    return [start + i * stride for i in range(n)]


def _cover_affine(sw: int, sh: int, box: FaceBox, target: float, w: int, h: int, rng) -> np.ndarray:
    """2x3 affine (scale + shift) putting a source picture over the whole frame with the face
    ``target`` px wide where possible (never leaving a border)."""
    s = max(target / max(box.width, 1.0), w / sw, h / sh) * 1.0001
    cx, cy = box.center
    fx, fy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.6) * h
    tx = float(np.clip(fx - s * cx, w - s * sw, 0.0))
    ty = float(np.clip(fy - s * cy, h - s * sh, 0.0))
    return np.array([[s, 0, tx], [0, s, ty]], np.float64)


def _affine_box(A: np.ndarray, b: FaceBox) -> FaceBox:
    return FaceBox(A[0, 0] * b.x1 + A[0, 2], A[1, 1] * b.y1 + A[1, 2], A[0, 0] * b.x2 + A[0, 2], A[1, 1] * b.y2 + A[1, 2])


def _target_face(rng, cfg: SynthConfig, src_face: float) -> float:
    lo, hi = cfg.face_size
    hi = max(lo, min(hi, src_face * cfg.max_upscale))
    return _logu(rng, (lo, hi)) if hi > lo else lo


def _warp_affine(img: np.ndarray, A: np.ndarray, w: int, h: int) -> np.ndarray:
    interp = cv2.INTER_AREA if A[0, 0] < 1 else cv2.INTER_LINEAR
    if A[0, 0] < 1:   # antialias a reduction
        img = cv2.GaussianBlur(img, (0, 0), 0.5 / A[0, 0])
        interp = cv2.INTER_LINEAR
    return cv2.warpAffine(img, A, (w, h), flags=interp, borderMode=cv2.BORDER_REFLECT101)


def _maybe_flip(frames: list, boxes: list, flip: bool):
    if not flip:
        return frames, boxes
    w = frames[0].shape[1]
    return [f[:, ::-1] for f in frames], [None if b is None else _flip_box(b, w) for b in boxes]


def _fingers(rng, H: np.ndarray, obj_w: float, obj_h: float, finger_len: float, w: int, h: int, skin) -> tuple:
    """Masks (front thumb, back fingers) of a hand holding a planar object at one edge, drawn
    in the object's coordinates and projected with ``H``."""
    edge = str(rng.choice(["left", "right", "bottom", "bottom", "top"]))
    t = rng.uniform(0.2, 0.8)
    if edge in ("left", "right"):
        ex, ey = (0.0 if edge == "left" else obj_w), t * obj_h
        inward = np.array([1.0 if edge == "left" else -1.0, 0.0])
    else:
        ex, ey = t * obj_w, (obj_h if edge == "bottom" else 0.0)
        inward = np.array([0.0, -1.0 if edge == "bottom" else 1.0])
    along = np.array([-inward[1], inward[0]])
    fl = finger_len
    fwid = fl * rng.uniform(0.28, 0.38)

    def capsule(center, direction, length, width):
        ang = np.linspace(0, 2 * np.pi, 28, endpoint=False)
        pts = np.c_[np.cos(ang) * length / 2, np.sin(ang) * width / 2]
        d = direction / np.linalg.norm(direction)
        rotm = np.array([[d[0], -d[1]], [d[1], d[0]]])
        return pts @ rotm.T + center

    polys_front, polys_back = [], []
    ang_t = rng.uniform(-0.5, 0.5)
    dirv = inward * math.cos(ang_t) + along * math.sin(ang_t)
    polys_front.append(capsule(np.array([ex, ey]) + dirv * fl * rng.uniform(0.1, 0.35), dirv, fl, fwid))
    for j in range(int(rng.integers(1, 4))):
        off = (j + 1) * fwid * 1.05 * (1 if rng.random() < 0.5 else -1)
        c = np.array([ex, ey]) + along * off - inward * fl * rng.uniform(0.0, 0.35)
        polys_back.append(capsule(c, inward + along * rng.uniform(-0.2, 0.2), fl * 1.1, fwid * 1.05))
    def raster(polys):
        m = np.zeros((h, w), np.uint8)
        for poly in polys:
            q = _apply_h(H, poly)
            if np.all(np.isfinite(q)):
                cv2.fillPoly(m, [np.round(q * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
        return m.astype(np.float32) / 255.0
    return raster(polys_front), raster(polys_back), edge


def _paint_skin(img: np.ndarray, mask: np.ndarray, skin: np.ndarray, light: np.ndarray) -> np.ndarray:
    if mask.max() <= 0:
        return img
    r = max(1.0, float(np.sqrt(mask.sum())) / 12.0)
    shade = cv2.GaussianBlur(mask, (0, 0), r)
    shade = 0.6 + 0.5 * shade / (shade.max() + 1e-6)
    col = skin[None, None, :] * (shade * light)[:, :, None]
    m = cv2.GaussianBlur(mask, (0, 0), 0.7)[:, :, None]
    return img * (1 - m) + col * m


def _skin_color(img: np.ndarray, box: FaceBox, rng) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in (box.x1 + box.width * 0.3, box.y1 + box.height * 0.55,
                                       box.x2 - box.width * 0.3, box.y2 - box.height * 0.2))
    patch = img[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
    col = _f32(np.ascontiguousarray(patch)).reshape(-1, 3).mean(axis=0) if patch.size else np.array([0.45, 0.55, 0.7])
    return (col * rng.uniform(0.85, 1.15, 3)).astype(np.float32)


def _planar_pose(rng, cfg, n, fps, target, w, h, handheld=True):
    tilt = _u(rng, cfg.tilt_deg)
    phi = rng.uniform(0, 2 * np.pi)
    base = np.array([tilt * math.cos(phi), tilt * math.sin(phi), rng.uniform(-12, 12)])
    k = 1.0 if handheld else 0.2
    amps = np.array([1.5 * k, 1.5 * k, 1.2 * k, 4 * k * target / 150, 4 * k * target / 150, 0.015 * k])
    tr = _smooth_track(rng, n, fps, amps)
    center = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.65) * h])
    focal = rng.uniform(0.9, 1.8) * w
    poses = [(base + tr[i, :3], center + tr[i, 3:5], 1.0 + tr[i, 5]) for i in range(n)]
    return poses, focal, {"angles": np.round(base, 2).tolist(), "center": np.round(center, 1).tolist(),
                          "focal": round(float(focal), 1), "handheld": handheld}
