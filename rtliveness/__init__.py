"""rtliveness — real-time face liveness (presentation attack detection) on video streams.

Typical embedding::

    from rtliveness import LivenessPipeline, PipelineConfig, open_source

    with open_source(0) as source, LivenessPipeline.from_config(PipelineConfig()) as pipeline:
        for result in pipeline.run(source):
            for face in result.faces:
                print(face.track_id, face.label, face.p_spoof)

The names below are imported lazily, on first use: ``import rtliveness`` (and the CLI's
``--help``) does not load torch or OpenCV.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version
from typing import TYPE_CHECKING, Any

try:
    __version__ = _version("rtliveness")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: public name → module that defines it
_EXPORTS: dict[str, str] = {
    "LivenessPipeline": "rtliveness.runtime.pipeline",
    "PipelineConfig": "rtliveness.config",
    "DetectorConfig": "rtliveness.config",
    "TrackerConfig": "rtliveness.config",
    "StreamConfig": "rtliveness.config",
    "open_source": "rtliveness.runtime.sources",
    "FileSource": "rtliveness.runtime.sources",
    "StillSource": "rtliveness.runtime.sources",
    "LiveSource": "rtliveness.runtime.sources",
    "ArraySource": "rtliveness.runtime.sources",
    "process_source": "rtliveness.runtime.app",
    "RunReport": "rtliveness.runtime.app",
    "Sink": "rtliveness.runtime.sinks",
    "JsonlSink": "rtliveness.runtime.sinks",
    "VideoSink": "rtliveness.runtime.sinks",
    "WindowSink": "rtliveness.runtime.sinks",
    "MemorySink": "rtliveness.runtime.sinks",
    "decide": "rtliveness.runtime.decision",
    "Decision": "rtliveness.runtime.decision",
    "DecisionRule": "rtliveness.runtime.decision",
    "decision_bounds": "rtliveness.runtime.decision",
    "Frame": "rtliveness.types",
    "FaceBox": "rtliveness.types",
    "Verdict": "rtliveness.types",
    "FrameResult": "rtliveness.types",
    "TrackSummary": "rtliveness.types",
    "SpoofModel": "rtliveness.model.spoofmodel",
    "ModelMeta": "rtliveness.model.checkpoint",
    "load_checkpoint": "rtliveness.model.checkpoint",
    "save_checkpoint": "rtliveness.model.checkpoint",
    "register_backend": "rtliveness.model.backends",
    "register_detector": "rtliveness.runtime.detect",
    "RtlivenessError": "rtliveness.errors",
    "ConfigError": "rtliveness.errors",
    "SourceError": "rtliveness.errors",
    "SourceOpenError": "rtliveness.errors",
    "StreamLostError": "rtliveness.errors",
    "WeightsError": "rtliveness.errors",
    "FrameError": "rtliveness.errors",
    "DataError": "rtliveness.errors",
    "ClosedError": "rtliveness.errors",
    "OutputError": "rtliveness.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rtliveness' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # next lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # static analysers see the real names
    from .config import DetectorConfig, PipelineConfig, StreamConfig, TrackerConfig
    from .errors import (ClosedError, ConfigError, DataError, FrameError, OutputError, RtlivenessError, SourceError,
                         SourceOpenError, StreamLostError, WeightsError)
    from .model.backends import register_backend
    from .model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
    from .model.spoofmodel import SpoofModel
    from .runtime.app import RunReport, process_source
    from .runtime.decision import Decision, DecisionRule, decide, decision_bounds
    from .runtime.detect import register_detector
    from .runtime.pipeline import LivenessPipeline
    from .runtime.sinks import JsonlSink, MemorySink, Sink, VideoSink, WindowSink
    from .runtime.sources import ArraySource, FileSource, LiveSource, StillSource, open_source
    from .types import FaceBox, Frame, FrameResult, TrackSummary, Verdict
