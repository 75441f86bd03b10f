"""Score a recorded video (or a photo): annotated copy, JSON lines, and per-track verdicts as Python objects.

    python examples/video_file.py examples/live_webcam.mov annotated.mp4 results.jsonl

Errors are one line on stderr; the exit code is the error's, as the rtliveness CLI's:
2 bad arguments, 3 the video does not open, 5 bad weights.
"""

import os
import sys
from pathlib import Path

# OpenCV and FFmpeg log on their own before our one-line errors; keep them quiet
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from rtliveness import LivenessPipeline, PipelineConfig, RtlivenessError, open_source, process_source

USAGE = "usage: python examples/video_file.py VIDEO [OUT.mp4] [RESULTS.jsonl]"


def main(video: str, out: str = "annotated.mp4", jsonl: str = "results.jsonl") -> int:
    # open_source: a photo is a still scene of one window, as `rtliveness run` reads it
    with open_source(video) as src, LivenessPipeline.from_config(PipelineConfig(device="cpu")) as pipeline:
        report = process_source(pipeline, src, out=Path(out), jsonl=Path(jsonl))
    print(f"{report.frames} frames at {report.fps:.1f} FPS")
    for t in report.tracks:
        p = "-" if t.mean_p_spoof is None else f"{t.mean_p_spoof:.3f}"
        print(f"track {t.track_id}: {t.label}  mean p_spoof={p}  windows={t.windows}")
    return 0


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 4:
        print(f"error: {USAGE}", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(*sys.argv[1:4]))
    except RtlivenessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
