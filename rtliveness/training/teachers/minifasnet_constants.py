"""Fixed conventions of the Silent-Face MiniFASNet teacher: its file names, crop scales, input
size, live class and verdict threshold (see :mod:`.minifasnet`)."""

from __future__ import annotations

__all__ = [
    "V2_FILE",
    "V1SE_FILE",
    "DETECTOR_PROTOTXT",
    "DETECTOR_CAFFEMODEL",
    "V2_SCALE",
    "V1SE_SCALE",
    "INPUT_SIZE",
    "LIVE_CLASS",
    "SPOOF_THRESHOLD",
]

V2_FILE = "2.7_80x80_MiniFASNetV2.pth"
V1SE_FILE = "4_0_0_80x80_MiniFASNetV1SE.pth"
DETECTOR_PROTOTXT = "deploy.prototxt"
DETECTOR_CAFFEMODEL = "Widerface-RetinaFace.caffemodel"
V2_SCALE = 2.7
V1SE_SCALE = 4.0
INPUT_SIZE = 80
LIVE_CLASS = 1
#: the teacher's own verdict: p_spoof (1 - its live probability) at or above this is a spoof
SPOOF_THRESHOLD = 0.5
