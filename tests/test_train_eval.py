"""Data layout, splits, training (loss falls, resume is exact), evaluation report."""

import json

import cv2
import numpy as np
import pytest
import torch

from rtliveness.data import CLASSES, scan_dataset, split_samples
from rtliveness.errors import DataError
from rtliveness.evaluate import evaluate_dataset
from rtliveness.model import load_checkpoint
from rtliveness.train import TrainConfig, train


def make_dataset(root, per_class=6, persons=6, size=40, seed=0):
    """Real = smooth random blobs; attacks = the same with a class-specific high-frequency
    pattern (a stand-in for halftone / pixel grid / cut edge) — learnable in a few steps."""
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        for k in range(per_class):
            person = f"p{k % persons}"
            d = root / c / f"{c}_{person}_{k:03d}"
            d.mkdir(parents=True)
            base = cv2.resize(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
            for j in range(5):
                img = base.astype(np.int16)
                if c != "real":
                    period = {"printed": 2, "replay": 3, "2dmask": 4}[c]
                    yy, xx = np.mgrid[0:size, 0:size]
                    img += (60 * (((xx + yy + j) // period) % 2))[..., None].astype(np.int16) - 30
                cv2.imwrite(str(d / f"{j}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return root


def test_scan_and_labels(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=3)
    ds = scan_dataset(root)
    assert ds.counts() == {"real": 3, "replay": 3, "printed": 3, "2dmask": 3}
    s = [x for x in ds.samples if x.class_name == "printed"][0]
    assert s.label == 1 and s.person == "p0" and len(s.images) == 5
    assert all(x.label == 0 for x in ds.samples if x.class_name == "real")


def test_malformed_dataset_errors(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    (root / "real" / "real_p0_000" / "4.png").unlink()
    with pytest.raises(DataError, match=r"real_p0_000 has 4 images, expected 5"):
        scan_dataset(root)
    ds = scan_dataset(root, skip_bad=True)
    assert len(ds.skipped) == 1 and len(ds.samples) == 7
    (root / "printed" / "printed_p1_001" / "2.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"printed_p1_001: image 2.png cannot be read"):
        scan_dataset(root)
    (root / "deepfake").mkdir()
    with pytest.raises(DataError, match="unknown class folders .*deepfake"):
        scan_dataset(root, skip_bad=True)
    with pytest.raises(DataError, match="dataset folder not found"):
        scan_dataset(tmp_path / "missing")


def test_splits_are_person_disjoint_stratified_and_seeded(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=20, persons=10)
    ds = scan_dataset(root)
    sp = split_samples(ds.samples, (0.6, 0.2, 0.2), seed=3)
    persons = {k: {s.person for s in v} for k, v in sp.items()}
    assert not (persons["train"] & persons["dev"]) and not (persons["train"] & persons["test"]) and not (persons["dev"] & persons["test"])
    assert sum(len(v) for v in sp.values()) == 80
    for k in sp:  # every class on every side (the origin's unshuffled split fails this)
        assert {s.class_name for s in sp[k]} == set(CLASSES)
    assert [s.name for s in split_samples(ds.samples, (0.6, 0.2, 0.2), seed=3)["test"]] == [s.name for s in sp["test"]]
    assert [s.name for s in split_samples(ds.samples, (0.6, 0.2, 0.2), seed=4)["test"]] != [s.name for s in sp["test"]]


CFG = dict(epochs=2, batch_size=8, lr=0.01, input_size=32, device="cpu", fractions=(0.5, 0.25, 0.25), seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [{}, {"augment": "strong", "schedule": "cosine"}], ids=["origin", "strong-cosine"])
def test_train_loss_falls_and_resume_is_exact(tmp_path, extra):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # bitwise-repeatable CPU kernels for the comparison
    try:
        root = make_dataset(tmp_path / "d", per_class=12, persons=12)
        full = train(root, tmp_path / "full", TrainConfig(**CFG, **extra))
        assert [h["epoch"] for h in full.history] == [1, 2]
        hist = json.loads((tmp_path / "full" / "history.json").read_text())
        assert hist[1]["train_loss"] < hist[0]["train_loss"]
        split = json.loads((tmp_path / "full" / "split.json").read_text())
        assert set(split) == {"train", "dev", "test"}
        # interrupted after 3 steps (mid-epoch), then resumed
        part = train(root, tmp_path / "part", TrainConfig(**CFG, **extra), stop_after_steps=3)
        assert part.interrupted and (tmp_path / "part" / "last.pt").is_file()
        resumed = train(root, tmp_path / "part", TrainConfig(device="cpu"), resume=True)
        assert not resumed.interrupted
        a = load_checkpoint(tmp_path / "full" / "model.pt").model.state_dict()
        b = load_checkpoint(tmp_path / "part" / "model.pt").model.state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), k
        assert [(h["train_loss"], h["dev"], h["threshold"]) for h in resumed.history] == \
            [(h["train_loss"], h["dev"], h["threshold"]) for h in full.history]
        m = load_checkpoint(tmp_path / "full" / "model.pt")
        assert m.meta.input_size == 32 and 0 < m.meta.threshold < 1 and m.meta.crop_scale == 1.0
    finally:
        torch.set_num_threads(prev)


@pytest.mark.slow
def test_eval_report_keys_and_plots(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=8, persons=8)
    res = train(root, tmp_path / "run", TrainConfig(**{**CFG, "epochs": 1}))
    rep = evaluate_dataset(root, res.model_path, device="cpu", split_file=tmp_path / "run" / "split.json",
                           split="test", json_path=tmp_path / "r.json", plots_dir=tmp_path / "plots")
    on_disk = json.loads((tmp_path / "r.json").read_text())
    for key in ("apcer", "apcer_max", "bpcer", "acer", "eer", "auc", "bpcer_at_apcer_1pct", "bpcer_at_apcer_5pct",
                "accuracy", "f1_macro", "f1_weighted", "f2_weighted", "confusion_matrix", "per_class", "threshold", "scores"):
        assert key in on_disk
    test_names = json.loads((tmp_path / "run" / "split.json").read_text())["test"]
    assert rep["n"] == len(test_names) == len(rep["scores"])
    assert sorted(p.split("/")[-1] for p in rep["plots"]) == ["confusion.png", "det.png", "roc.png", "score_hist.png"]
    assert cv2.imread(rep["plots"][0]) is not None
