"""Benchmark the tagger: articles per second against 10 to 10,000 generated watch topics.

    python bench/bench_tagging.py [--sizes 10,100,1000,10000] [--articles 400]

Prints one table. Each size runs in a fresh child process so memory figures do not mix.

What is generated (seeded, so runs compare): a Zipf-distributed vocabulary of 20,000
pseudo-words (a few very common, most rare, like news text); 400 entities of 2-6 names each;
watch topics of the shipped shape (one or two entities, a group of 6-14 terms, none of them
among the 500 most frequent words, with phrases and ``*`` wildcards, a veto, sentence or
paragraph windows) written as YAML files; articles of sentences drawn from the same
vocabulary, with entity names sprinkled in, as JSON lines, in two sizes:

- feed items: texts as long as the items the pollers publish, their lengths taken from
  ``FEED_ITEM_CHARS`` (the real-world feed corpus: mean 910 characters, median 189; one in
  nine has no text, only a title);
- 4 KB: every text 4,096 characters, a full article's worth: the long-text worst case.

Columns:
- ``art/s``, ``p99 ms``: the whole path per feed item: decode JSON, normalize, match every
  watch topic, encode the matches as JSON; one core. ``4KB art/s``, ``4KB p99``: the same on
  4 KB articles.
- ``matches/art``: average matches per 4 KB article (the work is real, not a miss on every
  topic).
- ``build s``: ``Matcher.from_dir`` on a cold start (YAML parsing + compiling); ``reload s``:
  the same again with every file unchanged (what the worker does when one file changes);
  ``cached s``: a start from the compiled-index cache (``cache_dir``) of the same files.
- ``RSS MB``: resident memory added by building the matcher.
- ``naive art/s``: a per-topic loop: each watch topic's required groups as one regular
  expression each, searched sentence by sentence in pre-normalized sentences (a simpler rule
  than the real one, so the comparison flatters the naive loop), on 4 KB articles; sampled on
  fewer articles at large sizes. ``speed-up`` = 4KB art/s / naive art/s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.tagging.match import Matcher
from monitor.tagging.rules import Group, WatchTopic
from monitor.tagging.segments import sentences
from monitor.tagging.text import normalize

VOCABULARY = 20_000
ENTITIES = 400
# Analysts' terms are specific words: none among the 500 most frequent (in English news those
# are words like "said", "military", "government").
FIRST_TERM_RANK = 500
SEED = 20230915
# How long the text of a feed item is, as the pollers publish it (its text, or its summary
# where it has none), at the middle of each percentile: the 4,215 items of the 79 real-world
# feeds of the shared corpus. ``feed_item_chars`` measures it again from the corpus, and
# tests/tagging/test_real_feeds.py checks this table against it.
FEED_ITEM_CHARS = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 33, 41, 47, 51, 55, 58, 60, 64, 68, 71, 73, 77, 81,
    85, 89, 93, 96, 100, 103, 107, 110, 114, 118, 120, 126, 130, 135, 140, 143, 147, 151, 156,
    160, 165, 170, 176, 180, 185, 189, 196, 199, 202, 203, 203, 203, 203, 203, 203, 203, 204,
    209, 214, 218, 221, 225, 231, 235, 239, 244, 248, 251, 254, 255, 255, 255, 272, 318, 393,
    488, 540, 616, 723, 841, 1121, 1391, 1680, 1971, 2505, 2930, 3366, 3932, 4456, 5255, 6162,
    7143, 8375, 10695, 15815)
FULL_ARTICLE_CHARS = 4096


def pseudo_words(rng: random.Random, count: int) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    seen: set[str] = set()
    while len(seen) < count:
        length = rng.choice((2, 2, 3, 3, 3, 4))
        seen.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(length)))
    return sorted(seen, key=lambda w: (len(w), w))


def zipf_weights(n: int) -> list[float]:
    return [1.0 / (rank + 1) for rank in range(n)]


def feed_item_chars(texts: Sequence[str]) -> tuple[int, ...]:
    """The length of ``texts`` at the middle of each percentile (see ``FEED_ITEM_CHARS``)."""
    lengths = sorted(map(len, texts))
    return tuple(lengths[int((p + 0.5) * len(lengths) / 100)] for p in range(100))


def generate(directory: Path, topics: int, articles: int,
             lengths: Sequence[int] = (FULL_ARTICLE_CHARS,)) -> list[bytes]:
    """Write ``topics`` watch topics and the entities into ``directory``; return articles.

    The articles' texts take the lengths in ``lengths`` in turn: 400 articles from
    ``FEED_ITEM_CHARS`` have each percentile's length four times.
    """
    rng = random.Random(SEED)
    words = pseudo_words(rng, VOCABULARY)
    # Cumulative once: ``choices`` would otherwise add up 20,000 weights on every call.
    weights = list(accumulate(zipf_weights(VOCABULARY)))
    (directory / "entities").mkdir(parents=True, exist_ok=True)
    entity_names = []
    for i in range(ENTITIES):
        names = [" ".join(rng.choice(words[2000:]).capitalize()
                          for _ in range(rng.choice((1, 2, 2, 3))))
                 for _ in range(rng.randint(2, 6))]
        entity_names.append(names)
        (directory / "entities" / f"e{i}.yaml").write_text(
            f"id: e{i}\nnames: {json.dumps(names)}\n", encoding="utf-8")
    for i in range(topics):
        terms = []
        for _ in range(rng.randint(6, 14)):
            kind = rng.random()
            word = words[rng.randint(FIRST_TERM_RANK, VOCABULARY - 1)]
            if kind < 0.2:
                terms.append(word + " " + words[rng.randint(FIRST_TERM_RANK, VOCABULARY - 1)])
            elif kind < 0.35:
                terms.append(word[:max(4, len(word) - 2)] + "*")
            else:
                terms.append(word)
        entities = rng.sample(range(ENTITIES), rng.choice((1, 1, 2)))
        groups = "".join(f"    - entity: e{e}\n" for e in entities)
        within = rng.choice(("sentence", "sentence", "paragraph"))
        (directory / f"t{i:05d}.yaml").write_text(
            f"id: t{i:05d}\ntitle: Topic {i}\nseverity: medium\nmatch:\n  all:\n{groups}"
            f"    - any: {json.dumps(terms)}\n"
            f"  none: [{words[rng.randint(200, FIRST_TERM_RANK - 1)]}]\n"
            f"  within: {within}\n", encoding="utf-8")
    out = []
    for a in range(articles):
        length = lengths[a % len(lengths)]
        # Paragraphs until the text is long enough, then cut there. 4 KB articles stop at
        # 4,000 characters, as they always have, so that what the seed generates stays the
        # same (tests/tagging/test_match_golden.py runs on it).
        enough = 4000 if length == FULL_ARTICLE_CHARS else length
        paragraphs, size = [], 0
        while size < enough:
            sentences_ = []
            for _ in range(rng.randint(3, 6)):
                tokens = rng.choices(words, cum_weights=weights, k=rng.randint(10, 24))
                if rng.random() < 0.5:
                    tokens.insert(rng.randrange(len(tokens)), rng.choice(
                        rng.choice(entity_names)))
                sentences_.append(" ".join(tokens).capitalize() + ".")
            paragraph = " ".join(sentences_)
            paragraphs.append(paragraph)
            size += len(paragraph) + 2
        title = " ".join(rng.choices(words, cum_weights=weights, k=8)).capitalize()
        out.append(orjson.dumps({"id": f"a{a}", "title": title,
                                 "text": "\n\n".join(paragraphs)[:length]}))
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def tag(matcher: Matcher, raw: bytes) -> bytes:
    article = orjson.loads(raw)
    found = matcher.match(article["title"], article["text"], article.get("language"))
    return orjson.dumps({"id": article["id"], "matches": [m.to_dict() for m in found]})


def leaf_keys(group: Group) -> list[str]:
    keys = []
    for node in group.walk():
        terms = list(node.terms) + (list(node.entity.names) if node.entity else [])
        keys += [p.key for t in terms for p in t.patterns]
    return keys


class NaiveLoop:
    """The obvious implementation: every watch topic checked on its own."""

    def __init__(self, topics: tuple[WatchTopic, ...]) -> None:
        self.topics = [(t.id, [re.compile("|".join(re.escape(k) for k in leaf_keys(g)))
                               for g in t.rule.children]) for t in topics]

    def match(self, title: str, text: str) -> list[str]:
        windows = [normalize(title).text] + [
            normalize(text[s:e]).text for s, e in sentences(text)]
        return [topic_id for topic_id, groups in self.topics
                if any(all(g.search(w) for g in groups) for w in windows)]


def child(size: int, count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        articles = generate(directory, size, count)
        gc.collect()
        before = rss_mb()
        start = time.perf_counter()
        matcher = Matcher.from_dir(directory)
        build = time.perf_counter() - start
        gc.collect()
        memory = rss_mb() - before
        start = time.perf_counter()
        reloaded = Matcher.from_dir(directory)
        reload_s = time.perf_counter() - start
        del reloaded
        with tempfile.TemporaryDirectory() as cache:
            Matcher.from_dir(directory, cache_dir=Path(cache))
            start = time.perf_counter()
            cached = Matcher.from_dir(directory, cache_dir=Path(cache))
            cached_s = time.perf_counter() - start
            del cached
        gc.collect()
        with tempfile.TemporaryDirectory() as again:
            # The same watch topics again (same seed), with feed items for articles.
            items = generate(Path(again), size, count, FEED_ITEM_CHARS)
        for raw in articles[:20]:  # warm the normalization tables
            tag(matcher, raw)
        rate, p99, _ = throughput(matcher, items)
        full_rate, full_p99, matches = throughput(matcher, articles)
        naive = NaiveLoop(matcher.watch_topics)
        sample = articles[:max(5, min(count, 200_000 // max(size, 1)))]
        start = time.perf_counter()
        for raw in sample:
            article = orjson.loads(raw)
            naive.match(article["title"], article["text"])
        naive_rate = len(sample) / (time.perf_counter() - start)
        return {"size": size, "rate": rate, "p99": p99, "full_rate": full_rate,
                "full_p99": full_p99, "matches": matches, "build": build, "reload": reload_s,
                "cached": cached_s, "rss": memory, "naive": naive_rate, "naive_n": len(sample)}


def throughput(matcher: Matcher, articles: list[bytes]) -> tuple[float, float, float]:
    """Tag ``articles`` over and over for 3 s: articles per second, p99 ms, matches per article."""
    latencies, matches = [], 0
    passes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 3.0 or passes == 0:
        for raw in articles:
            t0 = time.perf_counter()
            out = tag(matcher, raw)
            latencies.append(time.perf_counter() - t0)
            if passes == 0:
                matches += len(orjson.loads(out)["matches"])
        passes += 1
    elapsed = sum(latencies)
    latencies.sort()
    return (len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000,
            matches / len(articles))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.articles)))
        return 0
    print(f"{'topics':>7} {'art/s':>8} {'p99 ms':>7} {'4KB art/s':>9} {'4KB p99':>7} "
          f"{'matches/art':>11} {'build s':>8} "
          f"{'reload s':>8} {'cached s':>8} {'RSS MB':>7} {'naive art/s':>11} {'(n)':>5} "
          f"{'speed-up':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--articles", str(args.articles)],
            check=False, capture_output=True, text=True)
        if result.returncode:
            print(result.stderr, file=sys.stderr)
            return 1
        r = json.loads(result.stdout)
        print(f"{size:>7} {r['rate']:>8.0f} {r['p99']:>7.2f} {r['full_rate']:>9.0f} "
              f"{r['full_p99']:>7.2f} {r['matches']:>11.2f} "
              f"{r['build']:>8.2f} {r['reload']:>8.2f} {r['cached']:>8.2f} {r['rss']:>7.1f} "
              f"{r['naive']:>11.1f} "
              f"{r['naive_n']:>5} {r['full_rate'] / r['naive']:>7.0f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
