"""Kiosk flow: wait until one face has a confident live-or-spoof decision, then return it.

The host keeps control: the pipeline is embedded in its process, closed cleanly, with a timeout.

    python examples/kiosk.py 0                         # camera 0, 10 s timeout
    python examples/kiosk.py examples/attack_printed.mp4
Exit code: 0 live, 1 spoof, 2 undecided (timeout or no face).
"""

import sys

from rtliveness import LivenessPipeline, PipelineConfig, RtlivenessError, decide, open_source


def check_person(source: str, timeout_s: float = 10.0):
    with open_source(source) as src, LivenessPipeline.from_config(PipelineConfig()) as pipeline:
        return decide(pipeline, src, timeout_s=timeout_s, windows=5, margin=0.1)


if __name__ == "__main__":
    try:
        d = check_person(sys.argv[1] if len(sys.argv) > 1 else "0")
    except RtlivenessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(3)
    print(f"{d.label} (track {d.track_id}, p_spoof {d.p_spoof}, after {d.frames} frames / {d.seconds:.1f} s)")
    sys.exit({"live": 0, "spoof": 1}.get(d.label, 2))
