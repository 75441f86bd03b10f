"""The README's performance table, from the JSON of one `rtliveness bench --json` run.

    python benchmarks/readme_table.py benchmarks/bench.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CASES = {"file": "bundled example 320×240", "one": "640×480, 1 face", "four": "640×480, 4 faces"}


def main() -> int:
    r = json.loads(Path(sys.argv[1]).read_text())
    out = ["| case | variant | FPS | × naive | p50 ms | p95 ms | detect ms | embed ms | peak RSS MB |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in r["rows"]:
        st = row["stages_ms"]
        out.append(f"| {CASES.get(row['case'], row['case'])} | {row['variant']} | {row['fps']:.1f} | "
                   f"{row['speedup_vs_naive']:.2f} | {row['latency_ms_p50']:.1f} | {row['latency_ms_p95']:.1f} | "
                   f"{st['detect']:.1f} | {st['embed']:.1f} | {row['peak_rss_mb']:.0f} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
