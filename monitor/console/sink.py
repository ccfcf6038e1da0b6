"""Where an analyst's feedback goes: ``news.feedback`` first, then the console's own store.

In: a :class:`~monitor.feedback.Feedback` from a page. Out: the message on the compacted
``news.feedback`` topic (keyed by :meth:`Feedback.key`, so compaction keeps each analyst's
latest word), acknowledged by Kafka; then the same feedback applied to the store, so the page
shows it at once rather than when the ingest reads it back (applying it again then changes
nothing).

It never applies feedback Kafka did not take: a page that gets :class:`FeedbackNotRecorded`
says so, and the store shows nothing that a rebuild from Kafka would not.
"""

from __future__ import annotations

import threading

from monitor import bus
from monitor.console.store import Store
from monitor.feedback import Feedback

#: Seconds Kafka has to acknowledge one piece of feedback before the page is told it failed.
SEND_TIMEOUT = 10.0


class FeedbackNotRecorded(Exception):
    """Kafka did not take the feedback; nothing was recorded. The text says why."""


class FeedbackSink:
    """Send feedback to Kafka and wait for the ack, then apply it to the store.

    The producer is made on the first :meth:`send`, so a console starts while Kafka is away;
    one producer serves every page thread (kafka-python's producer is thread-safe).
    """

    def __init__(self, bootstrap: str, topic: str, store: Store, *,
                 timeout: float = SEND_TIMEOUT) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.store = store
        self.timeout = timeout
        self._producer: bus.Producer | None = None
        self._lock = threading.Lock()

    def send(self, fb: Feedback) -> None:
        """Record ``fb``; raise :class:`FeedbackNotRecorded` when Kafka did not take it."""
        try:
            producer = self._connected()
            bus.wait_all([producer.send(self.topic, key=fb.key(), value=fb.to_json())],
                         timeout=self.timeout)
        except bus.KafkaError as exc:
            raise FeedbackNotRecorded(
                f"Kafka at {self.bootstrap} did not take the feedback: {exc}") from exc
        self.store.apply_feedback(fb)

    def close(self) -> None:
        """Close the producer (what was acknowledged is already on Kafka)."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self.timeout)
                self._producer = None

    def _connected(self) -> bus.Producer:
        with self._lock:
            if self._producer is None:
                # As bus.make_producer, but an analyst waits on it: neither reaching Kafka nor
                # learning where the topic lives may take longer than the send itself.
                wait_ms = int(self.timeout * 1000)
                self._producer = bus.Producer(
                    bootstrap_servers=self.bootstrap.split(","),
                    client_id="newswatch-console", acks="all", enable_idempotence=True,
                    max_request_size=bus.MAX_REQUEST_BYTES, bootstrap_timeout_ms=wait_ms,
                    max_block_ms=wait_ms)
            return self._producer
