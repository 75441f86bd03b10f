"""Stable ids for faces across frames (greedy IoU matching with a constant-velocity carry).

Pure numpy, no I/O. Each tracker owns its id counter, so two pipelines never share ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import TrackerConfig
from ..types import FaceBox

__all__ = ["Track", "IouTracker", "FaceFollower", "follow_face", "iou_matrix", "box_iou", "greedy_pairs"]


def iou_matrix(a: list[FaceBox] | tuple[FaceBox, ...], b: list[FaceBox] | tuple[FaceBox, ...]) -> np.ndarray:
    """IoU of every box in ``a`` against every box in ``b`` as an (len(a), len(b)) array."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    A = np.array([[x.x1, x.y1, x.x2, x.y2] for x in a], dtype=np.float64)
    B = np.array([[x.x1, x.y1, x.x2, x.y2] for x in b], dtype=np.float64)
    ix1 = np.maximum(A[:, None, 0], B[None, :, 0])
    iy1 = np.maximum(A[:, None, 1], B[None, :, 1])
    ix2 = np.minimum(A[:, None, 2], B[None, :, 2])
    iy2 = np.minimum(A[:, None, 3], B[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (A[:, 2] - A[:, 0]) * (A[:, 3] - A[:, 1])
    area_b = (B[:, 2] - B[:, 0]) * (B[:, 3] - B[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def box_iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Track:
    """A tracked face as of the latest update. ``detected`` is False when the box was carried."""

    track_id: int
    box: FaceBox
    detected: bool
    age: int
    missed: int


class _State:
    __slots__ = ("track_id", "box", "velocity", "age", "missed", "detected", "det_box", "since", "pred_iou")

    def __init__(self, track_id: int, box: FaceBox) -> None:
        self.track_id = track_id
        self.box = box  # current (detected or carried) box
        self.det_box = box  # last detected box
        self.since = 0  # frames since det_box
        self.velocity = np.zeros(4)  # per frame, from detected boxes only
        self.age = 1
        self.missed = 0
        self.detected = True
        self.pred_iou = 0.0  # IoU of the last detection with where the carry predicted it

    def predicted(self, frames: int) -> FaceBox | None:
        """The constant-velocity carry's box ``frames`` frames after the last detection (None
        when the carry degenerates to an empty box)."""
        b, v = self.det_box, self.velocity * frames
        try:
            return FaceBox(b.x1 + v[0], b.y1 + v[1], b.x2 + v[2], b.y2 + v[3], b.score)
        except ValueError:
            return None


def greedy_pairs(ious: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """(row, column) pairs of an IoU matrix, best IoU first, each row and column used at most
    once, every pair with IoU >= ``min_iou``."""
    pairs: list[tuple[int, int]] = []
    if not ious.size:
        return pairs
    used_r: set[int] = set()
    used_c: set[int] = set()
    for r, c in np.dstack(np.unravel_index(np.argsort(-ious, axis=None), ious.shape))[0]:
        if ious[r, c] < min_iou:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(int(r))
        used_c.add(int(c))
        pairs.append((int(r), int(c)))
    return pairs


class IouTracker:
    """Greedy IoU tracker.

    ``update(boxes)`` with the detector's boxes on detection frames; ``update(None)`` on frames
    where the detector did not run: every live track's box is carried forward by its velocity.
    A track not matched on ``max_missed + 1`` consecutive detection frames is evicted; the ids
    of evicted tracks are reported once by :meth:`pop_evicted` so their buffers can be dropped.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_State] = []
        self._next_id = 1
        self._evicted: list[int] = []

    def reset(self) -> None:
        """Drop every track (after a stream gap). Ids keep increasing: a new face gets a new id."""
        self._evicted.extend(t.track_id for t in self._tracks)
        self._tracks = []

    @property
    def active_ids(self) -> tuple[int, ...]:
        return tuple(t.track_id for t in self._tracks)

    @property
    def open_boxes(self) -> tuple[FaceBox, ...]:
        """The latest box of every open track (carried or detected; a track the last detection
        missed keeps its last box), for detecting in the regions where the faces are."""
        return tuple(t.box for t in self._tracks)

    def steady(self, min_iou: float, min_age: int = 3) -> bool:
        """True when the carry can be trusted for longer: there are tracks, every one of them was
        found by the latest detection, has been detected at least ``min_age`` times, and was
        found within ``min_iou`` IoU of where the constant-velocity carry predicted it."""
        return bool(self._tracks) and all(t.detected and t.missed == 0 and t.age >= min_age and t.pred_iou >= min_iou
                                          for t in self._tracks)

    def pop_evicted(self) -> tuple[int, ...]:
        out, self._evicted = tuple(self._evicted), []
        return out

    def joinable(self, boxes: Sequence[FaceBox], new_min: float | None) -> tuple[FaceBox, ...]:
        """The boxes :meth:`update` can use: those at ``new_min`` confidence or above (they may
        start a track) and those below it that overlap an open track by ``iou_threshold`` (they
        can only keep one going). ``None``: every box."""
        boxes = list(boxes)
        if new_min is None or all(b.score >= new_min for b in boxes):
            return tuple(boxes)
        near = iou_matrix(boxes, list(self.open_boxes)).max(axis=1, initial=0.0) >= self.config.iou_threshold
        return tuple(b for b, ok in zip(boxes, near) if ok or b.score >= new_min)

    def update(self, boxes: tuple[FaceBox, ...] | list[FaceBox] | None, width: int | None = None,
               height: int | None = None, new_min: float | None = None) -> tuple[Track, ...]:
        """One detection's boxes (None: a frame without a detector run, the tracks carried).
        A box below ``new_min`` confidence joins a track it overlaps but never starts one: a
        face once found stays tracked through frames where the detector is less sure of it
        (blur, dim light, compression), while a new face needs the full confidence."""
        if boxes is None:
            return self._carry(width, height)
        boxes = list(boxes)
        ious = iou_matrix([t.box for t in self._tracks], boxes)
        pairs = greedy_pairs(ious, self.config.iou_threshold)
        matched_t = {ti for ti, _ in pairs}
        matched_d = {di for _, di in pairs}
        for ti, di in pairs:
            st = self._tracks[ti]
            new = boxes[di]
            old_box = st.det_box
            predicted = st.predicted(st.since + 1)
            st.pred_iou = box_iou(predicted, new) if predicted is not None else 0.0
            delta = np.array([new.x1 - old_box.x1, new.y1 - old_box.y1, new.x2 - old_box.x2, new.y2 - old_box.y2])
            st.velocity = 0.5 * st.velocity + 0.5 * (delta / (st.since + 1))
            st.box, st.det_box, st.since = new, new, 0
            st.age, st.missed, st.detected = st.age + 1, 0, True
        survivors: list[_State] = []
        for i, st in enumerate(self._tracks):
            if i in matched_t:
                survivors.append(st)
                continue
            st.since += 1
            st.missed += 1
            st.detected = False
            if st.missed > self.config.max_missed:
                self._evicted.append(st.track_id)
            else:
                survivors.append(st)
        self._tracks = survivors
        new_states = []
        for di, box in enumerate(boxes):
            if di not in matched_d and (new_min is None or box.score >= new_min):
                st = _State(self._next_id, box)
                self._next_id += 1
                new_states.append(st)
        self._tracks.extend(new_states)
        # a track that missed this detection is not reported: only faces seen on this frame
        return tuple(Track(t.track_id, t.box, True, t.age, 0) for t in self._tracks if t.detected)

    def _carry(self, width: int | None, height: int | None) -> tuple[Track, ...]:
        out = []
        for st in self._tracks:
            st.since += 1  # frames since the last detection, for a track the last detection missed too
            if not st.detected:  # unmatched at the last detection: not shown until seen again
                continue
            # predicted from the last detection, not compounded frame by frame
            moved = st.predicted(st.since) or st.box
            if width is not None and height is not None:
                inside = moved.clipped(width, height)
                if inside is None:  # carried wholly out of the frame: not shown until seen again
                    st.detected = False
                    continue
                moved = inside
            st.box = moved
            out.append(Track(st.track_id, moved, False, st.age, st.missed))
        return tuple(out)


class FaceFollower:
    """Follow one face through consecutive detection frames with the serving tracker — the one
    face follower of the project (``prepare`` and ``synth`` use it).

    ``step(boxes)`` takes one frame's detections and returns the followed face's box, or None
    once it was not detected in some frame (a window never spans a gap, as at serving time).
    The face is ``first`` (matched by IoU on the first frame) or the first frame's largest box.
    """

    def __init__(self, config: TrackerConfig | None = None, first: FaceBox | None = None) -> None:
        self._tracker = IouTracker(config or TrackerConfig(max_missed=0))
        self._first = first
        self._target: int | None = None
        self.lost = False
        self.last: FaceBox | None = None

    def step(self, boxes: Sequence[FaceBox]) -> FaceBox | None:
        if self.lost:
            return None
        tracks = self._tracker.update(tuple(boxes))
        if self._target is None:
            if tracks and self._first is None:
                self._target = max(tracks, key=lambda t: t.box.width * t.box.height).track_id
            elif tracks:
                ious = [box_iou(self._first, t.box) for t in tracks]
                j = int(np.argmax(ious))
                if ious[j] >= self._tracker.config.iou_threshold:
                    self._target = tracks[j].track_id
        found = [t.box for t in tracks if t.track_id == self._target]
        if not found:
            self.lost = True
            return None
        self.last = found[0]
        return self.last


def follow_face(boxes_per_frame: Sequence[Sequence[FaceBox]], config: TrackerConfig | None = None,
                first: FaceBox | None = None) -> list[FaceBox] | None:
    """The followed face's box in every frame (see :class:`FaceFollower`), or None if it is lost."""
    follower = FaceFollower(config, first)
    out = []
    for boxes in boxes_per_frame:
        box = follower.step(boxes)
        if box is None:
            return None
        out.append(box)
    return out
