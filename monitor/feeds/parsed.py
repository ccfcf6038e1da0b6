"""What the feed readers produce: a :class:`ParsedFeed` of :class:`RawEntry`, or an error.

In: nothing but values; :mod:`monitor.feeds.xmlfeed` and :mod:`monitor.feeds.jsonfeed` build
these, :mod:`monitor.feeds.normalize` reads them. Also the few field clean-ups both readers
share, so an RSS item and a JSON Feed item end up with the same shape::

    clean("  Seoul ")                          # 'Seoul'; blank or not a str → None
    absolute("/news/1", "https://example.org/rss")   # 'https://example.org/news/1'

It never parses a document, touches the network or imports a feed library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin


class FeedParseError(ValueError):
    """The body is not a feed (an HTML page, an empty body, another JSON document ...)."""


@dataclass(frozen=True)
class RawEntry:
    """One item of a feed, as the feed wrote it.

    ``*_html`` fields are HTML even where the feed had plain text (it is escaped), so a
    reader has one format to handle. Dates are timezone-aware UTC, or None when absent or
    unreadable. ``link`` is absolute (http, https or another scheme the feed used), or None.
    """

    guid: str | None
    link: str | None
    title_html: str
    summary_html: str
    content_html: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    language: str | None


@dataclass(frozen=True)
class ParsedFeed:
    """One parsed feed document.

    ``format`` is feedparser's version name (``rss20``, ``rss10``, ``atom10`` ...) or
    ``json10`` / ``json11``; ``encoding`` the codec the bytes were decoded with; ``problem``
    a short description when the document was malformed and parsed leniently, else None.
    """

    title_html: str
    link: str | None
    language: str | None
    entries: tuple[RawEntry, ...]
    format: str
    encoding: str
    problem: str | None = None


def clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))



def absolute(link: str | None, base: str) -> str | None:
    link = clean(link)
    if not link:
        return None
    try:
        return urljoin(base, link)
    except ValueError:
        return None

