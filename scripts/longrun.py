"""Memory over a long run: a generated 640x480 30 FPS video (one moving real face) through the
shipped defaults with annotated mp4 output; prints RSS every N frames.

    python scripts/longrun.py --minutes 10
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

from rtliveness import LivenessPipeline, PipelineConfig, FileSource, process_source
from rtliveness.bench import make_synthetic_video


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--every", type=int, default=1500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        n = int(args.minutes * 60 * 30)
        t0 = time.time()
        video = make_synthetic_video(Path(tmp) / "long.mp4", faces=1, frames=n)
        print(f"wrote {n} frames in {time.time() - t0:.0f} s", flush=True)
        samples = []

        def on_result(r):
            if r.frame_index % args.every == 0:
                samples.append((r.frame_index, rss_mb()))
                print(f"frame {r.frame_index:6d}  RSS {samples[-1][1]:7.1f} MB", flush=True)

        with FileSource(video) as src, LivenessPipeline.from_config(PipelineConfig()) as pipe:
            rep = process_source(pipe, src, out=Path(tmp) / "out.mp4", on_result=on_result)
        print(f"{rep.frames} frames at {rep.fps:.1f} FPS; RSS first {samples[1][1]:.1f} MB (frame {samples[1][0]}), "
              f"last {samples[-1][1]:.1f} MB (frame {samples[-1][0]}), max {max(s for _, s in samples):.1f} MB")


if __name__ == "__main__":
    main()
