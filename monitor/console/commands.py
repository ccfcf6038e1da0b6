"""``newswatch console``: the analysts' web console, in a process of its own.

In: the Kafka topics the pipeline writes (stories, alerts, matches, feedback and a rolling
window of articles), the watch-topic directory, and who may use it (:mod:`monitor.console.auth`).
Out: pages on ``http://BIND:PORT``, the analysts' feedback on ``news.feedback``, and watch-topic
files saved by the rule editor, which the workers reload as they do any edit.

Its own process, with its own store (:mod:`monitor.console.store`, a SQLite file rebuilt by
replay when deleted) and its own Kafka reader outside any consumer group: a worker that is
stalled, restarting or rebalancing never takes the console down, and the console never holds a
worker back.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Settings

if TYPE_CHECKING:
    import uvicorn

    from monitor.console.ingest import Ingest

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
DEFAULT_BIND = "127.0.0.1"


def add_console_command(sub: Any) -> None:
    console = sub.add_parser(
        "console", help="serve the analysts' console: stories, evidence, feedback, rule editor")
    console.add_argument("--port", type=int, default=DEFAULT_PORT,
                         help=f"port to serve on (default: {DEFAULT_PORT})")
    console.add_argument("--bind", default=DEFAULT_BIND,
                         help=f"address to serve on (default: {DEFAULT_BIND}; 0.0.0.0 for "
                              "every interface, with an --auth other than none)")
    console.add_argument("--topics", type=Path, default=Path("topics"),
                         help="watch-topic directory the rule editor opens and saves "
                              "(default: topics)")
    console.add_argument("--db", type=Path, default=None,
                         help="the console's store, rebuilt from Kafka when missing "
                              "(default: $NEWSWATCH_CACHE/console-<namespace>.sqlite3)")
    console.add_argument("--window", type=_days, default=timedelta(days=7),
                         help="days of articles kept for the editor's backtest (default: 7)")
    console.set_defaults(func=run_console)


def _days(value: str) -> timedelta:
    try:
        days = float(value.removesuffix("d"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of days, e.g. 7") from None
    if not 0 < days <= 90:
        raise argparse.ArgumentTypeError(f"{value!r}: between 1 hour and 90 days")
    return timedelta(days=days)


def run_console(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn
    from prometheus_client import CollectorRegistry

    from monitor.console.auth import Auth, AuthError
    from monitor.console.editor import Editor
    from monitor.console.ingest import Ingest
    from monitor.console.sink import FeedbackSink
    from monitor.console.store import Store
    from monitor.console.web import create_app
    from monitor.metrics import ConsoleMetrics

    if not args.topics.is_dir():
        print(f"newswatch console: {args.topics}: not a directory (give --topics)",
              file=sys.stderr)
        return 2
    try:
        auth = Auth.from_env(os.environ, bind=args.bind)
    except AuthError as exc:
        print(f"newswatch console: {exc}", file=sys.stderr)
        return 2
    db = args.db or settings.cache_dir / f"console-{settings.topic_namespace}.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(db, window=args.window)
    ingest = Ingest(settings, store, window=args.window)
    sink = FeedbackSink(settings.kafka_bootstrap, settings.topic("feedback"), store)
    editor = Editor(args.topics, store, days=max(1, round(args.window / timedelta(days=1))),
                    cache_dir=settings.cache_dir / "index")
    metrics = ConsoleMetrics(CollectorRegistry(), lag=ingest.lag, stats=store.stats)
    app = create_app(store=store, sink=sink, editor=editor, auth=auth, topics_dir=args.topics,
                     ready=ingest.caught_up.is_set, metrics=metrics)
    config = uvicorn.Config(app, host=args.bind, port=args.port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server_socket = config.bind_socket()
    except (OSError, SystemExit) as exc:
        print(f"newswatch console: cannot serve on {args.bind}:{args.port} ({exc}); "
              "choose another --port", file=sys.stderr)
        return 2
    ingest.start()
    # Reads the window and backtests every saved watch topic ahead of the first preview,
    # which would otherwise wait for it.
    threading.Thread(target=editor.warm, name="editor-warm", daemon=True).start()
    host = f"[{args.bind}]" if ":" in args.bind else args.bind
    print(f"newswatch console on http://{host}:{server_socket.getsockname()[1]}/ "
          f"(store {db}, reading Kafka at {settings.kafka_bootstrap})", flush=True)
    # A reader that died leaves pages that silently stop changing: exit instead, so that the
    # supervisor restarts the console, which carries on from the offsets in its store.
    watchdog = threading.Thread(target=_watch, args=(ingest, server), name="ingest-watch",
                                daemon=True)
    watchdog.start()
    try:  # uvicorn stops on SIGINT and SIGTERM
        server.run(sockets=[server_socket])
    finally:
        ingest.stop()
        ingest.join(timeout=10)
        sink.close()
    if ingest.failed is not None:
        log.error("the Kafka reader stopped (%s); exiting so that the console is restarted",
                  ingest.failed)
        return 1
    return 0


def _watch(ingest: Ingest, server: uvicorn.Server) -> None:
    while ingest.is_alive():
        time.sleep(1.0)
    server.should_exit = True
