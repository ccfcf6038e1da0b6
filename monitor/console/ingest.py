"""The console's Kafka reader: stories, alerts, matches, feedback and a window of articles.

In: :class:`~monitor.config.Settings` (bootstrap, topic names) and a
:class:`~monitor.console.store.Store`. Out: rows in the store, each batch applied with its
offsets in one transaction; ``caught_up`` once it has read what Kafka held when it started;
:meth:`Ingest.lag`. It never writes to Kafka, never commits and never creates a topic.

- No consumer group: it assigns itself every partition of the five topics and seeks to the
  offsets in the store, so no worker's group rebalances because of it, a stalled worker never
  holds it back, and a deleted store file is rebuilt by replay.
- A partition never read starts at its beginning; a partition of ``news.articles`` at its
  first record of the window (``now - window``, by record timestamp). Either start is written
  to the store at once, so that a restart carries on from there.
- Topics that do not exist yet are waited for (the worker or ``newswatch create-topics``
  makes them): looked for again every few seconds, logged once.
- A record that cannot be decoded is the store's business (skipped, counted, logged). Anything
  else that goes wrong ends the thread with the exception in ``failed`` and a log record: the
  process should then exit, so that its supervisor starts it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor import bus
from monitor.config import Settings
from monitor.console.store import KINDS, Record, Store

log = logging.getLogger(__name__)

#: Records applied in one transaction at most.
BATCH = 500
#: Seconds one poll waits for records (and so the longest :meth:`Ingest.stop` waits).
POLL_SECONDS = 0.5
#: Seconds between looks for missing topics, or between attempts to reach Kafka.
RETRY_SECONDS = 3.0
#: How often articles that left the window are deleted.
PRUNE_EVERY = timedelta(hours=1)


class Ingest(threading.Thread):
    """Read Kafka into the store until :meth:`stop`; see the module docstring.

    ::

        ingest = Ingest(settings, store, window=timedelta(days=7))
        ingest.start()
        ingest.caught_up.wait(60)      # set once what Kafka held at the start is stored
        ingest.lag()                   # records Kafka holds that the store does not, yet
        ingest.stop(); ingest.join()
    """

    def __init__(self, settings: Settings, store: Store, *,
                 window: timedelta | None = None) -> None:
        super().__init__(name="console-ingest", daemon=True)
        self.settings = settings
        self.store = store
        self.window = window if window is not None else store.window
        self.caught_up = threading.Event()
        #: Why the thread ended, when it ended on its own.
        self.failed: BaseException | None = None
        self._stopping = threading.Event()
        self._kinds = {settings.topic(kind): kind for kind in KINDS}
        self._lag = -1

    def stop(self) -> None:
        """Ask the thread to finish; it closes its consumer within about a poll."""
        self._stopping.set()

    def lag(self) -> int:
        """Records on Kafka not in the store yet, as of the latest poll (-1 before the first)."""
        return self._lag

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.failed = exc
            log.critical("the console's Kafka reader stopped: %s", exc, exc_info=True)
        finally:
            self.store.close()

    def _run(self) -> None:
        consumer = self._connect()
        if consumer is None:
            return
        try:
            partitions = self._wait_for_topics(consumer)
            if partitions is None:
                return
            ends = self._start(consumer, partitions)
            if ends is None:
                return
            pruned = time.monotonic()
            self.store.prune(datetime.now(UTC))
            measured = 0.0
            while not self._stopping.is_set():
                polled = consumer.poll(timeout_ms=int(POLL_SECONDS * 1000), max_records=BATCH)
                batch: list[Record] = [
                    (self._kinds[tp.topic], tp.partition, r.offset, r.key, r.value, r.timestamp)
                    for tp, records in polled.items() for r in records]
                if batch:
                    self.store.apply(batch)
                if not batch or time.monotonic() - measured > POLL_SECONDS:
                    self._measure(consumer, partitions, ends)
                    measured = time.monotonic()
                if time.monotonic() - pruned > PRUNE_EVERY.total_seconds():
                    gone = self.store.prune(datetime.now(UTC))
                    pruned = time.monotonic()
                    log.info("pruned %d articles and matches older than the window", gone)
        finally:
            consumer.close()

    def _connect(self) -> Any:
        """A consumer without a group (``None`` when stopped before Kafka answered)."""
        said = False
        while not self._stopping.is_set():
            try:
                # GroupConsumer is kafka-python's consumer; group_id=None leaves every group
                # out of it: partitions are assigned by hand and nothing is committed.
                return bus.GroupConsumer(
                    bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                    client_id="newswatch-console", group_id=None, enable_auto_commit=False,
                    auto_offset_reset="earliest", allow_auto_create_topics=False,
                    max_poll_records=BATCH, bootstrap_timeout_ms=int(RETRY_SECONDS * 1000))
            except bus.KafkaError as exc:
                if not said:
                    log.warning("waiting for Kafka at %s: %s (trying every %g s)",
                                self.settings.kafka_bootstrap, exc, RETRY_SECONDS)
                    said = True
                self._stopping.wait(RETRY_SECONDS)
        return None

    def _wait_for_topics(self, consumer: Any) -> list[bus.TopicPartition] | None:
        said = False
        while not self._stopping.is_set():
            try:
                existing = consumer.topics()
            except bus.KafkaError as exc:
                log.warning("cannot list Kafka topics: %s", exc)
                existing = set()
            missing = sorted(t for t in self._kinds if t not in existing)
            if not missing:
                return [bus.TopicPartition(topic, p) for topic in self._kinds
                        for p in sorted(consumer.partitions_for_topic(topic))]
            if not said:
                log.warning("waiting for Kafka topics %s (the worker or newswatch "
                            "create-topics makes them); looking again every %g s",
                            ", ".join(missing), RETRY_SECONDS)
                said = True
            self._stopping.wait(RETRY_SECONDS)
        return None

    def _start(self, consumer: Any, partitions: Sequence[bus.TopicPartition]
               ) -> dict[bus.TopicPartition, int] | None:
        """Assign, find where each partition starts, seek; return the end offsets now."""
        consumer.assign(list(partitions))
        while not self._stopping.is_set():
            try:
                stored = self.store.offsets()
                ends: dict[bus.TopicPartition, int] = consumer.end_offsets(list(partitions))
                fresh = [tp for tp in partitions if (self._kinds[tp.topic], tp.partition)
                         not in stored]
                starts = self._starts(consumer, fresh, ends)
                break
            except bus.KafkaError as exc:
                log.warning("cannot read offsets from Kafka: %s (trying again in %g s)",
                            exc, RETRY_SECONDS)
                self._stopping.wait(RETRY_SECONDS)
        else:
            return None
        self.store.begin_at({(self._kinds[tp.topic], tp.partition): offset
                             for tp, offset in starts.items()})
        behind = 0
        for tp in partitions:
            key = (self._kinds[tp.topic], tp.partition)
            offset = stored[key] if key in stored else starts[tp]
            consumer.seek(tp, offset)
            behind += max(ends[tp] - offset, 0)
        log.info("console reading %d partitions of %d topics, %d records behind",
                 len(partitions), len(self._kinds), behind)
        return ends

    def _starts(self, consumer: Any, fresh: Sequence[bus.TopicPartition],
                ends: dict[bus.TopicPartition, int]) -> dict[bus.TopicPartition, int]:
        """Where partitions never read begin: the window for articles, else the beginning."""
        articles = [tp for tp in fresh if self._kinds[tp.topic] == "articles"]
        others = [tp for tp in fresh if self._kinds[tp.topic] != "articles"]
        starts: dict[bus.TopicPartition, int] = {}
        if others:
            starts.update(consumer.beginning_offsets(others))
        if articles:
            since = int((datetime.now(UTC) - self.window).timestamp() * 1000)
            found = consumer.offsets_for_times(dict.fromkeys(articles, since))
            for tp in articles:
                # No record since then: nothing of this partition is in the window yet.
                hit = found.get(tp)
                starts[tp] = hit.offset if hit is not None else ends[tp]
        return starts

    def _measure(self, consumer: Any, partitions: Sequence[bus.TopicPartition],
                 ends: dict[bus.TopicPartition, int]) -> None:
        positions = {tp: consumer.position(tp) for tp in partitions}
        lag = 0
        for tp, position in positions.items():
            high = consumer.highwater(tp)
            lag += max((high if high is not None else ends[tp]) - (position or 0), 0)
        self._lag = lag
        if not self.caught_up.is_set() and all(
                (positions[tp] or 0) >= ends[tp] for tp in partitions):
            stats = self.store.stats()
            log.info("console caught up: %d stories, %d articles, %d alerts, %d feedback",
                     stats["stories"], stats["articles"], stats["alerts"], stats["feedback"])
            self.caught_up.set()
