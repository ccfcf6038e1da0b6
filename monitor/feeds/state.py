"""What each feed's poller remembers, kept in Kafka, and which poller owns which feed.

In: the compacted Kafka topic ``news.poller.state`` (key: feed id, value: :class:`FeedState`
as JSON). Out: the state of the feeds this process owns, and new states written back after each
successful poll. It never keeps anything on local disk: a poller restarted on another machine
reads its feeds' state back from Kafka and republishes nothing.

Ownership: every poller joins one consumer group on the state topic. Kafka assigns each member
some of the topic's partitions; a poller polls exactly the feeds whose key hashes (Kafka's own
murmur2 partitioner) to a partition it holds. So two pollers never poll the same feed, a third
one takes its share at the next rebalance, and a dead one's feeds move to the survivors after
the group's session timeout. The partition count caps how many pollers can share the work.

On assignment a poller reads its new partitions from the beginning up to their end offsets
before it polls any of their feeds; after that it is the only writer of those keys, so it no
longer applies what it reads back (its in-memory state is newer).

Failures, and who sees them:

- a state write Kafka refuses (at once, or later on the producer's I/O thread) is logged with
  the feed id and reported to the writer's ``on_failed``; it never raises into the poll, whose
  articles are already published (the cost is a re-publish after a restart, dropped by the
  worker as exact duplicates);
- the group thread ending on an error is logged once with its stack trace; from then on
  :meth:`FeedOwnership.alive` is False and the poller exits for its supervisor to restart it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor import bus
from monitor.config import Settings

log = logging.getLogger(__name__)

STATE_PARTITIONS = 12
#: How many article ids a feed's state remembers beyond those in its latest document.
SEEN_CAP = 2000
#: Longest a lookup on the consumer thread may block (see ``_start_loading``).
LOOKUP_TIMEOUT_MS = 2000


class FeedState(BaseModel):
    """A feed's memory between polls."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    seen: tuple[str, ...] = ()
    last_success: float | None = None
    failures: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def remember(self, current: Iterable[str]) -> tuple[str, ...]:
        """Return the seen ids to keep: the current document's, then the most recent others.

        Older ids are kept (up to ``SEEN_CAP``) because feeds re-surface items they dropped a
        poll ago; without them an item that flaps in and out would be published again.
        """
        current = list(dict.fromkeys(current))
        now = set(current)
        older = [i for i in self.seen if i not in now]
        room = max(SEEN_CAP - len(current), 0)
        return tuple(older[-room:] if room else []) + tuple(current)


class FeedOwnership:
    """Group membership on the state topic, run in one background thread.

    ``owns(feed_id)`` is true only once the feed's partition is assigned *and* loaded.
    """

    def __init__(self, settings: Settings, *, group_id: str | None = None) -> None:
        self.topic = settings.topic("poller.state")
        self._settings = settings
        self._group_id = group_id or f"{settings.topic_namespace}.pollers"
        self._lock = threading.Lock()
        self._states: dict[str, FeedState] = {}
        self._loaded: set[int] = set()
        self._loading: dict[int, int] = {}   # partition -> end offset at assignment
        self._pending: list[int] = []        # assigned, end offsets not asked for yet
        self._rebalancing = False            # revoked, not assigned again yet
        self._revoked_at = 0.0               # time.monotonic() of the last revocation
        self._partitions = STATE_PARTITIONS
        self._stop = threading.Event()
        self._assigned_once = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer = bus.make_producer(settings.kafka_bootstrap, client_id="newswatch-poller")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        bus.ensure_topics(self._settings.kafka_bootstrap, [
            bus.TopicSpec(self.topic, partitions=STATE_PARTITIONS,
                          config={"cleanup.policy": "compact"})])
        self._partitions = bus.partition_count(self._settings.kafka_bootstrap, self.topic)
        self._thread = threading.Thread(target=self._run, name="feed-ownership", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until an assignment is loaded and no rebalance runs; False on timeout."""
        deadline = time.monotonic() + timeout
        # Waited for in short steps: a group thread that died will never assign anything, and
        # the caller should hear so now rather than after the whole timeout.
        while not self._assigned_once.wait(min(0.2, max(deadline - time.monotonic(), 0))):
            if not self.alive() or time.monotonic() >= deadline:
                return False
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            with self._lock:
                if not (self._loading or self._pending or self._rebalancing):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._producer.flush(timeout=30)
        self._producer.close(timeout=10)

    # -- queries ---------------------------------------------------------------------------
    def status(self) -> tuple[bool, str]:
        """Return (ready, why): ready once its assignment is loaded and no rebalance runs."""
        if self._thread is not None and not self._thread.is_alive():
            return False, "the Kafka group thread stopped"
        with self._lock:
            if self._rebalancing:
                return False, (f"rebalancing: feeds revoked "
                               f"{time.monotonic() - self._revoked_at:.0f} s ago")
            if self._pending or self._loading:
                return False, (f"loading the state of "
                               f"{len(self._pending) + len(self._loading)} partitions")
            if not self._assigned_once.is_set():
                return False, "waiting for Kafka to assign state partitions"
            return True, (f"polling the feeds of {len(self._loaded)} of {self._partitions} "
                          f"state partitions")

    def alive(self) -> bool:
        """False once the group thread has stopped (or before :meth:`start`)."""
        return self._thread is not None and self._thread.is_alive()

    def stalled_for(self) -> float:
        """Seconds since this member's feeds were revoked with no new assignment (0: none)."""
        with self._lock:
            return time.monotonic() - self._revoked_at if self._rebalancing else 0.0

    def partition_of(self, feed_id: str) -> int:
        return bus.partition_for(feed_id.encode(), self._partitions)

    def owns(self, feed_id: str) -> bool:
        with self._lock:
            return self.partition_of(feed_id) in self._loaded

    def get(self, feed_id: str) -> FeedState:
        with self._lock:
            return self._states.get(feed_id) or FeedState(feed_id=feed_id)

    def put(self, state: FeedState, *,
            on_failed: Callable[[BaseException], None] | None = None) -> None:
        """Remember ``state`` here and write it to Kafka without waiting; never raise for Kafka.

        A write can fail at once (no metadata for the topic within the producer's
        ``max_block_ms``, a closed producer) or later, on the producer's I/O thread (a delivery
        timeout, a broker refusing the record). Either way it is logged with the feed id and
        ``on_failed`` is called with the error, possibly on that other thread. The in-memory
        state is kept regardless, so this process does not publish the feed's items again.
        """
        with self._lock:
            self._states[state.feed_id] = state

        def failed(exc: BaseException) -> None:
            log.error("feed %s: writing its state to %s failed: %r; after a restart its items "
                      "may be published again", state.feed_id, self.topic, exc,
                      extra={"feed_id": state.feed_id})
            if on_failed is not None:
                on_failed(exc)

        try:
            future = self._producer.send(self.topic, key=state.feed_id.encode(),
                                         value=state.to_json())
        except bus.KafkaError as exc:
            failed(exc)
            return
        # Called at once if the send has already failed (kafka-python returns some refusals,
        # such as a record too large, as a failed future rather than raising).
        future.add_errback(failed)

    def flush(self, timeout: float = 30.0) -> None:
        self._producer.flush(timeout=timeout)

    # -- the consumer thread ---------------------------------------------------------------
    def _run(self) -> None:
        consumer: bus.GroupConsumer | None = None
        try:
            consumer = bus.make_group_consumer(
                self._settings.kafka_bootstrap, group_id=self._group_id,
                client_id="newswatch-poller")
            self._join(consumer)
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                self._start_loading(consumer)
                for tp, records in batches.items():
                    if tp.partition in self._loading:
                        for record in records:
                            self._apply(record.key, record.value)
                self._check_loaded(consumer)
        except Exception:
            # Logged here, with its stack trace, and not raised again: a re-raise would only
            # print the same trace a second time. The poll loop sees alive() turn False and
            # exits, so the supervisor restarts this poller.
            log.exception("feed ownership loop failed; this poller stops polling")
            with self._lock:
                self._loaded.clear()
        finally:
            if consumer is not None:
                consumer.close()

    def _join(self, consumer: bus.GroupConsumer) -> None:
        consumer.subscribe([self.topic], listener=bus.RebalanceListener(
            on_assigned=self._assigned, on_revoked=self._revoked))
        # Know the topic's partitions before joining: a group leader whose metadata lacks the
        # topic would assign nobody anything, and this poller would believe it owns no feed.
        # Ask after subscribing: kafka-python's leader compares its assignment with the
        # metadata it last saw for its subscription. Asked before, that was still empty, so
        # every start ended in a second rebalance, and in one start of about forty under load
        # the client never finished it (heartbeats off, dropped from the group, no assignment).
        deadline = time.monotonic() + 60
        while self.topic not in consumer.topics() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _assigned(self, partitions: list[int]) -> None:
        # Called on the client's network thread, where no blocking call is allowed: the
        # partitions are loaded by the poll loop, right after the poll that assigned them.
        with self._lock:
            self._pending.extend(partitions)
            self._rebalancing = False
        log.info("assigned state partitions %s", sorted(partitions))
        if not partitions:
            self._assigned_once.set()  # a member with nothing to poll is ready all the same

    def _start_loading(self, consumer: bus.GroupConsumer) -> None:
        with self._lock:
            # Left in _pending until they are loading, so wait_ready never sees a gap.
            pending = list(self._pending)
        if not pending:
            return
        # The group never commits, so a newly assigned partition is read from its beginning
        # (auto_offset_reset=earliest): everything up to today's end offset is its state.
        tps = [bus.TopicPartition(self.topic, p) for p in pending]
        try:
            # Bounded, like every call here: while this thread blocks it cannot rejoin the
            # group, and a rebalance in progress would wait for it forever.
            ends = consumer.end_offsets(tps, timeout_ms=LOOKUP_TIMEOUT_MS)
        except bus.KafkaError as exc:
            log.info("end offsets of state partitions not known yet (%s); retrying", exc)
            return
        with self._lock:
            for tp in tps:
                if tp.partition in self._pending:  # not revoked meanwhile
                    self._pending.remove(tp.partition)
                    self._loading[tp.partition] = ends.get(tp, 0)
        self._assigned_once.set()

    def _revoked(self, partitions: list[int]) -> None:
        with self._lock:
            for p in partitions:
                self._loaded.discard(p)
                self._loading.pop(p, None)
            self._pending = [p for p in self._pending if p not in partitions]
            self._rebalancing = True
            self._revoked_at = time.monotonic()
        log.info("revoked state partitions %s", sorted(partitions))

    def _check_loaded(self, consumer: bus.GroupConsumer) -> None:
        if not self._loading:
            return
        done = []
        for partition, end in list(self._loading.items()):
            try:
                position = consumer.position(bus.TopicPartition(self.topic, partition),
                                             timeout_ms=LOOKUP_TIMEOUT_MS)
            except bus.KafkaError:
                continue  # revoked meanwhile, or a rebalance is running: ask again next loop
            if position is not None and position >= end:
                done.append(partition)
        if done:
            with self._lock:
                for p in done:
                    self._loading.pop(p, None)
                    self._loaded.add(p)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        feed_id = key.decode("utf-8", "replace")
        with self._lock:
            if value is None:
                self._states.pop(feed_id, None)
                return
            try:
                self._states[feed_id] = FeedState.model_validate_json(value)
            except ValidationError as exc:
                # An unreadable state only costs a re-publish of that feed's items, which the
                # tagging stage drops as exact duplicates; never stop the poller for it.
                log.warning("ignoring unreadable state for feed %s: %s", feed_id,
                            exc.errors()[0]["msg"])
