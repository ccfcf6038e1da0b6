"""Benchmark one worker through Kafka: articles/s from news.articles to news.matches.

    python bench/bench_worker.py [--articles 20000] [--against DIR] [--rounds 1]

Prints one table. ``--articles`` articles of about 4 KB (sentences drawn from a fixed set of
news-like sentences, some naming North Korea, Russia, the Security Council or the allies'
deterrence talks, so that about one article in eleven matches a shipped watch topic) are put on
``news.articles`` first; then one ``newswatch worker`` process with the shipped ``topics/``
starts, and the clock runs from its first tagged article to its last, read from its own
``/metrics`` (scraped four times a second: scraping it more often costs the worker itself).
Kafka is the broker named by ``NEWSWATCH_KAFKA_BOOTSTRAP``, or one started for the run.

``--against DIR`` runs the worker of another checkout too (``git worktree add DIR <commit>``),
alternating with this one ``--rounds`` times on the same broker and input, so that a before and
an after are measured in one run: this machine's speed drifts too much between runs to compare
figures taken apart.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _local import kafka_bootstrap

from monitor import bus
from monitor.config import Settings
from tests.metricsread import free_port, scrape
from tests.newstext import articles

ROOT = Path(__file__).resolve().parents[1]


def tagged(samples: dict[str, float]) -> float:
    return sum(v for k, v in samples.items() if k.startswith("newswatch_tagger_articles_total{"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run(bootstrap: str, count: int, checkout: Path) -> tuple[float, float, float, float]:
    """Tag ``count`` articles with the worker of ``checkout``: (matches, s, articles/s, RSS MB)."""
    settings = Settings(kafka_bootstrap=bootstrap, topic_namespace=f"bench{uuid4().hex[:8]}")
    bus.ensure_topics(bootstrap, [bus.TopicSpec(settings.topic("articles"), partitions=6)])
    batch = articles(count)
    producer = bus.make_producer(bootstrap, client_id="bench")
    started = time.perf_counter()
    bus.wait_all([producer.send(settings.topic("articles"), key=a.article_id.encode(),
                                value=a.to_json()) for a in batch], timeout=300)
    produce_s = time.perf_counter() - started
    producer.close()
    size = sum(len(a.text) for a in batch) / count / 1024
    print(f"{count} articles of {size:.1f} KB on {settings.topic('articles')} in {produce_s:.1f} s "
          f"({count / produce_s:.0f}/s with kafka-python); Kafka at {bootstrap}")

    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": bootstrap,
               "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace, "NEWSWATCH_CACHE": cache,
               "NEWSWATCH_LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "monitor", "worker", "--topics", str(checkout / "topics"),
             "--web-port", str(port)], env=env, cwd=checkout, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            first = last = None
            deadline = time.monotonic() + 600
            done = 0.0
            while time.monotonic() < deadline:
                try:
                    done = tagged(scrape(metrics))
                except OSError:
                    done = 0.0
                now = time.perf_counter()
                if done and first is None:
                    first = (now, done)
                if done >= count:
                    last = now
                    break
                time.sleep(0.25)
            if first is None or last is None:
                raise SystemExit(f"the worker tagged {done:.0f} of {count} articles in time")
            samples = scrape(metrics)
            memory = rss_mb(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    matches = sum(v for k, v in samples.items()
                  if k.startswith("newswatch_tagger_matches_total{"))
    seconds = last - first[0]
    return matches, seconds, (count - first[1]) / seconds, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout whose worker runs too, alternating with this one")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    checkouts = [args.against.resolve(), ROOT] if args.against else [ROOT]
    rows = []
    with kafka_bootstrap() as bootstrap:
        for _ in range(args.rounds):
            for checkout in checkouts:
                rows.append((checkout, *run(bootstrap, args.articles, checkout)))
    print(f"{'worker of':<24} {'articles':>8} {'matches':>8} {'seconds':>8} {'articles/s':>10} "
          f"{'worker RSS MB':>13}")
    for checkout, matches, seconds, rate, memory in rows:
        print(f"{_describe(checkout):<24} {args.articles:>8} {matches:>8.0f} {seconds:>8.2f} "
              f"{rate:>10.0f} {memory:>13.0f}")
    return 0


def _describe(checkout: Path) -> str:
    """The checkout's commit, as ``git describe`` would name it (or its folder)."""
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return checkout.name
    return f"{commit} ({'this' if checkout == ROOT else checkout.name})"


if __name__ == "__main__":
    raise SystemExit(main())
