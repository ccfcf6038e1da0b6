"""The ``newswatch`` command: run the news monitor's stages and the analysts' tools.

- ``newswatch up``: a local Kafka (unless ``NEWSWATCH_KAFKA_BOOTSTRAP`` is set), the poller,
  the worker and the analysts' console, alerts on standard output (``--subscribers FILE`` for
  others);
- ``newswatch kafka [--port 9092] [--data-dir DIR]``: a real single-node broker, foreground;
- ``newswatch poll [--feeds FILE] [--once] [--metrics-port N]``: publish new articles;
- ``newswatch worker [--topics DIR] [--subscribers FILE] [--web-port N]``: tag articles, fold
  them into stories, alert the subscribers;
- ``newswatch console [--port 8080] [--bind 127.0.0.1]``: the analysts' web console;
- ``newswatch topics check|explain``, ``newswatch tag``, ``newswatch backtest``: the analysts'
  tools.
- ``newswatch subscribers check FILE [--topics DIR] [--no-env]``: validate a subscribers file.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.config import Settings, SettingsError
from monitor.console.commands import DEFAULT_PORT as CONSOLE_PORT
from monitor.console.commands import add_console_command
from monitor.logs import configure_logging
from monitor.stories.commands import add_commands as add_story_commands
from monitor.tagging.commands import add_commands
from monitor.worker import add_worker_command
from monitor.yamlfile import ConfigError, ConfigErrors

if TYPE_CHECKING:  # imported where used, so that the analysts' commands start fast
    from monitor.demo import DemoFeeds
    from monitor.feeds.state import FeedOwnership
    from monitor.health import StallWatch
    from monitor.metrics import PollerMetrics

log = logging.getLogger("monitor")

DEFAULT_FEEDS = Path("deploy/feeds.yaml")
DEFAULT_SUBSCRIBERS = Path("deploy/subscribers.console.yaml")
#: ``newswatch up`` restarts a stage that exited; one that ran this long starts afresh with a
#: short pause, one that keeps failing waits up to ``UP_RESTART_MAX_DELAY`` seconds.
UP_RESTART_RESET = 60.0
UP_RESTART_MAX_DELAY = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"newswatch: bad environment: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level, settings.log_format,
                       {"poll": "poller"}.get(args.command or "", args.command or "newswatch"))
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args, settings)
    except (ConfigError, ConfigErrors) as exc:
        print(f"newswatch: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    summary = __doc__.splitlines()[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="newswatch", description=summary)
    parser.add_argument("--version", action="version", version=f"newswatch {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")

    up = sub.add_parser("up", help="run the whole pipeline locally: Kafka, poller, worker, "
                        "analysts' console")
    up.add_argument("--feeds", type=Path, default=DEFAULT_FEEDS)
    up.add_argument("--topics", type=Path, default=Path("topics"))
    up.add_argument("--subscribers", type=Path, default=DEFAULT_SUBSCRIBERS,
                    help=f"subscribers file (default: {DEFAULT_SUBSCRIBERS}, standard output)")
    up.add_argument("--demo", action="store_true",
                    help="also poll reports of a few events served from this machine "
                         "(deploy/demo/articles.yaml): stories without the internet")
    up.add_argument("--console-port", type=int, default=CONSOLE_PORT,
                    help=f"port of the analysts' console on 127.0.0.1 (default: {CONSOLE_PORT}; "
                         "0 for none)")
    up.set_defaults(func=_cmd_up)

    kafka = sub.add_parser("kafka", help="run a local single-node Kafka broker")
    kafka.add_argument("--port", type=int, default=9092)
    kafka.add_argument("--data-dir", type=Path, default=None)
    kafka.set_defaults(func=_cmd_kafka)

    poll = sub.add_parser("poll", help="poll feeds and publish new articles")
    poll.add_argument("--feeds", type=Path, default=DEFAULT_FEEDS,
                      help="feeds file (default: deploy/feeds.yaml)")
    poll.add_argument("--once", action="store_true", help="poll each owned feed once and exit")
    poll.add_argument("--metrics-port", type=int, default=None,
                      help="serve /metrics, /healthz and /readyz on this port")
    poll.set_defaults(func=_cmd_poll)

    subscribers = sub.add_parser("subscribers", help="check a subscribers file")
    subscribers_commands = subscribers.add_subparsers(title="subscribers commands",
                                                      metavar="COMMAND", required=True)
    check = subscribers_commands.add_parser(
        "check", help="validate a subscribers file: settings, channels, secrets, watch topics")
    check.add_argument("file", type=Path, help="subscribers file, e.g. deploy/subscribers.yaml")
    check.add_argument("--topics", type=Path, default=Path("topics"),
                       help="watch-topic directory: the ids that may be watched "
                            "(default: topics)")
    check.add_argument("--no-env", action="store_true",
                       help="ignore the environment: unset ${VAR} secrets are no error (CI)")
    check.set_defaults(func=_cmd_subscribers_check)

    create = sub.add_parser(
        "create-topics", help="create (or bring in line) every Kafka topic newswatch uses, with "
                              "its partitions, retention and compaction; safe to run again")
    create.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for Kafka to answer (default: 120)")
    create.set_defaults(func=_cmd_create_topics)

    add_worker_command(sub)
    add_console_command(sub)
    add_commands(sub)
    add_story_commands(sub)
    return parser


def _configure_logging(level: str, log_format: str, process: str) -> None:
    configure_logging(level, log_format=log_format, process=process)
    # The Kafka clients narrate every connection, and Faust every service it starts, at INFO;
    # ops need their warnings only (NEWSWATCH_LOG_LEVEL=DEBUG shows everything).
    if level.upper() != "DEBUG":
        for noisy in ("kafka", "aiokafka", "httpx", "httpcore", "faust", "mode"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # "Timer commit is overlapping": a commit waits for the producer to flush, which under
        # load outlasts the one-second interval; harmless, and a real stall is reported by
        # the stall watch instead.
        logging.getLogger("mode.timers").setLevel(logging.ERROR)
        # "producer buffer full size N": Faust pausing the stream while table writes drain,
        # which is backpressure working as meant, logged at WARNING for every pause.
        logging.getLogger("faust.transport.producer").addFilter(
            lambda record: not record.getMessage().startswith("producer buffer full"))


def _cmd_create_topics(args: argparse.Namespace, settings: Settings) -> int:
    """Make the cluster's topics match the catalogue; print what was done (exit 1 if wrong)."""
    from monitor import bus
    from monitor.catalogue import kafka_topics

    specs = kafka_topics(settings)
    try:
        done, wrong = bus.reconcile_topics(settings.kafka_bootstrap, specs, timeout=args.timeout)
    except bus.KafkaError as exc:
        print(f"newswatch create-topics: Kafka at {settings.kafka_bootstrap}: {exc}",
              file=sys.stderr)
        return 1
    for line in done:
        print(line)
    for line in wrong:
        print(f"newswatch create-topics: {line}", file=sys.stderr)
    if wrong:
        return 1
    print(f"{len(specs)} Kafka topics at {settings.kafka_bootstrap} match the catalogue")
    return 0


def _cmd_subscribers_check(args: argparse.Namespace, settings: Settings) -> int:
    """Validate a subscribers file; print each error on stderr (exit 1) or a summary."""
    from monitor.alerting.subscribers import load_subscribers

    if not args.topics.is_dir():
        print(f"newswatch: {args.topics}: not a directory (give the watch topics' --topics)",
              file=sys.stderr)
        return 2
    # A watch topic's id is its file's name (``newswatch topics check`` enforces it).
    known = {p.stem for p in args.topics.iterdir()
             if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith(".")}
    try:
        loaded = load_subscribers(args.file, known_topics=known, allow_unset=args.no_env,
                                  environ={} if args.no_env else None)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    subscribers = loaded.subscribers
    channels = sum(len(s.channels) for s in subscribers)
    watched = {topic for s in subscribers for topic in s.watch}
    print(f"{args.file}: {len(subscribers)} subscriber{'s' * (len(subscribers) != 1)}, {channels} "
          f"channel{'s' * (channels != 1)}, watching {len(watched)} watch "
          f"topic{'s' * (len(watched) != 1)}")
    return 0


def _cmd_kafka(args: argparse.Namespace, settings: Settings) -> int:
    from monitor import broker

    return broker.run_foreground(settings, port=args.port, data_dir=args.data_dir)


def _cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.feeds.feedlist import load_feeds

    feeds = load_feeds(args.feeds)
    return asyncio.run(_poll(settings, feeds, once=args.once, metrics_port=args.metrics_port))


async def _poll(settings: Settings, feeds: tuple, *, once: bool,  # type: ignore[type-arg]
                metrics_port: int | None) -> int:
    from monitor import bus
    from monitor.article import ARTICLE_PARTITIONS
    from monitor.brokerwatch import BrokerWatch
    from monitor.feeds.serve import StatusServer
    from monitor.feeds.state import FeedOwnership
    from monitor.health import StallWatch
    from monitor.metrics import PollerMetrics

    broker_watch = BrokerWatch(settings.kafka_bootstrap)
    broker_watch.install()
    broker_watch.start()
    registry = CollectorRegistry()
    metrics = PollerMetrics(registry)
    watch = StallWatch(settings.stall_after)
    ownership: FeedOwnership | None = None

    def readiness() -> tuple[bool, str]:
        # Asked afresh at each probe, so the answer holds even while the poll loop is stuck.
        if ownership is None:
            return False, f"connecting to Kafka at {settings.kafka_bootstrap}"
        watch.set_ready(*ownership.status())
        return watch.status()

    server: StatusServer | None = None
    if metrics_port is not None:
        try:
            server = StatusServer(metrics_port, registry, status=readiness)
        except OSError as exc:
            log.error("cannot serve on port %d (%s): choose another --metrics-port",
                      metrics_port, exc)
            return 2
        server.start()
        log.info("/metrics, /healthz and /readyz on http://0.0.0.0:%d", server.port)
    try:
        # news.articles exists before this poller joins the group: creating it later changes
        # the cluster's metadata and sets off one more rebalance of every poller.
        bus.ensure_topics(settings.kafka_bootstrap, [
            bus.TopicSpec(settings.topic("articles"), partitions=ARTICLE_PARTITIONS)])
        ownership = FeedOwnership(settings)
        return await _run_poller(settings, feeds, ownership, metrics, watch, once=once)
    finally:
        if server is not None:
            server.close()


async def _run_poller(settings: Settings, feeds: tuple,  # type: ignore[type-arg]
                      ownership: FeedOwnership, metrics: PollerMetrics, watch: StallWatch, *,
                      once: bool) -> int:
    from monitor.feeds.fetch import Fetcher
    from monitor.feeds.poller import Poller, PollerStalled

    ownership.start()
    try:
        if not await asyncio.to_thread(ownership.wait_ready, 120.0):
            log.error("no feed assignment from Kafka at %s within 120 s",
                      settings.kafka_bootstrap)
            return 1
        async with Fetcher(user_agent=settings.user_agent) as fetcher:
            poller = Poller(settings=settings, feeds=feeds, fetcher=fetcher,
                            ownership=ownership, metrics=metrics, watch=watch)
            try:
                if once:
                    published = await poller.run_once()
                    log.info("poll --once: %d new articles published", published)
                    return 0
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                log.info("polling %d feeds (this process polls the share Kafka assigns it)",
                         len(feeds))
                await poller.run_forever(stop)
                return 0
            except PollerStalled as exc:
                log.error("%s; exiting so that this poller is restarted", exc)
                return 1
            finally:
                poller.close()
    finally:
        await asyncio.to_thread(ownership.close)


def _cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    """Start a broker if none is configured, then the poller, the worker and the console."""
    from monitor import broker

    env = dict(os.environ)
    local: broker.KafkaBroker | None = None
    if "NEWSWATCH_KAFKA_BOOTSTRAP" not in os.environ:
        local = broker.KafkaBroker(settings, port=9092)
        print("starting a local Kafka broker (set NEWSWATCH_KAFKA_BOOTSTRAP to use yours) ...",
              file=sys.stderr)
        try:
            local.start()
        except broker.BrokerError as exc:
            print(f"newswatch up: {exc}", file=sys.stderr)
            return 2
        env["NEWSWATCH_KAFKA_BOOTSTRAP"] = local.bootstrap
    feeds = args.feeds
    demo: DemoFeeds | None = None
    if args.demo:
        from monitor.demo import DemoFeeds

        try:
            demo = DemoFeeds().__enter__()
        except OSError as exc:
            print(f"newswatch up: --demo: {exc} (run it from the repository)", file=sys.stderr)
            return 2
        feeds = demo.feeds_file(args.feeds, Path(tempfile.mkdtemp(prefix="newswatch-up-"))
                                / "feeds.yaml")
        print(f"polling {args.feeds} and {len(demo.outlets)} demo feeds served on "
              f"http://127.0.0.1:{demo.port}/", file=sys.stderr)
    commands = {"poll": [sys.executable, "-m", "monitor", "poll", "--feeds", str(feeds)],
                "worker": [sys.executable, "-m", "monitor", "worker", "--topics",
                           str(args.topics), "--subscribers", str(args.subscribers)]}
    if args.console_port:
        commands["console"] = [sys.executable, "-m", "monitor", "console", "--topics",
                               str(args.topics), "--port", str(args.console_port)]
    children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    started = dict.fromkeys(commands, time.monotonic())
    failures = dict.fromkeys(commands, 0)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # SIGHUP too: a closed terminal must not leave the children and the broker behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    code = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is None:
                    continue
                if child.returncode == 2:  # its configuration is wrong: restarting cannot help
                    print(f"newswatch: {name} exited with 2 (configuration); stopping",
                          file=sys.stderr)
                    stopping, code = True, 2
                    break
                # A stage that exits on its own (a stall, a lost broker) is restarted, as a
                # supervisor would; one that keeps failing fast waits longer each time.
                ran = time.monotonic() - started[name]
                failures[name] = 0 if ran > UP_RESTART_RESET else failures[name] + 1
                delay = min(2.0 ** failures[name], UP_RESTART_MAX_DELAY)
                print(f"newswatch: {name} exited with {child.returncode} after {ran:.0f} s; "
                      f"restarting it in {delay:.0f} s", file=sys.stderr)
                time.sleep(delay)
                children[name] = subprocess.Popen(commands[name], env=env)
                started[name] = time.monotonic()
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if local is not None:
            local.stop()
        if demo is not None:
            demo.__exit__()
    return code
