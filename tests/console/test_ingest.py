"""The console's Kafka reader on the real broker: what it reads, and that a crash costs nothing.

Messages are the real contracts, produced to a fresh namespace's topics; what is asserted is
what the store file holds (:func:`tests.console.test_store.dump`), compared with a store rebuilt
from an empty file by a second reader, and the store's own counts of messages read, which are
written in the same transactions as the rows: a message read twice or never would show there.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import bus
from monitor.article import make_story_id
from monitor.config import Settings
from monitor.console.ingest import Ingest
from monitor.console.model import StoryFilter
from monitor.console.sink import FeedbackNotRecorded, FeedbackSink
from monitor.console.store import KINDS, Record, Store
from tests.console.test_store import (
    Stream,
    alert,
    article,
    dump,
    everything,
    feedback,
    match,
    story_event,
)
from tests.kafkaread import read_topic

ROOT = Path(__file__).parents[2]
PARTITIONS = 3


def create_topics(settings: Settings) -> None:
    bus.ensure_topics(settings.kafka_bootstrap, [
        bus.TopicSpec(settings.topic(kind), partitions=PARTITIONS,
                      config={"cleanup.policy": "compact"} if kind == "feedback" else {})
        for kind in KINDS])


def produce(settings: Settings, records: Iterable[Record], *, stamped: bool = False) -> None:
    """Send records to their kind's topic and partition; ``stamped``: with their timestamps."""
    producer = bus.make_producer(settings.kafka_bootstrap, client_id="test")
    try:
        bus.wait_all([producer.send(settings.topic(kind), key=key, value=value,
                                    partition=partition % PARTITIONS,
                                    timestamp_ms=timestamp_ms if stamped else None)
                      for kind, partition, _, key, value, timestamp_ms in records])
    finally:
        producer.close()


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = bus.GroupConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","),
                                 group_id=None, enable_auto_commit=False)
    try:
        tps = [bus.TopicPartition(settings.topic(kind), p) for kind in KINDS
               for p in range(PARTITIONS)]
        ends = consumer.end_offsets(tps)
        return {(kind, p): ends[bus.TopicPartition(settings.topic(kind), p)]
                for kind in KINDS for p in range(PARTITIONS) if ends[
                    bus.TopicPartition(settings.topic(kind), p)]}
    finally:
        consumer.close()


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str,
               interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(interval)


def read_counts(path: Path) -> Counter[str]:
    """Messages the store has read, per kind (0 while the file does not exist yet)."""
    if not path.exists():
        return Counter()
    conn = sqlite3.connect(path, timeout=10)
    try:
        return Counter({name.removeprefix("read."): value for name, value in conn.execute(
            "SELECT name, value FROM counters WHERE name LIKE 'read.%'")})
    except sqlite3.OperationalError:  # the schema is not there yet
        return Counter()
    finally:
        conn.close()


def read_offsets(path: Path) -> dict[tuple[str, int], int]:
    """The store's next offsets, of the partitions it has read anything of."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        return {(kind, p): n for kind, p, n in conn.execute(
            "SELECT kind, partition, next FROM offsets WHERE next > 0")}
    finally:
        conn.close()


def rebuilt(settings: Settings, path: Path) -> Store:
    """A store built from an empty file by a reader of its own, once it has caught up."""
    store = Store(path)
    ingest = Ingest(settings, store)
    ingest.start()
    try:
        assert ingest.caught_up.wait(30), "the rebuilding reader did not catch up"
    finally:
        ingest.stop()
        ingest.join(10)
    assert ingest.failed is None
    return store


def test_reader_waits_for_missing_topics_then_reads_what_arrives(
        kafka_settings: Settings, tmp_path: Path) -> None:
    store = Store(tmp_path / "console.db")
    ingest = Ingest(kafka_settings, store)
    ingest.start()
    try:
        time.sleep(1.0)
        assert not ingest.caught_up.is_set()
        assert store.offsets() == {}
        create_topics(kafka_settings)
        assert ingest.caught_up.wait(15)
        produce(kafka_settings, everything().records)
        wait_until(lambda: store.stats()["feedback"] == 3, timeout=15, what="every message")
        wait_until(lambda: ingest.lag() == 0, timeout=5, what="no lag")
    finally:
        ingest.stop()
        ingest.join(10)
    assert not ingest.is_alive() and ingest.failed is None
    assert [r.story_id for r in store.stories(StoryFilter(), now=datetime.now(UTC))] == [
        make_story_id("flood-warning", "a3"), make_story_id("harbour-strike", "a1")]


def test_reader_keeps_the_window_and_a_store_rebuilt_from_kafka_holds_the_same(
        kafka_settings: Settings, tmp_path: Path) -> None:
    create_topics(kafka_settings)
    now = datetime.now(UTC)
    old = Stream()
    for n in range(PARTITIONS):  # before the window: never read
        old.add("articles", article(f"old{n}", at=now - timedelta(days=9)), partition=n,
                at=now - timedelta(days=9))
    produce(kafka_settings, old.records, stamped=True)
    stream = everything()
    for kind in KINDS:  # one message of each topic that no one can read
        stream.add(kind, b"{junk", key=b"junk", partition=1)
    produce(kafka_settings, stream.records)

    store = Store(tmp_path / "live.db")
    ingest = Ingest(kafka_settings, store, window=timedelta(days=7))
    ingest.start()
    try:
        assert ingest.caught_up.wait(30)
        assert ingest.lag() == 0
        stats = store.stats()
        assert (stats["articles"], stats["stories"], stats["skipped"]) == (3, 2, 5)
        assert {a.article_id for a in store.window_articles()} == {"a1", "a2", "a3"}

        # An analyst's 👍: on Kafka and in the store at once; read back, it changes nothing.
        sink = FeedbackSink(kafka_settings.kafka_bootstrap, kafka_settings.topic("feedback"),
                            store)
        harbour = make_story_id("harbour-strike", "a1")
        vote = feedback("story", harbour, "harbour-strike", "ana", "vote", "up",
                        at=now, articles=["a1", "a2"])
        try:
            sink.send(vote)
        finally:
            sink.close()
        rows = store.stories(StoryFilter(topic_id="harbour-strike"), analyst="ana", now=now)
        assert (rows[0].votes_up, rows[0].my_vote) == (1, "up")
        sent = [r for r in read_topic(kafka_settings.kafka_bootstrap,
                                      kafka_settings.topic("feedback")) if r.key == vote.key()]
        assert [r.value for r in sent] == [vote.to_json()]
        before = dump(store.path)["feedback"]
        wait_until(lambda: read_counts(store.path)["feedback"] == 5, timeout=15,
                   what="the vote read back from Kafka")
        assert dump(store.path)["feedback"] == before
    finally:
        ingest.stop()
        ingest.join(10)
    assert ingest.failed is None

    again = rebuilt(kafka_settings, tmp_path / "rebuilt.db")
    assert dump(again.path) == dump(store.path)


def test_feedback_kafka_does_not_take_is_not_recorded(kafka_settings: Settings,
                                                      tmp_path: Path) -> None:
    # A topic that takes no message as large as a piece of feedback: Kafka refuses it.
    topic = kafka_settings.topic("feedback")
    bus.ensure_topics(kafka_settings.kafka_bootstrap, [
        bus.TopicSpec(topic, config={"max.message.bytes": "100"})])
    store = Store(tmp_path / "console.db")
    store.apply(everything().records)
    sink = FeedbackSink(kafka_settings.kafka_bootstrap, topic, store, timeout=2)
    vote = feedback("article", "a1", "harbour-strike", "ana", "vote", "down")
    try:
        with pytest.raises(FeedbackNotRecorded, match="did not take the feedback"):
            sink.send(vote)
    finally:
        sink.close()
    assert store.labels() == {"a1": {"harbour-strike": False}, "a2": {"harbour-strike": True}}


def pipeline(stories: int, *, first: int = 0) -> Stream:
    """Stories of one to four articles each, as the worker writes them, with their articles,
    matches, story events, some alerts and feedback; texts long enough to take a while."""
    s = Stream()
    body = " ".join(["The dock workers said the strike would go on at the port."] * 25)
    for n in range(first, first + stories):
        topic = f"topic-{n % 4}"
        members = [article(f"s{n}-{j}", text=f"Report {n}-{j}. {body}",
                           outlet=f"Outlet {j}", at=datetime(2024, 6, 10, tzinfo=UTC)
                           + timedelta(minutes=n, seconds=j)) for j in range(1 + n % 4)]
        for j, a in enumerate(members):
            s.add("articles", a, partition=n + j, key=a.article_id.encode())
            s.add("matches", match(a, topic), partition=n, key=topic.encode())
            s.add("stories", story_event(topic, members[:j + 1]), partition=n,
                  key=topic.encode())
        story_id = make_story_id(topic, members[0].article_id)
        if n % 3 == 0:
            s.add("alerts", alert(f"d{n}", [story_id], outcome="dead" if n % 9 == 0 else "sent"),
                  partition=n)
        if n % 5 == 0:
            s.add("feedback", feedback("story", story_id, topic, f"analyst{n % 3}", "vote",
                                       "down" if n % 2 else "up",
                                       articles=[a.article_id for a in members]), partition=n)
        if n % 7 == 0:
            s.add("feedback", feedback("story", story_id, topic, "lee", "ack", "yes"),
                  partition=n)
    return s


def start_runner(settings: Settings, path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.console.ingest_runner", str(path)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_reader_killed_mid_stream_and_restarted_stores_every_message_once(
        kafka_settings: Settings, tmp_path: Path) -> None:
    create_topics(kafka_settings)
    first, second = pipeline(1200), pipeline(300, first=1200)
    produced = Counter(r[0] for r in first.records + second.records)
    produce(kafka_settings, first.records)
    path, log = tmp_path / "console.db", tmp_path / "runner.log"
    total_first = len(first.records)

    runner = start_runner(kafka_settings, path, log)
    try:
        kills = []
        for share in (0.2, 0.6):  # killed a fifth of the way in, then past half
            wait_until(lambda s=share: sum(read_counts(path).values()) >= s * total_first,
                       timeout=30, what=f"{share:.0%} read", interval=0.01)
            runner.send_signal(signal.SIGKILL)
            runner.wait(10)
            kills.append(sum(read_counts(path).values()))
            if share == 0.6:  # more arrives while the reader is down
                produce(kafka_settings, second.records)
            runner = start_runner(kafka_settings, path, log)
        assert all(0 < k < total_first for k in kills), (kills, log.read_text())
        ends = end_offsets(kafka_settings)
        wait_until(lambda: read_offsets(path) == ends, timeout=30,
                   what="every message read after the restarts")
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(10) == 0, log.read_text()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)

    assert read_counts(path) == produced  # each message read once, none lost, none twice
    stats = Store(path).stats()
    assert (stats["articles"], stats["stories"], stats["skipped"]) == (
        produced["articles"], 1500, 0)
    again = rebuilt(kafka_settings, tmp_path / "rebuilt.db")
    assert dump(again.path) == dump(path)
