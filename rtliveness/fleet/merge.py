"""A stream's epochs (one per start or restart) joined into its ``run --jsonl`` summary, and the
scorers' batch histograms joined into one, across their restarts. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EpochState", "ScorerTally", "StreamLedger", "merge_histograms"]


#: a worker's or the controller's words for how a stream ended, in run's vocabulary where they
#: differ: a stream the controller stopped (its line removed from the sources file) ends as run's
#: q/Esc does, 'user' (run never writes 'stopped')
RUN_STOPPED = {"stopped": "user"}


@dataclass
class EpochState:
    """The last state a worker reported for one epoch of a stream."""

    frames: int = 0
    seconds: float = 0.0
    dropped: int = 0
    tracks: list[dict] = field(default_factory=list)
    stopped: str | None = None
    error: str | None = None


class StreamLedger:
    """What the controller knows of one stream: frames written, epochs, restarts, its summary."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.epochs: list[EpochState] = []
        self.written = 0  # frame records written to the JSON lines
        self.last_frame = -1  # index of the last frame record written
        self.last_time: float | None = None  # time of the last frame record written
        self.max_track = 0
        self.restarts = 0

    def new_epoch(self) -> int:
        self.epochs.append(EpochState())
        return len(self.epochs) - 1

    def add_records(self, records: list[dict]) -> None:
        for r in records:
            self.written += 1
            self.last_frame = max(self.last_frame, int(r["frame"]))
            self.last_time = float(r["time"]) if self.last_time is None else max(self.last_time, float(r["time"]))
            for f in r.get("faces", ()):
                self.max_track = max(self.max_track, int(f["track"]))

    def update(self, report: dict) -> None:
        """Apply a worker's drain report to the current epoch."""
        e = self.epochs[-1]
        e.frames, e.seconds, e.dropped = report["frames"], report["seconds"], report["dropped"]
        e.tracks = report["tracks"]
        e.stopped, e.error = report["stopped"], report["error"]
        for t in e.tracks:
            self.max_track = max(self.max_track, int(t["track"]))

    def seconds(self) -> float:
        return sum(e.seconds for e in self.epochs)

    def summary(self, stopped: str | None = None) -> dict:
        """The same object as ``rtliveness run --jsonl``'s last line (``RunReport.to_json``)."""
        last = self.epochs[-1] if self.epochs else EpochState()
        seconds = self.seconds()
        tracks = sorted((t for e in self.epochs for t in e.tracks), key=lambda t: t["track"])
        how = stopped or last.stopped or "interrupted"
        return {
            "source": self.source,
            "frames": self.written,
            "seconds": round(seconds, 4),
            "fps": round(self.written / seconds, 3) if seconds > 0 else 0.0,
            "dropped": sum(e.dropped for e in self.epochs),
            "stopped": RUN_STOPPED.get(how, how),
            "error": last.error,
            "tracks": tracks,
        }


def merge_histograms(stats: list) -> dict:
    """Embed calls per number of streams merged into one batch, over every scorer actor."""
    out: dict[str, int] = {}
    for st in stats:
        if not st:
            continue
        for k, v in st["embed"]["callers_histogram"].items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


class ScorerTally:
    """The scorers' batch statistics across their restarts. A scorer actor counts its batches from
    its start, so one that Ray restarted began again from nothing (the histogram in ``fleet.json``
    went back down); the driver keeps each incarnation's last statistics read and counts the
    restarts it saw (an incarnation is told by the ``incarnation`` its ``stats`` carry)."""

    def __init__(self, actors: int) -> None:
        self.current: list[dict | None] = [None] * actors  # each scorer's statistics as last read
        self.ended: list[list[dict]] = [[] for _ in range(actors)]  # the last read of each earlier incarnation
        self.restarts = [0] * actors

    def update(self, k: int, stats: dict | None) -> None:
        """Scorer ``k`` answered ``stats`` (None: it could not be asked; its last read stands)."""
        if not stats:
            return
        last = self.current[k]
        if last is not None and last.get("incarnation") != stats.get("incarnation"):
            self.ended[k].append(last)
            self.restarts[k] += 1
        self.current[k] = stats

    def histogram(self) -> dict:
        """Calls per number of streams merged into one batch, over every incarnation of every scorer."""
        return merge_histograms([st for k in range(len(self.current)) for st in (*self.ended[k], self.current[k])])
