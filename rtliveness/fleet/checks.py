"""Checks the driver makes before handing work to Ray: file paths made absolute, missing files
reported at once, a cluster address that does not answer refused within seconds."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

__all__ = ["absolute_source", "check_source", "probe_address"]


def absolute_source(spec: str) -> str:
    """File sources as absolute paths (workers may run elsewhere); cameras and URLs unchanged."""
    s = spec.strip()
    if s.isdigit() or "://" in s:
        return s
    return str(Path(s).expanduser().resolve())


def probe_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line within ``timeout_s`` when a ``HOST:PORT`` / ``ray://HOST:PORT`` cluster
    address does not accept connections (Ray itself retries for minutes)."""
    from ..runtime.sources import tcp_probe

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"invalid --address {address!r}: use auto, ray://HOST:PORT or HOST:PORT")
    problem = tcp_probe(host.strip("[]"), int(port), timeout_s)
    if problem is not None:
        raise ConfigError(f"cannot join the Ray cluster at {address}: {problem}; start it with "
                          "'ray start --head' or omit --address")


def check_source(spec: str) -> str | None:
    """A missing file is reported at once; cameras and URLs are checked by the worker that opens them."""
    if spec.isdigit() or "://" in spec:
        return None
    if not Path(spec).is_file():
        return f"file not found: {spec}; check the path"
    return None
