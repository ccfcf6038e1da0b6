"""Parse: the bytes of one feed document in, a :class:`ParsedFeed` of :class:`RawEntry` out.

In: a response body, the URL it came from and its Content-Type. Out: the feed's entries with
their fields as the feed wrote them (HTML stays HTML; :mod:`monitor.feeds.normalize` makes
text of it), links made absolute and dates in UTC. It never touches the network or the file
system::

    parsed = parse_feed(body, url="https://example.org/rss", content_type="text/xml")
    parsed.entries[0].link      # 'https://example.org/news/1'
    parsed.problem              # None, or why the document was only parsed leniently

This module only decides which reader a document goes to; each step lives in its own module:

- :mod:`monitor.feeds.charset`: bytes → text (byte order mark, HTTP charset, XML declaration);
- :mod:`monitor.feeds.jsonfeed`: JSON Feed 1.0/1.1, read with orjson;
- :mod:`monitor.feeds.xmlfeed`: RSS 0.9x/1.0/2.0 and Atom 0.3/1.0, through feedparser;
- :mod:`monitor.feeds.dates`: the dates both readers find;
- :mod:`monitor.feeds.parsed`: :class:`ParsedFeed`, :class:`RawEntry`, :class:`FeedParseError`.

A body that is no feed at all raises :class:`FeedParseError` whose text says why ("HTML
page, not a feed", "empty body", "not JSON Feed", "no items and no feed element", ...).
"""

from __future__ import annotations

from monitor.feeds.charset import Decoded, decode_document, parse_content_type
from monitor.feeds.dates import parse_date
from monitor.feeds.jsonfeed import parse_json_feed
from monitor.feeds.parsed import FeedParseError, ParsedFeed, RawEntry
from monitor.feeds.xmlfeed import parse_xml_feed, root_element

# Names importers used when all of this lived here.
__all__ = [
    "Decoded", "FeedParseError", "ParsedFeed", "RawEntry", "decode_document", "parse_date",
    "parse_feed",
]


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse one feed document; raise :class:`FeedParseError` when it is not a feed.

    ``url`` is where the body came from (after redirects): relative links resolve against it.
    """
    if not body.strip():
        raise FeedParseError("empty body")
    mime, charset = parse_content_type(content_type)
    decoded = decode_document(body, charset=charset)
    text = decoded.text.lstrip("\ufeff \t\r\n")
    if text.startswith("{") or ("json" in mime and not text.startswith("<")):
        return parse_json_feed(text, url=url, decoded=decoded)
    if "\x00" in text:
        raise FeedParseError("binary data, not a feed")
    root = root_element(text)
    if root is None:
        raise FeedParseError("not XML: no element found")
    if root.lower() == "html" or root.lower().endswith(":html"):
        raise FeedParseError("HTML page, not a feed")
    return parse_xml_feed(text, url=url, decoded=decoded)
