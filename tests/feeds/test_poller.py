"""The poller against the real broker: feeds served by a local HTTP server end on news.articles.

Each test gets fresh Kafka topics (``kafka_settings``); ``newswatch poll`` runs as a separate
process, the way ops run it, except where a test reads the poller's metrics in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from monitor import bus
from monitor.config import Settings
from monitor.feeds import poller as poller_module
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.fetch import Fetcher
from monitor.feeds.poller import Poller, PollerStalled
from monitor.feeds.state import STATE_PARTITIONS, FeedOwnership
from monitor.health import StallWatch
from monitor.metrics import POLL_OUTCOMES, PollerMetrics
from tests.httpserver import HTTPServer, Reply
from tests.kafkaread import read_topic
from tests.metricsread import free_port, scrape

pytestmark = pytest.mark.kafka

WHEN = datetime(2023, 9, 15, 2, 0, tzinfo=UTC)


def rss(feed: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 document with ``(slug, title)`` items whose links are relative."""
    body = "".join(
        f"<item><title>{title}</title><link>/{feed}/{slug}.html?utm_source=rss</link>"
        f"<description>&lt;p&gt;{title} &amp;mdash; a report from Seoul.&lt;/p&gt;</description>"
        f"<pubDate>{format_datetime(WHEN + timedelta(minutes=i))}</pubDate></item>"
        for i, (slug, title) in enumerate(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{feed}</title><link>/</link>{body}</channel></rss>").encode()


def write_feeds(path: Path, feeds: list[tuple[str, str]], interval: str = "5m") -> Path:
    path.write_text("feeds:\n" + "".join(
        f"  - id: {feed_id}\n    url: {url}\n    outlet: Outlet {feed_id}\n"
        f"    language: en\n    interval: {interval}\n" for feed_id, url in feeds))
    return path


def poller_env(settings: Settings, user_agent: str = "newswatch-test/1") -> dict[str, str]:
    return {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace,
            "NEWSWATCH_CACHE": str(settings.cache_dir), "NEWSWATCH_USER_AGENT": user_agent}


def poll_once(settings: Settings, feeds_file: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "monitor", "poll", "--once", "--feeds",
                           str(feeds_file)], env=poller_env(settings), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done


def articles_on(settings: Settings) -> list[dict[str, object]]:
    return [orjson.loads(r.value) for r in read_topic(settings.kafka_bootstrap,
                                                       settings.topic("articles"))]


@contextlib.asynccontextmanager
async def running_poller(settings: Settings, feeds: list[FeedConfig],
                         registry: CollectorRegistry) -> AsyncIterator[Poller]:
    """An in-process poller holding every feed (the only member of its group), closed after."""
    ownership = FeedOwnership(settings)
    ownership.start()
    try:
        assert ownership.wait_ready(60)
        async with Fetcher(user_agent="newswatch-test/1") as fetcher:
            poller = Poller(settings=settings, feeds=feeds, fetcher=fetcher,
                            ownership=ownership, metrics=PollerMetrics(registry))
            try:
                yield poller
            finally:
                poller.close()
    finally:
        ownership.close()


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with HTTPServer() as http_server:
        yield http_server


def test_poll_once_publishes_each_item_once_and_later_polls_only_what_is_new(
        kafka_settings: Settings, server: HTTPServer, tmp_path: Path) -> None:
    # "seoul" answers with an ETag (so the second poll is a 304); "un" has no validators
    # (so the second poll compares body hashes) and gains one item before the second poll.
    server.route("/seoul.xml", body=rss("seoul", [("edscg", "Allies meet in Seoul on deterrence"),
                                                  ("ncg", "Nuclear group to meet again")]),
                 headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"})
    un_items = [("1718", "Council panel report on sanctions")]
    server.route("/un.xml", lambda request: Reply(body=rss("un", un_items)))
    feeds = write_feeds(tmp_path / "feeds.yaml", [("seoul", server.url("/seoul.xml")),
                                                   ("un", server.url("/un.xml"))])

    poll_once(kafka_settings, feeds)
    first = read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("articles"))
    articles = [orjson.loads(r.value) for r in first]
    assert sorted(a["title"] for a in articles) == [
        "Allies meet in Seoul on deterrence", "Council panel report on sanctions",
        "Nuclear group to meet again"]
    assert all(r.key.decode() == orjson.loads(r.value)["article_id"] for r in first)
    by_title = {a["title"]: a for a in articles}
    edscg = by_title["Allies meet in Seoul on deterrence"]
    assert edscg["feed_id"] == "seoul"
    assert edscg["outlet"] == "Outlet seoul"
    assert edscg["url"] == server.url("/seoul/edscg.html?utm_source=rss")
    assert edscg["canonical_url"] == server.url("/seoul/edscg.html")
    assert edscg["text"] == "Allies meet in Seoul on deterrence — a report from Seoul."
    assert edscg["published_at"] == "2023-09-15T02:00:00Z"
    assert edscg["schema"] == 1

    un_items.append(("panel", "Russia vetoes renewal of the panel"))
    poll_once(kafka_settings, feeds)
    titles = [a["title"] for a in articles_on(kafka_settings)]
    assert len(titles) == 4
    assert titles.count("Russia vetoes renewal of the panel") == 1
    second_seoul = server.requests_to("/seoul.xml")[-1]
    assert second_seoul.headers["If-None-Match"] == '"v1"'

    # A third process, with no local files at all, finds everything already seen.
    poll_once(kafka_settings, feeds)
    assert len(articles_on(kafka_settings)) == 4


def test_two_pollers_split_the_feeds_without_polling_the_same_one(
        kafka_settings: Settings, server: HTTPServer, tmp_path: Path) -> None:
    ids = [f"feed{i:02d}" for i in range(24)]
    # Range assignment gives each of two pollers half of the state partitions: make sure the
    # feed ids land in both halves, or the test could not tell a split from no split.
    halves = {bus.partition_for(i.encode(), STATE_PARTITIONS) < STATE_PARTITIONS // 2 for i in ids}
    assert halves == {True, False}
    for feed_id in ids:
        server.route(f"/{feed_id}.xml", body=rss(feed_id, [("a", f"Report of {feed_id}")]))
    feeds = write_feeds(tmp_path / "feeds.yaml",
                        [(i, server.url(f"/{i}.xml")) for i in ids], interval="1s")
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"poller-{n}.log" for n in (1, 2)]
    with logs[0].open("w") as log1, logs[1].open("w") as log2:
        pollers = [subprocess.Popen(
            [sys.executable, "-m", "monitor", "poll", "--feeds", str(feeds), "--metrics-port",
             str(port)], env=poller_env(kafka_settings, f"poller-{n}/1"), stdout=log,
            stderr=subprocess.STDOUT)
            for n, log, port in ((1, log1, ports[0]), (2, log2, ports[1]))]
        try:
            by_agent = _wait_for_a_clean_split(server, ids, ports, timeout=90)
            metrics = [scrape(f"http://127.0.0.1:{port}/metrics") for port in ports]
        finally:
            for poller in pollers:
                poller.send_signal(signal.SIGINT)
            codes = [p.wait(timeout=60) for p in pollers]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    one, two = by_agent.get("poller-1/1", set()), by_agent.get("poller-2/1", set())
    assert one and two
    assert one.isdisjoint(two)
    assert one | two == {f"/{i}.xml" for i in ids}
    published = articles_on(kafka_settings)
    assert {a["feed_id"] for a in published} == set(ids)
    # Each poller's /metrics says which feeds it polls: every feed by exactly one of them.
    for feed_id in ids:
        owned = [m[f'newswatch_poller_feed_owned{{feed_id="{feed_id}"}}'] for m in metrics]
        assert sorted(owned) == [0.0, 1.0]


def _wait_for_a_clean_split(server: HTTPServer, ids: list[str], ports: list[int],
                            timeout: float) -> dict[str, set[str]]:
    """Return who polled what in the first 3-second window in which both pollers polled.

    A window starts only once both /readyz say 200 and the /metrics of both say they own some
    feeds and, together, each feed once: before that, the first poller to start polls every
    feed until the second one joins.
    """
    deadline = time.monotonic() + timeout
    by_agent: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        if not _split(ports, ids):
            time.sleep(0.2)
            continue
        start = time.monotonic()
        time.sleep(3)
        by_agent = {}
        for request in list(server.requests):
            if request.time >= start:
                by_agent.setdefault(request.headers["User-Agent"], set()).add(request.path)
        if len(by_agent) == 2 and sum(map(len, by_agent.values())) >= len(ids):
            return by_agent
    return by_agent


def _split(ports: list[int], ids: list[str]) -> bool:
    base = [f"http://127.0.0.1:{port}" for port in ports]
    if any((_get(f"{b}/readyz") or (0,))[0] != 200 for b in base):
        return False
    samples = [scrape(f"{b}/metrics") for b in base]
    owned = [[m.get(f'newswatch_poller_feed_owned{{feed_id="{i}"}}') for i in ids]
             for m in samples]
    return all(1.0 in mine for mine in owned) and all(
        sorted(pair) == [0.0, 1.0] for pair in zip(*owned, strict=True))


async def test_broken_feeds_each_give_a_metric_and_never_hold_up_the_good_one(
        kafka_settings: Settings, server: HTTPServer) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10)
                       for i in range(8))
            + b']><rss version="2.0"><channel><title>&i;</title><item><title>&i;</title>'
              b"</item></channel></rss>")
    server.route("/good.xml", body=rss("good", [("one", "Council renews Libya measures")]))
    server.route("/slow.xml", body=b"", delay=3.0)
    server.route("/gone.xml", status=404, body=b"gone")
    server.route("/broken.xml", status=500, body=b"oops")
    server.route("/html.xml", body=b"<!doctype html><html><body><p>Hello</p></body></html>",
                 headers={"Content-Type": "text/html"})
    server.route("/huge.xml", body=iter([b"<rss>" + b" " * (1024 * 1024)] * 50))
    server.route("/bomb.xml", body=bomb)
    server.route("/bytes.xml", body=bytes(range(256)) * 64)
    feeds = [FeedConfig(id=name, url=server.url(f"/{name}.xml"), outlet=name)
             for name in ("good", "slow", "gone", "broken", "html", "huge", "bomb", "bytes")]
    registry = CollectorRegistry()
    ownership = FeedOwnership(kafka_settings)
    ownership.start()
    try:
        assert ownership.wait_ready(60)
        async with Fetcher(user_agent="newswatch-test/1", timeout=1.0) as fetcher:
            poller = Poller(settings=kafka_settings, feeds=feeds, fetcher=fetcher,
                            ownership=ownership, metrics=PollerMetrics(registry))
            try:
                started = time.time()
                assert await poller.run_once() >= 1
            finally:
                poller.close()
    finally:
        ownership.close()

    def polls(feed_id: str) -> dict[str, float]:
        # Every outcome's series exists from the start at 0: keep the ones that happened.
        return {s.labels["outcome"]: s.value
                for metric in registry.collect() if metric.name == "newswatch_poller_polls"
                for s in metric.samples
                if s.name.endswith("_total") and s.labels["feed_id"] == feed_id and s.value}

    assert polls("good") == {"ok": 1.0}
    assert polls("slow") == {"timeout": 1.0}
    assert polls("gone") == {"http_4xx": 1.0}
    assert polls("broken") == {"http_5xx": 1.0}
    assert polls("html") == {"not_a_feed": 1.0}
    assert polls("huge") == {"too_large": 1.0}
    assert sum(polls("bomb").values()) == 1 and set(polls("bomb")) <= {"not_a_feed", "ok"}
    assert polls("bytes") == {"not_a_feed": 1.0}
    published = articles_on(kafka_settings)
    # The bomb's entities were never expanded: at most a short, literal title got through.
    assert all(len(str(a["title"])) < 100 for a in published)
    [good] = [a for a in published if a["feed_id"] == "good"]
    assert good["title"] == "Council renews Libya measures"
    # The good feed was fetched while the slow one was still waiting for its answer.
    fetched = datetime.fromisoformat(str(good["fetched_at"]))
    assert fetched.timestamp() - started < 1.0


async def test_a_poller_whose_group_thread_stopped_is_unready_and_stops_polling(
        kafka_settings: Settings, server: HTTPServer) -> None:
    server.route("/good.xml", body=rss("good", [("one", "Council renews Libya measures")]))
    feeds = [FeedConfig(id="good", url=server.url("/good.xml"), outlet="good")]
    ownership = FeedOwnership(kafka_settings)
    ownership.start()
    try:
        assert ownership.wait_ready(60)
        assert ownership.status() == (True, "polling the feeds of 12 of 12 state partitions")
        async with Fetcher(user_agent="newswatch-test/1") as fetcher:
            poller = Poller(settings=kafka_settings, feeds=feeds, fetcher=fetcher,
                            ownership=ownership, metrics=PollerMetrics(CollectorRegistry()))
            try:
                ownership.close()  # its thread ends, as it would on an error
                assert ownership.status() == (False, "the Kafka group thread stopped")
                with pytest.raises(PollerStalled, match=r"^the Kafka group thread stopped$"):
                    await asyncio.wait_for(poller.run_forever(asyncio.Event()), timeout=30)
            finally:
                poller.close()
    finally:
        ownership.close()


async def test_each_article_page_fetched_for_a_fulltext_feed_counts_as_progress(
        kafka_settings: Settings, server: HTTPServer) -> None:
    server.route("/wire.xml", body=rss("wire", [("a", "Ports reopen"), ("b", "Cranes move")]))
    for slug in ("a", "b"):
        server.route(f"/wire/{slug}.html?utm_source=rss", status=404, body=b"gone")
    feeds = [FeedConfig(id="wire", url=server.url("/wire.xml"), outlet="Wire", fulltext=True)]
    now = [1000.0]
    watch = StallWatch(300, clock=lambda: now[0])
    watch.waiting(1)
    now[0] += 299  # the poll has run for 299 s when its article pages come back (404)
    ownership = FeedOwnership(kafka_settings)
    ownership.start()
    try:
        assert ownership.wait_ready(60)
        async with Fetcher(user_agent="newswatch-test/1") as fetcher:
            poller = Poller(settings=kafka_settings, feeds=feeds, fetcher=fetcher,
                            ownership=ownership, metrics=PollerMetrics(CollectorRegistry()),
                            watch=watch)
            try:
                assert await poller.run_once() == 2
            finally:
                poller.close()
    finally:
        ownership.close()
    now[0] += 200
    assert watch.stalled_for() == 200  # counted from the pages, not from the start
    assert not watch.stalled()


def test_fulltext_feeds_carry_the_article_page_text_or_keep_the_summary(
        kafka_settings: Settings, server: HTTPServer, tmp_path: Path) -> None:
    page = (Path(__file__).parent / "testdata" / "article_page.html").read_bytes()
    server.route("/wire.xml", body=rss("wire", [("cranes", "Harbour cranes return to work"),
                                                ("gone", "A page that is gone")]))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - id: wire\n    url: {server.url('/wire.xml')}\n"
                     f"    outlet: Example Wire\n    fulltext: true\n")
    # The feed's links carry ?utm_source=rss, which the page routes above do not.
    server.route("/wire/cranes.html?utm_source=rss", body=page,
                 headers={"Content-Type": "text/html"})
    server.route("/wire/gone.html?utm_source=rss", status=404, body=b"gone")

    poll_once(kafka_settings, feeds)
    by_title = {a["title"]: a for a in articles_on(kafka_settings)}
    cranes = str(by_title["Harbour cranes return to work"]["text"])
    assert "Container cranes at the port of Incheon started moving again" in cranes
    assert "First! Great news" not in cranes
    assert by_title["A page that is gone"]["text"] == (
        "A page that is gone — a report from Seoul.")


def test_a_poller_whose_only_feed_never_answers_turns_unready_and_exits_with_status_1(
        kafka_settings: Settings, server: HTTPServer, tmp_path: Path) -> None:
    # The host accepts the request and says nothing for two minutes; the fetch would give up
    # after its 20 s timeout, long after the 3 s stall limit.
    server.route("/silent.xml", body=rss("silent", [("a", "Never sent")]), delay=120)
    feeds = write_feeds(tmp_path / "feeds.yaml", [("silent", server.url("/silent.xml"))],
                        interval="1s")
    port = free_port()
    log_path = tmp_path / "poller.log"
    with log_path.open("w") as log:
        poller = subprocess.Popen(
            [sys.executable, "-m", "monitor", "poll", "--feeds", str(feeds), "--metrics-port",
             str(port)], env={**poller_env(kafka_settings), "NEWSWATCH_STALL_AFTER": "3"},
            stdout=log, stderr=subprocess.STDOUT)
        try:
            probes = _probe_until_exit(poller, f"http://127.0.0.1:{port}", timeout=120)
            code = poller.wait(timeout=60)
        finally:
            if poller.poll() is None:
                poller.kill()
    output = log_path.read_text()
    assert code == 1, output[-3000:]
    readyz = [answer for path, answer in probes if path == "/readyz"]
    ready = (200, "polling the feeds of 12 of 12 state partitions")
    assert ready in readyz, readyz
    stalled = [i for i, (status, body) in enumerate(readyz)
               if status == 503 and body.startswith("stalled: input waiting")]
    assert stalled, readyz[-5:]
    assert readyz.index(ready) < stalled[0]
    assert all(status == 503 for status, _ in readyz[stalled[0]:])
    metrics = [answer for path, answer in probes if path == "/metrics"]
    assert "newswatch_poller_stalled 0.0" in metrics[0][1]
    assert any("newswatch_poller_stalled 1.0" in body for _, body in metrics)
    assert {answer for path, answer in probes if path == "/healthz"} == {(200, "ok")}
    # One line says what happened (kafka-python may add its own noise while closing).
    [line] = [line for line in output.splitlines() if "stalled" in line]
    assert line.endswith(
        " ERROR   monitor: stalled: no poll ended in 3 s while feeds were due (1 now, "
        "NEWSWATCH_STALL_AFTER=3); exiting so that this poller is restarted"), line
    assert len(server.requests_to("/silent.xml")) == 1


def _probe_until_exit(process: subprocess.Popen[bytes], base: str,
                      timeout: float) -> list[tuple[str, tuple[int, str]]]:
    """Ask /readyz, /metrics and /healthz over and over until ``process`` ends.

    Returns ``(path, (status, body))`` in the order answered; no answer (the port not open
    yet, or the process gone mid-answer) is left out.
    """
    probes: list[tuple[str, tuple[int, str]]] = []
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        for path in ("/readyz", "/metrics", "/readyz", "/healthz"):
            answer = _get(base + path)
            if answer is not None:
                probes.append((path, answer))
    return probes


def _get(url: str) -> tuple[int, str] | None:
    try:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode().strip()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode().strip()
    except (OSError, http.client.HTTPException):
        return None


async def test_every_feed_exports_its_interval_and_zero_counters_before_its_first_poll(
        kafka_settings: Settings) -> None:
    feeds = [FeedConfig(id="fast", url="https://fast.example.org/rss", outlet="Fast",
                        interval=30.0),
             FeedConfig(id="slow", url="https://slow.example.org/rss", outlet="Slow")]
    registry = CollectorRegistry()
    ownership = FeedOwnership(kafka_settings)  # never started: nothing is polled
    try:
        async with Fetcher(user_agent="newswatch-test/1") as fetcher:
            poller = Poller(settings=kafka_settings, feeds=feeds, fetcher=fetcher,
                            ownership=ownership, metrics=PollerMetrics(registry))
            poller.close()
    finally:
        ownership.close()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("newswatch_poller_feed_interval_seconds", feed_id="fast") == 30.0
    assert sample("newswatch_poller_feed_interval_seconds", feed_id="slow") == 300.0
    for feed_id in ("fast", "slow"):
        for outcome in POLL_OUTCOMES:
            assert sample("newswatch_poller_polls_total", feed_id=feed_id, outcome=outcome) == 0
        for counter in ("items_published", "publish_errors", "state_write_errors"):
            assert sample(f"newswatch_poller_{counter}_total", feed_id=feed_id) == 0, counter


async def test_an_unexpected_exception_is_outcome_internal_with_its_stack_trace_logged(
        kafka_settings: Settings, server: HTTPServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    real_normalize = poller_module.normalize_feed

    def normalize_with_a_bug(*args: object, feed: FeedConfig, **kwargs: object) -> object:
        if feed.id == "buggy":
            raise KeyError("title")
        return real_normalize(*args, feed=feed, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(poller_module, "normalize_feed", normalize_with_a_bug)
    server.route("/good.xml", body=rss("good", [("one", "Council renews Libya measures")]))
    server.route("/buggy.xml", body=rss("buggy", [("two", "Ports reopen")]))
    feeds = [FeedConfig(id=name, url=server.url(f"/{name}.xml"), outlet=name)
             for name in ("good", "buggy")]
    registry = CollectorRegistry()
    async with running_poller(kafka_settings, feeds, registry) as poller:
        assert await poller.run_once() == 1

    def polls(feed_id: str, outcome: str) -> float | None:
        return registry.get_sample_value("newswatch_poller_polls_total",
                                         {"feed_id": feed_id, "outcome": outcome})

    assert polls("buggy", "internal") == 1
    assert polls("buggy", "invalid") == 0
    assert polls("good", "ok") == 1
    [record] = [r for r in caplog.records if r.name == "monitor.feeds.poller"
                and r.levelno >= logging.ERROR]
    assert record.getMessage() == "feed buggy: poll failed unexpectedly"
    assert getattr(record, "feed_id", None) == "buggy"
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert [a["feed_id"] for a in articles_on(kafka_settings)] == ["good"]


async def test_a_state_write_kafka_refuses_is_counted_and_logged_and_the_articles_stay(
        kafka_settings: Settings, server: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    # The broker refuses every record of this state topic as too large: the write fails on
    # the producer's I/O thread, after the poll has published its articles.
    bus.ensure_topics(kafka_settings.kafka_bootstrap, [bus.TopicSpec(
        kafka_settings.topic("poller.state"), partitions=STATE_PARTITIONS,
        config={"cleanup.policy": "compact", "max.message.bytes": "100"})])
    server.route("/good.xml", body=rss("good", [("one", "Council renews Libya measures"),
                                                ("two", "Ports reopen")]))
    feeds = [FeedConfig(id="good", url=server.url("/good.xml"), outlet="good")]
    registry = CollectorRegistry()
    async with running_poller(kafka_settings, feeds, registry) as poller:
        assert await poller.run_once() == 2
        poller.ownership.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not registry.get_sample_value(
                "newswatch_poller_state_write_errors_total", {"feed_id": "good"}):
            await asyncio.sleep(0.05)
        # Still this process remembers what it published: a second poll adds nothing.
        assert await poller.run_once() == 0

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("newswatch_poller_state_write_errors_total", feed_id="good") == 2
    assert sample("newswatch_poller_polls_total", feed_id="good", outcome="ok") == 1
    assert sample("newswatch_poller_polls_total", feed_id="good", outcome="unchanged") == 1
    assert sample("newswatch_poller_polls_total", feed_id="good", outcome="internal") == 0
    assert sample("newswatch_poller_items_published_total", feed_id="good") == 2
    assert sorted(a["title"] for a in articles_on(kafka_settings)) == [
        "Council renews Libya measures", "Ports reopen"]
    refused = [r for r in caplog.records if r.name == "monitor.feeds.state"
               and r.levelno >= logging.ERROR]
    assert len(refused) == 2
    assert all(getattr(r, "feed_id", None) == "good" for r in refused)
    assert refused[0].getMessage().startswith(
        f"feed good: writing its state to {kafka_settings.topic('poller.state')} failed: ")


# Run as the child process: the group thread's consumer breaks once the marker file exists.
_BREAK_THE_GROUP_THREAD = """
import pathlib, sys
from monitor import cli
from monitor.feeds import state

marker = pathlib.Path(sys.argv[1])
check_loaded = state.FeedOwnership._check_loaded

def check_loaded_until_broken(self, consumer):
    if marker.exists():
        raise RuntimeError("the group consumer broke")
    check_loaded(self, consumer)

state.FeedOwnership._check_loaded = check_loaded_until_broken
sys.exit(cli.main(sys.argv[2:]))
"""


def test_a_poller_whose_group_thread_dies_exits_with_status_1(
        kafka_settings: Settings, server: HTTPServer, tmp_path: Path) -> None:
    server.route("/good.xml", body=rss("good", [("one", "Council renews Libya measures")]))
    feeds = write_feeds(tmp_path / "feeds.yaml", [("good", server.url("/good.xml"))],
                        interval="1s")
    marker = tmp_path / "break"
    log_path = tmp_path / "poller.log"
    with log_path.open("w") as log:
        poller = subprocess.Popen(
            [sys.executable, "-c", _BREAK_THE_GROUP_THREAD, str(marker), "poll", "--feeds",
             str(feeds)], env=poller_env(kafka_settings), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while not server.requests_to("/good.xml") and time.monotonic() < deadline:
                assert poller.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.1)
            assert server.requests_to("/good.xml"), log_path.read_text()[-3000:]
            marker.touch()
            code = poller.wait(timeout=60)
        finally:
            if poller.poll() is None:
                poller.kill()
    output = log_path.read_text()
    assert code == 1, output[-3000:]
    assert "feed ownership loop failed; this poller stops polling" in output
    # The stack trace is logged once, not again by the thread's own exception hook.
    assert output.count("RuntimeError: the group consumer broke") == 1, output[-3000:]
    [line] = [line for line in output.splitlines() if "exiting so that" in line]
    assert line.endswith(" ERROR   monitor: the Kafka group thread stopped; exiting so that "
                         "this poller is restarted"), line


async def test_a_restarted_poller_shows_when_each_feed_last_worked_even_if_it_fails_now(
        kafka_settings: Settings, server: HTTPServer, tmp_path: Path) -> None:
    server.route("/seoul.xml", body=rss("seoul", [("edscg", "Allies meet in Seoul")]))
    before = time.time()
    poll_once(kafka_settings, write_feeds(tmp_path / "feeds.yaml",
                                          [("seoul", server.url("/seoul.xml"))]))
    after = time.time()
    server.route("/seoul.xml", status=500)

    registry = CollectorRegistry()
    feeds = [FeedConfig(id="seoul", url=server.url("/seoul.xml"), outlet="Seoul")]
    async with running_poller(kafka_settings, feeds, registry) as poller:
        await poller.run_once()

    assert registry.get_sample_value("newswatch_poller_polls_total",
                                     {"feed_id": "seoul", "outcome": "http_5xx"}) == 1
    last = registry.get_sample_value("newswatch_poller_last_success_timestamp_seconds",
                                     {"feed_id": "seoul"})
    assert last is not None and before <= last <= after
