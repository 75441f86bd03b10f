#!/usr/bin/env bash
# Fetch dlib's ImageNet ResNet-34 (resnet34_1000_imagenet_classifier.dnn, CC0)
# from Debian's `dlib` source package (its "dlib-models" orig component),
# using apt's ordinary client with a PRIVATE source list, list folder and
# cache folder.  The system apt configuration is never read for sources nor
# written to.
#
# Usage:   scripts/fetch_dlib_resnet34.sh
# Prints:  the absolute path of the cached .dnn file (last line of stdout).
#
# Environment:
#   RTLIVENESS_CACHE   cache root (default: ~/.cache/rtliveness)
#   DLIB_DEBIAN_SUITE  Debian suite to take the source from (default: bookworm)
#   DLIB_DEBIAN_MIRROR Debian mirror URI; by default the URI this machine's own
#                      apt configuration uses for its Debian main archive.
#   DLIB_KEEP_DOWNLOADS set to 1 to keep the source tarballs and the private apt
#                      index (otherwise removed once the .dnn is extracted).
#
# Idempotent: when the .dnn file is already cached nothing is downloaded.
set -euo pipefail

CACHE_ROOT="${RTLIVENESS_CACHE:-$HOME/.cache/rtliveness}"
DLIB_DIR="$CACHE_ROOT/dlib"
DNN_NAME="resnet34_1000_imagenet_classifier.dnn"
DNN_PATH="$DLIB_DIR/$DNN_NAME"
SUITE="${DLIB_DEBIAN_SUITE:-bookworm}"

if [[ -s "$DNN_PATH" ]]; then
    echo "$DNN_PATH"
    exit 0
fi

log() { echo "[fetch_dlib_resnet34] $*" >&2; }

# --- find the Debian mirror this machine already uses --------------------
find_mirror() {
    local f uri
    # deb822 files (*.sources): take the URIs of a stanza whose Suites hold
    # "$SUITE" and whose URI path ends in /debian (not debian-security).
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        uri=$(awk -v suite="$SUITE" '
            BEGIN { RS=""; FS="\n" }
            {
                uris=""; suites=""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/)   { uris = $i;   sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Suites:/) { suites = $i; sub(/^Suites:[ \t]*/, "", suites) }
                }
                n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++) if (s[j] == suite) {
                    m = split(uris, u, /[ \t]+/)
                    for (k = 1; k <= m; k++) if (u[k] ~ /\/debian\/?$/) { print u[k]; exit }
                }
            }' "$f")
        if [[ -n "$uri" ]]; then echo "${uri%/}"; return 0; fi
    done
    # one-line format (*.list, sources.list)
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        uri=$(awk -v suite="$SUITE" '
            $1 == "deb" || $1 == "deb-src" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite && $i ~ /\/debian\/?$/) { print $i; exit }
            }' "$f")
        if [[ -n "$uri" ]]; then echo "${uri%/}"; return 0; fi
    done
    return 1
}

MIRROR="${DLIB_DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
    MIRROR=$(find_mirror) || {
        log "no Debian '$SUITE' mirror found in /etc/apt; set DLIB_DEBIAN_MIRROR"
        exit 1
    }
fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# --- private apt state ----------------------------------------------------
APT_DIR="$DLIB_DIR/apt"
SRC_DIR="$DLIB_DIR/src"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$SRC_DIR"
SIGNED=""
[[ -f "$KEYRING" ]] && SIGNED="[signed-by=$KEYRING] "
echo "deb-src ${SIGNED}${MIRROR} ${SUITE} main" > "$APT_DIR/sources.list"

APT_OPTS=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
)
[[ "$(id -u)" -ne 0 ]] && APT_OPTS+=(-o "Debug::NoLocking=1")

log "updating private source index from $MIRROR ($SUITE main)"
apt-get "${APT_OPTS[@]}" -qq update >&2

# --- download the source package (apt-get source writes into the cwd) -----
(
    cd "$SRC_DIR"
    if ! compgen -G "dlib_*.orig-dlib-models.tar.*" > /dev/null; then
        log "downloading the dlib source package (about 200 MB)"
        apt-get "${APT_OPTS[@]}" -q source --download-only dlib >&2
    fi
)

MODELS_TAR=$(compgen -G "$SRC_DIR/dlib_*.orig-dlib-models.tar.*" | sort | tail -n 1 || true)
if [[ -z "$MODELS_TAR" ]]; then
    log "the dlib source package has no orig-dlib-models component"
    exit 1
fi

# --- extract only the .dnn (possibly .dnn.bz2) ------------------------------
MEMBER=$(tar -tf "$MODELS_TAR" | grep -E "(^|/)${DNN_NAME}(\.bz2)?$" | head -n 1 || true)
if [[ -z "$MEMBER" ]]; then
    log "$DNN_NAME not found inside $(basename "$MODELS_TAR")"
    exit 1
fi
log "extracting $MEMBER"
TMP="$DNN_PATH.partial"
if [[ "$MEMBER" == *.bz2 ]]; then
    tar -xOf "$MODELS_TAR" "$MEMBER" | bunzip2 -c > "$TMP"
else
    tar -xOf "$MODELS_TAR" "$MEMBER" > "$TMP"
fi
mv -f "$TMP" "$DNN_PATH"

if [[ "${DLIB_KEEP_DOWNLOADS:-0}" != "1" ]]; then
    rm -rf "$SRC_DIR" "$APT_DIR"
fi
echo "$DNN_PATH"
