"""Read a Kafka topic back the plain way, for assertions: every record from the beginning.

::

    records = read_topic(settings.kafka_bootstrap, "t1234.articles")
    assert [orjson.loads(r.value)["title"] for r in records] == [...]

It uses its own consumer with no group, so it never disturbs the consumers under test.
"""

from __future__ import annotations

import time
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
