"""The bundled weights are found without flags, in the source tree and inside a built wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rtliveness.model.checkpoint import default_weights_path, load_checkpoint, sha256_file

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_weights_load_with_checksum():
    path = default_weights_path()
    assert path == ROOT / "weights" / "spoofmodel.pt" or path.parent.name == "weights"
    loaded = load_checkpoint()  # no flags: the bundled file, sha256 checked
    sidecar = (path.parent / (path.name + ".sha256")).read_text().split()[0]
    assert loaded.sha256 == sidecar == sha256_file(path)
    assert loaded.meta.window == 5 and 0 < loaded.meta.threshold < 1
    assert loaded.meta.input_size in (112, 224) and loaded.meta.crop_scale > 1.0


@pytest.mark.slow
def test_wheel_ships_the_weights(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("rtliveness-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rtliveness/weights/spoofmodel.pt" in names
    assert "rtliveness/weights/spoofmodel.pt.sha256" in names
    assert "rtliveness/py.typed" in names
    # every sub-package of the new layout is in the wheel, not only what the editable install finds
    for module in ("rtliveness/cli/__init__.py", "rtliveness/runtime/pipeline.py", "rtliveness/runtime/sinks.py",
                   "rtliveness/model/backends.py", "rtliveness/model/onnx.py", "rtliveness/training/metrics.py",
                   "rtliveness/training/synth/__init__.py", "rtliveness/training/synth/render.py"):
        assert module in names, module
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rtliveness").rglob("*.py")}
    assert source <= set(names), sorted(source - set(names))


@pytest.mark.slow
@pytest.mark.parametrize("clip,label", [("live_webcam.mov", "live"), ("attack_printed.mp4", "spoof"),
                                        ("attack_replay.mp4", "spoof")])
def test_bundled_examples_with_bundled_weights(clip, label):
    """The quick start's promise: a new user sees both verdicts on the bundled clips."""
    from rtliveness import FileSource, LivenessPipeline, PipelineConfig, process_source

    with FileSource(ROOT / "examples" / clip) as src, LivenessPipeline.from_config(PipelineConfig(device="cpu")) as p:
        report = process_source(p, src)
    assert len(report.tracks) == 1 and report.tracks[0].windows >= 60
    assert report.tracks[0].label == label, report.tracks[0]
