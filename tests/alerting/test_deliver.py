"""The delivery loop (monitor.alerting.deliver): lanes, retries, Retry-After, dead letters.

The channels here are small scripted stand-ins: what is tested is the loop around them; the
real channels meet real servers in test_channels.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from monitor.alerting.deliver import Delivery, Dispatcher, Outcome, delivery_key
from monitor.alerting.notice import Notice, NoticeItem, PermanentError, RetryableError
from monitor.article import Story, StoryArticle, StoryEvent


def notice(story_id: str, kind: str = "alert") -> Notice:
    """A notice decided just now (deliveries count their deadline from then)."""
    now = datetime.now(UTC)
    article = StoryArticle(article_id=f"{story_id}-a", outlet="Example Wire", title="t",
                           source=f"{story_id}-a")
    story = Story(story_id=story_id, topic_id="nk-russia-arms", headline="h", first_seen=now,
                  last_updated=now, articles=(article,), outlets=1, sources=1)
    event = StoryEvent(event="opened", story=story, article=article, why="")
    return Notice(kind, "desk", (NoticeItem(event, (article,)),), now)  # type: ignore[arg-type]


def delivery(story_id: str, channel: str = "hook", kind: str = "alert") -> Delivery:
    n = notice(story_id, kind)
    return Delivery(delivery_key("desk", channel, n), "desk", channel, 0,
                    story_id if kind == "update" else None, n)


class Scripted:
    """A channel that answers from a script, one entry per attempt, and logs every send."""

    def __init__(self, script: list[Exception | None], *, pause: float = 0.0) -> None:
        self.script = script
        self.pause = pause
        self.sent: list[tuple[str, str | None, float]] = []  # story, thread, time
        self.id, self.kind = "hook", "webhook"

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        await asyncio.sleep(self.pause)
        self.sent.append((notice.items[0].event.story.story_id, thread, time.monotonic()))
        answer = self.script.pop(0) if self.script else None
        if answer is not None:
            raise answer
        return f"thread-of-{notice.items[0].event.story.story_id}"

    async def aclose(self) -> None:
        return None


def dispatcher(channels: dict[str, Scripted], done: list[Outcome], *,
               dead_after: timedelta = timedelta(hours=1),
               thread_of: Callable[[Delivery], str | None] = lambda d: None,
               delays: tuple[float, ...] = (0.05,)) -> Dispatcher:
    async def on_done(outcome: Outcome) -> None:
        done.append(outcome)

    return Dispatcher(channel_for=lambda sub, channel: channels.get(channel),
                      thread_of=thread_of, on_done=on_done, dead_after=dead_after,
                      delays=delays)


async def settle(d: Dispatcher, done: list[Outcome], count: int) -> None:
    for _ in range(400):
        if len(done) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(done)} of {count} deliveries finished")


async def test_a_retryable_failure_is_sent_again_after_retry_after() -> None:
    hook = Scripted([RetryableError("HTTP 429", retry_after=0.3), None])
    done: list[Outcome] = []
    d = dispatcher({"hook": hook}, done)
    d.submit(delivery("s1"))
    await settle(d, done, 1)
    [outcome] = done
    assert (outcome.status, outcome.attempts, outcome.thread) == ("sent", 2, "thread-of-s1")
    assert hook.sent[1][2] - hook.sent[0][2] >= 0.29


async def test_a_permanent_refusal_is_dead_at_once() -> None:
    hook = Scripted([PermanentError("HTTP 400 invalid_blocks")])
    done: list[Outcome] = []
    d = dispatcher({"hook": hook}, done)
    d.submit(delivery("s1"))
    await settle(d, done, 1)
    assert (done[0].status, done[0].attempts) == ("dead", 1)
    assert "invalid_blocks" in done[0].reason


async def test_a_delivery_failing_past_its_deadline_is_dead() -> None:
    hook = Scripted([RetryableError("connection refused")] * 100)
    done: list[Outcome] = []
    d = dispatcher({"hook": hook}, done, dead_after=timedelta(seconds=0.3), delays=(0.1,))
    started = time.monotonic()
    d.submit(delivery("s1"))
    await settle(d, done, 1)
    assert done[0].status == "dead" and "connection refused" in done[0].reason
    assert 2 <= done[0].attempts <= 4 and time.monotonic() - started < 1.0


async def test_a_channel_that_is_down_holds_up_only_its_own_lane() -> None:
    down = Scripted([RetryableError("down", retry_after=1.0), None])
    up = Scripted([])
    up.id = "mail"
    done: list[Outcome] = []
    d = dispatcher({"hook": down, "mail": up}, done)
    d.submit(delivery("s1", "hook"))
    for n in range(5):
        d.submit(delivery(f"s{n}", "mail"))
    await settle(d, done, 5)
    assert [o.delivery.channel_id for o in done] == ["mail"] * 5
    await settle(d, done, 6)
    assert done[5].delivery.channel_id == "hook"


async def test_an_update_waits_for_its_alert_and_the_stored_decision() -> None:
    hook = Scripted([RetryableError("busy"), None, None])
    done: list[Outcome] = []
    threads: dict[str, str] = {}

    async def record(outcome: Outcome) -> None:
        done.append(outcome)
        if outcome.delivery.notice.kind == "alert" and outcome.thread:
            threads[outcome.delivery.notice.items[0].event.story.story_id] = outcome.thread

    d = Dispatcher(channel_for=lambda s, c: hook,
                   thread_of=lambda dl: threads.get(dl.thread_story or ""), on_done=record,
                   delays=(0.05,))
    stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    d.submit(delivery("s1"), after=[stored])
    d.submit(delivery("s1", kind="update"))
    await asyncio.sleep(0.1)
    assert hook.sent == []  # the decision is not confirmed yet: nothing goes out
    stored.set_result(None)
    await settle(d, done, 2)
    assert [o.delivery.notice.kind for o in done] == ["alert", "update"]
    assert hook.sent[-1][1] == "thread-of-s1"  # the update followed the alert's thread


async def test_the_same_delivery_submitted_twice_is_sent_once() -> None:
    hook = Scripted([])
    done: list[Outcome] = []
    d = dispatcher({"hook": hook}, done)
    same = delivery("s1")
    d.submit(same)
    d.submit(same)
    await settle(d, done, 1)
    await asyncio.sleep(0.1)
    assert len(hook.sent) == 1 and len(done) == 1


async def test_a_delivery_for_a_channel_no_longer_configured_is_dead() -> None:
    done: list[Outcome] = []
    d = dispatcher({}, done)
    d.submit(delivery("s1"))
    await settle(d, done, 1)
    assert done[0].status == "dead" and "no longer configured" in done[0].reason


def test_a_delivery_survives_the_round_trip_through_the_table() -> None:
    original = delivery("s1", kind="update")
    again = Delivery.from_dict(original.to_dict())
    assert again == original
    assert delivery_key("desk", "hook", again.notice) == original.key
