"""Live webcam liveness with an on-screen window (q or Esc quits).

    python examples/webcam.py            # camera 0
    python examples/webcam.py 1          # another camera, or an rtsp:// URL
"""

import sys

from rtliveness import LivenessPipeline, PipelineConfig, StreamConfig, open_source, process_source


def main(source: str = "0") -> int:
    with open_source(source, StreamConfig(give_up_s=10)) as src, \
            LivenessPipeline.from_config(PipelineConfig(device="auto")) as pipeline:
        report = process_source(pipeline, src, show=True)
    for t in report.tracks:
        print(f"track {t.track_id}: {t.label} (mean p_spoof {t.mean_p_spoof})")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
