#!/usr/bin/python3
"""A tiny real RTSP server for tests: serves one video file as H.264 over RTSP on 127.0.0.1.

Run it with Debian's own Python (``/usr/bin/python3``), which has ``gi``; the GStreamer RTSP
server comes from ``.ci/install-system-deps.sh``.  Not importable from the project venv, and it
does not need to be: ``tests/rtsp_support.py`` spawns it as a subprocess.

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --path /live --file tests/data/talking_head.mov --loop

How it works: the file is decoded once at start-up into raw I420 frames held in memory, and each
RTSP media pushes them through ``appsrc ! x264enc tune=zerolatency ! rtph264pay`` with
timestamps ``n / fps`` (looping forever with ``--loop``).  The RTSP server's sinks sync to the
clock, so the stream is paced in real time and timestamps keep increasing across loops (a plain
``filesrc`` pipeline cannot loop, and seeking an RTSP media back to 0 confuses clients).

Prints ``READY rtsp://127.0.0.1:PORT/PATH`` (flushed) once the socket is listening; ``--port 0``
lets the kernel pick a free port and the ready line tells which.  Exits 0 on SIGTERM / SIGINT.
Everything binds 127.0.0.1 only: the RTSP socket, and the UDP RTP/RTCP ports (through a unicast
address pool restricted to 127.0.0.1); ``--transport tcp`` disables UDP entirely.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

HOST = "127.0.0.1"
MAX_DECODED_BYTES = 512 * 1024 * 1024  # refuse to hold more than this many raw bytes


def log(msg: str) -> None:
    print(f"[rtsp_server {os.getpid()}] {msg}", file=sys.stderr, flush=True)


def decode_file(path: str) -> tuple[list[bytes], Gst.Caps, int, int, tuple[int, int]]:
    """Decode every frame of *path* to I420; return (frames, caps, width, height, fps)."""
    pipeline = Gst.parse_launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=I420 "
        "! appsink name=sink sync=false max-buffers=0 emit-signals=false"
    )
    pipeline.get_by_name("src").set_property("location", path)
    sink = pipeline.get_by_name("sink")
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        raise RuntimeError(f"cannot start decoding {path!r}")
    frames: list[bytes] = []
    caps = None
    total = 0
    bus = pipeline.get_bus()
    try:
        idle_since = time.monotonic()
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is not None:
                err, dbg = msg.parse_error()
                raise RuntimeError(f"decoding {path!r} failed: {err.message} ({dbg})")
            sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
            if sample is None:
                if sink.get_property("eos"):
                    break
                if time.monotonic() - idle_since > 30:
                    raise RuntimeError(f"decoding {path!r} timed out")
                continue
            idle_since = time.monotonic()
            if caps is None:
                caps = sample.get_caps()
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if not ok:
                raise RuntimeError("cannot map a decoded buffer")
            try:
                frames.append(bytes(info.data))
            finally:
                buf.unmap(info)
            total += len(frames[-1])
            if total > MAX_DECODED_BYTES:
                raise RuntimeError(f"{path!r} is too long to hold decoded in memory")
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not frames or caps is None:
        raise RuntimeError(f"no video frames decoded from {path!r}")
    s = caps.get_structure(0)
    width, height = s.get_value("width"), s.get_value("height")
    ok, num, den = s.get_fraction("framerate")
    if not ok or num <= 0 or den <= 0:  # variable/unknown frame rate: assume 25 fps
        num, den = 25, 1
    fps = (num, den)
    # caps for appsrc: drop anything decoder-specific, keep size/format/rate
    src_caps = Gst.Caps.from_string(
        f"video/x-raw,format=I420,width={width},height={height},framerate={num}/{den},"
        "pixel-aspect-ratio=1/1"
    )
    return frames, src_caps, width, height, fps


class FramePusher:
    """Feeds one media's appsrc from the shared decoded frames."""

    def __init__(self, appsrc, frames, fps: tuple[int, int], loop: bool):
        self.appsrc = appsrc
        self.frames = frames
        self.num, self.den = fps
        self.loop = loop
        self.n = 0  # frames pushed so far (across loops)
        appsrc.connect("need-data", self.on_need_data)

    def on_need_data(self, src, _length):
        idx = self.n if not self.loop else self.n % len(self.frames)
        if idx >= len(self.frames):
            src.emit("end-of-stream")
            return
        buf = Gst.Buffer.new_wrapped(self.frames[idx])
        buf.pts = Gst.util_uint64_scale(self.n, self.den * Gst.SECOND, self.num)
        buf.dts = buf.pts
        buf.duration = Gst.util_uint64_scale(1, self.den * Gst.SECOND, self.num)
        self.n += 1
        src.emit("push-buffer", buf)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="TCP port for RTSP (0 = any free one)")
    ap.add_argument("--path", default="/live", help="mount path, e.g. /live")
    ap.add_argument("--file", required=True, help="video file to serve")
    ap.add_argument("--loop", action="store_true", help="loop the file forever")
    ap.add_argument("--transport", choices=("any", "tcp", "udp"), default="any",
                    help="RTP lower transports offered to clients (default: UDP and TCP)")
    ap.add_argument("--no-shared", action="store_true",
                    help="one pipeline per client instead of one shared pipeline")
    ap.add_argument("--bitrate", type=int, default=1000, help="x264enc bitrate, kbit/s")
    ap.add_argument("--gop", type=int, default=0,
                    help="frames between IDR frames (0 = one second). 1 = intra-only: a late or lost "
                         "packet spoils one frame instead of smearing until the next IDR")
    ap.add_argument("--passthrough", action="store_true",
                    help="serve the file's own H.264 (mp4/mov) without decoding or re-encoding, from its "
                         "start for each client (no --loop). Immune to encoder starvation on a busy machine.")
    args = ap.parse_args(argv)
    if args.passthrough and args.loop:
        log("--passthrough cannot --loop")
        return 2

    path = args.path if args.path.startswith("/") else "/" + args.path
    if not os.path.isfile(args.file):
        log(f"no such file: {args.file}")
        return 2

    Gst.init(None)
    if not args.passthrough:
        try:
            frames, caps, width, height, fps = decode_file(args.file)
        except Exception as exc:  # noqa: BLE001 - report and exit non-zero
            log(f"ERROR {exc}")
            return 3
        log(f"decoded {len(frames)} frames {width}x{height} @ {fps[0]}/{fps[1]} fps")


    server = GstRtspServer.RTSPServer()
    server.set_address(HOST)
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    if args.passthrough:
        loc = os.path.abspath(args.file).replace('"', '\\"')
        factory.set_launch(f'( filesrc location="{loc}" ! qtdemux ! h264parse config-interval=-1 '
                           '! rtph264pay name=pay0 pt=96 config-interval=-1 )')
    else:
        # key-int-max: an IDR every second so a client joining a shared stream decodes quickly;
        # config-interval=-1: SPS/PPS with every IDR. sliced-threads=false: one slice per picture.
        # With zerolatency's sliced threads an IDR came in two slices and rtph264pay put SPS/PPS
        # before each; FFmpeg (OpenCV) then split the picture in two, and every frame it decoded
        # until the next IDR was smeared (a soak review: MTCNN found the face on IDRs only).
        gop = args.gop if args.gop > 0 else max(1, round(fps[0] / fps[1]))
        factory.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=false block=false "
            "max-bytes=0 min-latency=0 "
            "! queue ! videoconvert "
            f"! x264enc tune=zerolatency sliced-threads=false speed-preset=ultrafast bitrate={args.bitrate} "
            f"key-int-max={gop} "
            "! video/x-h264,profile=baseline "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
    factory.set_shared(not args.no_shared and not args.passthrough)
    if args.transport == "tcp":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    elif args.transport == "udp":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)
    else:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP)
    # Unicast UDP RTP/RTCP sockets would bind 0.0.0.0 without a pool holding unicast addresses.
    pool = GstRtspServer.RTSPAddressPool()
    pool.add_range(HOST, HOST, 30000, 60000, 0)
    factory.set_address_pool(pool)

    def on_media_configure(_factory, media):
        appsrc = media.get_element().get_by_name("src")
        appsrc.set_property("caps", caps)
        pusher = FramePusher(appsrc, frames, fps, args.loop)
        media._pusher = pusher  # keep alive with the media  # noqa: SLF001

    if not args.passthrough:
        factory.connect("media-configure", on_media_configure)
    server.get_mount_points().add_factory(path, factory)

    source_id = server.attach(None)
    if source_id == 0:
        log(f"ERROR cannot listen on {HOST}:{args.port} (port in use?)")
        return 4
    port = server.get_bound_port()

    loop = GLib.MainLoop()

    def on_signal(signame):
        log(f"{signame}: shutting down")
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, on_signal, "SIGTERM")
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, on_signal, "SIGINT")

    print(f"READY rtsp://{HOST}:{port}{path}", flush=True)
    try:
        loop.run()
    finally:
        # Close client connections and the listening socket before the process goes away.
        try:
            server.client_filter(lambda _srv, _client: GstRtspServer.RTSPFilterResult.REMOVE)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        GLib.source_remove(source_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
