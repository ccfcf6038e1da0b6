"""The poll loop: which feed is due, fetch it, parse it, publish what is new, remember.

In: the validated feed list, a :class:`~monitor.feeds.fetch.Fetcher`, the feed ownership and
state from :mod:`monitor.feeds.state`. Out: one ``news.articles`` message per new article (key
``article_id``) and one state record per poll. It must never let one feed stop or delay the
others: every failure of a feed becomes one log line, one metric sample and a backoff for that
feed alone. An exception nothing expected is a defect, not a verdict on the feed: it is
counted as outcome ``internal`` and logged with its stack trace. A state write Kafka refuses
counts in ``state_write_errors`` and leaves the poll's outcome as it was (its articles are
published). When the process as a whole cannot go on (no assignment after a rebalance, the
group thread dead, owned feeds due and no poll ending for ``NEWSWATCH_STALL_AFTER`` seconds:
see :mod:`monitor.feeds.schedule`), :meth:`Poller.run_forever` raises :class:`PollerStalled`
(:meth:`Poller.run_once` too, for a dead group thread) and the process exits for its
supervisor to restart it.

One poll of one feed, in order:
1. fetch with the stored ETag / Last-Modified; 304 → done;
2. same body hash as last time → done, without parsing (feedparser is the costly step);
3. parse and normalize; drop ids already seen;
4. for ``fulltext`` feeds, fetch each new article's page and extract its main text;
5. publish, wait for Kafka's acknowledgement, and only then write the new state, so a crash in
   between republishes (the worker drops exact duplicates) rather than loses articles.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS, Article, utcnow
from monitor.config import Settings
from monitor.feeds.extract import extract_main_text
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.fetch import Fetcher, FetchError, Validators
from monitor.feeds.normalize import normalize_feed
from monitor.feeds.parse import FeedParseError, parse_feed
from monitor.feeds.schedule import Schedule
from monitor.feeds.state import FeedOwnership, FeedState
from monitor.health import StallWatch
from monitor.metrics import POLL_OUTCOMES, PollerMetrics

log = logging.getLogger(__name__)

#: How many feeds one process fetches at the same time (the per-host limit applies as well).
MAX_CONCURRENT_POLLS = 64
#: A member still without an assignment this long after a rebalance is stuck: the group has
#: long given its feeds to the others, so the process exits and its supervisor restarts it.
REBALANCE_STALL_LIMIT = 120.0
#: Fulltext pages fetched at once per feed.
FULLTEXT_CONCURRENCY = 4
ARTICLE_PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


class PollerStalled(RuntimeError):
    """This poller cannot make progress any more: restart the process."""


@dataclass
class Poller:
    """Polls the feeds this process owns, forever or once.

    ``watch`` is told what waits and what ends (see :mod:`monitor.feeds.schedule`); by default
    one of its own with ``settings.stall_after``.
    """

    settings: Settings
    feeds: Sequence[FeedConfig]
    fetcher: Fetcher
    ownership: FeedOwnership
    metrics: PollerMetrics
    watch: StallWatch | None = None
    rng: random.Random = field(default_factory=random.Random)
    _producer: bus.Producer | None = None
    _exported_owned: set[str] = field(default_factory=set)
    _slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_POLLS))

    def __post_init__(self) -> None:
        if self.watch is None:
            self.watch = StallWatch(self.settings.stall_after)
        watch = self.watch
        # Read at each scrape, so the gauge tells the truth even if the poll loop is stuck.
        self.metrics.stalled.set_function(lambda: 1.0 if watch.stalled() else 0.0)
        self._export_feeds()
        self.articles_topic = self.settings.topic("articles")
        bus.ensure_topics(self.settings.kafka_bootstrap, [
            bus.TopicSpec(self.articles_topic, partitions=ARTICLE_PARTITIONS)])
        self._producer = bus.make_producer(self.settings.kafka_bootstrap,
                                           client_id="newswatch-poller")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=30)
            self._producer.close(timeout=10)
            self._producer = None

    # -- the two ways to run -----------------------------------------------------------------
    async def run_once(self) -> int:
        """Poll every owned feed once; return how many articles were published.

        Raises :class:`PollerStalled` when the group thread died before the feeds were shared.
        """
        # Creating news.articles above may have set off a rebalance: take the settled share.
        await asyncio.to_thread(self.ownership.wait_ready, 60.0)
        self._check_ownership()
        owned = [f for f in self.feeds if self.ownership.owns(f.id)]
        self._export_ownership()
        counts = await asyncio.gather(*(self._guarded_poll(f) for f in owned))
        return sum(counts)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll each owned feed when due, with jitter and per-feed backoff, until ``stop``.

        Raises :class:`PollerStalled`, after cancelling the polls still running, when no
        assignment follows a rebalance within ``REBALANCE_STALL_LIMIT``, when the group thread
        died, or when owned feeds were due and no poll ended for ``settings.stall_after``.
        """
        assert self.watch is not None
        schedule = Schedule(self.feeds, watch=self.watch, rng=self.rng)
        tasks: set[asyncio.Task[int]] = set()
        try:
            while not stop.is_set():
                self._export_ownership()
                self._check_ownership()
                for feed in schedule.take_due(self.ownership.owns):
                    task = asyncio.create_task(self._scheduled_poll(feed, schedule))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if self.watch.stalled():
                    raise PollerStalled(
                        f"stalled: no poll ended in {self.watch.stalled_for():.0f} s while "
                        f"feeds were due ({schedule.waiting} now, "
                        f"NEWSWATCH_STALL_AFTER={self.settings.stall_after:g})")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.25)
        except PollerStalled:
            for task in tasks:
                task.cancel()
            raise
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _check_ownership(self) -> None:
        stalled = self.ownership.stalled_for()
        if stalled > REBALANCE_STALL_LIMIT:
            raise PollerStalled(f"no feeds assigned for {stalled:.0f} s after a rebalance")
        if not self.ownership.alive():
            raise PollerStalled("the Kafka group thread stopped")

    # -- one poll ---------------------------------------------------------------------------
    async def _scheduled_poll(self, feed: FeedConfig, schedule: Schedule) -> int:
        # _poll turns every failure into an outcome; only cancellation (the process is
        # stopping) leaves here early, and that is no progress to report.
        published, ok, retry_after = await self._poll(feed)
        schedule.finished(feed, ok=ok, retry_after=retry_after)
        return published

    async def _guarded_poll(self, feed: FeedConfig) -> int:
        published, _, _ = await self._poll(feed)
        return published

    async def _poll(self, feed: FeedConfig) -> tuple[int, bool, float | None]:
        """Poll one feed; return (articles published, succeeded, Retry-After seconds)."""
        async with self._slots:
            try:
                return await self._poll_unguarded(feed)
            except Exception:
                # A bug triggered by one feed's content must not stop the other feeds; it is
                # not the feed's fault either, so it gets its own outcome ("invalid" is a bad
                # URL) and the stack trace that shows where to fix it.
                log.exception("feed %s: poll failed unexpectedly", feed.id,
                              extra={"feed_id": feed.id, "outcome": "internal"})
                self.metrics.polls.labels(feed.id, "internal").inc()
                return 0, False, None

    async def _poll_unguarded(self, feed: FeedConfig) -> tuple[int, bool, float | None]:
        state = self.ownership.get(feed.id)
        started = time.perf_counter()
        try:
            result = await self.fetcher.fetch(
                feed.url, Validators(etag=state.etag, last_modified=state.last_modified))
        except FetchError as exc:
            self.metrics.fetch_duration.observe(time.perf_counter() - started)
            self.metrics.polls.labels(feed.id, exc.kind).inc()
            log.warning("feed %s: fetch failed (%s): %s", feed.id, exc.kind, exc,
                        extra={"feed_id": feed.id, "outcome": exc.kind})
            return 0, False, exc.retry_after
        self.metrics.fetch_duration.observe(result.elapsed)
        fetched_at = utcnow()
        if result.status == 304:
            await self._succeeded(feed, state, "not_modified")
            return 0, True, None
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.body_hash:
            await self._succeeded(feed, state.model_copy(update={
                "etag": result.validators.etag, "last_modified": result.validators.last_modified,
            }), "unchanged")
            return 0, True, None
        try:
            parsed = await asyncio.to_thread(parse_feed, result.body, url=result.url,
                                             content_type=result.content_type)
        except FeedParseError as exc:
            self.metrics.polls.labels(feed.id, "not_a_feed").inc()
            log.warning("feed %s: not a feed: %s", feed.id, exc,
                        extra={"feed_id": feed.id, "outcome": "not_a_feed"})
            return 0, False, None
        if parsed.problem:
            self.metrics.parse_problems.labels(feed.id).inc()
            log.info("feed %s: malformed document parsed leniently: %s", feed.id, parsed.problem,
                     extra={"feed_id": feed.id})
        articles = normalize_feed(parsed, feed=feed, fetched_at=fetched_at, base_url=result.url)
        seen = set(state.seen)
        new = [a for a in articles if a.article_id not in seen]
        self.metrics.items_seen.labels(feed.id).inc(len(articles) - len(new))
        if feed.fulltext and new:
            new = await self._add_fulltext(feed, new)
        try:
            await self._publish(new)
        except bus.KafkaError as exc:
            self.metrics.publish_errors.labels(feed.id).inc(len(new))
            self.metrics.polls.labels(feed.id, "publish_error").inc()
            log.error("feed %s: publishing %d articles failed: %s", feed.id, len(new), exc,
                      extra={"feed_id": feed.id, "outcome": "publish_error"})
            return 0, False, None
        self.metrics.items_published.labels(feed.id).inc(len(new))
        for article in new:
            self._observe_lag(article.published_at, fetched_at)
            log.info("published %s | %s | %s", feed.id, article.title[:120], article.url,
                     extra={"feed_id": feed.id, "article_id": article.article_id})
        await self._succeeded(feed, state.model_copy(update={
            "etag": result.validators.etag,
            "last_modified": result.validators.last_modified,
            "body_hash": body_hash,
            "seen": state.remember(a.article_id for a in articles),
        }), "ok")
        return len(new), True, None

    async def _succeeded(self, feed: FeedConfig, state: FeedState, outcome: str) -> None:
        now = time.time()
        # A refused write is logged by the ownership and only counted here: the poll itself
        # succeeded (its articles are acknowledged), so its outcome stays. On a thread because
        # a send blocks for up to the producer's max_block_ms while Kafka has no metadata.
        errors = self.metrics.state_write_errors.labels(feed.id)
        await asyncio.to_thread(
            self.ownership.put, state.model_copy(update={"last_success": now, "failures": 0}),
            on_failed=lambda _exc: errors.inc())
        self.metrics.polls.labels(feed.id, outcome).inc()
        self.metrics.last_success.labels(feed.id).set(now)

    async def _publish(self, articles: list[Article]) -> None:
        assert self._producer is not None
        futures = [self._producer.send(self.articles_topic, key=a.article_id.encode(),
                                       value=a.to_json()) for a in articles]
        if futures:
            await asyncio.to_thread(bus.wait_all, futures)

    async def _add_fulltext(self, feed: FeedConfig, articles: list[Article]) -> list[Article]:
        limit = asyncio.Semaphore(FULLTEXT_CONCURRENCY)
        # A page fetch that ended, however, is progress too: the first poll of a fulltext feed
        # whose article host lets every page time out can outlast the stall limit, and a
        # restart would only start that poll over.
        watch = self.watch
        assert watch is not None

        async def one(article: Article) -> Article:
            if not article.url:
                return article
            async with limit:
                try:
                    page = await self.fetcher.fetch(article.url, accept=ARTICLE_PAGE_ACCEPT)
                except FetchError as exc:
                    log.info("feed %s: article page not fetched (%s); keeping the summary",
                             feed.id, exc.kind, extra={"feed_id": feed.id})
                    watch.progressed()
                    return article
                watch.progressed()
            text = await asyncio.to_thread(extract_main_text, page.body, url=page.url,
                                           content_type=page.content_type)
            if not text or len(text) <= len(article.text):
                return article
            return article.model_copy(update={"text": text})

        return list(await asyncio.gather(*(one(a) for a in articles)))

    def _observe_lag(self, published_at: datetime | None, fetched_at: datetime) -> None:
        if published_at is not None:
            lag = (fetched_at - published_at).total_seconds()
            if lag >= 0:
                self.metrics.publish_lag.observe(lag)

    def _export_feeds(self) -> None:
        """Give every feed its interval and a zero in each of its counters.

        A series that does not exist yet is no zero to ``rate()`` or ``increase()``: an alert
        on, say, publish errors would miss the first error after a start.
        """
        for feed in self.feeds:
            self.metrics.feed_interval.labels(feed.id).set(feed.interval)
            for outcome in POLL_OUTCOMES:
                self.metrics.polls.labels(feed.id, outcome)
            for counter in (self.metrics.items_published, self.metrics.items_seen,
                            self.metrics.publish_errors, self.metrics.parse_problems,
                            self.metrics.state_write_errors):
                counter.labels(feed.id)

    def _export_ownership(self) -> None:
        for feed in self.feeds:
            owned = self.ownership.owns(feed.id)
            self.metrics.feed_owned.labels(feed.id).set(1 if owned else 0)
            if owned and feed.id not in self._exported_owned:
                # A feed this process just took over (at start, or from another poller): its
                # last success is the one its state remembers, not "never", or every restart
                # would show every feed stale until its next poll.
                last = self.ownership.get(feed.id).last_success
                if last is not None:
                    self.metrics.last_success.labels(feed.id).set(last)
            if owned:
                self._exported_owned.add(feed.id)
            else:
                self._exported_owned.discard(feed.id)
