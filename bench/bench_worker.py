"""Benchmark one worker through Kafka: articles/s from news.articles to news.matches.

    python bench/bench_worker.py [--articles 20000]

Prints one table. ``--articles`` articles of about 4 KB (sentences drawn from a fixed set of
news-like sentences, some naming North Korea, Russia, the Security Council or the allies'
deterrence talks, so that about one article in eleven matches a shipped watch topic) are put on
``news.articles`` first; then one ``newswatch worker`` process with the shipped ``topics/``
starts, and the clock runs from its first tagged article to its last, read from its own
``/metrics``. Kafka is the broker named by ``NEWSWATCH_KAFKA_BOOTSTRAP``, or one started for
the run.
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


def run(bootstrap: str, count: int) -> None:
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
            [sys.executable, "-m", "monitor", "worker", "--topics", str(ROOT / "topics"),
             "--web-port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
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
                time.sleep(0.05)
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
    rate = (count - first[1]) / seconds
    print(f"{'articles':>8} {'matches':>8} {'seconds':>8} {'articles/s':>10} {'worker RSS MB':>13}")
    print(f"{count:>8} {matches:>8.0f} {seconds:>8.2f} {rate:>10.0f} {memory:>13.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    args = parser.parse_args()
    with kafka_bootstrap() as bootstrap:
        run(bootstrap, args.articles)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
