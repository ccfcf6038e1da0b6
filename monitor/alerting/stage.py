"""The alert stages as the worker runs them: route, decide, deliver, record.

- :func:`route_story`: one ``news.stories`` message in; one ``news.alerts.pending`` request out
  per subscriber who watches its watch topic (key: the subscriber id, so each subscriber's
  decisions are made by one worker, in order).
- :class:`AlertDesk`: one ``news.alerts.pending`` message in (a story event for a subscriber,
  or a tick); the policy (:mod:`monitor.alerting.policy`) decides; each resulting message is
  stored as a pending delivery *in the same write* as the decision, then handed to the
  :class:`~monitor.alerting.deliver.Dispatcher`; when a channel accepts it, the pending
  delivery is replaced by its record, and the record goes to ``news.alerts``.

Why it loses nothing and repeats nothing: a decision and the deliveries it makes are one
stored write, confirmed before the input is acknowledged, and a delivery starts only once that
write is confirmed; a worker that starts (after a crash, or on a rebalance) finds the pending
deliveries in the store and sends them (on the first tick), and finds the decision, so the same
input read again decides nothing. Only a crash in the moment between a channel's acceptance
and the record's confirmation sends a message twice; email and webhooks then carry the same
``Message-ID`` / delivery id, so receivers can tell.

The store is the worker's table (keys below); writes name their partition, so the background
record lands in the subscriber's partition like the decisions. Faust-free: ``app.py`` wires it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from monitor.alerting.channels import Channel
from monitor.alerting.deliver import Delivery, Dispatcher, Outcome, delivery_key
from monitor.alerting.notice import Notice, channel_kind
from monitor.alerting.policy import Ledger, StoryMark, on_event, on_tick
from monitor.alerting.subscribers import Corroboration, Subscriber, Subscribers
from monitor.article import (
    AlertRecord,
    AlertRequest,
    MessageError,
    StoryEvent,
    as_utc,
)
from monitor.metrics import AlertMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")

# Keys of the store: a subscriber's ledger head, its story marks, its pending deliveries, and
# the thread each channel returned for a story's first message.
HEAD, MARK, DELIVERY, THREAD = b"h", b"m", b"d", b"t"


def _key(kind: bytes, *parts: str) -> bytes:
    return b"\0".join((kind, *(p.encode("utf-8") for p in parts)))


class Store(Protocol):
    """The table: reads as a mapping; writes name their partition and return a future."""

    def get(self, key: bytes) -> Any: ...
    def items(self) -> Iterable[tuple[bytes, Any]]: ...
    def put(self, partition: int, key: bytes, value: Any) -> Any: ...
    def drop(self, partition: int, key: bytes) -> Any: ...


@dataclass(frozen=True)
class Routed:
    """The requests to send for one story event, or why it could not be read."""

    requests: list[tuple[bytes, bytes]]
    topic_id: str | None = None
    error: str | None = None


def route_story(value: bytes | None, subscribers: Subscribers, now: datetime) -> Routed:
    """One ``news.stories`` message: a request for each subscriber who watches its topic."""
    if value is None:
        return Routed([], error="empty message (no value)")
    try:
        event = StoryEvent.from_json(value)
    except MessageError as exc:
        return Routed([], error=str(exc))
    topic_id = event.story.topic_id
    return Routed([(s.id.encode(), AlertRequest(kind="story", subscriber_id=s.id, event=event,
                                                 at=now).to_json())
                   for s in subscribers.watching(topic_id)], topic_id)


def tick(now: datetime) -> bytes:
    """The value of a tick request."""
    return AlertRequest(kind="tick", at=now).to_json()


class AlertDesk:
    """Decides and delivers for the subscribers of the partitions this worker holds."""

    def __init__(self, store: Store, *, subscribers: Callable[[], Subscribers],
                 dispatcher_for: Callable[[AlertDesk], Dispatcher],
                 emit: Callable[[str, bytes, bytes], Awaitable[Any]],
                 metrics: AlertMetrics,
                 topic_corroboration: Callable[[str], Corroboration | None] = lambda t: None,
                 ) -> None:
        self.store = store
        self.topic_corroboration = topic_corroboration
        self.subscribers = subscribers
        self.emit = emit
        self.metrics = metrics
        self.dispatcher = dispatcher_for(self)
        self._ledgers: dict[str, Ledger] = {}

    def forget(self) -> None:
        """After a rebalance: the store may now hold other subscribers; read it again."""
        self._ledgers.clear()

    # -- input -------------------------------------------------------------------------------
    def take(self, value: bytes | None, partition: int, now: datetime) -> str | None:
        """Process one ``news.alerts.pending`` message; return why it is unreadable, if so."""
        if value is None:
            return "empty message (no value)"
        try:
            request = AlertRequest.from_json(value)
        except MessageError as exc:
            return str(exc)
        if request.kind == "tick":
            self._tick(partition, now)
            return None
        subscriber = self.subscribers().get(request.subscriber_id)
        if subscriber is None:
            self.metrics.decisions.labels("unsubscribed").inc()
            return None
        assert request.event is not None
        ledger = self._ledger(subscriber.id, partition)
        notices = on_event(subscriber, ledger, request.event, now, self.topic_corroboration)
        self._commit(subscriber, ledger, notices)
        return None

    def _tick(self, partition: int, now: datetime) -> None:
        subscribers = self.subscribers()
        for key, value in list(self.store.items()):
            kind, _, rest = key.partition(b"\0")
            if kind == HEAD:
                subscriber_id = rest.decode("utf-8")
                if not isinstance(value, dict) or value.get("partition") != partition:
                    continue
                subscriber = subscribers.get(subscriber_id)
                if subscriber is None:
                    continue
                ledger = self._ledger(subscriber_id, partition)
                self._commit(subscriber, ledger, on_tick(subscriber, ledger, now,
                                                         self.topic_corroboration))
            elif kind == DELIVERY:
                # Only those of this partition that no lane here has: left by an earlier
                # worker. Checked before decoding: most are in a lane, on their way.
                if self.dispatcher.holds(rest.rpartition(b"\0")[2].decode("ascii", "replace")) \
                        or not isinstance(value, dict) or value.get("partition") != partition:
                    continue
                delivery = _read(Delivery.from_dict, key, value)
                if delivery is not None:
                    self.dispatcher.submit(delivery)
        self.metrics.pending.set(self.dispatcher.pending)

    # -- decisions ---------------------------------------------------------------------------
    def _ledger(self, subscriber_id: str, partition: int) -> Ledger:
        ledger = self._ledgers.get(subscriber_id)
        if ledger is None:
            prefix = _key(MARK, subscriber_id) + b"\0"
            marks = [m for m in (_read(StoryMark.from_dict, k, v)
                                 for k, v in self.store.items() if k.startswith(prefix))
                     if m is not None]
            ledger = Ledger.from_stored(self.store.get(_key(HEAD, subscriber_id)), marks,
                                        subscriber_id)
            self._ledgers[subscriber_id] = ledger
        if ledger.partition != partition:
            ledger.partition = partition
            ledger.changed.add("")
        return ledger

    def _commit(self, subscriber: Subscriber, ledger: Ledger, notices: list[Notice]) -> None:
        """Store what changed in ``ledger`` and the deliveries of ``notices``, then send them."""
        p, sid = ledger.partition, ledger.subscriber_id
        writes = []
        if "" in ledger.changed:
            writes.append(self.store.put(p, _key(HEAD, sid), ledger.head_to_dict()))
        for story_id in ledger.changed - {""}:
            mark = ledger.marks.get(story_id)
            if mark is not None:
                writes.append(self.store.put(p, _key(MARK, sid, story_id), mark.to_dict()))
        for story_id in ledger.forgotten:
            writes.append(self.store.drop(p, _key(MARK, sid, story_id)))
            for key, _ in list(self.store.items()):
                if key.startswith(_key(THREAD, sid, story_id) + b"\0"):
                    writes.append(self.store.drop(p, key))
        ledger.changed.clear()
        ledger.forgotten.clear()
        deliveries = []
        for notice in notices:
            self.metrics.decisions.labels(notice.kind).inc()
            if notice.kind == "digest":
                self.metrics.digest_stories.observe(len(notice.items))
            thread_story = None
            if notice.kind == "update":
                story_id = notice.items[0].event.story.story_id
                mark = ledger.marks.get(story_id)
                thread_story = (mark.follows if mark and mark.follows else story_id)
            for channel in subscriber.channels:
                delivery = Delivery(delivery_key(sid, channel.id, notice), sid, channel.id, p,
                                    thread_story, notice)
                writes.append(self.store.put(p, _key(DELIVERY, sid, delivery.key),
                                             delivery.to_dict()))
                deliveries.append(delivery)
        if not notices:
            self.metrics.decisions.labels("none").inc()
        for delivery in deliveries:
            self.dispatcher.submit(delivery, after=[w for w in writes if w is not None])
        self.metrics.pending.set(self.dispatcher.pending)

    # -- delivery callbacks ------------------------------------------------------------------
    def thread_of(self, delivery: Delivery) -> str | None:
        """What a story's first message on this channel returned, for an update to follow."""
        if delivery.thread_story is None:
            return None
        stored = self.store.get(_key(THREAD, delivery.subscriber_id, delivery.thread_story,
                                     delivery.channel_id))
        return None if not isinstance(stored, dict) else str(stored["thread"])

    async def record(self, outcome: Outcome, kind: str) -> None:
        """A delivery ended: replace it by its record, and tell ``news.alerts``."""
        delivery, notice = outcome.delivery, outcome.delivery.notice
        p, sid = delivery.partition, delivery.subscriber_id
        now = datetime.now(UTC)
        futures = [self.store.drop(p, _key(DELIVERY, sid, delivery.key))]
        if outcome.status == "sent" and notice.kind == "alert" and outcome.thread:
            story_id = notice.items[0].event.story.story_id
            futures.append(self.store.put(p, _key(THREAD, sid, story_id, delivery.channel_id),
                                          {"thread": outcome.thread}))
        topics = tuple(dict.fromkeys(i.event.story.topic_id for i in notice.items))
        record = AlertRecord(
            delivery=delivery.key, subscriber_id=sid, channel_id=delivery.channel_id,
            channel=kind, kind=notice.kind, outcome=outcome.status, reason=outcome.reason,
            stories=tuple(i.event.story.story_id for i in notice.items), topics=topics,
            articles=tuple(a.article_id for i in notice.items for a in i.new_articles),
            headline=notice.items[0].event.story.headline if notice.items else "",
            thread=outcome.thread, attempts=outcome.attempts, decided_at=notice.created,
            finished_at=now)
        futures.append(await self.emit("alerts", sid.encode(), record.to_json()))
        if outcome.status == "dead":
            log.error("alert %s for %s on %s is dead: %s", delivery.key, sid,
                      delivery.channel_id, outcome.reason,
                      extra={"subscriber_id": sid, "channel": kind})
            futures.append(await self.emit("alerts.dead", sid.encode(), record.to_json()))
        self._count(outcome, kind, topics, now)
        for fut in futures:
            if fut is not None:
                await fut
        self.metrics.pending.set(self.dispatcher.pending - 1)

    def _count(self, outcome: Outcome, kind: str, topics: tuple[str, ...],
               now: datetime) -> None:
        notice = outcome.delivery.notice
        topic = "digest" if notice.kind == "digest" or not topics else topics[0]
        self.metrics.deliveries.labels(
            kind, outcome.delivery.subscriber_id, topic, outcome.status).inc()
        if outcome.status != "sent":
            return
        self.metrics.send_duration.labels(kind).observe(outcome.seconds)
        if notice.kind == "digest":
            return
        event = notice.items[0].event
        article = next((a for a in notice.items[0].new_articles
                        if a.article_id == event.article.article_id), None)
        if article is None:
            return  # an update carrying several reports: timed by the one that caused it only
        for histogram, start in ((self.metrics.fetched_to_delivered, event.fetched_at),
                                 (self.metrics.matched_to_delivered, event.matched_at),
                                 (self.metrics.published_to_delivered, article.published)):
            if start is not None:
                seconds = (now - as_utc(start)).total_seconds()
                if seconds >= 0:
                    histogram.labels(kind).observe(seconds)


def _read(reader: Callable[[Any], T], key: bytes, value: Any) -> T | None:
    """A stored record read back; one that cannot be (a bug's leftover) is logged, skipped."""
    try:
        return reader(value)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("stored alert record %r skipped: %s: %s", key, type(exc).__name__, exc)
        return None


class ChannelSet:
    """The open channel of every (subscriber, channel id); refreshed when subscribers change.

    A channel whose configuration is unchanged keeps its connection; one that changed or went
    away is closed.
    """

    def __init__(self, opener: Callable[[Any], Channel]) -> None:
        self.opener = opener
        self._configs: dict[tuple[str, str], Any] = {}
        self._channels: dict[tuple[str, str], Channel] = {}
        self._kinds: dict[tuple[str, str], str] = {}

    def refresh(self, subscribers: Subscribers) -> list[Channel]:
        """Open what is new or changed; return the channels to close (callers await them)."""
        wanted = {(s.id, c.id): c for s in subscribers.subscribers for c in s.channels}
        stale = []
        for key in list(self._channels):
            if wanted.get(key) != self._configs.get(key):
                stale.append(self._channels.pop(key))
                self._configs.pop(key, None)
        for key, config in wanted.items():
            if key not in self._channels:
                self._channels[key] = self.opener(config)
                self._configs[key] = config
        self._kinds = {key: channel_kind(config) for key, config in wanted.items()}
        return stale

    def get(self, subscriber_id: str, channel_id: str) -> Channel | None:
        return self._channels.get((subscriber_id, channel_id))

    def kind(self, subscriber_id: str, channel_id: str) -> str:
        """The channel's kind, for labels (``unknown`` for one no longer configured)."""
        return self._kinds.get((subscriber_id, channel_id), "unknown")

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.aclose()
        self._channels.clear()
        self._configs.clear()
