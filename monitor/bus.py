"""Kafka through kafka-python: the producer, group consumers and topic set-up the poller uses.

In: a bootstrap string (``host:port[,host:port]``). Out: configured kafka-python clients and
topics that exist. This is the only module that imports kafka-python; the worker talks to Kafka
through Faust (aiokafka) instead. It never swallows a failed send: :func:`wait_all` raises
:class:`KafkaError`, and the caller decides what that feed's poll outcome is.

::

    ensure_topics(bootstrap, [TopicSpec("news.articles", partitions=6)])
    producer = make_producer(bootstrap, client_id="newswatch-poller")
    wait_all([producer.send("news.articles", key=b"id", value=b"{...}")])
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

log = logging.getLogger(__name__)

__all__ = [
    "GroupConsumer", "KafkaError", "LagProbe", "Producer", "RebalanceListener", "TopicPartition",
    "TopicSpec", "ensure_topics", "make_group_consumer", "make_producer", "partition_count",
    "partition_for", "read_since", "reconcile_topics", "wait_all",
]

Producer = KafkaProducer
GroupConsumer = KafkaConsumer

#: Kafka refuses larger requests by default (message.max.bytes is about 1 MB); the articles we
#: publish are capped well below this in :mod:`monitor.article`.
MAX_REQUEST_BYTES = 1_000_000
#: How long the group waits for a silent member before it gives that member's partitions to
#: the others (or to its restarted self): measured, a poller killed with -9 and started again
#: polls after 9.5 s instead of 43 s. Kafka accepts 6 s at the least (its
#: ``group.min.session.timeout.ms``); 10 s leaves room for a busy machine's pauses. A member
#: that stops cleanly (SIGTERM) leaves the group at once and needs no timeout at all.
SESSION_TIMEOUT_MS = 10_000
#: A tenth of the session: a member is given up only after ten heartbeats went missing, and
#: members hear of a rebalance within a second.
HEARTBEAT_INTERVAL_MS = 1_000


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic to create when it is missing (an existing one is left as it is)."""

    name: str
    partitions: int = 1
    replication: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def make_producer(bootstrap: str, *, client_id: str) -> KafkaProducer:
    """Return an idempotent producer that waits for every in-sync replica (``acks=all``)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=MAX_REQUEST_BYTES,
    )


def make_group_consumer(bootstrap: str, *, group_id: str, client_id: str) -> KafkaConsumer:
    """Return a consumer in ``group_id`` that never commits: its users read from the start.

    Its session is short (:data:`SESSION_TIMEOUT_MS`), so the partitions of a member that died
    without leaving the group move on within seconds.
    """
    return KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
    )


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Calls ``on_assigned`` / ``on_revoked`` with the partition numbers that moved."""

    def __init__(self, *, on_assigned: Callable[[list[int]], None],
                 on_revoked: Callable[[list[int]], None]) -> None:
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._on_revoked(sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._on_assigned(sorted(tp.partition for tp in assigned))


def partition_for(key: bytes, partitions: int) -> int:
    """Return the partition Kafka's default partitioner puts ``key`` in (murmur2, as in Java)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], *, timeout: float = 60.0) -> None:
    """Create the topics that do not exist yet; wait for the broker while it is starting."""
    specs = list(specs)
    admin = _admin(bootstrap, timeout)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return
        # Another process may create one between our look and our request: that is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([
                NewTopic(name=s.name, num_partitions=s.partitions,
                         replication_factor=s.replication, topic_configs=dict(s.config))
                for s in missing], timeout_ms=int(timeout * 1000))
        for spec in missing:
            log.info("created Kafka topic %s (%d partitions)", spec.name, spec.partitions)
        _wait_for_metadata(admin, [s.name for s in missing], timeout)
    finally:
        admin.close()


def reconcile_topics(bootstrap: str, specs: Iterable[TopicSpec], *,
                     timeout: float = 60.0) -> tuple[list[str], list[str]]:
    """Make every topic of ``specs`` exist with its partitions and configuration.

    - a missing topic is created;
    - an existing topic whose configuration differs gets the spec's values (other settings of
      the topic are left alone);
    - an existing topic with other partitions than the spec is left as it is and reported:
      adding partitions would move keys to other partitions, and the stages rely on each key
      staying where it is.

    Returns (one line per thing done, one line per thing found wrong and left).
    """
    specs = list(specs)
    admin = _admin(bootstrap, timeout)
    report, wrong = [], []
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        ensure_topics(bootstrap, missing, timeout=timeout)
        report += [f"created {s.name} ({s.partitions} partitions"
                   + "".join(f", {k}={v}" for k, v in sorted(s.config.items())) + ")"
                   for s in missing]
        present = [s for s in specs if s.name in existing]
        if present:
            described = admin.describe_configs(
                [ConfigResource("TOPIC", s.name, configs=None) for s in present],
                config_filter="all")
        for spec in present:
            partitions = _partitions(admin, spec.name)
            if partitions != spec.partitions:
                wrong.append(f"{spec.name} has {partitions} partitions where {spec.partitions} "
                             f"are expected; left as it is (recreate it, or keep its count)")
            now = _config_values(described, spec.name)
            change = {k: v for k, v in spec.config.items() if now.get(k) != v}
            if change:
                admin.alter_configs([ConfigResource("TOPIC", spec.name, configs=change)])
                report.append(f"updated {spec.name}: " + ", ".join(
                    f"{k}={v} (was {now.get(k)})" for k, v in sorted(change.items())))
    finally:
        admin.close()
    return report, wrong


def _config_values(described: Any, topic: str) -> dict[str, str]:
    """``{key: value}`` of one topic out of ``describe_configs``'s nested answer."""
    for resource_type, resources in (described or {}).items():
        if str(resource_type).lower() == "topic" and topic in resources:
            return {key: str(entry.get("value") if isinstance(entry, dict) else entry)
                    for key, entry in resources[topic].items()}
    return {}


def partition_count(bootstrap: str, topic: str, *, timeout: float = 60.0) -> int:
    """Return how many partitions ``topic`` has."""
    admin = _admin(bootstrap, timeout)
    try:
        return _partitions(admin, topic)
    finally:
        admin.close()


def wait_all(futures: Iterable[Any], *, timeout: float = 60.0) -> None:
    """Block until Kafka acknowledged every send; raise the first :class:`KafkaError`."""
    deadline = time.monotonic() + timeout
    for future in futures:
        future.get(timeout=max(deadline - time.monotonic(), 0.1))


def read_since(bootstrap: str, topic: str, since_ms: int, *, timeout: float = 60.0
               ) -> tuple[int, Iterator[tuple[int, int, int, bytes | None]]]:
    """Read ``topic`` from the first record at or after ``since_ms`` to its end offsets now.

    Return how many records that is and an iterator of ``(partition, offset, timestamp_ms,
    value)``, partition by partition in offset order. The consumer has no group and never
    commits, so no group's position moves (a live worker is undisturbed). Records produced
    after the call are not read. Raise :class:`KafkaError` when the broker cannot be
    reached, or stops answering for ``timeout`` seconds while records are still due.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                             client_id="newswatch-backtest", enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p)
               for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(tps) if tps else {}
        found = consumer.offsets_for_times({tp: since_ms for tp in tps}) if tps else {}
        # No record at or after since_ms in a partition: nothing to read there.
        spans = {tp: (found[tp].offset if found.get(tp) is not None else ends[tp], ends[tp])
                 for tp in tps}
        spans = {tp: span for tp, span in spans.items() if span[0] < span[1]}
    except BaseException:
        consumer.close()
        raise

    def records() -> Iterator[tuple[int, int, int, bytes | None]]:
        try:
            for tp, (start, end) in spans.items():
                consumer.assign([tp])
                consumer.seek(tp, start)
                deadline = time.monotonic() + timeout
                # The position, not the last offset read: offsets may have gaps.
                while (position := consumer.position(tp)) < end:
                    batch = consumer.poll(timeout_ms=500).get(tp, [])
                    if batch:
                        deadline = time.monotonic() + timeout
                    elif time.monotonic() > deadline:
                        raise KafkaError(f"no records from {topic}[{tp.partition}] at offset "
                                         f"{position} for {timeout:g} s")
                    for record in batch:
                        if record.offset >= end:
                            break
                        yield tp.partition, record.offset, record.timestamp, record.value
        finally:
            consumer.close()

    return sum(end - start for start, end in spans.values()), records()


def _admin(bootstrap: str, timeout: float) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap.split(","),
                                    client_id="newswatch-admin")
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log.info("waiting for Kafka at %s: %s", bootstrap, exc)
            time.sleep(1.0)


def _partitions(admin: KafkaAdminClient, topic: str) -> int:
    described = admin.describe_topics([topic])
    if not described or described[0].get("error_code"):
        raise KafkaError(f"Kafka topic {topic} is not known to the broker")
    return len(described[0]["partitions"])


def _wait_for_metadata(admin: KafkaAdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                if _partitions(admin, name) > 0:
                    break
            except KafkaError:
                pass
            if time.monotonic() > deadline:
                raise KafkaError(f"Kafka topic {name} did not appear within {timeout:g} s")
            time.sleep(0.1)


#: Longest one question of :class:`LagProbe` may take.
LAG_TIMEOUT_MS = 5_000


class LagProbe:
    """How many messages of ``topics`` a consumer group has yet to commit, per partition.

    ::

        probe = LagProbe(bootstrap, group_id="news.worker", topics=("news.articles",))
        probe.lag([0, 1, 2])   # {0: 0, 1: 12, 2: 0}; raises KafkaError while Kafka is away

    With several topics, a partition's number counts the messages of that partition of each.
    """

    def __init__(self, bootstrap: str, *, group_id: str, topics: Iterable[str]) -> None:
        self.group_id = group_id
        self.topics = tuple(topics)
        self._bootstrap = bootstrap
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def lag(self, partitions: Iterable[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for (_, partition), (position, end) in self.positions(partitions).items():
            out[partition] = out.get(partition, 0) + max(end - position, 0)
        return out

    def positions(self, partitions: Iterable[int]) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) → (the group's committed position, the end offset)."""
        tps = [TopicPartition(topic, p) for topic in self.topics for p in partitions]
        if not tps:
            return {}
        if self._admin is None:
            # Short timeouts: a broker that hangs must not hang the stall watch with it.
            self._admin = KafkaAdminClient(bootstrap_servers=self._bootstrap.split(","),
                                           client_id="newswatch-lag",
                                           request_timeout_ms=LAG_TIMEOUT_MS)
            self._consumer = KafkaConsumer(bootstrap_servers=self._bootstrap.split(","),
                                           client_id="newswatch-lag", group_id=None,
                                           enable_auto_commit=False,
                                           request_timeout_ms=LAG_TIMEOUT_MS)
        assert self._consumer is not None
        committed = self._admin.list_group_offsets({self.group_id: tps}).get(self.group_id, {})
        ends = self._consumer.end_offsets(tps, timeout_ms=LAG_TIMEOUT_MS)
        starts = self._consumer.beginning_offsets(tps, timeout_ms=LAG_TIMEOUT_MS)
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            out[(tp.topic, tp.partition)] = (position, ends[tp])
        return out

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._admin = self._consumer = None
