"""The FastAPI application: health, upload analysis, the WebSocket stream, the kiosk page.

Every error a client can cause is a 4xx with ``{"error": "<one line>"}``: 400 malformed (or a CORS
preflight asking for a method or header the service does not take), 401 token, 403 a browser page of
an origin ``--allow-origin`` does not list, 408 an upload that pauses for ``idle_timeout_s``, 413 too
large, 422 not a video / bad parameter, 503 all stream slots busy (answered before the upload's body
is read: an upload takes its slot first).
With ``--allow-origin``, the listed origins get CORS headers (pages of those origins may read the
answers of ``/health`` and ``/v1/analyze``); without it, none (only the service's own page reads them).
WebSocket: close code 4401 for a missing/wrong token, 4403 for a browser page of an origin
``--allow-origin`` does not list (when given), 1013 when all slots are busy, 1009 for a frame over ``--max-frame-mb``, 1001 after
``idle_timeout_s`` without a frame, 1008 after ``idle_timeout_s`` in which the client read none of the
records it is owed; a frame that cannot be decoded gets ``{"frame", "error"}`` and the connection
stays open.
"""

from __future__ import annotations

import asyncio
import secrets
import ipaddress
import threading
import time
from importlib import resources
from typing import Callable

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketDisconnect

from ..errors import RtlivenessError, SourceError, one_line
from ..runtime.sinks import json_line
from .config import ServeConfig
from .engine import Busy, ClientGone, Engine, ShuttingDown
from .openapi import install_openapi
from .upload import ClientError, check_length, receive_upload
from .stream import Item, PendingFrames, decode_frame, dropped_record, error_record, frame_record

__all__ = ["create_app"]

WS_UNAUTHORIZED = 4401
WS_FORBIDDEN_ORIGIN = 4403
WS_TRY_AGAIN_LATER = 1013
WS_TOO_BIG = 1009
WS_GOING_AWAY = 1001
WS_POLICY_VIOLATION = 1008

#: the request headers a page of an ``--allow-origin`` origin may send (CORS)
CORS_HEADERS = ("Authorization", "Content-Type", "X-Filename")


def _token_ok(given: str, expected: str) -> bool:
    """Constant-time comparison on bytes: any text a client sends is compared, never a TypeError."""
    return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def _origin_ok(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Without ``--allow-origin`` every page may open a stream (a kiosk app served elsewhere is
    the service's first user). With it: a non-browser client (no Origin), a listed origin
    (compared as browsers send it: :func:`~rtliveness.serve.config.normalise_origin`), or a page
    this service served, reached by an IP address or ``localhost`` (the Origin's host is the Host
    the request came to). Reached by a host name, the service's own origin must be listed too: a
    Host header naming any other host is what a DNS-rebinding page sends."""
    if origin is None or not allowed:
        return True
    from .config import normalise_origin

    seen = normalise_origin(origin)
    if seen in allowed:
        return True
    if host is None:
        return False
    own = normalise_origin(f"{seen.partition('://')[0]}://{host}")
    return seen == own and _is_address(own.partition("://")[2])


def _is_address(netloc: str) -> bool:
    """Whether a ``host[:port]`` names an IP address or ``localhost``, not a DNS name."""
    hostname = netloc[1:netloc.find("]")] if netloc.startswith("[") else netloc.rsplit(":", 1)[0]
    if hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _error(status: int, reason: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def _cors_middleware():
    """Starlette's CORS middleware, with origins compared as :func:`_origin_ok` compares them
    (:func:`~rtliveness.serve.config.normalise_origin`) and a refused preflight answered as every
    other error: a 4xx with ``{"error": "<one line>"}``."""
    from starlette.middleware.cors import CORSMiddleware

    from .config import normalise_origin

    class _Cors(CORSMiddleware):
        def is_allowed_origin(self, origin: str) -> bool:
            return normalise_origin(origin) in self.allow_origins

        def preflight_response(self, request_headers):
            response = super().preflight_response(request_headers)
            if response.status_code == 200:
                return response
            refused = response.body.decode().removeprefix("Disallowed CORS ")  # e.g. "origin, headers"
            if "origin" in refused.split(", "):  # an origin not listed: 403, whatever else it asked for
                return _error(403, "origin not allowed: serve the page from this service or start it with --allow-origin")
            return _error(400, f"CORS preflight refused ({refused}): the service takes GET and POST with the headers "
                               f"{', '.join(CORS_HEADERS)}, from the --allow-origin origins")

    return _Cors


def _static(name: str) -> str:
    return resources.files("rtliveness.serve").joinpath("static", name).read_text(encoding="utf-8")


def create_app(config: ServeConfig | None = None, engine: Engine | None = None) -> FastAPI:
    """The service: loads the model now (``/health`` answers once it is loaded) unless an
    ``engine`` is given. The engine is closed when the app shuts down."""
    from contextlib import asynccontextmanager

    config = config or ServeConfig()
    engine = engine or Engine(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        try:
            yield
        finally:
            await run_in_threadpool(engine.close)

    app = FastAPI(title="rtliveness", version=_version(), lifespan=lifespan, docs_url="/docs", redoc_url=None)
    install_openapi(app)
    app.state.engine = engine
    app.state.config = config
    if config.allow_origins:  # without --allow-origin no page of another origin reads an answer
        app.add_middleware(_cors_middleware(), allow_origins=config.allow_origins, allow_methods=("GET", "POST"),
                           allow_headers=CORS_HEADERS)

    # ------------------------------------------------------------------ errors: one line, 4xx
    @app.exception_handler(ClientError)
    async def _client_error(_req: Request, exc: ClientError):
        headers = {401: {"WWW-Authenticate": "Bearer"}, 426: {"Upgrade": "websocket"}}.get(exc.status)
        return _error(exc.status, exc.reason, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"invalid {where or 'request'}: {first.get('msg', 'bad value')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception):  # a bug of ours: no traceback to the client
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    def check_token(request: Request) -> None:
        if config.token is None:
            return
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not _token_ok(value.strip(), config.token):
            raise ClientError(401, "missing or wrong token: send 'Authorization: Bearer <token>'")

    # ------------------------------------------------------------------ routes
    # HEAD too: uptime monitors and load balancers probe with it (the answer without its body)
    @app.get("/health")
    @app.head("/health", include_in_schema=False)
    async def health():
        return engine.health()

    @app.get("/", response_class=HTMLResponse)
    @app.head("/", include_in_schema=False)
    async def kiosk():
        return HTMLResponse(_static("kiosk.html"))

    @app.get("/kiosk.js", response_class=Response)
    @app.head("/kiosk.js", include_in_schema=False)
    async def kiosk_js():
        return Response(_static("kiosk.js"), media_type="text/javascript")

    @app.post("/v1/analyze")
    async def analyze(request: Request, frames: bool = False):
        check_token(request)
        if not _origin_ok(request.headers.get("origin"), request.headers.get("host"), config.allow_origins):
            raise ClientError(403, "origin not allowed: serve the page from this service or start it with --allow-origin")
        check_length(request, config.max_upload_bytes)  # 413 for a declared size, with or without a free slot
        try:  # the slot before the body: a request over --max-streams is answered at once, nothing of it stored
            engine.acquire()
        except Busy as exc:
            raise ClientError(503, str(exc)) from None
        try:
            path, name = await receive_upload(request, config.max_upload_bytes, config.idle_timeout_s)
            try:
                gone = threading.Event()
                watch = asyncio.ensure_future(_watch_disconnect(request, gone))
                try:
                    return await run_in_threadpool(engine.analyze, path, name, frames, gone)
                except ShuttingDown as exc:
                    raise ClientError(503, str(exc)) from None
                except ClientGone as exc:  # nobody reads the answer: the slot is free again
                    raise ClientError(400, f"{exc}; the analysis was stopped") from None
                except SourceError as exc:
                    raise ClientError(422, one_line(exc)) from None
                except RtlivenessError as exc:
                    raise ClientError(422, one_line(exc)) from None
                finally:
                    watch.cancel()
            finally:
                path.unlink(missing_ok=True)
        finally:  # every path: answered, 4xx (413, 408, client gone), cancelled
            engine.release()

    @app.get("/v1/stream", include_in_schema=False)  # the WebSocket is described in the docs' text
    async def stream_over_http():  # a plain GET reached the WebSocket endpoint: say so (it reveals nothing)
        raise ClientError(426, "/v1/stream is a WebSocket: open it with a WebSocket client (ws:// or wss://, "
                               "the request's 'Upgrade: websocket'), one JPEG or PNG frame per message")

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        await ws.accept()
        origin = ws.headers.get("origin")
        if not _origin_ok(origin, ws.headers.get("host"), config.allow_origins):
            await ws.close(code=WS_FORBIDDEN_ORIGIN,
                           reason="origin not allowed: serve the page from this service or start it with --allow-origin")
            return
        if config.token is not None:
            given = ws.query_params.get("token", "")
            if not _token_ok(given, config.token):
                await ws.close(code=WS_UNAUTHORIZED, reason="missing or wrong token: add ?token=<token>")
                return
        try:
            engine.acquire()
        except Busy as exc:
            await ws.close(code=WS_TRY_AGAIN_LATER, reason=str(exc)[:120])
            return
        held = [True]

        def release() -> None:  # once: when the client leaves, or at the latest when the stream ends
            if held[0]:
                held[0] = False
                engine.release()

        try:
            await _serve_stream(ws, engine, config, release)
        except asyncio.CancelledError:
            if not engine.stopping.is_set():
                raise
            # uvicorn cancels a stream still open 5 s after SIGTERM (its client reads nothing, so the
            # close 1012 could not reach it): it ends here, without a traceback in the server's log
        finally:
            release()

    return app


async def _watch_disconnect(request: Request, gone: threading.Event, every_s: float = 0.25) -> None:
    """Set ``gone`` when the client of an upload disconnects while its analysis runs."""
    while not gone.is_set():
        if await request.is_disconnected():
            gone.set()
            return
        await asyncio.sleep(every_s)


def _version() -> str:
    from .. import __version__

    return __version__


class _Stalled(Exception):
    """The client of a stream read none of the records it is owed for ``idle_timeout_s``."""


async def _close(ws: WebSocket, code: int, reason: str, wait_s: float = 1.0) -> None:
    """Close with ``code`` and ``reason`` if the connection takes them within ``wait_s``; never
    raises (the connection may be gone, or so full that a client reading nothing never gets them)."""
    try:
        await asyncio.wait_for(ws.close(code=code, reason=reason), wait_s)
    except Exception:  # noqa: BLE001
        pass


async def _serve_stream(ws: WebSocket, engine: Engine, config: ServeConfig, client_gone: Callable[[], None]) -> None:
    """Receive frames and answer each with one record, in order, until the client leaves.
    ``client_gone`` is called as soon as it has: its waiting frames are discarded and its slot is
    free for the next client while the one frame in hand is finished and the pipeline closed.
    A client that reads none of its records for ``idle_timeout_s`` (TCP pushes back on the
    answers, then the records owed reach their bound) is treated as gone the same way, and the
    connection is closed with 1008."""
    pending = PendingFrames(config.max_pending)
    pipeline = await run_in_threadpool(engine.pipeline)
    limit = config.max_frame_bytes
    idle_s = config.idle_timeout_s
    t0: float | None = None

    def process(item: Item) -> str:
        decoded = decode_frame(item.data)  # type: ignore[arg-type]
        if isinstance(decoded, str):
            return json_line(error_record(Item("error", item.index, item.time, decoded)))
        from ..types import Frame

        return json_line(frame_record(pipeline.step(Frame(item.index, decoded, item.time))))

    def left() -> None:  # nobody reads the answers of the frames still waiting
        pending.discard()
        client_gone()

    async def receive() -> None:
        nonlocal t0
        index = 0
        try:
            while True:
                try:
                    await asyncio.wait_for(pending.wait_room(), idle_s)
                except asyncio.TimeoutError:
                    raise _Stalled() from None
                try:
                    msg = await asyncio.wait_for(ws.receive(), idle_s)
                except asyncio.TimeoutError:
                    await ws.close(code=WS_GOING_AWAY, reason=f"no frame for {idle_s:g} s (--idle-timeout)")
                    return
                if msg["type"] == "websocket.disconnect":
                    left()
                    return
                now = time.monotonic()
                t0 = now if t0 is None else t0
                t = now - t0
                data, text = msg.get("bytes"), msg.get("text")
                if data is not None:
                    if len(data) > limit:  # as the WebSocket layer does for larger ones (uvicorn's ws_max_size)
                        await ws.close(code=WS_TOO_BIG, reason=f"frame of {len(data)} bytes exceeds {limit} bytes (--max-frame-mb)")
                        return
                    else:
                        pending.put(Item("frame", index, t, data))
                else:
                    pending.put(Item("error", index, t, "text message ignored: send each frame as a binary message "
                                                        f"(JPEG or PNG bytes), got {len(text or '')} characters of text"))
                index += 1
        except WebSocketDisconnect:
            left()
            return
        finally:
            pending.close()

    async def answer() -> None:
        while (item := await pending.get()) is not None:
            if item.kind == "frame":
                text = await run_in_threadpool(process, item)
            elif item.kind == "dropped":
                text = json_line(dropped_record(item))
            else:
                text = json_line(error_record(item))
            try:
                await asyncio.wait_for(ws.send_text(text), idle_s)
            except asyncio.TimeoutError:
                raise _Stalled() from None

    def failure(task: asyncio.Task) -> BaseException | None:
        return task.exception() if task.done() and not task.cancelled() else None

    receiver = asyncio.create_task(receive())
    answerer = asyncio.create_task(answer())
    ending: tuple[int, str] | None = None  # the close code and reason, where the server ends the stream
    try:
        await asyncio.wait({receiver, answerer}, return_when=asyncio.FIRST_EXCEPTION)
        if isinstance(failure(receiver), _Stalled) or isinstance(failure(answerer), _Stalled):
            left()  # its slot is free now, whether or not the close gets through
            ending = WS_POLICY_VIOLATION, f"no record read for {idle_s:g} s (--idle-timeout): read the records as they come"
        elif failure(answerer) is not None and not receiver.done():  # our processing failed, the client is there
            ending = 1011, f"internal error ({type(failure(answerer)).__name__})"
    finally:
        for task in (receiver, answerer):
            task.cancel()
        await asyncio.gather(receiver, answerer, return_exceptions=True)
        pending.close()
        if ending is not None:
            await _close(ws, *ending)
        await run_in_threadpool(pipeline.close)
