"""Control: the same recording applied to LIVE content (not physical; asks whether the teacher just reacts to processing)."""
import json, os, sys, time, zlib
from pathlib import Path
import cv2, numpy as np
from rtliveness.training.synth import SynthConfig, synthesize, default_assets_dir
from rtliveness.training.synth import real as realmod
from rtliveness.training.synth.source import record_source

if os.environ.get("REC") == "1":
    _orig = realmod._maybe_flip
    def _patched(frames, boxes, flip):
        frames, boxes = _orig(frames, boxes, flip)
        seed = zlib.crc32(frames[0][::7, ::7].tobytes())
        frames, b, _ = record_source(list(frames), boxes[0], np.random.default_rng(seed))
        return frames, [b] + list(boxes[1:])
    realmod._maybe_flip = _patched


def main():
    from rtliveness.training.teachers.minifasnet import MiniFasTeacher
    n, seed, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    d = Path("runs/s18/probe_live") / tag
    synthesize(default_assets_dir(), d, SynthConfig(samples_per_class=n, seed=seed, classes=("real",)), workers=2)
    teacher = MiniFasTeacher.from_dir("/work/shared/teachers/minifasnet", detector=False)
    meta = json.loads((d / "rtliveness_data.json").read_text())
    rows = {}
    for s in sorted((d / "real").iterdir()):
        crops = [cv2.imread(str(f)) for f in sorted(s.glob("*.png"))]
        rows[s.name] = float(np.mean(teacher.score_crops_batch(crops, meta["crop_scale"])))
    json.dump(rows, open(d.parent / f"{tag}.json", "w"), indent=1)


if __name__ == "__main__":
    main()
