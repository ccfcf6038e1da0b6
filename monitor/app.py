"""The Faust worker, top to bottom: topics, tables, agents. Wiring only; logic lives in stages.

    news.articles ──► tag_articles ──► news.matches        (key: watch topic id)
                          │
                          └─► news.articles.dead            (what it cannot read or send, why)

- ``tag_articles`` drops exact duplicates of articles that matched (same ``article_id`` from
  another message, remembered in the changelog-backed table ``articles-seen`` for
  ``SEEN_RETENTION``), tags the rest against the watch topics, and writes one ``news.matches``
  message per matching watch topic.
- Nothing is acknowledged before Kafka confirmed it (:mod:`monitor.outbox`): an input's offset
  is committed only once its matches, its dead letter and its table writes are all confirmed.
  A crash at any point makes the next worker read again what was not confirmed, and a message
  read again is processed again (not dropped as a duplicate of itself, see
  :mod:`monitor.retention`); downstream stages are idempotent on what that repeats.
- Old ``articles-seen`` entries are forgotten inside the agent, one partition at a time, while
  a message of that partition is in hand (Faust refuses table changes anywhere else).
- ``reload_watch_topics`` looks at ``topics/`` every couple of seconds and swaps in a freshly
  compiled matcher when a file changed; a directory with errors keeps the previous matcher, logs
  every error and counts the failure. Swapping happens between two messages.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import faust
from aiokafka import errors as kafka_errors
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CollectorRegistry

from monitor.article import ARTICLE_PARTITIONS, Match, dead_letter, utcnow
from monitor.config import Settings
from monitor.health import StallWatch
from monitor.metrics import TaggerMetrics
from monitor.outbox import Outbox, Output
from monitor.retention import Origin, Sweeper, sighting
from monitor.tagging.match import Matcher
from monitor.tagging.stage import tag_message
from monitor.yamlfile import ConfigError, ConfigErrors

log = logging.getLogger(__name__)

Event = Any  # faust.EventT: a message's key, value and coordinates

SEEN_RETENTION = 14 * 24 * 3600.0
SEEN_SWEEP_INTERVAL = 600.0
RELOAD_INTERVAL = 2.0
#: Most input messages whose outputs may be in flight at once; past it the stream waits.
MAX_IN_FLIGHT = 20_000

#: Errors for which sending the same record again can never succeed: the input is dead-lettered.
PERMANENT_SEND_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordTooLargeError,
    kafka_errors.InvalidTopicError, kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.UnsupportedVersionError, TypeError, ValueError,
)


class WatchTopicsReloader:
    """Holds the current matcher; recompiles it when ``topics/`` changes."""

    def __init__(self, directory: Path, metrics: TaggerMetrics) -> None:
        self.directory = directory
        self.metrics = metrics
        self.matcher = Matcher.from_dir(directory)
        self._fingerprint = _fingerprint(directory)
        metrics.watch_topics.set(len(self.matcher.watch_topics))

    async def reload_if_changed(self) -> bool:
        fingerprint = _fingerprint(self.directory)
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            matcher = await asyncio.to_thread(Matcher.from_dir, self.directory)
        except (ConfigError, ConfigErrors) as exc:
            self.metrics.reloads.labels("error").inc()
            log.error("watch topics in %s not reloaded, keeping the previous ones:\n%s",
                      self.directory, exc)
            return False
        self.matcher = matcher
        self.metrics.reloads.labels("ok").inc()
        self.metrics.watch_topics.set(len(matcher.watch_topics))
        log.info("reloaded %d watch topics from %s", len(matcher.watch_topics), self.directory)
        return True


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(directory.rglob("*.yaml")) + sorted(directory.rglob("*.yml"))
    out = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def describe_match(match: Match) -> str:
    """One console line for a match: watch topic, severity, title, outlet, and why."""
    why = ", ".join(dict.fromkeys(str(e.get("matched", "")) for e in match.evidence))
    sentence = match.sentences[0].get("text", "") if match.sentences else ""
    return (f"MATCH [{match.topic_id}] {match.severity} {match.score:.2f} | "
            f"{match.article.title} | {match.article.outlet} | why: {why}"
            + (f' | "{sentence[:200]}"' if sentence else ""))


# -- tables whose writes are confirmed before their input is acknowledged ---------------------
#: The changelog writes made while one input message is processed; set by the agent.
_table_writes: contextvars.ContextVar[list[asyncio.Future[Any]] | None] = (
    contextvars.ContextVar("table_writes", default=None))


class ConfirmedTable(faust.Table):  # type: ignore[type-arg]
    """A Faust table that hands each changelog write's future to the message being processed.

    Faust sends changelog writes in the background and commits the input's offset without
    waiting for them; the outbox waits for these futures instead, so a table entry is never
    lost behind a committed offset.
    """

    # Faust names a service's logger after its module; this one belongs with Faust's own.
    logger = logging.getLogger("faust.tables.confirmed")

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        writes = _table_writes.get()
        if writes is not None:
            writes.append(fut)
        return fut


def changelogged_table(app: faust.App, name: str) -> Any:
    """A table of ``bytes`` keys and JSON values, restored from its changelog on every start.

    Faust derives the changelog's key and value codecs from ``key_type`` / ``value_type``
    alone (a ``schema`` is ignored there): without ``key_type=bytes`` raw keys are written as
    bytes but read back as JSON during recovery, which fails on every record and stalls the
    worker for good. Every table of the worker is made here so none can miss it.
    """
    return app.Table(name, default=None, partitions=ARTICLE_PARTITIONS, key_type=bytes,
                     value_type=None)


@dataclass
class Assignment:
    """The partitions of the input topic this worker holds now (set on every rebalance)."""

    partitions: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Worker:
    """The Faust app and what the ``newswatch worker`` process needs from it."""

    app: faust.App
    metrics: TaggerMetrics
    watch: WatchTopicsReloader
    health: StallWatch
    assignment: Assignment
    group_id: str
    articles_topic: str


def create_app(settings: Settings, *, topics_dir: Path, web_port: int = 6066,
               datadir: Path | None = None, console: TextIO | None = sys.stdout,
               clock: Callable[[], float] = time.time) -> Worker:
    """Build the worker app for one deployment (``settings`` names broker and Kafka topics)."""
    datadir = datadir or settings.cache_dir / "worker-data"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_namespace}.worker",
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
    watch = WatchTopicsReloader(topics_dir, metrics)
    health = StallWatch(settings.stall_after)
    # Read at each scrape, so the gauge tells the truth even while the event loop is stuck.
    metrics.stalled.set_function(lambda: 1.0 if health.stalled() else 0.0)
    assignment = Assignment()

    articles_topic = app.topic(settings.topic("articles"), key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw")
    outputs = {
        "matches": app.topic(settings.topic("matches"), key_serializer="raw",
                             value_serializer="raw"),
        "articles.dead": app.topic(settings.topic("articles.dead"), key_serializer="raw",
                                   value_serializer="raw"),
    }

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

    async def send(output: Output) -> asyncio.Future[Any]:
        fut = await outputs[output.topic].send(key=output.key, value=output.value)
        return fut  # type: ignore[return-value]  # the producer's future, typed as awaitable

    def letter_for(event: Event, reason: str) -> Output:
        message = event.message
        return Output("articles.dead", message.key, dead_letter(
            stage="tag", reason=reason, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key, value=message.value))

    def count_letter(event: Event, reason: str) -> None:
        metrics.dead_letters.labels("articles").inc()
        message = event.message
        log.error("article at %s[%d]@%d dead-lettered: %s", message.topic, message.partition,
                  message.offset, reason)

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
            count_letter(event, result.error or "unreadable")
            return [letter_for(event, result.error or "unreadable")]
        out = [Output("matches", m.topic_id.encode(), m.to_json()) for m in result.matches]
        for match in result.matches:
            metrics.matches.labels(match.topic_id).inc()
            if console is not None and seen == "new":  # a replay was printed the first time
                print(describe_match(match), file=console, flush=True)
        if seen == "new" and result.matches:
            articles_seen[key or result.article.article_id.encode()] = Origin(
                message.partition, message.offset, now).to_json()
        outcome["tagged" if seen == "new" else "replayed"].inc()
        metrics.tag_duration.observe(time.perf_counter() - started)
        lag = (utcnow() - result.article.fetched_at).total_seconds()
        if result.matches and lag >= 0:
            metrics.fetched_to_matched.observe(lag)
        return out

    @app.agent(articles_topic)
    async def tag_articles(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        manual = stream.noack()  # type: ignore[attr-defined]
        outbox: Outbox[Event] = Outbox(
            send=send, ack=manual.ack, dead_letter=letter_for,
            is_permanent=lambda exc: isinstance(exc, PERMANENT_SEND_ERRORS),
            max_pending=MAX_IN_FLIGHT, on_dead_letter=count_letter)
        releaser = asyncio.create_task(outbox.run(), name="tag_articles-outbox")
        releaser.add_done_callback(_exit_if_failed)
        try:
            async for event in manual.events():
                writes: list[asyncio.Future[Any]] = []
                token = _table_writes.set(writes)
                try:
                    out = tag_event(event)
                except Exception as exc:
                    # A bug met on one message: keep it (and why) for a replay once fixed,
                    # and go on with the others.
                    log.exception("tagging failed unexpectedly at %s[%d]@%d",
                                  event.message.topic, event.message.partition,
                                  event.message.offset)
                    outcome["error"].inc()
                    reason = f"unexpected error: {type(exc).__name__}: {exc}"
                    count_letter(event, reason)
                    out = [letter_for(event, reason)]
                finally:
                    _table_writes.reset(token)
                await outbox.put(event, event.message.partition, out, writes)
                health.progressed()
                yield None
        finally:
            # Stopping: let what is in flight be confirmed, so a clean restart repeats little.
            await outbox.drain(timeout=10.0)
            releaser.cancel()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def note_assignment(sender: Any, assigned: Any, **kwargs: Any) -> None:
        assignment.partitions = frozenset(tp.partition for tp in assigned
                                          if tp.topic == articles_topic.get_topic_name())

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

    return Worker(app=app, metrics=metrics, watch=watch, health=health, assignment=assignment,
                  group_id=app.conf.id, articles_topic=settings.topic("articles"))


def _exit_if_failed(task: asyncio.Task[None]) -> None:
    """The outbox runner must never end while the worker runs: if it fails, the process exits."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.critical("the worker cannot confirm its outputs (%s: %s); exiting so that the "
                     "unconfirmed input is processed again", type(exc).__name__, exc)
        logging.shutdown()
        os._exit(1)
