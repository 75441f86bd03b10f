"""The dead code named by the architecture issue stays gone; the public API keeps its names; imports
only go down the README's layout table."""

import dataclasses

import pytest

import rtliveness
from conftest import FakeDetector, FakeScorer, fake_pipeline


def test_public_names_resolve_lazily():
    for name in ("LivenessPipeline", "PipelineConfig", "DetectorConfig", "open_source", "decide", "process_source",
                 "Sink", "MemorySink", "register_backend", "register_detector", "ModelMeta", "SpoofModel",
                 "decision_bounds", "OutputError"):
        assert name in dir(rtliveness) and getattr(rtliveness, name) is not None, name
    from rtliveness import errors

    # every error the README lists in the family is importable from the top level
    for name in errors.__all__:
        assert getattr(rtliveness, name) is getattr(errors, name), name
    with pytest.raises(AttributeError):
        rtliveness.no_such_name  # noqa: B018


def test_removed_dead_code_stays_removed():
    from rtliveness.config import DetectorConfig
    from rtliveness.model.checkpoint import ModelMeta
    from rtliveness.runtime.pipeline import LivenessPipeline, StageTimes

    assert "roi_scale" not in {f.name for f in dataclasses.fields(DetectorConfig)}
    assert "extra" not in {f.name for f in dataclasses.fields(ModelMeta)}
    assert not hasattr(StageTimes(), "per_frame_ms")
    pipe = fake_pipeline(FakeDetector([()]), FakeScorer())
    assert not [k for k in (*vars(pipe), *vars(LivenessPipeline)) if "closer" in k]


def test_train_config_has_no_max_steps_per_epoch():
    from rtliveness.training.train import TrainConfig

    assert "max_steps_per_epoch" not in {f.name for f in dataclasses.fields(TrainConfig)}


# ------------------------------------------------------------------ the layout table's import rule
#: README's layout table, top to bottom: a package may import its own modules and the rows above
#: it; the application packages (training, serve, fleet, bench) do not import each other; nothing
#: imports ``cli``. The top-level ``rtliveness/__init__`` (the lazy public API) is the exception.
LAYERS = {"top": 0, "model": 1, "runtime": 2, "training": 3, "serve": 3, "fleet": 3, "bench": 3, "cli": 4}


def _rtliveness_imports(path, package_parts):
    """The rtliveness modules a file imports, as dotted names below ``rtliveness`` ('' = the top)."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package_parts[:len(package_parts) - node.level + 1]
            if node.module:
                yield ".".join([*base, *node.module.split(".")])
            else:
                yield from (".".join([*base, a.name]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rtliveness":
            yield node.module.partition(".")[2]
        elif isinstance(node, ast.Import):
            yield from (a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "rtliveness")


def _layer_of(root, dotted):
    head = dotted.split(".")[0]
    return head if head and (root / head).is_dir() else "top"


def test_imports_only_go_down_the_layout_table():
    from pathlib import Path

    root = Path(rtliveness.__file__).parent
    assert set(LAYERS) - {"top"} == {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}, \
        "a new package needs its row in README's layout table and in LAYERS"
    wrong = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts == ["__init__"]:
            continue
        package_parts = parts[:-1]
        here = package_parts[0] if package_parts else "top"
        for target in _rtliveness_imports(path, package_parts):
            there = _layer_of(root, target)
            if there != here and (there == "cli" or LAYERS[there] >= LAYERS[here]):
                wrong.append(f"{'/'.join(parts)}.py imports rtliveness.{target}")
    assert not wrong, wrong


def test_the_import_rule_sees_a_wrong_import(tmp_path):
    from pathlib import Path

    """The rule's own check: a runtime module importing training, relatively or absolutely, is seen."""
    pkg = tmp_path / "runtime"
    pkg.mkdir()
    (pkg / "bad.py").write_text("from ..training import train\nimport rtliveness.cli.run\nfrom . import crop\n")
    found = list(_rtliveness_imports(pkg / "bad.py", ["runtime"]))
    assert found == ["training", "cli.run", "runtime.crop"]
    assert [_layer_of(Path(rtliveness.__file__).parent, t) for t in found] == ["training", "cli", "runtime"]
