"""Parse: the bytes of one feed document in, a :class:`ParsedFeed` of :class:`RawEntry` out.

In: a response body, the URL it came from and its Content-Type. Out: the feed's entries with
their fields as the feed wrote them (HTML stays HTML; :mod:`monitor.feeds.normalize` makes
text of it), links made absolute and dates in UTC. It never touches the network or the file
system, and it is the only module that imports feedparser::

    parsed = parse_feed(body, url="https://example.org/rss", content_type="text/xml")
    parsed.entries[0].link      # 'https://example.org/news/1'
    parsed.problem              # None, or why the document was only parsed leniently

RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 go through feedparser; JSON Feed 1.0/1.1 (which feedparser
6 does not read) is read here with orjson into the same shape. A body that is no feed at all
raises :class:`FeedParseError` whose text says why ("HTML page, not a feed", "empty body",
"not JSON Feed", "no items and no feed element", ...).

What is done before feedparser sees the document, and why:

- The bytes are decoded here, not by feedparser (see :func:`decode_document`): a body that is
  valid UTF-8 is UTF-8 whatever it claims, legacy labels mean their Windows supersets
  (euc-kr → cp949, gb2312 → gb18030, iso-8859-1 → windows-1252, shift_jis → cp932), and a
  document that is none of these falls back to windows-1252. feedparser then gets UTF-8 with a
  matching declaration, so its own guessing (which reads EUC-KR bytes outside EUC-KR as
  windows-1252) never runs.
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
import codecs
import contextlib
import html
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import orjson


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


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse one feed document; raise :class:`FeedParseError` when it is not a feed.

    ``url`` is where the body came from (after redirects): relative links resolve against it.
    """
    if not body.strip():
        raise FeedParseError("empty body")
    mime, charset = _content_type(content_type)
    decoded = decode_document(body, charset=charset)
    text = decoded.text.lstrip("\ufeff \t\r\n")
    if text.startswith("{") or ("json" in mime and not text.startswith("<")):
        return _parse_json_feed(text, url=url, decoded=decoded)
    if "\x00" in text:
        raise FeedParseError("binary data, not a feed")
    root = _root_element(text)
    if root is None:
        raise FeedParseError("not XML: no element found")
    if root.lower() == "html" or root.lower().endswith(":html"):
        raise FeedParseError("HTML page, not a feed")
    return _parse_xml_feed(text, url=url, decoded=decoded)


# --- decoding -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Decoded:
    """A document as text, the codec that produced it, and what was wrong with its label."""

    text: str
    encoding: str
    problem: str | None = None


_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# "<?" or "<" followed by a NUL: UTF-16/32 without a byte order mark.
_WIDE_STARTS = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"),
)
#: What a legacy label means in practice: the Windows superset every browser decodes it with.
SUPERSETS = {
    "ascii": "cp1252", "iso8859-1": "cp1252", "euc_kr": "cp949", "gb2312": "gb18030",
    "gbk": "gb18030", "shift_jis": "cp932", "big5": "big5hkscs", "tis-620": "cp874",
    "iso8859-9": "cp1254", "iso8859-11": "cp874",
}
_ALIASES = {"x-sjis": "shift_jis", "windows-31j": "cp932", "x-euc-kr": "euc_kr",
            "ks_c_5601": "euc_kr", "unicode-1-1-utf-8": "utf-8", "x-gbk": "gbk"}
_XML_ENCODING = re.compile(
    rb"<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._:-]{0,40})[\"']")


def decode_document(body: bytes, *, charset: str | None = None) -> Decoded:
    """Return ``body`` as text, choosing the codec as follows (first that applies).

    1. a byte order mark (it wins over any label);
    2. UTF-16/32 recognized by NUL bytes around the first ``<``;
    3. UTF-8, if the bytes are valid UTF-8 (other encodings almost never are, so a UTF-8
       body labelled iso-8859-1 by its server is still read right);
    4. the HTTP ``charset``, then the XML declaration's ``encoding``: each as its Windows
       superset (:data:`SUPERSETS`), then as itself; a UTF-16/32 label on bytes without NULs
       is ignored;
    5. UTF-8 with the invalid bytes replaced, if they are few next to valid multi-byte ones;
    6. the declared encoding with invalid bytes replaced;
    7. windows-1252 (latin-1 where windows-1252 has holes).
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _decode_or_replace(body[len(bom):], codec, "byte order mark")
    for start, codec in _WIDE_STARTS:
        if body.startswith(start):
            return _decode_or_replace(body, codec, "NUL bytes")
    declared = [label for label in (_codec_name(charset), _xml_declared(body)) if label]
    declared = list(dict.fromkeys(declared))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        other = [d for d in declared if d not in ("utf-8", "ascii")]
        problem = None
        if other and not body.isascii():
            problem = f"declared {other[0]}, but the bytes are UTF-8"
        return Decoded(text, "utf-8", problem)
    for label in declared:
        if label == "utf-8" or label.startswith(("utf-16", "utf-32")):
            continue
        for codec in dict.fromkeys((SUPERSETS.get(label, label), label)):
            try:
                text = body.decode(codec)
            except UnicodeDecodeError:
                continue
            problem = None if label == declared[0] else (
                f"charset {declared[0]} does not fit the bytes; used {label}")
            return Decoded(text, codec, problem)
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    if good > 0 and bad * 10 <= good:
        return Decoded(text, "utf-8", f"{bad} invalid UTF-8 byte sequence(s) replaced")
    for label in declared:
        if label != "utf-8" and not label.startswith(("utf-16", "utf-32")):
            codec = SUPERSETS.get(label, label)
            return Decoded(body.decode(codec, "replace"), codec,
                           f"bytes invalid in the declared {label} were replaced")
    what = f"declared {declared[0]}" if declared else "no encoding declared"
    try:
        return Decoded(body.decode("cp1252"), "cp1252",
                       f"{what} and not UTF-8; decoded as windows-1252")
    except UnicodeDecodeError:
        return Decoded(body.decode("latin-1"), "latin-1",
                       f"{what} and not UTF-8; decoded as latin-1")


def _decode_or_replace(body: bytes, codec: str, evidence: str) -> Decoded:
    try:
        return Decoded(body.decode(codec), codec)
    except UnicodeDecodeError:
        return Decoded(body.decode(codec, "replace"), codec,
                       f"invalid {codec} bytes replaced ({evidence} says {codec})")


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _xml_declared(body: bytes) -> str | None:
    match = _XML_ENCODING.search(body, 0, 1024)
    return _codec_name(match.group(1).decode("ascii")) if match else None


def _content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return mime.strip().lower(), charset


# --- XML feeds ------------------------------------------------------------------------------

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


def _root_element(text: str) -> str | None:
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


def _parse_xml_feed(text: str, *, url: str, decoded: Decoded) -> ParsedFeed:
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
        link=_absolute(feed.get("link"), url),
        language=_clean(feed.get("language")) or _detail_language(feed.get("title_detail")),
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
            if resolved in (value, _absolute(value, base)):
                return value
        return None


_GUID = re.compile(r"<guid\b[^>]*>\s*(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?\s*</guid\s*>",
                   re.DOTALL | re.IGNORECASE)


def _xml_entry(fields: Mapping[str, Any], url: str, guids: _RelativeGuids) -> RawEntry:
    # A plain copy: feedparser's dict answers some missing keys with other keys' values (and
    # a DeprecationWarning), e.g. ``updated_parsed`` with ``published_parsed``.
    entry = dict(fields)
    link = _clean(entry.get("link"))
    guid = _clean(entry.get("id"))
    if link and guid and link == guid and entry.get("guidislink"):
        detail = entry.get("title_detail") or entry.get("summary_detail") or {}
        original = guids.original(link, detail.get("base") or url)
        if original is not None:
            # The link came from a guid that is no URL: keep the guid as written, no link.
            guid, link = original, None
    content = _longest_content(entry.get("content") or ())
    return RawEntry(
        guid=guid,
        link=_absolute(link, url),
        title_html=_html_of(entry.get("title_detail"), entry.get("title", "")),
        summary_html=_html_of(entry.get("summary_detail"), entry.get("summary", "")),
        content_html=content,
        authors=_authors(entry),
        categories=_unique(_clean(t.get("term")) or _clean(t.get("label"))
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
    names = [_clean(a.get("name")) or _clean(a.get("email")) for a in entry.get("authors") or ()
             if isinstance(a, Mapping)]
    if not any(names):
        names = [_clean(entry.get("author"))]
    return _unique(html.unescape(n) for n in names if n)


def _content_language(contents: Iterable[Mapping[str, Any]]) -> str | None:
    return next((lang for c in contents if (lang := _detail_language(c))), None)


def _detail_language(detail: Mapping[str, Any] | None) -> str | None:
    return _clean((detail or {}).get("language"))


def _entry_date(entry: Mapping[str, Any], key: str) -> datetime | None:
    raw = entry.get(key)
    guess = None
    parsed = entry.get(key + "_parsed")
    if parsed:
        with contextlib.suppress(OverflowError, ValueError, OSError):
            guess = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return parse_date(raw if isinstance(raw, str) else None, guess=guess)


# --- JSON Feed ------------------------------------------------------------------------------

def _parse_json_feed(text: str, *, url: str, decoded: Decoded) -> ParsedFeed:
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
        link=_absolute(_text(data.get("home_page_url")), url),
        language=_clean(_text(data.get("language"))),
        entries=entries, format="json11" if version.rstrip("/").endswith("1.1") else "json10",
        encoding=decoded.encoding, problem="; ".join(problems) or None)


def _json_entry(item: Mapping[str, Any], url: str, feed_authors: tuple[str, ...]) -> RawEntry:
    guid = item.get("id")
    content = _text(item.get("content_html"))
    if not content and item.get("content_text"):
        content = _text_as_html(_text(item.get("content_text")))
    tags = item.get("tags")
    return RawEntry(
        guid=_clean(str(guid)) if isinstance(guid, str | int) else None,
        link=_absolute(_clean(_text(item.get("url"))) or _clean(_text(item.get("external_url"))),
                       url),
        title_html=html.escape(_text(item.get("title")), quote=False),
        summary_html=html.escape(_text(item.get("summary")), quote=False),
        content_html=content,
        authors=_json_authors(item) or feed_authors,
        categories=_unique(_clean(t) for t in tags if isinstance(t, str))
        if isinstance(tags, list) else (),
        published=parse_date(_text(item.get("date_published"))),
        updated=parse_date(_text(item.get("date_modified"))),
        language=_clean(_text(item.get("language"))))


def _json_authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    found = obj.get("authors")
    if not isinstance(found, list):
        found = [obj.get("author")]
    return _unique(_clean(_text(a.get("name"))) for a in found if isinstance(a, dict))


def _text_as_html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p.strip())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- dates ------------------------------------------------------------------------------------

# Month names as feeds write them when they ignore RFC 822: English, Portuguese, Spanish,
# Italian, French, German (accents removed, lower case, full names and abbreviations).
_MONTHS = {name: number for number, names in enumerate((
    "jan january janeiro enero ene gennaio gen janvier janv januar jaen",
    "feb february fevereiro fev febrero febbraio fevrier fevr februar",
    "mar march marco marzo mars maerz marz maer",
    "apr april abril abr aprile avril avr",
    "may mai maio mayo maggio mag",
    "jun june junho junio giugno giu juin",
    "jul july julho julio luglio lug juillet juil juli",
    "aug august agosto ago aout",
    "sep sept september setembro set septiembre settembre septembre",
    "oct october outubro out octubre ottobre ott octobre okt oktober",
    "nov november novembro noviembre novembre",
    "dec december dezembro dez diciembre dic dicembre decembre dezember",
), start=1) for name in names.split()}
_ZONES = {"z": 0, "ut": 0, "utc": 0, "gmt": 0, "wet": 0, "bst": 60, "cet": 60, "cest": 120,
          "eet": 120, "eest": 180, "msk": 180, "ist": 330, "hkt": 480, "jst": 540,
          "kst": 540, "aest": 600, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
          "mst": -420, "mdt": -360, "pst": -480, "pdt": -420}
_TIME = (r"(?:[\sT,]+(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?(?:\.\d+)?"
         r"\s*(?P<ampm>[ap]\.?m\.?)?)?\s*(?P<zone>[+-]\d{2}:?\d{2}|[a-z]{1,5}\b)?")
_WEEKDAY = r"(?:[^\W\d_]{2,}\.?,?\s+)?"
_DATE_PARTS = (
    r"(?P<day>\d{1,2})\.?\s*(?:de\s+)?(?P<month>[^\W\d_]{3,})\.?,?\s*(?:de\s+)?(?P<year>\d{4})",
    r"(?P<month>[^\W\d_]{3,})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})",
    r"(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})",
)
_WHOLE_DATES = [re.compile(_WEEKDAY + p + _TIME + r"\s*$") for p in _DATE_PARTS]
_DATES_INSIDE = [re.compile(p + _TIME) for p in _DATE_PARTS]


def parse_date(value: str | None, *, guess: datetime | None = None) -> datetime | None:
    """Return a feed date as aware UTC, or None when it cannot be read.

    Order, first that succeeds:
    1. ISO 8601 / RFC 3339;
    2. a whole string of the form day-month-year, month-day-year or year/month/day (month
       names in six languages, optional weekday, 12-hour times, numeric or named zones such
       as EST, PDT, KST; no zone means UTC);
    3. ``guess``: feedparser's reading, which knows rarer formats but reads
       ``2020/1/10 14:33`` as 1 December 2020 and ignores "PM";
    4. RFC 822 as the email module reads it;
    5. a date of the forms in 2 found inside the string.
    """
    if not value or not value.strip():
        return guess
    value = " ".join(value.split())
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:
        pass
    folded = _strip_accents(value.lower())
    for form in _WHOLE_DATES:
        match = form.match(folded)
        if match and (found := _from_match(match)):
            return found
    if guess is not None:
        return guess
    try:
        return _as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        pass
    for form in _DATES_INSIDE:
        match = form.search(folded)
        if match and (found := _from_match(match)):
            return found
    return None


def _from_match(match: re.Match[str]) -> datetime | None:
    parts = match.groupdict()
    month_text = parts["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.rstrip("."))
    if not month:
        return None
    hour, minute = int(parts["hour"] or 0), int(parts["minute"] or 0)
    ampm = (parts["ampm"] or "").replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    offset = _zone_minutes(parts["zone"])
    try:
        local = datetime(int(parts["year"]), month, int(parts["day"]), hour, minute,
                         int(parts["second"] or 0), tzinfo=timezone(timedelta(minutes=offset)))
    except ValueError:
        return None
    return local.astimezone(UTC)


def _zone_minutes(zone: str | None) -> int:
    if not zone:
        return 0
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4])
        return -minutes if zone[0] == "-" else minutes
    return _ZONES.get(zone, 0)


def _strip_accents(text: str) -> str:
    return text.translate(_ACCENTS)


_ACCENTS = str.maketrans("áàâãäçéèêëíìîïñóòôõöúùûüß", "aaaaaceeeeiiiinooooouuuus")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- small helpers ----------------------------------------------------------------------------

def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _is_absolute(link: str) -> bool:
    return bool(urlsplit(link).scheme)


def _absolute(link: str | None, base: str) -> str | None:
    link = _clean(link)
    if not link:
        return None
    try:
        return urljoin(base, link)
    except ValueError:
        return None

