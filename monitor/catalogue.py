"""The Kafka topic catalogue: every topic newswatch reads or writes, with its partitions,
retention and compaction, in one place.

``newswatch create-topics`` makes a cluster match it (the one-shot job of ``docker compose`` and
Kubernetes runs it before any stage starts); the worker and ``newswatch up`` create what is
missing from it at start. Keyed topics share :data:`~monitor.article.ARTICLE_PARTITIONS`
partitions, so that a worker's partitions of each stage hold the same keys' state.

Retention, by what the topic is for:

- the stream between stages (articles, matches, pending alerts): a week, room enough to replay
  a stage after a long outage;
- stories and the audit of what was delivered (``alerts``): 90 days, what an analyst looks
  back on;
- dead letters: 30 days, for ops to read and replay;
- state (the pollers' feed state, the worker's table changelogs, feedback): compacted, kept
  for good, one value a key.
"""

from __future__ import annotations

from monitor.article import ARTICLE_PARTITIONS
from monitor.bus import TopicSpec
from monitor.config import Settings
from monitor.feeds.state import STATE_PARTITIONS

_DAY_MS = 24 * 3600 * 1000

#: The worker's tables; Faust names each changelog ``<app id>-<table>-changelog``.
WORKER_TABLES = ("articles-seen", "stories-open", "alerts")

_RETENTION_DAYS = {
    "articles": 7, "matches": 7, "alerts.pending": 7,
    "stories": 90, "alerts": 90,
    "articles.dead": 30, "matches.dead": 30, "stories.dead": 30, "alerts.pending.dead": 30,
    "alerts.dead": 30,
}


def worker_app_id(settings: Settings) -> str:
    """The worker's Faust app id, which is also its consumer group."""
    return f"{settings.topic_namespace}.worker"


def changelog_topic(settings: Settings, table: str) -> str:
    return f"{worker_app_id(settings)}-{table}-changelog"


def kafka_topics(settings: Settings) -> tuple[TopicSpec, ...]:
    """Every Kafka topic of the deployment ``settings`` names, as it should be."""
    compact = {"cleanup.policy": "compact"}
    replication = settings.kafka_replication
    specs = [TopicSpec(settings.topic(thing), partitions=ARTICLE_PARTITIONS,
                       replication=replication, config={
                           "cleanup.policy": "delete", "retention.ms": str(days * _DAY_MS)})
             for thing, days in _RETENTION_DAYS.items()]
    specs.append(TopicSpec(settings.topic("poller.state"), partitions=STATE_PARTITIONS,
                           replication=replication, config=compact))
    specs.append(TopicSpec(settings.topic("feedback"), partitions=ARTICLE_PARTITIONS,
                           replication=replication, config=compact))
    specs += [TopicSpec(changelog_topic(settings, table), partitions=ARTICLE_PARTITIONS,
                        replication=replication, config=compact) for table in WORKER_TABLES]
    return tuple(specs)
