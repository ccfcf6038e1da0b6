"""``newswatch worker``: run the Faust app in the foreground until SIGINT/SIGTERM.

Beside the app run two watchdog threads, outside the event loop so that they see a loop that is
blocked as well as one that waits forever: every few seconds one asks Kafka how many messages of
the worker's partitions wait uncommitted and feeds that to the worker's
:class:`~monitor.health.StallWatch` (what ``/readyz`` answers), and has a partition whose
committed offset has not moved for 20 s with input waiting read again from there; the other
exits the process with status 1 when a partition has had input waiting for
``NEWSWATCH_STALL_AFTER`` seconds without its committed offset moving, so that a supervisor
restarts it instead of leaving a worker that looks alive and does nothing. Two threads, because
a question to a broker that hangs may itself take seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.config import Settings

log = logging.getLogger(__name__)


def add_worker_command(sub: Any) -> None:
    worker = sub.add_parser("worker", help="tag articles, fold them into stories, alert "
                            "subscribers")
    worker.add_argument("--topics", type=Path, default=Path("topics"),
                        help="watch-topic directory (default: topics)")
    worker.add_argument("--subscribers", type=Path, default=None,
                        help="subscribers file, reloaded when it changes (default: none, "
                             "nobody is alerted)")
    worker.add_argument("--web-port", type=int, default=6066,
                        help="port for /metrics, /healthz, /readyz (default: 6066)")
    worker.set_defaults(func=run_worker)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from monitor import bus
    from monitor.alerting.subscribers import SubscribersReloader
    from monitor.app import create_app
    from monitor.article import ARTICLE_PARTITIONS
    from monitor.brokerwatch import BrokerWatch
    from monitor.catalogue import kafka_topics
    from monitor.yamlfile import ConfigErrors

    subscribers = None
    if args.subscribers is not None:
        try:
            subscribers = SubscribersReloader(
                args.subscribers, environ=os.environ,
                known_topics={p.stem for p in args.topics.glob("*.yaml")})
        except (ConfigErrors, OSError) as exc:
            log.error("cannot start: the subscribers file is wrong:\n%s", exc)
            return 2
    broker_watch = BrokerWatch(settings.kafka_bootstrap)
    broker_watch.install()
    broker_watch.start()
    worker = create_app(settings, topics_dir=args.topics, web_port=args.web_port,
                        subscribers=subscribers)
    # Every topic of the catalogue, the tables' changelogs too, before Faust starts: Faust
    # declares them while its first rebalance may already be under way, and a table whose
    # changelog the consumer first saw missing stays "0 partitions" to it, refusing every
    # write until a restart.
    catalogue = kafka_topics(settings)
    known = {spec.name for spec in catalogue}
    bus.ensure_topics(settings.kafka_bootstrap, [*catalogue, *(
        bus.TopicSpec(name, partitions=ARTICLE_PARTITIONS, config={"cleanup.policy": "compact"})
        for name in worker.changelog_topics if name not in known)])
    log.info("tagging %s into %s with %d watch topics from %s, alerting %d subscribers; "
             "metrics on http://0.0.0.0:%d/metrics", settings.topic("articles"),
             settings.topic("matches"), len(worker.watch.matcher.watch_topics), args.topics,
             len(worker.alerting.subscribers.subscribers.subscribers), args.web_port)
    # Every agent's input: a stage stuck anywhere stalls the worker as surely as one stuck on
    # articles. They have the same partitions, and Faust assigns them together.
    probe = bus.LagProbe(settings.kafka_bootstrap, group_id=worker.group_id,
                         topics=tuple(worker.stage_of_topic))
    for target in (_probe_lag, _watch_stall):
        threading.Thread(target=_exit_when_done(target), args=(worker, probe),
                         name=target.__name__.strip("_"), daemon=True).start()
    # quiet: no banner or spinner on the console, where the matches are printed.
    runner = faust.Worker(worker.app, loglevel=settings.log_level, override_logging=False,
                          redirect_stdouts=False, quiet=True)
    runner.spinner = None  # it writes a terminal escape even when quiet
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _interval(worker: Any) -> float:
    return float(min(10.0, worker.health.stall_after / 5))


#: Seconds a partition may sit stuck with input waiting before the worker reads it again. A
#: worker that processes anything commits within seconds; reading again costs only repeats.
READ_AGAIN_AFTER = 20.0


def _read_again_after(worker: Any) -> float:
    """How long a partition may sit stuck before it is read again (well before the exit)."""
    return float(min(READ_AGAIN_AFTER, worker.health.stall_after / 3))


def _probe_lag(worker: Any, probe: Any) -> None:
    """Tell the stall watch how many messages of the worker's partitions wait uncommitted."""
    from monitor import bus

    health = worker.health
    while True:
        time.sleep(_interval(worker))
        partitions = worker.assignment.partitions
        if not partitions:
            health.observe({})
            health.set_ready(False, f"no partition of {worker.articles_topic} assigned")
            continue
        try:
            positions = probe.positions(partitions)
        except bus.KafkaError:
            probe.close()  # Kafka is away: the stall clock keeps running on what it knew
            continue
        health.observe(positions)
        _export_lag(worker, positions)
        for (topic, partition), committed in health.stuck(after=_read_again_after(worker)).items():
            log.warning("%s[%d] has had input waiting and its committed offset stuck at %d for "
                        "%.0f s: reading it again from there", topic, partition, committed,
                        _read_again_after(worker))
            worker.read_again(topic, partition, committed)
        waiting = sum(max(end - committed, 0) for committed, end in positions.values())
        health.set_ready(True, f"partitions {sorted(partitions)} of {worker.articles_topic}; "
                               f"{waiting} messages waiting")


def _export_lag(worker: Any, positions: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Set the lag gauge of each stage from what waits uncommitted in its partitions."""
    waiting = dict.fromkeys(worker.stage_of_topic.values(), 0)
    for (topic, _partition), (committed, end) in positions.items():
        stage = worker.stage_of_topic.get(topic)
        if stage is not None:
            waiting[stage] += max(end - committed, 0)
    for stage, count in waiting.items():
        worker.metrics.consumer_lag.labels(stage).set(count)


def _watch_stall(worker: Any, probe: Any) -> None:
    """Return (and so exit the process) once the stall watch says the worker is stalled.

    Apart from the probe, whose questions to a broker that hangs may take seconds each.
    """
    health = worker.health
    while True:
        time.sleep(_interval(worker))
        if health.stalled():
            log.error("worker stalled: %s; exiting so that it is restarted", health.status()[1])
            return


def _exit_when_done(target: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """Run ``target`` in a watchdog thread: when it returns or fails, the process exits 1."""
    def run(worker: Any, probe: Any) -> None:
        try:
            target(worker, probe)
        except Exception:
            log.exception("%s failed; exiting so that the worker is restarted",
                          target.__name__.strip("_"))
        logging.shutdown()
        os._exit(1)
    return run
