"""rtliveness — real-time face liveness (presentation attack detection) on video streams.

Typical embedding::

    from rtliveness import LivenessPipeline, PipelineConfig, open_source

    with open_source(0) as source, LivenessPipeline.from_config(PipelineConfig()) as pipeline:
        for result in pipeline.run(source):
            for face in result.faces:
                print(face.track_id, face.label, face.p_spoof)
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .app import RunReport, process_source
from .config import DetectorConfig, PipelineConfig, StreamConfig, TrackerConfig
from .decision import Decision, DecisionRule, decide
from .errors import (
    ConfigError,
    DataError,
    FrameError,
    RtlivenessError,
    SourceError,
    SourceOpenError,
    StreamLostError,
    WeightsError,
)
from .model import ModelMeta, SpoofModel, load_checkpoint, save_checkpoint
from .pipeline import LivenessPipeline
from .sources import ArraySource, FileSource, LiveSource, open_source
from .types import FaceBox, Frame, FrameResult, TrackSummary, Verdict

try:
    __version__ = _version("rtliveness")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "LivenessPipeline",
    "PipelineConfig",
    "DetectorConfig",
    "TrackerConfig",
    "StreamConfig",
    "open_source",
    "FileSource",
    "LiveSource",
    "ArraySource",
    "process_source",
    "RunReport",
    "decide",
    "Decision",
    "DecisionRule",
    "Frame",
    "FaceBox",
    "Verdict",
    "FrameResult",
    "TrackSummary",
    "SpoofModel",
    "ModelMeta",
    "load_checkpoint",
    "save_checkpoint",
    "RtlivenessError",
    "ConfigError",
    "SourceError",
    "SourceOpenError",
    "StreamLostError",
    "WeightsError",
    "FrameError",
    "DataError",
]
