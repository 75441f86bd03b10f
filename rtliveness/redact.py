"""Passwords out of what rtliveness shows and writes: ``rtsp://admin:secret@cam/stream`` is
shown as ``rtsp://admin:***@cam/stream`` (pure string work, the one place of this rule).

A camera's login usually travels in its URL. The URL itself is still used to open the stream;
every error, warning, log line and result record (``run``'s summary ``source``, ``fleet.json``)
names the redacted form, so a log or a results file handed on does not hand on the password."""

from __future__ import annotations

import re

__all__ = ["redact", "redact_url", "MASK"]

#: what a password is replaced by
MASK = "***"

#: a URL inside a text: a scheme, ``://``, then everything up to white space or a quote
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` replaced by :data:`MASK` (unchanged
    when it has none). The login ends at the last ``@`` before the query, so a password holding
    ``@`` or ``/`` is masked whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    at = head.rfind("@")
    if at < 0:
        return url
    user, colon, password = head[:at].partition(":")
    if not colon or password == MASK:
        return url
    return f"{scheme}://{user}:{MASK}{rest[at:]}"


def redact(text: str) -> str:
    """``text`` with every URL's password in it masked (:func:`redact_url`)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
