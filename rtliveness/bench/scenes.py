"""What the benchmark runs on: generated test videos, the bench cases and random-init checkpoints.

* :func:`make_synthetic_video` — an mp4v video of 1..N copies of a real face photo moving
  smoothly over a textured background (deterministic; no data set needed).
* :func:`make_random_checkpoint` — a random-init SpoofModel checkpoint of a given input size
  (speed does not depend on the weights).
* :func:`prepare_case` — the video of one bench case (``file``, ``one``, ``four``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..videopath import ffmpeg_path

__all__ = ["make_synthetic_video", "make_random_checkpoint", "default_video", "prepare_case", "CASES", "REPO"]

REPO = Path(__file__).resolve().parents[2]
#: bench cases: the ``file`` video, or generated videos with this many faces
CASES: dict[str, int | None] = {"file": None, "one": 1, "four": 4}


def make_random_checkpoint(path: Path, input_size: int = 112, crop_scale: float = 1.5, seed: int = 0) -> Path:
    """A random-init SpoofModel checkpoint at ``path`` (kept if it already exists)."""
    import torch

    from ..model.checkpoint import ModelMeta, save_checkpoint
    from ..model.spoofmodel import SpoofModel

    path = Path(path)
    if path.is_file():
        return path
    torch.manual_seed(seed)
    return save_checkpoint(path, SpoofModel(), ModelMeta(input_size=input_size, crop_scale=crop_scale))


def _default_face() -> np.ndarray:
    for cand in (REPO / "tests" / "data" / "grace_hopper.jpg", REPO / "assets" / "grace_hopper_512x512.jpg"):
        img = cv2.imread(str(cand)) if cand.is_file() else None
        if img is not None:
            return img
    raise ConfigError("no face image for the generated bench videos; pass face_image=PATH (a photo of one face)")


def _background(w: int, h: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(0, 255, (max(1, h // 8), max(1, w // 8), 3), dtype=np.uint8), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = (60 * np.sin(xx / 9.0 + yy / 23.0))[..., None]
    checker = (((xx // 40 + yy // 40) % 2) * 30)[..., None]
    bg = 0.5 * noise.astype(np.float32) + 60 + stripes + checker
    return np.clip(bg, 0, 255).astype(np.uint8)


def _slots(faces: int, w: int, h: int) -> tuple[int, list[tuple[float, float, float, float]]]:
    """Face side and, per face, (centre x, centre y, amplitude x, amplitude y) of its path."""
    if faces == 1:
        side = int(0.45 * h)
        return side, [(w / 2, h / 2, 0.30 * w - side / 2 + 40, 0.12 * h)]
    cols = math.ceil(math.sqrt(faces))
    rows = math.ceil(faces / cols)
    side = int(0.75 * min(w / cols, h / rows))
    slots = []
    for k in range(faces):
        r, c = divmod(k, cols)
        slots.append(((c + 0.5) * w / cols, (r + 0.5) * h / rows, 0.1 * w / cols, 0.08 * h / rows))
    return side, slots


def make_synthetic_video(path: Path, faces: int = 1, frames: int = 160, size: tuple[int, int] = (640, 480),
                         fps: float = 30.0, face_image: np.ndarray | str | Path | None = None) -> Path:
    """Write a ``size`` mp4v video of ``faces`` copies of a real face photo moving smoothly
    (Lissajous paths, each face in its own part of the frame) over a textured background."""
    path = Path(path)
    if faces < 1:
        raise ConfigError(f"a synthetic bench video needs at least one face, got {faces}")
    if isinstance(face_image, (str, Path)):
        face = cv2.imread(str(face_image))
        if face is None:
            raise ConfigError(f"cannot read face image {face_image}")
    else:
        face = face_image if face_image is not None else _default_face()
    w, h = size
    bg = _background(w, h)
    side, slots = _slots(faces, w, h)
    tile = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    tiles = [tile if k % 2 == 0 else cv2.flip(tile, 1) for k in range(len(slots))]
    writer = cv2.VideoWriter(ffmpeg_path(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise ConfigError(f"cannot write {path} with mp4v")
    try:
        for i in range(frames):
            img = bg.copy()
            t = i / fps
            for k, (cx, cy, ax, ay) in enumerate(slots):
                x = int(round(cx + ax * math.sin(2 * math.pi * t / 4.0 + k) - side / 2))
                y = int(round(cy + ay * math.sin(2 * math.pi * t / 3.0 + 2 * k) - side / 2))
                x, y = min(max(0, x), w - side), min(max(0, y), h - side)
                img[y:y + side, x:x + side] = tiles[k]
            writer.write(img)
    finally:
        writer.release()
    return path


def default_video() -> tuple[Path | None, str]:
    """The ``file`` case's video when none is given: the bundled example, else the test clip."""
    ex = REPO / "examples" / "live_webcam.mov"
    if ex.is_file():
        return ex, "examples/live_webcam.mov"
    th = REPO / "tests" / "data" / "talking_head.mov"
    if th.is_file():
        return th, "tests/data/talking_head.mov (examples/live_webcam.mov absent)"
    return None, "none"


def prepare_case(case: str, work: Path, video: Path | str | None = None, frames: int = 160,
                 size: tuple[int, int] = (640, 480), face_image: Any = None) -> dict | None:
    """The video of bench case ``case`` and what it is: ``{"case", "video", "label", "size",
    "fps", "frame_count"}``; None when the ``file`` case has no video. Generated videos are
    written into ``work`` (``frames`` long) and reused when already there."""
    from ..runtime.sources import FileSource

    if case not in CASES:
        raise ConfigError(f"unknown bench case {case!r}: use {', '.join(CASES)}")
    faces = CASES[case]
    if faces is None:
        path, label = (Path(video), str(video)) if video is not None else default_video()
        if path is None:
            return None
    else:
        path = Path(work) / f"synthetic_{faces}face_{size[0]}x{size[1]}_{frames}f.mp4"
        if not path.is_file():
            # written under a temporary name and renamed when whole: an interrupted bench leaves no
            # short video for the next run to reuse as if it had every frame
            tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
            try:
                make_synthetic_video(tmp, faces=faces, frames=frames, size=size, face_image=face_image)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        label = f"generated {size[0]}x{size[1]} 30 FPS, {faces} face(s)"
    with FileSource(path) as src:
        return {"case": case, "video": str(path), "label": label, "size": list(src.size),
                "fps": src.fps, "frame_count": src.frame_count}
