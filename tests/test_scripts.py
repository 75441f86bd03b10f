"""The measurement scripts behind the model card and the benchmarks: every name they use exists
(they run for minutes on data the suite does not have, so a broken name would only show up
there), and the pure logic of the protocol (d) split."""

from __future__ import annotations

import builtins
import importlib.util
import json
import subprocess
import sys
import symtable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("examples/*.py")])


def _module_names(table: symtable.SymbolTable) -> set[str]:
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}


def _undefined(path: Path) -> list[str]:
    """Global names read inside functions or classes that neither the module nor builtins define."""
    top = symtable.symtable(path.read_text(), str(path), "exec")
    defined = _module_names(top) | set(dir(builtins)) | {"__file__", "__name__", "__doc__"}
    missing: list[str] = []

    def walk(t: symtable.SymbolTable) -> None:
        for s in t.get_symbols():
            if s.is_referenced() and s.is_global() and s.get_name() not in defined:
                missing.append(f"{t.get_name()}:{s.get_name()}")
        for child in t.get_children():
            walk(child)

    for child in top.get_children():
        walk(child)
    for s in top.get_symbols():  # module level reads
        if s.is_referenced() and not (s.is_assigned() or s.is_imported() or s.is_namespace()) \
                and s.get_name() not in defined:
            missing.append(f"<module>:{s.get_name()}")
    return missing


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_name_is_defined(path):
    assert _undefined(path) == []


def test_the_check_finds_an_undefined_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import json\n\ndef f(x):\n    return json.dumps(x) + ASSETS\n")
    assert _undefined(bad) == ["f:ASSETS"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _joint(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A rendered set with replays of known screen sizes, and a joint dataset linking to it."""
    synth = tmp_path / "synth"
    recs = []
    for i, side in enumerate((300, 1700, 1738, 1800, 1841, 3000)):
        name = f"replay/replay_p{i}_0000{i}"
        (synth / name).mkdir(parents=True)
        recs.append({"class": "replay", "sample": name, "params": {"screen_wh": [side // 2, side]}})
    recs.append({"class": "printed", "sample": "printed/printed_p0_00009", "params": {}})
    (synth / "synth_samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    joint = tmp_path / "joint"
    (joint / "replay").mkdir(parents=True)
    for r in recs[:-1]:
        (joint / r["sample"]).symlink_to(synth / r["sample"])
    split = {"train": ["replay/replay_p0_00000", "replay/replay_p1_00001", "replay/replay_p5_00005", "real/real_p0_00001"],
             "dev": ["replay/replay_p2_00002", "replay/replay_p3_00003"],
             "test": ["replay/replay_p4_00004", "replay/replay_p1_00001", "printed/printed_p0_00009"]}
    return joint, synth / "synth_samples.jsonl", split


def test_screen_split_keeps_small_screens_for_training_and_large_for_test(tmp_path):
    mod = _load("screen_split")
    joint, records, split = _joint(tmp_path)
    new, kept = mod.screen_split(joint, split, mod.screen_sides([records]), 1738, 1841)
    assert new == {"train": ["replay/replay_p0_00000", "replay/replay_p1_00001", "real/real_p0_00001"],
                   "dev": ["replay/replay_p2_00002"],
                   "test": ["replay/replay_p4_00004", "printed/printed_p0_00009"]}
    assert kept == {"train": [300, 1700], "dev": [1738], "test": [1841]}
    with pytest.raises(ValueError, match="must be below"):
        mod.screen_split(joint, split, {}, 1841, 1841)


def test_screen_split_cli(tmp_path):
    joint, records, split = _joint(tmp_path)
    (tmp_path / "split.json").write_text(json.dumps(split))
    out = tmp_path / "out" / "screen_split.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "screen_split.py"), str(joint), "--split-file", str(tmp_path / "split.json"),
           "--out", str(out)]
    r = subprocess.run([*cmd, "--records", str(records)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["test"] == ["replay/replay_p4_00004", "printed/printed_p0_00009"]
    assert r.stdout.splitlines()[2] == "test: 2 samples, 1 replays (screen sides 1841-1841 px)"
    # a replay with no render record: one line, exit 2
    (tmp_path / "empty.jsonl").write_text("")
    r = subprocess.run([*cmd, "--records", str(tmp_path / "empty.jsonl")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: replay sample replay/replay_p0_00000 has no render record with a screen size: pass its "
        "synth_samples.jsonl with --records"]
