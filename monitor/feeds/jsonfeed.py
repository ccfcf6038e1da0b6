"""JSON Feed 1.0/1.1: the decoded text of a JSON Feed in, a :class:`ParsedFeed` out.

In: the document as text (see :mod:`monitor.feeds.charset`), the URL it came from, and how
it was decoded. Out: the same :class:`~monitor.feeds.parsed.ParsedFeed` an RSS or Atom feed
gives (feedparser 6 does not read JSON Feed), with ``format`` ``json10`` or ``json11``. Other
JSON raises :class:`~monitor.feeds.parsed.FeedParseError` ("not JSON Feed: ..."). It never
touches the network::

    parsed = parse_json_feed(text, url="https://example.org/feed.json", decoded=decoded)
    parsed.entries[0].content_html   # content_text becomes <p> paragraphs
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import orjson

from monitor.feeds.charset import Decoded
from monitor.feeds.dates import parse_date
from monitor.feeds.parsed import FeedParseError, ParsedFeed, RawEntry, absolute, clean, unique


def parse_json_feed(text: str, *, url: str, decoded: Decoded) -> ParsedFeed:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FeedParseError(f"not JSON Feed: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedParseError("not JSON Feed: no 'items' list")
    version = str(data.get("version") or "")
    if "jsonfeed.org" not in version:
        raise FeedParseError(f"not JSON Feed: version {version[:60]!r}")
    problems = [decoded.problem] if decoded.problem else []
    items = [item for item in data["items"] if isinstance(item, dict)]
    if len(items) < len(data["items"]):
        problems.append(f"{len(data['items']) - len(items)} item(s) that are not objects skipped")
    feed_authors = _json_authors(data)
    entries = tuple(_json_entry(item, url, feed_authors) for item in items)
    return ParsedFeed(
        title_html=html.escape(_text(data.get("title")), quote=False),
        link=absolute(_text(data.get("home_page_url")), url),
        language=clean(_text(data.get("language"))),
        entries=entries, format="json11" if version.rstrip("/").endswith("1.1") else "json10",
        encoding=decoded.encoding, problem="; ".join(problems) or None)


def _json_entry(item: Mapping[str, Any], url: str, feed_authors: tuple[str, ...]) -> RawEntry:
    guid = item.get("id")
    content = _text(item.get("content_html"))
    if not content and item.get("content_text"):
        content = _text_as_html(_text(item.get("content_text")))
    tags = item.get("tags")
    return RawEntry(
        guid=clean(str(guid)) if isinstance(guid, str | int) else None,
        link=absolute(clean(_text(item.get("url"))) or clean(_text(item.get("external_url"))),
                       url),
        title_html=html.escape(_text(item.get("title")), quote=False),
        summary_html=html.escape(_text(item.get("summary")), quote=False),
        content_html=content,
        authors=_json_authors(item) or feed_authors,
        categories=unique(clean(t) for t in tags if isinstance(t, str))
        if isinstance(tags, list) else (),
        published=parse_date(_text(item.get("date_published"))),
        updated=parse_date(_text(item.get("date_modified"))),
        language=clean(_text(item.get("language"))))


def _json_authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    found = obj.get("authors")
    if not isinstance(found, list):
        found = [obj.get("author")]
    return unique(clean(_text(a.get("name"))) for a in found if isinstance(a, dict))


def _text_as_html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p.strip())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

