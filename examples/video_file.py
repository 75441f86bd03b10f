"""Score a recorded video: annotated copy, JSON lines, and per-track verdicts as Python objects.

    python examples/video_file.py examples/live_webcam.mov annotated.mp4 results.jsonl
"""

import sys
from pathlib import Path

from rtliveness import FileSource, LivenessPipeline, PipelineConfig, process_source


def main(video: str, out: str = "annotated.mp4", jsonl: str = "results.jsonl") -> int:
    with FileSource(video) as src, LivenessPipeline.from_config(PipelineConfig(device="cpu")) as pipeline:
        report = process_source(pipeline, src, out=Path(out), jsonl=Path(jsonl))
    print(f"{report.frames} frames at {report.fps:.1f} FPS")
    for t in report.tracks:
        print(f"track {t.track_id}: {t.label}  mean p_spoof={t.mean_p_spoof}  windows={t.windows}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:4]))
