"""Probe: does the attacker's-recording step make rendered replays look like replays to the real-data teacher?"""
import json, sys, time
from pathlib import Path
import cv2, numpy as np
from rtliveness.training.synth import SynthConfig, synthesize, default_assets_dir
from rtliveness.training.teachers.minifasnet import MiniFasTeacher

def main():
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    out = Path("runs/s18/probe")
    teacher = MiniFasTeacher.from_dir("/work/shared/teachers/minifasnet", detector=False)
    res = {}
    for p in (0.0, 1.0):
        d = out / f"p{p:g}"
        if not d.exists():
            t = time.time()
            synthesize(default_assets_dir(), d, SynthConfig(samples_per_class=n, seed=seed, classes=("replay",), replay_source_p=p), workers=2)
            print("synth", p, round(time.time() - t), "s", flush=True)
        meta = json.loads((d / "rtliveness_data.json").read_text())
        rows = {}
        for s in sorted((d / "replay").iterdir()):
            crops = [cv2.imread(str(f)) for f in sorted(s.glob("*.png"))]
            rows[s.name] = float(np.mean(teacher.score_crops_batch(crops, meta["crop_scale"])))
        res[p] = rows
    common = sorted(set(res[0.0]) & set(res[1.0]))
    a = np.array([res[0.0][k] for k in common]); b = np.array([res[1.0][k] for k in common])
    print(json.dumps({"samples": len(common), "caught_off": int((a >= 0.5).sum()), "caught_on": int((b >= 0.5).sum()),
                      "mean_off": round(float(a.mean()), 4), "mean_on": round(float(b.mean()), 4),
                      "median_diff": round(float(np.median(b - a)), 4), "up": int((b > a).sum())}))
    json.dump({str(k): v for k, v in res.items()}, open(out / "teacher.json", "w"), indent=1)


if __name__ == "__main__":
    main()
