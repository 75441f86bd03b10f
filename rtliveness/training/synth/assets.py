"""The real live faces attacks are made from: identities from live videos and still photos."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ...errors import ConfigError, DataError
from ...types import FaceBox
from ...videopath import ffmpeg_path
from ..data import IMAGE_EXT, VIDEO_EXT, person_id
from .config import SynthConfig, _WINDOW


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
    unreadable: tuple = ()          # asset files left out: not decodable, or videos under 10 frames

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
    return person_id(stem)


def _read_video(path: Path) -> tuple[list, float]:
    cap = cv2.VideoCapture(ffmpeg_path(path))
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
    files = sorted(p for p in assets_dir.iterdir() if p.suffix.lower() in VIDEO_EXT + IMAGE_EXT)  # what the data commands read
    if config.sources:
        files = [p for p in files if p.name in config.sources or p.name in config.background_only]
    key = (tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files),
           config.min_source_face, config.background_only, id(detector))
    if key in _SOURCE_CACHE:
        return _SOURCE_CACHE[key]
    idents, backgrounds, unreadable = [], [], []
    for p in files:
        if p.suffix.lower() in VIDEO_EXT:
            frames, fps = _read_video(p)
            if len(frames) < 2 * _WINDOW:
                unreadable.append(p.name)
                continue
            name = _pid_from(p.stem.replace("webcam_talking_head", "talkinghead").replace("_pristine", ""))
            idents.append(_Identity(name, "video", p.name, frames, fps=fps))
            continue
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            unreadable.append(p.name)
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
    src = _Sources(idents, backgrounds, detector, tuple(unreadable))
    _SOURCE_CACHE[key] = src
    return src


def default_assets_dir() -> Path:
    """The repository's ``assets/`` folder (real live faces, credited in its README).

    It is not installed with the package: from an installed wheel, pass ``--assets DIR``."""
    repo_assets = Path(__file__).resolve().parents[3] / "assets"
    if not repo_assets.is_dir():
        raise ConfigError(f"no assets folder at {repo_assets}: pass --assets DIR (a folder of real face "
                          "videos and photos, like the repository's assets/)")
    return repo_assets
