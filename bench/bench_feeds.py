"""Benchmark parsing and normalizing feeds: the real-world corpus and a generated 100 KB feed.

    python bench/bench_feeds.py [--corpus DIR] [--seconds 3]

Prints one table. The corpus is ``$NEWSWATCH_FEED_CORPUS``, else ``../shared/feeds`` next to
the repository (79 real feeds, 13 MB, see its README); the generated feed is RSS 2.0 with 40
items of about 2.5 KB (HTML descriptions, tracking parameters in the links, no declared
language, so every article goes through language detection), seeded so runs compare.

Rows:
- ``corpus``: every corpus file once per pass, as the poller would see them;
- ``100 KB RSS``: the generated feed, over and over for ``--seconds``;
- ``unchanged``: what the poller does instead when a body is the same as last time: a SHA-256
  of the body and a comparison (``poller.py`` step 2), on the same 100 KB; its time is in
  the ``parse ms`` column.

Columns: ``parse ms`` / ``normalize ms`` per document (``parse_feed``, ``normalize_feed``);
``art/s`` articles out per second and ``MB/s`` bytes in per second, both for parse and
normalize together, on one core; ``vs parse``: how many times cheaper than parsing the
unchanged-body check is.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.normalize import normalize_feed
from monitor.feeds.parse import FeedParseError, parse_feed

SEED = 20240305
REPO = Path(__file__).resolve().parents[1]
FETCHED_AT = datetime(2026, 3, 1, tzinfo=UTC)
FEED = FeedConfig(id="bench", url="https://bench.example.org/rss", outlet="Bench")


def generated_feed(target_bytes: int = 100_000) -> bytes:
    """Return an RSS 2.0 document of about ``target_bytes`` made of pseudo-words."""
    rng = random.Random(SEED)
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words = sorted({"".join(rng.choice(consonants) + rng.choice(vowels)
                            for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
                    for _ in range(5000)})

    def sentence() -> str:
        return " ".join(rng.choices(words, k=rng.randint(8, 20))).capitalize() + "."

    items, size, when = [], 0, datetime(2026, 2, 28, 12, tzinfo=UTC)
    while size < target_bytes - 2000:
        slug = "-".join(rng.choices(words, k=5))
        paragraphs = "".join(f"<p>{sentence()} {sentence()} <b>{rng.choice(words)}</b> "
                             f"&amp; {sentence()}</p>" for _ in range(rng.randint(3, 6)))
        item = (f"<item><title>{sentence()[:90]}</title>"
                f"<link>https://bench.example.org/news/{slug}?utm_source=rss&amp;"
                f"utm_medium=feed&amp;id={len(items)}</link>"
                f"<guid isPermaLink=\"false\">bench-{len(items)}</guid>"
                f"<pubDate>{format_datetime(when)}</pubDate>"
                f"<category>{rng.choice(words)}</category>"
                f"<description><![CDATA[{paragraphs}]]></description></item>\n")
        items.append(item)
        size += len(item)
        when -= timedelta(minutes=rng.randint(5, 90))
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>"
            "<title>Bench wire</title><link>https://bench.example.org/</link>"
            "<description>generated</description>\n" + "".join(items)
            + "</channel></rss>\n").encode()


def process(body: bytes, url: str, content_type: str | None) -> tuple[float, float, int]:
    """Parse and normalize one document; return (parse s, normalize s, articles)."""
    start = time.perf_counter()
    try:
        parsed = parse_feed(body, url=url, content_type=content_type)
    except FeedParseError:
        return time.perf_counter() - start, 0.0, 0
    middle = time.perf_counter()
    articles = normalize_feed(parsed, feed=FEED, fetched_at=FETCHED_AT, base_url=url)
    return middle - start, time.perf_counter() - middle, len(articles)


def corpus_documents(directory: Path) -> list[tuple[bytes, str, str]]:
    files = sorted((directory / "files").iterdir())
    return [(path.read_bytes(), f"http://127.0.0.1/feeds/{path.name}",
             "application/json" if path.suffix == ".json" else "application/xml")
            for path in files if path.is_file()]


def measure(documents: list[tuple[bytes, str, str]], seconds: float,
            min_passes: int = 1) -> dict[str, float]:
    parse_s = normalize_s = 0.0
    articles = size = count = passes = 0
    start = time.perf_counter()
    while passes < min_passes or time.perf_counter() - start < seconds:
        for body, url, content_type in documents:
            p, n, a = process(body, url, content_type)
            parse_s, normalize_s, articles = parse_s + p, normalize_s + n, articles + a
            size += len(body)
            count += 1
        passes += 1
    total = parse_s + normalize_s
    return {"docs": len(documents), "bytes": size / passes, "articles": articles / passes,
            "parse_ms": parse_s / count * 1000, "normalize_ms": normalize_s / count * 1000,
            "rate": articles / total, "mbps": size / total / 1e6, "per_doc": total / count}


def unchanged_check(body: bytes, seconds: float) -> float:
    """Return seconds per SHA-256 of ``body`` compared with a stored hex digest."""
    stored = hashlib.sha256(body).hexdigest()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            assert hashlib.sha256(body).hexdigest() == stored
        runs += 100
    return (time.perf_counter() - start) / runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NEWSWATCH_FEED_CORPUS") or str(REPO.parent / "shared" / "feeds")
    parser.add_argument("--corpus", default=default)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    generated = generated_feed()
    generated_doc = [(generated, FEED.url, "application/rss+xml")]
    measure(generated_doc, 0.0)  # first use: feedparser's tables, the language model
    print(f"{'input':<12} {'docs':>5} {'KB/doc':>7} {'art/doc':>7} {'parse ms':>9} "
          f"{'normalize ms':>12} {'art/s':>7} {'MB/s':>6} {'vs parse':>9}")
    corpus = Path(args.corpus)
    if (corpus / "manifest.jsonl").exists():
        r = measure(corpus_documents(corpus), args.seconds, min_passes=2)
        print(f"{'corpus':<12} {r['docs']:>5.0f} {r['bytes'] / r['docs'] / 1e3:>7.1f} "
              f"{r['articles'] / r['docs']:>7.1f} {r['parse_ms']:>9.1f} {r['normalize_ms']:>12.1f} "
              f"{r['rate']:>7.0f} {r['mbps']:>6.2f} {'':>9}", flush=True)
    else:
        print(f"{'corpus':<12} (not found at {corpus}; set NEWSWATCH_FEED_CORPUS)")
    g = measure(generated_doc, args.seconds)
    print(f"{'100 KB RSS':<12} {1:>5} {len(generated) / 1e3:>7.1f} {g['articles']:>7.0f} "
          f"{g['parse_ms']:>9.1f} {g['normalize_ms']:>12.1f} {g['rate']:>7.0f} "
          f"{g['mbps']:>6.2f} {'':>9}", flush=True)
    check = unchanged_check(generated, min(args.seconds, 1.0))
    print(f"{'unchanged':<12} {1:>5} {len(generated) / 1e3:>7.1f} {'':>7} {check * 1000:>9.3f} "
          f"{'':>12} {'':>7} {len(generated) / check / 1e6:>6.0f} "
          f"{g['per_doc'] / check:>8.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
