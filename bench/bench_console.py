"""Benchmark the analyst console over a 100,000-article window: the rule editor and the pages.

    python bench/bench_console.py [--articles 100000] [--stories 10000] [--runs 5]
                                  [--dense 0.5] [--corpus F.jsonl]

Prints one table: per step, the median of ``--runs`` runs and the fastest and slowest; the
setup steps are timed once.

What is built (seeded, so runs compare):

- articles: those of the feed corpus (``NEWSWATCH_FEED_CORPUS``, else ``../shared/feeds``
  next to the repository, as for ``bench_feeds.py``; parsed and normalized as the poller
  does; or ``--corpus``, JSON lines with title and text), over and over, mixed with a share
  ``--dense`` of ``tests/newstext.py`` articles (4 KB, about one in eleven matching a
  shipped watch topic: the corpus alone matches almost nothing, which would flatter the
  editor). Each article
  ends with a reference line of 8 words drawn from a million pseudo-words, so that the
  vocabulary grows as real news makes it grow (names, numbers). Received over 7 days;
- the store: ``monitor.console.store.Store`` in a temporary file, filled by ``Store.apply``
  with real encoded messages as the ingest applies them: the articles, ``--stories``
  stories of 1 to 5 of them with their matches, alerts, and votes on a few hundred; and 30
  off-topic reports that match ``nk-russia-arms`` (a chess tournament), three of them a
  story voted down;
- the editor over the shipped ``topics/`` (copied): its window read from the store (every
  article normalized once) and every saved watch topic backtested (``Editor.warm``).

Rows:

- ``preview cold``: a saved watch topic, nothing cached but the window; for the heaviest
  shipped topic, ``nk-russia-arms``, and for all five in turn;
- ``preview warm: ...``: an edit typed after that: a veto nothing holds, a veto of a common
  word (every match holding it is matched again), a term added, the threshold raised, the
  window widened (every candidate is matched again), an edit that breaks the YAML;
- ``save``: validate, compare versions, write and rename; ``suggest``: from the chess
  story's 👎 (each suggestion backtested);
- ``page ...`` (when ``monitor/console/web.py`` exists): through Starlette's TestClient.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.article import Article  # noqa: E402
from monitor.console.backtest import Backtester  # noqa: E402
from monitor.console.editor import Editor  # noqa: E402
from monitor.console.store import Store  # noqa: E402
from monitor.console.suggest import add_veto, set_within  # noqa: E402
from monitor.tagging.match import Matcher  # noqa: E402
from tests.console.factory import Feed, vote  # noqa: E402
from tests.newstext import articles as news_articles  # noqa: E402

NOW = datetime(2025, 6, 8, 12, tzinfo=UTC)
SEED = 20250608
HEAVY = "nk-russia-arms"
COMMON_WORDS = ("said", "officials", "ministry", "report", "week", "state", "talks")
NEW_TERMS = ("envoy", "capital", "border", "spokesperson", "holiday", "court", "bill")
PAGES_BASE = "http://127.0.0.1:8080"


# --- what is read -------------------------------------------------------------------------------


def corpus_texts(path: Path | None) -> list[tuple[str, str, str]]:
    """(outlet, title, text) of every article of the feed corpus, or of a JSON-lines file."""
    if path is not None:
        out = []
        for line in path.read_bytes().splitlines():
            data = orjson.loads(line)
            out.append((data.get("outlet") or "Corpus", data.get("title") or "",
                        data.get("text") or ""))
        return out
    from monitor.feeds.feedlist import FeedConfig
    from monitor.feeds.normalize import normalize_feed
    from monitor.feeds.parse import parse_feed

    corpus = os.environ.get("NEWSWATCH_FEED_CORPUS") or ROOT.parent / "shared" / "feeds"
    root = Path(corpus) / "files"
    out = []
    for file in sorted(root.iterdir()):
        try:
            parsed = parse_feed(file.read_bytes(), url="https://example.org/feed")
            feed = FeedConfig(id=file.stem[:40].replace(".", "-").replace("_", "-").lower(),
                              url="https://example.org/feed", outlet=file.stem)
            found = normalize_feed(parsed, feed=feed, fetched_at=NOW,
                                   base_url="https://example.org/")
        except Exception as exc:  # a corpus file the parser refuses: skip it, say so
            print(f"skipped {file.name}: {exc}", file=sys.stderr)
            continue
        for article in getattr(found, "articles", found):
            out.append((article.outlet, article.title, article.text))
    return out


def build_articles(count: int, dense: float, corpus: list[tuple[str, str, str]],
                   matcher: Matcher) -> tuple[list[Article], dict[str, list[Article]]]:
    """The articles, and per watch topic those of the generated news it matches."""
    rng = random.Random(SEED)
    news = news_articles(min(10_000, max(1, int(count * dense))), seed=SEED)
    topics_of = [[m.topic_id for m in matcher.match(a.title, a.text)] for a in news]
    span = timedelta(days=7).total_seconds() - 3600
    out: list[Article] = []
    matched: dict[str, list[Article]] = {t.id: [] for t in matcher.watch_topics}
    for n in range(count):
        news_index = None
        if rng.random() < dense:
            news_index = n % len(news)
            outlet, title, text = f"Wire {n % 13}", news[news_index].title, news[news_index].text
        else:
            outlet, title, text = corpus[n % len(corpus)]
        reference = " ".join(f"x{rng.randrange(1_000_000):05x}" for _ in range(8))
        fetched = NOW - timedelta(seconds=span * (count - n) / count)
        article = Article(
            article_id=f"b{n}", feed_id=f"feed-{n % 40}", outlet=outlet or "Corpus",
            url=f"https://news.example/b{n}", canonical_url=f"https://news.example/b{n}",
            title=title or "(untitled)", summary=(text or title)[:200],
            text=f"{text}\n\nRef. {reference}", language="en",
            published_at=fetched - timedelta(minutes=7), fetched_at=fetched)
        out.append(article)
        for topic_id in topics_of[news_index] if news_index is not None else ():
            matched[topic_id].append(article)
    return out, matched


# Reports that match nk-russia-arms but are not about arms: what an analyst votes down.
OFF_TOPIC = ("North Korean soldiers and Russian troops met for a chess tournament in "
             "Vladivostok on {day}, the organisers said.\n\nThe chess tournament ends on "
             "Friday; {n} players took part.")


def fill_store(store: Store, articles: list[Article], stories: int,
               matched: dict[str, list[Article]]) -> str:
    """Apply the articles, then ``stories`` stories of matched articles with their matches,
    alerts and votes, and one story of off-topic reports voted down; return its id."""
    feed = Feed()
    for article in articles:
        feed.article(article)
    rng = random.Random(SEED + 1)
    topics = sorted(t for t, found in matched.items() if found)
    terms = ["North Korea", "Russia", "shells", "missile", "Security Council", "deterrence"]
    for n in range(stories):
        topic_id = topics[n % len(topics)]
        members = rng.sample(matched[topic_id], min(len(matched[topic_id]),
                                                    rng.randint(1, 5)))
        members.sort(key=lambda a: a.fetched_at)
        story = feed.story(topic_id, members, terms=terms, store_articles=False,
                           headline=members[0].title)
        if n % 3 == 0:
            feed.alert(story)
        if n % 40 == 0:
            feed.feedback(vote(story, f"analyst{n % 5}", "up" if n % 80 else "down",
                               at=NOW - timedelta(minutes=n % 600)))
    off_topic = [Article(
        article_id=f"chess-{n}", feed_id="feed-chess", outlet=f"Wire {n % 13}",
        url=f"https://news.example/chess-{n}", canonical_url=f"https://news.example/chess-{n}",
        title="Chess in Vladivostok", summary="Chess in Vladivostok.",
        text=OFF_TOPIC.format(day=("Sunday", "Monday", "Tuesday")[n % 3], n=20 + n),
        language="en", published_at=NOW - timedelta(hours=n + 1),
        fetched_at=NOW - timedelta(hours=n + 1)) for n in range(30)]
    story = feed.story(HEAVY, off_topic[:3], terms=terms, headline=off_topic[0].title)
    for article in off_topic[3:]:
        feed.article(article)
    feed.feedback(vote(story, "analyst0", "down", at=NOW - timedelta(minutes=1)))
    records = feed.records
    for start in range(0, len(records), 5_000):
        store.apply(records[start:start + 5_000])
    return story.story_id


# --- timing -------------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, list[float], str]] = []

    def once(self, name: str, seconds: float, note: str = "") -> None:
        self.rows.append((name, [seconds], note))
        print(f"  {name}: {seconds * 1000:,.0f} ms {note}", file=sys.stderr, flush=True)

    def add(self, name: str, seconds: float, note: str = "") -> None:
        for row in self.rows:
            if row[0] == name:
                row[1].append(seconds)
                return
        self.rows.append((name, [seconds], note))

    def print(self) -> None:
        width = max(len(name) for name, _, _ in self.rows)
        print(f"{'step':<{width}} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'runs':>4}  note")
        for name, times, note in self.rows:
            ms = [t * 1000 for t in times]
            print(f"{name:<{width}} {statistics.median(ms):>10,.0f} {min(ms):>9,.0f} "
                  f"{max(ms):>9,.0f} {len(ms):>4}  {note}")


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def fresh(editor: Editor, topics: Path, store: Store, cache: Path) -> Editor:
    """An editor that shares the loaded window but has nothing else cached."""
    other = Editor(topics, store, days=7, cache_dir=cache, now=lambda: NOW)
    other.window = editor.window
    other.backtester = Backtester(editor.window)
    return other


# --- the run ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dense", type=float, default=0.5,
                        help="share of generated news articles (default 0.5)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="JSON lines (title, text) instead of the feed corpus")
    args = parser.parse_args()
    table = Table()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        topics = work / "topics"
        shutil.copytree(ROOT / "topics", topics)
        corpus = corpus_texts(args.corpus)
        articles, matched = build_articles(args.articles, args.dense, corpus,
                                           Matcher.from_dir(topics))
        print(f"{len(articles):,} articles ({len(corpus):,} from the corpus, dense "
              f"{args.dense:g}), {args.stories:,} stories", file=sys.stderr)
        store = Store(work / "console.db", window=timedelta(days=8))
        seconds, voted_down = timed(lambda: fill_store(store, articles, args.stories,
                                                       matched))
        table.once("setup: store.apply", seconds, f"{len(articles):,} articles, "
                   f"{args.stories:,} stories with matches, alerts, votes")
        editor = Editor(topics, store, days=7, cache_dir=work / "cache", now=lambda: NOW)
        seconds, _ = timed(editor.window.refresh)
        table.once("setup: editor window read", seconds,
                   f"{len(editor.window.segments)} segments, "
                   f"{sum(len(s.vocabulary) for s in editor.window.segments):,} words")
        seconds, _ = timed(editor.warm)
        table.once("setup: editor warm", seconds, "every saved topic backtested")
        for run in range(args.runs):
            one_run(run, editor, topics, store, work, table, voted_down)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
        pages(editor, store, topics, table, voted_down, args.runs)
        table.print()
        store.close()
    return 0


def one_run(run: int, editor: Editor, topics: Path, store: Store, work: Path, table: Table,
            voted_down: str) -> None:
    cold = fresh(editor, topics, store, work / f"cache-{run}")
    text = cold.open(HEAVY).text
    seconds, preview = timed(lambda: cold.preview(HEAVY, text))
    table.add(f"preview cold: {HEAVY}", seconds,
              f"{preview.after} matches, {preview.candidates} candidates of "
              f"{preview.scanned:,}")
    for topic_id in cold.topic_ids():
        if topic_id == HEAVY:
            continue
        other = fresh(editor, topics, store, work / f"cache-{run}-{topic_id}")
        seconds, _ = timed(lambda t=topic_id, o=other: o.preview(t, o.open(t).text))
        table.add("preview cold: each other topic", seconds, "four topics, each run")
    edits: list[tuple[str, str | None]] = [
        ("preview warm: veto nothing holds", add_veto(text, f"zzq{run}")),
        ("preview warm: veto a common word", add_veto(text, COMMON_WORDS[run % 7])),
        ("preview warm: a term added", text.replace(
            '"munition*", ammunition,', f'"munition*", ammunition, {NEW_TERMS[run % 7]},')),
        ("preview warm: threshold 1 -> 2", text.replace("threshold: 1", "threshold: 2")),
        ("preview warm: within paragraph", set_within(text, "paragraph")),
        ("preview: a broken edit", text.replace("severity: high", "severity: [high")),
    ]
    for name, edited in edits:
        assert edited is not None and edited != text, name
        seconds, preview = timed(lambda e=edited: cold.preview(HEAVY, e))
        note = (f"{preview.evaluated} matched again, -{preview.lost_count} "
                f"+{preview.gained_count}" if preview.compiled else
                f"{len(preview.problems)} problem(s)")
        table.add(name, seconds, note)
    edited = add_veto(text, f"zzs{run}")
    assert edited is not None
    version = cold.open(HEAVY).version
    seconds, saved = timed(lambda: cold.save(HEAVY, edited, version))
    assert saved.status == "ok", saved
    table.add("save", seconds, "validate, write, fsync, rename")
    cold.save(HEAVY, text, saved.version)
    seconds, found = timed(lambda: cold.suggest(voted_down))
    table.add("suggest (a story's 👎)", seconds,
              f"{len(found)} suggestions" + (f", first: {found[0].summary}, stops "
                                             f"{len(found[0].fixes)} 👎, loses "
                                             f"{found[0].preview.lost_count}" if found else ""))
    cold.close()


def pages(editor: Editor, store: Store, topics: Path, table: Table, story_id: str,
          runs: int) -> None:
    try:
        from starlette.testclient import TestClient

        from monitor.console.auth import Auth
        from monitor.console.web import create_app
    except ImportError:
        print("no monitor/console/web.py: pages not timed", file=sys.stderr)
        return

    class Sink:
        def send(self, fb: Any) -> None:
            store.apply_feedback(fb)

    app = create_app(store=store, sink=Sink(), editor=editor, auth=Auth("none"),
                     topics_dir=topics, ready=lambda: True, clock=lambda: NOW)
    text = editor.open(HEAVY).text
    requests: list[tuple[str, Callable[[TestClient], Any]]] = [
        ("page: stories", lambda c: c.get("/")),
        ("page: stories of a topic", lambda c: c.get(f"/?topic={HEAVY}")),
        ("page: stories, unacknowledged, 👎", lambda c: c.get("/?ack=no&vote=down")),
        ("page: a story", lambda c: c.get(f"/stories/{story_id}")),
        ("page: the editor", lambda c: c.get(f"/topics/{HEAVY}/edit")),
        ("page: a preview (POST, fragment)", lambda c: c.post(
            f"/topics/{HEAVY}/preview", data={"yaml": text, "version": ""},
            headers={"X-Console-Fragment": "1", "Origin": PAGES_BASE})),
    ]
    with TestClient(app, base_url=PAGES_BASE, follow_redirects=False) as client:
        for name, call in requests:
            call(client)  # the first request of a kind warms the templates
            for _ in range(runs):
                seconds, response = timed(lambda c=call: c(client))
                table.add(name, seconds, f"HTTP {response.status_code}, "
                                         f"{len(response.content):,} bytes")


if __name__ == "__main__":
    raise SystemExit(main())
