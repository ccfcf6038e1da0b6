"""Every Prometheus metric of newswatch, in one place, built against a registry passed in.

Names follow ``newswatch_<stage>_<thing>_<unit>``. Labels come from closed sets only: feed id
(from the feeds file), watch topic id, channel, outcome. Never URLs, titles or error texts.
Tests build a fresh ``CollectorRegistry`` per instance, so two pollers in one process (or one
test after another) never share counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Outcomes of one poll of one feed. Fetch failures use ``FetchError.kind``; ``invalid`` is a
#: request that cannot be made (a bad URL), ``internal`` an unexpected exception (a defect: its
#: stack trace is logged).
POLL_OUTCOMES = (
    "ok", "not_modified", "unchanged", "not_a_feed", "publish_error",
    "timeout", "connect", "http_4xx", "http_5xx", "too_large", "too_many_redirects",
    "rate_limited", "invalid", "internal",
)

#: The worker's stages, as the ``stage`` label names them.
WORKER_STAGES = ("tag", "story", "route", "alert")

_LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 86400)


class PollerMetrics:
    """What ``newswatch poll`` exports on ``/metrics``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.polls = Counter(
            "newswatch_poller_polls_total", "Polls of a feed, by outcome.",
            ["feed_id", "outcome"], registry=registry)
        self.fetch_duration = Histogram(
            "newswatch_poller_fetch_duration_seconds",
            "Time to fetch one feed document, successful or not.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30), registry=registry)
        self.items_published = Counter(
            "newswatch_poller_items_published_total", "New articles published to Kafka.",
            ["feed_id"], registry=registry)
        self.items_seen = Counter(
            "newswatch_poller_items_already_seen_total",
            "Items skipped because an earlier poll already published them.",
            ["feed_id"], registry=registry)
        self.last_success = Gauge(
            "newswatch_poller_last_success_timestamp_seconds",
            "Unix time of the feed's last successful poll (200 or 304).",
            ["feed_id"], registry=registry)
        self.publish_errors = Counter(
            "newswatch_poller_publish_errors_total",
            "Articles that Kafka did not accept; they are retried at the next poll.",
            ["feed_id"], registry=registry)
        self.parse_problems = Counter(
            "newswatch_poller_parse_problems_total",
            "Feed documents that were malformed but parsed leniently.",
            ["feed_id"], registry=registry)
        self.feed_owned = Gauge(
            "newswatch_poller_feed_owned",
            "1 when this poller process currently polls the feed, else 0.",
            ["feed_id"], registry=registry)
        self.stalled = Gauge(
            "newswatch_poller_stalled",
            "1 when owned feeds were due and no poll ended for NEWSWATCH_STALL_AFTER seconds "
            "(the process then exits), else 0.",
            registry=registry)
        self.state_write_errors = Counter(
            "newswatch_poller_state_write_errors_total",
            "Writes of a feed's state (what it has seen, its HTTP validators) that Kafka did not "
            "accept; the feed's next poll may publish its items again.",
            ["feed_id"], registry=registry)
        self.feed_interval = Gauge(
            "newswatch_poller_feed_interval_seconds",
            "The feed's configured poll interval (what staleness is measured against).",
            ["feed_id"], registry=registry)
        self.publish_lag = Histogram(
            "newswatch_poller_published_to_fetched_seconds",
            "From an article's published time to the poll that found it.",
            buckets=_LATENCY_BUCKETS, registry=registry)


class TaggerMetrics:
    """What the worker's tagging agent exports (beside Faust's own sensor metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.articles = Counter(
            "newswatch_tagger_articles_total",
            "Articles read from news.articles, by outcome: tagged, replayed (read again after a "
            "restart and tagged again), duplicate, dead, error.",
            ["outcome"], registry=registry)
        self.matches = Counter(
            "newswatch_tagger_matches_total", "Matches written, by watch topic.",
            ["topic_id"], registry=registry)
        self.tag_duration = Histogram(
            "newswatch_tagger_tag_duration_seconds",
            "Time to decode, match and encode one article.",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
            registry=registry)
        self.fetched_to_matched = Histogram(
            "newswatch_tagger_fetched_to_matched_seconds",
            "From the poll that found an article to its match being written.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=registry)
        self.watch_topics = Gauge(
            "newswatch_tagger_watch_topics", "Watch topics currently loaded.", registry=registry)
        self.reloads = Counter(
            "newswatch_tagger_reloads_total",
            "Reloads of the watch-topic directory, by outcome (ok, error).",
            ["outcome"], registry=registry)
        self.stalled = Gauge(
            "newswatch_worker_stalled",
            "1 when input has waited NEWSWATCH_STALL_AFTER seconds with nothing processed; "
            "the worker then exits to be restarted.", registry=registry)
        self.dead_letters = Counter(
            "newswatch_worker_dead_letters_total",
            "Messages a stage could not read, written to its dead-letter topic, by stage: tag "
            "(news.articles), story (news.matches), route (news.stories), alert "
            "(news.alerts.pending).",
            ["stage"], registry=registry)
        self.consumer_lag = Gauge(
            "newswatch_worker_consumer_lag_messages",
            "Messages of this worker's partitions written and not yet committed, by stage "
            "(as dead_letters); sum over workers for the whole group.",
            ["stage"], registry=registry)
        self.ready = Gauge(
            "newswatch_worker_ready",
            "1 when the worker holds partitions and is not stalled (what /readyz answers), "
            "else 0.", registry=registry)
        for stage in WORKER_STAGES:
            self.dead_letters.labels(stage)
            self.consumer_lag.labels(stage)


class StoryMetrics:
    """What the worker's story agent exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.matches = Counter(
            "newswatch_stories_matches_total",
            "Matches read from news.matches, by outcome: opened (a new story), joined (an open "
            "story), replayed (read again after a restart, its event sent again), duplicate "
            "(an article a story already has), dead, error.",
            ["outcome"], registry=registry)
        self.open = Gauge(
            "newswatch_stories_open", "Open stories held by this worker, by watch topic.",
            ["topic_id"], registry=registry)
        self.expired = Counter(
            "newswatch_stories_expired_total",
            "Stories closed because no article joined them within the story window.",
            registry=registry)
        self.fold_duration = Histogram(
            "newswatch_stories_fold_duration_seconds",
            "Time to decode, embed and fold one match.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1), registry=registry)
        self.unreadable = Counter(
            "newswatch_stories_unreadable_stored_total",
            "Stored stories that could not be read back after a restart (skipped, logged).",
            registry=registry)


_DELIVERY_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800, 3600,
                             6 * 3600, 86400)


class AlertMetrics:
    """What the worker's alert agents export (``channel`` is slack, email, webhook, console)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.routed = Counter(
            "newswatch_alerts_routed_total",
            "Story events routed to a subscriber who watches their watch topic.",
            ["topic_id"], registry=registry)
        self.decisions = Counter(
            "newswatch_alerts_decisions_total",
            "Story events and ticks taken by the alert stage, by what came of them: alert, "
            "update, digest (a message), none (held, digested later, seen before or not "
            "wanted), unsubscribed (no such subscriber any more), dead.",
            ["decision"], registry=registry)
        self.deliveries = Counter(
            "newswatch_alerts_deliveries_total",
            "Messages finished, by channel, watch topic (digest for a digest) and outcome: "
            "sent (accepted by the channel) or dead (refused for good or failing too long), "
            "and subscriber.",
            ["channel", "subscriber_id", "topic_id", "outcome"], registry=registry)
        self.retries = Counter(
            "newswatch_alerts_retries_total",
            "Failed attempts that will be tried again, by channel.", ["channel"],
            registry=registry)
        self.pending = Gauge(
            "newswatch_alerts_pending_deliveries",
            "Messages decided and not yet accepted by their channel, on this worker.",
            registry=registry)
        self.send_duration = Histogram(
            "newswatch_alerts_send_duration_seconds",
            "Time the channel took to accept one message, over all attempts.", ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry)
        self.digest_stories = Histogram(
            "newswatch_alerts_digest_stories", "Stories in one digest message.",
            buckets=(1, 2, 5, 10, 20, 50), registry=registry)
        self.fetched_to_delivered = Histogram(
            "newswatch_alerts_fetched_to_delivered_seconds",
            "From an article's fetch to the channel's acceptance of its alert or update.",
            ["channel"], buckets=_DELIVERY_LATENCY_BUCKETS, registry=registry)
        self.published_to_delivered = Histogram(
            "newswatch_alerts_published_to_delivered_seconds",
            "From an article's publication (as its feed says) to the channel's acceptance.",
            ["channel"], buckets=_DELIVERY_LATENCY_BUCKETS, registry=registry)
        self.matched_to_delivered = Histogram(
            "newswatch_alerts_matched_to_delivered_seconds",
            "From an article's match to the channel's acceptance of its alert or update.",
            ["channel"], buckets=_DELIVERY_LATENCY_BUCKETS, registry=registry)


class ConsoleMetrics:
    """What ``newswatch console`` exports on ``/metrics``: its reader, its store, its pages.

    ``lag`` and ``stats`` are asked at each scrape (the ingest's backlog, the store's rows and
    messages read and skipped), so the numbers are never older than the scrape.
    """

    def __init__(self, registry: CollectorRegistry, *, lag: Callable[[], int],
                 stats: Callable[[], Mapping[str, int]]) -> None:
        self.registry = registry
        self.requests = Histogram(
            "newswatch_console_request_duration_seconds",
            "Time to answer one request, by page (the route, never the URL) and status class.",
            ["route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5), registry=registry)
        self.feedback = Counter(
            "newswatch_console_feedback_total",
            "Analysts' feedback, by kind (vote, ack, snooze) and outcome (recorded, "
            "not_recorded: Kafka did not take it).", ["kind", "outcome"], registry=registry)
        for kind in ("vote", "ack", "snooze"):
            for outcome in ("recorded", "not_recorded"):
                self.feedback.labels(kind, outcome)
        lag_gauge = Gauge(
            "newswatch_console_ingest_lag_messages",
            "Messages on Kafka the console has not read yet (-1 before the first measure).",
            registry=registry)
        lag_gauge.set_function(lambda: float(lag()))
        registry.register(_StoreCollector(stats))


class _StoreCollector(Collector):
    def __init__(self, stats: Callable[[], Mapping[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        rows = GaugeMetricFamily("newswatch_console_store_rows",
                                 "Rows in the console's store, by table.", labels=["table"])
        for table in ("articles", "matches", "stories", "alerts", "feedback"):
            rows.add_metric([table], float(stats.get(table, 0)))
        messages = CounterMetricFamily(
            "newswatch_console_ingest_messages", "Kafka messages the console read, by outcome "
            "(stored, skipped: unreadable).", labels=["outcome"])
        messages.add_metric(["stored"], float(stats.get("read", 0) - stats.get("skipped", 0)))
        messages.add_metric(["skipped"], float(stats.get("skipped", 0)))
        yield rows
        yield messages
