"""The ONNX export cache against other local users: the scoring settings come from the checkpoint,
never from a cached meta.json, and a shared temp fallback folder is used only while it is private."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import rtliveness.model.export as export  # noqa: E402
from rtliveness.config import PipelineConfig  # noqa: E402
from rtliveness.model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint, sha256_file  # noqa: E402
from rtliveness.model.export import export_onnx  # noqa: E402
from rtliveness.model.onnx import OnnxScorer  # noqa: E402
from rtliveness.model.spoofmodel import SpoofModel  # noqa: E402
from rtliveness.runtime.pipeline import LivenessPipeline  # noqa: E402

POISON = 0.999999
LEVELS = (("convenience", 0.42), ("balanced", 0.3))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch

    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("wcache") / "m48.pt"
    meta = ModelMeta(input_size=48, crop_scale=1.5, threshold=0.42, security_levels=LEVELS)
    save_checkpoint(path, SpoofModel(), meta, write_sha256=True)
    return path


@pytest.fixture(scope="module")
def poisoned(weights, tmp_path_factory):
    """A real export of ``weights`` whose meta.json says every threshold is 0.999999 (graph files,
    their recorded sizes and sha256 untouched): what another user would plant."""
    folder = export_onnx(weights, tmp_path_factory.mktemp("poisoned") / "entry")
    _poison(folder)
    return folder


def _poison(folder: Path) -> None:
    info = json.loads((folder / "meta.json").read_text())
    info["meta"]["threshold"] = POISON
    info["meta"]["security_levels"] = {name: POISON for name, _ in LEVELS}
    (folder / "meta.json").write_text(json.dumps(info))


def _entry_name(weights: Path) -> str:
    return f"{sha256_file(weights)[:32]}-opset17"


@pytest.fixture
def no_home_cache(monkeypatch, tmp_path):
    """HOME unwritable, no configured cache, the temp dir a fresh folder; fresh warning state."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("HOME", "/proc")
    monkeypatch.delenv("RTLIVENESS_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setattr(export, "_warned", set(), raising=False)
    monkeypatch.setattr(export, "_process_dir", None, raising=False)
    return tmp


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def test_a_poisoned_meta_json_in_the_cache_does_not_set_the_thresholds(weights, tmp_path):
    """meta.json of a cache entry is covered by no hash: the threshold and security levels a
    backend scores with are the checkpoint's, and the altered entry is made again."""
    cache = tmp_path / "cache"
    OnnxScorer.from_checkpoint(weights, cache_dir=cache)
    (folder,) = list(cache.iterdir())
    _poison(folder)
    sc = OnnxScorer.from_checkpoint(weights, cache_dir=cache)
    want = load_checkpoint(weights).meta
    assert sc.meta == want and sc.meta.threshold == 0.42 and dict(sc.meta.security_levels) == dict(LEVELS)
    assert ModelMeta.from_dict(sc.info["meta"]) == want
    assert ModelMeta.from_dict(json.loads((folder / "meta.json").read_text())["meta"]) == want  # made again


def test_the_pipeline_threshold_is_the_checkpoints_despite_a_poisoned_cache(weights, poisoned, tmp_path, monkeypatch):
    """The reported attack, end to end: a planted entry with every threshold at 0.999999 turned
    attacks into live. The pipeline's threshold (default and a named security level) is the checkpoint's."""
    monkeypatch.setenv("RTLIVENESS_CACHE", str(tmp_path / "cache"))
    shutil.copytree(poisoned, tmp_path / "cache" / "onnx" / _entry_name(weights))
    pipe = LivenessPipeline.from_config(PipelineConfig(weights=weights, device="cpu", backend="onnx"))
    assert isinstance(pipe.scorer, OnnxScorer)
    assert pipe.threshold == 0.42
    pipe = LivenessPipeline.from_config(PipelineConfig(weights=weights, device="cpu", backend="onnx",
                                                       security="balanced"))
    assert pipe.threshold == 0.3


@pytest.mark.parametrize("attack", ["other-owner", "world-writable", "symlink"])
def test_a_shared_temp_cache_folder_not_private_is_refused(weights, poisoned, no_home_cache, capsys, attack):
    """``HOME`` unwritable, no cache configured: ``<tmp>/rtliveness-<uid>`` was used as found.
    Another user's, a world-writable or a symlinked one is refused with one warning line; the
    export goes to a private folder of this process, and the planted entry is left alone."""
    uid = os.getuid()
    base = no_home_cache / f"rtliveness-{uid}"
    real = no_home_cache / "elsewhere" if attack == "symlink" else base
    entry = real / "onnx" / _entry_name(weights)
    shutil.copytree(poisoned, entry)
    if attack == "symlink":
        real.chmod(0o700)
        base.symlink_to(real, target_is_directory=True)
    elif attack == "world-writable":
        for d in (base, base / "onnx", entry):
            d.chmod(0o777)
    else:
        if uid != 0:
            pytest.skip("giving a folder to another user needs root")
        for d in (base, base / "onnx", entry):
            os.chown(d, 65534, 65534)
            d.chmod(0o755)  # only its owner can write it: the owner alone is the problem
    sc = OnnxScorer.from_checkpoint(weights)
    assert sc.meta.threshold == 0.42
    assert not _inside(sc.path, real) and not _inside(sc.path, base)
    assert _inside(sc.path, no_home_cache) and (sc.path.parent.stat().st_mode & 0o777) == 0o700
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rtliveness: warning: refused the shared ONNX cache folder "), err
    assert "set RTLIVENESS_CACHE" in err
    assert json.loads((entry / "meta.json").read_text())["meta"]["threshold"] == POISON  # not ours to touch
    again = OnnxScorer.from_checkpoint(weights)  # the same private folder, exported once, warned once
    assert again.path == sc.path and capsys.readouterr().err == ""


def test_the_shared_temp_cache_folder_is_made_private_and_reused(weights, no_home_cache, capsys, monkeypatch):
    base = no_home_cache / f"rtliveness-{os.getuid()}"
    sc = OnnxScorer.from_checkpoint(weights)
    assert sc.path == base / "onnx" / _entry_name(weights)
    assert (base.stat().st_mode & 0o777) == 0o700 and ((base / "onnx").stat().st_mode & 0o777) == 0o700
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(export, "export_onnx", lambda *a, **k: pytest.fail("a cache hit exported again"))
    assert OnnxScorer.from_checkpoint(weights).path == sc.path


def test_a_default_home_cache_writable_by_anyone_is_refused(weights, no_home_cache, tmp_path, capsys, monkeypatch):
    """``~/.cache`` is not configured by the user: one anybody can write (HOME=/tmp in a container)
    is refused like the temp fallback, which is used instead."""
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache").chmod(0o777)
    monkeypatch.setenv("HOME", str(home))
    sc = OnnxScorer.from_checkpoint(weights)
    assert sc.path == no_home_cache / f"rtliveness-{os.getuid()}" / "onnx" / _entry_name(weights)
    err = capsys.readouterr().err
    assert err == f"rtliveness: warning: refused the ONNX cache folder {home / '.cache'}: other users can write it " \
                  "(mode 0777); set RTLIVENESS_CACHE to a folder of your own\n"


def test_a_configured_cache_folder_that_others_can_write_is_used_with_a_warning(weights, poisoned, tmp_path, capsys,
                                                                               monkeypatch):
    """$RTLIVENESS_CACHE may be shared on purpose: it is used, with one line; the settings are
    still the checkpoint's."""
    monkeypatch.setattr(export, "_warned", set(), raising=False)
    monkeypatch.setenv("RTLIVENESS_CACHE", str(tmp_path / "shared"))
    entry = tmp_path / "shared" / "onnx" / _entry_name(weights)
    shutil.copytree(poisoned, entry)
    (tmp_path / "shared" / "onnx").chmod(0o777)
    sc = OnnxScorer.from_checkpoint(weights)
    assert sc.path == entry and sc.meta.threshold == 0.42
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the ONNX cache folder {tmp_path / 'shared' / 'onnx'} is not private" in err
    assert "other users can write it (mode 0777)" in err


def test_checkpoint_meta_reads_the_checkpoint_itself(weights, tmp_path):
    import torch

    from rtliveness.model.export import checkpoint_meta

    assert checkpoint_meta(weights) == load_checkpoint(weights).meta
    origin = tmp_path / "origin.pt"
    torch.save(SpoofModel().state_dict(), origin)  # the origin's bare state dict: the origin settings
    assert checkpoint_meta(origin) == load_checkpoint(origin).meta == ModelMeta()


def test_an_xdg_cache_home_others_can_write_is_refused_as_the_default_is(weights, tmp_path, capsys, monkeypatch):
    """Diff review: $XDG_CACHE_HOME counted as a folder set on purpose, so another user's
    rtliveness folder there was used with a warning; it is a general setting, checked as ~/.cache."""
    monkeypatch.setattr(export, "_warned", set(), raising=False)
    monkeypatch.delenv("RTLIVENESS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    shared = tmp_path / "xdg" / "rtliveness"
    (shared / "onnx").mkdir(parents=True)
    shared.chmod(0o777)
    folder = export._writable_cache_dir()
    assert tmp_path / "xdg" not in folder.parents
    err = capsys.readouterr().err
    assert f"refused the ONNX cache folder {shared}: other users can write it (mode 0777)" in err


def test_an_unwritable_rtliveness_cache_is_said_once_and_the_temp_cache_used(tmp_path, capsys, monkeypatch):
    """Review of the left-alone list: RTLIVENESS_CACHE naming a place that cannot hold a folder
    (a file here, so that root is refused too) fell back to the temporary folder without a word."""
    monkeypatch.setattr(export, "_warned", set(), raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RTLIVENESS_CACHE", str(blocker))
    folder = export._writable_cache_dir()
    assert folder == tmp_path / "tmp" / f"rtliveness-{export._uid()}" / "onnx"
    assert export._writable_cache_dir() == folder
    assert capsys.readouterr().err == (
        f"rtliveness: warning: cannot write the ONNX cache folder {blocker / 'onnx'} (RTLIVENESS_CACHE); caching in "
        f"{folder} instead: make it a writable folder, or set RTLIVENESS_CACHE to one\n")
