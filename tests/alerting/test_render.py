"""Rendering notices for Slack, email, webhooks and the console: content, escaping, limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.alerting import render
from monitor.alerting.notice import Notice, NoticeItem, NoticeKind
from monitor.article import Story, StoryArticle, StoryEvent

SEEN = datetime(2023, 9, 15, 6, 10, tzinfo=UTC)
LATER = SEEN + timedelta(hours=2)
HEADLINE = "Allies convene deterrence group in Seoul after overnight missile launches"
TOPIC = "US\u2013ROK extended deterrence"
SENTENCE = ("Chang Ho-jin opened Friday's session of the consultative group by asking for "
            "closer planning of joint drills.")
EVIDENCE = (
    {"group": "officials", "term": "chang ho-jin", "matched": "Chang Ho-jin", "field": "text",
     "start": 0, "end": 12},
    {"group": "officials", "term": "jang ho-jin", "matched": "Jang Ho-jin", "field": "text",
     "start": 310, "end": 321},
    {"group": "subject", "term": "extended deterrence", "matched": "extended deterrence",
     "field": "title", "start": 30, "end": 49},
    {"group": "officials", "term": "chang ho-jin", "matched": "CHANG HO-JIN", "field": "text",
     "start": 500, "end": 512},
)
SENTENCES = ({"field": "text", "start": 0, "end": 110, "text": SENTENCE},)
HOSTILE = ("<!channel> <script>alert(1)</script>\n*bold*\x1b[2J <http://evil.example|click> "
           "@here")


def report(n: int, outlet: str, title: str, url: str | None, *, minute: int | None = None,
           source: str = "") -> StoryArticle:
    published = None if minute is None else SEEN.replace(minute=minute)
    return StoryArticle(article_id=f"a{n}", outlet=outlet, url=url, title=title,
                        language="en", published=published, source=source or f"a{n}")


LEDGER = report(1, "Seoul Ledger", HEADLINE, "https://ledger.example/2023/09/15/dialogue",
                minute=2)
WIRE = report(2, "Pacific Wire", "US and South Korea review nuclear umbrella at Seoul talks",
              "https://pacificwire.example/a/8812", minute=5)
REPRINT = report(3, "Han River Daily", "US, South Korea review nuclear umbrella (Pacific Wire)",
                 "https://hanriver.example/news?id=44&lang=en", minute=9, source="a2")
MORNING = report(4, "Busan Evening", "Deterrence group promises more drills",
                 "http://busan.example/p/19", minute=40)
HARBOUR = report(5, "Harbour Times", "Jang Ho-jin: allies agree on joint planning",
                 "https://harbour.example/jang", minute=45)


def event(articles: tuple[StoryArticle, ...], *, outlets: int, sources: int,
          headline: str = HEADLINE, story_id: str = "5f0c1e2d3b4a59687766aa01",
          topic_title: str = TOPIC, severity: str = "high", updated: datetime = SEEN,
          evidence: tuple[dict[str, Any], ...] = EVIDENCE) -> StoryEvent:
    story = Story(story_id=story_id, topic_id="us-rok-deterrence", topic_title=topic_title,
                  headline=headline, first_seen=SEEN, last_updated=updated, articles=articles,
                  outlets=outlets, sources=sources, languages=("en", "ko"), severity=severity)
    return StoryEvent(event="updated" if len(articles) > 1 else "opened", story=story,
                      article=articles[-1], why="same event", evidence=evidence,
                      sentences=SENTENCES)


def notice(kind: NoticeKind, *items: NoticeItem) -> Notice:
    return Notice(kind=kind, subscriber_id="analyst-kim", items=items, created=LATER)


def alert(story_event: StoryEvent) -> Notice:
    return notice("alert", NoticeItem(story_event, story_event.story.articles))


STORY = event((LEDGER, WIRE, REPRINT), outlets=3, sources=2)
GROWN = event((LEDGER, WIRE, REPRINT, MORNING, HARBOUR), outlets=5, sources=4, updated=LATER,
              severity="high")


def mrkdwn_texts(content: render.SlackContent) -> list[str]:
    return [b["text"]["text"] for b in content.blocks
            if b["type"] == "section" and "text" in b and b["text"]["type"] == "mrkdwn"]


def linked_urls(content: render.SlackContent) -> list[str]:
    """The target of every ``<url|label>`` link in the fallback and every mrkdwn text."""
    return re.findall(r"<([^<>|]*)\|", "\n".join([content.text, *mrkdwn_texts(content)]))


# -- an alert --------------------------------------------------------------------------------
def test_slack_alert_shows_headline_topic_counts_why_and_every_report_linked() -> None:
    content = render.slack(alert(STORY))

    assert content.text == (f"high · {TOPIC}: {HEADLINE} (3 outlets, 2 independent sources)")
    header, facts, why, reports, context = content.blocks
    assert header == {"type": "header", "text": {"type": "plain_text", "text": HEADLINE}}
    assert [f["text"] for f in facts["fields"]] == [
        f"Topic: {TOPIC}", "Severity: high", "Reports: 3 outlets, 2 independent sources",
        "First seen: 2023-09-15 06:10 UTC", "Published: 2023-09-15 06:02 UTC",
        "Languages: en, ko"]
    assert why["text"] == {"type": "plain_text", "text": (
        f"Why it matched: Chang Ho-jin, Jang Ho-jin, extended deterrence\n“{SENTENCE}”")}
    assert reports["text"]["text"] == (
        "*Reports*\n"
        f"<https://ledger.example/2023/09/15/dialogue|{HEADLINE}> — Seoul Ledger · "
        "2023-09-15 06:02 UTC\n"
        "<https://pacificwire.example/a/8812|US and South Korea review nuclear umbrella at "
        "Seoul talks> — Pacific Wire · 2023-09-15 06:05 UTC\n"
        "<https://hanriver.example/news?id=44&amp;lang=en|US, South Korea review nuclear "
        "umbrella (Pacific Wire)> — Han River Daily · 2023-09-15 06:09 UTC")
    assert context["elements"][0]["text"] == (
        "Story 5f0c1e2d3b4a59687766aa01 · updated 2023-09-15 06:10 UTC")


def test_email_alert_has_the_same_content_as_text_and_html() -> None:
    mail = render.email(alert(STORY))

    assert mail.subject == f"[newswatch] {TOPIC}: {HEADLINE}"
    assert mail.text == (
        f"{TOPIC} · high\n"
        "\n"
        f"{HEADLINE} <https://ledger.example/2023/09/15/dialogue>\n"
        "3 outlets, 2 independent sources · First seen: 2023-09-15 06:10 UTC · "
        "Published: 2023-09-15 06:02 UTC · Languages: en, ko\n"
        "Why it matched: Chang Ho-jin, Jang Ho-jin, extended deterrence\n"
        f"  “{SENTENCE}”\n"
        "\n"
        "Reports\n"
        f"- {HEADLINE} <https://ledger.example/2023/09/15/dialogue> — Seoul Ledger · "
        "2023-09-15 06:02 UTC\n"
        "- US and South Korea review nuclear umbrella at Seoul talks "
        "<https://pacificwire.example/a/8812> — Pacific Wire · 2023-09-15 06:05 UTC\n"
        "- US, South Korea review nuclear umbrella (Pacific Wire) "
        "<https://hanriver.example/news?id=44&lang=en> — Han River Daily · 2023-09-15 06:09 UTC\n"
        "Story 5f0c1e2d3b4a59687766aa01\n")
    assert (f'<h2 style="margin:0 0 8px;font-size:18px"><a href="https://ledger.example/2023/09/'
            f'15/dialogue">{HEADLINE}</a></h2>') in mail.html
    assert ("<li><a href=\"https://hanriver.example/news?id=44&amp;lang=en\">US, South Korea "
            "review nuclear umbrella (Pacific Wire)</a> — Han River Daily · 2023-09-15 06:09 "
            "UTC</li>") in mail.html
    assert ("<p style=\"margin:0 0 8px\">Why it matched: Chang Ho-jin, Jang Ho-jin, extended "
            "deterrence</p>") in mail.html
    assert mail.html.count("<li>") == 3
    assert "<img" not in mail.html and "<script" not in mail.html


def test_webhook_alert_has_the_documented_shape() -> None:
    body = render.webhook(alert(STORY))

    assert json.loads(json.dumps(body)) == {
        "schema": 1, "kind": "alert", "subscriber": "analyst-kim",
        "created": "2023-09-15T08:10:00+00:00",
        "stories": [{
            "story_id": "5f0c1e2d3b4a59687766aa01", "topic_id": "us-rok-deterrence",
            "topic_title": TOPIC, "headline": HEADLINE, "severity": "high", "outlets": 3,
            "sources": 2, "languages": ["en", "ko"],
            "first_seen": "2023-09-15T06:10:00+00:00",
            "last_updated": "2023-09-15T06:10:00+00:00",
            "why": {"matched": ["Chang Ho-jin", "Jang Ho-jin", "extended deterrence"],
                    "sentence": SENTENCE},
            "articles": [
                {"article_id": "a1", "outlet": "Seoul Ledger", "title": HEADLINE,
                 "url": "https://ledger.example/2023/09/15/dialogue", "language": "en",
                 "published": "2023-09-15T06:02:00+00:00"},
                {"article_id": "a2", "outlet": "Pacific Wire",
                 "title": "US and South Korea review nuclear umbrella at Seoul talks",
                 "url": "https://pacificwire.example/a/8812", "language": "en",
                 "published": "2023-09-15T06:05:00+00:00"},
                {"article_id": "a3", "outlet": "Han River Daily",
                 "title": "US, South Korea review nuclear umbrella (Pacific Wire)",
                 "url": "https://hanriver.example/news?id=44&lang=en", "language": "en",
                 "published": "2023-09-15T06:09:00+00:00"}],
            "new_articles": ["a1", "a2", "a3"], "note": ""}]}


def test_console_alert_is_one_line() -> None:
    assert render.console(alert(STORY)) == (
        f"ALERT [us-rok-deterrence] high | {HEADLINE} | 3 outlets, 2 sources | "
        "why: Chang Ho-jin, Jang Ho-jin, extended deterrence | "
        "https://ledger.example/2023/09/15/dialogue")


def test_an_alert_notice_must_hold_exactly_one_story() -> None:
    two = notice("alert", NoticeItem(STORY, STORY.story.articles),
                 NoticeItem(GROWN, GROWN.story.articles))
    with pytest.raises(ValueError, match="one item, not 2"):
        render.slack(two)


# -- an update -------------------------------------------------------------------------------
def test_update_is_short_and_names_only_the_new_reports() -> None:
    update = notice("update", NoticeItem(GROWN, (MORNING, HARBOUR)))

    content = render.slack(update)
    assert content.text == f"+2 new reports: {HEADLINE}"
    assert content.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": (
        f"*+2 new reports* · {HEADLINE} · {TOPIC} · high · now 5 outlets, 4 independent "
        "sources\n"
        "<http://busan.example/p/19|Deterrence group promises more drills> — Busan Evening · "
        "2023-09-15 06:40 UTC\n"
        "<https://harbour.example/jang|Jang Ho-jin: allies agree on joint planning> — "
        "Harbour Times · 2023-09-15 06:45 UTC")}}]
    assert render.console(update) == (
        f"UPDATE [us-rok-deterrence] high | {HEADLINE} | +2 reports: Busan Evening — "
        "Deterrence group promises more drills; Harbour Times — Jang Ho-jin: allies agree on "
        "joint planning | 5 outlets, 4 sources")
    mail = render.email(update)
    assert mail.html.count("<li>") == 2
    assert "Pacific Wire" not in mail.text and "Pacific Wire" not in mail.html
    assert "+2 new reports · now 5 outlets, 4 independent sources\n" in mail.text
    assert render.webhook(update)["stories"][0]["new_articles"] == ["a4", "a5"]


def test_update_subject_is_re_and_the_subject_the_alert_had() -> None:
    first = render.email(alert(STORY)).subject
    later = render.email(notice("update", NoticeItem(GROWN, (MORNING, HARBOUR)))).subject

    assert later == "Re: " + first == f"Re: [newswatch] {TOPIC}: {HEADLINE}"


def test_update_subject_stays_the_alerts_when_the_storys_severity_rose() -> None:
    risen = event(GROWN.story.articles, outlets=5, sources=4, updated=LATER,
                  severity="critical")
    first = render.email(alert(STORY)).subject
    update = render.email(notice("update", NoticeItem(risen, (MORNING, HARBOUR))))

    assert update.subject == "Re: " + first
    assert "critical" in update.text and "critical" not in update.subject


def test_subject_names_the_topic_id_when_the_topic_has_no_title() -> None:
    untitled = event((LEDGER,), outlets=1, sources=1, topic_title="")

    assert render.email(alert(untitled)).subject == f"[newswatch] us-rok-deterrence: {HEADLINE}"


def test_subject_is_one_line_of_at_most_200_characters() -> None:
    long = event((LEDGER,), outlets=1, sources=1, headline="Seoul\r\ntalks " + "x" * 400)
    subject = render.email(alert(long)).subject

    assert len(subject) == 200
    assert subject.startswith(f"[newswatch] {TOPIC}: Seoul talks xxx")
    assert subject.endswith("x…")


# -- a digest --------------------------------------------------------------------------------
def test_digest_lists_each_story_with_why_it_was_held() -> None:
    other = event((WIRE,), outlets=1, sources=1, story_id="77aa", severity="medium",
                  headline="Pacific Wire: umbrella review", topic_title="")
    digest = notice("digest", NoticeItem(STORY, STORY.story.articles, "quiet hours"),
                    NoticeItem(other, other.story.articles, "waiting for corroboration"))

    content = render.slack(digest)
    assert content.text == "newswatch digest: 2 stories"
    assert content.blocks[0] == {"type": "header", "text": {
        "type": "plain_text", "text": "newswatch digest: 2 stories"}}
    assert mrkdwn_texts(content) == [
        f"*<https://ledger.example/2023/09/15/dialogue|{HEADLINE}>*\n"
        f"{TOPIC} · high · 3 outlets, 2 independent sources · held: quiet hours\n\n"
        "*<https://pacificwire.example/a/8812|Pacific Wire: umbrella review>*\n"
        "us-rok-deterrence · medium · 1 outlet, 1 independent source · held: waiting for "
        "corroboration"]
    assert render.console(digest).splitlines() == [
        "DIGEST analyst-kim | 2 stories | 2023-09-15 08:10 UTC",
        f"  [us-rok-deterrence] high | {HEADLINE} | 3 outlets, 2 sources | held: quiet hours | "
        "https://ledger.example/2023/09/15/dialogue",
        "  [us-rok-deterrence] medium | Pacific Wire: umbrella review | 1 outlet, 1 source | "
        "held: waiting for corroboration | https://pacificwire.example/a/8812"]
    mail = render.email(digest)
    assert mail.subject == "[newswatch] digest: 2 stories"
    assert ('<h3 style="margin:12px 0 4px;font-size:15px"><a href="https://pacificwire.example/'
            'a/8812">Pacific Wire: umbrella review</a></h3>') in mail.html
    assert ("us-rok-deterrence · medium · 1 outlet, 1 independent source · held: waiting for "
            "corroboration\n") in mail.text
    assert [s["note"] for s in render.webhook(digest)["stories"]] == [
        "quiet hours", "waiting for corroboration"]


# -- feed text is untrusted ------------------------------------------------------------------
HOSTILE_REPORT = report(6, "@everyone News", HOSTILE, "javascript:alert(document.cookie)")
HOSTILE_STORY = event((HOSTILE_REPORT, WIRE), outlets=2, sources=2, headline=HOSTILE)
SHOWN = ("<!channel> <script>alert(1)</script> *bold* [2J <http://evil.example|click> @here")


def test_slack_shows_hostile_feed_text_as_written_and_links_nothing_but_http() -> None:
    content = render.slack(alert(HOSTILE_STORY))

    assert content.blocks[0]["text"] == {"type": "plain_text", "text": (
        "<!channel> <script>alert(1)</script> *bold* [2J <http://evil.example|click> "
        "@\u200dhere")}
    escaped = ("&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; \u2217bold\u2217 [2J "
               "&lt;http://evil.example\u2223click&gt; @\u200dhere")
    assert content.text == f"high · {TOPIC}: {escaped} (2 outlets, 2 independent sources)"
    reports = mrkdwn_texts(content)[0].splitlines()
    assert reports[1] == (
        f"{escaped} — @\u200deveryone News (not linked: javascript:alert(document.cookie))")
    assert linked_urls(content) == ["https://pacificwire.example/a/8812"]


def test_email_escapes_hostile_feed_text_and_links_nothing_but_http() -> None:
    mail = render.email(alert(HOSTILE_STORY))

    escaped = ("&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; *bold* [2J "
               "&lt;http://evil.example|click&gt; @here")
    assert ('<h2 style="margin:0 0 8px;font-size:18px"><a href="https://pacificwire.example/a/'
            f'8812">{escaped}</a></h2>') in mail.html
    assert (f"<li>{escaped} — @everyone News (not linked: javascript:alert(document.cookie))"
            "</li>") in mail.html
    assert re.findall(r'href="([^"]*)"', mail.html) == ["https://pacificwire.example/a/8812"] * 2
    assert mail.subject == f"[newswatch] {TOPIC}: {SHOWN}"
    assert f"- {SHOWN} — @everyone News (not linked: javascript:" in mail.text


def test_console_drops_control_characters_and_webhook_drops_other_schemes() -> None:
    assert render.console(alert(HOSTILE_STORY)) == (
        f"ALERT [us-rok-deterrence] high | {SHOWN} | 2 outlets, 2 sources | "
        "why: Chang Ho-jin, Jang Ho-jin, extended deterrence | https://pacificwire.example/a/8812")
    story = render.webhook(alert(HOSTILE_STORY))["stories"][0]
    assert story["headline"] == HOSTILE
    assert [a["url"] for a in story["articles"]] == [None, "https://pacificwire.example/a/8812"]


@pytest.mark.parametrize("url", [
    "data:text/html,<script>alert(1)</script>", "mailto:desk@ledger.example",
    " JavaScript:alert(1)", "\x01https://ledger.example/", "https:ledger.example/a",
    "https:\\\\evil.example", "ftp://ledger.example/a", "//ledger.example/a"])
def test_only_http_and_https_urls_become_links(url: str) -> None:
    only = event((report(7, "Seoul Ledger", "Talks", url),), outlets=1, sources=1)

    assert linked_urls(render.slack(alert(only))) == []
    assert "href=" not in render.email(alert(only)).html
    assert render.webhook(alert(only))["stories"][0]["articles"][0]["url"] is None


def test_characters_that_would_end_a_link_are_percent_encoded() -> None:
    odd = event((report(8, "Seoul Ledger", "Talks", 'https://ledger.example/a b|c>"d'),),
                outlets=1, sources=1)

    assert linked_urls(render.slack(alert(odd))) == ["https://ledger.example/a%20b%7Cc%3E%22d"]
    assert 'href="https://ledger.example/a%20b%7Cc%3E%22d"' in render.email(alert(odd)).html


# -- limits ----------------------------------------------------------------------------------
def assert_within_block_kit_limits(content: render.SlackContent) -> None:
    assert content.text
    assert len(content.blocks) <= 50
    total = len(content.text)
    for block in content.blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= 150
        if "text" in block:
            total += len(block["text"]["text"])
            assert len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", ())) <= 10
        for field in block.get("fields", ()):
            total += len(field["text"])
            assert len(field["text"]) <= 2000
        for element in block.get("elements", ()):
            total += len(element["text"])
    assert total < 12_000


def mrkdwn(text: str) -> str:
    """What Slack mrkdwn must receive for ``text``, spelled out for these tests."""
    for raw, shown in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("*", "\u2217"),
                       ("_", "\u02cd"), ("~", "\u223c"), ("`", "\u02cb"), ("|", "\u2223"),
                       ("@here", "@\u200dhere")):
        text = text.replace(raw, shown)
    return text


# Each of these characters escapes to several in mrkdwn; a title of them is the longest one.
HEAVY = ("R&D <b>*talks*</b> @here & " * 200)[:3000]


def crowd(count: int) -> tuple[StoryArticle, ...]:
    return tuple(report(100 + i, f"Outlet {i} & Co", HEAVY + str(i),
                        f"https://outlet{i}.example/story?id={i}&page=1") for i in range(count))


@pytest.mark.parametrize("kind", ["alert", "update"])
def test_a_story_of_400_long_reports_stays_within_slack_limits_and_says_what_is_left_out(
        kind: NoticeKind) -> None:
    articles = crowd(400)
    terms = tuple({"matched": f"term {i} " + "&" * 490} for i in range(50))
    big = event(articles, outlets=400, sources=400, headline=HEAVY, evidence=terms)
    content = render.slack(notice(kind, NoticeItem(big, articles)))

    assert_within_block_kit_limits(content)
    texts = mrkdwn_texts(content)
    shown = sum(line.startswith("<https://outlet") for t in texts for line in t.splitlines())
    assert 0 < shown < 400
    latest = mrkdwn(HEAVY[:199].rstrip() + "…")
    assert texts[-1].splitlines()[-1] == (
        f"…and {400 - shown} more reports, latest: "
        f"<https://outlet399.example/story?id=399&amp;page=1|{latest}>")
    if kind == "alert":
        header = content.blocks[0]["text"]["text"]
        assert header.startswith("R&D <b>*talks*</b> @\u200dhere & R&D <b>*talks*</b>")
        assert header.endswith("<b>*t…")
        assert content.blocks[-1]["type"] == "context"


def test_email_lists_50_reports_then_says_how_many_more_with_a_link() -> None:
    articles = crowd(400)
    mail = render.email(alert(event(articles, outlets=400, sources=400)))

    assert mail.html.count("<li>") == 50
    assert ('…and 350 more reports, latest: <a href="https://outlet399.example/story?id=399&amp;'
            'page=1">R&amp;D') in mail.html
    assert "…and 350 more reports, latest: R&D <b>*talks*</b>" in mail.text


def test_a_digest_of_200_stories_stays_within_slack_limits_and_counts_the_rest() -> None:
    items = []
    for i in range(200):
        articles = crowd(1)
        one = event(articles, outlets=1, sources=1, headline=HEAVY, story_id=f"s{i}",
                    topic_title="T&<*>" * 100)
        items.append(NoticeItem(one, articles, "rate limit & <quiet hours>" * 10))
    content = render.slack(notice("digest", *items))

    assert_within_block_kit_limits(content)
    texts = mrkdwn_texts(content)
    shown = sum(t.count("*<https://outlet") for t in texts)
    assert 0 < shown < 200
    assert texts[-1].endswith(f"\n\n…and {200 - shown} more stories")
    assert render.console(notice("digest", *items)).count("\n") == 200
    mail = render.email(notice("digest", *items))
    assert mail.html.count("<h3") == 100
    assert mail.text.endswith("\n…and 100 more stories\n")
