"""Table pieces shared by the model-card section writers (``model_card_nuaa.py``,
``model_card_joint.py``, ``model_card_conditions.py``) and the evaluation scripts that feed them:
the test domains, percent formatting, a 95 % interval suffix and the training-history table."""

from __future__ import annotations


#: the joint test split's domains: (key, title, sample-name test). Live samples of the live-video
#: identity are real video; those of the still identities are animated photographs.
DOMAINS = (
    ("nuaa", "NUAA test people (real captures)", lambda n: "nuaa" in n),
    ("live_video", "rendered, held-out live-video identity", lambda n: "talkinghead" in n),
    ("stills", "rendered, held-out still identities", lambda n: "nuaa" not in n and "talkinghead" not in n),
)


def domain_of(sample: str) -> str:
    """The key of the domain a sample name belongs to."""
    return next(key for key, _, sel in DOMAINS if sel(sample))


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
