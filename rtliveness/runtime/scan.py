"""Where the detector looks on one frame, and which of its boxes the tracker can use.

A detector run scans the whole frame (a large frame on a copy of at most
``DetectorConfig.max_side``), or, while faces are tracked and a whole-frame scan is not due
(``full_every``), only the regions around them (``roi_margin``; one batched call where the
detector can batch); a whole-frame run that finds no face looks once more for smaller faces
(``small_face_frac``, every ``small_face_every``-th time in a row). With a detector that also
reports less sure boxes (:meth:`rtliveness.runtime.detect.MtcnnDetector.tracking`), those count
only near a tracked face (:meth:`rtliveness.runtime.track.IouTracker.joinable`). No I/O; the
pipeline decides when to run it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..config import DetectorConfig
from ..types import FaceBox
from .detect import new_face_min
from .track import IouTracker

__all__ = ["FaceScan", "roi_regions"]


def roi_regions(boxes, margin: float, width: int, height: int,
                max_share: float = 0.6) -> tuple[tuple[int, int, int, int], ...] | None:
    """The regions (x1, y1, x2, y2) to scan around ``boxes``: each box widened by ``margin`` box
    sides on each side and clipped to the frame; overlapping regions are merged into their
    bounding rectangle (so no face can be split between two regions and found twice). None
    when there is no box or the regions together would cover more than ``max_share`` of the
    frame (scanning the whole frame then costs about the same)."""
    rects: list[list[int]] = []
    for b in boxes:
        x1 = max(0, int(math.floor(b.x1 - margin * b.width)))
        y1 = max(0, int(math.floor(b.y1 - margin * b.height)))
        x2 = min(width, int(math.ceil(b.x2 + margin * b.width)))
        y2 = min(height, int(math.ceil(b.y2 + margin * b.height)))
        if x2 > x1 and y2 > y1:
            rects.append([x1, y1, x2, y2])
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, c = rects[i], rects[j]
                if a[0] < c[2] and c[0] < a[2] and a[1] < c[3] and c[1] < a[3]:
                    rects[i] = [min(a[0], c[0]), min(a[1], c[1]), max(a[2], c[2]), max(a[3], c[3])]
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    if not rects or sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects) > max_share * width * height:
        return None
    return tuple(sorted((r[0], r[1], r[2], r[3]) for r in rects))


def _shrink(image: np.ndarray, f: float) -> np.ndarray:
    """``image`` scaled by ``f`` < 1 for detection (area interpolation), or itself at ``f`` >= 1."""
    if f >= 1.0:
        return image
    return cv2.resize(image, (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f))),
                      interpolation=cv2.INTER_AREA)


def _scaled_face(px: int, f: float) -> int:
    """A minimum face side in frame pixels, on a copy scaled by ``f`` (never under MTCNN's 12)."""
    return max(12, round(px * f))


def _to_frame(boxes, x0: float, y0: float, f: float, w: int, h: int) -> tuple[FaceBox, ...]:
    """Boxes found on a copy of the frame's region at ``(x0, y0)`` scaled by ``f``, in frame
    pixels, clipped to the frame (boxes left with no area are dropped)."""
    out = (FaceBox(x0 + b.x1 / f, y0 + b.y1 / f, x0 + b.x2 / f, y0 + b.y2 / f, b.score).clipped(w, h) for b in boxes)
    return tuple(b for b in out if b is not None)


class FaceScan:
    """One detector run on a frame (:meth:`run`) for the faces ``tracker`` follows; it keeps the
    count of runs since the last whole-frame scan and of whole-frame runs in a row without a
    face (:meth:`reset` forgets both)."""

    def __init__(self, config: DetectorConfig, tracker: IouTracker) -> None:
        self.config = config
        self.tracker = tracker
        self._since_full = 0
        self._empty_runs = 0  # whole-frame runs in a row that found no face (the small-face run's cadence)

    def reset(self) -> None:
        """Forget the counts (the pipeline's ``reset()``: no face is tracked any more)."""
        self._since_full = 0
        self._empty_runs = 0

    def run(self, detector, image: np.ndarray) -> tuple[FaceBox, ...]:
        """One detector run: in the regions around the open tracks while faces are tracked and a
        whole-frame scan is not due (``DetectorConfig.full_every``), else the whole frame.
        Regions that together hold fewer faces than there are tracks are rescanned as a whole
        frame at once, so a face that moved out of its region is not lost to the region scan.
        (Rescanning whenever a track is not matched again was measured and not adopted: on real
        videos it found no more faces, cost more whole-frame scans and cost one real printed
        attack its verdict; README, "Region scans".)"""
        cfg = self.config
        h, w = image.shape[:2]
        open_boxes = self.tracker.open_boxes
        if cfg.full_every > 1 and self._since_full < cfg.full_every - 1:
            regions = roi_regions(open_boxes, cfg.roi_margin, w, h)
            if regions is not None:
                found = self._usable(detector, self._regions(detector, image, regions, self._region_min_face(open_boxes, h, w)))
                if len(found) >= len(open_boxes):
                    self._since_full += 1
                    return found[:cfg.max_faces]
        self._since_full = 0
        return self._whole(detector, image)[:cfg.max_faces]

    def _region_min_face(self, open_boxes, h: int, w: int) -> int | None:
        """The minimum face side (frame pixels) of a region scan: None, the whole frame's rule,
        unless a tracked face is smaller than it (found by the second, finer whole-frame run:
        ``DetectorConfig.small_face_frac``); then that finer minimum, so the region finds it and
        the detector does not fall back to two whole-frame runs on every detector run."""
        cfg = self.config
        small = cfg.small_face_for(h, w)
        base = cfg.min_face_for(h, w)
        if small is not None and any(min(b.width, b.height) < base for b in open_boxes):
            return small
        return None

    def _regions(self, detector, image: np.ndarray, regions, min_face: int | None = None) -> list[FaceBox]:
        """Faces in all ``regions`` (down to ``min_face`` frame pixels; None: the whole frame's
        rule): one batched detector call when there are several regions and the detector can
        batch (``DetectorConfig.batch_regions``), else one call each."""
        batched = getattr(detector, "detect_images", None)
        if len(regions) < 2 or batched is None or not self.config.batch_regions:
            return [b for r in regions for b in self._region(detector, image, r, min_face)]
        h, w = image.shape[:2]
        cfg = self.config
        f = min(1.0, cfg.max_side / float(max(h, w)))  # large frames: regions scanned as the whole frame would be
        subs = [_shrink(image[y1:y2, x1:x2], f) for x1, y1, x2, y2 in regions]
        scaled = _scaled_face(min_face or cfg.min_face_for(h, w), f)
        return [b for (x1, y1, _, _), boxes in zip(regions, batched(subs, scaled))
                for b in _to_frame(boxes, x1, y1, f, w, h)]

    def _region(self, detector, image: np.ndarray, region: tuple[int, int, int, int],
                min_face: int | None = None) -> tuple[FaceBox, ...]:
        """Faces inside ``region`` with the whole frame's minimum face size, or down to
        ``min_face`` frame pixels (the detector takes the size from the whole image it is given;
        a large frame's region is cut out, downscaled as the whole frame would be, and given the
        scaled minimum face explicitly)."""
        h, w = image.shape[:2]
        cfg = self.config
        if max(h, w) <= cfg.max_side:  # the detector sizes the minimum face by the whole image
            if min_face is None:
                return detector.detect(image, region=region)
            return detector.detect(image, region=region, min_face=min_face)
        f = cfg.max_side / float(max(h, w))
        x1, y1, x2, y2 = region
        small = _shrink(image[y1:y2, x1:x2], f)
        scaled = _scaled_face(min_face or cfg.min_face_for(h, w), f)
        return _to_frame(detector.detect(small, min_face=scaled), x1, y1, f, w, h)

    def _whole(self, detector, image: np.ndarray) -> tuple[FaceBox, ...]:
        """A whole-frame run (a large frame on a copy of at most ``max_side``); when it finds no
        face, one more run down to ``DetectorConfig.small_face_frac`` of the short side."""
        h, w = image.shape[:2]
        side = self.config.max_side
        if max(h, w) <= side:
            found = self._usable(detector, detector.detect(image))
            small, f = image, 1.0
        else:
            f = side / float(max(h, w))
            small = _shrink(image, f)
            px = self.config.min_face_size
            # an explicit minimum face is in full-frame pixels: scale it to the copy detected on
            found = detector.detect(small) if px is None else detector.detect(small, min_face=_scaled_face(px, f))
            found = self._usable(detector, _to_frame(found, 0, 0, f, w, h))
        if not found:
            found = self._small(detector, small, f, w, h)
        if found:
            self._empty_runs = 0
        return found

    def _small(self, detector, image: np.ndarray, f: float, w: int, h: int) -> tuple[FaceBox, ...]:
        """The second whole-frame run on ``image`` (the frame, or its copy scaled by ``f``), down
        to ``small_face_frac`` of the short side: after the first run in a row that found no
        face and every ``small_face_every``-th after it (none: ())."""
        cfg = self.config
        tiny = cfg.small_face_for(*image.shape[:2])
        runs, self._empty_runs = self._empty_runs, self._empty_runs + 1
        if tiny is None or runs % cfg.small_face_every:
            return ()
        found = detector.detect(image, min_face=tiny)
        return self._usable(detector, found if f == 1.0 else _to_frame(found, 0, 0, f, w, h))

    def _usable(self, detector, boxes) -> tuple[FaceBox, ...]:
        """The boxes the tracker can use, largest first (:meth:`run` keeps ``max_faces`` of
        them): with a detector that also reports less sure boxes
        (:attr:`MtcnnDetector.new_face_confidence`), one below the confidence a new face needs
        only near a tracked face (:meth:`IouTracker.joinable`), so a box that cannot keep a face
        going counts as no face (the small-face run follows)."""
        new_min = new_face_min(detector)
        usable = boxes if new_min is None else self.tracker.joinable(boxes, new_min)
        return tuple(sorted(usable, key=lambda b: b.width * b.height, reverse=True))
