"""Round 20, after the choice: mean grey level of the crops the loop scores, per rendered dev clip and class (clean)."""
import json, sys
sys.path.insert(0, 'scripts')
import numpy as np, cv2
import rtliveness.runtime.pipeline as P
from rtliveness import LivenessPipeline, PipelineConfig
from eval_nuaa_deployed import run_video
orig = P.crop_face
rec = []
def spy(image, box, scale, size):
    c = orig(image, box, scale, size)
    g = cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) / 255.0
    s = g.shape[0]; f = int(s / scale / 2); m = s // 2
    rec.append((g.mean(), g[m - f:m + f, m - f:m + f].mean()))
    return c
P.crop_face = spy
rows = json.load(open('weights/reports/round20/S_clean_off.json'))['rows']
out = []
with LivenessPipeline.from_config(PipelineConfig()) as pipe:
    for r in rows:
        rec.clear()
        run_video(pipe, f"runs/rendered_clips_dev9/{r['clip']}")
        a = np.array(rec) if rec else np.zeros((0, 2))
        out.append({"clip": r["clip"], "class": r["class"], "label": r["label"], "p": r["p"],
                    "crop_mean": float(a[:, 0].mean()) if len(a) else None, "face_mean": float(a[:, 1].mean()) if len(a) else None})
json.dump(out, open('weights/reports/round20/brightness_dev_clean.json', 'w'), indent=1)
