"""``rtliveness prepare``: labelled videos → 5-crop samples in the origin layout, cut where the
deployed loop cuts them.

Each frame's face box comes from :class:`LoopBoxes` — a :class:`~rtliveness.runtime.pipeline.LivenessPipeline`
run over the video, so the boxes are exactly those `run` crops: a detector run every few frames
(region scans around tracked faces), tracker-carried boxes in between. Windows cut that way move
inside the crop between detector runs, as they do in deployment; windows cut from a detection on
every frame (``detector=``, the face followed by
:class:`~rtliveness.runtime.track.FaceFollower`) keep the face centred, and a model trained only
on those misses more real printed photos through the loop (README, "Fine-tune on your own
recordings").

Labels come from a folder per class (``VIDEOS/real/*.mp4``, ``VIDEOS/printed/*.mov`` …) or from
an explicit label for every file given. Existing samples are never overwritten.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ConfigError, DataError, SourceOpenError
from ..model.dims import EMBED_DIM
from ..runtime.crop import crop_face
from ..runtime.track import box_iou, follow_face
from .attacks import CLASSES
from .data import DATA_META, VIDEO_EXT, WINDOW, person_id, read_json, sample_name
from .files import atomic_write_text, write_sample

__all__ = ["BOX_MODES", "LoopBoxes", "loop_window", "prepare_videos", "labelled_videos", "VIDEO_EXT"]

#: how a window's boxes are found: where the deployed loop puts them, or a detection on every frame
BOX_MODES = ("loop", "detect")



def labelled_videos(root: str | Path, warn: Callable[[str], None] | None = None) -> list[tuple]:
    """(video, class) pairs from a folder with one sub-folder per class (names of ``CLASSES``);
    a folder inside a class folder is one person, its videos ``(video, class, person)``
    (``real/alice/1.mp4``, ``real/alice/2.mp4``: one person, not two). A photo is refused in
    one line (a sample is 5 consecutive frames); any other file that is not a video
    (``VIDEO_EXT``) is named through ``warn`` and left out."""
    from ..runtime.sources import is_still_image

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give a folder with one sub-folder per class ({', '.join(CLASSES)})")
    pairs: list[tuple] = []
    ignored: list[Path] = []
    visited: set[Path] = set()  # folders read, as resolved: a link back up (real/alice/again -> ..) is read once

    def videos_in(folder: Path, label: str, person: str | None) -> None:
        if folder.resolve() in visited:
            return
        visited.add(folder.resolve())
        for v in sorted(folder.iterdir()):
            if v.name.startswith("."):  # hidden: a tool's folder (.ipynb_checkpoints) or file, not a person or a video
                continue
            if v.is_dir():  # a person's folder; deeper folders (real/alice/monday/) are that person's too
                if person is None or not v.is_symlink():  # a link below a person (alice/shared -> ../bob) is not theirs
                    videos_in(v, label, v.name if person is None else person)
                continue
            if v.suffix.lower() in VIDEO_EXT:
                pairs.append((v, label) if person is None else (v, label, person))
            elif is_still_image(v):
                raise _photo_refused(v, "record a few seconds of video instead, or move the photo out of the folder")
            else:
                ignored.append(v)

    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subs and any(p.is_file() and p.suffix.lower() in VIDEO_EXT for p in root.iterdir()):
        # the videos of one class, given as the folder: the usual slip (`prepare my_videos/real`)
        what = f"--label {root.name}" if root.name in CLASSES else "--label CLASS"
        raise DataError(f"{root} holds videos but no class folders; give its videos with {what} "
                        f"({root / '*.mp4'} {what}), or the folder above it with a sub-folder per class "
                        f"({', '.join(CLASSES)})")
    for sub in subs:
        if sub.name not in CLASSES:
            raise DataError(f"{sub}: unknown class folder; use {', '.join(CLASSES)}")
        videos_in(sub, sub.name, None)
    stray = [p.name for p in sorted(root.iterdir()) if p.is_file() and p.suffix.lower() in VIDEO_EXT]
    if stray and warn is not None:  # beside the class folders: no class to give them
        warn(f"left out {len(stray)} video{'s' if len(stray) != 1 else ''} outside the class folders of {root} "
             f"({', '.join(stray[:5])}{' …' if len(stray) > 5 else ''}): move {'them' if len(stray) != 1 else 'it'} "
             f"into {', '.join(CLASSES)}")
    if ignored and warn is not None:
        shown = ", ".join(str(v.relative_to(root)) for v in ignored[:5]) + (" …" if len(ignored) > 5 else "")
        warn(f"left out {len(ignored)} file{'s' if len(ignored) != 1 else ''} that {'are' if len(ignored) != 1 else 'is'} "
             f"not a video ({', '.join(VIDEO_EXT)}): {shown}")
    if not pairs:
        raise DataError(f"no videos ({', '.join(VIDEO_EXT)}) in class folders under {root}")
    return pairs


def _photo_refused(path: Path, what_to_do: str) -> DataError:
    """The one refusal of a photo given to ``prepare`` (a sample is 5 consecutive frames)."""
    return DataError(f"{path} is a photo: prepare cuts videos into samples of 5 consecutive frames; {what_to_do}")


def _check_meta(out_root: Path, crop_scale: float, crop_size: int) -> dict:
    """The dataset's metadata, refusing crops of another scale or size; new metadata is written by
    :func:`_write_meta` once a video opens (a run whose videos all fail leaves nothing behind)."""
    meta_path = out_root / DATA_META
    if meta_path.is_file():
        existing = read_json(meta_path, "dataset metadata")
        if abs(float(existing.get("crop_scale", crop_scale)) - crop_scale) > 1e-6:
            raise DataError(f"{out_root} holds crops at scale {existing['crop_scale']}, not {crop_scale}; use another --out")
        if int(existing.get("crop_size", crop_size)) != crop_size:
            raise DataError(f"{out_root} holds crops of {existing['crop_size']} px, not {crop_size}; "
                            f"use --crop-size {existing['crop_size']} or another --out")
        return existing
    return {"crop_scale": crop_scale, "crop_size": crop_size, "generator": "rtliveness prepare"}


def _write_meta(out_root: Path, meta: dict) -> None:
    """Write the dataset's metadata if it is not there yet (before the first sample)."""
    if not (out_root / DATA_META).is_file():
        out_root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_root / DATA_META, json.dumps(meta, indent=2))


def _none_readable(bad: list[dict]) -> SourceOpenError:
    """The one error of a run none of whose videos could be opened: one video's own message, or
    how many there were with the first one's message."""
    if len(bad) == 1:
        return SourceOpenError(bad[0]["error"])
    names = ", ".join(Path(v["video"]).name for v in bad[:5]) + (" …" if len(bad) > 5 else "")
    return SourceOpenError(f"none of the {len(bad)} videos can be read ({names}); the first: {bad[0]['error']}")


def _next_index(folder: Path, prefix: str) -> int:
    taken = [int(d.name[len(prefix):]) for d in folder.glob(prefix + "*") if d.name[len(prefix):].isdigit()]
    return max(taken) + 1 if taken else 0


class LoopBoxes:
    """The followed face's box on each frame as the deployed loop places it.

    ``pipeline`` (a :class:`~rtliveness.runtime.pipeline.LivenessPipeline`) steps through every
    frame; the face followed is the largest one when none is followed yet (or, after
    ``reset(near=box)``, the one overlapping ``box`` most, if by IoU >= ``min_iou``), then the same
    track for as long as the loop keeps it. ``__call__`` returns ``(track_id, box)`` or None (no
    face)."""

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self._track: int | None = None
        self._near = None
        self._min_iou = 0.3

    @classmethod
    def for_detector(cls, detector, detector_config=None) -> "LoopBoxes":
        """The loop's boxes with ``detector`` at ``detector_config``'s cadence (default: ``run``'s).
        The boxes never depend on the scores, so the pipeline scores nothing (:class:`_NoScores`)."""
        from ..runtime.pipeline import LivenessPipeline

        return cls(LivenessPipeline(detector, _NoScores(), detector_config=detector_config))

    def close(self) -> None:
        self.pipeline.close()

    def reset(self, near=None, min_iou: float = 0.3) -> None:
        """A new video: forget every track. ``near`` (a box): follow the face found there rather
        than the largest one (a renderer knows where it put the face)."""
        self.pipeline.reset()
        self._track = None
        self._near, self._min_iou = near, min_iou

    def _pick(self, faces: dict) -> int | None:
        if not faces:
            return None
        if self._near is None:
            return max(faces, key=lambda t: faces[t].width * faces[t].height)
        best = max(faces, key=lambda t: box_iou(faces[t], self._near))
        return best if box_iou(faces[best], self._near) >= self._min_iou else None

    def __call__(self, image) -> tuple[int, object] | None:
        faces = {v.track_id: v.box for v in self.pipeline.step(image).faces}
        if self._track not in faces:
            self._track = self._pick(faces)
        return None if self._track is None else (self._track, faces[self._track])


class _NoScores:
    """The scorer of a boxes-only loop (:meth:`LoopBoxes.for_detector`): 16 px crops, zero
    embeddings, p_spoof 0 — never read, the loop's detection cadence and tracker do not use them."""

    def __init__(self) -> None:
        from ..model.checkpoint import ModelMeta

        self.meta = ModelMeta(input_size=16, crop_scale=1.0, threshold=0.5)

    def embed(self, crops):
        import numpy as np

        return np.zeros((len(crops), EMBED_DIM), np.float32)

    def head(self, windows):
        import numpy as np

        return np.zeros((len(windows),), np.float64)

    def close(self) -> None:
        pass


def loop_window(found: list) -> list | None:
    """The boxes of a window from its frames' :class:`LoopBoxes` results, or None unless one track
    has them all."""
    if any(f is None for f in found) or len({f[0] for f in found}) != 1:
        return None
    return [f[1] for f in found]


def check_windows(stride: int, window_step: int) -> None:
    """``--stride`` and ``--step`` are frame counts >= 1 (:class:`ConfigError` otherwise: an
    option, not the data, is wrong)."""
    if stride < 1 or window_step < 1:
        raise ConfigError(f"--stride and --step must be >= 1 frame, got {stride} and {window_step}")


def _video_key(video: Path, label: str, pid: str, settings: list) -> str:
    """What makes a video's cut the same cut: the file (path, size, time), class, person and settings."""
    st = video.stat()
    return json.dumps([str(video.resolve()), st.st_size, st.st_mtime_ns, label, pid, *settings])


def _record_video(out_root: Path, meta: dict, key: str, entry: dict) -> None:
    """Add a finished video to the dataset's metadata ``meta`` and write it (atomically): a later
    run, or the same video later in this run, skips it."""
    meta.setdefault("videos", {})[key] = entry
    atomic_write_text(out_root / DATA_META, json.dumps(meta, indent=2))


def prepare_videos(videos: Iterable[tuple], out_root: str | Path, detector, crop_scale: float,
                   crop_size: int = 224, stride: int = 1, window_step: int = 5, person: str | None = None,
                   max_samples: int | None = None, progress: Callable[[int, str], None] | None = None,
                   on_video: Callable[[dict], None] | None = None, settings: dict | None = None) -> dict:
    """Cut (video, class) pairs — or (video, class, person) triples — into 5-crop samples under
    ``out_root/<class>/``.

    ``detector``: a :class:`LoopBoxes` (the deployed loop's boxes; what ``rtliveness prepare``
    uses) or a face detector run on every frame, its largest face followed by
    :func:`~rtliveness.runtime.track.follow_face`. ``stride``: frames between the 5 crops of a
    sample (1 = consecutive, as ``run`` sees them); ``window_step``: frames between the starts of
    consecutive samples. A window in which the face is lost is dropped. The person of a sample:
    the triple's, else ``person``, else the video's name.

    Run again on the same videos, it goes on: a video cut whole before (same file, class, person
    and settings, ``settings`` included: the detector's, which ``prepare`` passes; recorded in the
    dataset's ``rtliveness_data.json``) is skipped, and a video whose cut is interrupted (Ctrl+C, an
    error) leaves none of its samples, so it is cut whole next time. A video that gave no sample is
    not recorded (with another ``--min-face`` it may give some).

    A video that cannot be opened (empty, not a video, corrupt: a :class:`SourceOpenError`) is left
    out and the others are cut: its report carries ``"error"`` (the one-line reason) and nothing is
    written for it. When every video given fails so, that is one :class:`SourceOpenError` (the
    video's own, or how many failed with the first one's reason) and nothing is written.
    ``on_video`` gets each video's ``{"video", "class", "person", "samples", "dropped",
    "skipped"}`` (``"frames"`` too, the frames read, for a video cut now; ``"error"``, for a video
    left out) as it ends. Returns ``{"written",
    "dropped", "per_class", "videos"}``.
    """
    import shutil

    from ..runtime.sources import FileSource, is_still_image

    check_windows(stride, window_step)
    jobs = []
    for item in videos:
        v, label = Path(item[0]), item[1]
        who = item[2] if len(item) > 2 else person
        if label not in CLASSES:
            raise DataError(f"unknown label {label!r} for {v}; use one of {', '.join(CLASSES)}")
        if v.is_file() and is_still_image(v):
            raise _photo_refused(v, "record a few seconds of video instead")
        jobs.append((v, label, person_id(who or v.stem)))
    out_root = Path(out_root)
    meta = _check_meta(out_root, crop_scale, crop_size)
    done = meta.setdefault("videos", {})
    written, dropped = 0, 0
    per_class = {c: 0 for c in CLASSES}
    reports = []

    def ended(report: dict) -> None:
        reports.append(report)
        if on_video is not None:
            on_video(report)

    span = (WINDOW - 1) * stride
    for video, label, pid in jobs:
        key = (_video_key(video, label, pid, [stride, window_step, crop_size, crop_scale, sorted((settings or {}).items())])
               if video.is_file() else None)
        report = {"video": str(video), "class": label, "person": pid, "samples": 0, "dropped": 0, "skipped": False}
        if key is not None and key in done:
            report.update(samples=done[key].get("samples", 0), skipped=True)
            ended(report)
            continue
        try:
            src = FileSource(video)
        except SourceOpenError as exc:  # a half-copied or broken file: left out, the other videos go on
            report["error"] = str(exc)
            ended(report)
            continue
        mine: list[Path] = []  # this video's samples so far: removed if its cut does not finish
        finished = False
        try:
            with src:
                _write_meta(out_root, meta)
                (out_root / label).mkdir(parents=True, exist_ok=True)
                k = _next_index(out_root / label, f"{label}_{pid}_")
                recent: deque = deque(maxlen=span + 1)  # (image, boxes) of the last span+1 frames
                loop = isinstance(detector, LoopBoxes)
                if loop:
                    detector.reset()
                report["frames"] = 0  # read (fewer than one window spans: no sample, whatever the detector)
                for frame in src:
                    report["frames"] += 1
                    found = detector(frame.image_bgr) if loop else detector.detect(frame.image_bgr)
                    recent.append((frame.image_bgr, found))
                    start = frame.index - span
                    if start < 0 or start % window_step:
                        continue
                    picked = [recent[j * stride] for j in range(WINDOW)]
                    boxes = loop_window([b for _, b in picked]) if loop else follow_face([b for _, b in picked])
                    if boxes is None:
                        dropped += 1
                        report["dropped"] += 1
                        continue
                    sdir = out_root / label / sample_name(label, pid, k)
                    mine.append(sdir)  # before it exists: an interrupt right after the rename still removes it
                    write_sample(sdir, [crop_face(image, box, crop_scale, crop_size) for (image, _), box in zip(picked, boxes)])
                    k += 1
                    written += 1
                    report["samples"] += 1
                    per_class[label] += 1
                    if progress is not None:
                        progress(written, label)
                    if max_samples is not None and written >= max_samples:
                        reports.append(report)
                        return {"written": written, "dropped": dropped, "per_class": per_class, "videos": reports}
            if key is not None and report["samples"]:  # recorded before it counts as finished
                _record_video(out_root, meta, key, {"samples": report["samples"], "dropped": report["dropped"]})
            finished = True
        finally:
            if not finished and (max_samples is None or written < max_samples):
                for sdir in mine:  # an unfinished cut leaves nothing: the next run cuts this video whole
                    shutil.rmtree(sdir, ignore_errors=True)
        ended(report)
    bad = [r for r in reports if "error" in r]
    if bad and len(bad) == len(reports):
        raise _none_readable(bad)
    return {"written": written, "dropped": dropped, "per_class": per_class, "videos": reports}
