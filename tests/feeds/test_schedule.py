"""The poll schedule and the poller's stall rule, on a clock the tests move by hand."""

from __future__ import annotations

import random

from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.schedule import Schedule
from monitor.health import StallWatch

FEEDS = [FeedConfig(id=name, url=f"https://{name}.example.org/rss", outlet=name, interval=30)
         for name in ("yonhap", "un", "kcna")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schedule_on(clock: Clock, stall_after: float = 300) -> Schedule:
    return Schedule(FEEDS, watch=StallWatch(stall_after, clock=clock), clock=clock,
                    rng=random.Random(7))


def owns_all(feed_id: str) -> bool:
    return True


def test_first_polls_are_spread_over_five_seconds_and_each_feed_is_started_once() -> None:
    clock = Clock()
    schedule = schedule_on(clock)
    batches = []
    for _ in range(10):
        batches.append([f.id for f in schedule.take_due(owns_all)])
        clock.now += 0.5
    assert sorted(i for batch in batches for i in batch) == sorted(f.id for f in FEEDS)
    assert max(len(batch) for batch in batches) < 3  # not all at the same moment
    assert schedule.take_due(owns_all) == []  # the polls still run: none is started twice
    assert schedule.waiting == 3


def test_a_feed_is_due_again_one_interval_after_a_good_poll() -> None:
    clock = Clock()
    schedule = schedule_on(clock)
    clock.now += 5
    [first, *_] = schedule.take_due(owns_all)
    schedule.finished(first, ok=True, retry_after=None)
    clock.now += 26
    assert first not in schedule.take_due(owns_all)
    clock.now += 8  # 34 s later: past 30 s + 10 % jitter
    assert first in schedule.take_due(owns_all)


def test_a_failed_poll_is_retried_no_sooner_than_its_interval_and_after_retry_after() -> None:
    clock = Clock()
    schedule = schedule_on(clock)
    clock.now += 5
    [first, *_] = schedule.take_due(owns_all)
    schedule.finished(first, ok=False, retry_after=120)
    clock.now += 119
    assert first not in schedule.take_due(owns_all)
    clock.now += 1
    assert first in schedule.take_due(owns_all)


def test_feeds_owned_elsewhere_never_wait_and_an_idle_poller_never_stalls() -> None:
    clock = Clock()
    schedule = schedule_on(clock)
    clock.now += 3600
    assert schedule.take_due(lambda feed_id: False) == []
    assert schedule.waiting == 0
    assert not schedule.watch.stalled()
    assert schedule.watch.stalled_for() == 0


def test_a_poll_that_never_ends_stalls_the_poller_after_stall_after() -> None:
    clock = Clock()
    schedule = schedule_on(clock, stall_after=300)
    only_yonhap = lambda feed_id: feed_id == "yonhap"  # noqa: E731
    clock.now += 5
    assert [f.id for f in schedule.take_due(only_yonhap)] == ["yonhap"]
    # Its poll hangs; the loop keeps asking what is due.
    clock.now += 299
    assert schedule.take_due(only_yonhap) == []
    assert schedule.waiting == 1
    assert not schedule.watch.stalled()
    clock.now += 1
    schedule.take_due(only_yonhap)
    assert schedule.watch.stalled()
    ready, reason = schedule.watch.status()
    assert not ready and reason.startswith("stalled:")


def test_a_failed_poll_is_progress_a_hanging_one_is_not() -> None:
    clock = Clock()
    schedule = schedule_on(clock, stall_after=300)
    two = lambda feed_id: feed_id in ("yonhap", "un")  # noqa: E731
    clock.now += 5
    _hanging, failing = schedule.take_due(two)
    clock.now += 250
    schedule.finished(failing, ok=False, retry_after=None)  # say, a timeout
    clock.now += 250
    schedule.take_due(two)
    assert schedule.watch.stalled_for() == 250  # counted from the failure, not the start
    assert not schedule.watch.stalled()
    clock.now += 50
    schedule.take_due(two)
    assert schedule.watch.stalled()


def test_revoked_feeds_stop_waiting_so_a_rebalance_is_no_stall() -> None:
    clock = Clock()
    schedule = schedule_on(clock, stall_after=300)
    clock.now += 5
    assert len(schedule.take_due(owns_all)) == 3  # three polls hang ...
    clock.now += 200
    schedule.take_due(lambda feed_id: False)     # ... and the feeds move to another poller
    clock.now += 200
    schedule.take_due(lambda feed_id: False)
    assert not schedule.watch.stalled()
