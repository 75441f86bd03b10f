"""Synthetic presentation-attack data made from real live faces (``rtliveness synth``).

No real attack recordings are available to this project, so attacks are *rendered* from real
live faces (two live webcam videos and ~40 faces in still photographs, see ``assets/README.md``):

* ``real``    - 5 consecutive frames (stride 1-3) of a live video, randomly framed; or a still
  photograph animated like a live sitter: a small smooth non-rigid (elastic) warp plus a tiny
  head rotation of the face region only, in front of a static background, with a subtle
  illumination change.
* ``printed`` - the face image (a still, or one frozen video frame) printed with an ink model
  (AM clustered-dot, FM/stochastic, ordered-dither or continuous-tone print; impure CMYK inks,
  gamut loss, lifted blacks, paper tint and texture, ink spread), held as a sheet in a scene:
  rigid perspective motion with hand shake, paper edge / white margin, fingers, shadow, a
  different (blurred image or wall) background and a lighting gradient.
* ``replay``  - the video (moving face) or still shown on a screen: the screen is rendered as an
  RGB sub-pixel grid seen through a homography and point-sampled by the camera at 2x then
  pixel-integrated (which produces moire), with display gamma / cool white point / black level,
  glare and environment reflection, a bezel and device body, rigid hand-held motion.
* ``2dmask``  - a printed face cut-out (irregular oval, sometimes eye holes, white cut edge,
  drop shadow) held over the head of a person in a live video, following the head with a lag
  and an offset.

Every frame, live or attack, then goes through the same camera model (exposure, white balance,
optics blur, optional motion blur, signal-dependent sensor noise, tone curve, sharpening, JPEG
quality 35-95); the camera's auto exposure meters the face, in every class alike. The detector
then runs on the camera frame (first in a region around where the face was rendered, then around
the previous box, like the serving tracker's ROI; whole frame as a fallback), the face is followed
by IoU over the 5 frames (a sample whose face is missed or lost is re-rendered with new random
parameters), and crops are made with :func:`rtliveness.crop.crop_face` exactly as at serving
time. All randomness comes from ``numpy.random.default_rng([seed, class, sample, attempt])`` and
the detector runs with one torch thread, so a run is reproducible byte for byte (PNGs and
``synth_samples.jsonl``; ``rtliveness_data.json`` differs only in its ``seconds*`` timings),
whatever the number of worker processes.

Layout written by :func:`synthesize`::

    out_dir/rtliveness_data.json
    out_dir/synth_samples.jsonl              one line of parameters per sample
    out_dir/<class>/<class>_<person>_<k>/{0,1,2,3,4}.png

This is synthetic data: a model trained on it has never seen a real attack.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .config import DetectorConfig
from .crop import crop_face
from .errors import ConfigError, DataError
from .track import box_iou as _iou
from .types import FaceBox

__all__ = ["SynthConfig", "synthesize", "render_clip", "CLASSES", "load_sources"]

CLASSES: tuple[str, ...] = ("real", "printed", "replay", "2dmask")
_VIDEO_EXT = (".mov", ".mp4", ".avi", ".mkv")
_IMAGE_EXT = (".jpg", ".jpeg", ".png")
_WINDOW = 5


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a synthesis run; every field is recorded in ``rtliveness_data.json``.

    ``samples_per_class`` is the number of 5-crop samples written for EACH class, in total over
    all identities. Identities are allotted to samples by weight (a video person weighs
    ``video_weight``, a face in a still weighs 1), with the same allotment in every class, so each
    identity appears in the real and in the attack classes.
    """

    samples_per_class: int = 100
    seed: int = 0
    frame_size: tuple[int, int] = (640, 480)
    store_scale: float = 2.7
    store_size: int = 224
    classes: tuple[str, ...] = CLASSES
    # sources
    sources: tuple[str, ...] = ()          # asset file names to use; () = every video/image found
    background_only: tuple[str, ...] = ("dogs.jpg",)  # images used only as backgrounds
    min_source_face: int = 40              # faces smaller than this in a still are not identities
    video_weight: float = 8.0
    # geometry
    face_size: tuple[float, float] = (60.0, 300.0)   # face box width in the rendered frame, px
    max_upscale: float = 4.0               # a source face is never magnified more than this
    frame_stride: tuple[int, int] = (1, 3)
    tilt_deg: tuple[float, float] = (0.0, 35.0)      # out-of-plane angle of sheets / screens
    # print
    # camera px per halftone cell: a 150-lpi print of a 6-10 cm face seen 150 px wide is ~0.3;
    # values past 1 are close-ups of coarse prints (visible dots), kept but rarer
    halftone_cell_px: tuple[float, float] = (0.2, 1.2)
    print_modes: tuple[str, ...] = ("am", "fm", "ordered", "contone")
    print_saturation: tuple[float, float] = (0.6, 0.95)
    paper_margin_p: float = 0.5
    finger_p: float = 0.5
    # screen
    # camera px per screen pixel: a phone (~400 ppi) or laptop (~100 ppi) showing a face that the
    # camera sees 150-200 px wide gives ~0.3; strong pixel-grid moire needs ~1 (very close, low ppi)
    screen_pixel_px: tuple[float, float] = (0.15, 1.3)
    glare_p: float = 0.6
    # 2D mask
    mask_lag_frames: tuple[float, float] = (0.3, 1.5)
    eye_holes_p: float = 0.3
    # camera
    jpeg_quality: tuple[int, int] = (35, 95)
    motion_blur_p: float = 0.3
    # detection / tracking
    det_min_face_size: int = 40
    det_factor: float = 0.6
    min_iou: float = 0.3
    max_attempts: int = 6

    def __post_init__(self) -> None:
        if not isinstance(self.samples_per_class, int) or self.samples_per_class < 1:
            raise ConfigError(f"samples_per_class must be an integer >= 1, got {self.samples_per_class!r}")
        bad = [c for c in self.classes if c not in CLASSES]
        if bad or not self.classes:
            raise ConfigError(f"unknown classes {bad}: use some of {CLASSES}")
        w, h = self.frame_size
        if w < 64 or h < 64:
            raise ConfigError(f"frame_size must be at least 64x64, got {self.frame_size!r}")
        if not (1.0 <= self.store_scale <= 6.0) or self.store_size < 16:
            raise ConfigError(f"need 1 <= store_scale <= 6 and store_size >= 16, got {self.store_scale}, {self.store_size}")
        if not (0.0 < self.min_iou < 1.0):
            raise ConfigError(f"min_iou must be in (0, 1), got {self.min_iou!r}")
        lo, hi = self.face_size
        if not (20 <= lo <= hi):
            raise ConfigError(f"face_size must be (lo, hi) with 20 <= lo <= hi, got {self.face_size!r}")
        bad_modes = [m for m in self.print_modes if m not in ("am", "fm", "ordered", "contone")]
        if bad_modes or not self.print_modes:
            raise ConfigError(f"unknown print modes {bad_modes}")


# ----------------------------------------------------------------------------------------- sources
@dataclass
class _Identity:
    pid: str
    kind: str                       # "video" | "still"
    file: str
    frames: list                    # video: all frames (BGR uint8); still: [image]
    box: FaceBox | None = None      # still: the face box
    fps: float = 25.0
    _boxes: dict = field(default_factory=dict)


@dataclass
class _Sources:
    identities: list
    backgrounds: list               # BGR uint8 images without a usable face, or any still
    detector: object

    def video_ids(self) -> list:
        return [i for i in self.identities if i.kind == "video"]

    def box(self, ident: _Identity, index: int) -> FaceBox | None:
        """Face box of frame ``index`` of a source (detected once, memoised)."""
        if ident.kind == "still":
            return ident.box
        if index not in ident._boxes:
            found = self.detector.detect(ident.frames[index])
            ident._boxes[index] = found[0] if found else None
        return ident._boxes[index]


def _pid_from(stem: str) -> str:
    s = re.sub(r"[^0-9a-z]+", "x", stem.lower()).strip("x")
    return s or "face"


def _read_video(path: Path) -> tuple[list, float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    cap.release()
    return frames, float(fps if 1 <= fps <= 240 else 25.0)


_SOURCE_CACHE: dict = {}


def load_sources(assets_dir: Path, config: SynthConfig, detector) -> _Sources:
    """Read videos and stills from ``assets_dir``; each video is one identity, each face of at
    least ``min_source_face`` px in a still is one identity. Cached per (files, detector)."""
    assets_dir = Path(assets_dir)
    if not assets_dir.is_dir():
        raise DataError(f"assets folder {assets_dir} does not exist")
    files = sorted(p for p in assets_dir.iterdir() if p.suffix.lower() in _VIDEO_EXT + _IMAGE_EXT)
    if config.sources:
        files = [p for p in files if p.name in config.sources or p.name in config.background_only]
    key = (tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files),
           config.min_source_face, config.background_only, id(detector))
    if key in _SOURCE_CACHE:
        return _SOURCE_CACHE[key]
    idents, backgrounds = [], []
    for p in files:
        if p.suffix.lower() in _VIDEO_EXT:
            frames, fps = _read_video(p)
            if len(frames) < 2 * _WINDOW:
                continue
            name = _pid_from(p.stem.replace("webcam_talking_head", "talkinghead").replace("_pristine", ""))
            idents.append(_Identity(name, "video", p.name, frames, fps=fps))
            continue
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            continue
        backgrounds.append(img)
        if p.name in config.background_only:
            continue
        boxes = [b for b in detector.detect(img) if min(b.width, b.height) >= config.min_source_face]
        boxes.sort(key=lambda b: (round(b.y1 / 40), b.x1))     # reading order: stable ids
        for j, b in enumerate(boxes):
            pid = _pid_from(p.stem) + (f"f{j:02d}" if len(boxes) > 1 else "")
            idents.append(_Identity(pid, "still", p.name, [img], box=b))
    if not idents:
        raise DataError(f"no face identities found in {assets_dir} (need videos or face images)")
    src = _Sources(idents, backgrounds, detector)
    _SOURCE_CACHE[key] = src
    return src


# ---------------------------------------------------------------------------------- small helpers
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


# ----------------------------------------------------------------------------------------- camera
def _camera_params(rng, cfg: SynthConfig) -> dict:
    return {
        "exposure": round(_logu(rng, (0.7, 1.4)), 4),
        "wb": [round(float(v), 4) for v in rng.uniform(0.88, 1.12, 3)],
        "gamma": round(_u(rng, (0.8, 1.25)), 4),
        "blur": round(_u(rng, (0.3, 1.3)), 3),
        "motion": ([round(_u(rng, (1.5, 7.0)), 2), round(_u(rng, (0, 180)), 1)] if rng.random() < cfg.motion_blur_p else None),
        "shot": round(_logu(rng, (3e-4, 8e-3)), 6),
        "read": round(_logu(rng, (1e-6, 4e-4)), 8),
        "sharpen": round(_u(rng, (0.0, 0.7)), 3) if rng.random() < 0.6 else 0.0,
        "jpeg": int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
        "flicker": round(_u(rng, (0.0, 0.03)), 4),
    }


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    n = max(3, int(math.ceil(length)) | 1)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    for t in np.linspace(-length / 2, length / 2, 4 * n):
        k[int(round(c + t * dy)) % n, int(round(c + t * dx)) % n] = 1.0
    return k / k.sum()


def _camera(scene: np.ndarray, cp: dict, rng) -> np.ndarray:
    """The shared camera: exposure/white balance, optics (+motion) blur, signal-dependent sensor
    noise, tone curve, sharpening, 8-bit JPEG. ``scene`` is float32 BGR in [0, ~1]."""
    gain = cp["exposure"] * (1.0 + cp["flicker"] * float(rng.uniform(-1, 1)))
    x = scene * (np.asarray(cp["wb"], np.float32) * gain)
    x = cv2.GaussianBlur(x, (0, 0), cp["blur"])
    if cp["motion"]:
        length = cp["motion"][0] * float(rng.uniform(0.6, 1.0))
        x = cv2.filter2D(x, -1, _motion_kernel(length, cp["motion"][1] + float(rng.uniform(-10, 10))))
    np.clip(x, 0.0, 1.0, out=x)
    sd = np.sqrt(cp["shot"] * x + cp["read"])
    x = x + sd * rng.standard_normal(x.shape, dtype=np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    x = np.power(x, 1.0 / cp["gamma"], dtype=np.float32)
    if cp["sharpen"] > 0:
        x = cv2.addWeighted(x, 1.0 + cp["sharpen"], cv2.GaussianBlur(x, (0, 0), 1.2), -cp["sharpen"], 0)
    u8 = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, cp["jpeg"]])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


# ------------------------------------------------------------------------------------------ print
# ink absorption of (cyan, magenta, yellow, black) in the B, G, R channels: impure inks
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


# ------------------------------------------------------------------------------------- source bits
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


# ----------------------------------------------------------------------------------------- scenes
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


_RENDERERS = {"real": _render_real, "printed": _render_printed, "replay": _render_replay, "2dmask": _render_2dmask}


# ------------------------------------------------------------------------------- detect and track
def _track(detector, frames: list, first_expected: FaceBox, min_iou: float) -> list | None:
    """Boxes of the rendered face in each frame: full-frame detection matched to the expected
    box on frame 0, then detection around the previous box matched by IoU; None if lost."""
    cx, cy = first_expected.center
    half = 1.5 * max(first_expected.width, first_expected.height)
    found = detector.detect(frames[0], region=(cx - half, cy - half, cx + half, cy + half))
    if not found:
        found = detector.detect(frames[0])
    if not found:
        return None
    best = max(found, key=lambda b: _iou(b, first_expected))
    if _iou(best, first_expected) < min_iou:
        return None
    boxes = [best]
    for fr in frames[1:]:
        prev = boxes[-1]
        cx, cy = prev.center
        half = 1.25 * max(prev.width, prev.height)
        found = detector.detect(fr, region=(cx - half, cy - half, cx + half, cy + half))
        if not found:
            found = detector.detect(fr)
        if not found:
            return None
        best = max(found, key=lambda b: _iou(b, prev))
        if _iou(best, prev) < min_iou:
            return None
        boxes.append(best)
    return boxes


@contextlib.contextmanager
def _torch_single_thread():
    """Run the detector with one torch thread: several times faster than 2 threads on a busy
    2-core machine (no OpenMP oversubscription), and results do not depend on the core count."""
    try:
        import torch
    except ImportError:                      # a non-torch detector
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _default_detector(cfg: SynthConfig):
    from .detect import build_detector
    return build_detector(DetectorConfig(min_face_size=cfg.det_min_face_size, factor=cfg.det_factor), device="cpu")


def _render_sample(src, ident, kind, rng, cfg, n, frame_size):
    w, h = frame_size
    res = _RENDERERS[kind](src, ident, rng, cfg, n, w, h)
    if res is None:
        return None
    scenes, expected, params = res
    cp = _camera_params(rng, cfg)
    e = expected[0]
    if e is not None:                # auto exposure on the face (as webcams do), same for all classes
        x1, y1 = max(0, int(e.x1)), max(0, int(e.y1))
        x2, y2 = min(w, int(e.x2)), min(h, int(e.y2))
        if x2 > x1 and y2 > y1:
            level = float(scenes[0][y1:y2, x1:x2].mean())
            aim = _u(rng, (0.3, 0.55))
            cp["ae_gain"] = round(float(np.clip(aim / max(level, 1e-3), 0.5, 3.0)), 4)
            cp["exposure"] = round(cp["exposure"] * cp["ae_gain"] ** _u(rng, (0.6, 1.0)), 4)
    crng = np.random.default_rng(rng.integers(1 << 62))
    frames = [_camera(np.ascontiguousarray(s, dtype=np.float32), cp, crng) for s in scenes]
    params["camera"] = cp
    return frames, expected, params


def _allot(idents: list, n: int, rng, video_weight: float) -> list:
    """``n`` identities by weight, largest-remainder rounding, shuffled."""
    wts = np.array([video_weight if i.kind == "video" else 1.0 for i in idents], np.float64)
    quota = n * wts / wts.sum()
    cnt = np.floor(quota).astype(int)
    rest = n - cnt.sum()
    order = np.lexsort((np.arange(len(idents)), -(quota - cnt)))
    cnt[order[:rest]] += 1
    out = [idents[i] for i in range(len(idents)) for _ in range(cnt[i])]
    perm = rng.permutation(len(out))
    return [out[i] for i in perm]


def synthesize(assets_dir: Path, out_dir: Path, config: SynthConfig, detector=None,
               progress: Callable[[int, int, str], None] | None = None, workers: int = 1) -> dict:
    """Render ``config.samples_per_class`` samples of each class into ``out_dir`` (see the
    module docstring for the layout) and return the report that is also stored in
    ``out_dir/rtliveness_data.json``. A sample whose face the detector misses or loses is
    re-rendered with new random parameters (at most ``max_attempts`` times). The detector runs
    with one torch thread during the call. ``workers`` > 1 (only when ``detector`` is None)
    renders in that many spawned processes, each with its own default detector; the output is
    the same as with one worker (every sample has its own seed). Workers are spawned, so a
    calling script needs the usual ``if __name__ == "__main__":`` guard.
    ``progress(done, total, class_name)`` is called after each sample."""
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    with _torch_single_thread():
        return _synthesize(Path(assets_dir), Path(out_dir), config, detector, progress, workers)


def _make_sample(src: _Sources, det, cfg: SynthConfig, out_dir: Path, ci: int, k: int, ident: _Identity) -> dict:
    """Render, detect, crop and write sample ``k`` of class ``ci``; retries with new random
    parameters. Returns {"record": ... or None, "skipped": {...}, "t_render", "t_detect"}."""
    kind = cfg.classes[ci]
    skipped = {"render": 0, "detect": 0, "given_up": 0}
    t_render = t_detect = 0.0
    for attempt in range(cfg.max_attempts):
        rng = np.random.default_rng([cfg.seed, CLASSES.index(kind), k, attempt])
        ta = time.time()
        res = _render_sample(src, ident, kind, rng, cfg, _WINDOW, cfg.frame_size)
        tb = time.time()
        t_render += tb - ta
        if res is None or res[1][0] is None:
            skipped["render"] += 1
            continue
        frames, expected, params = res
        boxes = _track(det, frames, expected[0], cfg.min_iou)
        t_detect += time.time() - tb
        if boxes is None:
            skipped["detect"] += 1
            continue
        name = f"{kind}_{ident.pid}_{k:04d}"
        sdir = out_dir / kind / name
        sdir.mkdir(parents=True, exist_ok=True)
        for j, (fr, b) in enumerate(zip(frames, boxes)):
            cv2.imwrite(str(sdir / f"{j}.png"), crop_face(fr, b, cfg.store_scale, cfg.store_size))
        rec = {"sample": f"{kind}/{name}", "class": kind, "person": ident.pid, "source": ident.file,
               "attempt": attempt, "boxes": [bb.as_list() for bb in boxes], "params": params}
        return {"record": rec, "skipped": skipped, "t_render": t_render, "t_detect": t_detect}
    skipped["given_up"] = 1
    return {"record": None, "skipped": skipped, "t_render": t_render, "t_detect": t_detect}


_WORKER: dict = {}


def _worker_init(assets_dir: str, cfg: SynthConfig, out_dir: str) -> None:
    import torch
    torch.set_num_threads(1)
    det = _default_detector(cfg)
    _WORKER.update(src=load_sources(Path(assets_dir), cfg, det), det=det, cfg=cfg, out=Path(out_dir))


def _worker_job(job: tuple) -> tuple:
    ci, k, pid = job
    w = _WORKER
    ident = next(i for i in w["src"].identities if i.pid == pid)
    return ci, k, _make_sample(w["src"], w["det"], w["cfg"], w["out"], ci, k, ident)


def _synthesize(assets_dir: Path, out_dir: Path, config: SynthConfig, detector, progress, workers: int = 1) -> dict:
    t0 = time.time()
    cfg = config
    out_dir = Path(out_dir)
    det = detector if detector is not None else _default_detector(cfg)
    src = load_sources(Path(assets_dir), cfg, det)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for ci, kind in enumerate(cfg.classes):
        (out_dir / kind).mkdir(exist_ok=True)
        plan = _allot(src.identities, cfg.samples_per_class,
                      np.random.default_rng([cfg.seed, CLASSES.index(kind), 7919]), cfg.video_weight)
        jobs += [(ci, k, ident) for k, ident in enumerate(plan)]
    total = len(jobs)
    results: dict = {}
    if workers > 1 and detector is None:
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_worker_init, initargs=(str(assets_dir), cfg, str(out_dir))) as pool:
            for ci, k, res in pool.imap_unordered(_worker_job, [(ci, k, i.pid) for ci, k, i in jobs], chunksize=4):
                results[(ci, k)] = res
                if progress is not None:
                    progress(len(results), total, cfg.classes[ci])
    else:
        for ci, k, ident in jobs:
            results[(ci, k)] = _make_sample(src, det, cfg, out_dir, ci, k, ident)
            if progress is not None:
                progress(len(results), total, cfg.classes[ci])
    counts = {kind: 0 for kind in cfg.classes}
    per_ident: dict = {kind: {} for kind in cfg.classes}
    skipped = {kind: {"render": 0, "detect": 0, "given_up": 0} for kind in cfg.classes}
    records = []
    t_render = t_detect = 0.0
    for (ci, k) in sorted(results):
        res, kind = results[(ci, k)], cfg.classes[ci]
        for key, v in res["skipped"].items():
            skipped[kind][key] += v
        t_render += res["t_render"]
        t_detect += res["t_detect"]
        rec = res["record"]
        if rec is not None:
            records.append(rec)
            counts[kind] += 1
            per_ident[kind][rec["person"]] = per_ident[kind].get(rec["person"], 0) + 1
    seconds = time.time() - t0
    report = {
        "counts": counts,
        "total": int(sum(counts.values())),
        "identities": {i.pid: {"kind": i.kind, "file": i.file} for i in src.identities},
        "per_identity": per_ident,
        "skipped": skipped,
        "params": _config_dict(cfg),
        "seconds": round(seconds, 2),
        "seconds_render": round(t_render, 2),
        "seconds_detect": round(t_detect, 2),
        "workers": workers if (workers > 1 and detector is None) else 1,
        "synthetic": True,
    }
    meta = {"crop_scale": cfg.store_scale, "crop_size": cfg.store_size, "generator": "rtliveness synth",
            "config": _config_dict(cfg), "report": report}
    (out_dir / "rtliveness_data.json").write_text(json.dumps(meta, indent=2, default=_jsonable) + "\n")
    with open(out_dir / "synth_samples.jsonl", "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, default=_jsonable, sort_keys=True) + "\n")
    return report


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _config_dict(cfg: SynthConfig) -> dict:
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def render_clip(kind: str, assets_dir: Path, out_path: Path, n_frames: int = 100, seed: int = 0,
                fps: float = 25.0, frame_size=(640, 480), detector=None) -> Path:
    """Write a full-frame ``mp4v`` video of one rendered scene (``kind`` in :data:`CLASSES`),
    through the same camera model as :func:`synthesize`, for examples and demos. The face is a
    live-video person (the webcam talking head when present)."""
    if kind not in CLASSES:
        raise ConfigError(f"unknown kind {kind!r}: use one of {CLASSES}")
    if n_frames < 1:
        raise ConfigError(f"n_frames must be >= 1, got {n_frames}")
    cfg = SynthConfig(seed=seed, frame_size=tuple(frame_size), face_size=(110.0, 220.0), frame_stride=(1, 1))
    det = detector if detector is not None else _default_detector(cfg)
    with _torch_single_thread():
        src = load_sources(Path(assets_dir), cfg, det)
    vids = src.video_ids() or src.identities
    ident = next((i for i in vids if "talkinghead" in i.pid), vids[0])
    for attempt in range(10):
        rng = np.random.default_rng([seed, CLASSES.index(kind), 99991, attempt])
        res = _render_sample(src, ident, kind, rng, cfg, n_frames, cfg.frame_size)
        if res is not None:
            break
    else:
        raise DataError(f"could not render a {kind} clip from {assets_dir}")
    frames = res[0]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    w, h = cfg.frame_size
    vw = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not vw.isOpened():
        raise DataError(f"cannot write video {out_path}")
    for fr in frames:
        vw.write(fr)
    vw.release()
    return out_path
