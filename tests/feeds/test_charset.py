from __future__ import annotations

import pytest

from monitor.feeds.charset import decode_document, decode_html, parse_content_type

KOREAN_CP949 = "똠방각하 햏자 뷁"  # syllables outside EUC-KR's 2,350: only CP949 has them


def test_decoding_reports_what_did_not_match_the_label() -> None:
    assert decode_document(b"caf\xe9").problem == (
        "no encoding declared and not UTF-8; decoded as windows-1252")
    few_bad = ("Сеул " * 20).encode() + b"\xff"
    decoded = decode_document(few_bad)
    assert decoded.encoding == "utf-8" and decoded.text.endswith("\ufffd")
    assert decoded.problem == "1 invalid UTF-8 byte sequence(s) replaced"


@pytest.mark.parametrize(("value", "expected"), [
    (None, ("", None)),
    ("text/xml; charset=EUC-KR", ("text/xml", "EUC-KR")),
    ('Application/RSS+XML ; Charset="windows-1251"', ("application/rss+xml", "windows-1251")),
    ("text/html; charset=", ("text/html", None)),
])
def test_content_type_splits_into_mime_and_charset(
        value: str | None, expected: tuple[str, str | None]) -> None:
    assert parse_content_type(value) == expected


@pytest.mark.parametrize("head", [
    '<meta charset="euc-kr">',
    "<meta charset=EUC-KR>",
    '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">',
])
def test_a_page_is_read_with_its_meta_charset_as_the_windows_superset(head: str) -> None:
    page = f"<html><head>{head}</head><body><p>{KOREAN_CP949}</p></body></html>"
    decoded = decode_html(page.encode("cp949"))
    assert decoded.encoding == "cp949" and decoded.problem is None
    assert KOREAN_CP949 in decoded.text


def test_a_page_s_http_charset_comes_before_its_meta_charset() -> None:
    page = f"<html><head><meta charset='iso-8859-1'></head><p>{KOREAN_CP949}</p></html>"
    decoded = decode_html(page.encode("cp949"), charset="euc-kr")
    assert decoded.encoding == "cp949" and KOREAN_CP949 in decoded.text
    assert decoded.problem is None


def test_a_meta_charset_means_nothing_in_a_feed() -> None:
    feed = f"<rss><channel><meta charset='euc-kr'/><title>{KOREAN_CP949}</title></channel></rss>"
    decoded = decode_document(feed.encode("cp949"))
    assert decoded.encoding == "cp1252"
