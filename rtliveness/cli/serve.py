"""``rtliveness serve``: the HTTP/WebSocket service and the kiosk page (extra ``[serve]``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import ConfigError
from ..config import LOW_LIGHT_TARGET
from .common import RESTART_DEFAULT, DeviceOpt, LowLightOpt, RestartOpt, WeightsOpt, guarded, tracker_config

__all__ = ["serve"]


@guarded
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind (default loopback only; 0.0.0.0 exposes it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    security: Annotated[Optional[str], typer.Option("--security", help="Operating point stored with the weights: convenience | balanced | strict.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Spoof threshold on p_spoof in (0, 1); overrides --security.")] = None,
    token: Annotated[Optional[str], typer.Option("--token", envvar="RTLIVENESS_TOKEN", help="Require 'Authorization: Bearer TOKEN' (HTTP) or ?token=TOKEN (WebSocket). Also read from RTLIVENESS_TOKEN.")] = None,
    max_streams: Annotated[int, typer.Option("--max-streams", help="At most N WebSocket streams and uploads at once (more get 503 / close code 1013; an upload takes its slot before its body is read).")] = 8,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest upload, in MiB (more gets 413).")] = 200.0,
    max_frame_mb: Annotated[float, typer.Option("--max-frame-mb", help="Largest WebSocket frame, in MiB (more closes the stream with code 1009); a 4K PNG camera frame is about 25 MB.")] = 32.0,
    idle_timeout: Annotated[float, typer.Option("--idle-timeout", help="Close a WebSocket stream that sends no frame, or reads none of its answers, and end an upload whose body pauses, for this many seconds (close code 1001 / 1008 / 408), so idle clients cannot hold every slot; a connection that sends no whole request head for this long is closed.")] = 60.0,
    allow_origin: Annotated[Optional[list[str]], typer.Option("--allow-origin", help="Only browser pages of these origins (scheme://host[:port], repeatable) and the service's own page may open streams and post uploads (close code 4403 / 403 for others); the listed origins get CORS headers, so their pages can read the answers. Default: any page, no CORS.")] = None,
    detector: Annotated[str, typer.Option("--detector", help="Face detector: mtcnn | haar.")] = "mtcnn",
    backend: Annotated[str, typer.Option("--backend", help="auto | torch | onnx | onnx-int8 (an int8 encoder built for the weights; the bundled weights ship none) | torch-bf16 | openvino-bf16 (bfloat16 encoder on CPUs with AMX or AVX512-BF16, through PyTorch or OpenVINO; the latter needs the 'rtliveness[openvino]' extra).")] = "auto",
    low_light_target: LowLightOpt = LOW_LIGHT_TARGET,
    restart_distance: RestartOpt = RESTART_DEFAULT,
) -> None:
    """Serve the model over HTTP and WebSocket, with a kiosk page at /."""
    import importlib.util

    from ..config import DetectorConfig
    from ..serve.config import ServeConfig

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"serve needs {' and '.join(missing)}: pip install 'rtliveness[serve]'")
    config = ServeConfig(host=host, port=port, weights=weights, device=device, security=security,
                         threshold=threshold, token=token, max_streams=max_streams, max_upload_mb=max_upload_mb,
                         max_frame_mb=max_frame_mb, detector=DetectorConfig(kind=detector), backend=backend,
                         low_light_target=low_light_target, idle_timeout_s=idle_timeout,
                         tracker=tracker_config(restart_distance),
                         allow_origins=tuple(allow_origin or ()))
    sock = _bind(host, port)
    try:
        if config.token is None and not _is_loopback(sock):  # bound, not yet listening: said before the model loads
            typer.echo(f"rtliveness: warning: serving on {host} without --token: anyone who can reach this port can "
                       "use the service; set --token or RTLIVENESS_TOKEN", err=True)
        from ..serve.app import create_app

        app = create_app(config)  # the model loads before the port answers: a TCP probe means ready
        try:
            sock.listen(128)
        except OSError as exc:  # another process bound the port with SO_REUSEADDR meanwhile and listened first
            raise _cannot_listen(host, port, exc) from None
        _run(app, sock, config)
    finally:
        sock.close()


def _cannot_listen(host: str, port: int, exc: OSError) -> ConfigError:
    return ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host")


def _is_loopback(sock) -> bool:
    """Whether the socket is bound to a loopback address (127.0.0.0/8, ::1): reachable from this machine only."""
    import ipaddress

    try:
        return ipaddress.ip_address(sock.getsockname()[0]).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int):
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)  # a busy port fails here, before the model loads; listen() once it has
    except OSError as exc:
        sock.close()
        raise _cannot_listen(host, port, exc) from None
    sock.set_inheritable(True)
    return sock


def _run(app, sock, config) -> None:
    import uvicorn

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    auth = " (token required)" if config.token else ""
    typer.echo(f"rtliveness: serving on http://{shown}:{port}{auth}: kiosk page at /, API at /v1, Ctrl+C stops",
               err=True)
    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:  # SIGTERM / Ctrl+C: analyses in progress end with 503
            app.state.engine.stopping.set()
            super().handle_exit(sig, frame)

    from ..serve.protocol import head_deadline_protocol

    # a connection that sends no complete request head within --idle-timeout is closed
    server = _Server(uvicorn.Config(app, log_level="warning", ws_max_size=config.max_frame_bytes + 4096,
                                    access_log=False, timeout_graceful_shutdown=5,
                                    http=head_deadline_protocol(config.idle_timeout_s)))
    server.run(sockets=[sock])
