"""Deliver notices: one lane per subscriber channel, retries with back-off, an outcome each.

In: :class:`Delivery` objects (one notice for one channel of one subscriber, already stored by
the caller so that a crash loses none), the channels to send them on, and what the story's
earlier messages returned to thread on. Out: one :class:`Outcome` per delivery, handed to
``on_done`` (which records it): ``sent`` once the channel accepted it, ``dead`` when the channel
refused it for good or it kept failing for ``dead_after``.

- Each (subscriber, channel) is a lane that sends in order: an update must follow the alert
  whose thread it joins. Lanes run side by side, so a channel that is down, or one that asks
  to wait (Retry-After), holds up only its own lane.
- A channel only classifies its failures (:class:`RetryableError`, :class:`PermanentError`);
  this loop retries: after the receiver's Retry-After when it gave one, else after
  :data:`RETRY_DELAYS`, until ``dead_after`` has passed since the delivery was decided.
- A delivery is sent only once the stored decision behind it is confirmed (``after``), so a
  crash never makes a message that the next worker would decide, and send, again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from monitor.alerting.channels import Channel
from monitor.alerting.notice import (
    Notice,
    NoticeItem,
    PermanentError,
    RetryableError,
)
from monitor.article import StoryEvent, as_utc

log = logging.getLogger(__name__)

#: Pauses between attempts, in seconds, when the receiver did not say how long to wait.
RETRY_DELAYS = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
#: Longest wait a receiver's Retry-After may impose at once.
MAX_RETRY_AFTER = 3600.0
DEFAULT_DEAD_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class Delivery:
    """One notice for one channel of one subscriber.

    ``thread_story`` is the story whose thread an update continues (``None`` for alerts and
    digests); ``partition`` is where the subscriber's records live.
    """

    key: str
    subscriber_id: str
    channel_id: str
    partition: int
    thread_story: str | None
    notice: Notice

    @property
    def lane(self) -> tuple[str, str]:
        return self.subscriber_id, self.channel_id

    def to_dict(self) -> dict[str, Any]:
        notice = self.notice
        return {
            "key": self.key, "subscriber_id": self.subscriber_id,
            "channel_id": self.channel_id, "partition": self.partition,
            "thread_story": self.thread_story, "notice": {
                "kind": notice.kind, "subscriber_id": notice.subscriber_id,
                "created": notice.created.isoformat(), "items": [
                    {"event": item.event.model_dump(mode="json", by_alias=True),
                     "new": [a.article_id for a in item.new_articles], "note": item.note}
                    for item in notice.items]}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Delivery:
        notice = raw["notice"]
        items = []
        for item in notice["items"]:
            event = StoryEvent.model_validate(item["event"])
            new = set(item["new"])
            items.append(NoticeItem(event, tuple(a for a in event.story.articles
                                                 if a.article_id in new), item["note"]))
        return cls(key=raw["key"], subscriber_id=raw["subscriber_id"],
                   channel_id=raw["channel_id"], partition=raw["partition"],
                   thread_story=raw["thread_story"],
                   notice=Notice(notice["kind"], notice["subscriber_id"], tuple(items),
                                 as_utc(datetime.fromisoformat(notice["created"]))))


def delivery_key(subscriber_id: str, channel_id: str, notice: Notice) -> str:
    """A delivery's identity: the same decision always gives the same key."""
    parts = [subscriber_id, channel_id, notice.kind, notice.created.isoformat()]
    for item in notice.items:
        parts.append(item.event.story.story_id)
        parts.extend(sorted(a.article_id for a in item.new_articles))
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended."""

    delivery: Delivery
    status: Literal["sent", "dead"]
    thread: str | None  # what the channel returned to thread later messages on
    attempts: int
    reason: str  # why it is dead; empty when sent
    seconds: float  # time spent in the channel's send, over all attempts


class Dispatcher:
    """Runs deliveries in per-channel lanes; see the module docstring."""

    def __init__(self, *, channel_for: Callable[[str, str], Channel | None],
                 thread_of: Callable[[Delivery], str | None],
                 on_done: Callable[[Outcome], Awaitable[None]],
                 on_retry: Callable[[Delivery, str], None] = lambda d, reason: None,
                 dead_after: timedelta = DEFAULT_DEAD_AFTER,
                 clock: Callable[[], float] = time.time,
                 delays: Sequence[float] = RETRY_DELAYS) -> None:
        self.channel_for = channel_for
        self.thread_of = thread_of
        self.on_done = on_done
        self.on_retry = on_retry
        self.dead_after = dead_after
        self.clock = clock
        self.delays = tuple(delays)
        self._queues: dict[tuple[str, str], deque[tuple[Delivery, list[Any]]]] = {}
        self._lanes: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._keys: set[str] = set()

    @property
    def pending(self) -> int:
        """Deliveries submitted and not finished."""
        return len(self._keys)

    def holds(self, key: str) -> bool:
        return key in self._keys

    def submit(self, delivery: Delivery, after: Sequence[asyncio.Future[Any]] = ()) -> None:
        """Queue ``delivery`` on its lane, to start once ``after`` are all done.

        A delivery already queued or running here is not queued twice.
        """
        if delivery.key in self._keys:
            return
        self._keys.add(delivery.key)
        self._queues.setdefault(delivery.lane, deque()).append((delivery, list(after)))
        lane = self._lanes.get(delivery.lane)
        if lane is None or lane.done():
            self._lanes[delivery.lane] = asyncio.create_task(
                self._run(delivery.lane), name=f"deliver-{delivery.subscriber_id}")

    async def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the sends in progress to finish; True if they did."""
        lanes = [t for t in self._lanes.values() if not t.done()]
        if not lanes:
            return True
        done, _ = await asyncio.wait(lanes, timeout=timeout)
        return len(done) == len(lanes)

    async def close(self) -> None:
        """Stop every lane; what was not delivered stays stored for the next worker."""
        for task in self._lanes.values():
            task.cancel()
        await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        self._lanes.clear()
        self._queues.clear()
        self._keys.clear()

    def forget(self, partitions: set[int]) -> None:
        """Drop queued (not started) deliveries of ``partitions``: another worker has them."""
        for queue in self._queues.values():
            for entry in [e for e in queue if e[0].partition in partitions]:
                queue.remove(entry)
                self._keys.discard(entry[0].key)

    # -- internals ---------------------------------------------------------------------------
    async def _run(self, lane: tuple[str, str]) -> None:
        queue = self._queues[lane]
        while queue:
            delivery, after = queue[0]
            try:
                if after:
                    await asyncio.gather(*after)
                outcome = await self._deliver(delivery)
                await self.on_done(outcome)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug, or a decision whose write failed: leave it stored for the next worker.
                log.exception("delivery %s to %s of %s failed unexpectedly", delivery.key,
                              delivery.channel_id, delivery.subscriber_id)
            finally:
                if queue and queue[0][0] is delivery:
                    queue.popleft()
                self._keys.discard(delivery.key)

    async def _deliver(self, delivery: Delivery) -> Outcome:
        attempts, spent = 0, 0.0
        deadline = delivery.notice.created.timestamp() + self.dead_after.total_seconds()
        while True:
            channel = self.channel_for(delivery.subscriber_id, delivery.channel_id)
            if channel is None:
                return Outcome(delivery, "dead", None, attempts, "the subscriber or channel "
                               "is no longer configured", spent)
            attempts += 1
            started = time.perf_counter()
            try:
                thread = await channel.send(delivery.notice, key=delivery.key,
                                            thread=self.thread_of(delivery))
            except PermanentError as exc:
                spent += time.perf_counter() - started
                return Outcome(delivery, "dead", None, attempts, f"refused: {exc}", spent)
            except (RetryableError, Exception) as exc:
                spent += time.perf_counter() - started
                if not isinstance(exc, RetryableError):
                    log.exception("%s of %s failed unexpectedly; retrying",
                                  delivery.channel_id, delivery.subscriber_id)
                    exc = RetryableError(f"unexpected error: {type(exc).__name__}")
                wait = self.delays[min(attempts - 1, len(self.delays) - 1)]
                if exc.retry_after is not None:
                    wait = min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER)
                if self.clock() + wait > deadline:
                    return Outcome(delivery, "dead", None, attempts,
                                   f"still failing after {attempts} attempts: {exc}", spent)
                if attempts == 1:
                    log.warning("%s of %s not delivered (%s); retrying in %.0f s",
                                delivery.channel_id, delivery.subscriber_id, exc, wait)
                self.on_retry(delivery, str(exc))
                await asyncio.sleep(wait)
                continue
            spent += time.perf_counter() - started
            return Outcome(delivery, "sent", thread, attempts, "", spent)


def now_utc(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)
