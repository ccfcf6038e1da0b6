"""The console's pages over a real store filled with real encoded messages.

The store is :class:`monitor.console.store.Store` on a temporary file, filled by ``apply``
with what :mod:`tests.console.factory` encodes; the feedback sink records what it was given
and applies it to the store as the real one does after Kafka's ack; the rule editor is a
small stand-in returning the editor's own result types (the real one is tested in
``test_editor.py``). Assertions are on what left the app: status, headers, the HTML, the
feedback sent.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from starlette.testclient import TestClient

from monitor.article import Story
from monitor.console.auth import Auth
from monitor.console.editor import (
    Change,
    Editor,
    Opened,
    Preview,
    Problem,
    Saved,
    Scores,
    Suggestion,
)
from monitor.console.guard import CSP
from monitor.console.model import StoryFilter
from monitor.console.sink import FeedbackNotRecorded
from monitor.console.store import Store
from monitor.console.view import (
    day_chart,
    dom_id,
    filter_from_query,
    filter_query,
    highlight,
    local_path,
    safe_url,
)
from monitor.console.web import create_app
from monitor.console.web_base import environment
from monitor.feedback import Feedback
from tests.console.factory import NOW, Feed, ack, report, vote

BASE = "http://127.0.0.1:8080"
HOSTILE_TITLE = '<script>alert("x")</script> <!channel> Kim\'s "missiles" & <b>more</b>'


class RecordingSink:
    """Takes feedback as the real sink does after Kafka's ack: keeps it, applies it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: list[Feedback] = []
        self.failing = False

    def send(self, fb: Feedback) -> None:
        if self.failing:
            raise FeedbackNotRecorded("Kafka at 127.0.0.1:9 did not take the feedback")
        self.sent.append(fb)
        self.store.apply_feedback(fb)


class StubEditor:
    """Answers like the rule editor: one watch topic, a preview that finds a problem on a
    line that says ``broken``, saves that refuse problems and stale versions."""

    days = 7

    def __init__(self, topics_dir: Path) -> None:
        self.topics_dir = topics_dir
        self.path = topics_dir / "nk-russia.yaml"
        self.path.write_text("id: nk-russia\ntitle: NK and Russia\nmatch:\n  any: [shells]\n")
        self.saved: list[str] = []
        self.previews: list[tuple[str, str | None, int | None]] = []
        self.lost_title = HOSTILE_TITLE

    def topic_ids(self) -> list[str]:
        return ["nk-russia"]

    def open(self, topic_id: str) -> Opened:
        if topic_id != "nk-russia":
            raise KeyError(topic_id)
        text = self.path.read_text()
        return Opened(topic_id, text, f"v{len(text)}", self.path)

    def _problems(self, text: str) -> tuple[Problem, ...]:
        return tuple(Problem("nk-russia.yaml", number, "match", "broken is not a rule")
                     for number, line in enumerate(text.splitlines(), 1) if "broken" in line)

    def preview(self, topic_id: str, text: str, *, article_id: str | None = None,
                days: int | None = None) -> Preview:
        self.previews.append((text, article_id, days))
        problems = self._problems(text)
        if problems:
            return Preview(topic_id, problems)
        day = date(2025, 12, 3)
        lost = Change("a1", self.lost_title, "Wire <One>", "javascript:alert(1)", day,
                      "veto none:football fires")
        return Preview(topic_id, (), compiled=True, explanation="score 1 >= threshold 1: MATCH",
                       before=5, after=4, lost=(lost,), lost_count=1,
                       scores_before=Scores(4, 3, 1, 0), scores_after=Scores(4, 3, 0, 0),
                       per_day=((day - timedelta(days=1), 2, 2), (day, 3, 2)), scanned=120,
                       days=days or self.days, elapsed_ms=12.5)

    def save(self, topic_id: str, text: str, version: str) -> Saved:
        current = self.open(topic_id).version
        problems = self._problems(text)
        if problems:
            return Saved("invalid", current, problems)
        if version != current:
            return Saved("conflict", current)
        self.path.write_text(text)
        self.saved.append(text)
        return Saved("ok", f"v{len(text)}")

    def suggest(self, story_id: str) -> list[Suggestion]:
        text = self.path.read_text() + "  none: [football]\n"
        return [Suggestion("none", "Veto 'football'", "none: [football]", text, ("a2",),
                           self.preview("nk-russia", text))]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "console.sqlite3", window=timedelta(days=30))
    yield store
    store.close()


@dataclass(frozen=True)
class Stories:
    hostile: Story
    older: Story


@pytest.fixture
def stories(store: Store) -> Stories:
    """Two stories of ``nk-russia`` and one of ``unsc``, with an alert each way."""
    feed = Feed()
    hostile = feed.story("nk-russia", [
        report("a1", HOSTILE_TITLE, "North Korea shipped artillery shells to Russia. Nothing "
               "else happened.", url="javascript:alert(document.cookie)", outlet="Wire <One>"),
        report("a2", "Shells for Russia", "Officials say Russia received shells from North "
               "Korea.", outlet="Daily", language="ko", fetched_at=NOW - timedelta(minutes=30)),
    ], terms=["North Korea", "shells", "Russia"], topic_title="NK and Russia")
    feed.alert(hostile)
    feed.alert(hostile, outcome="dead", subscriber_id="desk", channel_id="desk-mail",
               channel="email", reason="550 mailbox unavailable")
    older = feed.story("nk-russia", [
        report("b1", "Older story about shells", "Russia bought shells.",
               fetched_at=NOW - timedelta(days=1))], terms=["shells", "Russia"],
        topic_title="NK and Russia", severity="medium")
    feed.story("unsc", [report("c1", "Sanctions panel renewed", "The council renewed it.",
                               fetched_at=NOW - timedelta(hours=3))],
               terms=["council"], topic_title="UN sanctions", severity="low")
    feed.feedback(vote(older, "bob", "up"))
    feed.feedback(ack(older, "carol"))
    store.apply(feed.records)
    return Stories(hostile, older)


@pytest.fixture
def editor(tmp_path: Path) -> StubEditor:
    topics = tmp_path / "topics"
    topics.mkdir()
    return StubEditor(topics)


@pytest.fixture
def sink(store: Store) -> RecordingSink:
    return RecordingSink(store)


@pytest.fixture
def client(store: Store, sink: RecordingSink, editor: StubEditor, stories: Stories,
           tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(store=store, sink=sink, editor=editor, auth=Auth("none"),
                     topics_dir=editor.topics_dir, ready=lambda: True, clock=lambda: NOW)
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        yield client


def feedback_of(html: str) -> str:
    """The story page's feedback section."""
    return html[html.index('id="feedback"'):html.index("</main>")]


def story_url(stories: Stories) -> str:
    return f"/stories/{stories.hostile.story_id}"


# -- feed text is text ------------------------------------------------------------------------
def test_a_title_with_script_and_a_slack_mention_is_shown_as_text(client: TestClient,
                                                                  stories: Stories) -> None:
    for path in ("/", story_url(stories)):
        html = client.get(path).text
        assert "&lt;script&gt;alert(" in html
        assert "&lt;!channel&gt;" in html
        assert "&lt;b&gt;more&lt;/b&gt;" in html
        assert "<script>alert" not in html and "<b>more" not in html
        assert "Wire &lt;One&gt;" in html or path == "/"


def test_a_javascript_url_is_never_linked(client: TestClient, stories: Stories) -> None:
    html = client.get(story_url(stories)).text
    assert "javascript:" not in html
    assert "link not shown: not http or https" in html
    assert 'href="https://news.example/a2"' in html


def test_the_evidence_is_highlighted_in_its_sentences(client: TestClient, stories: Stories) -> None:
    html = client.get(story_url(stories)).text
    assert ("<mark>North Korea</mark> shipped artillery <mark>shells</mark> to "
            "<mark>Russia</mark>.") in html
    assert 'lang="ko"' in html  # the Korean report's evidence is marked as Korean


def test_pages_carry_no_inline_script_style_or_handler(client: TestClient,
                                                       stories: Stories) -> None:
    for path in ("/", story_url(stories), "/topics/nk-russia/edit",
                 f"{story_url(stories)}/suggest", "/stories/nope"):
        html = client.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        assert "<style" not in html, path


def test_every_response_sends_the_security_headers(client: TestClient, stories: Stories) -> None:
    responses = [client.get("/"), client.get(story_url(stories)), client.get("/stories/nope"),
                 client.get("/static/console.css"), client.get("/healthz"),
                 client.post("/stories/x/ack", headers={"Sec-Fetch-Site": "cross-site"})]
    for response in responses:
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP


def test_templates_escape_whatever_their_name() -> None:
    env = environment()
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<i>") == "&lt;i&gt;"


# -- the story list ---------------------------------------------------------------------------
def test_the_list_shows_stories_newest_first_with_their_facts(client: TestClient,
                                                               stories: Stories) -> None:
    html = client.get("/").text
    first = html.index("&lt;script&gt;alert(")
    assert first < html.index("Sanctions panel renewed") < html.index("Older story about")
    row = html[html.index(f'id="row-{stories.hostile.story_id}"'):]
    row = row[:row.index("</tr>")]
    assert "1 failed" in row and "1 sent" in row
    assert '<td class="langs">en ko</td>' in row
    assert 'class="badge sev-high"' in row


def test_filters_round_trip_through_the_url(client: TestClient, stories: Stories) -> None:
    filters = [StoryFilter(), StoryFilter(topic_id="nk-russia", severity="high"),
               StoryFilter(acknowledged=False, vote="down", include_snoozed=True, limit=20),
               StoryFilter(acknowledged=True, before=NOW),
               StoryFilter(before=NOW, before_id="story-1")]
    for flt in filters:
        query = filter_query(flt)
        assert filter_from_query(dict(parse_qsl(query.lstrip("?")))) == flt
    html = client.get("/?topic=nk-russia&severity=medium&vote=up").text
    assert "Older story about shells" in html and "Sanctions panel" not in html
    assert "&lt;script&gt;" not in html  # no 👍 on that one
    assert 'href="/?topic=unsc&amp;severity=medium&amp;vote=up"' in html


def test_nonsense_in_the_url_is_ignored() -> None:
    flt = filter_from_query({"severity": "apocalyptic", "ack": "maybe", "limit": "x",
                             "before": "yesterday", "vote": "sideways"})
    assert flt == StoryFilter()


def test_older_stories_are_a_link_away(client: TestClient, stories: Stories) -> None:
    html = client.get("/?limit=2").text
    assert "Older story about shells" not in html
    older = re.search(r'href="(/\?limit=2&amp;before=[^"]+)" rel="next"', html)
    assert older is not None
    html = client.get(older.group(1).replace("&amp;", "&")).text
    assert "Older story about shells" in html and "Sanctions panel" not in html


# -- feedback ---------------------------------------------------------------------------------
def test_a_down_vote_is_sent_with_the_analyst_and_the_story_s_articles(
        client: TestClient, stories: Stories, sink: RecordingSink) -> None:
    response = client.post(f"{story_url(stories)}/vote", data={"value": "down",
                                                            "next": story_url(stories)})
    assert response.status_code == 303
    assert response.headers["location"] == story_url(stories)
    [fb] = sink.sent
    assert (fb.item, fb.kind, fb.value, fb.analyst) == ("story", "vote", "down", "local")
    assert fb.topic_id == "nk-russia" and set(fb.articles) == {"a1", "a2"}
    assert fb.at == NOW
    html = client.get(story_url(stories)).text
    assert "local" in feedback_of(html) and "👎 not relevant" in feedback_of(html)
    assert f'href="{story_url(stories)}/suggest"' in html
    assert 'aria-pressed="true"' in html


def test_an_article_vote_names_the_watch_topic(client: TestClient, stories: Stories,
                                               sink: RecordingSink) -> None:
    response = client.post("/articles/a2/vote", data={
        "value": "up", "topic": "nk-russia", "story": stories.hostile.story_id})
    assert response.status_code == 303 and response.headers["location"] == story_url(stories)
    [fb] = sink.sent
    assert (fb.item, fb.item_id, fb.topic_id, fb.value) == ("article", "a2", "nk-russia", "up")
    assert client.post("/articles/zz/vote", data={
        "value": "up", "topic": "nk-russia", "story": stories.hostile.story_id,
    }).status_code == 404


def test_acknowledging_moves_a_story_out_of_the_triage_list(client: TestClient,
                                                            stories: Stories) -> None:
    assert "&lt;script&gt;" in client.get("/?ack=no").text
    assert client.post(f"{story_url(stories)}/ack", data={"value": "yes"}).status_code == 303
    assert "&lt;script&gt;" not in client.get("/?ack=no").text
    html = client.get("/?ack=yes").text
    assert "&lt;script&gt;" in html and 'Acknowledged by </span>local' in html


def test_a_snoozed_story_leaves_the_list_until_asked_for(client: TestClient,
                                                         stories: Stories,
                                                         sink: RecordingSink) -> None:
    client.post(f"{story_url(stories)}/snooze", data={"hours": "4"})
    assert sink.sent[-1].until == NOW + timedelta(hours=4)
    assert "&lt;script&gt;" not in client.get("/").text
    assert "&lt;script&gt;" in client.get("/?snoozed=1").text
    assert "Snoozed: back in 4 h" in client.get(story_url(stories)).text
    client.post(f"{story_url(stories)}/snooze", data={"hours": "0"})
    assert sink.sent[-1].until is None
    assert "&lt;script&gt;" in client.get("/").text


def test_feedback_kafka_did_not_take_is_reported_not_shown(client: TestClient, stories: Stories,
                                                           sink: RecordingSink) -> None:
    sink.failing = True
    response = client.post(f"{story_url(stories)}/vote", data={"value": "up"})
    assert response.status_code == 503
    assert "was not recorded" in response.text
    assert "Nobody has said anything" in feedback_of(client.get(story_url(stories)).text)


def test_bad_feedback_is_refused(client: TestClient, stories: Stories, sink: RecordingSink) -> None:
    assert client.post(f"{story_url(stories)}/vote", data={"value": "maybe"}).status_code == 400
    assert client.post(f"{story_url(stories)}/snooze", data={"hours": "-1"}).status_code == 400
    assert client.post("/stories/unknown/ack", data={"value": "yes"}).status_code == 404
    assert sink.sent == []


def test_next_never_leads_off_the_site(client: TestClient, stories: Stories) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        response = client.post(f"{story_url(stories)}/ack", data={"value": "yes", "next": target})
        assert response.headers["location"] == story_url(stories)
    assert local_path("/?topic=x&ack=no") == "/?topic=x&ack=no"


def test_the_feedback_table_says_who_said_what(client: TestClient, stories: Stories) -> None:
    older = f"/stories/{stories.older.story_id}"
    feedback = feedback_of(client.get(older).text)
    assert "bob" in feedback and "👍 relevant" in feedback and "the story" in feedback
    assert "carol" in feedback and "acknowledged" in feedback
    assert "Acknowledged by <strong>carol</strong>" in client.get(older).text


def test_where_the_alerts_went(client: TestClient, stories: Stories) -> None:
    html = client.get(story_url(stories)).text
    alerts = html[html.index('id="alerts-title"'):html.index('id="feedback"')]
    assert "ops-slack" in alerts and "desk-mail" in alerts and "(email)" in alerts
    assert "550 mailbox unavailable" in alerts and "✓ sent" in alerts


# -- CSRF -------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:9999"},
    {"Origin": "https://127.0.0.1:8080"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site", "Origin": BASE},
])
def test_a_cross_origin_post_is_refused(client: TestClient, stories: Stories, sink: RecordingSink,
                                        editor: StubEditor, headers: dict[str, str]) -> None:
    for path, data in ((f"{story_url(stories)}/vote", {"value": "down"}),
                       (f"{story_url(stories)}/ack", {"value": "yes"}),
                       ("/topics/nk-russia/save", {"yaml": "id: nk-russia\n",
                                                   "version": editor.open("nk-russia").version})):
        response = client.post(path, data=data, headers=headers)
        assert response.status_code == 403, (path, headers)
        assert "Refused" in response.text and "another" in response.text
    assert sink.sent == [] and editor.saved == []


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin", "Origin": BASE},
    {"Origin": BASE},
    {"Origin": "http://127.0.0.1:8080"},
    {"Sec-Fetch-Site": "none"},
    {},
])
def test_a_same_origin_post_or_one_from_no_browser_is_accepted(
        client: TestClient, stories: Stories, sink: RecordingSink, headers: dict[str, str]) -> None:
    response = client.post(f"{story_url(stories)}/vote", data={"value": "down"}, headers=headers)
    assert response.status_code == 303
    assert len(sink.sent) == 1


def test_a_cross_site_get_still_reads(client: TestClient, stories: Stories) -> None:
    assert client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


# -- the rule editor --------------------------------------------------------------------------
def test_the_editor_opens_the_watch_topic(client: TestClient, editor: StubEditor) -> None:
    html = client.get("/topics/nk-russia/edit?article=a1").text
    assert '<textarea id="yaml" name="yaml"' in html
    assert "id: nk-russia\ntitle: NK and Russia" in html
    assert 'name="version" value="v' in html
    assert 'value="a1"' in html and '<option value="a1">' in html  # recent articles offered
    assert '<option value="3">the last 3 days</option>' in html
    assert client.get("/topics/other/edit").status_code == 404


def test_a_preview_with_problems_shows_their_lines_and_blocks_save(client: TestClient,
                                                                   editor: StubEditor) -> None:
    text = "id: nk-russia\nmatch:\n  broken: yes\n"
    response = client.post("/topics/nk-russia/preview", data={"yaml": text, "days": "3"},
                           headers={"X-Console-Fragment": "preview"})
    assert response.status_code == 200
    assert "<html" not in response.text  # a fragment for console.js
    assert "line 3" in response.text and "broken is not a rule" in response.text
    assert re.search(r'data-problems="[1-9]', response.text)
    assert editor.previews[-1] == (text, None, 3)
    page = client.post("/topics/nk-russia/preview", data={"yaml": text}).text
    assert "<html" in page and re.search(r'id="save"[^>]*disabled', page)


def test_a_preview_shows_counts_scores_chart_and_what_is_lost(client: TestClient,
                                                              editor: StubEditor) -> None:
    response = client.post("/topics/nk-russia/preview",
                           data={"yaml": "id: nk-russia\n", "article": "a1"},
                           headers={"X-Console-Fragment": "preview"})
    html = response.text
    assert 'data-problems="0"' in html
    assert "5 → 4" in html and "(-1)" in html
    assert "<td>0.75</td><td>1.00</td>" in html  # precision before, after
    assert "Lost (1)" in html and "veto none:football fires" in html
    assert "&lt;script&gt;" in html and "<script>" not in html  # a lost title is text
    assert "javascript:" not in html
    assert "score 1 &gt;= threshold 1: MATCH" in html
    assert editor.previews[-1][1] == "a1"
    svg = html[html.index("<svg"):html.index("</svg>")]
    for name, value in re.findall(r'\s([a-z-]+)="([^"]*)"', svg):
        assert re.fullmatch(r"[0-9. ]+|bar-before|bar-after|axis|day|bars|img|middle|"
                            r"chart-title|http://www\.w3\.org/2000/svg", value), (name, value)
    assert "2025-12-03: 3 before, 2 after" in svg


def test_save_writes_only_a_valid_edit_of_the_opened_version(client: TestClient,
                                                             editor: StubEditor) -> None:
    version = editor.open("nk-russia").version
    broken = client.post("/topics/nk-russia/save",
                         data={"yaml": "id: nk-russia\nbroken: 1\n", "version": version})
    assert broken.status_code == 422 and "line 2" in broken.text
    assert "id: nk-russia\nbroken: 1" in broken.text  # the analyst's text is kept
    stale = client.post("/topics/nk-russia/save", data={"yaml": "id: nk-russia\n",
                                                        "version": "v0"})
    assert stale.status_code == 409 and "someone changed" in stale.text
    assert editor.saved == []
    good = client.post("/topics/nk-russia/save",
                       data={"yaml": "id: nk-russia\r\nmatch: {}\r\n", "version": version})
    assert good.status_code == 303
    assert good.headers["location"] == "/topics/nk-russia/edit?saved=1"
    assert editor.saved == ["id: nk-russia\nmatch: {}\n"]
    assert "Saved." in client.get(good.headers["location"]).text


def test_suggested_edits_open_in_the_editor(client: TestClient, stories: Stories,
                                            editor: StubEditor) -> None:
    html = client.get(f"{story_url(stories)}/suggest").text
    assert "Veto &#39;football&#39;" in html
    assert "none: [football]" in html
    assert 'action="/topics/nk-russia/preview"' in html
    assert client.get("/stories/unknown/suggest").status_code == 404


# -- probes, static ---------------------------------------------------------------------------
def test_probes_answer_without_an_analyst(store: Store, sink: RecordingSink,
                                          editor: StubEditor, tmp_path: Path) -> None:
    users = tmp_path / "users"
    import bcrypt

    users.write_text(f"ann:{bcrypt.hashpw(b'pw', bcrypt.gensalt(4)).decode()}\n")
    ready = [False]
    app = create_app(store=store, sink=sink, editor=editor,
                     auth=Auth.of(mode="basic", users_file=users, bind="0.0.0.0"),
                     topics_dir=editor.topics_dir, ready=lambda: ready[0])
    with TestClient(app, base_url=BASE) as client:
        assert client.get("/healthz").text == "ok"
        assert client.get("/readyz").status_code == 503
        ready[0] = True
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["ready"] is True
        assert client.get("/").status_code == 401


def test_static_files_are_served(client: TestClient) -> None:
    js = client.get("/static/console.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    css = client.get("/static/console.css")
    assert "prefers-color-scheme: dark" in css.text and "NanumGothic" in css.text


# -- the pieces the templates are given -------------------------------------------------------
def test_safe_url_links_only_http_and_https() -> None:
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("HTTP://example.org/") == "HTTP://example.org/"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                "java\tscript:alert(1)", "data:text/html,<b>", "vbscript:x", "file:///etc",
                "//example.org/", "/relative", "https://", "http:///x", "", None, 3):
        assert safe_url(bad) is None, bad


def test_highlight_cuts_sentences_into_text_and_hits() -> None:
    sentence = {"field": "text", "start": 100, "end": 130, "text": "Kim met Putin in Vladivostok."}
    evidence = [{"field": "text", "start": 100, "end": 103, "matched": "Kim"},
                {"field": "text", "start": 108, "end": 113, "matched": "Putin"},
                {"field": "title", "start": 0, "end": 3, "matched": "Kim"},
                {"field": "text", "start": 5, "end": 16, "matched": "vladivostok"}]
    segments = highlight(sentence, evidence)
    assert "".join(t for t, _ in segments) == sentence["text"]
    assert [t for t, hit in segments if hit] == ["Kim", "Putin", "Vladivostok"]
    assert highlight({"text": "<b>x</b>"}, [{"matched": "<b>"}]) == [("<b>", True),
                                                                     ("x</b>", False)]
    assert highlight({"text": 3}, []) == []


def test_the_chart_is_numbers_only() -> None:
    chart = day_chart([(date(2025, 12, 1), 4, 2), ("2025-12-02", 0, 8), ("bad",)])
    assert chart is not None and chart.peak == 8 and len(chart.columns) == 2
    for column in chart.columns:
        for bar in column.bars:
            assert bar.kind in ("before", "after")
            assert bar.y + bar.height == pytest.approx(chart.baseline)
    assert day_chart([]) is None


def test_odd_ids_make_plain_element_ids() -> None:
    assert dom_id("3f2a_b-9") == "3f2a_b-9"
    odd = dom_id('a b"<c>')
    assert re.fullmatch(r"h[0-9a-f]{20}", odd) and odd == dom_id('a b"<c>')


# -- with the real rule editor ----------------------------------------------------------------
REPO_TOPICS = Path(__file__).resolve().parents[2] / "topics"


def test_the_real_editor_shows_a_broken_line_and_the_matches_a_veto_loses(
        store: Store, sink: RecordingSink, tmp_path: Path) -> None:
    topics = tmp_path / "topics"
    shutil.copytree(REPO_TOPICS, topics)
    feed = Feed()
    feed.story("nk-russia-arms", [
        report("k1", "Shells for Moscow", "North Korea sent artillery shells to Russia by "
               "freight train, officials said."),
        report("k2", "Troops in Kursk", "North Korean troops were seen in Kursk, Russia said.",
               outlet="Daily")], terms=["North Korea", "shells", "Russia"])
    store.apply(feed.records)
    editor = Editor(topics, store, days=7, now=lambda: NOW)
    app = create_app(store=store, sink=sink, editor=editor, auth=Auth("none"),
                     topics_dir=topics, ready=lambda: True, clock=lambda: NOW)
    opened = editor.open("nk-russia-arms")
    fragment = {"X-Console-Fragment": "preview"}
    try:
        with TestClient(app, base_url=BASE, follow_redirects=False) as client:
            broken = opened.text.replace("severity: high", "severity: [high", 1)
            html = client.post("/topics/nk-russia-arms/preview", data={"yaml": broken},
                               headers=fragment).text
            assert re.search(r'data-problems="[1-9]', html)
            assert re.search(r"line \d+", html) and "Backtest" not in html
            assert client.post("/topics/nk-russia-arms/save", data={
                "yaml": broken, "version": opened.version}).status_code == 422

            vetoed = opened.text.replace('"film festival",', '"film festival", "freight train",', 1)
            assert vetoed != opened.text
            html = client.post("/topics/nk-russia-arms/preview",
                               data={"yaml": vetoed, "article": "k1"}, headers=fragment).text
            assert 'data-problems="0"' in html, html
            assert "2 → 1" in html and "Lost (1)" in html and "Shells for Moscow" in html
            assert "no match" in html  # the explanation of k1 under the edit
            saved = client.post("/topics/nk-russia-arms/save",
                                data={"yaml": vetoed, "version": opened.version})
            assert saved.status_code == 303
            assert '"freight train",' in (topics / "nk-russia-arms.yaml").read_text()
    finally:
        editor.close()
