"""Extract: an article page's HTML in, its main text out, for feeds marked ``fulltext``.

In: the bytes of one fetched page, its URL and its Content-Type. Out: the article's text,
paragraphs separated by blank lines like every other ``Article.text``, or None. It never
raises (a page that cannot be read is the same as a page without an article: the poller keeps
the feed's summary), never fetches anything, and is the only module that imports trafilatura::

    text = extract_main_text(page.body, url=page.url, content_type=page.content_type)

The page is decoded by :func:`monitor.feeds.charset.decode_html` (HTTP charset, then
``<meta charset>``, legacy labels read as their Windows supersets) before trafilatura sees it,
so a Korean page labelled euc-kr reads the same way as a feed labelled euc-kr.
"""

from __future__ import annotations

import logging
import re

import trafilatura

from monitor.feeds.charset import decode_html, parse_content_type

log = logging.getLogger(__name__)

#: Shorter results are a cookie banner, a paywall notice or a caption, not an article.
MIN_TEXT_LENGTH = 200
_LINE_BREAKS = re.compile(r"\s*\n\s*")


def extract_main_text(body: bytes, *, url: str, content_type: str | None = None) -> str | None:
    """Return the main text of an article page, or None when there is none to be found.

    Precision is favoured over recall: comments, tables and boilerplate stay out, even if a
    paragraph of the article goes with them.
    """
    if b"<" not in body[:4096]:
        return None  # no markup near the start: a PDF, an image, plain text, nothing
    page = decode_html(body, charset=parse_content_type(content_type)[1]).text
    try:
        text = trafilatura.extract(
            page, url=url, favor_precision=True, include_comments=False,
            include_tables=False, include_images=False, include_formatting=False,
            include_links=False, deduplicate=False, with_metadata=False)
    except Exception:
        # trafilatura and lxml under it can fail in many ways on hostile or broken pages;
        # every one of them means "no main text" to the caller.
        log.debug("main text extraction failed for %s", url, exc_info=True)
        return None
    if not text:
        return None
    # trafilatura puts one paragraph per line; the rest of the pipeline separates paragraphs
    # with a blank line.
    text = _LINE_BREAKS.sub("\n\n", text.strip())
    return text if len(text) >= MIN_TEXT_LENGTH else None
