"""How one Kafka record changes the console store's tables, whatever order records come in.

In: an open write transaction of :class:`monitor.console.store.Store`, a record's kind, key,
value and timestamp. Out: rows inserted, replaced or deleted, and the stories whose state must
be derived again. Decoding is the contracts' (:mod:`monitor.article`, :mod:`monitor.feedback`):
a message they refuse raises :class:`~monitor.article.MessageError` here, untouched.

Rules, so that any order of arrival (the topics interleave; a message may come twice) leaves
the same rows:

1. a story: its latest version, by (``updates``, ``last_updated``, number of articles); an
   older version read later never replaces a newer one;
2. an article, a match (per watch topic and article), the evidence of a story event (per story
   and article): the first message; the tag stage drops repeated article ids the same way;
3. an alert: one row per delivery; a later ``finished_at`` replaces;
4. feedback: one row per key (item, watch topic, analyst, kind); a later ``at`` replaces and so
   does an equal one with other content (the later offset, as compaction keeps); a tombstone
   deletes;
5. a story's state (acknowledged, snoozed, votes, alerts), derived from 3 and 4 whenever one
   of them changes: the latest ``ack`` of any analyst decides (``yes``: acknowledged by that
   analyst), likewise the latest ``snooze``; votes count each analyst's standing vote on the
   story itself.

Times are stored as microseconds since the epoch (:func:`monitor.console.pages.to_us`).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from monitor.article import AlertRecord, Article, Match, MessageError, StoryEvent, severity_rank
from monitor.console.pages import to_us
from monitor.feedback import Feedback


def _received(timestamp_ms: int, fallback: datetime) -> int:
    """When Kafka took the record (its timestamp), in microseconds; else ``fallback``."""
    return timestamp_ms * 1000 if timestamp_ms >= 0 else to_us(fallback)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _needed(value: bytes | None) -> bytes:
    if value is None:
        raise MessageError("empty message (no value)")
    return value


def _apply_article(conn: sqlite3.Connection, key: bytes | None, value: bytes | None,
                   timestamp_ms: int, touched: set[str]) -> int:
    a = Article.from_json(_needed(value))
    return conn.execute(
        "INSERT OR IGNORE INTO articles (article_id, received, fetched_at, published_at, "
        "feed_id, outlet, title, url, language, summary, text) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (a.article_id, _received(timestamp_ms, a.fetched_at), to_us(a.fetched_at),
         to_us(a.published_at) if a.published_at else None, a.feed_id,
         a.outlet or a.feed_id, a.title, a.url, a.language, a.summary, a.text)).rowcount


def _apply_match(conn: sqlite3.Connection, key: bytes | None, value: bytes | None,
                 timestamp_ms: int, touched: set[str]) -> int:
    m = Match.from_json(_needed(value))
    return conn.execute(
        "INSERT OR IGNORE INTO matches (topic_id, article_id, received, matched_at, score, "
        "evidence, sentences, article) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (m.topic_id, m.article.article_id, _received(timestamp_ms, m.matched_at),
         to_us(m.matched_at), m.score, _json(m.evidence), _json(m.sentences),
         m.article.to_json().decode())).rowcount


def _apply_story(conn: sqlite3.Connection, key: bytes | None, value: bytes | None,
                 timestamp_ms: int, touched: set[str]) -> int:
    event = StoryEvent.from_json(_needed(value))
    s = event.story
    languages = sorted({a.language for a in s.articles if a.language} | set(s.languages))
    outlets = list(dict.fromkeys(a.outlet for a in s.articles if a.outlet))
    changed = conn.execute(
        "INSERT INTO stories (story_id, topic_id, topic_title, headline, severity, "
        "severity_rank, first_seen, last_updated, updates, articles, outlets, sources, "
        "languages, outlet_names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (story_id) DO UPDATE SET topic_id = excluded.topic_id, "
        "topic_title = excluded.topic_title, headline = excluded.headline, "
        "severity = excluded.severity, severity_rank = excluded.severity_rank, "
        "first_seen = excluded.first_seen, last_updated = excluded.last_updated, "
        "updates = excluded.updates, articles = excluded.articles, "
        "outlets = excluded.outlets, sources = excluded.sources, "
        "languages = excluded.languages, outlet_names = excluded.outlet_names "
        "WHERE (excluded.updates, excluded.last_updated, excluded.articles) "
        "> (stories.updates, stories.last_updated, stories.articles)",
        (s.story_id, s.topic_id, s.topic_title, s.headline, s.severity,
         severity_rank(s.severity), to_us(s.first_seen), to_us(s.last_updated), s.updates,
         len(s.articles), s.outlets, s.sources, _json(languages), _json(outlets))).rowcount
    if changed:
        # The whole story apart: list pages then scan narrow rows only.
        conn.execute("INSERT OR REPLACE INTO story_bodies (story_id, story) VALUES (?, ?)",
                     (s.story_id, s.to_json().decode()))
        ids = [a.article_id for a in s.articles]
        conn.executemany("INSERT OR IGNORE INTO story_articles (article_id, story_id) "
                         "VALUES (?, ?)", [(aid, s.story_id) for aid in ids])
        conn.execute("DELETE FROM story_articles WHERE story_id = ? AND article_id NOT IN "
                     f"({','.join('?' * len(ids))})", (s.story_id, *ids))
    changed += conn.execute(
        "INSERT OR IGNORE INTO story_evidence (story_id, article_id, evidence, sentences, "
        "fetched_at, matched_at) VALUES (?, ?, ?, ?, ?, ?)",
        (s.story_id, event.article.article_id, _json(event.evidence), _json(event.sentences),
         to_us(event.fetched_at) if event.fetched_at else None,
         to_us(event.matched_at) if event.matched_at else None)).rowcount
    return int(changed)


def _apply_alert(conn: sqlite3.Connection, key: bytes | None, value: bytes | None,
                 timestamp_ms: int, touched: set[str]) -> int:
    r = AlertRecord.from_json(_needed(value))
    changed = conn.execute(
        "INSERT INTO alerts (delivery, subscriber_id, channel_id, channel, kind, outcome, "
        "reason, finished_at, stories) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (delivery) DO UPDATE SET subscriber_id = excluded.subscriber_id, "
        "channel_id = excluded.channel_id, channel = excluded.channel, kind = excluded.kind, "
        "outcome = excluded.outcome, reason = excluded.reason, "
        "finished_at = excluded.finished_at, stories = excluded.stories "
        "WHERE (excluded.finished_at, excluded.outcome) > (alerts.finished_at, alerts.outcome)",
        (r.delivery, r.subscriber_id, r.channel_id, r.channel, r.kind, r.outcome, r.reason,
         to_us(r.finished_at), _json(r.stories))).rowcount
    if changed:
        conn.executemany("INSERT OR IGNORE INTO alert_stories (story_id, delivery) "
                         "VALUES (?, ?)", [(sid, r.delivery) for sid in r.stories])
        touched.update(r.stories)
    return int(changed)


def _apply_feedback_record(conn: sqlite3.Connection, key: bytes | None, value: bytes | None,
                           timestamp_ms: int, touched: set[str]) -> int:
    if value is None:
        # A tombstone: compaction will forget the key, so a rebuilt store would not have it.
        if key is None:
            raise MessageError("empty message without a key")
        text = key.decode("utf-8", "replace")
        parts = text.split("\x1f")
        gone = conn.execute("DELETE FROM feedback WHERE key = ?", (text,)).rowcount
        if gone and len(parts) == 5 and parts[0] == "story":
            touched.add(parts[1])
        return int(gone)
    return apply_feedback(conn, Feedback.from_json(value), touched)


def apply_feedback(conn: sqlite3.Connection, fb: Feedback, touched: set[str]) -> int:
    """Upsert one piece of feedback (rule 4); add the story it is about to ``touched``."""
    changed = conn.execute(
        "INSERT INTO feedback (key, item, item_id, topic_id, analyst, kind, value, until, at, "
        "message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, until = excluded.until, "
        "at = excluded.at, message = excluded.message "
        "WHERE excluded.at > feedback.at "
        "OR (excluded.at = feedback.at AND excluded.message IS NOT feedback.message)",
        (fb.key().decode(), fb.item, fb.item_id, fb.topic_id, fb.analyst, fb.kind, fb.value,
         to_us(fb.until) if fb.until else None, to_us(fb.at), fb.to_json().decode())).rowcount
    if changed and fb.item == "story":
        touched.add(fb.item_id)
    return int(changed)


_APPLY = {"articles": _apply_article, "matches": _apply_match, "stories": _apply_story,
          "alerts": _apply_alert, "feedback": _apply_feedback_record}
KINDS = tuple(_APPLY)


def apply_record(conn: sqlite3.Connection, kind: str, key: bytes | None, value: bytes | None,
                 timestamp_ms: int, touched: set[str]) -> int:
    """Apply one record of ``kind``; return rows changed. Stories whose state may have changed
    are added to ``touched``. Raise :class:`MessageError` for a message that cannot be read."""
    return _APPLY[kind](conn, key, value, timestamp_ms, touched)


def refresh_states(conn: sqlite3.Connection, story_ids: set[str]) -> None:
    """Derive each story's state again from its feedback and alerts (rule 5)."""
    for story_id in sorted(story_ids):
        latest: dict[str, tuple[str, str | None, int | None]] = {}
        up = down = 0
        for analyst, kind, value, until in conn.execute(
                "SELECT analyst, kind, value, until FROM feedback "
                "WHERE item_id = ? AND item = 'story' ORDER BY at, analyst", (story_id,)):
            if kind == "vote":
                up += value == "up"
                down += value == "down"
            else:
                latest[kind] = (analyst, value, until)
        sent, dead = conn.execute(
            "SELECT coalesce(sum(outcome = 'sent'), 0), coalesce(sum(outcome = 'dead'), 0) "
            "FROM alert_stories JOIN alerts USING (delivery) WHERE story_id = ?",
            (story_id,)).fetchone()
        ack = latest.get("ack")
        acknowledged_by = ack[0] if ack is not None and ack[1] == "yes" else None
        snooze = latest.get("snooze")
        snoozed_until = snooze[2] if snooze is not None else None
        if acknowledged_by is None and snoozed_until is None and not (up or down or sent
                                                                      or dead):
            conn.execute("DELETE FROM story_state WHERE story_id = ?", (story_id,))
            continue
        conn.execute(
            "INSERT OR REPLACE INTO story_state (story_id, acknowledged_by, snoozed_until, "
            "votes_up, votes_down, alerts_sent, alerts_dead) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (story_id, acknowledged_by, snoozed_until, up, down, sent, dead))
