"""When each feed is polled next, and whether the poller is stalled.

In: the feed list, a clock, and what the poll loop tells it: which feeds this process owns
right now (:meth:`Schedule.take_due`) and that a poll ended (:meth:`Schedule.finished`). Out: the
feeds to poll now, and a :class:`~monitor.health.StallWatch` kept up to date. No I/O, no
sleeping: the clock is passed in, so tests move time by hand.

The stall rule for a poller:

- *input waiting*: an owned feed is due or overdue, its poll running or not (a poll that hangs
  keeps its feed waiting);
- *progress*: a poll of any feed ended, however it ended: a timeout, a 404 or a publish error
  is progress, a hang is not. (The poller also counts each article page fetched for a
  ``fulltext`` feed, so one long first poll of such a feed is not taken for a hang.)

::

    schedule = Schedule(feeds, watch=StallWatch(300))
    for feed in schedule.take_due(ownership.owns):
        ...  # poll it, then:
        schedule.finished(feed, ok=True, retry_after=None)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.fetch import backoff_delay, jittered
from monitor.health import StallWatch

#: The first polls after a start are spread over this many seconds (at most one interval).
FIRST_POLL_SPREAD = 5.0
#: A failed feed waits at least this long, or its interval when shorter, before the next try.
MIN_RETRY = 60.0


@dataclass
class _Slot:
    due: float
    running: bool = False
    failures: int = 0


class Schedule:
    """Due times with jitter and per-feed backoff, and the stall watch they feed."""

    def __init__(self, feeds: Sequence[FeedConfig], *, watch: StallWatch,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.watch = watch
        self._feeds = list(feeds)
        self._clock = clock
        self._rng = rng or random.Random()
        now = clock()
        # Spread the first polls over a few seconds so a restart is not a thundering herd.
        self._slots = {f.id: _Slot(due=now + self._rng.uniform(0, min(f.interval,
                                                                      FIRST_POLL_SPREAD)))
                       for f in self._feeds}
        self.waiting = 0

    def take_due(self, owns: Callable[[str], bool]) -> list[FeedConfig]:
        """Return the owned feeds due now and not being polled; mark them as being polled.

        - a feed this process does not own is skipped, and never counts as waiting;
        - ``waiting`` (and the stall watch) get the owned feeds that are due or overdue,
          including those whose poll is still running.
        """
        now = self._clock()
        start = []
        waiting = 0
        for feed in self._feeds:
            slot = self._slots[feed.id]
            if slot.due > now or not owns(feed.id):
                continue
            waiting += 1
            if not slot.running:
                slot.running = True
                start.append(feed)
        self.waiting = waiting
        self.watch.waiting(waiting)
        return start

    def finished(self, feed: FeedConfig, *, ok: bool, retry_after: float | None) -> None:
        """Note that a poll of ``feed`` ended, and when the next one is due.

        - success: one interval later, ± 10 %;
        - failure: exponential backoff with jitter from ``min(interval, 60 s)``, capped at
          eight intervals or an hour (whichever is longer), never sooner than
          ``min(interval, 60 s)`` and never sooner than the server's Retry-After.
        """
        slot = self._slots[feed.id]
        slot.running = False
        now = self._clock()
        if ok:
            slot.failures = 0
            slot.due = now + jittered(feed.interval, rng=self._rng)
        else:
            slot.failures += 1
            floor = min(feed.interval, MIN_RETRY)
            delay = backoff_delay(slot.failures, base=floor, retry_after=retry_after,
                                  cap=max(feed.interval * 8, 3600), rng=self._rng)
            slot.due = now + max(delay, floor)
        self.watch.progressed()
