"""Print the first release's card from the JSON files of scripts/train_shipped.py (no number typed by hand).

Its text is kept in weights/model_card/first_release.md (under that file's title); the current
release's card, weights/MODEL_CARD.md, is written by the section scripts (model_card_*.py).

    python scripts/model_card.py runs/shipped tmp/synth_d
"""

import json
import sys
from pathlib import Path

from rtliveness.training.data import scan_dataset
from rtliveness.model.checkpoint import load_checkpoint


def pct(v):
    return "n/a" if v is None else f"{100 * v:.2f} %"


def f4(v):
    return "n/a" if v is None else f"{v:.4f}"


def metrics_table(r: dict) -> str:
    rows = [("samples (bona fide / attack)", f"{r['n']} ({r['n_bona_fide']} / {r['n_attack']})"),
            ("threshold (calibrated on dev, EER)", f"{r['threshold']:.4f}")]
    rows += [(f"APCER {k}", pct(v)) for k, v in r["apcer"].items()]
    rows += [("APCER max", pct(r["apcer_max"])), ("BPCER", pct(r["bpcer"])), ("ACER", pct(r["acer"])),
             ("EER", pct(r["eer"])), ("ROC AUC", f4(r["auc"])),
             ("BPCER @ APCER = 1 %", pct(r["bpcer_at_apcer_1pct"])), ("BPCER @ APCER = 5 %", pct(r["bpcer_at_apcer_5pct"])),
             ("accuracy", pct(r["accuracy"])), ("F1 macro", f4(r["f1_macro"])), ("F1 weighted", f4(r["f1_weighted"])),
             ("F2 weighted", f4(r["f2_weighted"]))]
    return "| metric | value |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def main(runs: str, data: str) -> None:
    runs, data = Path(runs), Path(data)
    final = json.loads((runs / "shipped_test.json").read_text())  # the shipped (int8) file itself
    final_fp32 = json.loads((runs / "final_test.json").read_text())
    cross = json.loads((runs / "cross_test.json").read_text())
    study = json.loads((runs / "scale_study.json").read_text())
    hist = json.loads((runs / "final" / "history.json").read_text())
    meta_data = json.loads((data / "rtliveness_data.json").read_text())
    split = json.loads((runs / "final" / "split.json").read_text())
    ds = scan_dataset(data)
    persons = {s.name: s.person for s in ds.samples}
    ids = {k: sorted({persons[n] for n in v}) for k, v in split.items()}
    loaded = load_checkpoint(Path("weights/spoofmodel.pt"))
    n_params = sum(p.numel() for p in loaded.model.parameters())
    m = loaded.meta
    best_epoch = min(hist, key=lambda h: h["dev"]["acer"])["epoch"]
    counts = ds.counts()
    study_epochs = len(json.loads((runs / f"scale_{next(iter(study))}" / "history.json").read_text()))
    study_rows = "\n".join(
        f"| {sc} | {pct(v['best_dev']['acer'])} | {pct(v['best_dev']['eer'])} | {f4(v['best_dev']['auc'])} | {v['epoch']} |"
        for sc, v in study.items())
    hist_rows = "\n".join(
        f"| {h['epoch']} | {h['train_loss']:.4f} | {pct(h['dev']['acer'])} | {pct(h['dev']['eer'])} | {f4(h['dev']['auc'])} | {h['seconds']:.0f} |"
        for h in hist)
    text = f"""# Model card — `weights/spoofmodel.pt`

> **Synthetic data only.** This model was trained and evaluated on attacks *rendered* by
> `rtliveness synth` from real live faces. No real printed photo, screen replay or paper mask
> was ever shown to it, and every figure below is on synthetic data. It is a working default and
> a starting point, **not** a validated presentation-attack detector: deployments must train or
> fine-tune on real attack recordings of their own cameras (`rtliveness prepare` →
> `rtliveness train`) and measure APCER/BPCER on them.

## Model
- Architecture: the origin SpoofModel — torchvision `resnet18` (fc = identity) per crop → 5 × 512
  stacked as channels → `Conv1d(5, 1, 3, stride 2, padding 1)` → `Linear(256, 1)` → spoof logit.
  Parameter names `encoder.*`, `conv1d.*`, `fc.*`. {n_params:,} parameters, stored with int8
  per-output-channel conv/linear weights and fp16 for the rest (11 MB; dequantised to fp32 at load).
- Preprocessing stored in the checkpoint: input {m.input_size} px, crop scale {m.crop_scale} × the
  MTCNN face box, ImageNet mean/std, RGB, window 5, threshold {m.threshold:.4f} (EER point on the dev split).
- sha256 `{loaded.sha256}` (checked at load against `spoofmodel.pt.sha256`).

## Data (synthetic)
`rtliveness synth --samples-per-class 600 --seed 2` (640×480 scenes, crops stored at scale
{meta_data['crop_scale']} / {meta_data['crop_size']} px): {sum(counts.values())} samples — real {counts['real']},
printed {counts['printed']}, replay {counts['replay']}, 2dmask {counts['2dmask']} — from {len(set(persons.values()))}
identities (2 live videos, {len(set(persons.values())) - 2} faces in public-domain stills; see `assets/README.md`).
Real samples come from live video (true head motion) and from stills with small non-rigid motion;
attacks are printed photos (halftone/dither, gamut loss, paper), screen replays (sub-pixel grid,
gamma/white point, glare, bezel) and 2D paper masks over a real head. All samples share one camera
model (exposure, white balance, blur, noise, JPEG) and the same MTCNN + crop as `rtliveness run`.

Splits are person-disjoint (seed 0): train {len(split['train'])} samples / {len(ids['train'])} identities,
dev {len(split['dev'])} / {len(ids['dev'])}, test {len(split['test'])} / {len(ids['test'])}. Test identities,
never seen in training or calibration: {', '.join(ids['test'])}.

## Recipe
Origin recipe with these changes (all flags of `rtliveness train`): input 112 px (speed; 224 stays
available), batch 32, SGD lr 0.01 with momentum 0.9 and cosine decay (from scratch: no ImageNet
weights can be had here, and lr 1e-3 learns too slowly without them), weight decay 1e-7,
BCEWithLogitsLoss, `--augment strong` (window-consistent framing jitter, brightness/contrast, flip),
{len(hist)} epochs, best dev-ACER epoch kept (epoch {best_epoch}), threshold at the dev EER.

### Crop scale (measured on the dev split, {study_epochs} epochs each, chosen: {m.crop_scale})
| crop scale | dev ACER | dev EER | dev AUC | best epoch |
| --- | --- | --- | --- | --- |
{study_rows}

### Training history
| epoch | train loss | dev ACER | dev EER | dev AUC | seconds |
| --- | --- | --- | --- | --- | --- |
{hist_rows}

## Held-out results (test identities, synthetic)
Measured on the shipped int8 file (`rtliveness eval DATA --weights weights/spoofmodel.pt
--split-file runs/shipped/final/split.json --split test`). The fp32 training checkpoint gave ACER
{pct(final_fp32['acer'])}, AUC {f4(final_fp32['auc'])} on the same samples (int8 storage moves
p_spoof by at most {max(abs(a['p_spoof'] - b['p_spoof']) for a, b in zip(final['scores'], final_fp32['scores'])):.3f}).

{metrics_table(final)}

Target set by the project: ACER ≤ 5 %, AUC ≥ 0.99 on held-out synthetic identities — **not met**.
The full report (every score) is `weights/heldout_report.json`; the plots:

| DET (APCER vs BPCER per attack type) | score histograms per class |
| --- | --- |
| ![DET](../plots/det.png) | ![scores](../plots/score_hist.png) |
| **ROC** | **confusion (per class × predicted)** |
| ![ROC](../plots/roc.png) | ![confusion](../plots/confusion.png) |

## Cross-attack (2dmask never seen)
Trained and calibrated without any `2dmask` sample (same split, {len(json.loads((runs / 'cross_no2dmask' / 'history.json').read_text()))} epochs), tested on the same test identities:

{metrics_table(cross)}

## Reproduce
```bash
rtliveness synth --out data --samples-per-class 600 --seed 2
python scripts/train_shipped.py data runs/shipped          # scale study, final model, cross-attack, eval
python -c "from rtliveness.model.checkpoint import *; l=load_checkpoint('runs/shipped/final/model.pt'); \\
save_checkpoint('weights/spoofmodel.pt', l.model, l.meta, storage='int8', write_sha256=True)"
rtliveness eval data --weights weights/spoofmodel.pt --split-file runs/shipped/final/split.json --split test \\
    --json runs/shipped/shipped_test.json --plots runs/shipped/plots_shipped
python scripts/model_card.py runs/shipped data
```
CPU training (2 cores) is repeatable for a fixed seed and thread count; expect small differences
across machines. Plots of the held-out evaluation: ROC, DET, score histograms and confusion
matrix are written by `rtliveness eval ... --plots DIR`.

## Known limits
- Synthetic attacks only; the renderer's cues (halftone, sub-pixel moiré, gamut, paper edges,
  bezels, mask rims) are approximations. Real attacks with other cues will be missed, and live
  faces under conditions absent from the set (strong compression, IR cameras, unusual lighting,
  make-up, glasses glare) may be flagged.
- {len(set(persons.values()))} identities is few; demographic coverage is narrow and unmeasured.
- Trained from scratch at 112 px on ~2,400 samples: the encoder is small-data; ImageNet
  initialisation (`--pretrained`) and real data will help most.
- Windows are 5 consecutive frames; very slow or very fast frame rates change the temporal cue.
- Split leakage we know of: a `2dmask` sample is worn over the head of one of the two live-video
  people (`talkinghead`, `carphone`) whatever the mask's identity, so those heads and scenes can
  appear on both sides of the person-disjoint split (the split is by the mask's identity).
"""
    print(text, end="")


if __name__ == "__main__":
    main(*sys.argv[1:3])
