"""dlib's serialisation primitives: integers, bools, ``float_details`` floats, strings, tensors
and alias shapes (:class:`ByteReader` / :class:`ByteWriter`), the tensor type and the format
error. The byte layout is described in :mod:`.dlib_format`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "DlibFormatError",
    "DlibTensor",
    "ByteReader",
    "ByteWriter",
    "float_details",
    "FLOAT_DIGITS",
    "DOUBLE_DIGITS",
]

#: Mantissa bits dlib uses when it converts a C++ ``float`` / ``double`` to ``float_details``.
FLOAT_DIGITS = 24
DOUBLE_DIGITS = 53

_EXP_INF, _EXP_NINF, _EXP_NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The bytes are not a dlib serialisation this module understands."""


def float_details(value: float, digits: int) -> tuple[int, int]:
    """dlib's ``(mantissa, exponent)`` for ``value`` converted from a C++ type with ``digits``
    mantissa bits (24 for ``float``, 53 for ``double``)."""
    if math.isnan(value):
        return 0, _EXP_NAN
    if math.isinf(value):
        return 0, _EXP_INF if value > 0 else _EXP_NINF
    frac, exp = math.frexp(value)
    mantissa = int(frac * (1 << digits))  # exact: frac has at most `digits` significant bits
    exponent = exp - digits
    for _ in range(8):
        if mantissa & 0xFF:
            break
        mantissa >>= 8  # arithmetic shift: exact because the low byte is zero
        exponent += 8
    return mantissa, exponent


def _float_from_details(mantissa: int, exponent: int) -> float:
    if exponent == _EXP_INF:
        return math.inf
    if exponent == _EXP_NINF:
        return -math.inf
    if exponent == _EXP_NAN:
        return math.nan
    return math.ldexp(float(mantissa), exponent)


class ByteReader:
    """Sequential reader of dlib primitives over an in-memory buffer."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = memoryview(data).cast("B")
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DlibFormatError(f"truncated data: {what} needs {n} bytes at offset {self.pos}, "
                                  f"{self.remaining()} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def peek_byte(self) -> int:
        if self.pos >= len(self.data):
            raise DlibFormatError(f"truncated data at offset {self.pos}")
        return int(self.data[self.pos])

    def read_int(self) -> int:
        start = self.pos
        ctrl = int(self._take(1, "integer control byte")[0])
        if ctrl & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{ctrl:02x} at offset {start}")
        size = ctrl & 0x0F
        if size > 8:
            raise DlibFormatError(f"integer of {size} bytes at offset {start}")
        value = int.from_bytes(bytes(self._take(size, "integer")), "little")
        return -value if ctrl & 0x80 else value

    def peek_int(self) -> int:
        pos = self.pos
        try:
            return self.read_int()
        finally:
            self.pos = pos

    def read_bool(self) -> bool:
        start = self.pos
        ch = int(self._take(1, "bool")[0])
        if ch == ord("1"):
            return True
        if ch == ord("0"):
            return False
        raise DlibFormatError(f"bad bool byte 0x{ch:02x} at offset {start}")

    def read_float(self) -> float:
        start = self.pos
        if self.peek_byte() & 0x70:
            raise DlibFormatError(f"ASCII (pre-2013) float encoding at offset {start} is not supported")
        mantissa = self.read_int()
        exponent = self.read_int()
        return _float_from_details(mantissa, exponent)

    def read_string(self) -> str:
        n = self.read_int()
        return bytes(self._take(n, "string")).decode("utf-8")

    def read_tensor(self) -> DlibTensor:
        start = self.pos
        version = self.read_int()
        if version not in (1, 2):
            raise DlibFormatError(f"unknown tensor version {version} at offset {start}")
        shape = tuple(self.read_int() for _ in range(4))
        if min(shape) < 0:
            raise DlibFormatError(f"negative tensor shape {shape} at offset {start}")
        count = int(np.prod(shape, dtype=np.int64))
        if version == 2:
            raw = self._take(4 * count, "tensor data")
            data = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        else:
            data = np.array([self.read_float() for _ in range(count)], np.float32).reshape(shape)
        return DlibTensor(data, version)

    def read_alias(self) -> tuple[int, int, int, int]:
        start = self.pos
        version = self.read_int()
        if version != 1:
            raise DlibFormatError(f"unknown alias_tensor version {version} at offset {start}")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return (n, k, nr, nc)


class ByteWriter:
    """Appends dlib primitives to a ``bytearray``."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def write_int(self, value: int) -> None:
        value = int(value)
        mag = -value if value < 0 else value
        body = mag.to_bytes(max(1, (mag.bit_length() + 7) // 8), "little")
        if len(body) > 8:
            raise DlibFormatError(f"integer {value} does not fit in 8 bytes")
        self.buf.append(len(body) | (0x80 if value < 0 else 0))
        self.buf += body

    def write_bool(self, value: bool) -> None:
        self.buf += b"1" if value else b"0"

    def write_float(self, value: float, digits: int = FLOAT_DIGITS) -> None:
        mantissa, exponent = float_details(float(value), digits)
        self.write_int(mantissa)
        self.write_int(exponent)

    def write_string(self, value: str) -> None:
        raw = value.encode("utf-8")
        self.write_int(len(raw))
        self.buf += raw

    def write_tensor(self, tensor: DlibTensor) -> None:
        self.write_int(tensor.version)
        for d in tensor.data.shape:
            self.write_int(d)
        if tensor.version == 2:
            self.buf += np.ascontiguousarray(tensor.data, dtype="<f4").tobytes()
        elif tensor.version == 1:
            for v in tensor.data.reshape(-1).tolist():
                self.write_float(v, FLOAT_DIGITS)
        else:
            raise DlibFormatError(f"unknown tensor version {tensor.version}")

    def write_alias(self, shape: Sequence[int]) -> None:
        if len(shape) != 4:
            raise DlibFormatError(f"alias_tensor shape must have 4 dims, got {tuple(shape)}")
        self.write_int(1)
        for d in shape:
            self.write_int(d)


@dataclass
class DlibTensor:
    """A ``resizable_tensor``: float32 data shaped ``(num_samples, k, nr, nc)`` and the
    serialisation version it was (or will be) written with (2 = raw float32, 1 = dlib floats)."""

    data: np.ndarray
    version: int = 2

    def __post_init__(self) -> None:
        arr = np.asarray(self.data, dtype=np.float32)
        if arr.ndim != 4:
            raise DlibFormatError(f"a dlib tensor has 4 dims, got shape {arr.shape}")
        self.data = arr

    @classmethod
    def empty(cls, version: int = 2) -> DlibTensor:
        return cls(np.zeros((0, 0, 0, 0), np.float32), version)

    @classmethod
    def column(cls, values: np.ndarray, version: int = 2) -> DlibTensor:
        """A flat parameter vector stored dlib-style as an ``(n, 1, 1, 1)`` tensor."""
        flat = np.asarray(values, np.float32).reshape(-1)
        return cls(flat.reshape(-1, 1, 1, 1), version)

    @property
    def size(self) -> int:
        return int(self.data.size)

    def flat(self) -> np.ndarray:
        return self.data.reshape(-1)
