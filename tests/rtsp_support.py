"""Test helpers for a REAL RTSP server on loopback (127.0.0.1 only).

``RtspServer`` spawns ``tests/rtsp_server.py`` under Debian's own ``/usr/bin/python3`` (which has
``gi`` and the GStreamer RTSP server installed by ``.ci/install-system-deps.sh``) and can stop,
kill and restart it on the same port and path, so tests can exercise a stream that dies and comes
back.  Plain module, no pytest needed, except the optional ``rtsp_server`` fixture at the bottom.

    from rtsp_support import RtspServer, rtsp_available

    ok, why = rtsp_available()
    with RtspServer() as srv:          # talking-head clip, looped, on a kernel-chosen free port
        cap = cv2.VideoCapture(srv.url, cv2.CAP_FFMPEG, [...])
        ...
        srv.kill()                     # the camera dies (SIGKILL; srv.stop() = SIGTERM first)
        srv.restart()                  # ... and comes back on the same rtsp:// URL

In a test, use the fixture (``from rtsp_support import rtsp_server`` in the test module, or
re-export it from ``conftest.py``); it skips with the reason when the server is not installed::

    def test_x(rtsp_server):
        srv = rtsp_server()            # started; all servers stopped at teardown
"""
from __future__ import annotations

import atexit
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "rtsp_server.py"
DEFAULT_VIDEO = HERE / "data" / "talking_head.mov"
DEFAULT_VIDEO_SIZE = (320, 240)  # (width, height) of DEFAULT_VIDEO
HOST = "127.0.0.1"
# Debian's python3 with python3-gi; overridable for unusual machines.
SYSTEM_PYTHON = os.environ.get("RTLIVENESS_RTSP_PYTHON", "/usr/bin/python3")

__all__ = [
    "DEFAULT_VIDEO",
    "DEFAULT_VIDEO_SIZE",
    "HOST",
    "RtspServer",
    "RtspServerError",
    "free_port",
    "rtsp_available",
    "rtsp_server",
]

_EXIT_PORT_IN_USE = 4  # rtsp_server.py's exit status when it cannot listen


class RtspServerError(RuntimeError):
    """The RTSP test server could not be started (message includes its stderr)."""


def free_port(host: str = HOST) -> int:
    """A TCP port on *host* that is free right now (racy by nature; prefer ``port=0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_CHECK = r"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [n for n in ("appsrc", "filesrc", "decodebin", "qtdemux", "videoconvert", "appsink",
                       "x264enc", "rtph264pay") if Gst.ElementFactory.find(n) is None]
if not (Gst.ElementFactory.find("avdec_h264") or Gst.ElementFactory.find("openh264dec")):
    missing.append("avdec_h264|openh264dec")
if missing:
    raise SystemExit("missing GStreamer elements: " + ", ".join(missing))
print("ok")
"""

_available: tuple[bool, str] | None = None


def rtsp_available() -> tuple[bool, str]:
    """Whether the RTSP test server can run here: ``(True, "")`` or ``(False, reason)``.

    Checks that ``/usr/bin/python3`` imports gi + GstRtspServer and has x264enc, rtph264pay and
    an H.264 decoder.  Cached for the process.
    """
    global _available
    if _available is not None:
        return _available
    hint = " (run .ci/install-system-deps.sh)"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        _available = (False, f"{SYSTEM_PYTHON} not found{hint}")
    elif not SERVER_SCRIPT.is_file():
        _available = (False, f"{SERVER_SCRIPT} is missing")
    else:
        try:
            r = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True,
                               timeout=60, env=_server_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            _available = (False, f"{SYSTEM_PYTHON} check failed: {exc}{hint}")
        else:
            if r.returncode == 0 and r.stdout.strip() == "ok":
                _available = (True, "")
            else:
                tail = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                _available = (False, f"GStreamer RTSP server unavailable for {SYSTEM_PYTHON}: "
                                     f"{tail}{hint}")
    return _available


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    # Do not let a venv / pyenv leak into Debian's python (it must find dist-packages' gi).
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(var, None)
    env.setdefault("GST_DEBUG", "1")  # errors only
    return env


_live: "set[RtspServer]" = set()


@atexit.register
def _stop_all() -> None:  # never leave a server behind, even if a test forgot
    for srv in list(_live):
        try:
            srv.stop(timeout=2)
        except Exception:  # noqa: BLE001
            pass


class RtspServer:
    """A real GStreamer RTSP server (subprocess) serving *file* at ``rtsp://127.0.0.1:port/path``.

    *port* 0/None lets the kernel choose at the first start; ``restart()`` reuses that port.
    *loop* repeats the clip forever (the default: the talking-head clip lasts 4 s).
    *transport* is what the server offers: "any" (UDP and TCP; FFmpeg picks UDP first), "tcp" or
    "udp".  *shared* serves one pipeline to all clients (default) instead of one per client.
    """

    def __init__(self, file: str | os.PathLike = DEFAULT_VIDEO, port: int | None = None,
                 path: str = "/live", *, loop: bool = True, transport: str = "any",
                 shared: bool = True, ready_timeout: float = 20.0, gop: int = 0, passthrough: bool = False,
                 python: str = SYSTEM_PYTHON):
        self.file = Path(file)
        self.port = int(port or 0)
        self.path = path if path.startswith("/") else "/" + path
        self.loop = loop
        self.transport = transport
        self.shared = shared
        self.gop = gop  # frames between IDRs (0: one second; 1: intra-only)
        # serve the file's own H.264 from its start for each client (no decode/re-encode, no loop):
        # on a loaded machine the re-encoding path can be starved and emit broken frames
        self.passthrough = passthrough
        if passthrough:
            self.loop = False
        self.ready_timeout = ready_timeout
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None  # spawn -> READY of the last start()
        self.start_attempts = 0  # spawns the last start() needed (>1: the port was still busy)
        self._stderr = None
        self._lines: queue.Queue = queue.Queue()

    # -- properties ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if not self.port:
            raise RtspServerError("server has no port yet: start() it first")
        return f"rtsp://{HOST}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RtspServer {self.file.name} rtsp://{HOST}:{self.port}{self.path} {state}>"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> "RtspServer":
        """Spawn the server and wait until it prints READY; raise RtspServerError on failure.

        When restarting on a fixed port, retries while that port is still busy (until timeout).
        """
        if self.running:
            raise RtspServerError(f"{self!r} is already running")
        if not self.file.is_file():
            raise RtspServerError(f"video file not found: {self.file}")
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self.start_attempts = 0
        last_busy = False
        while True:
            self.start_attempts += 1
            err = self._spawn_and_wait(deadline)
            if err is None:
                return self
            busy = self.proc is not None and self.proc.returncode == _EXIT_PORT_IN_USE
            self._reap()
            if busy and self.port and time.monotonic() + 0.3 < deadline:
                last_busy = True
                time.sleep(0.2)
                continue
            if busy or last_busy:
                err = (f"cannot listen on {HOST}:{self.port}: port still in use after "
                       f"{timeout:g} s ({self.start_attempts} attempts)\n{err}")
            raise RtspServerError(err)

    def _spawn_and_wait(self, deadline: float) -> str | None:
        cmd = [self.python, "-u", str(SERVER_SCRIPT), "--port", str(self.port),
               "--path", self.path, "--file", str(self.file), "--transport", self.transport,
               "--gop", str(self.gop)]
        if self.passthrough:
            cmd.append("--passthrough")
        if self.loop:
            cmd.append("--loop")
        if not self.shared:
            cmd.append("--no-shared")
        if self._stderr is not None:
            self._stderr.close()  # the previous process's stderr
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self._lines = queue.Queue()
        t0 = time.monotonic()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self._stderr, env=_server_env(),
                                         start_new_session=True)
        except OSError as exc:
            return f"cannot run {self.python}: {exc}"
        _live.add(self)
        threading.Thread(target=_pump, args=(self.proc.stdout, self._lines),
                         name=f"rtsp-server-{self.proc.pid}-stdout", daemon=True).start()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop(timeout=2)
                return (f"RTSP server did not print READY within the timeout "
                        f"({' '.join(cmd)}){self._stderr_tail()}")
            try:
                line = self._lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            if line is None:  # stdout closed: the process died
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.stop(timeout=2)
                return (f"RTSP server exited with status {self.proc.returncode} before READY "
                        f"({' '.join(cmd)}){self._stderr_tail()}")
            if line.startswith("READY "):
                url = line.split(None, 1)[1].strip()
                self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
                self.startup_s = time.monotonic() - t0
                return None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to *timeout*, then SIGKILL; returns once the process has ended."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL at once (a camera losing power): no RTSP TEARDOWN, sockets just close."""
        self._end(signal.SIGKILL, 0)

    def freeze(self) -> None:
        """SIGSTOP the server: connections stay open but no data flows (a hung camera or a
        network black hole).  Reads then block until the client's read timeout.  ``thaw()``."""
        if self.running:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a frozen server."""
        if self.running:
            os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self, timeout: float | None = None) -> "RtspServer":
        """stop() then start() again on the same port and path (same ``url``)."""
        self.stop()
        return self.start(timeout)

    def _end(self, sig: int, timeout: float) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
                if sig != signal.SIGKILL:
                    os.kill(proc.pid, signal.SIGCONT)  # a freeze()d server must see SIGTERM
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout if sig != signal.SIGKILL else 10)
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                try:  # the server's own process group (start_new_session=True): only our child
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
                proc.wait(timeout=10)  # SIGKILL cannot be ignored; raises if something is badly off
        self._reap()

    def _reap(self) -> None:
        # stdout is closed by its pump thread at EOF (the process is gone, so EOF is immediate)
        _live.discard(self)

    def stderr_text(self) -> str:
        """What the current/last server process wrote to stderr."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def _stderr_tail(self, n: int = 15) -> str:
        lines = self.stderr_text().strip().splitlines()[-n:]
        return ("\n--- server stderr ---\n" + "\n".join(lines)) if lines else ""

    def __enter__(self) -> "RtspServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _pump(stream, q: queue.Queue) -> None:
    try:
        for raw in iter(stream.readline, b""):
            q.put(raw.decode("utf-8", "replace"))
    except (ValueError, OSError):
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass
        q.put(None)


# -- pytest fixture (only if pytest is importable) ----------------------------------------------
try:
    import pytest
except ImportError:  # plain use, no pytest
    pytest = None

if pytest is not None:

    @pytest.fixture
    def rtsp_server():
        """Factory fixture: ``srv = rtsp_server(**RtspServer kwargs)`` returns a started server.

        Skips the test (with the reason) when the GStreamer RTSP server is not installed; every
        server made is stopped at teardown.
        """
        ok, why = rtsp_available()
        if not ok:
            pytest.skip(why)
        made: list[RtspServer] = []

        def make(**kwargs) -> RtspServer:
            srv = RtspServer(**kwargs)
            made.append(srv)
            return srv.start()

        yield make
        for srv in made:
            srv.stop()
