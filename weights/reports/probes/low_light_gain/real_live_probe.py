"""Scratch probe (not committed): the shipped model on dark/dim real live videos with a crop gain."""
import sys, json, tempfile
from pathlib import Path
import numpy as np, cv2
sys.path.insert(0, 'scripts')
import rtliveness.runtime.pipeline as P
from rtliveness.runtime import crop as C
orig = C.crop_face
TARGET = float(sys.argv[1])
def gained(image, box, scale, size):
    c = orig(image, box, scale, size)
    m = cv2.cvtColor(c, cv2.COLOR_BGR2GRAY).mean() / 255.0
    if TARGET > 0 and m < TARGET:
        g = min(TARGET / max(m, 1e-3), 4.0)
        c = np.clip(c.astype(np.float32) * g, 0, 255).astype(np.uint8)
    return c
P.crop_face = gained
from eval_video_conditions import degraded_copy
from eval_nuaa_deployed import run_video
from rtliveness import LivenessPipeline, PipelineConfig
vids = sorted(Path('runs/real_live/videos').iterdir())
out = {}
with tempfile.TemporaryDirectory() as tmp, LivenessPipeline.from_config(PipelineConfig()) as pipe:
    for vi, v in enumerate(vids):
        for ci, cond in enumerate(sys.argv[2].split(',')):
            f = Path(tmp) / f"{vi}_{cond}.avi"
            degraded_copy(v, f, cond, seed=vi * 100 + ci, max_frames=150)
            rep, main = run_video(pipe, f)
            out[(v.name, cond)] = None if main is None else round(main.mean_p_spoof, 3)
            print(v.name, cond, out[(v.name, cond)], flush=True)
