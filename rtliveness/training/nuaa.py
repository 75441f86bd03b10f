"""The NUAA Imposter Database's raw webcam frames as sessions, read from where the user keeps it.

``ROOT/ClientRaw/<person>/`` holds live frames and ``ROOT/ImposterRaw/<person>/`` frames of that
person's printed photos held before the camera; a frame is named ``PPPP_GG_S_SS_FFFF.jpg``
(person, then three fields that name the session, then the frame's number in it). A session is
the frames sharing the first four fields, in frame-number order (NUAA kept every third frame).
The measurement scripts and ``scripts/prepare_nuaa.py`` read NUAA through this one rule; the
package never reads it by itself (research-use terms: its README).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NUAA_FOLDERS", "NuaaSession", "nuaa_sessions"]

#: NUAA's two folders and the label of their frames, live first
NUAA_FOLDERS = (("ClientRaw", "real"), ("ImposterRaw", "printed"))
_FRAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)_(\d+)$")


@dataclass(frozen=True)
class NuaaSession:
    """One session: its folder (``ClientRaw`` / ``ImposterRaw``), label (``real`` / ``printed``),
    the four name fields that identify it (person first) and its frames in order."""

    folder: str
    label: str
    key: tuple[str, str, str, str]
    frames: tuple[Path, ...]

    @property
    def person(self) -> str:
        return self.key[0]

    @property
    def name(self) -> str:
        return "_".join((self.folder, *self.key))


def nuaa_sessions(root: Path, persons: set[str] | None = None) -> list[NuaaSession]:
    """Every session under ``root`` (of ``persons`` only, when given: ids as in the names, e.g.
    ``"0003"``): the live folder's first, each folder's in order of their name fields; files
    not named as NUAA names its frames are left out."""
    out = []
    for folder, label in NUAA_FOLDERS:
        groups: dict[tuple[str, str, str, str], list[tuple[int, Path]]] = defaultdict(list)
        for p in (Path(root) / folder).glob("*/*.jpg"):
            m = _FRAME.match(p.stem)
            if m and (persons is None or m.group(1) in persons):
                groups[m.group(1, 2, 3, 4)].append((int(m.group(5)), p))
        out += [NuaaSession(folder, label, key, tuple(p for _, p in sorted(frames)))
                for key, frames in sorted(groups.items())]
    return out
