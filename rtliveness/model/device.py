"""Device resolution, in one place: ``auto | cpu | cuda | cuda:N`` → a concrete device string.

Devices are chosen only at the edges (``from_config``, the CLI, training); components receive the
resolved string and never call ``.cuda()`` on their own.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..config import parse_device
from ..errors import ConfigError

__all__ = ["resolve_device", "torch_threads", "keep_torch_threads"]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available else ``cpu``; ``cuda[:N]`` is checked to exist."""
    import torch

    device = parse_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} does not exist (this machine has {torch.cuda.device_count()} CUDA devices)")
    return device


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (None: leave it as is); PyTorch's thread
    count before the block is restored afterwards either way (nothing is set when it is already
    ``n``). The one thread-count context manager of the project (the benchmark, ``synth`` and the
    bfloat16 scorer use it)."""
    import torch

    prev = torch.get_num_threads()
    change = n is not None and int(n) != prev
    if change:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(prev)


def keep_torch_threads(n: int) -> None:
    """Make PyTorch's thread count in the calling thread ``n`` if it is not (cheap when it is).

    PyTorch's count is per thread, but a thread takes the process default when it first runs
    PyTorch, and that default follows every ``set_num_threads`` call (e.g. of a scorer that widens
    its own calls): a pipeline calls this on each frame so its thread keeps the count it was given."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
