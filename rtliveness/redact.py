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

#: a URL's scheme and authority (``user:password@host:port``): the authority ends at the first
#: ``/``, ``?`` or ``#`` (as FFmpeg and urllib read it); inside a text also at white space
_IN_TEXT = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#\s]*)")
_WHOLE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#]*)")


def _mask(m: re.Match) -> str:
    """The scheme and authority with the password masked: between the login's first ``:`` and the
    authority's last ``@`` (a password may hold ``@``, quotes or ``:``)."""
    scheme, authority = m.group(1), m.group(2)
    at = authority.rfind("@")
    if at < 0:
        return m.group(0)
    user, colon, password = authority[:at].partition(":")
    if not colon or password == MASK:
        return m.group(0)
    return f"{scheme}{user}:{MASK}{authority[at:]}"


def redact_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` replaced by :data:`MASK` (unchanged
    when it has none; a URL inside its query, a proxy's target, masked too)."""
    return _WHOLE.sub(_mask, url) if "://" in url else url


def redact(text: str) -> str:
    """``text`` (a message, a log line) with the password of every URL in it masked."""
    return _IN_TEXT.sub(_mask, text) if "://" in text else text
