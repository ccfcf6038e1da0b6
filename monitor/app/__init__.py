"""The Faust worker, top to bottom: topics, tables, agents. Wiring only; logic lives in stages.

    news.articles ──► tag_articles ──► news.matches ──► fold_stories ──► news.stories
                          │                                  │          (key: watch topic id)
                          └─► news.articles.dead             └─► news.matches.dead

- ``tag_articles`` drops exact duplicates of articles that matched (same ``article_id`` from
  another message, remembered in the changelog-backed table ``articles-seen`` for
  ``SEEN_RETENTION``), tags the rest against the watch topics, and writes one ``news.matches``
  message per matching watch topic.
- ``fold_stories`` folds each match into the open stories of its watch topic
  (:mod:`monitor.stories`), keeps them in the changelog-backed table ``stories-open`` (key: the
  story id, in the partition of its watch topic's matches) and writes one ``opened`` event per
  new story and one ``updated`` event per article that joins one. A match of an article that a
  story already has changes nothing and emits nothing. Stories with no new article for the
  story window leave the table.
- Nothing is acknowledged before Kafka confirmed it (:mod:`monitor.outbox`): an input's offset
  is committed only once its outputs, its dead letter and its table writes are all confirmed.
  A crash at any point makes the next worker read again what was not confirmed, and a message
  read again is processed again (not dropped as a duplicate of itself, see
  :mod:`monitor.retention` and :meth:`monitor.stories.book.StoryBook.recall`); downstream
  stages are idempotent on what that repeats.
- Tables change only inside an agent, while a message of the partition concerned is in hand
  (Faust refuses changes anywhere else), so old entries are swept there.
- ``reload_watch_topics`` looks at ``topics/`` every couple of seconds and swaps in a freshly
  compiled matcher when a file changed (:mod:`monitor.tagging.reload`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import faust
from aiokafka import TopicPartition
from aiokafka import errors as kafka_errors
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CollectorRegistry

from monitor.alerting.subscribers import Corroboration, SubscribersReloader
from monitor.app.alerts import Alerting, wire_alerts
from monitor.article import ARTICLE_PARTITIONS, dead_letter, utcnow
from monitor.catalogue import worker_app_id
from monitor.config import Settings
from monitor.health import StallWatch
from monitor.metrics import AlertMetrics, StoryMetrics, TaggerMetrics
from monitor.outbox import Outbox, Output
from monitor.retention import Origin, Sweeper, sighting
from monitor.stories.stage import Books, describe_event, fold_match, stored_stories
from monitor.tables import (
    ConfirmedTable,
    accept_confirmed_acks_only,
    changelogged_table,
    confirming,
    table_writes,
)
from monitor.tagging.reload import WatchTopicsReloader
from monitor.tagging.stage import tag_message

log = logging.getLogger(__name__)

Event = Any  # faust.EventT: a message's key, value and coordinates
#: Processes one input message, writes tables, returns the outputs (raises only on a bug).
Handler = Callable[[Event], list[Output]]

SEEN_RETENTION = 14 * 24 * 3600.0
SEEN_SWEEP_INTERVAL = 600.0
RELOAD_INTERVAL = 2.0
#: Every Kafka topic the worker writes (as ``Settings.topic`` names them).
OUTPUT_TOPICS = ("matches", "articles.dead", "stories", "matches.dead", "alerts.pending",
                 "stories.dead", "alerts", "alerts.dead", "alerts.pending.dead")
#: Most input messages whose outputs may be in flight at once; past it the stream waits.
MAX_IN_FLIGHT = 20_000

#: Errors of the worker's own wiring, not of the message: the process exits, to be restarted.
FATAL_ERRORS: tuple[type[BaseException], ...] = (faust.exceptions.PartitionsMismatch,)
#: Errors for which sending the same record again can never succeed: the input is dead-lettered.
PERMANENT_SEND_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordTooLargeError,
    kafka_errors.InvalidTopicError, kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.UnsupportedVersionError, TypeError, ValueError,
)


@dataclass
class Assignment:
    """The partitions of the input topic this worker holds now (set on every rebalance)."""

    partitions: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Worker:
    """The Faust app and what the ``newswatch worker`` process needs from it."""

    app: faust.App
    metrics: TaggerMetrics
    story_metrics: StoryMetrics
    alerting: Alerting
    read_again: Callable[[str, int, int], None]
    watch: WatchTopicsReloader
    health: StallWatch
    assignment: Assignment
    group_id: str
    articles_topic: str
    changelog_topics: tuple[str, ...]
    #: Each agent's input Kafka topic → its stage, as metric labels name it.
    stage_of_topic: dict[str, str]


def create_app(settings: Settings, *, topics_dir: Path, web_port: int = 6066,
               datadir: Path | None = None, console: TextIO | None = sys.stdout,
               subscribers: SubscribersReloader | None = None,
               clock: Callable[[], float] = time.time) -> Worker:
    """Build the worker app for one deployment (``settings`` names broker and Kafka topics)."""
    datadir = datadir or settings.cache_dir / "worker-data"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        worker_app_id(settings),
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        Table=ConfirmedTable,
        topic_partitions=ARTICLE_PARTITIONS,
        datadir=str(datadir),
        web_port=web_port,
        web_host="0.0.0.0",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # A worker killed with -9 holds its partitions until the group drops it: the session
        # timeout is how long a restarted worker waits before it works again.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        # Commit what is confirmed every second: what a crash makes the next worker read
        # again (duplicates, never losses) is about one second of input.
        broker_commit_interval=1.0,
        # Larger fetches and stream buffer: with Faust's defaults the worker sat idle for
        # half the time waiting on fetches (about 700 articles/s instead of 1,200).
        consumer_max_fetch_size=4 * 1024 * 1024,
        stream_buffer_maxsize=65536,
    )
    registry = CollectorRegistry()
    setup_prometheus_sensors(app, registry=registry, name_prefix="newswatch_worker_faust")
    metrics = TaggerMetrics(registry)
    story_metrics = StoryMetrics(registry)
    watch = WatchTopicsReloader(topics_dir, metrics, cache_dir=settings.cache_dir)
    health = StallWatch(settings.stall_after)
    # Read at each scrape, so the gauge tells the truth even while the event loop is stuck.
    metrics.stalled.set_function(lambda: 1.0 if health.stalled() else 0.0)
    metrics.ready.set_function(lambda: 1.0 if health.status()[0] else 0.0)
    assignment = Assignment()

    def raw_topic(thing: str) -> Any:
        return app.topic(settings.topic(thing), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw")

    articles_topic, matches_topic = raw_topic("articles"), raw_topic("matches")
    outputs = {thing: raw_topic(thing) for thing in OUTPUT_TOPICS}

    async def send(output: Output) -> asyncio.Future[Any]:
        fut = await outputs[output.topic].send(key=output.key, value=output.value)
        return fut  # type: ignore[no-any-return]  # the producer's future, typed as awaitable

    def dead_letters(stage: str, dead_topic: str) -> tuple[Callable[[Event, str], Output],
                                                         Callable[[Event, str], None]]:
        """How a stage turns an input into a dead letter, and how it counts and logs one."""
        def letter_for(event: Event, reason: str) -> Output:
            message = event.message
            return Output(dead_topic, message.key, dead_letter(
                stage=stage, reason=reason, topic=message.topic, partition=message.partition,
                offset=message.offset, key=message.key, value=message.value))

        def count_letter(event: Event, reason: str) -> None:
            metrics.dead_letters.labels(stage).inc()
            message = event.message
            log.error("%s message at %s[%d]@%d dead-lettered: %s", stage, message.topic,
                      message.partition, message.offset, reason, extra={
                          "stage": stage, "partition": message.partition,
                          "offset": message.offset})
        return letter_for, count_letter

    def confirmed(name: str, handle: Handler, dead_topic: str, stage: str,
                  on_error: Callable[[], None],
                  prepare: Callable[[Event], Awaitable[None]] | None = None,
                  ) -> Callable[[Any], AsyncIterator[None]]:
        """An agent body that acknowledges each input only once its effects are confirmed.

        ``handle`` never sees Faust's acknowledgement: a bug in it becomes a dead letter with
        the stack trace in the log, and the stream goes on (an agent that raises would have
        Faust commit past the input).
        """
        letter_for, count_letter = dead_letters(stage, dead_topic)

        async def agent(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
            manual = stream.noack()  # type: ignore[attr-defined]
            accept_confirmed_acks_only(app.consumer, on_skipped=read_skipped)

            async def ack(event: Event) -> None:
                token = confirming.set(True)
                try:
                    await manual.ack(event)
                finally:
                    confirming.reset(token)

            outbox: Outbox[Event] = Outbox(
                send=send, ack=ack, dead_letter=letter_for,
                is_permanent=lambda exc: isinstance(exc, PERMANENT_SEND_ERRORS),
                max_pending=MAX_IN_FLIGHT, on_dead_letter=count_letter)
            releaser = asyncio.create_task(outbox.run(), name=f"{name}-outbox")
            releaser.add_done_callback(_exit_if_failed)

            try:
                async for event in manual.events():
                    if prepare is not None:
                        await prepare(event)
                    writes: list[asyncio.Future[Any]] = []
                    token = table_writes.set(writes)
                    try:
                        out = handle(event)
                    except FATAL_ERRORS as exc:
                        _exit_now(f"{name} cannot use its table ({exc}); exiting so that "
                                  "the input is processed again after a restart")
                    except Exception as exc:
                        # A bug met on one message: keep it (and why) for a replay once
                        # fixed, and go on with the others.
                        log.exception("%s failed unexpectedly at %s[%d]@%d", name,
                                      event.message.topic, event.message.partition,
                                      event.message.offset)
                        on_error()
                        reason = f"unexpected error: {type(exc).__name__}: {exc}"
                        count_letter(event, reason)
                        out = [letter_for(event, reason)]
                    finally:
                        table_writes.reset(token)
                    await outbox.put(event, event.message.partition, out, writes)
                    health.progressed()
                    yield None
            finally:
                # Stopping: let what is in flight be confirmed, so a clean restart repeats
                # little.
                await outbox.drain(timeout=10.0)
                releaser.cancel()
        agent.__name__ = name
        return agent

    # -- tag_articles ----------------------------------------------------------------------
    # article_id -> Origin of its first message, for the articles that matched: a copy of an
    # article that matched nothing can only match nothing again (or, after an edit of the
    # watch topics, match for the first time), so only matches need remembering. That keeps
    # the table, its changelog and a restart's recovery a tenth of the size. Written while
    # processing a news.articles message, so each entry lands in the changelog partition of
    # that message: each worker restores its share.
    articles_seen = changelogged_table(app, "articles-seen")
    sweeper = Sweeper(retention=SEEN_RETENTION, interval=SEEN_SWEEP_INTERVAL)
    outcome = {name: metrics.articles.labels(name)
               for name in ("tagged", "replayed", "duplicate", "dead", "error")}
    tag_letter, tag_count = dead_letters("tag", "articles.dead")

    def forget_old_articles(partition: int, now: float) -> None:
        if not sweeper.due(partition, now):
            return
        expired = sweeper.expired(articles_seen.items(), partition, now)
        for key in expired:
            del articles_seen[key]
        if expired:
            log.info("forgot %d articles of partition %d first seen over %d days ago",
                     len(expired), partition, SEEN_RETENTION // 86400)

    def tag_event(event: Event) -> list[Output]:
        """Process one news.articles message; return its outputs (writes the table)."""
        message = event.message
        started = time.perf_counter()
        key, value = message.key, message.value
        now = clock()
        forget_old_articles(message.partition, now)
        entry = Origin.from_json(articles_seen.get(key)) if key is not None else None
        seen = sighting(entry, message.partition, message.offset)
        if seen == "duplicate":
            outcome["duplicate"].inc()
            return []
        result = tag_message(value, watch.matcher, now=utcnow())
        if result.article is None:
            outcome["dead"].inc()
            tag_count(event, result.error or "unreadable")
            return [tag_letter(event, result.error or "unreadable")]
        out = [Output("matches", m.topic_id.encode(), m.to_json()) for m in result.matches]
        for match in result.matches:
            metrics.matches.labels(match.topic_id).inc()
        if seen == "new" and result.matches:
            articles_seen[key or result.article.article_id.encode()] = Origin(
                message.partition, message.offset, now).to_json()
        outcome["tagged" if seen == "new" else "replayed"].inc()
        metrics.tag_duration.observe(time.perf_counter() - started)
        lag = (utcnow() - result.article.fetched_at).total_seconds()
        if result.matches and lag >= 0:
            metrics.fetched_to_matched.observe(lag)
        return out

    app.agent(articles_topic, name="tag_articles")(confirmed(
        "tag_articles", tag_event, "articles.dead", "tag",
        on_error=outcome["error"].inc))

    # -- fold_stories ----------------------------------------------------------------------
    # story_id -> the open story and what folding keeps of it. Written while processing a
    # news.matches message (key: the watch topic id), so a watch topic's stories all live in
    # the changelog partition of its matches, and the worker that folds them restores them.
    stories_open = changelogged_table(app, "stories-open")
    books = Books(lambda topic_id: stored_stories(list(stories_open.items()), topic_id,
                                                  story_metrics.unreadable.inc),
                  window=timedelta(hours=settings.story_window_hours))

    async def load_stories(event: Event) -> None:
        """Load a watch topic's stories on a thread: the heartbeats go on meanwhile."""
        topic_id = (event.message.key or b"").decode("utf-8", "replace")
        if topic_id and not books.holds(topic_id):
            await asyncio.to_thread(books.book, topic_id)

    story_outcome = {name: story_metrics.matches.labels(name) for name in
                     ("opened", "joined", "replayed", "duplicate", "dead", "error")}
    fold_letter, fold_count = dead_letters("story", "matches.dead")

    def fold_event(event: Event) -> list[Output]:
        """Process one news.matches message; return its outputs (writes the table)."""
        message = event.message
        started = time.perf_counter()
        now = datetime.fromtimestamp(clock(), UTC)
        result = fold_match(message.value, books, origin=(message.partition, message.offset),
                            now=now)
        if result.match is None or result.folded is None:
            story_outcome["dead"].inc()
            fold_count(event, result.error or "unreadable")
            return [fold_letter(event, result.error or "unreadable")]
        topic_id, folded = result.match.topic_id, result.folded
        for story_id in books.expire(topic_id, now):
            stories_open.pop(story_id.encode(), None)
            story_metrics.expired.inc()
        story_metrics.open.labels(topic_id).set(len(books.book(topic_id)))
        if folded.event is None:
            story_outcome["duplicate"].inc()
            return []
        story_event = folded.event
        if folded.seen == "new" and folded.state is not None:
            stories_open[story_event.story.story_id.encode()] = folded.state.to_json()
            story_outcome["opened" if story_event.event == "opened" else "joined"].inc()
            line = describe_event(story_event, result.match)
            if console is not None and line is not None:
                print(line, file=console, flush=True)
        else:
            story_outcome["replayed"].inc()
        story_metrics.fold_duration.observe(time.perf_counter() - started)
        return [Output("stories", topic_id.encode(), story_event.to_json())]

    app.agent(matches_topic, name="fold_stories")(confirmed(
        "fold_stories", fold_event, "matches.dead", "story",
        on_error=story_outcome["error"].inc, prepare=load_stories))

    # -- route_alerts, deliver_alerts -------------------------------------------------------
    # Keys: a subscriber's decisions, pending deliveries and threads (monitor.alerting.stage),
    # written while processing a news.alerts.pending message keyed by the subscriber, or
    # later under that message's partition, so each worker restores its subscribers' share.
    alert_metrics = AlertMetrics(registry)
    alerting = wire_alerts(
        app, settings=settings, subscribers=subscribers,
        metrics=alert_metrics, table=changelogged_table(app, "alerts"), confirmed=confirmed,
        dead_letters=dead_letters, raw_topic=raw_topic, send=send, console=console,
        clock=clock, topic_corroboration=lambda topic_id: _corroboration(watch, topic_id))

    # -- housekeeping ----------------------------------------------------------------------
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def note_assignment(sender: Any, assigned: Any, **kwargs: Any) -> None:
        assignment.partitions = frozenset(tp.partition for tp in assigned
                                          if tp.topic == articles_topic.get_topic_name())
        books.forget()  # the table may now hold other watch topics' stories

    @app.timer(RELOAD_INTERVAL)  # type: ignore[untyped-decorator]
    async def reload_watch_topics() -> None:
        await watch.reload_if_changed()

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.text("ok\n")

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready, reason = health.status()
        return web.text(reason + "\n", status=200 if ready else 503)

    def read_skipped(topic: str, partition: int, offset: int) -> None:
        log.warning("%s[%d]: the message at committed offset %d was dropped unprocessed "
                    "while later ones were processed: reading the partition again from there",
                    topic, partition, offset)
        read_again(topic, partition, offset)

    def read_again(topic: str, partition: int, offset: int) -> None:
        """From any thread: have the consumer fetch ``topic[partition]`` again from ``offset``.

        For a partition whose committed offset stopped moving with input waiting: after some
        restarts the consumer was seen to fetch nothing more for a partition it still held,
        silently. Processing is idempotent, so reading again costs only the repeats.
        """
        asyncio.run_coroutine_threadsafe(
            app.consumer.seek(TopicPartition(topic, partition), offset), app.loop)

    return Worker(app=app, metrics=metrics, story_metrics=story_metrics, alerting=alerting,
                  read_again=read_again,
                  watch=watch,
                  health=health, assignment=assignment, group_id=app.conf.id,
                  articles_topic=settings.topic("articles"), changelog_topics=tuple(
                      t.changelog_topic.get_topic_name() for t in app.tables.values()),
                  stage_of_topic={settings.topic("articles"): "tag",
                                  settings.topic("matches"): "story",
                                  settings.topic("stories"): "route",
                                  settings.topic("alerts.pending"): "alert"})


def _corroboration(watch: WatchTopicsReloader, topic_id: str) -> Corroboration | None:
    """The watch topic's own corroboration rule, as the topics now in force say."""
    topic = next((t for t in watch.matcher.watch_topics if t.id == topic_id), None)
    if topic is None or topic.corroboration is None:
        return None
    sources, outlets = topic.corroboration
    return Corroboration(sources, frozenset(outlets))


def _exit_if_failed(task: asyncio.Task[None]) -> None:
    """The outbox runner must never end while the worker runs: if it fails, the process exits."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        _exit_now(f"the worker cannot confirm its outputs ({type(exc).__name__}: {exc}); "
                  "exiting so that the unconfirmed input is processed again")


def _exit_now(reason: str) -> None:
    log.critical(reason)
    logging.shutdown()
    os._exit(1)
