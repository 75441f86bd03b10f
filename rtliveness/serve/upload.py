"""An upload to ``/v1/analyze``, from the request to a temporary file the engine can read.

The body (multipart field ``file``, or the raw body) is streamed to disk within the size and pace
limits; the client's name is kept short and its suffix only when it is a plain one; a file that
is not media but names other files (a playlist, an FFmpeg concat list) is refused, for FFmpeg
would read those files — on the server's own disk — in its place.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

from ..errors import one_line

__all__ = ["MAX_NAME_BYTES", "MIN_UPLOAD_RATE", "ClientError", "check_length", "receive_upload"]


class ClientError(Exception):
    """A request the client must change: ``status`` and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason




_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")

#: what a file that names other files starts with (after a UTF-8 byte order mark and white space),
#: and what it is: FFmpeg picks its reader by these bytes, whatever the suffix, and then reads the
#: files the list names, from the server's own disk — never an upload's content
_REFERENCE_FORMATS = ((b"#extm3u", "an M3U/HLS playlist"), (b"ffconcat", "an FFmpeg concat list"))

#: suffixes that make FFmpeg read an upload as a list of other files: never given to the temporary file
_REFERENCE_SUFFIXES = frozenset({".m3u8", ".m3u", ".hls", ".mpd", ".sdp"})

#: the longest upload name kept, in UTF-8 bytes: a file system's limit on one name (a client may
#: send kilobytes of it, which the summary's ``source`` would carry, and no file system can look up)
MAX_NAME_BYTES = 255


def _upload_name(given: str | None) -> str:
    """The client's name of its upload without folders ("upload" when it gives none), cut to
    :data:`MAX_NAME_BYTES` with an ellipsis before its suffix."""
    name = Path(given or "").name or "upload"
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= MAX_NAME_BYTES:
        return name
    suffix = Path(name).suffix if _SAFE_SUFFIX.match(Path(name).suffix) else ""
    keep = MAX_NAME_BYTES - len(f"\u2026{suffix}".encode())
    return raw[:keep].decode("utf-8", "ignore") + "\u2026" + suffix


def _filename_header(value: str | None) -> str | None:
    """An ``X-Filename`` as the client meant it. Header values reach the app as Latin-1, so UTF-8
    bytes (what curl and most HTTP libraries send for ``Jörg.mp4``) are decoded as UTF-8; and a
    percent-encoded UTF-8 name (what a browser page sends, since ``fetch`` takes Latin-1 header
    values only: ``encodeURIComponent(file.name)``) is decoded. A value that is neither stays as is."""
    if value is None:
        return None
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    if re.search(r"%[0-9A-Fa-f]{2}", value):
        from urllib.parse import unquote

        try:
            value = unquote(value, errors="strict")
        except UnicodeError:
            pass
    return value


#: bytes per second an upload must average once its first ``--idle-timeout`` seconds are over
MIN_UPLOAD_RATE = 16 * 1024


def check_length(request: Request, limit: int) -> None:
    """400 for a Content-Length that is not a number, 413 for one over ``limit``: before any byte is read."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ClientError(400, f"invalid Content-Length {length!r}")
        if int(length) > limit:
            raise ClientError(413, f"upload of {int(length)} bytes exceeds the limit of {limit} bytes (--max-upload-mb)")


def _multipart_parser():
    """Starlette's multipart parser, writing the part named ``file`` straight into the upload's
    temporary file (given as ``into``) instead of a spooled copy of its own, so an upload is on
    disk once. Should Starlette's internals differ, its own copy is made and copied, as before."""
    from starlette.formparsers import MultiPartParser

    class _Parser(MultiPartParser):
        def __init__(self, *args, into=None, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._into = into

        def on_headers_finished(self) -> None:
            super().on_headers_finished()
            part = getattr(self, "_current_part", None)
            upload = getattr(part, "file", None)
            if self._into is not None and getattr(part, "field_name", None) == "file" and upload is not None \
                    and hasattr(upload, "file"):
                upload.file.close()  # Starlette's empty spool
                upload.file, self._into = self._into, None

    return _Parser


async def receive_upload(request: Request, limit: int, idle_s: float | None = None) -> tuple[Path, str]:
    """The upload (multipart field ``file``, or the raw body) streamed to a temporary file,
    refused with 413 as soon as it passes ``limit`` bytes, and with 408 when no byte of it comes
    for ``idle_s`` seconds or when it arrives slower than :data:`MIN_UPLOAD_RATE` on average
    after ``idle_s`` (it holds a stream slot meanwhile: a byte now and then kept it for ever)."""
    check_length(request, limit)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def capped():
        seen = 0
        chunks = request.stream().__aiter__()
        while True:
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), idle_s)
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                raise ClientError(408, f"no upload data for {idle_s:g} s (--idle-timeout): send the body without "
                                       "pausing") from None
            if idle_s is not None and seen + len(chunk) < (loop.time() - started - idle_s) * MIN_UPLOAD_RATE:
                raise ClientError(408, f"upload slower than {MIN_UPLOAD_RATE // 1024} KiB/s on average after its "
                                       f"first {idle_s:g} s (--idle-timeout): send it faster, or a smaller file")
            seen += len(chunk)
            if seen > limit:
                raise ClientError(413, f"upload exceeds the limit of {limit} bytes (--max-upload-mb)")
            yield chunk

    ctype = request.headers.get("content-type", "")
    name = _upload_name(None)
    fd, tmp = tempfile.mkstemp(prefix="rtliveness-upload-")
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            if ctype.split(";")[0].strip().lower() == "multipart/form-data":  # media types ignore case
                from starlette.formparsers import MultiPartException

                try:
                    form = await _multipart_parser()(request.headers, capped(), max_files=1, max_fields=16,
                                                     into=fh).parse()
                except MultiPartException as exc:
                    raise ClientError(400, f"malformed multipart body: {one_line(exc)}") from None
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise ClientError(422, "multipart upload needs the video in a file field named 'file'")
                name = _upload_name(upload.filename)
                if upload.file is not fh:  # not written in place (see _multipart_parser): copied
                    try:
                        while chunk := await upload.read(1 << 20):
                            fh.write(chunk)
                    finally:
                        await upload.close()
            else:
                name = _upload_name(_filename_header(request.headers.get("x-filename")))
                async for chunk in capped():
                    fh.write(chunk)
            fh.flush()
            size = os.fstat(fh.fileno()).st_size
    except ClientDisconnect:  # the client went away mid-upload: nobody to answer, nothing to log
        path.unlink(missing_ok=True)
        raise ClientError(400, "the client disconnected during the upload") from None
    except BaseException:  # a 413 / 408 from the capped stream among them
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise ClientError(400, "empty upload: send a video as multipart field 'file' or as the request body")
    kind = _names_other_files(path)
    if kind is not None:
        path.unlink(missing_ok=True)
        raise ClientError(422, f"not a video: {name} is {kind}, which names other files; upload the video or "
                               "photo itself")
    suffix = Path(name).suffix
    if _SAFE_SUFFIX.match(suffix) and suffix.lower() not in _REFERENCE_SUFFIXES:  # a known suffix helps FFmpeg
        named = path.with_name(path.name + suffix)
        path.rename(named)
        path = named
    return path, name


def _names_other_files(path: Path) -> str | None:
    """What ``path`` is when it starts as a list of other files does (:data:`_REFERENCE_FORMATS`), else None."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return next((kind for start, kind in _REFERENCE_FORMATS if head.startswith(start)), None)

