"""``newswatch worker``: run the Faust app in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from monitor.config import Settings

log = logging.getLogger(__name__)


def add_worker_command(sub: Any) -> None:
    worker = sub.add_parser("worker", help="tag articles from news.articles into news.matches")
    worker.add_argument("--topics", type=Path, default=Path("topics"),
                        help="watch-topic directory (default: topics)")
    worker.add_argument("--web-port", type=int, default=6066,
                        help="port for /metrics and Faust's web views (default: 6066)")
    worker.set_defaults(func=run_worker)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from monitor import bus
    from monitor.app import create_app
    from monitor.article import ARTICLE_PARTITIONS

    bus.ensure_topics(settings.kafka_bootstrap, [
        bus.TopicSpec(settings.topic(name), partitions=ARTICLE_PARTITIONS)
        for name in ("articles", "matches", "articles.dead")])
    app = create_app(settings, topics_dir=args.topics, web_port=args.web_port)
    log.info("tagging %s into %s with %d watch topics from %s; metrics on "
             "http://0.0.0.0:%d/metrics", settings.topic("articles"), settings.topic("matches"),
             len(app.newswatch_watch.matcher.watch_topics),  # type: ignore[attr-defined]
             args.topics, args.web_port)
    # quiet: no banner or spinner on the console, where the matches are printed.
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False,
                          redirect_stdouts=False, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
