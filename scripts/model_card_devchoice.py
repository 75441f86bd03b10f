"""The dev-only release rule, and the model-card table of the candidates it judged.

    python scripts/model_card_devchoice.py REPORTS_DIR > table.md

REPORTS_DIR/candidates.json lists the rows, in order; exactly one is the baseline (the shipped
model) that every other row is judged against::

    [{"key": "m0", "name": "...", "baseline": true}, {"key": "p10", "name": "..."}, ...]

A row may carry ``"not_eligible": "why"`` (a model the rule was written knowing): it is judged
and its verdict shown with the reason appended; the rule's text, not this script, says it may not
be chosen.

Each key has five dev reports, all on people and identities never used for training or for the
test figures: ``KEY_dev.json`` (``rtliveness eval --split dev``, per sample),
``KEY_deployed_devpeople.json`` (``eval_nuaa_deployed.py --persons 0005,0009``: NUAA dev sessions
through the loop), ``KEY_stills_devpeople.json`` (``eval_nuaa_stills.py``: the same people's
pictures as photos), ``KEY_rendered_deployed_dev.json`` and ``KEY_rendered_photos_dev.json``
(``eval_rendered_deployed.py --split dev``, clips and one frame of each as a photo).

The rule (:func:`judge`) was written before the candidates it first judged had finished: a
candidate replaces the baseline only if

1. the NUAA dev people get no worse: sessions ACER <= the baseline's, photos ACER <= the
   baseline's + 1 point;
2. on the rendered dev clips and dev photos, the sum over both sets of (BPCER + the mean APCER over
   the attack families) is lower than the baseline's;
3. no attack family's APCER on either rendered set is worse than the baseline's by more than two
   clips (``MAX_FAMILY_LOSS`` = 8.4 points: a family had 24 dev clips; from round 15 it has 72,
   where the same 8.4 points are six clips).

From round 15 (``weights/reports/round15/RULE.md``) a folder may also hold, for every key,
``KEY_raw_dev.json`` (``eval_raw_stills.py --split dev``: the dev identities' real source photos
as they are) and ``KEY_raw_photos.json`` (``eval_raw_stills.py --photos DIR``: every face of public
photographs in no synthesis source); where any key has one, every key must have both (else exit
2 naming the missing files), every model must be scored on the same number of faces, and a
fourth condition holds:

4. the candidate rejects no more of those real live faces than the baseline.

From round 18 (``weights/reports/round18/RULE.md``) a folder may also hold, for every key,
``KEY_real_live.json`` (``eval_real_live.py``: real live videos and photographs of people in no
training or synthesis source); where any key has one, every key must, both sets must be the same
size for every model, and

2'. the score's BPCER terms are the real live BPCER — of the videos for the clips set, of the photo
    faces for the photos set — instead of the rendered live clips' (which are animated stills);
5.  the candidate rejects no more of the real live videos than the baseline and at most
    ``REAL_PHOTO_SLACK`` more of the photo faces.

From round 29 (``weights/reports/round29/RULE.md``) a folder may hold ``rule.json`` with
``{"rendered_live_slack": POINTS}``; then

6. the rendered live BPCER on either rendered set is worse than the baseline's by at most POINTS
   (it stays out of the score: a bound on a live side that moved for a whole camera chain).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from card_tables import pct

#: the most an attack family's APCER (in points) may lose against the baseline on a rendered dev set
MAX_FAMILY_LOSS = 8.4
RENDERED = ("rendered_deployed_dev", "rendered_photos_dev")
#: reports of real photographs of live people (bona fide only), judged when present
RAW = ("raw_dev", "raw_photos")
FAMILIES = ("printed", "replay", "2dmask")
#: from round 18: real live videos and photographs (``eval_real_live.py``), judged when present
REAL_LIVE = "real_live"
#: the most real live photo faces a candidate may reject beyond the baseline's (condition 5)
REAL_PHOTO_SLACK = 2


def figures(reports: dict[str, dict]) -> dict:
    """The rule's inputs from one candidate's five reports (keyed by report suffix)."""
    sets = {f: reports[f]["groups"]["all"] for f in RENDERED}
    real = reports[REAL_LIVE]["ours"] if REAL_LIVE in reports else None
    # the BPCER term of each set: rendered live clips, or from round 18 the real live videos / photo faces
    bpcer = {f: sets[f]["bpcer"] if real is None else real[kind]["bpcer"] for f, kind in zip(RENDERED, ("video", "photo"))}
    return {
        "nuaa_sessions": 100 * reports["deployed_devpeople"]["ours"]["acer"],
        "nuaa_photos": 100 * reports["stills_devpeople"]["ours"]["acer"],
        "score": sum(100 * bpcer[f] + 100 * sum(g["apcer"].values()) / len(g["apcer"]) for f, g in sets.items()),
        "family": {(f, a): 100 * v for f, g in sets.items() for a, v in g["apcer"].items()},
        "rendered_live": {f: 100 * g["bpcer"] for f, g in sets.items()},
        "raw": (sum(reports[f]["rejected"] for f in RAW), sum(reports[f]["scored"] for f in RAW))
        if all(f in reports for f in RAW) else None,
        "real_live": None if real is None else tuple((real[k]["rejected"], real[k]["scored"]) for k in ("video", "photo")),
    }


def judge(base: dict, cand: dict, rendered_live_slack: float | None = None) -> tuple[bool, list[str]]:
    """(passes, the reasons it does not) for a candidate's :func:`figures` against the baseline's;
    ``rendered_live_slack`` (points) adds condition 6."""
    why = []
    if cand["nuaa_sessions"] > base["nuaa_sessions"]:
        why.append(f"NUAA dev sessions ACER {cand['nuaa_sessions']:.1f} > {base['nuaa_sessions']:.1f} %")
    if cand["nuaa_photos"] > base["nuaa_photos"] + 1:
        why.append(f"NUAA dev photos ACER {cand['nuaa_photos']:.1f} > {base['nuaa_photos']:.1f} + 1 %")
    if cand["score"] >= base["score"]:
        why.append(f"{'score' if cand['real_live'] else 'rendered score'} {cand['score']:.1f} >= {base['score']:.1f}")
    for k, v in sorted(cand["family"].items()):
        if v - base["family"].get(k, 0.0) > MAX_FAMILY_LOSS:
            why.append(f"{k[1]} on {'dev clips' if k[0] == RENDERED[0] else 'dev photos'} "
                       f"{v:.1f} % against {base['family'][k]:.1f} %")
    if (cand["raw"] is None) != (base["raw"] is None) or (cand["raw"] and cand["raw"][1] != base["raw"][1]):
        raise ValueError(f"real live photos judged on different faces: {cand['raw']} against {base['raw']}")
    if cand["raw"] is not None and cand["raw"][0] > base["raw"][0]:
        why.append(f"real live photos rejected {cand['raw'][0]} of {cand['raw'][1]} > {base['raw'][0]}")
    cr, br = cand["real_live"], base["real_live"]
    if (cr is None) != (br is None) or (cr and (cr[0][1], cr[1][1]) != (br[0][1], br[1][1])):
        raise ValueError(f"real live videos and photos judged on different sets: {cr} against {br}")
    if cr is not None:
        if cr[0][0] > br[0][0]:
            why.append(f"real live videos rejected {cr[0][0]} of {cr[0][1]} > {br[0][0]}")
        if cr[1][0] > br[1][0] + REAL_PHOTO_SLACK:
            why.append(f"real live photo faces rejected {cr[1][0]} of {cr[1][1]} > {br[1][0]} + {REAL_PHOTO_SLACK}")
    if rendered_live_slack is not None:
        for f in RENDERED:
            c, b = cand["rendered_live"][f], base["rendered_live"][f]
            if c - b > rendered_live_slack:
                why.append(f"rendered live {'dev clips' if f == RENDERED[0] else 'dev photos'} rejected "
                           f"{c:.1f} % against {b:.1f} % + {rendered_live_slack:g}")
    return not why, why


def rule_options(d: Path) -> dict:
    """``judge``'s keyword options from the folder's ``rule.json`` (none without one); exits 2 with
    one line on a file that is not a JSON object of known, non-negative numbers."""
    f = d / "rule.json"
    if not f.is_file():
        return {}
    try:
        opts = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise SystemExit(f"{f}: not JSON ({e.msg}, line {e.lineno})")
    known = {"rendered_live_slack"}
    if not isinstance(opts, dict) or set(opts) - known or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in opts.values()):
        raise SystemExit(f"{f}: must be a JSON object of non-negative numbers with keys from {sorted(known)}")
    return opts


def load(d: Path, key: str, raw: bool = False, real: bool = False) -> dict[str, dict]:
    """One key's reports; with ``raw`` its two raw-photo reports too, with ``real`` its real live
    report (every key must have them)."""
    names = ("dev", "deployed_devpeople", "stills_devpeople", *RENDERED) + (RAW if raw else ()) + ((REAL_LIVE,) if real else ())
    missing = [f"{key}_{n}.json" for n in names if not (d / f"{key}_{n}.json").is_file()]
    if missing:
        raise SystemExit(f"{d}: missing {', '.join(missing)}")
    reports = {n: json.loads((d / f"{key}_{n}.json").read_text()) for n in names}
    if real:
        ours = reports[REAL_LIVE].get("ours", {})
        if not all(isinstance(ours.get(k, {}).get("bpcer"), (int, float)) for k in ("video", "photo")):
            raise SystemExit(f"{d / f'{key}_{REAL_LIVE}.json'}: needs a scored BPCER for both videos and photos "
                             "(eval_real_live.py --videos DIR --photos DIR)")
    return reports


def raw_expected(d: Path) -> bool:
    """Whether the folder judges real live photos: any raw-photo report in it means every key needs both."""
    return any(d.glob(f"*_{RAW[0]}.json")) or any(d.glob(f"*_{RAW[1]}.json"))


def real_expected(d: Path) -> bool:
    """Whether the folder judges real live videos and photos (round 18): any such report means every key needs one."""
    return any(d.glob(f"*_{REAL_LIVE}.json"))


def rendered_cells(g: dict) -> str:
    return f"{pct(g['bpcer'])} / " + ", ".join(pct(g["apcer"].get(a)) for a in FAMILIES) + f" / {pct(g['acer'])}"


def main() -> int:
    d = Path(sys.argv[1])
    rows = json.loads((d / "candidates.json").read_text())
    bases = [r for r in rows if r.get("baseline")]
    if len(bases) != 1:
        print(f"{d / 'candidates.json'}: exactly one row must have \"baseline\": true", file=sys.stderr)
        return 2
    raw, real = raw_expected(d), real_expected(d)
    try:
        opts = rule_options(d)
        reports = {r["key"]: load(d, r["key"], raw, real) for r in rows}
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    base = figures(reports[bases[0]["key"]])
    print("| model | per sample: ACER / EER / AUC | NUAA dev sessions / photos: ACER | rendered dev clips: "
          "BPCER / APCER printed, replay, 2D mask / ACER | rendered dev photos: same | "
          + ("score (real live BPCER + rendered APCER) | " if real else "rendered score | ")
          + ("real live photos rejected | " if raw else "")
          + ("real live videos / photo faces rejected | " if real else "") + "dev rule |")
    print("| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if raw else "") + (" --- |" if real else ""))
    for r in rows:
        rep = reports[r["key"]]
        f = figures(rep)
        ev = rep["dev"]
        if r.get("baseline"):
            verdict = "baseline"
        else:
            try:
                passes, why = judge(base, f, **opts)
            except ValueError as e:
                print(f"{r['key']}: {e}", file=sys.stderr)
                return 2
            verdict = "**passes**" if passes else "fails: " + "; ".join(why)
            if r.get("not_eligible"):
                verdict += f" (not eligible: {r['not_eligible']})"
        print(f"| {r['name']} | {pct(ev['acer'])} / {pct(ev['eer'])} / {ev['auc']:.3f} | "
              f"{f['nuaa_sessions']:.1f} % / {f['nuaa_photos']:.1f} % | "
              f"{rendered_cells(rep[RENDERED[0]]['groups']['all'])} | "
              f"{rendered_cells(rep[RENDERED[1]]['groups']['all'])} | {f['score']:.1f} | "
              + (f"{f['raw'][0]} of {f['raw'][1]} | " if raw else "")
              + (f"{f['real_live'][0][0]} of {f['real_live'][0][1]} / {f['real_live'][1][0]} of {f['real_live'][1][1]} | " if real else "")
              + f"{verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
