"""The alert agents of the worker: Faust wiring only; the logic is in :mod:`monitor.alerting`.

    news.stories ──► route_alerts ──► news.alerts.pending ──► deliver_alerts ──► channels
                          │          (key: subscriber id)          │  │
                          └─► news.stories.dead                    │  └─► news.alerts (audit)
                                                                   └─► news.alerts.dead

- ``route_alerts`` writes one request per subscriber who watches the story's watch topic.
- ``deliver_alerts`` decides and stores, in the changelog-backed table ``alerts``, what each
  subscriber hears and when, with the pending deliveries in the same write; deliveries run in
  the background, one lane per channel (:class:`~monitor.alerting.deliver.Dispatcher`), and
  each is replaced by its record once the channel accepts it.
- ``alert_ticks`` sends a tick to every partition of ``news.alerts.pending`` every
  ``NEWSWATCH_ALERT_TICK_SECONDS``: held updates, digests and the deliveries a crashed worker
  left are taken up there, inside the stream, where table writes are allowed.
- Before a rebalance takes partitions away, the sends in progress get a few seconds to finish
  and be recorded, so the next owner does not send them again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import faust

from monitor.alerting.channels import SmtpSettings, open_channel
from monitor.alerting.deliver import Dispatcher
from monitor.alerting.stage import AlertDesk, ChannelSet, route_story, tick
from monitor.alerting.subscribers import Corroboration, Subscribers, SubscribersReloader
from monitor.article import ARTICLE_PARTITIONS
from monitor.config import Settings
from monitor.metrics import AlertMetrics
from monitor.outbox import Output

log = logging.getLogger(__name__)

#: How long the sends in progress may take to finish when partitions are taken away.
SETTLE_ON_REVOKE = 5.0
RELOAD_INTERVAL = 2.0


@dataclass(frozen=True)
class Alerting:
    """What the worker needs of the alert agents."""

    desk: AlertDesk
    channels: ChannelSet
    subscribers: SubscribersReloader | NoSubscribers
    metrics: AlertMetrics


class NoSubscribers:
    """Stands in for the subscribers file when the worker was given none: nobody is alerted."""

    subscribers = Subscribers((), "")

    async def reload_if_changed(self) -> bool:
        return False


def wire_alerts(app: faust.App, *, settings: Settings,
                subscribers: SubscribersReloader | NoSubscribers | None,
                metrics: AlertMetrics, table: Any, confirmed: Callable[..., Any],
                dead_letters: Callable[[str, str], tuple[Callable[[Any, str], Output],
                                                         Callable[[Any, str], None]]],
                raw_topic: Callable[[str], Any],
                send: Callable[[Output], Awaitable[asyncio.Future[Any]]],
                console: TextIO | None, clock: Callable[[], float],
                topic_corroboration: Callable[[str], Corroboration | None] = lambda t: None,
                ) -> Alerting:
    """Add ``route_alerts``, ``deliver_alerts`` and their timers to ``app``."""
    subscribers = subscribers or NoSubscribers()
    smtp = SmtpSettings.from_env(os.environ)
    channels = ChannelSet(lambda config: open_channel(
        config, smtp=smtp, console=console, slack_api_url=settings.slack_api_url))
    channels.refresh(subscribers.subscribers)
    _zero_series(metrics, subscribers.subscribers, channels)

    async def emit(thing: str, key: bytes, value: bytes) -> asyncio.Future[Any]:
        return await send(Output(thing, key, value))

    def dispatcher_for(desk: AlertDesk) -> Dispatcher:
        def retried(delivery: Any, reason: str) -> None:
            metrics.retries.labels(channels.kind(*delivery.lane)).inc()

        return Dispatcher(
            channel_for=channels.get, thread_of=desk.thread_of,
            on_done=lambda outcome: desk.record(outcome, channels.kind(*outcome.delivery.lane)),
            on_retry=retried, dead_after=timedelta(hours=settings.alert_dead_after_hours),
            clock=clock)

    desk = AlertDesk(table, subscribers=lambda: subscribers.subscribers,
                     dispatcher_for=dispatcher_for, emit=emit, metrics=metrics,
                     topic_corroboration=topic_corroboration)

    def now() -> datetime:
        return datetime.fromtimestamp(clock(), UTC)

    route_letter, route_count = dead_letters("route", "stories.dead")
    alert_letter, alert_count = dead_letters("alert", "alerts.pending.dead")

    def route_event(event: Any) -> list[Output]:
        message = event.message
        routed = route_story(message.value, subscribers.subscribers, now())
        if routed.error is not None:
            route_count(event, routed.error)
            return [route_letter(event, routed.error)]
        if routed.topic_id is not None and routed.requests:
            metrics.routed.labels(routed.topic_id).inc(len(routed.requests))
        return [Output("alerts.pending", key, value) for key, value in routed.requests]

    def deliver_event(event: Any) -> list[Output]:
        message = event.message
        error = desk.take(message.value, message.partition, now())
        if error is not None:
            metrics.decisions.labels("dead").inc()
            alert_count(event, error)
            return [alert_letter(event, error)]
        return []

    app.agent(raw_topic("stories"), name="route_alerts")(confirmed(
        "route_alerts", route_event, "stories.dead", "route",
        on_error=metrics.decisions.labels("error").inc))
    pending_topic = raw_topic("alerts.pending")
    app.agent(pending_topic, name="deliver_alerts")(confirmed(
        "deliver_alerts", deliver_event, "alerts.pending.dead", "alert",
        on_error=metrics.decisions.labels("error").inc))

    @app.timer(settings.alert_tick_seconds)  # type: ignore[untyped-decorator]
    async def alert_ticks() -> None:
        value = tick(now())
        for partition in range(ARTICLE_PARTITIONS):
            await pending_topic.send(key=None, value=value, partition=partition)

    @app.timer(RELOAD_INTERVAL)  # type: ignore[untyped-decorator]
    async def reload_subscribers() -> None:
        if await subscribers.reload_if_changed():
            for stale in channels.refresh(subscribers.subscribers):
                await stale.aclose()
            _zero_series(metrics, subscribers.subscribers, channels)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def settle_deliveries(sender: Any, revoked: Any, **kwargs: Any) -> None:
        if not await desk.dispatcher.settle(SETTLE_ON_REVOKE):
            log.warning("deliveries still in progress as partitions are reassigned; their "
                        "channels may receive them again from the next owner")
        desk.dispatcher.forget({tp.partition for tp in revoked
                                if tp.topic == pending_topic.get_topic_name()})
        desk.forget()

    return Alerting(desk=desk, channels=channels, subscribers=subscribers, metrics=metrics)


def _zero_series(metrics: AlertMetrics, subscribers: Subscribers, channels: ChannelSet) -> None:
    """Give each subscriber's channels and watch topics a zero of each delivery outcome.

    A series that does not exist yet is no zero to ``increase()``: without it the first dead
    alert of a subscriber would be missed by the delivery alert rule and the dashboards.
    """
    for subscriber in subscribers.subscribers:
        for channel in subscriber.channels:
            kind = channels.kind(subscriber.id, channel.id)
            metrics.retries.labels(kind)
            for topic_id in (*sorted(subscriber.watch), "digest"):
                for outcome in ("sent", "dead"):
                    metrics.deliveries.labels(kind, subscriber.id, topic_id, outcome)
