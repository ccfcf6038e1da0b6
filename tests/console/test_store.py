"""The console's store on a temporary SQLite file, filled with real encoded messages.

``Stream`` numbers records as Kafka would (an offset per kind and partition), so a test can
apply a batch, apply it again, replay it in another order or at other offsets, and compare
what the file holds (:func:`dump`) instead of looking inside the store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.article import (
    AlertRecord,
    Article,
    Match,
    Story,
    StoryArticle,
    StoryEvent,
    make_story_id,
)
from monitor.console.model import StoryFilter
from monitor.console.store import Record, Store
from monitor.feedback import Feedback, labels

NOW = datetime(2024, 6, 10, 12, tzinfo=UTC)


# --- messages -----------------------------------------------------------------------------------


def article(ident: str, *, title: str = "", text: str = "", outlet: str = "Example Wire",
            language: str = "en", at: datetime = NOW) -> Article:
    return Article(article_id=ident, feed_id=outlet.lower().replace(" ", "-"), outlet=outlet,
                   url=f"https://{outlet.lower().replace(' ', '')}.example/{ident}",
                   title=title or f"Report {ident}", summary=f"Summary of {ident}.",
                   text=text or f"The full text of {ident}. Dock workers went on strike.",
                   language=language, published_at=at - timedelta(minutes=5), fetched_at=at)


def match(a: Article, topic_id: str, *, word: str = "strike") -> Match:
    start = a.text.find(word)
    return Match(article=a, topic_id=topic_id, topic_title=topic_id.title(), score=1.0,
                 evidence=({"group": "g1", "term": word, "matched": word, "field": "text",
                            "start": start, "end": start + len(word)},),
                 sentences=({"field": "text", "start": 0, "end": len(a.text),
                             "text": a.text},),
                 matched_at=a.fetched_at + timedelta(seconds=1))


def story_event(topic_id: str, articles: Sequence[Article], *, severity: str = "medium",
                at: datetime | None = None, why: str = "same event") -> StoryEvent:
    """The event that adds the last of ``articles`` to the story the first one opened."""
    listed = tuple(StoryArticle(article_id=a.article_id, outlet=a.outlet, url=a.url,
                                title=a.title, language=a.language, published=a.published_at,
                                source=a.article_id) for a in articles)
    first, last = articles[0], articles[-1]
    story = Story(story_id=make_story_id(topic_id, first.article_id), topic_id=topic_id,
                  topic_title=topic_id.title(), headline=first.title,
                  first_seen=first.fetched_at, last_updated=at or last.fetched_at,
                  articles=listed, outlets=len({a.outlet for a in articles}),
                  sources=len(articles), languages=tuple(sorted({a.language or ""
                                                                 for a in articles})),
                  severity=severity, score=1.0, updates=len(articles) - 1)
    m = match(last, topic_id)
    return StoryEvent(event="opened" if len(articles) == 1 else "updated", story=story,
                      article=listed[-1], why=why, evidence=m.evidence,
                      sentences=m.sentences, fetched_at=last.fetched_at,
                      matched_at=m.matched_at)


def alert(delivery: str, stories: Sequence[str], *, outcome: str = "sent",
          at: datetime = NOW, subscriber: str = "desk") -> AlertRecord:
    return AlertRecord(delivery=delivery, subscriber_id=subscriber, channel_id="hook",
                       channel="slack", kind="alert", outcome=outcome,  # type: ignore[arg-type]
                       reason="" if outcome == "sent" else "channel_not_found",
                       stories=tuple(stories), topics=("t",), articles=(), attempts=1,
                       decided_at=at, finished_at=at)


def feedback(item: str, item_id: str, topic_id: str, analyst: str, kind: str,
             value: str | None = None, *, at: datetime = NOW, until: datetime | None = None,
             articles: Sequence[str] = ()) -> Feedback:
    return Feedback(item=item, item_id=item_id, topic_id=topic_id,  # type: ignore[arg-type]
                    analyst=analyst, kind=kind, value=value, until=until,  # type: ignore[arg-type]
                    articles=tuple(articles), at=at)


@dataclass
class Stream:
    """Records as Kafka would number them: one offset sequence per kind and partition."""

    records: list[Record] = field(default_factory=list)
    _next: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, kind: str, message: Any, *, partition: int = 0, key: bytes | None = None,
            at: datetime = NOW) -> Record:
        value = message if isinstance(message, bytes | None) else message.to_json()
        if key is None and isinstance(message, Feedback):
            key = message.key()
        offset = self._next.get((kind, partition), 0)
        self._next[(kind, partition)] = offset + 1
        record = (kind, partition, offset, key, value, int(at.timestamp() * 1000))
        self.records.append(record)
        return record


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the file holds, table by table, in a stable order (insertion numbers left
    out: two stores built from one stream in different orders number their articles apart)."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        out = {}
        for table in sorted(tables):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                       if r[1] != "seq"]
            out[table] = sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}"),
                                key=repr)
        return out
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "console.db")


def everything() -> Stream:
    """A small day of the pipeline: articles, matches, two stories, alerts and feedback."""
    s = Stream()
    a1 = article("a1", title="Dock workers strike at the northern port")
    a2 = article("a2", title="Port strike spreads", outlet="Daily Planet",
                 at=NOW + timedelta(minutes=10))
    a3 = article("a3", title="Floods warning for the valley", outlet="Valley News",
                 language="de", at=NOW + timedelta(minutes=20))
    for n, a in enumerate((a1, a2, a3)):
        s.add("articles", a, partition=n % 2, key=a.article_id.encode())
    s.add("matches", match(a1, "harbour-strike"))
    s.add("matches", match(a2, "harbour-strike"))
    s.add("matches", match(a3, "flood-warning", word="Floods"))
    s.add("stories", story_event("harbour-strike", [a1]))
    s.add("stories", story_event("harbour-strike", [a1, a2]))
    s.add("stories", story_event("flood-warning", [a3], severity="high"))
    harbour = make_story_id("harbour-strike", "a1")
    flood = make_story_id("flood-warning", "a3")
    s.add("alerts", alert("d1", [harbour]))
    s.add("alerts", alert("d2", [harbour, flood], outcome="dead"))
    s.add("feedback", feedback("story", harbour, "harbour-strike", "kim", "vote", "down",
                               articles=["a1", "a2"]))
    s.add("feedback", feedback("article", "a2", "harbour-strike", "lee", "vote", "up",
                               at=NOW + timedelta(minutes=1)))
    s.add("feedback", feedback("story", flood, "flood-warning", "lee", "ack", "yes"))
    return s


HARBOUR = make_story_id("harbour-strike", "a1")
FLOOD = make_story_id("flood-warning", "a3")


# --- writes -------------------------------------------------------------------------------------


def test_applying_a_batch_again_or_its_duplicates_changes_nothing(store: Store,
                                                                  tmp_path: Path) -> None:
    stream = everything()
    assert store.apply(stream.records) > 0
    once = dump(store.path)

    assert store.apply(stream.records) == 0
    # The same messages again at later offsets: a producer's retry, a replay.
    again = Stream(_next={k: v + 100 for k, v in stream._next.items()})
    for kind, partition, _, key, value, _ in stream.records:
        again.add(kind, value, partition=partition, key=key)
    assert store.apply(again.records) == 0

    after = dump(store.path)
    assert {t: rows for t, rows in after.items() if t not in ("offsets", "counters")} == {
        t: rows for t, rows in once.items() if t not in ("offsets", "counters")}
    assert store.stats()["read"] == 2 * len(stream.records)


def test_rows_and_offsets_are_written_together_or_not_at_all(store: Store) -> None:
    s = Stream()
    s.add("articles", article("a1"))
    good = s.records[0]
    with pytest.raises(ValueError, match="unknown kind"):
        store.apply([good, ("nonsense", 0, 0, None, b"{}", 0)])
    assert store.offsets() == {}
    assert store.stats()["articles"] == 0

    store.apply([good])
    assert store.offsets() == {("articles", 0): 1}
    assert store.stats()["articles"] == 1


def test_a_file_of_another_schema_is_emptied_and_read_again_from_the_start(
        tmp_path: Path) -> None:
    path = tmp_path / "console.db"
    Store(path).apply(everything().records)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()

    store = Store(path)
    assert store.offsets() == {}
    assert store.stats()["stories"] == 0
    store.apply(everything().records)
    assert store.stats()["stories"] == 2


def test_unreadable_messages_are_skipped_and_counted_and_their_offsets_advance(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    s = Stream()
    s.add("articles", b"{not json")
    s.add("matches", b'{"schema": 2}')
    s.add("stories", None)
    s.add("alerts", b"[]")
    s.add("feedback", b'{"schema": 1, "item": "story"}', key=b"k")
    s.add("articles", article("a1"))

    assert store.apply(s.records) == 1
    assert store.stats()["skipped"] == 5
    assert store.offsets() == {("articles", 0): 2, ("matches", 0): 1, ("stories", 0): 1,
                               ("alerts", 0): 1, ("feedback", 0): 1}
    assert "unreadable articles message skipped at partition 0 offset 0: not JSON" in caplog.text


def test_an_older_story_version_read_later_never_replaces_a_newer_one(store: Store) -> None:
    a1, a2, a3 = (article(f"a{n}", at=NOW + timedelta(minutes=n)) for n in (1, 2, 3))
    s = Stream()
    s.add("stories", story_event("harbour-strike", [a1, a2, a3]))
    s.add("stories", story_event("harbour-strike", [a1]))
    s.add("stories", story_event("harbour-strike", [a1, a2]))
    store.apply(s.records)

    detail = store.story(make_story_id("harbour-strike", "a1"), now=NOW)
    assert detail is not None
    assert [a.article_id for a in detail.articles] == ["a1", "a2", "a3"]
    assert detail.story.articles == 3
    assert detail.story.last_updated == a3.fetched_at
    assert store.story_ids_of_article("a3") == [make_story_id("harbour-strike", "a1")]


def test_stores_fed_the_topics_in_other_orders_hold_the_same(tmp_path: Path) -> None:
    # Each partition is read in order, but the topics interleave as Kafka hands them over:
    # feedback and alerts may come before the stories they name.
    records = everything().records
    forward = Store(tmp_path / "forward.db")
    forward.apply(records)
    backward = Store(tmp_path / "backward.db")
    for kind in ("feedback", "alerts", "stories", "matches", "articles"):
        for record in records:
            if record[0] == kind:
                backward.apply([record])
    assert dump(forward.path) == dump(backward.path)


def test_local_feedback_and_its_copy_from_kafka_apply_once(store: Store) -> None:
    store.apply(everything().records)
    vote = feedback("story", HARBOUR, "harbour-strike", "ana", "vote", "up",
                    at=NOW + timedelta(hours=1), articles=["a1", "a2"])
    store.apply_feedback(vote)
    before = dump(store.path)
    row = store.stories(StoryFilter(), analyst="ana", now=NOW)[1]
    assert (row.story_id, row.votes_up, row.votes_down, row.my_vote) == (HARBOUR, 1, 1, "up")

    s = Stream(_next={("feedback", 0): 3})
    s.add("feedback", vote)
    assert store.apply(s.records) == 0
    assert {k: v for k, v in dump(store.path).items() if k not in ("offsets", "counters")} == {
        k: v for k, v in before.items() if k not in ("offsets", "counters")}


def test_an_analysts_latest_word_wins_and_a_tombstone_withdraws_it(store: Store) -> None:
    store.apply(everything().records)
    later = feedback("story", HARBOUR, "harbour-strike", "kim", "vote", "up",
                     at=NOW + timedelta(hours=1), articles=["a1", "a2"])
    store.apply_feedback(later)
    # kim's earlier 👎 read (again) from Kafka afterwards: the 👍 stands.
    s = Stream(_next={("feedback", 0): 10})
    s.add("feedback", feedback("story", HARBOUR, "harbour-strike", "kim", "vote", "down",
                               articles=["a1", "a2"]))
    store.apply(s.records)
    row = next(r for r in store.stories(StoryFilter(), now=NOW) if r.story_id == HARBOUR)
    assert (row.votes_up, row.votes_down) == (1, 0)

    s.add("feedback", None, key=later.key())
    store.apply(s.records[1:])
    row = next(r for r in store.stories(StoryFilter(), now=NOW) if r.story_id == HARBOUR)
    assert (row.votes_up, row.votes_down) == (0, 0)


def test_feedback_and_pages_share_the_file_across_threads(tmp_path: Path) -> None:
    store = Store(tmp_path / "console.db")
    store.apply(everything().records)
    errors: list[BaseException] = []

    def vote(analyst: str) -> None:
        try:
            for n in range(50):
                store.apply_feedback(feedback("story", HARBOUR, "harbour-strike", analyst,
                                              "vote", "up" if n % 2 else "down",
                                              at=NOW + timedelta(seconds=n)))
                store.stories(StoryFilter(), analyst=analyst, now=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    def ingest() -> None:
        try:
            s = Stream()
            for n in range(200):
                s.add("articles", article(f"x{n}"), partition=5)
            for n in range(0, 200, 10):
                store.apply(s.records[n:n + 10])
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=vote, args=(f"analyst{n}",)) for n in range(3)]
    threads.append(threading.Thread(target=ingest))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    row = next(r for r in store.stories(StoryFilter(), now=NOW) if r.story_id == HARBOUR)
    assert (row.votes_up, row.votes_down) == (3, 1)  # the three analysts' last word is 👍
    assert store.stats()["articles"] == 203


# --- reads: the pages ---------------------------------------------------------------------------


def test_story_list_is_newest_first_with_what_an_analyst_decides_on(store: Store) -> None:
    store.apply(everything().records)
    rows = store.stories(StoryFilter(), analyst="kim", now=NOW)
    assert [r.story_id for r in rows] == [FLOOD, HARBOUR]
    harbour = rows[1]
    assert (harbour.topic_id, harbour.headline, harbour.articles, harbour.outlets) == (
        "harbour-strike", "Dock workers strike at the northern port", 2, 2)
    assert harbour.outlet_names == ("Example Wire", "Daily Planet")
    assert harbour.languages == ("en",)
    assert (harbour.alert_state, harbour.alerts_sent, harbour.alerts_dead) == ("failed", 1, 1)
    assert (harbour.votes_up, harbour.votes_down, harbour.my_vote) == (0, 1, "down")
    assert harbour.acknowledged_by is None
    flood = rows[0]
    assert (flood.acknowledged_by, flood.alert_state, flood.severity) == ("lee", "failed",
                                                                          "high")
    assert flood.my_vote is None


@pytest.mark.parametrize(("flt", "expected"), [
    (StoryFilter(topic_id="harbour-strike"), [HARBOUR]),
    (StoryFilter(topic_id="nobody"), []),
    (StoryFilter(severity="high"), [FLOOD]),
    (StoryFilter(severity="medium"), [FLOOD, HARBOUR]),
    (StoryFilter(severity="critical"), []),
    (StoryFilter(acknowledged=True), [FLOOD]),
    (StoryFilter(acknowledged=False), [HARBOUR]),
    (StoryFilter(vote="down"), [HARBOUR]),
    (StoryFilter(vote="up"), []),
    (StoryFilter(limit=1), [FLOOD]),
    (StoryFilter(before=NOW + timedelta(minutes=20)), [HARBOUR]),
])
def test_filters_narrow_the_list(store: Store, flt: StoryFilter, expected: list[str]) -> None:
    store.apply(everything().records)
    assert [r.story_id for r in store.stories(flt, now=NOW)] == expected


def test_a_snoozed_story_leaves_the_list_until_the_snooze_ends(store: Store) -> None:
    store.apply(everything().records)
    store.apply_feedback(feedback("story", HARBOUR, "harbour-strike", "kim", "snooze",
                                  until=NOW + timedelta(hours=2), at=NOW))
    assert [r.story_id for r in store.stories(StoryFilter(), now=NOW)] == [FLOOD]
    snoozed = store.stories(StoryFilter(include_snoozed=True), now=NOW)
    assert snoozed[1].snoozed_until == NOW + timedelta(hours=2)
    later = NOW + timedelta(hours=3)
    assert [r.story_id for r in store.stories(StoryFilter(), now=later)] == [FLOOD, HARBOUR]
    # Another analyst withdraws the snooze later on: it is over for everyone.
    store.apply_feedback(feedback("story", HARBOUR, "harbour-strike", "lee", "snooze",
                                  at=NOW + timedelta(minutes=1)))
    assert len(store.stories(StoryFilter(), now=NOW)) == 2


def test_the_latest_acknowledgement_of_any_analyst_decides(store: Store) -> None:
    store.apply(everything().records)
    store.apply_feedback(feedback("story", FLOOD, "flood-warning", "kim", "ack", "no",
                                  at=NOW + timedelta(minutes=5)))
    assert [r.story_id for r in store.stories(StoryFilter(acknowledged=False), now=NOW)] == [
        FLOOD, HARBOUR]
    store.apply_feedback(feedback("story", FLOOD, "flood-warning", "ana", "ack", "yes",
                                  at=NOW + timedelta(minutes=6)))
    flood = store.stories(StoryFilter(acknowledged=True), now=NOW)
    assert [(r.story_id, r.acknowledged_by) for r in flood] == [(FLOOD, "ana")]


def test_pages_of_a_long_list_meet_without_gaps(store: Store) -> None:
    # Three stories updated in each minute: pages of 50 end among stories of one minute.
    s = Stream()
    for n in range(120):
        s.add("stories", story_event("harbour-strike", [
            article(f"p{n}", at=NOW + timedelta(minutes=n // 3))]))
    store.apply(s.records)
    seen: list[str] = []
    before, before_id = None, None
    while page := store.stories(StoryFilter(limit=50, before=before, before_id=before_id),
                                now=NOW):
        seen += [r.story_id for r in page]
        before, before_id = page[-1].last_updated, page[-1].story_id
    every = [make_story_id("harbour-strike", f"p{n}") for n in range(120)]
    assert sorted(seen) == sorted(every) and len(seen) == len(every)


def test_story_page_has_every_article_with_evidence_alerts_and_feedback(store: Store) -> None:
    store.apply(everything().records)
    detail = store.story(HARBOUR, analyst="lee", now=NOW)
    assert detail is not None
    a1, a2 = detail.articles
    assert a1.text == "The full text of a1. Dock workers went on strike."
    assert a1.evidence[0]["matched"] == "strike"
    assert a1.sentences[0]["text"] == a1.text
    assert (a2.outlet, a2.votes_up, a2.votes_down, a2.my_vote) == ("Daily Planet", 1, 0, "up")
    assert [(x.subscriber_id, x.outcome) for x in detail.alerts] == [("desk", "sent"),
                                                                     ("desk", "dead")]
    assert [(f.item, f.analyst, f.kind, f.value) for f in detail.feedback] == [
        ("story", "kim", "vote", "down"), ("article", "lee", "vote", "up")]
    assert store.story("no-such-story") is None


def test_an_article_known_only_from_its_story_is_shown_from_the_story(store: Store) -> None:
    a1 = article("gone")
    s = Stream()
    s.add("stories", story_event("harbour-strike", [a1]))
    store.apply(s.records)
    detail = store.story(make_story_id("harbour-strike", "gone"), now=NOW)
    assert detail is not None
    (only,) = detail.articles
    assert (only.title, only.text, only.fetched_at) == (a1.title, "", a1.fetched_at)
    assert only.evidence[0]["matched"] == "strike"  # the story event's own evidence
    view = store.article("gone")
    assert view is not None and view.title == a1.title
    assert store.article("never") is None


def test_topics_count_stories_and_those_still_to_acknowledge(store: Store) -> None:
    store.apply(everything().records)
    summary = {t.topic_id: t for t in store.topics()}
    assert sorted(summary) == ["flood-warning", "harbour-strike"]
    assert (summary["harbour-strike"].stories, summary["harbour-strike"].unacknowledged) == (1, 1)
    assert (summary["flood-warning"].stories, summary["flood-warning"].unacknowledged,
            summary["flood-warning"].severity) == (1, 0, "high")


# --- reads: the rule editor ---------------------------------------------------------------------


def test_window_reads_once_then_only_what_is_new_and_prune_keeps_the_window(
        store: Store) -> None:
    s = Stream()
    old = NOW - timedelta(days=9)
    s.add("articles", article("old", at=old), at=old)
    s.add("articles", article("new1"))
    store.apply(s.records)
    first, seq = store.window_since(0)
    assert [a.article_id for a in first] == ["old", "new1"]
    assert store.window_since(seq) == ([], seq)

    s.add("articles", article("new2"))
    s.add("matches", match(article("old", at=old), "harbour-strike"), at=old)
    store.apply(s.records[2:])
    more, seq2 = store.window_since(seq)
    assert [a.article_id for a in more] == ["new2"]
    assert more[0].text.startswith("The full text of new2")

    assert [a.article_id for a in store.window_articles(NOW - timedelta(days=1))] == [
        "new1", "new2"]
    assert store.prune(NOW) == 2  # the old article and its match
    assert [a.article_id for a in store.window_articles()] == ["new1", "new2"]
    assert store.matched("harbour-strike") == set()
    assert store.window_since(seq2) == ([], seq2)


def test_window_articles_reads_in_chunks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.console.store.WINDOW_CHUNK", 7)
    s = Stream()
    for n in range(30):
        s.add("articles", article(f"w{n}"))
    store.apply(s.records)
    assert [a.article_id for a in store.window_articles()] == [f"w{n}" for n in range(30)]


def test_labels_are_the_votes_as_backtest_reads_them(store: Store) -> None:
    stream = everything()
    store.apply(stream.records)
    votes = [Feedback.from_json(r[4]) for r in stream.records
             if r[0] == "feedback" and r[4] is not None]
    assert store.labels() == labels(votes) == {
        "a1": {"harbour-strike": False}, "a2": {"harbour-strike": True}}
    assert store.matched("harbour-strike") == {"a1", "a2"}
    assert store.matched("flood-warning") == {"a3"}

    store.labels()["a1"]["harbour-strike"] = True  # a copy: the store's labels stay
    store.apply_feedback(feedback("article", "a1", "harbour-strike", "lee", "vote", "up",
                                  at=NOW + timedelta(hours=1)))
    assert store.labels()["a1"] == {"harbour-strike": True}
    s = Stream(_next={("feedback", 0): 3})
    s.add("feedback", feedback("article", "a1", "harbour-strike", "lee", "vote", "down",
                               at=NOW + timedelta(hours=2)))
    store.apply(s.records)
    assert store.labels()["a1"] == {"harbour-strike": False}


def test_stats_count_rows_read_and_skipped(store: Store) -> None:
    stream = everything()
    stream.add("articles", b"junk")
    store.apply(stream.records)
    assert store.stats() == {"articles": 3, "matches": 3, "stories": 2, "alerts": 2,
                             "feedback": 3, "read": len(stream.records), "skipped": 1}
