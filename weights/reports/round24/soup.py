"""Round 24: a weight-space average of SpoofModel checkpoints that share a start (WiSE-FT /
model soup). Every tensor of the state dict — batch-norm running statistics included — is the
mean of the members' (int8 members dequantised by the loader); integer counters are taken from
the first member. The preprocessing (meta) is the first member's; calibrate the result on dev.

Run from the repository root:
    python weights/reports/round24/soup.py OUT.pt weights/spoofmodel.pt runs/s18/MGT/model.pt [...]
"""
import sys
from pathlib import Path

import torch

from rtliveness.model.checkpoint import load_checkpoint, save_checkpoint


def main(out: str, members: list[str]) -> None:
    loaded = [load_checkpoint(Path(m), verify_checksum=False) for m in members]
    metas = {(lm.meta.input_size, lm.meta.crop_scale, lm.meta.window) for lm in loaded}
    if len(metas) != 1:
        raise SystemExit(f"members differ in input size, crop scale or window: {sorted(metas)}")
    states = [lm.model.state_dict() for lm in loaded]
    soup = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            soup[key] = torch.stack([s[key].float() for s in states]).mean(0).to(first.dtype)
        else:
            soup[key] = first.clone()
    model = loaded[0].model
    model.load_state_dict(soup)
    save_checkpoint(Path(out), model, loaded[0].meta, storage="fp32",
                    extra={"soup_of": [str(m) for m in members]})
    print(f"{out}: mean of {len(members)} checkpoints")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
