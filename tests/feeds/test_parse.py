# ruff: noqa: RUF001 - test strings in several scripts are the point
from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.feeds.parse import FeedParseError, ParsedFeed, parse_feed

TESTDATA = Path(__file__).parent / "testdata"


def parse_fixture(name: str, url: str | None = None, content_type: str | None = None) -> ParsedFeed:
    return parse_feed((TESTDATA / name).read_bytes(),
                      url=url or f"https://feeds.example.org/{name}", content_type=content_type)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- formats -----------------------------------------------------------------------------------
def test_rss20_entries_keep_their_fields_and_resolve_links_against_xml_base() -> None:
    parsed = parse_fixture("rss20_wire.xml")
    assert parsed.format == "rss20" and parsed.problem is None
    assert parsed.language == "en-GB" and parsed.link == "https://wire.example.org/"
    first = parsed.entries[0]
    assert first.guid == "wire-2024-0001"
    assert first.link == ("https://wire.example.org/asia/korea/hotline-talks"
                          "?utm_source=rss&utm_medium=feed&id=42&lang=en#comments")
    assert first.published == utc(2024, 3, 5, 0, 30)
    assert first.authors == ("Park Min-ji",)
    assert first.categories == ("Diplomacy", "Korea")
    assert first.content_html.startswith("<h2>Busan meeting</h2>")
    assert "<p>Officials met in Busan" in first.summary_html
    assert parsed.entries[4].link == "https://wire.example.org/ports/schedule-2099"


def test_a_guid_that_is_no_url_is_not_made_into_a_link() -> None:
    entry = parse_fixture("rss20_wire.xml").entries[2]
    assert entry.guid == "88231"
    assert entry.link is None


def test_rss091_in_iso_8859_1() -> None:
    parsed = parse_fixture("rss091_bulletin.xml")
    assert parsed.format == "rss091n"
    assert parsed.language == "pt-br"
    (entry,) = parsed.entries
    assert entry.title_html == "Sessão extraordinária marcada para março"
    assert entry.link == "http://court.example.com/noticias/123"
    assert entry.published is None and entry.guid is None


def test_rss10_rdf_with_dublin_core_dates_and_creator() -> None:
    parsed = parse_fixture("rss10_rdf.xml")
    assert parsed.format == "rss10" and parsed.language == "de"
    assert [e.link for e in parsed.entries] == ["https://rdf.example.net/a/1",
                                                "https://rdf.example.net/a/2"]
    assert parsed.entries[0].updated == utc(2024, 3, 5, 7, 0)
    assert parsed.entries[0].authors == ("Redaktion",)
    assert parsed.entries[1].title_html == "Neue Fährverbindung angekündigt"


def test_atom10_relative_links_entry_xml_base_text_and_xhtml_constructs() -> None:
    parsed = parse_fixture("atom10_daily.xml")
    assert parsed.format == "atom10"
    assert parsed.link == "https://daily.example.kr/"
    first, second = parsed.entries
    assert first.link == "https://daily.example.kr/news/2024/03/un-sanctions-review"
    assert first.published == utc(2024, 3, 5, 1, 0)
    assert first.updated == utc(2024, 3, 5, 2, 30)
    assert first.language == "ko-KR"
    assert first.summary_html == "Vote count: 12 &lt; 15 needed"  # type="text": escaped
    assert second.link == "https://archive.example.kr/item/7"  # the entry's own xml:base
    assert second.title_html == "UN envoy <em>visits</em> Seoul"
    assert second.language == "en"  # the content's xml:lang


def test_json_feed_11_is_read_into_the_same_entries() -> None:
    parsed = parse_fixture("jsonfeed11_notes.json", url="https://notes.example.org/feed.json",
                           content_type="application/feed+json")
    assert parsed.format == "json11" and parsed.language == "en-US"
    assert parsed.problem == "1 item(s) that are not objects skipped"
    ferry, markets = parsed.entries
    assert ferry.guid == "https://notes.example.org/2024/03/ferry"
    assert ferry.published == utc(2024, 3, 5, 22, 15)
    assert ferry.authors == ("Lee Ha-eun",) and ferry.categories == ("transport", "weather")
    assert ferry.summary_html == "Ferries are running again."
    assert markets.guid == "2"
    assert markets.link == "https://notes.example.org/2024/03/markets"
    assert markets.content_html == "<p>Markets opened higher.</p><p>Traders pointed to exports.</p>"
    assert markets.authors == ("Field Desk",)  # the feed's authors stand in
    assert markets.language == "en"


def test_json_feed_is_recognised_without_a_content_type() -> None:
    body = b'\xef\xbb\xbf  {"version": "https://jsonfeed.org/version/1", "items": []}'
    parsed = parse_feed(body, url="https://notes.example.org/feed.json")
    assert parsed.format == "json10" and parsed.entries == ()


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"version": 3, "items": []}', "not JSON Feed"),
    (b'{"data": [1, 2]}', "not JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not JSON Feed"),
])
def test_other_json_is_not_a_feed(body: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError, match=reason):
        parse_feed(body, url="https://example.org/api", content_type="application/json")


# -- malformed documents and documents that are no feeds -----------------------------------
def test_bare_ampersand_is_parsed_leniently_and_reported() -> None:
    parsed = parse_fixture("rss20_bare_ampersand.xml")
    assert parsed.problem is not None and parsed.problem.startswith("malformed XML")
    (entry,) = parsed.entries
    assert entry.link == "https://notes.example.com/ports?a=1&b=2"
    assert "harbours reopen" in entry.title_html


def test_forbidden_control_characters_are_removed_not_fatal() -> None:
    body = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
            b"<item><title>Talks\x02 resume</title><link>https://example.org/1</link></item>"
            b"</channel></rss>")
    parsed = parse_feed(body, url="https://example.org/rss")
    assert parsed.entries[0].title_html == "Talks resume"
    assert parsed.problem == "1 character(s) not allowed in XML removed"


def test_items_under_an_undeclared_prefix_are_still_found() -> None:
    body = (b"<rss version='2.0'><rss:channel><rss:title>Notes</rss:title>"
            b"<rss:item><rss:title>One</rss:title><rss:link>https://example.org/1</rss:link>"
            b"</rss:item></rss:channel></rss>")
    parsed = parse_feed(body, url="https://example.org/rss")
    assert [e.link for e in parsed.entries] == ["https://example.org/1"]
    assert parsed.problem is not None and "undeclared namespace prefix 'rss'" in parsed.problem


def test_a_feed_without_items_is_a_feed() -> None:
    body = b"<rss version='2.0'><channel><title>Quiet</title></channel></rss>"
    parsed = parse_feed(body, url="https://example.org/rss")
    assert parsed.entries == () and parsed.title_html == "Quiet"


def test_a_feed_served_as_text_html_is_still_a_feed() -> None:
    parsed = parse_fixture("rss20_wire.xml", content_type="text/html; charset=iso-8859-1")
    assert parsed.format == "rss20" and len(parsed.entries) == 5


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(FeedParseError, match="HTML page, not a feed"):
        parse_fixture("html_page.html", content_type="text/html; charset=utf-8")


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty body"),
    (b" \r\n\t", "empty body"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
    (b"Service temporarily unavailable", "not XML"),
    (b"<?xml version='1.0'?><note><to>Seoul</to></note>", "no items and no feed element"),
    (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body/></html>",
     "HTML page"),
])
def test_bodies_that_are_no_feeds(body: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError, match=reason):
        parse_feed(body, url="https://example.org/rss")


def test_a_body_that_names_a_file_is_never_opened(tmp_path: Path) -> None:
    # feedparser, given a str or bytes, tries it as a file name before parsing it.
    feed = tmp_path / "feed.xml"
    feed.write_bytes((TESTDATA / "rss20_wire.xml").read_bytes())
    with pytest.raises(FeedParseError):
        parse_feed(str(feed).encode(), url="https://example.org/rss")


def billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return ("<?xml version='1.0'?>\n<!DOCTYPE rss [\n" + "\n".join(levels) + "\n]>\n"
            "<rss version='2.0'><channel><title>&lol9;</title>"
            "<item><title>Laughs &lol9;</title><link>https://example.org/1</link></item>"
            "</channel></rss>").encode()


def quadratic_blowup(prolog: bytes = b"<?xml version='1.0'?>\n", value: bytes = b"x") -> bytes:
    # One 50 KB entity referenced 20,000 times: 1 GB if expanded.
    return (prolog + b"<!DOCTYPE rss [\n<!ENTITY a \"" + value * 50_000
            + b"\">\n]>\n<rss version='2.0'><channel><title>t</title><item><title>"
            + b"&a;" * 20_000 + b"</title></item></channel></rss>")


@pytest.mark.parametrize("body", [
    billion_laughs(),
    quadratic_blowup(),
    quadratic_blowup(value=b"<b>x</b>"),
    quadratic_blowup(prolog=b"Warning: something printed before the document\n"),
], ids=["billion-laughs", "quadratic-blowup", "markup-in-entity", "junk-before-prolog"])
def test_entity_expansion_bombs_stay_small_and_quick(body: bytes) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        parsed = parse_feed(body, url="https://example.org/rss")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < 50 * 1024 * 1024
    assert all(len(e.title_html) < 200_000 for e in parsed.entries)
    assert parsed.problem is not None and "entity declaration(s) ignored" in parsed.problem


def test_short_literal_entities_are_still_expanded() -> None:
    body = (b"<?xml version='1.0'?>\n<!DOCTYPE rss [<!ENTITY nbsp \"&#160;\"><!ENTITY un 'UN'>]>"
            b"<rss version='2.0'><channel><title>t</title>"
            b"<item><title>The&nbsp;&un; meets</title></item></channel></rss>")
    parsed = parse_feed(body, url="https://example.org/rss")
    assert parsed.entries[0].title_html == "The\u00a0UN meets"
    assert parsed.problem is None


# -- encodings ---------------------------------------------------------------------------------
def rss(title: str, declaration: str = "<?xml version='1.0' encoding='{}'?>",
        encoding: str = "utf-8") -> str:
    head = declaration.format(encoding) if declaration else ""
    return (f"{head}<rss version='2.0'><channel><title>{title}</title><item><title>{title}"
            "</title><link>https://example.org/1</link></item></channel></rss>")


RUSSIAN = "Переговоры в Пхеньяне продолжаются"
KOREAN_CP949 = "똠방각하 햏자 뷁"  # syllables outside EUC-KR's 2,350: only CP949 has them


@pytest.mark.parametrize(("body", "title", "codec"), [
    (rss(RUSSIAN, encoding="windows-1251").encode("cp1251"), RUSSIAN, "cp1251"),
    (rss(RUSSIAN, encoding="koi8-r").encode("koi8-r"), RUSSIAN, "koi8-r"),
    (rss("평양 회담", encoding="euc-kr").encode("euc-kr"), "평양 회담", "cp949"),
    (rss(KOREAN_CP949, encoding="euc-kr").encode("cp949"), KOREAN_CP949, "cp949"),
    (rss("北朝鮮の外交", encoding="shift_jis").encode("cp932"), "北朝鮮の外交", "cp932"),
    (rss("朝鲜外交部发表声明", encoding="gb2312").encode("gb2312"), "朝鲜外交部发表声明",
     "gb18030"),
    (rss("Coréia do Norte", declaration="").encode("latin-1"), "Coréia do Norte", "cp1252"),
    (rss("Corée du Nord – suite", encoding="utf-16").encode("utf-8"), "Corée du Nord – suite",
     "utf-8"),
    (b"\xef\xbb\xbf" + rss("Кимчхэк", declaration="").encode("utf-8"), "Кимчхэк", "utf-8"),
    (rss("Séoul", encoding="utf-16").encode("utf-16"), "Séoul", "utf-16-le"),
])
def test_wrong_or_missing_encoding_declarations_decode_to_the_right_text(
        body: bytes, title: str, codec: str) -> None:
    parsed = parse_feed(body, url="https://example.org/rss")
    assert parsed.entries[0].title_html == title
    assert parsed.encoding == codec


def test_utf8_body_wins_over_a_wrong_http_charset() -> None:
    body = rss("Corée du Nord", encoding="utf-8").encode("utf-8")
    parsed = parse_feed(body, url="https://example.org/rss",
                        content_type="text/xml; charset=ISO-8859-1")
    assert parsed.entries[0].title_html == "Corée du Nord"
    assert parsed.problem == "declared iso8859-1, but the bytes are UTF-8"


def test_http_charset_is_used_when_it_fits() -> None:
    body = rss(RUSSIAN, declaration="").encode("cp1251")
    parsed = parse_feed(body, url="https://example.org/rss",
                        content_type="application/rss+xml; charset=windows-1251")
    assert parsed.entries[0].title_html == RUSSIAN and parsed.problem is None


# -- dates (parse_date itself: test_dates.py) ---------------------------------------------
def test_entry_dates_are_aware_utc_or_none() -> None:
    entries = parse_fixture("atom10_daily.xml").entries + parse_fixture("rss20_wire.xml").entries
    for entry in entries:
        for value in (entry.published, entry.updated):
            assert value is None or value.tzinfo == UTC


def test_what_parse_exported_before_its_split_is_still_importable_from_it() -> None:
    from monitor.feeds import parse

    body = b"caf\xe9"
    assert parse.decode_document(body).text == "café"
    assert parse.parse_date("2024-03-05") == utc(2024, 3, 5)
    assert {"Decoded", "FeedParseError", "ParsedFeed", "RawEntry"} <= set(parse.__all__)
