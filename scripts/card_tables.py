"""Table pieces shared by the model-card section writers (``model_card_nuaa.py``,
``model_card_joint.py``): percent formatting, a 95 % interval suffix and the training-history
table."""

from __future__ import annotations


def pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def interval(ci) -> str:
    """`` (low – high)`` for a ``[low, high]`` pair, empty for None."""
    return "" if not ci else f" ({pct(ci[0])} – {pct(ci[1])})"


def history_table(hist: list[dict]) -> list[str]:
    """The per-epoch table of a training run's ``history.json``."""
    out = ["| epoch | train loss | dev ACER | dev AUC | threshold | seconds |", "| --- | --- | --- | --- | --- | --- |"]
    for h in hist:
        out.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {pct(h['dev']['acer'])} | {h['dev']['auc']:.4f} | "
                   f"{h['threshold']:.4f} | {h['seconds']} |")
    return out
