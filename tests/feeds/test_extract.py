from __future__ import annotations

from pathlib import Path

import pytest

from monitor.feeds import extract
from monitor.feeds.extract import MIN_TEXT_LENGTH, extract_main_text

TESTDATA = Path(__file__).parent / "testdata"
URL = "https://wire.example.org/asia/incheon-cranes"


def test_main_text_of_an_article_page_without_comments_or_navigation() -> None:
    text = extract_main_text((TESTDATA / "article_page.html").read_bytes(), url=URL)
    assert text is not None
    assert "Container cranes at the port of Incheon started moving again" in text
    assert "report on the cause of the fault" in text
    assert "First! Great news" not in text
    assert "Home" not in text and "All rights reserved" not in text
    assert "\n\n" in text and "\n\n\n" not in text


@pytest.mark.parametrize("body", [
    b"",
    b"\x00\x01\x02 binary junk \xff\xfe",
    b"%PDF-1.7\n" + b"stream of page content " * 50,
    b"<html><body><p>Too short to be an article.</p></body></html>",
    b"<html><body><nav>Home | World</nav></body></html>",
])
def test_pages_without_an_article_give_none(body: bytes) -> None:
    assert extract_main_text(body, url=URL) is None


def test_short_results_are_rejected() -> None:
    sentence = "Cranes moved again in Incheon on Thursday after a stoppage. "
    page = f"<html><body><article><p>{sentence * 2}</p></article></body></html>".encode()
    assert len(sentence * 2) < MIN_TEXT_LENGTH
    assert extract_main_text(page, url=URL) is None


def test_an_extractor_failure_is_none_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(extract.trafilatura, "extract", broken)
    assert extract_main_text((TESTDATA / "article_page.html").read_bytes(), url=URL) is None


KOREAN = ("인천항의 컨테이너 크레인이 목요일 오후 다시 움직이기 시작했다. 똠방각하 햏자 뷁. "
          "항만공사는 고장 원인에 대한 보고서를 다음 주에 내겠다고 밝혔다. ")


@pytest.mark.parametrize(("head", "content_type"), [
    ('<meta charset="euc-kr">', None),
    ("", "text/html; charset=EUC-KR"),
])
def test_a_korean_page_labelled_euc_kr_is_read_as_cp949(head: str,
                                                        content_type: str | None) -> None:
    page = (f"<html><head>{head}<title>크레인</title></head><body><article>"
            f"<p>{KOREAN * 3}</p><p>{KOREAN * 2}</p></article></body></html>").encode("cp949")
    text = extract_main_text(page, url=URL, content_type=content_type)
    assert text is not None
    assert "똠방각하 햏자 뷁" in text and "인천항의 컨테이너 크레인" in text
