"""The SpoofModel, its checkpoint format and the scorer backends (torch, ONNX Runtime).

Import the modules you need (``rtliveness.model.checkpoint`` …); this package imports nothing
heavy by itself.
"""
