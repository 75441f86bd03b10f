"""Checks the driver makes before handing work to Ray: file paths made absolute, missing files
reported at once, a cluster address that does not answer refused within seconds."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from pathlib import Path

from ..errors import ConfigError, SourceOpenError
from .naming import source_kind

__all__ = ["absolute_source", "check_source", "check_options", "check_out_dir", "epoch_video_clash", "grpc_probe", "output_clash", "probe_address"]


def absolute_source(spec: str) -> str:
    """File sources as absolute paths (workers may run elsewhere); cameras and URLs unchanged.
    Links are kept as given (``os.path.abspath``), so a source is named after the path the user
    wrote, not after its target."""
    s = spec.strip()
    if source_kind(s) != "file":
        return s
    return os.path.abspath(os.path.expanduser(s))


def output_clash(spec: str, outputs: list[Path]) -> str | None:
    """A file source that one of the fleet's outputs would overwrite (seen through links), as
    ``run`` refuses ``--out`` naming its source."""
    if source_kind(spec) != "file" or not Path(spec).exists():
        return None
    src = Path(spec).resolve()
    for out in outputs:
        if Path(out).resolve() == src:
            return (f"{spec} would be overwritten by the fleet's output {out}; choose an --out-dir "
                    "that does not hold the sources")
    return None


_EPOCH_VIDEO = re.compile(r"(.+)\.epoch\d+\.mp4")


def epoch_video_clash(spec: str, out_dir: Path, names) -> str | None:
    """A file source in ``out_dir`` named as a restart's video of one of the streams ``names``
    (``NAME.epochN.mp4``, written only after a worker restart, so not among the planned outputs)."""
    if source_kind(spec) != "file" or not Path(spec).exists():
        return None
    out, names = Path(out_dir).resolve(), set(names)
    for src in (Path(spec).resolve(), Path(os.path.abspath(spec))):  # the file, and a link to it in --out-dir
        match = _EPOCH_VIDEO.fullmatch(src.name)
        if match is not None and src.parent.resolve() == out and match.group(1) in names:
            return (f"{spec} would be overwritten by the video of stream {match.group(1)!r} after a worker restart; "
                    "choose an --out-dir that does not hold the sources")
    return None


def sources_file_clash(sources_file: Path | None, out_dir: Path) -> str | None:
    """A ``--sources-file`` the fleet's own outputs could overwrite: in ``--out-dir`` and named as
    they are (``fleet.json``, ``*.jsonl``, ``*.mp4``). Its lines then became a summary, and the
    fleet read its own output as a source."""
    if sources_file is None:
        return None
    path = Path(os.path.abspath(sources_file))
    for where in {path, path.resolve()}:  # the file, and what a link in --out-dir points to
        if where.parent == Path(out_dir).resolve() or where.parent == Path(os.path.abspath(out_dir)):
            if where.name == "fleet.json" or where.suffix.lower() in (".jsonl", ".mp4"):
                return (f"--sources-file {sources_file} is in --out-dir and named as the fleet's outputs are "
                        "(fleet.json, NAME.jsonl, NAME.mp4), so an output could overwrite it; name it e.g. "
                        "sources.txt, or keep it outside --out-dir")
    return None


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and prove it writable before Ray starts: one line, not an OS error later."""
    try:
        out_dir.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".rtliveness-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write in --out-dir {out_dir}: {exc.strerror or exc}; check the path and its permissions") from None


def check_options(config) -> None:
    """What ``run`` checks before it opens anything — weights, security level, detector, backend,
    device — checked on the driver before any Ray actor exists, so a typo is one line at once
    (a :class:`WeightsError` or :class:`ConfigError`) instead of an actor's traceback."""
    from ..model.backends import backend_names
    from ..model.checkpoint import load_checkpoint
    from ..model.device import parse_device, resolve_device
    from ..runtime.detect import detector_names

    if config.detector.kind not in detector_names():
        raise ConfigError(f"unknown detector {config.detector.kind!r}: use {' or '.join(detector_names())}")
    if config.backend != "auto" and config.backend not in backend_names():
        raise ConfigError(f"unknown backend {config.backend!r}: use auto, {', '.join(backend_names())}")
    device = parse_device(config.device)
    if config.address is None:  # a local cluster: this machine's devices are the cluster's
        resolve_device(device)
    loaded = load_checkpoint(config.weights)
    loaded.meta.operating_threshold(config.threshold, config.security)
    if config.backend == "onnx-int8":  # an encoder made from exactly these weights, next to them
        from ..model.checkpoint import sha256_file
        from ..model.quantize import require_int8_encoder

        require_int8_encoder(loaded.path, loaded.sha256 or sha256_file(loaded.path))


def probe_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line within ``timeout_s`` when a ``HOST:PORT`` / ``ray://HOST:PORT`` cluster
    address does not accept connections (Ray itself retries for minutes)."""
    from ..runtime.sources.network import tcp_probe

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"invalid --address {address!r}: use auto, ray://HOST:PORT or HOST:PORT")
    problem = tcp_probe(host.strip("[]"), int(port), timeout_s) or grpc_probe(host.strip("[]"), int(port), timeout_s)
    if problem is not None:
        raise ConfigError(f"cannot join the Ray cluster at {address}: {problem}; start it with "
                          "'ray start --head' or omit --address")


#: an HTTP/2 client's opening: the connection preface and an empty SETTINGS frame
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def grpc_probe(host: str, port: int, timeout_s: float = 5.0) -> str | None:
    """None when ``host:port`` speaks gRPC, as Ray's GCS and Ray Client servers do (they answer
    an HTTP/2 preface with a SETTINGS frame at once), else why not. Something else listening
    there (a web server, a port that never answers) made Ray retry for minutes."""
    deadline = time.monotonic() + timeout_s
    head = b""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(_H2_PREFACE)
            while len(head) < 9:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    break
                head += chunk
    except (TimeoutError, socket.timeout):
        return f"the port accepts connections but does not answer as Ray does within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if len(head) == 9 and head[3] == 4:  # a SETTINGS frame
        return None
    return "the port answers, but not as a Ray cluster (no gRPC handshake)"


def check_source(spec: str) -> str | None:
    """A missing file (or a negative camera index) is reported at once; cameras and URLs are
    checked by the worker that opens them."""
    from ..runtime.sources.files import check_file
    from ..runtime.sources.spec import parse_source

    try:
        kind, _ = parse_source(spec)
    except ConfigError as e:
        return str(e)
    if kind != "file":
        return None
    try:
        check_file(Path(spec))
    except SourceOpenError as e:
        return str(e)
    return None
