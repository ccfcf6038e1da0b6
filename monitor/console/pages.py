"""The store's reads for the pages: SQL over one snapshot, rows of :mod:`monitor.console.model`.

In: a sqlite3 connection inside a read transaction (:class:`monitor.console.store.Store` opens
it), filters, the analyst asking and the time. Out: frozen rows for the templates. Reads only;
the schema, and what each table keeps, are in :mod:`monitor.console.store`.

- A story's articles come from the story itself (each :class:`~monitor.article.StoryArticle`,
  in its order), completed with the stored article (full text) and the stored match of the
  story's watch topic (evidence, sentences), each when present; a story event's own evidence
  stands in for a match no longer stored.
- The list is newest first by ``last_updated``, then story id, and a page goes on after the
  last row of the one before (``before``, ``before_id``): stories updated in the same
  microsecond are neither skipped nor shown twice where a page ends among them.
- A snooze shows only while it lasts (``snoozed_until`` after ``now``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson

from monitor.article import Article, MessageError, Story, StoryArticle, severity_rank
from monitor.console.model import (
    AlertState,
    AlertView,
    ArticleView,
    FeedbackView,
    StoryDetail,
    StoryFilter,
    StoryRow,
    TopicSummary,
    Vote,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Most stories one list returns, whatever the URL asks.
MAX_LIMIT = 500


def to_us(value: datetime) -> int:
    """Microseconds since the epoch: how the file holds a time (exact, and ordered)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _maybe(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def _marks(count: int) -> str:
    return ",".join("?" * count)


_ROW = """SELECT s.story_id, s.topic_id, s.topic_title, s.headline, s.severity, s.first_seen,
    s.last_updated, s.articles, s.outlets, s.sources, s.languages, s.outlet_names,
    st.acknowledged_by, st.snoozed_until, coalesce(st.votes_up, 0), coalesce(st.votes_down, 0),
    coalesce(st.alerts_sent, 0), coalesce(st.alerts_dead, 0)
    FROM stories s LEFT JOIN story_state st ON st.story_id = s.story_id"""


def topics(conn: sqlite3.Connection) -> list[TopicSummary]:
    acknowledged = dict(conn.execute(
        "SELECT s.topic_id, count(*) FROM story_state st JOIN stories s USING (story_id) "
        "WHERE st.acknowledged_by IS NOT NULL GROUP BY s.topic_id"))
    out = []
    for topic_id, count, last in conn.execute(
            "SELECT topic_id, count(*), max(last_updated) FROM stories GROUP BY topic_id "
            "ORDER BY topic_id").fetchall():
        # The watch topic as its latest story names it.
        title, severity = conn.execute(
            "SELECT topic_title, severity FROM stories WHERE topic_id = ? "
            "ORDER BY last_updated DESC, story_id DESC LIMIT 1", (topic_id,)).fetchone()
        out.append(TopicSummary(topic_id=topic_id, title=title, severity=severity,
                                stories=count,
                                unacknowledged=count - acknowledged.get(topic_id, 0),
                                last_updated=from_us(last)))
    return out


def stories(conn: sqlite3.Connection, flt: StoryFilter, *, analyst: str | None,
            now: datetime) -> list[StoryRow]:
    where: list[str] = []
    params: list[Any] = []
    if flt.topic_id is not None:
        where.append("s.topic_id = ?")
        params.append(flt.topic_id)
    if flt.severity is not None:
        where.append("s.severity_rank >= ?")
        params.append(severity_rank(flt.severity))
    if flt.acknowledged is not None:
        where.append(f"st.acknowledged_by IS {'NOT ' if flt.acknowledged else ''}NULL")
    if flt.vote is not None:
        where.append(f"st.votes_{'up' if flt.vote == 'up' else 'down'} > 0")
    if not flt.include_snoozed:
        where.append("(st.snoozed_until IS NULL OR st.snoozed_until <= ?)")
        params.append(to_us(now))
    if flt.before is not None and flt.before_id is not None:
        where.append("(s.last_updated < ? OR (s.last_updated = ? AND s.story_id < ?))")
        params += [to_us(flt.before), to_us(flt.before), flt.before_id]
    elif flt.before is not None:
        where.append("s.last_updated < ?")
        params.append(to_us(flt.before))
    sql = (_ROW + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY s.last_updated DESC, s.story_id DESC LIMIT ?")
    params.append(max(0, min(flt.limit, MAX_LIMIT)))
    rows = conn.execute(sql, params).fetchall()
    mine = _my_votes(conn, "story", [r[0] for r in rows], analyst)
    return [_story_row(r, mine.get(r[0]), now) for r in rows]


def story(conn: sqlite3.Connection, story_id: str, *, analyst: str | None,
          now: datetime) -> StoryDetail | None:
    found = conn.execute(_ROW + " WHERE s.story_id = ?", (story_id,)).fetchone()
    if found is None:
        return None
    (text,) = conn.execute("SELECT story FROM story_bodies WHERE story_id = ?",
                           (story_id,)).fetchone()
    kept = Story.from_json(text)
    ids = [a.article_id for a in kept.articles]
    stored = _articles(conn, ids)
    matches = {aid: (evidence, sentences, article) for aid, evidence, sentences, article
               in conn.execute(f"SELECT article_id, evidence, sentences, article FROM matches "
                               f"WHERE topic_id = ? AND article_id IN ({_marks(len(ids))})",
                               (kept.topic_id, *ids))}
    events = {aid: (evidence, sentences, fetched) for aid, evidence, sentences, fetched
              in conn.execute("SELECT article_id, evidence, sentences, fetched_at "
                              "FROM story_evidence WHERE story_id = ?", (story_id,))}
    votes = _article_votes(conn, kept.topic_id, ids)
    mine = _my_votes(conn, "article", ids, analyst, topic_id=kept.topic_id)
    views = tuple(_article_view(a.article_id, a, stored.get(a.article_id),
                                matches.get(a.article_id), events.get(a.article_id),
                                votes.get(a.article_id, (0, 0)), mine.get(a.article_id))
                  for a in kept.articles)
    alerts = tuple(
        AlertView(subscriber_id=sid, channel_id=cid, channel=channel, kind=kind,
                  outcome=outcome, reason=reason, finished_at=from_us(finished))
        for sid, cid, channel, kind, outcome, reason, finished in conn.execute(
            "SELECT a.subscriber_id, a.channel_id, a.channel, a.kind, a.outcome, a.reason, "
            "a.finished_at FROM alert_stories x JOIN alerts a ON a.delivery = x.delivery "
            "WHERE x.story_id = ? ORDER BY a.finished_at, a.delivery", (story_id,)))
    feedback = sorted(
        [*conn.execute("SELECT item, item_id, analyst, kind, value, until, at, key "
                       "FROM feedback WHERE item_id = ? AND item = 'story'", (story_id,)),
         *conn.execute(f"SELECT item, item_id, analyst, kind, value, until, at, key "
                       f"FROM feedback WHERE item_id IN ({_marks(len(ids))}) "
                       f"AND item = 'article' AND topic_id = ?", (*ids, kept.topic_id))],
        key=lambda r: (r[6], r[7]))
    mine_story = _my_votes(conn, "story", [story_id], analyst)
    return StoryDetail(
        story=_story_row(found, mine_story.get(story_id), now), articles=views, alerts=alerts,
        feedback=tuple(FeedbackView(item=item, item_id=iid, analyst=who, kind=kind,
                                    value=value, until=_maybe(until), at=from_us(at))
                       for item, iid, who, kind, value, until, at, _ in feedback))


def article(conn: sqlite3.Connection, article_id: str, *, topic_id: str | None,
            analyst: str | None) -> ArticleView | None:
    stored = _articles(conn, [article_id]).get(article_id)
    match = None
    if topic_id is not None:
        match = conn.execute("SELECT evidence, sentences, article FROM matches "
                             "WHERE topic_id = ? AND article_id = ?",
                             (topic_id, article_id)).fetchone()
    in_story = None
    event = None
    found = conn.execute(
        "SELECT s.story_id, b.story FROM story_articles a JOIN stories s USING (story_id) "
        "JOIN story_bodies b ON b.story_id = s.story_id "
        "WHERE a.article_id = ? AND (? IS NULL OR s.topic_id = ?) "
        "ORDER BY s.last_updated DESC, s.story_id DESC LIMIT 1",
        (article_id, topic_id, topic_id)).fetchone()
    if found is not None:
        in_story = next((a for a in Story.from_json(found[1]).articles
                         if a.article_id == article_id), None)
        if topic_id is not None:
            event = conn.execute("SELECT evidence, sentences, fetched_at FROM story_evidence "
                                 "WHERE story_id = ? AND article_id = ?",
                                 (found[0], article_id)).fetchone()
    if stored is None and match is None and in_story is None:
        return None
    votes: tuple[int, int] = (0, 0)
    mine: dict[str, Vote] = {}
    if topic_id is not None:
        votes = _article_votes(conn, topic_id, [article_id]).get(article_id, (0, 0))
        mine = _my_votes(conn, "article", [article_id], analyst, topic_id=topic_id)
    return _article_view(article_id, in_story, stored, match, event, votes,
                         mine.get(article_id))


# --- pieces -------------------------------------------------------------------------------------


def _story_row(r: Sequence[Any], my_vote: Vote | None, now: datetime) -> StoryRow:
    (story_id, topic_id, topic_title, headline, severity, first_seen, last_updated, articles,
     outlets, sources, languages, outlet_names, acknowledged_by, snoozed_until, up, down,
     sent, dead) = r
    until = _maybe(snoozed_until)
    state: AlertState = "failed" if dead else "sent" if sent else "none"
    return StoryRow(
        story_id=story_id, topic_id=topic_id, topic_title=topic_title, headline=headline,
        severity=severity, first_seen=from_us(first_seen), last_updated=from_us(last_updated),
        articles=articles, outlets=outlets, sources=sources,
        languages=tuple(orjson.loads(languages)), outlet_names=tuple(orjson.loads(outlet_names)),
        alert_state=state, alerts_sent=sent, alerts_dead=dead, acknowledged_by=acknowledged_by,
        snoozed_until=until if until is not None and until > now else None,
        votes_up=up, votes_down=down, my_vote=my_vote)


def _articles(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    return {r[0]: r for r in conn.execute(
        f"SELECT article_id, title, url, outlet, language, published_at, fetched_at, summary, "
        f"text FROM articles WHERE article_id IN ({_marks(len(ids))})", tuple(ids))}


def _article_votes(conn: sqlite3.Connection, topic_id: str,
                   ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for aid, up, down in conn.execute(
            f"SELECT item_id, sum(value = 'up'), sum(value = 'down') FROM feedback "
            f"WHERE item_id IN ({_marks(len(ids))}) AND item = 'article' AND kind = 'vote' "
            f"AND topic_id = ? GROUP BY item_id", (*ids, topic_id)):
        out[aid] = (up, down)
    return out


def _my_votes(conn: sqlite3.Connection, item: str, ids: Sequence[str], analyst: str | None,
              *, topic_id: str | None = None) -> dict[str, Vote]:
    if analyst is None or not ids:
        return {}
    sql = (f"SELECT item_id, value FROM feedback WHERE item_id IN ({_marks(len(ids))}) "
           f"AND item = ? AND kind = 'vote' AND analyst = ?")
    params: list[Any] = [*ids, item, analyst]
    if topic_id is not None:
        sql += " AND topic_id = ?"
        params.append(topic_id)
    return {iid: cast(Vote, value) for iid, value in conn.execute(sql, params)
            if value in ("up", "down")}


def _article_view(article_id: str, in_story: StoryArticle | None,
                  stored: tuple[Any, ...] | None, match: Sequence[Any] | None,
                  event: Sequence[Any] | None, votes: tuple[int, int],
                  my_vote: Vote | None) -> ArticleView:
    """One article from what is known of it, best first: stored, in a match, in the story."""
    evidence: Iterable[Any] = ()
    sentences: Iterable[Any] = ()
    fetched: datetime | None = None
    if event is not None:
        evidence, sentences = orjson.loads(event[0]), orjson.loads(event[1])
        fetched = _maybe(event[2])
    copy: Article | None = None
    if match is not None:
        evidence, sentences = orjson.loads(match[0]), orjson.loads(match[1])
        try:
            copy = Article.from_json(match[2])
        except MessageError:
            copy = None
    source = in_story.source if in_story is not None else article_id
    if stored is not None:
        _, title, url, outlet, language, published, fetched_us, summary, text = stored
        return ArticleView(
            article_id=article_id, title=title, url=url, outlet=outlet, language=language,
            published_at=_maybe(published), fetched_at=from_us(fetched_us), summary=summary,
            text=text, source=source, evidence=tuple(evidence), sentences=tuple(sentences),
            votes_up=votes[0], votes_down=votes[1], my_vote=my_vote)
    if copy is not None:
        return ArticleView(
            article_id=article_id, title=copy.title, url=copy.url,
            outlet=copy.outlet or copy.feed_id, language=copy.language,
            published_at=copy.published_at, fetched_at=copy.fetched_at, summary=copy.summary,
            text=copy.text, source=source, evidence=tuple(evidence),
            sentences=tuple(sentences), votes_up=votes[0], votes_down=votes[1],
            my_vote=my_vote)
    assert in_story is not None
    return ArticleView(
        article_id=article_id, title=in_story.title, url=in_story.url, outlet=in_story.outlet,
        language=in_story.language, published_at=in_story.published, fetched_at=fetched,
        summary="", text="", source=source, evidence=tuple(evidence),
        sentences=tuple(sentences), votes_up=votes[0], votes_down=votes[1], my_vote=my_vote)
