"""Read a Kafka topic back the plain way, for assertions: every record from the beginning.

::

    records = read_topic(settings.kafka_bootstrap, "t1234.articles")
    assert [orjson.loads(r.value)["title"] for r in records] == [...]

    with TopicTail(settings.kafka_bootstrap, "t1234.matches") as tail:
        tail.poll()                 # what arrived since the last call; tail.records: all so far

Each reader uses its own consumer with no group, so it never disturbs the consumers under test.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_topic(bootstrap: str, topic: str, *, timeout: float = 30.0) -> list[Any]:
    """Return every record now on ``topic``, in partition then offset order ([] if none)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: dict[int, list[Any]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within {timeout} s")
            for tp, batch in consumer.poll(timeout_ms=200).items():
                records[tp.partition].extend(batch)
        return [r for p in sorted(records) for r in records[p]]
    finally:
        consumer.close()


def wait_for_records(bootstrap: str, topic: str, count: int, *,
                     timeout: float = 60.0) -> list[Any]:
    """Poll ``topic`` until it holds at least ``count`` records; return them all."""
    deadline = time.monotonic() + timeout
    while True:
        records = read_topic(bootstrap, topic)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.25)


class TopicTail:
    """Follow a topic from its beginning, for a test that watches outputs while they appear.

    - ``poll()`` returns the records that arrived since the last call and appends them to
      ``records``; each record's ``timestamp`` is the producer's, in milliseconds.
    - A topic that does not exist yet reads as empty (and is never created by reading it);
      once it exists, every partition is read from offset 0.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.records: list[Any] = []
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                                       enable_auto_commit=False,
                                       allow_auto_create_topics=False)

    def poll(self, timeout: float = 0.2) -> list[Any]:
        """Read what arrived since the last call, waiting at most ``timeout`` s for it."""
        if not self._consumer.assignment():
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions:
                return []
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            self._consumer.assign(tps)
            self._consumer.seek_to_beginning(*tps)
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        new = [r for tp in sorted(batches) for r in batches[tp]]
        self.records.extend(new)
        return new

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
