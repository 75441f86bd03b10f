"""Tests of rtliveness.training.metrics and rtliveness.training.plots against values computed by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction as F

import numpy as np
import pytest

from rtliveness.training import metrics as M

EXACT = dict(rel=0, abs=1e-12)

# ---------------------------------------------------------------------------------------------
# Fixture A, threshold 0.5 (attack iff score >= 0.5)
#
#   real    : 0.1 0.2 0.6 0.3       -> flagged: 0.6               BPCER          = 1/4
#   printed : 0.9 0.4 0.8           -> missed : 0.4               APCER_printed  = 1/3
#   replay  : 0.7 0.45 0.3 0.5      -> missed : 0.45 0.3 (0.5 is caught: >=)  APCER_replay = 2/4
# ---------------------------------------------------------------------------------------------
A_SCORES = [0.1, 0.2, 0.6, 0.3, 0.9, 0.4, 0.8, 0.7, 0.45, 0.3, 0.5]
A_CLASSES = ["real"] * 4 + ["printed"] * 3 + ["replay"] * 4
A_ATTACK = [c != "real" for c in A_CLASSES]
A_T = 0.5


def test_apcer_per_type_differs_by_type():
    per = M.apcer_per_type(A_SCORES, A_CLASSES, A_T)
    assert list(per) == ["printed", "replay"]
    assert per["printed"] == pytest.approx(1 / 3, **EXACT)
    assert per["replay"] == pytest.approx(2 / 4, **EXACT)


def test_apcer_max_bpcer_acer():
    assert M.apcer_max(A_SCORES, A_CLASSES, A_T) == pytest.approx(0.5, **EXACT)
    assert M.bpcer(A_SCORES, A_ATTACK, A_T) == pytest.approx(0.25, **EXACT)
    # class names are accepted for is_attack too
    assert M.bpcer(A_SCORES, A_CLASSES, A_T) == pytest.approx(0.25, **EXACT)
    # ACER = (max APCER + BPCER) / 2 = (1/2 + 1/4) / 2 = 3/8 (not the pooled APCER 3/7)
    assert M.acer(A_SCORES, A_CLASSES, A_T) == pytest.approx(0.375, **EXACT)


def test_threshold_boundary_is_inclusive():
    # the replay sample at exactly 0.5 counts as attack; just above it, it is missed too
    assert M.apcer_per_type(A_SCORES, A_CLASSES, 0.5000001)["replay"] == pytest.approx(3 / 4, **EXACT)
    # the bona fide 0.6 is flagged at 0.6 but not above
    assert M.bpcer(A_SCORES, A_ATTACK, 0.6) == pytest.approx(0.25, **EXACT)
    assert M.bpcer(A_SCORES, A_ATTACK, 0.6000001) == 0.0


def test_confusion_matrix_and_per_class():
    # bona fide: TN 3 (0.1 0.2 0.3), FP 1 (0.6); attacks: FN 1 + 2 = 3, TP 2 + 2 = 4
    m = M.confusion_matrix(A_SCORES, A_ATTACK, A_T)
    assert m.tolist() == [[3, 1], [3, 4]]
    assert M.per_class_table(A_SCORES, A_CLASSES, A_T) == {
        "real": {"n": 4, "pred_live": 3, "pred_spoof": 1},
        "printed": {"n": 3, "pred_live": 1, "pred_spoof": 2},
        "replay": {"n": 4, "pred_live": 2, "pred_spoof": 2},
    }


def test_accuracy_and_f_scores_by_hand():
    # accuracy = (TN + TP) / n = (3 + 4) / 11
    assert M.accuracy(A_SCORES, A_ATTACK, A_T) == pytest.approx(7 / 11, **EXACT)
    # F1 = 2TP / (2TP + FN + FP), each class in turn positive:
    #   attack    : TP 4, FN 3, FP 1 -> 8 / 12 = 2/3
    #   bona fide : TP 3, FN 1, FP 3 -> 6 / 10 = 3/5
    f1_attack, f1_bf = F(2, 3), F(3, 5)
    # macro = (2/3 + 3/5) / 2 = 19/30
    assert f1_attack / 2 + f1_bf / 2 == F(19, 30)
    assert M.f1_macro(A_SCORES, A_ATTACK, A_T) == pytest.approx(19 / 30, **EXACT)
    # weighted by support (4 bona fide, 7 attacks): (4*3/5 + 7*2/3) / 11 = (36/15 + 70/15) / 11 = 106/165
    assert (4 * f1_bf + 7 * f1_attack) / 11 == F(106, 165)
    assert M.f1_weighted(A_SCORES, A_ATTACK, A_T) == pytest.approx(106 / 165, **EXACT)
    # F2 = 5TP / (5TP + 4FN + FP):
    #   attack    : 20 / (20 + 12 + 1) = 20/33
    #   bona fide : 15 / (15 + 4 + 3)  = 15/22
    # weighted: (4*15/22 + 7*20/33) / 11 = (180/66 + 280/66) / 11 = 460/726 = 230/363
    assert (4 * F(15, 22) + 7 * F(20, 33)) / 11 == F(230, 363)
    assert M.f2_weighted(A_SCORES, A_ATTACK, A_T) == pytest.approx(230 / 363, **EXACT)
    # F2 differs from F1 here, so a beta mix-up would be caught
    assert M.f2_weighted(A_SCORES, A_ATTACK, A_T) != pytest.approx(106 / 165, abs=1e-3)


# ---------------------------------------------------------------------------------------------
# ROC / AUC
# ---------------------------------------------------------------------------------------------


def test_roc_curve_merges_ties():
    # 0.5 is shared by one attack and one bona fide: a single diagonal step
    fpr, tpr, thr = M.roc_curve([0.5, 0.5, 0.2], [True, False, False])
    assert thr.tolist() == [np.inf, 0.5, 0.2]
    assert tpr.tolist() == [0.0, 1.0, 1.0]
    assert fpr.tolist() == [0.0, 0.5, 1.0]


def test_auc_with_ties_equals_pairwise_count():
    # attacks 0.9 0.6 0.3 vs bona fide 0.6 0.3 0.1; pairs (attack > bona fide = 1, tie = 1/2):
    #   0.9: 1 + 1 + 1         = 3
    #   0.6: 1/2 + 1 + 1       = 2.5
    #   0.3: 0 + 1/2 + 1       = 1.5      total 7 of 9 pairs -> AUC = 7/9
    scores = [0.9, 0.6, 0.3, 0.6, 0.3, 0.1]
    is_attack = [1, 1, 1, 0, 0, 0]
    assert M.roc_auc(scores, is_attack) == pytest.approx(7 / 9, **EXACT)


def test_auc_extremes():
    assert M.roc_auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == pytest.approx(1.0, **EXACT)
    assert M.roc_auc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == pytest.approx(0.0, **EXACT)
    assert M.roc_auc([0.3, 0.3, 0.3, 0.3], [1, 1, 0, 0]) == pytest.approx(0.5, **EXACT)


def test_auc_matches_pairwise_formula_on_random_ties():
    rng = np.random.default_rng(7)
    s = np.round(rng.random(60), 1)  # coarse rounding -> many ties
    a = rng.random(60) < 0.4
    pa, pb = s[a][:, None], s[~a][None, :]
    expected = ((pa > pb).sum() + 0.5 * (pa == pb).sum()) / (pa.size * pb.size)
    assert M.roc_auc(s, a) == pytest.approx(expected, **EXACT)


# ---------------------------------------------------------------------------------------------
# EER
# ---------------------------------------------------------------------------------------------


def test_eer_exact_crossing():
    # bona fide 0.1 0.2 0.3 0.6, attacks 0.4 0.5 0.7 0.8; at threshold 0.5:
    #   APCER = #{0.4}/4 = 1/4, BPCER = #{0.6}/4 = 1/4  -> EER 1/4 exactly at 0.5
    e, t = M.eer([0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8], [0, 0, 0, 0, 1, 1, 1, 1])
    assert e == pytest.approx(0.25, **EXACT)
    assert t == 0.5


def test_eer_interpolated_lower_endpoint():
    # bona fide 0.1 0.6, attacks 0.4 0.7 0.8. Operating points (BPCER, APCER):
    #   t=0.7: (0, 1/3)  d = APCER - BPCER = +1/3
    #   t=0.6: (1/2, 1/3) d = -1/6
    # alpha = (1/3) / (1/3 + 1/6) = 2/3; EER = 0 + 2/3 * 1/2 = 1/3.
    # alpha > 1/2 -> the lower endpoint, threshold 0.6
    e, t = M.eer([0.1, 0.6, 0.4, 0.7, 0.8], [0, 0, 1, 1, 1])
    assert e == pytest.approx(1 / 3, **EXACT)
    assert t == 0.6


def test_eer_interpolated_upper_endpoint():
    # bona fide 0.7 0.2 0.1, attacks 0.9 0.5:
    #   t=0.7: (BPCER 1/3, APCER 1/2) d = +1/6
    #   t=0.5: (1/3, 0)               d = -1/3
    # alpha = (1/6) / (1/6 + 1/3) = 1/3 -> EER = 1/3 (BPCER constant on the segment);
    # alpha < 1/2 -> the upper endpoint, threshold 0.7
    e, t = M.eer([0.7, 0.2, 0.1, 0.9, 0.5], [0, 0, 0, 1, 1])
    assert e == pytest.approx(1 / 3, **EXACT)
    assert t == 0.7


def test_eer_tie_goes_to_lower_threshold():
    # bona fide 0.6 0.2, attacks 0.7 0.5 0.4:
    #   t=0.6: (1/2, 2/3) d = +1/6;  t=0.5: (1/2, 1/3) d = -1/6
    # alpha = 1/2 -> EER = 1/2, tie -> lower threshold 0.5 (smaller APCER)
    e, t = M.eer([0.6, 0.2, 0.7, 0.5, 0.4], [0, 0, 1, 1, 1])
    assert e == pytest.approx(0.5, **EXACT)
    assert t == 0.5


def test_eer_all_equal_scores():
    e, t = M.eer([0.4] * 5, [0, 1, 0, 1, 1])
    assert e == pytest.approx(0.5, **EXACT)
    assert t == 0.4


# ---------------------------------------------------------------------------------------------
# BPCER at fixed APCER and calibration (fixture A)
# ---------------------------------------------------------------------------------------------


def test_bpcer_at_apcer_1pct():
    # APCER_max <= 1 % means no attack missed: threshold <= min attack score 0.3.
    # At 0.3 the bona fide 0.6 and 0.3 are flagged: BPCER = 2/4
    b, t = M.bpcer_at_apcer(A_SCORES, A_CLASSES, 0.01)
    assert b == pytest.approx(0.5, **EXACT)
    assert t == 0.3


def test_bpcer_at_apcer_per_type_limit():
    # target 0.25: printed (n=3) may miss 0 (1/3 > 1/4), replay (n=4) may miss 1.
    # Highest threshold catching all printed is 0.4; replay then misses only 0.3 (1/4).
    # BPCER at 0.4 = #{0.6}/4 = 1/4.
    b, t = M.bpcer_at_apcer(A_SCORES, A_CLASSES, 0.25)
    assert b == pytest.approx(0.25, **EXACT)
    assert t == 0.4


def test_bpcer_at_apcer_uses_max_over_types_not_pooled():
    # real 0.1 0.5; printed 0.8 x9; replay 0.4 x1; target 10 %.
    # Pooled APCER would accept t = 0.8 (replay missed: 1/10 <= 10 %) with BPCER 0, but the
    # replay type alone has APCER 1/1 there. Per type, replay must be caught: t <= 0.4, where
    # the bona fide 0.5 is flagged -> BPCER = 1/2.
    s = [0.1, 0.5] + [0.8] * 9 + [0.4]
    c = ["real"] * 2 + ["printed"] * 9 + ["replay"]
    b, t = M.bpcer_at_apcer(s, c, 0.10)
    assert b == pytest.approx(0.5, **EXACT)
    assert t == 0.4


def test_bpcer_at_apcer_tie_break_prefers_lower_apcer():
    # target 0.5: feasible 0.5 (APCER_max 1/2), 0.45 (1/3), 0.4 (1/4) all have BPCER 1/4;
    # the lowest APCER_max wins -> 0.4
    b, t = M.bpcer_at_apcer(A_SCORES, A_CLASSES, 0.5)
    assert b == pytest.approx(0.25, **EXACT)
    assert t == 0.4


def test_bpcer_at_apcer_full_tolerance():
    # target 100 %: every threshold is allowed; BPCER 0 needs t > 0.6 (0.7, 0.8, 0.9, above max);
    # of those, 0.7 has the lowest APCER_max (printed 1/3, replay 3/4 -> 3/4)
    b, t = M.bpcer_at_apcer(A_SCORES, A_CLASSES, 1.0)
    assert b == 0.0
    assert t == 0.7


def test_bpcer_at_apcer_rejects_bad_target():
    with pytest.raises(ValueError, match="target_apcer"):
        M.bpcer_at_apcer(A_SCORES, A_CLASSES, 1.5)


def test_deployment_threshold_sits_in_the_middle_of_the_gap():
    """Separated classes (live <= 0.003, attacks >= 0.9972, as a small fine-tuning dev set gave):
    calibrate_threshold stops on the lowest attack; the stored threshold is the middle of the
    gap in log-odds, with the same decisions on the dev scores."""
    s = [0.001, 0.002, 0.003, 0.9972, 0.998, 0.999]
    c = ["real"] * 3 + ["printed", "replay", "printed"]
    assert M.calibrate_threshold(s, c, "eer") == 0.9972
    t = M.deployment_threshold(s, c, "eer")
    logit = lambda p: np.log(p / (1 - p))
    assert logit(t) == pytest.approx((logit(0.003) + logit(0.9972)) / 2)
    assert 0.45 < t < 0.55
    for method, target in (("apcer", 0.05), ("apcer", 0.01), ("bpcer", 0.0)):
        assert 0.003 < M.deployment_threshold(s, c, method, target) < 0.9972
    # overlapping scores: the gap is between neighbours, the decisions are calibrate_threshold's
    t0 = M.calibrate_threshold(A_SCORES, A_CLASSES, "apcer", 0.25)
    t1 = M.deployment_threshold(A_SCORES, A_CLASSES, "apcer", 0.25)
    below = max(x for x in A_SCORES if x < t0)
    assert below < t1 < t0 and logit(t1) == pytest.approx((logit(below) + logit(t0)) / 2)
    assert M.deployment_threshold([0.2, 0.9], ["printed", "real"], "eer") <= 1 - 1e-4  # everything kept in (0, 1)


def test_calibrate_threshold():
    assert M.calibrate_threshold(A_SCORES, A_CLASSES, "apcer", 0.25) == 0.4
    # BPCER <= 0: threshold above 0.6; lowest APCER_max is at 0.7 (printed 1/3, replay 3/4)
    assert M.calibrate_threshold(A_SCORES, A_CLASSES, "bpcer", 0.0) == 0.7
    assert M.calibrate_threshold(A_SCORES, A_CLASSES, "bpcer", 0.25) == 0.4
    eer_s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8]
    eer_c = ["real"] * 4 + ["printed"] * 2 + ["replay"] * 2
    assert M.calibrate_threshold(eer_s, eer_c, "eer") == 0.5
    with pytest.raises(ValueError, match="^method must be eer, apcer or bpcer, got 'f1'$"):
        M.calibrate_threshold(A_SCORES, A_CLASSES, "f1")
    with pytest.raises(ValueError, match=r"^method apcer needs --target T, a rate in \[0, 1\] \(e\.g\. 0\.05\)$"):
        M.calibrate_threshold(A_SCORES, A_CLASSES, "apcer")
    with pytest.raises(ValueError, match="both bona fide"):
        M.calibrate_threshold([0.1, 0.2], ["real", "real"], "eer")


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------

REPORT_KEYS = {
    "n", "n_bona_fide", "n_attack", "threshold", "apcer", "apcer_max", "bpcer", "acer", "eer",
    "eer_threshold", "auc", "bpcer_at_apcer_1pct", "bpcer_at_apcer_5pct", "bpcer_at_apcer_10pct", "accuracy", "f1_macro",
    "f1_weighted", "f2_weighted", "confusion_matrix", "per_class",
}


def test_evaluate_scores_fixture_a():
    r = M.evaluate_scores(A_SCORES, A_CLASSES, A_T)
    assert set(r) == REPORT_KEYS
    json.dumps(r, allow_nan=False)
    assert (r["n"], r["n_bona_fide"], r["n_attack"]) == (11, 4, 7)
    assert r["apcer"] == pytest.approx({"printed": 1 / 3, "replay": 0.5}, **EXACT)
    assert r["apcer_max"] == pytest.approx(0.5, **EXACT)
    assert r["bpcer"] == pytest.approx(0.25, **EXACT)
    assert r["acer"] == pytest.approx(0.375, **EXACT)
    assert r["bpcer_at_apcer_1pct"] == pytest.approx(0.5, **EXACT)
    assert r["bpcer_at_apcer_5pct"] == pytest.approx(0.5, **EXACT)
    assert r["bpcer_at_apcer_10pct"] == pytest.approx(0.5, **EXACT)  # 1 of 7 attacks accepted is already 14 %
    assert r["accuracy"] == pytest.approx(7 / 11, **EXACT)
    assert r["f1_macro"] == pytest.approx(19 / 30, **EXACT)
    assert r["f1_weighted"] == pytest.approx(106 / 165, **EXACT)
    assert r["f2_weighted"] == pytest.approx(230 / 363, **EXACT)
    assert r["confusion_matrix"] == {"labels": ["bona_fide", "attack"], "matrix": [[3, 1], [3, 4]]}
    assert r["per_class"]["replay"] == {"n": 4, "pred_live": 2, "pred_spoof": 2}
    # AUC by pairs: attacks sorted 0.3 0.4 0.45 0.5 0.7 0.8 0.9 vs bona fide 0.1 0.2 0.3 0.6
    #   0.3: 2 + 1/2 = 2.5; 0.4, 0.45, 0.5: 3 each; 0.7, 0.8, 0.9: 4 each -> 2.5 + 9 + 12 = 23.5 / 28
    assert r["auc"] == pytest.approx(23.5 / 28, **EXACT)
    assert r["eer"] == pytest.approx(M.eer(A_SCORES, A_ATTACK)[0], **EXACT)


def test_evaluate_scores_types_are_plain_python():
    r = M.evaluate_scores(np.array(A_SCORES, dtype=np.float32), np.array(A_CLASSES), np.float32(0.5))
    for k in ("n", "n_bona_fide", "n_attack"):
        assert type(r[k]) is int
    for k in ("threshold", "apcer_max", "bpcer", "acer", "eer", "auc", "accuracy", "f1_macro"):
        assert type(r[k]) is float, k


# ---------------------------------------------------------------------------------------------
# degenerate inputs
# ---------------------------------------------------------------------------------------------


def test_no_attacks():
    s, c = [0.1, 0.7, 0.3], ["real"] * 3
    assert M.apcer_per_type(s, c, 0.5) == {}
    assert M.apcer_max(s, c, 0.5) is None
    assert M.acer(s, c, 0.5) is None
    assert M.bpcer(s, c, 0.5) == pytest.approx(1 / 3, **EXACT)
    assert M.roc_auc(s, c) is None
    assert M.eer(s, c) == (None, None)
    assert M.bpcer_at_apcer(s, c, 0.05) == (None, None)
    assert M.f1_macro(s, c, 0.5) is None
    # only the bona fide class has support: F1 = 2*2 / (2*2 + 1 + 0) = 4/5
    assert M.f1_weighted(s, c, 0.5) == pytest.approx(0.8, **EXACT)
    with pytest.raises(ValueError, match="both bona fide and attack"):
        M.roc_curve(s, c)
    r = M.evaluate_scores(s, c, 0.5)
    assert set(r) == REPORT_KEYS
    text = json.dumps(r, allow_nan=False)
    assert "NaN" not in text
    for k in ("apcer_max", "acer", "eer", "eer_threshold", "auc", "bpcer_at_apcer_1pct",
              "bpcer_at_apcer_5pct", "f1_macro"):
        assert r[k] is None, k
    assert r["apcer"] == {}


def test_no_bona_fide():
    s, c = [0.1, 0.7, 0.9], ["printed", "replay", "replay"]
    assert M.bpcer(s, c, 0.5) is None
    assert M.acer(s, c, 0.5) is None
    assert M.apcer_per_type(s, c, 0.5) == {"printed": 1.0, "replay": 0.0}
    r = M.evaluate_scores(s, c, 0.5)
    json.dumps(r, allow_nan=False)
    assert r["bpcer"] is None and r["auc"] is None and r["eer"] is None
    assert r["accuracy"] == pytest.approx(2 / 3, **EXACT)


def test_all_equal_scores_report():
    r = M.evaluate_scores([0.5] * 4, ["real", "real", "printed", "replay"], 0.5)
    json.dumps(r, allow_nan=False)
    assert r["auc"] == pytest.approx(0.5, **EXACT)
    assert r["eer"] == pytest.approx(0.5, **EXACT)
    assert r["bpcer"] == 1.0 and r["apcer_max"] == 0.0
    assert r["bpcer_at_apcer_1pct"] == 1.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda s, c: M.evaluate_scores(s, c, 0.5),
        lambda s, c: M.apcer_per_type(s, c, 0.5),
        lambda s, c: M.bpcer(s, c, 0.5),
        lambda s, c: M.roc_auc(s, c),
        lambda s, c: M.eer(s, c),
        lambda s, c: M.bpcer_at_apcer(s, c, 0.05),
        lambda s, c: M.f1_macro(s, c, 0.5),
    ],
)
def test_nan_scores_raise_with_count(fn):
    s = [0.1, float("nan"), 0.7, float("nan"), 0.2]
    c = ["real", "real", "printed", "replay", "printed"]
    with pytest.raises(ValueError, match=r"2 NaN value\(s\) out of 5"):
        fn(s, c)


def test_infinite_and_malformed_inputs_raise():
    with pytest.raises(ValueError, match="1 infinite"):
        M.evaluate_scores([0.1, float("inf")], ["real", "printed"], 0.5)
    with pytest.raises(ValueError, match="empty"):
        M.evaluate_scores([], [], 0.5)
    with pytest.raises(ValueError, match="3 entries but scores has 2"):
        M.apcer_per_type([0.1, 0.2], ["real", "real", "printed"], 0.5)
    with pytest.raises(ValueError, match="threshold is NaN"):
        M.bpcer([0.1], [False], float("nan"))
    with pytest.raises(ValueError, match="0/1"):
        M.bpcer([0.1, 0.2], [0, 2], 0.5)


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------


def _check_png(path):
    cv2 = pytest.importorskip("cv2")
    assert path.exists(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    assert path.stat().st_size > 5_000, path
    img = cv2.imread(str(path))
    assert img is not None, path
    h, w = img.shape[:2]
    assert h >= 300 and w >= 300, (path, img.shape)
    assert img.std() > 5, f"{path} looks blank"


def test_save_plots_writes_valid_pngs(tmp_path):
    from rtliveness.training.plots import PLOT_FILES, save_plots

    rng = np.random.default_rng(0)
    s = np.r_[rng.beta(2, 8, 200), rng.beta(8, 2, 80), rng.beta(4, 3, 60)]
    c = ["real"] * 200 + ["printed"] * 80 + ["replay"] * 60
    out = tmp_path / "plots" / "nested"
    paths = save_plots(s, c, 0.5, out)
    assert [p.name for p in paths] == list(PLOT_FILES) == ["roc.png", "det.png", "score_hist.png", "confusion.png"]
    for p in paths:
        assert p.parent == out
        _check_png(p)


def test_save_plots_degenerate_still_writes(tmp_path):
    from rtliveness.training.plots import save_plots

    paths = save_plots([0.1, 0.3, 0.2], ["real"] * 3, 0.5, tmp_path)
    assert len(paths) == 4
    for p in paths:
        _check_png(p)
    with pytest.raises(ValueError, match="1 NaN"):
        save_plots([0.1, float("nan")], ["real", "printed"], 0.5, tmp_path / "nan")


def test_plots_import_leaves_pyplot_alone():
    code = (
        "import sys, rtliveness.training.plots, matplotlib;"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ---------------------------------------------------------------------------------------------
# bootstrap intervals over identities
# ---------------------------------------------------------------------------------------------

def test_bootstrap_resamples_identities_not_samples():
    from rtliveness.training.metrics_bootstrap import bootstrap_intervals

    # person a: a rejected bona fide and a caught attack; person b: both right
    scores = [0.9, 0.9, 0.1, 0.9]
    classes = ["real", "printed", "real", "printed"]
    r = bootstrap_intervals(scores, classes, ["a", "a", "b", "b"], 0.5, n=400, seed=1)
    assert (r["identities"], r["resamples"]) == (2, 400)
    # drawing a twice gives BPCER 1, b twice gives 0: both extremes are in the interval
    assert r["bpcer"] == [0.0, 1.0]
    assert r["apcer_max"] == [0.0, 0.0]
    assert r["acer"] == [0.0, 0.5]
    assert r == bootstrap_intervals(scores, classes, ["a", "a", "b", "b"], 0.5, n=400, seed=1)


def test_bootstrap_undefined_metric_is_none_and_bad_input_raises():
    from rtliveness.training.metrics_bootstrap import bootstrap_intervals

    # bona fide samples only: no APCER, ACER, EER or AUC in any resample
    r = bootstrap_intervals([0.1, 0.2, 0.7], ["real"] * 3, ["a", "b", "c"], 0.5, n=200, seed=0)
    assert [r[k] for k in ("apcer_max", "acer", "eer", "auc")] == [None] * 4
    assert r["bpcer"] == [0.0, 1.0]  # c drawn three times (1 in 27 resamples) rejects them all
    with pytest.raises(ValueError):
        bootstrap_intervals([0.1, 0.9], ["real", "replay"], ["a"], 0.5)
