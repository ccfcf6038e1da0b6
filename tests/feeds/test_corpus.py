# ruff: noqa: RUF001 - the known exceptions quote text in other scripts
"""Every document of the shared real-world feed corpus, parsed and normalized, against its manifest.

Set ``NEWSWATCH_FEED_CORPUS`` to the corpus directory (``files/`` and ``manifest.jsonl``);
without it this module is skipped::

    NEWSWATCH_FEED_CORPUS=../shared/feeds .venv/bin/python -m pytest tests/feeds -q

The manifest's expectations were computed with lxml, not feedparser (see the corpus README), so
they are compared loosely: titles after entity decoding, case folding and white space
collapsing; links after resolving against the URL the file is served from; item counts
against the manifest's count or its ``alternate_view`` (the count with the real encoding, or
of a reader more lenient than lxml). An article count may be lower than the item count only
by items that are empty or repeat an earlier item's title and link. Each file is parsed once.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from monitor.article import Article
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.normalize import normalize_feed
from monitor.feeds.parse import FeedParseError, ParsedFeed, RawEntry, parse_feed

CORPUS = os.environ.get("NEWSWATCH_FEED_CORPUS")
if not CORPUS:
    pytest.skip("NEWSWATCH_FEED_CORPUS is not set", allow_module_level=True)

CORPUS_DIR = Path(CORPUS)
BASE = "http://127.0.0.1/feeds/"
FETCHED_AT = datetime(2026, 3, 1, tzinfo=UTC)
#: Share of the manifest's items that must come out as articles (or as the duplicates and
#: empty items that are rightly dropped), over the whole corpus.
MIN_COVERAGE = 0.95

# Where this code and the manifest deliberately disagree: (file, check) -> why. Each is a strict
# xfail, so an entry that stops applying fails the run and must be removed.
KNOWN_EXCEPTIONS = {
    ("news_yandex-news-moscow_rss2_mojibake.xml", "title"):
        "the manifest keeps the double-encoded UTF-8 as written ('Ð’ ÐœÐ¾Ñ...'); "
        "normalize repairs it to the Cyrillic 'В Москве ...'",
    ("misc_braingle_rss2_duplicate_guid_elements.xml", "link"):
        "the item has no <link>, but its guid is a permalink (isPermaLink defaults to true), "
        "so the article links to the guid's URL where the manifest has none",
    ("news_ap-headlines_rss2_generated_dup_guids.xml", "articles"):
        "scraped navigation: one URL appears under several titles, and one URL is one "
        "article by design (179 articles from 199 distinct title+link pairs)",
}

with (CORPUS_DIR / "manifest.jsonl").open(encoding="utf-8") as manifest:
    ROWS: list[dict[str, Any]] = [json.loads(line) for line in manifest if line.strip()]


@dataclass
class Outcome:
    row: dict[str, Any]
    parsed: ParsedFeed | None
    error: str | None
    articles: list[Article]

    @property
    def name(self) -> str:
        return str(self.row["name"])

    @property
    def views(self) -> list[dict[str, Any]]:
        """The manifest's expectations: its own, then the alternate view if there is one."""
        own = {"item_count": self.row["expected_item_count"],
               "first_item_title": self.row["first_item_title"],
               "first_item_link": self.row["first_item_link"]}
        alternate = self.row.get("alternate_view")
        return [own, alternate] if alternate else [own]

    @property
    def entries(self) -> tuple[RawEntry, ...]:
        return self.parsed.entries if self.parsed else ()

    @property
    def view(self) -> dict[str, Any]:
        """The view whose item count was met (the manifest's own when none was)."""
        return next((v for v in self.views if v["item_count"] == len(self.entries)),
                    self.views[0])

    @property
    def rightly_dropped(self) -> int:
        """Items that are empty, or repeat an earlier item's title and link."""
        seen: set[tuple[str, str | None]] = set()
        dropped = 0
        for entry in self.entries:
            key = (loose(entry.title_html), entry.link)
            if key in seen or not (entry.title_html or entry.link or entry.summary_html
                                   or entry.content_html):
                dropped += 1
            seen.add(key)
        return dropped


def loose(text: str | None) -> str:
    """Compare titles as a reader would: entities decoded (twice, for doubly escaped feeds),
    case ignored, white space collapsed."""
    text = text or ""
    for _ in range(2):
        text = html.unescape(text)
    return " ".join(text.split()).casefold()


def run(row: dict[str, Any]) -> Outcome:
    url = BASE + row["name"]
    body = (CORPUS_DIR / "files" / row["name"]).read_bytes()
    content_type = "application/json" if row["name"].endswith(".json") else "application/xml"
    try:
        parsed = parse_feed(body, url=url, content_type=content_type)
    except FeedParseError as exc:
        return Outcome(row, None, str(exc), [])
    feed = FeedConfig(id="corpus", url=url, outlet=row.get("outlet_or_site", ""))
    return Outcome(row, parsed, None,
                   normalize_feed(parsed, feed=feed, fetched_at=FETCHED_AT, base_url=url))


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return {row["name"]: run(row) for row in ROWS}


def cases(check: str) -> list[Any]:
    params = []
    for row in ROWS:
        reason = KNOWN_EXCEPTIONS.get((row["name"], check))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(row["name"], marks=marks, id=row["name"]))
    return params


# -- per file ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", cases("items"))
def test_item_count_matches_the_manifest(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    expected = [v["item_count"] for v in outcome.views]
    assert outcome.error is None or expected == [0], outcome.error
    assert len(outcome.entries) in expected


@pytest.mark.parametrize("name", cases("articles"))
def test_every_item_becomes_an_article_unless_empty_or_repeated(
        outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    assert len(outcome.articles) == len(outcome.entries) - outcome.rightly_dropped
    assert len({a.article_id for a in outcome.articles}) == len(outcome.articles)


@pytest.mark.parametrize("name", cases("title"))
def test_first_title_matches_the_manifest(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    if outcome.view["item_count"] == 0:
        assert outcome.articles == []
        return
    expected = {loose(v["first_item_title"]) for v in outcome.views}
    assert outcome.articles and loose(outcome.articles[0].title) in expected


@pytest.mark.parametrize("name", cases("link"))
def test_first_link_matches_the_manifest_resolved(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    if outcome.view["item_count"] == 0:
        return
    url = BASE + name
    expected = {urljoin(url, v["first_item_link"].strip()) if v["first_item_link"] else None
                for v in outcome.views}
    assert outcome.articles and outcome.articles[0].url in expected


# -- across the corpus -------------------------------------------------------------------------
def test_at_least_95_percent_of_all_items_come_out(outcomes: dict[str, Outcome]) -> None:
    expected = produced = 0
    lines = []
    for outcome in outcomes.values():
        want = outcome.row["expected_item_count"]
        got = len(outcome.articles) + outcome.rightly_dropped
        expected += want
        produced += min(got, want)
        if got < want or outcome.error:
            lines.append(f"  {outcome.name}: {len(outcome.articles)} articles + "
                         f"{outcome.rightly_dropped} dropped of {want}"
                         + (f" ({outcome.error})" if outcome.error else ""))
    coverage = produced / expected
    summary = (f"{produced}/{expected} items ({coverage:.1%}) from {len(outcomes)} files; "
               f"short:\n" + "\n".join(lines))
    assert coverage >= MIN_COVERAGE, summary


def test_every_article_has_absolute_links_utc_dates_and_plain_text(
        outcomes: dict[str, Outcome]) -> None:
    problems = []
    for outcome in outcomes.values():
        for article in outcome.articles:
            if article.url and not article.url.startswith(("http://", "https://")):
                problems.append(f"{outcome.name}: relative url {article.url!r}")
            offset = article.published_at.utcoffset() if article.published_at else None
            if offset:
                problems.append(f"{outcome.name}: non-UTC date {article.published_at}")
            if "<p>" in article.text or "&amp;" in article.title or "<script" in article.text:
                problems.append(f"{outcome.name}: markup left in {article.title[:60]!r}")
    assert not problems, "\n".join(problems[:20])
