"""Kiosk flow: wait until one face has a confident live-or-spoof decision, then return it.

The host keeps control: the pipeline is embedded in its process, closed cleanly, with a timeout
that holds even when the camera sends no frame at all.

    python examples/kiosk.py                            # camera 0, 10 s timeout
    python examples/kiosk.py 1 5                        # camera 1, 5 s timeout
    python examples/kiosk.py examples/attack_printed.mp4
    python examples/kiosk.py photo.jpg                  # a photo: decided on its one window

Prints one line: the decision on stdout, or the error on stderr.
Exit code: 0 live, 1 spoof, 2 undecided (timeout or no face), 3 error (the source did not open
or was lost, bad weights, bad arguments).
"""

import os
import sys

# OpenCV and FFmpeg log on their own before our one-line errors; keep them quiet
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from rtliveness import LivenessPipeline, PipelineConfig, RtlivenessError, StillSource, decide, open_source

EXIT_CODES = {"live": 0, "spoof": 1, "undecided": 2}
EXIT_ERROR = 3


def check_person(source: str, timeout_s: float = 10.0):
    with open_source(source) as src, LivenessPipeline.from_config(PipelineConfig()) as pipeline:
        # a photo is one window (no motion to go on): decided on it; a video or camera on 5 in a row
        windows = 1 if isinstance(src, StillSource) else 5
        return decide(pipeline, src, timeout_s=timeout_s, windows=windows, margin=0.1)


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        print("error: usage: python examples/kiosk.py [SOURCE] [TIMEOUT_S]", file=sys.stderr)
        return EXIT_ERROR
    source = argv[0] if argv else "0"
    try:
        timeout_s = float(argv[1]) if len(argv) > 1 else 10.0
    except ValueError:
        timeout_s = float("nan")
    if not timeout_s > 0:
        print(f"error: TIMEOUT_S must be a number of seconds > 0, got {argv[1]!r}", file=sys.stderr)
        return EXIT_ERROR
    try:
        d = check_person(source, timeout_s)
    except RtlivenessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if d.label == "undecided":
        print(f"undecided: no confident decision after {d.frames} frames / {d.seconds:.1f} s")
    else:
        print(f"{d.label}: track {d.track_id}, p_spoof {d.p_spoof:.3f}, after {d.frames} frames / {d.seconds:.1f} s")
    return EXIT_CODES[d.label]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
