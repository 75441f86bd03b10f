"""Dev p_spoof of the shipped int8 file against the float MGV it was stored from: ship.py's check, re-run and recorded.

Run from the repository root (see README.md beside this file for the arguments)."""
import json, sys
from pathlib import Path
import numpy as np
from rtliveness.training.evaluate import score_dataset
from rtliveness.model.checkpoint import load_checkpoint

src, data, split, shipped, out = sys.argv[1:]
f = score_dataset(data, src, "cpu", Path(split), "dev")
q = score_dataset(data, shipped, "cpu", Path(split), "dev")
assert f.names == q.names
thr = load_checkpoint(Path(shipped)).meta.threshold
d = np.abs(q.scores - f.scores)
rec = {"float": src, "int8": shipped, "split": f"{split} dev", "windows": len(d), "threshold": thr,
       "max_abs_dp": round(float(d.max()), 4), "p99_abs_dp": round(float(np.percentile(d, 99)), 4),
       "labels_changed": int(((q.scores >= thr) != (f.scores >= thr)).sum())}
Path(out).write_text(json.dumps(rec, indent=1) + "\n")
print(rec)
