"""The console's store: what Kafka said, in one SQLite file, with the offsets it was read up to.

In: batches of raw Kafka records ``(kind, partition, offset, key, value, timestamp_ms)`` from
the ingest (``kind``: ``articles``, ``matches``, ``stories``, ``alerts`` or ``feedback``), and
an analyst's :class:`~monitor.feedback.Feedback` applied the moment the console produced it.
Out: the rows of :mod:`monitor.console.model` for the pages and the rule editor.

- Rows and the offsets they were read up to are written in one transaction: a ``kill -9`` at
  any moment loses nothing and applies nothing twice. The file is disposable: delete it, and
  a replay from Kafka builds the same content again.
- Applying is idempotent: a record below the offset already read is passed over, and the same
  message again (a duplicate on Kafka, feedback that comes back from Kafka after it was applied
  here) changes nothing.
- A record that cannot be decoded is skipped, counted (``stats()["skipped"]``) and logged; its
  offset advances all the same. Applying never raises on bad input.
- One SQLite connection per thread, in WAL mode (pages read while the ingest writes); writes
  take the lock at once (``BEGIN IMMEDIATE``), so that the ingest and a page applying feedback
  queue for it (``busy_timeout``) instead of failing half-way.

How records that arrive in any order are kept, and how a story's state (acknowledged, snoozed,
votes, alerts) follows from feedback and alerts: :mod:`monitor.console.records`. The reads for
the pages are in :mod:`monitor.console.pages`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.article import MessageError
from monitor.console import pages, records
from monitor.console.model import (
    ArticleView,
    StoryDetail,
    StoryFilter,
    StoryRow,
    TopicSummary,
    WindowArticle,
)
from monitor.console.pages import from_us, to_us
from monitor.feedback import Feedback, labels

log = logging.getLogger(__name__)

KINDS = records.KINDS
#: Version of the tables below; a file made by another version is emptied and rebuilt.
SCHEMA_VERSION = 1
#: How long a writer waits for another's transaction before it fails.
BUSY_TIMEOUT_S = 30.0
#: Articles read from the file at a time by :meth:`Store.window_articles`.
WINDOW_CHUNK = 1_000

Record = tuple[str, int, int, bytes | None, bytes | None, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS offsets (
    kind TEXT NOT NULL, partition INTEGER NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (kind, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS articles (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL UNIQUE,
    received INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    published_at INTEGER,
    feed_id TEXT NOT NULL, outlet TEXT NOT NULL, title TEXT NOT NULL, url TEXT,
    language TEXT, summary TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS articles_received ON articles (received);
CREATE TABLE IF NOT EXISTS matches (
    topic_id TEXT NOT NULL, article_id TEXT NOT NULL,
    received INTEGER NOT NULL, matched_at INTEGER NOT NULL,
    score REAL NOT NULL, evidence TEXT NOT NULL, sentences TEXT NOT NULL,
    article TEXT NOT NULL,
    UNIQUE (topic_id, article_id));
CREATE INDEX IF NOT EXISTS matches_received ON matches (received);
CREATE TABLE IF NOT EXISTS stories (
    story_id TEXT PRIMARY KEY,
    topic_id TEXT NOT NULL, topic_title TEXT NOT NULL, headline TEXT NOT NULL,
    severity TEXT NOT NULL, severity_rank INTEGER NOT NULL,
    first_seen INTEGER NOT NULL, last_updated INTEGER NOT NULL, updates INTEGER NOT NULL,
    articles INTEGER NOT NULL, outlets INTEGER NOT NULL, sources INTEGER NOT NULL,
    languages TEXT NOT NULL, outlet_names TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS story_bodies (
    story_id TEXT PRIMARY KEY, story TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS stories_updated ON stories (last_updated, story_id);
CREATE INDEX IF NOT EXISTS stories_topic_updated ON stories (topic_id, last_updated, story_id);
CREATE TABLE IF NOT EXISTS story_articles (
    article_id TEXT NOT NULL, story_id TEXT NOT NULL,
    PRIMARY KEY (article_id, story_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_articles_story ON story_articles (story_id);
CREATE TABLE IF NOT EXISTS story_evidence (
    story_id TEXT NOT NULL, article_id TEXT NOT NULL,
    evidence TEXT NOT NULL, sentences TEXT NOT NULL,
    fetched_at INTEGER, matched_at INTEGER,
    PRIMARY KEY (story_id, article_id));
CREATE TABLE IF NOT EXISTS alerts (
    delivery TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL, channel_id TEXT NOT NULL, channel TEXT NOT NULL,
    kind TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
    finished_at INTEGER NOT NULL, stories TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_stories (
    story_id TEXT NOT NULL, delivery TEXT NOT NULL,
    PRIMARY KEY (story_id, delivery)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback (
    key TEXT PRIMARY KEY,
    item TEXT NOT NULL, item_id TEXT NOT NULL, topic_id TEXT NOT NULL,
    analyst TEXT NOT NULL, kind TEXT NOT NULL, value TEXT, until INTEGER,
    at INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_item ON feedback (item_id, item, kind);
CREATE TABLE IF NOT EXISTS story_state (
    story_id TEXT PRIMARY KEY,
    acknowledged_by TEXT, snoozed_until INTEGER,
    votes_up INTEGER NOT NULL, votes_down INTEGER NOT NULL,
    alerts_sent INTEGER NOT NULL, alerts_dead INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS story_state_ack ON story_state (acknowledged_by);
"""


class Store:
    """The console's SQLite store; see the module docstring for what it keeps and how.

    ::

        store = Store("console.db", window=timedelta(days=7))
        store.apply([("articles", 0, 41, b"id", article.to_json(), 1718000000000)])
        store.stories(StoryFilter(topic_id="nk-russia-arms"), analyst="kim")
    """

    def __init__(self, path: str | Path, *, window: timedelta = timedelta(days=7)) -> None:
        self.path = Path(path)
        self.window = window
        self._local = threading.local()
        self._lock = threading.Lock()
        self._labels: tuple[int, dict[str, dict[str, bool]]] = (-1, {})
        self._feedback_version = 0
        self._create()

    def _create(self) -> None:
        """Make the tables; a file of another schema version is emptied first (and so rebuilt
        by replay, as a deleted one would be)."""
        with self._writing() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version == SCHEMA_VERSION:
                return
            old = [name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'")]
            if old:
                log.warning("console store %s has schema %d, this version reads %d: emptied, "
                            "to be rebuilt from Kafka", self.path, version, SCHEMA_VERSION)
            for name in old:
                conn.execute(f'DROP TABLE "{name}"')
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # --- connections ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (each thread closes its own)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One snapshot for a read of several queries."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # --- writes -----------------------------------------------------------------------------

    def apply(self, batch: Sequence[Record]) -> int:
        """Apply Kafka records and advance the offsets, in one transaction; return rows changed.

        A record below the offset already read for its (kind, partition) is passed over.
        """
        if not batch:
            return 0
        changed = 0
        with self._writing() as conn:
            offsets = {(k, p): n for k, p, n in conn.execute(
                "SELECT kind, partition, next FROM offsets")}
            advanced: dict[tuple[str, int], int] = {}
            counts: dict[str, int] = {}
            touched: set[str] = set()
            feedback_changed = False
            for kind, partition, offset, key, value, timestamp_ms in batch:
                if kind not in KINDS:
                    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
                if offset < offsets.get((kind, partition), 0):
                    continue
                offsets[(kind, partition)] = advanced[(kind, partition)] = offset + 1
                counts[f"read.{kind}"] = counts.get(f"read.{kind}", 0) + 1
                try:
                    rows = records.apply_record(conn, kind, key, value, timestamp_ms, touched)
                    changed += rows
                    feedback_changed |= bool(rows) and kind == "feedback"
                except MessageError as exc:
                    counts[f"skipped.{kind}"] = counts.get(f"skipped.{kind}", 0) + 1
                    log.warning("unreadable %s message skipped at partition %d offset %d: %s",
                                kind, partition, offset, exc,
                                extra={"kind": kind, "partition": partition, "offset": offset})
            conn.executemany(
                "INSERT INTO offsets (kind, partition, next) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, partition) DO UPDATE SET next = max(next, excluded.next)",
                [(k, p, n) for (k, p), n in advanced.items()])
            _count(conn, counts)
            records.refresh_states(conn, touched)
        if feedback_changed:
            self._feedback_changed()
        return changed

    def apply_feedback(self, fb: Feedback) -> None:
        """Apply an analyst's feedback now, as the ingest will when Kafka hands it back."""
        touched: set[str] = set()
        with self._writing() as conn:
            changed = records.apply_feedback(conn, fb, touched)
            records.refresh_states(conn, touched)
        if changed:
            self._feedback_changed()

    def begin_at(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Record where reading starts for (kind, partition) pairs never read before.

        The ingest calls it once it has found where the window of articles begins, so that a
        restart reads on from there rather than from a later "now minus the window".
        """
        with self._writing() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO offsets (kind, partition, next) VALUES (?, ?, ?)",
                [(k, p, n) for (k, p), n in offsets.items()])

    def offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to read, per (kind, partition) read so far."""
        return {(k, p): n for k, p, n in self._connection().execute(
            "SELECT kind, partition, next FROM offsets")}

    def prune(self, now: datetime) -> int:
        """Delete the articles (and their matches) received before the window; return how many.

        Stories keep their articles' titles and evidence; only the full texts go.
        """
        cutoff = to_us(now - self.window)
        with self._writing() as conn:
            gone = conn.execute("DELETE FROM articles WHERE received < ?", (cutoff,)).rowcount
            gone += conn.execute("DELETE FROM matches WHERE received < ?", (cutoff,)).rowcount
        return int(gone)

    # --- reads: the pages -------------------------------------------------------------------

    def topics(self) -> list[TopicSummary]:
        """Every watch topic with stories: counts and latest update, by watch topic id."""
        with self._reading() as conn:
            return pages.topics(conn)

    def stories(self, flt: StoryFilter, *, analyst: str | None = None,
                now: datetime | None = None) -> list[StoryRow]:
        """Stories that pass ``flt``, last updated first; ``my_vote`` is ``analyst``'s."""
        with self._reading() as conn:
            return pages.stories(conn, flt, analyst=analyst, now=now or datetime.now(UTC))

    def story(self, story_id: str, *, analyst: str | None = None,
              now: datetime | None = None) -> StoryDetail | None:
        """One story with every article, its alerts and its feedback; ``None`` if unknown."""
        with self._reading() as conn:
            return pages.story(conn, story_id, analyst=analyst, now=now or datetime.now(UTC))

    def article(self, article_id: str, *, topic_id: str | None = None,
                analyst: str | None = None) -> ArticleView | None:
        """One article; with ``topic_id``, also why it matched that watch topic and its votes."""
        with self._reading() as conn:
            return pages.article(conn, article_id, topic_id=topic_id, analyst=analyst)

    def story_ids_of_article(self, article_id: str) -> list[str]:
        """The stories that hold an article, last updated first."""
        return [r[0] for r in self._connection().execute(
            "SELECT s.story_id FROM story_articles a JOIN stories s USING (story_id) "
            "WHERE a.article_id = ? ORDER BY s.last_updated DESC, s.story_id DESC",
            (article_id,))]

    # --- reads: the rule editor -------------------------------------------------------------

    def window_articles(self, since: datetime | None = None) -> Iterator[WindowArticle]:
        """The stored articles received at or after ``since`` (all by default), oldest first.

        Read in chunks, so that a slow reader holds no snapshot open between them.
        """
        after = 0
        floor = to_us(since) if since is not None else None
        while True:
            chunk, after = self._window_chunk(after, floor, WINDOW_CHUNK)
            yield from chunk
            if len(chunk) < WINDOW_CHUNK:
                return

    def window_since(self, after_seq: int) -> tuple[list[WindowArticle], int]:
        """Articles stored after insertion number ``after_seq``, and the number to ask next.

        ``window_since(0)`` is every article; numbers never repeat, so a reader that keeps the
        returned number sees each article once (articles pruned meanwhile are not reported).
        """
        return self._window_chunk(after_seq, None, None)

    def _window_chunk(self, after: int, floor: int | None,
                      limit: int | None) -> tuple[list[WindowArticle], int]:
        sql = ("SELECT seq, article_id, title, text, summary, language, outlet, url, "
               "published_at, fetched_at FROM articles WHERE seq > ?")
        params: list[Any] = [after]
        if floor is not None:
            sql += " AND received >= ?"
            params.append(floor)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        out = []
        last = after
        for (seq, article_id, title, text, summary, language, outlet, url, published,
             fetched) in self._connection().execute(sql, params):
            last = seq
            out.append(WindowArticle(
                article_id=article_id, title=title, text=text or summary, language=language,
                outlet=outlet, url=url,
                published_at=from_us(published) if published is not None else None,
                fetched_at=from_us(fetched)))
        return out, last

    def labels(self) -> dict[str, dict[str, bool]]:
        """The backtest labels the stored votes give (:func:`monitor.feedback.labels`).

        Worked out again only after feedback changed (through this store: the console's is
        the only process that writes its file); a fresh copy each call.
        """
        with self._lock:
            version, cached = self._labels
            current = self._feedback_version
        if version != current:
            rows = self._connection().execute("SELECT message FROM feedback WHERE kind = 'vote'")
            cached = labels(Feedback.from_json(m) for (m,) in rows)
            with self._lock:
                self._labels = (current, cached)
        return {article_id: dict(judged) for article_id, judged in cached.items()}

    def _feedback_changed(self) -> None:
        with self._lock:
            self._feedback_version += 1

    def matched(self, topic_id: str) -> set[str]:
        """The ids of the stored articles ``news.matches`` says matched a watch topic."""
        return {r[0] for r in self._connection().execute(
            "SELECT article_id FROM matches WHERE topic_id = ?", (topic_id,))}

    def stats(self) -> dict[str, int]:
        """Rows per table, messages read and skipped: for ``/readyz`` and metrics."""
        conn = self._connection()
        out = {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
               for table in ("articles", "matches", "stories", "alerts", "feedback")}
        counters = dict(conn.execute("SELECT name, value FROM counters"))
        out["read"] = sum(v for k, v in counters.items() if k.startswith("read."))
        out["skipped"] = sum(v for k, v in counters.items() if k.startswith("skipped."))
        return out


def _count(conn: sqlite3.Connection, counts: Mapping[str, int]) -> None:
    conn.executemany(
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        list(counts.items()))
