"""The dead code named by the architecture issue stays gone; the public API keeps its names."""

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
