"""Reproduce the shipped weights: crop-scale study, final model, cross-attack run, evaluation.

    python scripts/train_shipped.py DATA RUNS    # DATA from: rtliveness synth --out DATA --samples-per-class 600 --seed 2

Every figure in weights/MODEL_CARD.md comes from the JSON files this writes under RUNS.
"""

import json
import sys
import time
from pathlib import Path

from rtliveness.training.evaluate import evaluate_dataset
from rtliveness.training.train import TrainConfig, train

COMMON = dict(input_size=112, batch_size=32, lr=0.01, momentum=0.9, weight_decay=1e-7, augment="strong",
              schedule="cosine", seed=0, device="cpu")


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def main(data: str, runs: str, scales=(1.5, 2.2), study_epochs: int = 2, final_epochs: int = 8, cross_epochs: int = 5) -> None:
    data, runs = Path(data), Path(runs)
    runs.mkdir(parents=True, exist_ok=True)
    study = {}
    for sc in scales:
        out = runs / f"scale_{sc}"
        res = train(data, out, TrainConfig(**COMMON, epochs=study_epochs, crop_scale=sc), log=log)
        best = min(res.history, key=lambda h: h["dev"]["acer"])
        study[str(sc)] = {"best_dev": best["dev"], "epoch": best["epoch"]}
        log(f"scale {sc}: {best['dev']}")
    (runs / "scale_study.json").write_text(json.dumps(study, indent=1))
    chosen = min(scales, key=lambda sc: (-(study[str(sc)]["best_dev"]["auc"] or 0), study[str(sc)]["best_dev"]["acer"]))
    log(f"chosen crop scale {chosen}")
    final = runs / "final"
    res = train(data, final, TrainConfig(**COMMON, epochs=final_epochs, crop_scale=chosen), log=log)
    rep = evaluate_dataset(data, res.model_path, device="cpu", split_file=final / "split.json", split="test",
                           json_path=runs / "final_test.json", plots_dir=runs / "plots")
    log(f"final test: ACER {rep['acer']} AUC {rep['auc']} EER {rep['eer']}")
    cross = runs / "cross_no2dmask"
    res_c = train(data, cross, TrainConfig(**COMMON, epochs=cross_epochs, crop_scale=chosen, exclude_classes=("2dmask",)), log=log)
    rep_c = evaluate_dataset(data, res_c.model_path, device="cpu", split_file=cross / "split.json", split="test",
                             json_path=runs / "cross_test.json")
    log(f"cross test (2dmask unseen): APCER {rep_c['apcer']} BPCER {rep_c['bpcer']} AUC {rep_c['auc']}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
