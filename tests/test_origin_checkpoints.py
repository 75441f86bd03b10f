"""Loading weights the way users have them: origin checkpoints saved whole or with numpy/argparse
extras (still weights-only: no code of the file runs), damaged rtliveness checkpoints, TorchScript
archives, nested prefixes, unreadable files; the backend ``auto`` picks without the ``onnx``
package; a damaged ONNX cache entry with a stray file; a mistyped ``--security``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rtliveness.model.checkpoint as ck
from rtliveness.config import PipelineConfig
from rtliveness.errors import ConfigError, WeightsError
from rtliveness.model import backends
from rtliveness.model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
from rtliveness.model.spoofmodel import SpoofModel
from test_cli import rtl

# what the origin training script looks like: its own class in __main__, torchvision's resnet18
ORIGIN_SCRIPT = '''
import sys, argparse
import numpy as np, torch, torch.nn as nn
from torchvision.models import resnet18
torch.manual_seed(0)

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = resnet18(weights=None); self.encoder.fc = nn.Identity()
        self.conv1d = nn.Conv1d(5, 1, kernel_size=3, stride=2, padding=1)
        self.fc = nn.Linear(256, 1)
    def __setstate__(self, state):  # must never run when rtliveness reads the file
        print("CODE RAN", flush=True)
        super().__setstate__(state)

out = sys.argv[1]
m = Model().eval()
torch.save(m.state_dict(), f"{out}/bare.pth")
torch.save(m, f"{out}/whole.pth")
torch.save(nn.DataParallel(m), f"{out}/whole_dp.pth")
torch.save({"model": m, "epoch": 4}, f"{out}/dict_whole.pth")
torch.save({"model_state_dict": m.state_dict(), "best_acc": np.float64(0.93), "epoch": 4}, f"{out}/numpy_extra.pth")
torch.save({"model_state_dict": m.state_dict(), "args": argparse.Namespace(lr=1e-3), "epoch": 4},
           f"{out}/namespace_extra.pth")
'''


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """Origin-recipe checkpoints written by a script of their own (its class in ``__main__``)."""
    folder = tmp_path_factory.mktemp("origin")
    script = folder / "train_origin.py"
    script.write_text(ORIGIN_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return folder


def _same_as_bare(loaded, origin: Path) -> None:
    bare = torch.load(origin / "bare.pth", weights_only=True)
    got = loaded.model.state_dict()
    assert set(got) == set(bare)
    for k, v in bare.items():
        assert torch.equal(got[k], v.to(got[k].dtype)), k


# 1 ------------------------------------------------------------------------------------------

@pytest.fixture
def hide_onnx(tmp_path) -> dict:
    """The environment of a process in which onnxruntime is installed but the onnx package is not."""
    pytest.importorskip("onnxruntime")
    hide = tmp_path / "hide_onnx"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text('import sys; sys.modules["onnx"] = None\n')
    env = dict(os.environ, RTLIVENESS_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(hide), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_run_with_onnxruntime_but_no_onnx_package_runs_on_torch(hide_onnx, face_video, tiny_weights):
    r = rtl("run", face_video, "--weights", tiny_weights, "--device", "cpu", "--detector", "haar",
            "--max-frames", "6", "--no-show", env=hide_onnx)
    assert r.returncode == 0, r.stderr
    assert "onnx package" not in r.stderr and "6 frames in" in r.stderr, r.stderr


def test_auto_backend_needs_onnx_and_a_working_onnxruntime(monkeypatch, tmp_path, tiny_weights):
    from rtliveness import LivenessPipeline

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    assert backends.choose_backend("auto", "cpu") == "onnx"
    monkeypatch.setenv("RTLIVENESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "onnx", None)  # onnxruntime pulled in by another package, no onnx
    assert backends.choose_backend("auto", "cpu") == "torch"
    with LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, device="cpu")) as pipe:
        assert type(pipe.scorer).__name__ == "TorchScorer"
    monkeypatch.delitem(sys.modules, "onnx")
    broken = tmp_path / "broken"
    (broken / "onnxruntime").mkdir(parents=True)
    (broken / "onnxruntime" / "__init__.py").write_text('raise ImportError("libonnxruntime.so: cannot open")\n')
    monkeypatch.syspath_prepend(str(broken))
    for name in [n for n in sys.modules if n == "onnxruntime" or n.startswith("onnxruntime.")]:
        monkeypatch.delitem(sys.modules, name)
    assert backends.choose_backend("auto", "cpu") == "torch"


# 3 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["numpy_extra", "namespace_extra"])
def test_origin_checkpoint_with_numpy_or_argparse_extras_loads(origin, name, capsys):
    loaded = load_checkpoint(origin / f"{name}.pth")
    _same_as_bare(loaded, origin)
    assert loaded.meta == ModelMeta()


def test_harmless_extras_written_here_load_bit_identical(tmp_path):
    m = SpoofModel().eval()
    sd = m.state_dict()
    path = tmp_path / "o.pth"
    torch.save({"model_state_dict": sd, "best_acc": np.float64(0.93), "f1": np.float32(0.5),
                "hist": np.arange(3), "args": argparse.Namespace(lr=1e-3, dtype=np.dtype("float16"))}, path)
    got = load_checkpoint(path).model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in sd.items())


# 2 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["whole", "whole_dp", "dict_whole"])
def test_origin_model_saved_whole_loads_without_running_its_code(origin, name, capsys):
    loaded = load_checkpoint(origin / f"{name}.pth")
    _same_as_bare(loaded, origin)
    assert "CODE RAN" not in capsys.readouterr().out


def test_run_takes_an_origin_model_saved_whole(origin, face_video, tmp_path):
    r = rtl("run", face_video, "--weights", origin / "whole_dp.pth", "--backend", "torch", "--device", "cpu",
            "--detector", "haar", "--max-frames", "6", "--no-show",
            env=dict(os.environ, RTLIVENESS_CACHE=str(tmp_path / "cache")))
    assert r.returncode == 0, r.stderr
    assert "CODE RAN" not in r.stdout + r.stderr and "6 frames in" in r.stderr, r.stderr


class Boom:  # a class of the file's own, called as a function (REDUCE) by the pickle
    def __init__(self, *args):
        print("CODE RAN")


class _CallsBoom:
    def __reduce__(self):
        return (Boom, ("x",))


class _CallsPrint:
    def __reduce__(self):
        return (print, ("CODE RAN",))


@pytest.mark.parametrize("evil", [_CallsBoom, _CallsPrint])
def test_a_pickle_that_calls_something_is_still_refused(tmp_path, capsys, evil):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": SpoofModel().state_dict(), "x": evil()}, path)
    with pytest.raises(WeightsError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert msg.startswith(f"weights file {path} contains code or objects that are not plain tensors ("), msg
    assert "refused" in msg and f"torch.load('{path}', weights_only=False).state_dict(), 'model_sd.pth')" in msg
    assert "CODE RAN" not in capsys.readouterr().out


class _BuildsEmbedding:  # what a genuine torch.save(model) never holds: a module class called (REDUCE)
    def __reduce__(self):
        return (torch.nn.Embedding, (10, 4))


def test_a_pickle_that_calls_a_torch_module_class_runs_no_constructor(tmp_path, monkeypatch):
    """torch.nn classes were allow-listed as themselves: a crafted file ran their constructor on
    its own arguments (Embedding(10**7, 1000) asks for 40 GB). Every module class is a stand-in."""
    calls = []
    real = torch.nn.Embedding.__init__
    monkeypatch.setattr(torch.nn.Embedding, "__init__", lambda self, *a, **kw: calls.append(a) or real(self, *a, **kw))
    path = tmp_path / "ctor.pt"
    torch.save({"state_dict": SpoofModel().state_dict(), "x": _BuildsEmbedding()}, path)
    with pytest.raises(WeightsError, match="contains code or objects that are not plain tensors"):
        load_checkpoint(path)
    assert calls == []


def test_a_whole_model_with_odd_bookkeeping_still_gives_its_tensors(tmp_path):
    """A pickled module whose _non_persistent_buffers_set is not a set raised a bare RuntimeError."""
    m = SpoofModel()
    m.__dict__["_non_persistent_buffers_set"] = torch.ones(2)
    path = tmp_path / "odd.pt"
    torch.save(m, path)
    got = load_checkpoint(path).model.state_dict()
    assert got.keys() == m.state_dict().keys()
    assert all(torch.equal(got[k], v) for k, v in m.state_dict().items())


# 6 ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def int8_ckpt(tmp_path_factory) -> dict:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("int8") / "q.pt"
    save_checkpoint(path, SpoofModel(), ModelMeta(input_size=32), storage="int8")
    return torch.load(path, weights_only=True)


def test_int8_weights_without_their_scales_are_refused(int8_ckpt, tmp_path, face_video):
    obj = dict(int8_ckpt)
    del obj["int8_scales"]
    path = tmp_path / "noscales.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError, match=r"holds integer tensors for float weights \(\d+, e\.g\. encoder\.conv1\.weight: "
                                           r"torch\.int8\), e\.g\. int8 weights without their scales; the file is damaged"):
        load_checkpoint(path)
    r = rtl("run", face_video, "--weights", path, "--backend", "torch", "--device", "cpu", "--detector", "haar",
            "--max-frames", "6", "--no-show", env=dict(os.environ, RTLIVENESS_CACHE=str(tmp_path / "cache")))
    assert r.returncode == WeightsError.exit_code and "holds integer tensors" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_int8_scales_of_the_wrong_shape_are_refused(int8_ckpt, tmp_path):
    obj = dict(int8_ckpt)
    obj["int8_scales"] = dict(obj["int8_scales"], **{"encoder.conv1.weight": torch.ones(3)})
    path = tmp_path / "badscale.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError) as e:
        load_checkpoint(path)
    assert str(e.value) == (f"{path}: int8 scales of encoder.conv1.weight ((3,)) do not fit its weights "
                            "((64, 3, 7, 7)); the file is damaged")


@pytest.mark.parametrize("value, words", [(5, "class_names must be a list, not int"),
                                          ([1, 2], "class_names must be a list of strings")])
def test_class_names_not_a_list_of_names_are_refused(int8_ckpt, tmp_path, value, words):
    obj = dict(int8_ckpt)
    obj["meta"] = dict(obj["meta"], class_names=value)
    path = tmp_path / "classes.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError) as e:
        load_checkpoint(path)
    assert str(e.value) == f"checkpoint meta is invalid: {words}"


# 9 ------------------------------------------------------------------------------------------

def _denied(path, *a, **k):
    raise PermissionError(13, "Permission denied", str(path))


def test_an_unreadable_weights_file_says_permission_denied(tiny_weights, tmp_path, monkeypatch):
    """Simulated (tests may run as root, for whom chmod 000 does not stop a read)."""
    words = "permission denied; make it readable (chmod) or copy it somewhere readable"
    monkeypatch.setattr(ck, "sha256_file", _denied)  # the sidecar check reads it first
    with pytest.raises(WeightsError) as e:
        load_checkpoint(tiny_weights)
    assert str(e.value) == f"cannot read weights file {tiny_weights}: {words}"
    monkeypatch.undo()
    plain = tmp_path / "plain.pt"
    plain.write_bytes(tiny_weights.read_bytes())
    monkeypatch.setattr(torch, "load", _denied)
    with pytest.raises(WeightsError) as e:
        load_checkpoint(plain)
    assert str(e.value) == f"cannot read weights file {plain}: {words}"


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() == 0, reason="root reads a chmod 000 file")
def test_an_unreadable_weights_file_exits_with_the_weights_code(tiny_weights, tmp_path, face_video):
    path = tmp_path / "w.pt"
    path.write_bytes(tiny_weights.read_bytes())
    (tmp_path / "w.pt.sha256").write_text(tiny_weights.with_name("tiny.pt.sha256").read_text())
    path.chmod(0)
    r = rtl("run", face_video, "--weights", path, "--backend", "torch", "--no-show", "--max-frames", "2")
    assert r.returncode == WeightsError.exit_code and "permission denied" in r.stderr, r.stderr


# 8 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod.", "_orig_mod.module.", "module.module."])
def test_wrapper_prefixes_are_stripped_in_any_nesting(tmp_path, prefix):
    sd = SpoofModel().state_dict()
    path = tmp_path / "p.pth"
    torch.save({prefix + k: v for k, v in sd.items()}, path)
    got = load_checkpoint(path).model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in sd.items())


def test_the_architecture_error_names_missing_and_unexpected_keys_apart(tmp_path):
    sd = SpoofModel().state_dict()
    sd["head.bias"] = sd.pop("fc.bias")
    path = tmp_path / "renamed.pth"
    torch.save(sd, path)
    with pytest.raises(WeightsError) as e:
        load_checkpoint(path)
    assert str(e.value) == (f"weights file {path} does not fit the SpoofModel architecture (1 missing keys (e.g. fc.bias), "
                            "1 unexpected keys (e.g. head.bias)); it was trained for a different model")


# 7 ------------------------------------------------------------------------------------------

def test_a_torchscript_archive_is_named_in_one_line(tmp_path, recwarn):
    path = tmp_path / "scripted.pt"
    with pytest.warns(Warning):  # torch's own deprecation notes of jit.script/jit.save
        torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(path))
    recwarn.clear()
    with pytest.raises(WeightsError) as e:
        load_checkpoint(path)
    assert str(e.value) == (f"weights file {path} is a TorchScript archive (torch.jit.save), not a checkpoint; save the "
                            "model's weights instead: torch.save(model.state_dict(), 'model.pth')")
    assert not [w for w in recwarn if "TorchScript" in str(w.message)]


# 5 ------------------------------------------------------------------------------------------

def test_a_mistyped_security_level_is_refused_even_with_a_threshold():
    meta = ModelMeta(security_levels=(("strict", 0.2),))
    with pytest.raises(ConfigError, match="unknown security level 'bogus'; this model has: strict"):
        meta.operating_threshold(0.3, "bogus")
    assert meta.operating_threshold(0.3, "strict") == 0.3
    assert meta.operating_threshold(None, "strict") == 0.2


def test_run_refuses_a_mistyped_security_level_with_a_threshold(tiny_weights, face_video, tmp_path):
    r = rtl("run", face_video, "--weights", tiny_weights, "--security", "bogus", "--threshold", "0.3",
            "--backend", "torch", "--device", "cpu", "--detector", "haar", "--max-frames", "6", "--no-show",
            env=dict(os.environ, RTLIVENESS_CACHE=str(tmp_path / "cache")))
    assert r.returncode == ConfigError.exit_code, r.stderr
    assert "unknown security level 'bogus'" in r.stderr and "Traceback" not in r.stderr, r.stderr


# 4 ------------------------------------------------------------------------------------------

def test_a_damaged_cache_entry_with_a_stray_file_is_made_again(tiny_weights, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from rtliveness.model.export import _intact, cached_export, read_export

    cache = tmp_path / "cache"
    entry = cached_export(tiny_weights, cache_dir=cache)
    (entry / ".DS_Store").write_bytes(b"\0")
    with open(entry / "encoder.onnx", "r+b") as fh:
        fh.truncate(1000)
    again = cached_export(tiny_weights, cache_dir=cache)
    assert again == entry
    folder, info = read_export(again)
    assert _intact(folder, info) and not (again / ".DS_Store").exists()
    assert sorted(p.name for p in cache.iterdir()) == [entry.name]  # no temporary folders left
