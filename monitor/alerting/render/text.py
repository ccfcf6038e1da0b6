"""Feed text and URLs made safe to show, and the line model every channel renders.

In: strings from a feed (titles, outlets, matched terms, sentences, URLs; watch topic titles
too). Out: the same text as one clean line, cut to length with a visible "…"; a URL only if it
is an http(s) URL with a host; :class:`Span`/:data:`Line`, text with links that each channel
renders in its own medium. Never escapes for a medium: that is each channel's module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# What one piece of feed text may take, before escaping. Chosen so that a report line or a
# digest entry stays under a Slack section's 3,000 characters even when every character of
# it escapes to five (``&amp;``).
TITLE_CHARS = 200
OUTLET_CHARS = 60
TOPIC_CHARS = 80
NOTE_CHARS = 60
SEVERITY_CHARS = 20
TERM_CHARS = 80
TERMS_CHARS = 600
SENTENCE_CHARS = 500
SHOWN_URL_CHARS = 150

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Bidi embeddings, overrides and isolates: they make text display in another order than it is.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_WEB_URL = re.compile(r"https?://[^/?#\s]", re.IGNORECASE)
#: Characters that may not appear raw in a URL and that would end a Slack link or an attribute.
_URL_UNSAFE = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}]')


def clean(text: str | None) -> str:
    """Feed text as one line: control characters and bidi overrides out, whitespace collapsed."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub(" ", _BIDI.sub("", text)).split())


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 1`` characters and "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fit(text: str, limit: int, render: Callable[[str], str]) -> str:
    """``render(text)``, or ``render`` of its longest prefix + "…" that stays within ``limit``."""
    out = render(text)
    if len(out) <= limit:
        return out
    low, high = 0, len(text)  # a prefix of ``low`` characters fits: "…" alone always does
    while low < high:
        mid = (low + high + 1) // 2
        if len(render(text[:mid].rstrip() + "…")) <= limit:
            low = mid
        else:
            high = mid - 1
    return render(text[:low].rstrip() + "…")


def web_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) URL with a host (unsafe characters percent-encoded), else None.

    The scheme is checked on the very string that is returned, so nothing a browser strips
    (leading controls, tabs) can turn a checked URL into another scheme.
    """
    url = (url or "").strip()
    if not _WEB_URL.match(url):
        return None
    return _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", url)


@dataclass(frozen=True)
class Span:
    """A piece of a line: clean text, a link when ``url`` (a checked web URL) is set."""

    text: str
    url: str | None = None


Line = tuple[Span, ...]
