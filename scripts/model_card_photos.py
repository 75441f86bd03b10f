"""Writes the photo table of ``weights/MODEL_CARD.md`` ("Photos") from measured files.

    python scripts/model_card_photos.py REPORTS_DIR > table.md

REPORTS_DIR/photos.json lists the rows, in order::

    [{"name": "...", "nuaa": "X_nuaa_stills.json", "rendered": "X_rendered_photos.json"}, ...]

``nuaa`` is ``scripts/eval_nuaa_stills.py --json`` (NUAA pictures as photos through the loop),
``rendered`` is ``scripts/eval_rendered_deployed.py --photo-frame N --json`` (one frame of each
rendered held-out clip as a photo); either may be absent. A row with ``"peer": true`` reads the
MiniFASNet figures stored in those files instead of ours.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from card_tables import interval, pct


def row(d: Path, r: dict) -> str:
    cells = []
    if r.get("nuaa"):
        rep = json.loads((d / r["nuaa"]).read_text())
        x = rep["minifasnet"] if r.get("peer") else rep["ours"]
        cells += [f"{x['n_real']} / {x['n_attack']}", pct(x["bpcer"]), pct(x["apcer_printed"]),
                  f"{pct(x['acer'])}{interval(x.get('acer_ci95'))}"]
    else:
        cells += ["—"] * 4
    if r.get("rendered"):
        rep = json.loads((d / r["rendered"]).read_text())
        g = (rep["minifasnet"] if r.get("peer") else rep)["groups"]
        a = g["all"]
        cells += [pct(g["live_video"]["bpcer"]) if "live_video" in g else "n/a",
                  pct(g["stills"]["bpcer"]) if "stills" in g else "n/a",
                  " / ".join(pct(a["apcer"].get(k)) for k in ("printed", "replay", "2dmask")),
                  f"{pct(a['acer'])}{interval(a.get('acer_ci95'))}"]
    else:
        cells += ["—"] * 4
    return f"| {r['name']} | " + " | ".join(cells) + " |"


def main() -> int:
    d = Path(sys.argv[1])
    rows = json.loads((d / "photos.json").read_text())
    print("| model | NUAA test photos (live / printed) | NUAA BPCER | NUAA APCER printed | NUAA ACER (95 % CI) | "
          "rendered photos: BPCER live video | BPCER stills | APCER printed / replay / 2D mask | ACER (95 % CI) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(row(d, r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
