"""Live webcam liveness with an on-screen window (q or Esc quits).

    python examples/webcam.py                # camera 0
    python examples/webcam.py 1              # another camera, an rtsp:// URL or a video file
    python examples/webcam.py 0 --no-show    # no window (e.g. no display); Ctrl+C stops

At the end it prints the per-track verdicts. Errors are one line on stderr; the exit code is
the error's, as the rtliveness CLI's: 2 bad option (e.g. a window without a display),
3 the source did not open, 4 the stream was lost, 5 bad weights; 130 interrupted.
"""

import argparse
import os
import sys

# OpenCV and FFmpeg log on their own before our one-line errors; keep them quiet
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from rtliveness import LivenessPipeline, PipelineConfig, RtlivenessError, StreamConfig, open_source, process_source


def main(source: str = "0", show: bool = True) -> int:
    with open_source(source, StreamConfig(give_up_s=10)) as src, \
            LivenessPipeline.from_config(PipelineConfig(device="auto")) as pipeline:
        report = process_source(pipeline, src, show=show)
    print(f"{report.frames} frames at {report.fps:.1f} FPS, stopped: {report.stopped}")
    for t in report.tracks:
        p = "-" if t.mean_p_spoof is None else f"{t.mean_p_spoof:.3f}"
        print(f"track {t.track_id}: {t.label} (mean p_spoof {p} over {t.windows} windows)")
    return 130 if report.stopped == "interrupted" else 0  # Ctrl+C: the verdicts so far, then 130


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Live webcam liveness with an on-screen window (q or Esc quits).")
    parser.add_argument("source", nargs="?", default="0", help="camera index (default 0), rtsp:// URL or video file")
    parser.add_argument("--no-show", action="store_true", help="no window: only print the verdicts at the end")
    args = parser.parse_args()
    try:
        sys.exit(main(args.source, show=not args.no_show))
    except RtlivenessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
