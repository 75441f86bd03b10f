"""Evaluation plots: ROC, DET, score histograms and the per-class confusion matrix.

Figures are drawn with :class:`matplotlib.figure.Figure` on a
:class:`matplotlib.backends.backend_agg.FigureCanvasAgg`, never through ``pyplot``: importing this
module changes no global matplotlib state (backend, rcParams, open figures) and works headless.

Conventions as in :mod:`rtliveness.metrics`: ``score = p_spoof``, attack iff
``score >= threshold``, bona fide class ``"real"``.
"""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import metrics as M

__all__ = ["save_plots", "PLOT_FILES"]

PLOT_FILES: tuple[str, ...] = ("roc.png", "det.png", "score_hist.png", "confusion.png")
"""File names written by :func:`save_plots`, in order."""

_BONA_FIDE_COLOR = "#2a9d55"
_ATTACK_COLORS = ["#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
_DPI = 120


def _colors(order: list[str], bona_fide: str) -> dict[str, str]:
    out: dict[str, str] = {}
    k = 0
    for name in order:
        if name == bona_fide:
            out[name] = _BONA_FIDE_COLOR
        else:
            out[name] = _ATTACK_COLORS[k % len(_ATTACK_COLORS)]
            k += 1
    return out


def _new_figure(size: tuple[float, float]) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=_DPI, facecolor="white")
    return path


def _undefined(ax: Any, title: str, why: str) -> None:
    ax.set_title(title, fontsize=13, fontweight="bold")
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=12, color="#555555",
            transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# --------------------------------------------------------------------------------------------
# ROC
# --------------------------------------------------------------------------------------------


def _plot_roc(s: np.ndarray, c: np.ndarray, t: float, bona_fide: str, path: Path) -> Path:
    fig, ax = _new_figure((6.4, 6.0))
    title = "ROC — attack detection vs. false rejections"
    a = c != bona_fide
    if a.all() or not a.any():
        _undefined(ax, title, "ROC undefined: needs both bona fide\nand attack samples "
                   f"(got {int((~a).sum())} bona fide, {int(a.sum())} attack)")
        return _save(fig, path)
    fpr, tpr, _ = M.roc_curve(s, a)
    auc = M.roc_auc(s, a)
    e, e_t = M.eer(s, a)
    ax.plot([0, 1], [0, 1], ls=":", color="#999999", lw=1, label="chance (AUC = 0.5)")
    ax.plot([0, 1], [1, 0], ls="--", color="#cccccc", lw=0.8)
    ax.plot(fpr, tpr, color="#1f4e9c", lw=2.2, drawstyle="default", label=f"ROC, all attacks (AUC = {auc:.4f})")
    ax.plot([e], [1 - e], "o", ms=9, mfc="white", mec="#d62728", mew=2,
            label=f"EER = {_pct(e)} (BPCER = APCER)")
    b = M.bpcer(s, a, t)
    ap = float(np.mean(s[a] < t))
    ax.plot([b], [1 - ap], "s", ms=8, color="#222222",
            label=f"threshold {t:.3g}: BPCER {_pct(b)}, APCER {_pct(ap)}")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("BPCER — bona fide wrongly flagged as attack (FPR)")
    ax.set_ylabel("1 − APCER — attacks caught (TPR)")
    ax.set_title(title, fontsize=13, fontweight="bold")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=9, framealpha=0.95)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# DET
# --------------------------------------------------------------------------------------------

_DET_TICKS = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99]


def _probit(p: np.ndarray, lo: float) -> np.ndarray:
    nd = NormalDist()
    q = np.clip(np.asarray(p, dtype=np.float64), lo, 1 - lo)
    return np.array([nd.inv_cdf(float(v)) for v in q.ravel()]).reshape(q.shape)


def _plot_det(s: np.ndarray, c: np.ndarray, t: float, bona_fide: str, path: Path) -> Path:
    fig, ax = _new_figure((6.6, 6.0))
    title = "DET — APCER vs. BPCER (normal-deviate axes)"
    order = M.class_order(c, bona_fide)
    types = [k for k in order if k != bona_fide]
    n_bf = int(np.count_nonzero(c == bona_fide))
    if not types or n_bf == 0:
        _undefined(ax, title, "DET undefined: needs both bona fide\nand attack samples "
                   f"(got {n_bf} bona fide, {c.size - n_bf} attack)")
        return _save(fig, path)
    colors = _colors(order, bona_fide)
    # rates are k/n: a rate of 0 is plotted at half a sample (the floor of what the data resolve)
    lo = 0.5 / max(c.size, 2)
    lo = min(max(lo, 1e-4), 0.01)
    cand = np.r_[np.nextafter(s.max(), np.inf), np.unique(s)[::-1]]
    bf = np.sort(s[c == bona_fide])
    bp = (bf.size - np.searchsorted(bf, cand, side="left")) / bf.size
    worst = np.zeros(cand.size)
    per_type = []
    for name in types:
        st = np.sort(s[c == name])
        ap = np.searchsorted(st, cand, side="left") / st.size
        worst = np.maximum(worst, ap)
        per_type.append((name, st.size, ap))
    y = _probit(bp, lo)
    if len(types) > 1:
        ax.plot(_probit(worst, lo), y, color="#111111", lw=5, alpha=0.25, solid_capstyle="butt",
                label="worst case (max APCER over types)")
    for name, n, ap in per_type:
        ax.plot(_probit(ap, lo), y, color=colors[name], lw=1.6, label=f"{name} (n={n})")
    # the EER diagonal and the operating point
    lim = _probit(np.array([lo, 1 - lo]), lo)
    ax.plot(lim, lim, ls=":", color="#999999", lw=1, label="APCER = BPCER")
    am = M.apcer_max(s, c, t, bona_fide=bona_fide)
    b = M.bpcer(s, c, t, bona_fide=bona_fide)
    ax.plot(_probit(np.array([am]), lo), _probit(np.array([b]), lo), "s", ms=8, color="#222222",
            mfc="#ffd23f", zorder=5, label=f"threshold {t:.3g}: APCER_max {_pct(am)}, BPCER {_pct(b)}")
    for target, name, ls in ((0.01, "BPCER100", "--"), (0.05, "BPCER20", "-.")):
        bb, _ = M.bpcer_at_apcer(s, c, target, bona_fide=bona_fide)
        ax.axvline(_probit(np.array([target]), lo)[0], color="#888888", lw=0.9, ls=ls,
                   label=f"APCER_max = {target:.0%}: {name} = {_pct(bb)}")
    # rates of exactly 0 / 1 sit on the axis edges; label them so they are not read as 0.07 %
    ticks = [p for p in _DET_TICKS if lo <= p <= 1 - lo]
    tick_pos = list(_probit(np.array(ticks), lo))
    labels = [f"{100 * p:g}%" for p in ticks]
    keep = [i for i, v in enumerate(tick_pos) if lim[0] + 0.3 < v < lim[1] - 0.3]
    tick_pos = [lim[0]] + [tick_pos[i] for i in keep] + [lim[1]]
    labels = ["0"] + [labels[i] for i in keep] + ["100%"]
    ax.set_xticks(tick_pos, labels, fontsize=8)
    ax.set_yticks(tick_pos, labels, fontsize=8)
    pad = 0.1
    ax.set_xlim(lim[0] - pad, lim[1] + pad)
    ax.set_ylim(lim[0] - pad, lim[1] + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("APCER — attacks accepted as bona fide")
    ax.set_ylabel("BPCER — bona fide rejected as attack")
    ax.set_title(title, fontsize=13, fontweight="bold")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.95)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# score histograms
# --------------------------------------------------------------------------------------------


def _plot_hist(s: np.ndarray, c: np.ndarray, t: float, bona_fide: str, path: Path) -> Path:
    order = M.class_order(c, bona_fide)
    colors = _colors(order, bona_fide)
    fig = Figure(figsize=(7.6, 1.4 + 1.45 * len(order)), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(order), 1, sharex=True, squeeze=False)[:, 0]
    lo, hi = min(0.0, float(s.min())), max(1.0, float(s.max()))
    bins = np.linspace(lo, hi, 41)
    for ax, name in zip(axes, order):
        v = s[c == name]
        w = np.full(v.size, 1.0 / v.size)
        flagged = float(np.mean(v >= t))
        is_bf = name == bona_fide
        err = f"BPCER {_pct(flagged)}" if is_bf else f"APCER {_pct(1 - flagged)}"
        # the side of the threshold where this class is misclassified, shaded
        if is_bf:
            ax.axvspan(t, hi, color="#d62728", alpha=0.06, lw=0)
        else:
            ax.axvspan(lo, t, color="#d62728", alpha=0.06, lw=0)
        ax.hist(v, bins=bins, weights=w, color=colors[name], alpha=0.35)
        ax.hist(v, bins=bins, weights=w, histtype="step", color=colors[name], lw=1.6)
        ax.axvline(t, color="#111111", lw=1.8, ls="--")
        ax.set_title(f"{name}   n={v.size}, {err}", loc="left", fontsize=10, fontweight="bold",
                     color=colors[name], pad=3)
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, max(ax.get_ylim()[1], 0.05) * 1.08)
        ax.grid(True, axis="y", alpha=0.3)
        ax.tick_params(labelsize=8)
    top = axes[0]
    top.annotate("← predicted live", xy=(t, 1.0), xycoords=("data", "axes fraction"), xytext=(-6, -4),
                 textcoords="offset points", ha="right", va="top", fontsize=8.5, color="#333333")
    top.annotate("predicted spoof →", xy=(t, 1.0), xycoords=("data", "axes fraction"), xytext=(6, -4),
                 textcoords="offset points", ha="left", va="top", fontsize=8.5, color="#333333")
    axes[-1].set_xlabel("score  (p_spoof: 0 = surely live, 1 = surely attack)")
    fig.supylabel("fraction of the class's samples", fontsize=10)
    fig.suptitle(f"Score distribution per class at threshold {t:.3g}\n"
                 "(dashed line = threshold, red shade = the side where the class is misclassified)",
                 fontsize=12, fontweight="bold")
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# confusion matrix per class
# --------------------------------------------------------------------------------------------


def _plot_confusion(s: np.ndarray, c: np.ndarray, t: float, bona_fide: str, path: Path) -> Path:
    table = M.per_class_table(s, c, t, bona_fide=bona_fide)
    names = list(table)
    fig, ax = _new_figure((6.2, max(3.2, 1.6 + 0.75 * len(names))))
    counts = np.array([[table[k]["pred_live"], table[k]["pred_spoof"]] for k in names], dtype=float)
    frac = counts / counts.sum(axis=1, keepdims=True)
    # cell colour = share of the row that is CORRECT (green) or WRONG (red)
    rgb = np.ones((len(names), 2, 3))
    green, red = np.array([0.16, 0.62, 0.33]), np.array([0.84, 0.15, 0.16])
    for i, name in enumerate(names):
        correct_col = 0 if name == bona_fide else 1
        for j in range(2):
            base = green if j == correct_col else red
            rgb[i, j] = 1 - frac[i, j] * 0.85 * (1 - base)
    ax.imshow(rgb, aspect="auto")
    for i, name in enumerate(names):
        for j in range(2):
            lum = float(rgb[i, j] @ np.array([0.299, 0.587, 0.114]))
            dark = lum < 0.55
            ax.text(j, i, f"{int(counts[i, j])}\n({_pct(frac[i, j])})", ha="center", va="center",
                    fontsize=11, color="white" if dark else "#111111", fontweight="bold")
    row_labels = []
    for name in names:
        n = table[name]["n"]
        err = (f"BPCER {_pct(table[name]['pred_spoof'] / n)}" if name == bona_fide
               else f"APCER {_pct(table[name]['pred_live'] / n)}")
        row_labels.append(f"{name}\n n={n}, {err}")
    ax.set_yticks(range(len(names)), row_labels, fontsize=9.5)
    ax.set_xticks([0, 1], ["predicted live", "predicted spoof"], fontsize=10.5)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("true class")
    acc = M.accuracy(s, c, t, bona_fide=bona_fide)
    ax.set_title(f"Predictions per class\nthreshold {t:.3g}, accuracy {_pct(acc)}",
                 fontsize=12, fontweight="bold")
    ax.set_xticks([0.5], minor=True)
    ax.set_yticks(np.arange(len(names) - 1) + 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=3)
    ax.tick_params(which="both", length=0)
    for sp in ax.spines.values():
        sp.set_visible(False)
    return _save(fig, path)


def save_plots(
    scores: Any, classes: Any, threshold: float, out_dir: str | Path, *, bona_fide: str = M.BONA_FIDE
) -> list[Path]:
    """Write ``roc.png``, ``det.png``, ``score_hist.png`` and ``confusion.png`` into ``out_dir``.

    * ``roc.png``: ROC of all attacks pooled (BPCER vs. 1 - APCER) with the AUC in the legend,
      the EER point and the operating point at ``threshold``.
    * ``det.png``: DET curve, APCER vs. BPCER on normal-deviate axes, one curve per attack type
      plus the worst case (max APCER) used by ISO/IEC 30107-3, the operating point and the
      BPCER at APCER 1 % / 5 %.
    * ``score_hist.png``: score histogram of each class (as fractions of the class) with the
      threshold line.
    * ``confusion.png``: counts per true class x predicted live/spoof, annotated with row
      percentages and each row's APCER/BPCER.

    ``out_dir`` is created if needed. Inputs are validated as in :mod:`rtliveness.metrics` (NaN
    scores raise ValueError). Without both bona fide and attack samples the ROC and DET files
    still get written, saying why the curve is undefined. Returns the paths in the order above.
    """
    s = M._scores(scores)
    c = M._classes(classes, s.size)
    t = M._threshold(threshold)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        _plot_roc(s, c, t, bona_fide, out / PLOT_FILES[0]),
        _plot_det(s, c, t, bona_fide, out / PLOT_FILES[1]),
        _plot_hist(s, c, t, bona_fide, out / PLOT_FILES[2]),
        _plot_confusion(s, c, t, bona_fide, out / PLOT_FILES[3]),
    ]
