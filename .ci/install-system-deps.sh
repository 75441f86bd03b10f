#!/usr/bin/env bash
# Install the system packages the tests need:
# - the RTSP test server (tests/rtsp_server.py): Debian's GStreamer RTSP server, driven by
#   Debian's own /usr/bin/python3 (python3-gi);
# - the kiosk page test (tests/test_kiosk_browser.py): Debian's chromium and chromium-driver.
# Idempotent: does nothing if everything is already importable. Needs root (or sudo) on Debian.
set -euo pipefail

SYS_PY=/usr/bin/python3
PACKAGES=(
    python3-gi
    gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-ugly
    gstreamer1.0-libav
    chromium
    chromium-driver
)

log() { echo "[install-system-deps] $*"; }
die() { echo "[install-system-deps] ERROR: $*" >&2; exit 1; }

check() {
    [ -x "$SYS_PY" ] || return 1
    command -v chromium >/dev/null 2>&1 || return 1
    command -v chromedriver >/dev/null 2>&1 || return 1
    "$SYS_PY" - <<'PY' >/dev/null 2>&1
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: F401
Gst.init(None)
for name in ("filesrc", "decodebin", "qtdemux", "videoconvert", "appsrc", "appsink",
             "x264enc", "rtph264pay"):
    assert Gst.ElementFactory.find(name) is not None, name
assert Gst.ElementFactory.find("avdec_h264") or Gst.ElementFactory.find("openh264dec")
PY
}

if check; then
    log "RTSP server and Chromium already present; nothing to do."
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found (this script supports Debian/Ubuntu only)."

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or have sudo) to apt-get install."
    SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update ..."
"${SUDO[@]}" apt-get update -qq || die "apt-get update failed."
log "apt-get install ${PACKAGES[*]} ..."
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null \
    || die "apt-get install failed for: ${PACKAGES[*]}"

check || die "packages installed but GstRtspServer + x264enc/rtph264pay (via $SYS_PY) or chromium/chromedriver are still missing."
log "done: RTSP server and Chromium installed."
