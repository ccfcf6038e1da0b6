# ruff: noqa: RUF001 - test strings in several scripts are the point
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.article import Article, make_article_id
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.normalize import (
    SUMMARY_LENGTH,
    canonicalize_url,
    detect_language,
    html_to_text,
    normalize_feed,
    repair_mojibake,
    text_of_html,
    truncate,
)
from monitor.feeds.parse import ParsedFeed, RawEntry, parse_feed

TESTDATA = Path(__file__).parent / "testdata"
FETCHED_AT = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
WIRE = FeedConfig(id="example-wire", url="https://wire.example.org/rss", outlet="Example Wire")


def articles_of(name: str, feed: FeedConfig = WIRE, url: str | None = None) -> list[Article]:
    url = url or f"https://feeds.example.org/{name}"
    parsed = parse_feed((TESTDATA / name).read_bytes(), url=url)
    return normalize_feed(parsed, feed=feed, fetched_at=FETCHED_AT, base_url=url)


def entry(**fields: object) -> RawEntry:
    defaults: dict[str, object] = dict(
        guid=None, link=None, title_html="", summary_html="", content_html="", authors=(),
        categories=(), published=None, updated=None, language=None)
    defaults.update(fields)
    return RawEntry(**defaults)  # type: ignore[arg-type]


def feed_of(*entries: RawEntry, language: str | None = None) -> ParsedFeed:
    return ParsedFeed(title_html="Feed", link=None, language=language, entries=entries,
                      format="rss20", encoding="utf-8")


def normalize(*entries: RawEntry, feed: FeedConfig = WIRE, language: str | None = None,
              base_url: str = "https://wire.example.org/rss") -> list[Article]:
    return normalize_feed(feed_of(*entries, language=language), feed=feed,
                          fetched_at=FETCHED_AT, base_url=base_url)


# -- the whole path on fixture feeds -----------------------------------------------------------
def test_rss20_entries_become_articles_with_text_ids_and_canonical_urls() -> None:
    articles = articles_of("rss20_wire.xml")
    first = articles[0]
    assert first.title == "Seoul and Tokyo agree on a hotline & monthly talks"
    assert first.url == ("https://wire.example.org/asia/korea/hotline-talks"
                         "?utm_source=rss&utm_medium=feed&id=42&lang=en#comments")
    assert first.canonical_url == "https://wire.example.org/asia/korea/hotline-talks?id=42&lang=en"
    assert first.article_id == make_article_id(
        canonical_url=first.canonical_url, feed_id="example-wire", guid="wire-2024-0001",
        title=first.title, published_at=first.published_at)
    assert first.text == ("Busan meeting\n\n"
                          "Officials of both governments met in Busan on Tuesday morning.\n\n"
                          "They agreed to a hotline & monthly calls,\nstarting in April.")
    assert first.summary == "Officials met in Busan & agreed to keep talking."
    assert first.published_at == datetime(2024, 3, 5, 0, 30, tzinfo=UTC)
    assert first.fetched_at == FETCHED_AT
    assert (first.feed_id, first.outlet) == ("example-wire", "Example Wire")
    assert first.language == "en"
    assert first.authors == ("Park Min-ji",) and first.categories == ("Diplomacy", "Korea")


def test_the_same_page_twice_in_one_feed_is_one_article() -> None:
    titles = [a.title for a in articles_of("rss20_wire.xml")]
    # The second item links the first one's page with other tracking parameters.
    assert not any("(updated)" in title for title in titles)
    assert len(titles) == 3


def test_an_entry_without_title_link_or_text_is_skipped() -> None:
    assert all(a.title for a in articles_of("rss20_wire.xml"))
    assert normalize(entry(guid="only-a-guid")) == []


def test_an_entry_without_a_link_is_identified_by_feed_and_guid() -> None:
    article = next(a for a in articles_of("rss20_wire.xml") if "Panmunjom" in a.title)
    assert article.url is None and article.canonical_url is None
    assert article.article_id == make_article_id(
        canonical_url=None, feed_id="example-wire", guid="88231", title=article.title,
        published_at=article.published_at)


def test_a_date_far_in_the_future_is_dropped() -> None:
    article = next(a for a in articles_of("rss20_wire.xml") if "port authority" in a.title)
    assert article.published_at is None
    soon = FETCHED_AT + timedelta(hours=20)
    (kept,) = normalize(entry(title_html="Clock a little fast", published=soon))
    assert kept.published_at == soon


def test_atom_articles_resolve_relative_links_and_take_the_entry_language() -> None:
    korean, english = articles_of("atom10_daily.xml")
    assert korean.url == "https://daily.example.kr/news/2024/03/un-sanctions-review"
    assert korean.language == "ko"
    assert korean.text.startswith("유엔 안전보장이사회가 화요일 뉴욕에서")
    assert "\n\n회의에는" in korean.text
    assert korean.summary == "Vote count: 12 < 15 needed"
    assert english.url == "https://archive.example.kr/item/7"
    assert english.title == "UN envoy visits Seoul"
    assert english.language == "en"
    assert english.published_at == datetime(2024, 3, 4, 8, 0, tzinfo=UTC)  # updated stands in


def test_json_feed_articles() -> None:
    ferry, markets = articles_of("jsonfeed11_notes.json", url="https://notes.example.org/feed.json")
    assert ferry.canonical_url == "https://notes.example.org/2024/03/ferry"
    assert ferry.text == "Ferries left Mokpo again on Wednesday.\n\nTimetables are back to normal."
    assert markets.title == ""
    assert markets.summary == "Markets opened higher. Traders pointed to exports."


def test_rss10_and_rss091_articles_take_the_feed_language() -> None:
    assert {a.language for a in articles_of("rss10_rdf.xml")} == {"de"}
    (bulletin,) = articles_of("rss091_bulletin.xml")
    assert bulletin.language == "pt"
    assert bulletin.title == "Sessão extraordinária marcada para março"


# -- text --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("markup", "text"), [
    ("<p>Seoul &amp; Tokyo</p><p>talks<br/>resume</p>", "Seoul & Tokyo\n\ntalks\nresume"),
    ("<div>one</div><div>two</div>", "one\n\ntwo"),
    ("<ul><li>first</li><li>second</li></ul>", "first\n\nsecond"),
    ("a<script>var x = '<p>no</p>';</script>b<style>p {}</style>c", "abc"),
    ("  lots \n\t of   <b>white</b>&nbsp;space  ", "lots of white space"),
    ("caf&eacute; &#8220;quoted&#8221; &#x2014; dash", "café “quoted” — dash"),
    ("<table><tr><td>Seoul</td><td>9°C</td></tr></table>", "Seoul 9°C"),
    ("<p>unclosed <b>bold", "unclosed bold"),
    ("3 < 5 and 7 > 6", "3 < 5 and 7 > 6"),
    ("<![CDATA[inside]]> outside", "inside outside"),
    ("", ""),
])
def test_html_becomes_text_with_paragraph_breaks(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(("written", "text"), [
    ("Tom &amp;amp; Jerry", "Tom & Jerry"),
    ("&lt;b&gt;Breaking:&lt;/b&gt; talks resume", "Breaking: talks resume"),
    ("&lt;p&gt;one&lt;/p&gt;&lt;p&gt;two&lt;/p&gt;", "one\n\ntwo"),
    ("Price &amp;pound;5", "Price £5"),
    ("AT&amp;T and R&amp;D", "AT&T and R&D"),
])
def test_doubly_escaped_fields_are_decoded_once_more(written: str, text: str) -> None:
    assert text_of_html(written) == text


def test_double_encoded_utf8_is_repaired_only_when_exact() -> None:
    assert repair_mojibake("Ð’ ÐœÐ¾Ñ\x81ÐºÐ²Ðµ") == "В Москве"
    assert repair_mojibake("SÃO PAULO Ã© caro") == "SÃO PAULO Ã© caro"  # not all of it fits
    assert repair_mojibake("Pyongyang") == "Pyongyang"
    assert text_of_html("CafÃ©\u200b au lait") == "Café au lait"


def test_summary_is_cut_at_a_word_boundary() -> None:
    long = " ".join(["negotiations"] * 200)
    cut = truncate(long, SUMMARY_LENGTH)
    assert len(cut) <= SUMMARY_LENGTH and cut.endswith("negotiations…")
    (article,) = normalize(entry(title_html="Long", summary_html=f"<p>{long}</p>"))
    assert article.summary == cut and article.text == long
    assert truncate("short", 10) == "short"


def test_summary_falls_back_to_the_text() -> None:
    (article,) = normalize(entry(title_html="t", content_html="<p>Body one.</p><p>Body two.</p>"))
    assert article.summary == "Body one. Body two."
    assert article.text == "Body one.\n\nBody two."


def test_authors_and_categories_are_clean_and_unique() -> None:
    (article,) = normalize(entry(title_html="t", authors=("Kim &amp; Lee", "Kim & Lee"),
                                 categories=("Korea", " Korea ", "UN &amp; Asia", "")))
    assert article.authors == ("Kim & Lee",)
    assert article.categories == ("Korea", "UN & Asia")


# -- URLs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "canonical"), [
    ("HTTPS://Example.ORG:443/News/A?b=2&a=1#top", "https://example.org/News/A?a=1&b=2"),
    ("http://example.org:80", "http://example.org/"),
    ("http://example.org:8080/x", "http://example.org:8080/x"),
    ("https://example.org./x?utm_source=rss&UTM_Medium=feed&utm_campaign=c", "https://example.org/x"),
    ("https://example.org/x?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&ocid=5&cmpid=6&id=9",
     "https://example.org/x?id=9"),
    ("https://www.bbc.com/news/a?at_medium=RSS&at_campaign=rss", "https://www.bbc.com/news/a"),
    ("https://example.org/x?ns_mchannel=rss&ns_source=feed&ito=1&xtor=RSS-1&_ga=2&igshid=3"
     "&smid=tw", "https://example.org/x"),
    ("https://example.org/search?q=north%20korea&page=2", "https://example.org/search?page=2&q=north%20korea"),
    ("https://user@example.org/x", "https://user@example.org/x"),
    ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
    ("mailto:desk@example.org", None),
    ("ftp://example.org/file", None),
    ("https:///no-host", None),
    ("http://example.org:99999/", None),
])
def test_canonical_urls(url: str, canonical: str | None) -> None:
    assert canonicalize_url(url) == canonical


def test_tracking_parameters_do_not_split_one_page_into_two_articles() -> None:
    base = entry(title_html="Same page", link="https://wire.example.org/a?id=1&utm_source=rss")
    other = replace(base, title_html="Same page again", link="https://wire.example.org/a?fbclid=x&id=1")
    assert len(normalize(base, other)) == 1


def test_relative_links_resolve_against_the_base_url_and_only_http_is_kept() -> None:
    (relative,) = normalize(entry(title_html="r", link="../world/7"),
                            base_url="https://wire.example.org/feeds/asia.xml")
    assert relative.url == "https://wire.example.org/world/7"
    (other,) = normalize(entry(title_html="m", link="mailto:desk@example.org"))
    assert other.url is None and other.canonical_url is None


# -- language ----------------------------------------------------------------------------------
ENGLISH = ("The foreign ministers of the two countries met on Tuesday and agreed to resume "
           "regular talks on trade and security.")
KOREAN = "두 나라 외교장관은 화요일 회담을 열고 무역과 안보에 관한 정례 협의를 재개하기로 합의했다."


def test_language_comes_from_config_then_entry_then_feed_then_detection() -> None:
    configured = replace(WIRE, language="en-US")
    assert normalize(entry(title_html=KOREAN, language="ko"), feed=configured)[0].language == "en"
    assert normalize(entry(title_html=ENGLISH, language="ko-KR"), language="en")[0].language == "ko"
    assert normalize(entry(title_html=ENGLISH), language="pt_BR")[0].language == "pt"
    assert normalize(entry(title_html=ENGLISH))[0].language == "en"
    assert normalize(entry(title_html="t", content_html=f"<p>{KOREAN}</p>"))[0].language == "ko"


def test_language_is_not_guessed_from_too_little_text() -> None:
    assert detect_language("Talks resume", "") is None
    assert normalize(entry(title_html="Talks resume"))[0].language is None


def test_malformed_language_tags_are_ignored() -> None:
    (article,) = normalize(entry(title_html=ENGLISH, language="x-default!"), language="123")
    assert article.language == "en"
