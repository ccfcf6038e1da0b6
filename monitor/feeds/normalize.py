"""Normalize: a :class:`~monitor.feeds.parse.ParsedFeed` in, the feed's :class:`Article` list out.

This is where an entry gets its identity (``article_id``), its canonical URL, plain text and a
language. Pure functions, no I/O; py3langid is imported here and nowhere else::

    articles = normalize_feed(parsed, feed=feed, fetched_at=utcnow(), base_url=result.url)

Rules, per entry:

- ``title``, ``summary`` and ``text`` are plain text: tags dropped (``script``/``style`` and
  their content too), entities decoded, block elements turned into paragraph breaks
  (``"\\n\\n"``), ``<br>`` into line breaks, other white space collapsed. A field still
  showing markup or entities after that was escaped twice by its feed and is decoded once
  more (``&amp;amp;`` → ``&``, ``&lt;b&gt;`` → nothing). UTF-8 that was read as
  windows-1252 and saved again (``ÐœÐ¾ÑÐºÐ²Ð°``) is repaired when the repair is exact.
- ``text`` is the entry's content (``content:encoded``, Atom ``content``, JSON
  ``content_html``/``content_text``) and else its summary; ``summary`` is the summary (else
  the text) on one line, cut at a word boundary to :data:`SUMMARY_LENGTH` characters.
- ``url`` is the link resolved against the feed URL, kept only when it is http(s);
  ``canonical_url`` is :func:`canonicalize_url` of it.
- ``published_at`` is the publication date, else the update date, in UTC. A date more than
  :data:`FUTURE_TOLERANCE` after ``fetched_at`` is a broken clock or a time zone mistake, not
  news from the future: it becomes None (unknown) rather than an article that sorts first for
  days. A date slightly ahead (a few hours of zone error) is kept.
- ``language``: the feed configuration's, else the entry's declared one, else the feed's
  (reduced to the primary subtag, lower case: ``en-GB`` → ``en``), else detected from title
  and text when there are at least :data:`MIN_DETECTION_BYTES` of letters and the detector is
  confident; else None.
- ``article_id``: :func:`~monitor.article.make_article_id` (canonical URL, else feed + guid,
  else feed + title + date). Later entries with an id already produced are dropped.
- An entry with no title, no link and no text is skipped.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitor.article import Article, make_article_id
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.parse import ParsedFeed, RawEntry

SUMMARY_LENGTH = 1000
FUTURE_TOLERANCE = timedelta(days=1)
#: Fewer bytes of letters than this (title and text together, UTF-8) and the language is not
#: guessed: about a dozen English words, or twenty Korean or Chinese characters.
MIN_DETECTION_BYTES = 60
#: How much of the text (after the title) the detector reads.
DETECTION_SAMPLE = 500
#: The detector's probability (normalized over its languages) needed to use its answer. On the
#: 1,025 articles of the test corpus whose feeds declare a language, 0.7 and 60 bytes give an
#: answer for 90% of them and disagree with the declaration 9 times, 8 of them in a Korean
#: feed that declares itself English.
MIN_DETECTION_CONFIDENCE = 0.7

#: Query parameters that say how a reader arrived, not what they read; dropped from
#: ``canonical_url`` so that one story reached from several feeds or campaigns is one article.
TRACKING_PARAMETERS = frozenset({
    # Google, Microsoft, Meta, X, TikTok, LinkedIn, Yandex click ids and analytics
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igshid", "igsh", "_ga", "_gl", "ref_src", "ref_url",
    "__twitter_impression", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
    # Mailchimp, HubSpot, Marketo, Vero, Adobe, Webtrends, Yahoo
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id", "vero_conv", "s_cid",
    "s_kwcid", "wt.mc_id", "wt_mc", "wt_zmc", "guccounter", "guce_referrer",
    "guce_referrer_sig", "soc_src", "soc_trk",
    # Piwik/Matomo
    "pk_campaign", "pk_kwd", "pk_source", "pk_medium", "pk_content",
    # News sites' own campaign tags (MSN, Guardian, CNN, BBC, NYT, Le Monde, Al Jazeera, DW)
    "ocid", "cmpid", "cmp", "icid", "intcmp", "int_cmp", "ito", "xtor", "xtref", "smid",
    "smtyp", "mbid", "sr_share", "traffic_source", "maca",
})
#: Parameter name prefixes that are tracking whatever follows (utm_source, ns_campaign,
#: at_medium, mtm_kwd ...).
TRACKING_PREFIXES = ("utm_", "ns_", "at_", "mtm_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_feed(parsed: ParsedFeed, *, feed: FeedConfig, fetched_at: datetime,
                   base_url: str) -> list[Article]:
    """Return the feed's entries as articles, in feed order, each ``article_id`` once."""
    articles: dict[str, Article] = {}
    for entry in parsed.entries:
        article = normalize_entry(entry, parsed=parsed, feed=feed, fetched_at=fetched_at,
                                  base_url=base_url)
        if article is not None and article.article_id not in articles:
            articles[article.article_id] = article
    return list(articles.values())


def normalize_entry(entry: RawEntry, *, parsed: ParsedFeed, feed: FeedConfig,
                    fetched_at: datetime, base_url: str) -> Article | None:
    """Return one entry as an article, or None when it has no title, link or text."""
    title = _one_line(text_of_html(entry.title_html))
    content = text_of_html(entry.content_html)
    # Atom entries without a summary get their content as summary from feedparser.
    summary_text = (content if entry.summary_html == entry.content_html
                    else text_of_html(entry.summary_html))
    text = content or summary_text
    url = _http_url(entry.link, base_url)
    if not (title or url or text):
        return None
    canonical = canonicalize_url(url) if url else None
    published = entry.published or entry.updated
    if published is not None and published > fetched_at + FUTURE_TOLERANCE:
        published = None
    language = (_primary_language(feed.language) or _primary_language(entry.language)
                or _primary_language(parsed.language) or detect_language(title, text))
    return Article(
        article_id=make_article_id(canonical_url=canonical, feed_id=feed.id, guid=entry.guid,
                                   title=title, published_at=published),
        url=url, canonical_url=canonical, feed_id=feed.id, outlet=feed.outlet, title=title,
        summary=truncate(_one_line(summary_text or text), SUMMARY_LENGTH), text=text,
        language=language, authors=_labels(entry.authors), categories=_labels(entry.categories),
        published_at=published, fetched_at=fetched_at)


# --- URLs -------------------------------------------------------------------------------------

def canonicalize_url(url: str) -> str | None:
    """Return the form of an http(s) URL that identifies its page, or None if it has none.

    - scheme and host in lower case, the host's trailing dot and the default port dropped;
    - the fragment dropped;
    - :data:`TRACKING_PARAMETERS` and :data:`TRACKING_PREFIXES` dropped (names compared
      case-insensitively), the other parameters kept as written and sorted;
    - an empty path becomes ``/``.

    >>> canonicalize_url("HTTPS://Example.org:443/a?utm_source=rss&b=2&a=1#top")
    'https://example.org/a?a=1&b=2'
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", _clean_query(parts.query), ""))


def _clean_query(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = unquote_plus(pair.partition("=")[0]).lower()
        if name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES):
            continue
        kept.append(pair)
    return "&".join(sorted(kept))


def _http_url(link: str | None, base_url: str) -> str | None:
    if not link:
        return None
    try:
        url = urljoin(base_url, link.strip())
    except ValueError:
        return None
    return url if urlsplit(url).scheme.lower() in _DEFAULT_PORTS else None


# --- HTML to text -----------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "math", "head",
                      "iframe", "object", "select"})
_BLOCKS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
    "blockquote", "pre", "table", "tr", "thead", "tbody", "tfoot", "caption", "section",
    "article", "header", "footer", "aside", "nav", "main", "figure", "figcaption", "hr",
    "address", "details", "summary", "form", "fieldset", "center", "body", "html", "title",
})
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")
_AROUND_BREAK = re.compile(r" *\n *")
_MANY_BREAKS = re.compile(r"\n{3,}")
# What is left in a field whose feed escaped it twice: entity text or common tags.
_LEFTOVER_MARKUP = re.compile(
    r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
    r"|</?(?:p|br|a|b|i|u|em|strong|div|span|img|ul|ol|li|h[1-6]|blockquote|figure|figcaption"
    r"|iframe|table|tr|td|font|small|sup|sub|hr|pre|code|center)\b[^<>]*>", re.IGNORECASE)
# Invisible characters that would split words for the tagger.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b\u2060\ufeff]")
# What is left of windows-1252's holes; removed only after the mojibake repair, which needs them.
_C1_CONTROLS = re.compile("[\x80-\x9f]")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag in _CELLS:
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED:  # <br/>, <p/>; a self-closed <script/> hides nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "br":  # browsers read </br> as <br>
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.out.append(_SPACES.sub(" ", data))

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA[") and not self._skipping:  # CDATA escaped into the markup
            self.handle_data(data[6:])


def html_to_text(markup: str) -> str:
    """Return the text of an HTML fragment (see the module docstring for the rules).

    >>> html_to_text("<p>Seoul &amp; Tokyo</p><p>talks<br>resume</p><script>x()</script>")
    'Seoul & Tokyo\\n\\ntalks\\nresume'
    """
    if "<" not in markup and "&" not in markup:
        return _SPACES.sub(" ", markup).strip()
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):
        # html.parser gives up on a few malformed declarations (``<!`` followed by junk); cut
        # every tag out instead, at the price of the paragraph breaks.
        parser.out = [_SPACES.sub(" ", html.unescape(re.sub(r"<[^>]*>", " ", markup)))]
    text = _AROUND_BREAK.sub("\n", "".join(parser.out))
    text = re.sub(" {2,}", " ", text)
    return _MANY_BREAKS.sub("\n\n", text).strip()


def text_of_html(markup: str) -> str:
    """Return a feed field as clean text: :func:`html_to_text`, twice for doubly escaped
    fields, with invisible characters removed and double-encoded UTF-8 repaired."""
    if not markup:
        return ""
    text = html_to_text(markup)
    if _LEFTOVER_MARKUP.search(text):
        text = html_to_text(text.replace("\n", "<br>"))
    text = _C1_CONTROLS.sub("", repair_mojibake(_INVISIBLE.sub("", text)))
    return unicodedata.normalize("NFC", text)


# Windows-1252's characters at 0x80-0x9F, mapped back to those byte values.
_CP1252_BYTES = {ord(bytes([b]).decode("cp1252")): b
                 for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
# A UTF-8 lead byte read as windows-1252 followed by a continuation byte read the same way.
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf"
                       + "".join(chr(c) for c in _CP1252_BYTES) + "]")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as windows-1252 (or latin-1) and encoded again.

    Only when the whole string converts back to valid UTF-8; anything else is left alone,
    so real text that merely contains ``Ã`` or ``Â`` is never touched.

    >>> repair_mojibake("Ð¡ÐµÑƒÐ»")
    'Сеул'
    """
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.translate(_CP1252_BYTES).encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def truncate(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` characters, at a word boundary when there is
    one in the last fifth, with ``…`` marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _labels(values: Iterable[str]) -> tuple[str, ...]:
    cleaned = (_one_line(text_of_html(v) if "&" in v or "<" in v else repair_mojibake(v))
               for v in values)
    return tuple(dict.fromkeys(v for v in cleaned if v))


# --- language ---------------------------------------------------------------------------------

_LANGUAGE_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")
_RETIRED_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv"}


def _primary_language(tag: str | None) -> str | None:
    match = _LANGUAGE_TAG.match(tag or "")
    if not match:
        return None
    code = match.group(1).lower()
    return _RETIRED_CODES.get(code, code)


_NOT_LETTERS = re.compile(r"[\W\d_]+")


@functools.cache
def _identifier() -> Any:
    # Loading the model takes ~0.5 s: done on first use, once per process.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(title: str, text: str) -> str | None:
    """Return the language of an article as a primary subtag, or None when unsure."""
    # A few hundred characters decide as well as the whole text; the detector's cost grows
    # with its input, and it is most of normalize's time when a feed declares no language.
    sample = f"{title}\n{text[:DETECTION_SAMPLE]}"
    if len(_NOT_LETTERS.sub("", sample).encode("utf-8")) < MIN_DETECTION_BYTES:
        return None
    language, confidence = _identifier().classify(sample)
    if confidence < MIN_DETECTION_CONFIDENCE:
        return None
    return _primary_language(str(language))
