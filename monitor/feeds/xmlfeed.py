"""RSS and Atom: the decoded text of an XML feed in, a :class:`ParsedFeed` out.

In: the document as text (see :mod:`monitor.feeds.charset`), the URL it came from, and how
it was decoded. Out: the feed's entries as :class:`~monitor.feeds.parsed.RawEntry`, links made
absolute, dates in UTC, ``format`` as feedparser names it (``rss20``, ``atom10`` ...). A
document with no items and no feed element raises :class:`~monitor.feeds.parsed.FeedParseError`.
It never touches the network or the file system, and it is the only module that imports
feedparser (RSS 0.9x/1.0/2.0 and Atom 0.3/1.0)::

    root_element(text)                                  # 'rss'; 'html' for a web page
    parsed = parse_xml_feed(text, url="https://example.org/rss", decoded=decoded)

What is done before feedparser sees the document, and why:

- feedparser gets UTF-8 with a matching declaration (the text was decoded by
  :mod:`monitor.feeds.charset`), so its own charset guessing never runs.
- Entities declared in the internal DTD subset are expanded here, and only short literal
  ones; the subset itself is removed. feedparser's lenient parser expands every entity it
  keeps, without a limit: one 50 KB entity referenced 20,000 times took it 27 s and 3 GB
  (expat, its strict parser, stops that, and feedparser then falls back to the lenient one).
- Characters that XML forbids (C0 controls) are removed, so one stray byte does not send the
  whole document to the slower, lossier lenient parser.
- feedparser is given bytes wrapped in a stream, never a ``str`` or ``bytes`` value: given
  those, it first tries them as a URL to fetch and as a file name to open.
- The feed URL goes in as Content-Location, so feedparser resolves links against it and
  ``xml:base``. It resolves guids the same way (RSS says a guid is a URL unless
  ``isPermaLink="false"``) and uses one as the link of an entry that has none, turning
  ``<guid>88231</guid>`` into ``https://example.org/feeds/88231``; such a guid is put back as
  written and the entry keeps no link.
"""

from __future__ import annotations

import calendar
import contextlib
import html
import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from monitor.feeds.charset import Decoded
from monitor.feeds.dates import parse_date
from monitor.feeds.parsed import FeedParseError, ParsedFeed, RawEntry, absolute, clean, unique

_PROLOG_ITEM = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)", re.DOTALL | re.IGNORECASE)
_ELEMENT = re.compile(r"\s*<([A-Za-z_][\w:.-]*)")
_XML_DECLARATION = re.compile(r"<\?xml\s[^>]*?\?>")
_DOCTYPE_SUBSET = re.compile(r"(<!DOCTYPE\s[^\[>]*\[)(.*?)(\]\s*>)", re.DOTALL | re.IGNORECASE)
_ENTITY_DECL = re.compile(r"<!ENTITY\s.*?>", re.DOTALL)
_SAFE_ENTITY = re.compile(
    r"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(?:\"(&#\w+;|[^&%\"<]{0,8})\"|'(&#\w+;|[^&%'<]{0,8})')\s*>")
# XML 1.0 forbids these characters; expat stops at the first one.
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PREFIXED_ITEM = re.compile(r"<([A-Za-z_][\w.-]*):(?:item|entry)[\s>]")


def _prolog_end(text: str) -> int | None:
    """Return where the root element starts, after declarations, comments and DOCTYPE, or
    None when the prolog is broken (an unterminated comment, a mangled declaration)."""
    position = 0
    while match := _PROLOG_ITEM.match(text, position):
        if match.end() == position:
            break
        position = match.end()
    element = _ELEMENT.match(text, position)
    return element.start(1) - 1 if element else None


def root_element(text: str) -> str | None:
    end = _prolog_end(text)
    element = _ELEMENT.match(text, end) if end is not None else None
    if element:
        return element.group(1)
    # The broken prolog hides the root from the scan; take the first tag that looks like an
    # element.
    fallback = re.search(r"<([A-Za-z_][\w:.-]*)[\s>/]", text[:65536])
    return fallback.group(1) if fallback else None


def _prepare_xml(text: str) -> tuple[str, list[str]]:
    """Return the document ready for feedparser (UTF-8 declared) and what had to change."""
    problems = []
    declaration = _XML_DECLARATION.match(text)
    if declaration:
        text = text[declaration.end():]
    # Where the prolog cannot be told apart, any DOCTYPE subset counts: feedparser would
    # otherwise keep its entities, however long.
    end = _prolog_end(text)
    subset = _DOCTYPE_SUBSET.search(text, 0, len(text) if end is None else end)
    if subset:
        text, dropped = _expand_entities(text, subset)
        if dropped:
            problems.append(f"{dropped} entity declaration(s) ignored "
                            "(only short literal values are expanded)")
    text, removed = _NOT_XML_CHARS.subn("", text)
    if removed:
        problems.append(f"{removed} character(s) not allowed in XML removed")
    # Same line count as before, so feedparser's error positions still point at the original.
    return "<?xml version='1.0' encoding='utf-8'?>" + text, problems


def _expand_entities(text: str, subset: re.Match[str]) -> tuple[str, int]:
    """Replace the internal DTD subset by the expansion of its safe entities.

    An entity is expanded only when its value is one character reference or at most eight
    literal characters (``<!ENTITY nbsp "&#160;">``), so no document grows by more than a
    small factor. The others stay unexpanded, and feedparser never sees a declaration (its
    own DOCTYPE rewriting breaks on a subset that does not put one per line).
    """
    declarations = _ENTITY_DECL.findall(subset.group(2))
    values = {}
    for declaration in declarations:
        safe = _SAFE_ENTITY.fullmatch(declaration)
        if safe:
            values[safe.group(1)] = safe.group(2) if safe.group(2) is not None else safe.group(3)
    # The DOCTYPE keeps its name and external identifier, and its line count.
    doctype = subset.group(1)[:-1].rstrip() + "\n" * subset.group(0).count("\n") + ">"
    rest = text[subset.end():]
    if values:
        names = re.compile("&(" + "|".join(re.escape(name) for name in values) + ");")
        rest = names.sub(lambda m: values[m.group(1)], rest)
    return text[:subset.start()] + doctype + rest, len(declarations) - len(values)


def _feedparser(text: str, url: str) -> Any:
    return feedparser.parse(
        io.BytesIO(text.encode("utf-8")),
        # What the bytes are now (decoded and re-encoded above), not what the server said.
        response_headers={"content-location": url,
                          "content-type": "application/xml; charset=utf-8"},
        # We strip all markup ourselves, so sanitizing it (and rewriting the links inside it)
        # would be work thrown away; ``link`` and ``xml:base`` are resolved either way.
        sanitize_html=False, resolve_relative_uris=False)


def parse_xml_feed(text: str, *, url: str, decoded: Decoded) -> ParsedFeed:
    prepared, problems = _prepare_xml(text)
    if decoded.problem:
        problems.insert(0, decoded.problem)
    result = _feedparser(prepared, url)
    if not result.entries:
        repaired = _without_undeclared_prefix(prepared)
        if repaired is not None:
            retry = _feedparser(repaired[0], url)
            if retry.entries:
                result = retry
                problems.append(repaired[1])
    if result.get("bozo"):
        problems.append(_describe(result.get("bozo_exception")))
    if not result.entries and not result.get("version"):
        raise FeedParseError("no items and no feed element")
    feed = dict(result.feed)
    guids = _RelativeGuids(prepared)
    entries = tuple(_xml_entry(e, url, guids) for e in result.entries)
    return ParsedFeed(
        title_html=_html_of(feed.get("title_detail"), feed.get("title", "")),
        link=absolute(feed.get("link"), url),
        language=clean(feed.get("language")) or _detail_language(feed.get("title_detail")),
        entries=entries, format=result.get("version") or "unknown",
        encoding=decoded.encoding, problem="; ".join(problems) or None)


def _without_undeclared_prefix(text: str) -> tuple[str, str] | None:
    """Drop a namespace prefix the document uses on its items but never declares.

    Some generators write ``<rss:item>`` with no ``xmlns:rss``; no XML parser can place those
    elements, so without this the document yields nothing.
    """
    match = _PREFIXED_ITEM.search(text)
    if not match or re.search(rf"xmlns:{re.escape(match.group(1))}\s*=", text):
        return None
    prefix = re.escape(match.group(1))
    text = re.sub(rf"<(/?){prefix}:", r"<\1", text)
    text = re.sub(rf"(\s){prefix}:([\w.-]+\s*=)", r"\1\2", text)
    return text, f"undeclared namespace prefix {match.group(1)!r} removed"


def _describe(exc: object) -> str:
    get_message = getattr(exc, "getMessage", None)
    get_line = getattr(exc, "getLineNumber", None)
    if callable(get_message) and callable(get_line):
        return f"malformed XML: {get_message()} at line {get_line()}"
    return f"malformed XML: {exc}"


class _RelativeGuids:
    """The document's ``<guid>`` values that are not absolute URLs, read when first needed.

    feedparser resolves every guid against ``xml:base`` (isPermaLink defaults to true) and
    uses it as the link of an entry that has none, turning ``88231`` into a made-up address.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._values: list[str] | None = None

    def original(self, resolved: str, base: str) -> str | None:
        """Return the relative guid that feedparser resolved into ``resolved``, if any."""
        if self._values is None:
            self._values = [value for value in (html.unescape(v).strip()
                                                for v in _GUID.findall(self._text))
                            if value and not _is_absolute(value)]
        for value in self._values:
            if resolved in (value, absolute(value, base)):
                return value
        return None


_GUID = re.compile(r"<guid\b[^>]*>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</guid\s*>",
                   re.DOTALL | re.IGNORECASE)


def _xml_entry(fields: Mapping[str, Any], url: str, guids: _RelativeGuids) -> RawEntry:
    # A plain copy: feedparser's dict answers some missing keys with other keys' values (and
    # a DeprecationWarning), e.g. ``updated_parsed`` with ``published_parsed``.
    entry = dict(fields)
    link = clean(entry.get("link"))
    guid = clean(entry.get("id"))
    if link and guid and link == guid and entry.get("guidislink"):
        detail = entry.get("title_detail") or entry.get("summary_detail") or {}
        original = guids.original(link, detail.get("base") or url)
        if original is not None:
            # The link came from a guid that is no URL: keep the guid as written, no link.
            guid, link = original, None
    content = _longest_content(entry.get("content") or ())
    return RawEntry(
        guid=guid,
        link=absolute(link, url),
        title_html=_html_of(entry.get("title_detail"), entry.get("title", "")),
        summary_html=_html_of(entry.get("summary_detail"), entry.get("summary", "")),
        content_html=content,
        authors=_authors(entry),
        categories=unique(clean(t.get("term")) or clean(t.get("label"))
                           for t in entry.get("tags") or ()),
        published=_entry_date(entry, "published"),
        updated=_entry_date(entry, "updated"),
        language=_content_language(entry.get("content") or ())
        or _detail_language(entry.get("summary_detail"))
        or _detail_language(entry.get("title_detail")))


def _html_of(detail: Mapping[str, Any] | None, value: str) -> str:
    """Return a field as HTML: feedparser says per field whether it is text or markup."""
    value = value or ""
    kind = (detail or {}).get("type") or "text/html"
    if kind in ("text/plain", "text"):
        return html.escape(value, quote=False)
    return value


def _longest_content(contents: Iterable[Mapping[str, Any]]) -> str:
    best = ""
    for content in contents:
        value = _html_of(content, content.get("value", ""))
        if len(value) > len(best):
            best = value
    return best


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = [clean(a.get("name")) or clean(a.get("email")) for a in entry.get("authors") or ()
             if isinstance(a, Mapping)]
    if not any(names):
        names = [clean(entry.get("author"))]
    return unique(html.unescape(n) for n in names if n)


def _content_language(contents: Iterable[Mapping[str, Any]]) -> str | None:
    return next((lang for c in contents if (lang := _detail_language(c))), None)


def _detail_language(detail: Mapping[str, Any] | None) -> str | None:
    return clean((detail or {}).get("language"))


def _entry_date(entry: Mapping[str, Any], key: str) -> datetime | None:
    raw = entry.get(key)
    guess = None
    parsed = entry.get(key + "_parsed")
    if parsed:
        with contextlib.suppress(OverflowError, ValueError, OSError):
            guess = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return parse_date(raw if isinstance(raw, str) else None, guess=guess)


def _is_absolute(link: str) -> bool:
    return bool(urlsplit(link).scheme)
