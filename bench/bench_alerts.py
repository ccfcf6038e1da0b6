"""Benchmark the alert stage: latency from fetch to webhook under load, and alerts per second.

    python bench/bench_alerts.py [--rate 100] [--seconds 30] [--stories 2000] [--timeout 600]

Prints one table. One real ``newswatch worker`` (shipped ``topics/``, a subscribers file of
three subscribers, ``NEWSWATCH_ALERT_TICK_SECONDS=1``) delivers to a local HTTP receiver that
answers 200 at once and notes the arrival time and JSON body of every webhook POST. Kafka is
the broker named by ``NEWSWATCH_KAFKA_BOOTSTRAP``, or one started for the run; each run has a
fresh topic namespace and cache directory. Setup (generating and checking the input, starting
the worker, a warm-up article or story through the whole path) is not timed.

1. ``latency``: ``--rate`` articles a second for ``--seconds``, paced from one thread onto
   ``<ns>.articles``, each with ``fetched_at`` = the moment it is produced. Every article is
   its own generated event (nine sentences drawn from sixty unrelated news frames, made-up
   names, random numbers) that matches exactly one watch topic, ``nk-russia-arms`` (checked
   with :mod:`monitor.tagging` before the run), through a last sentence on North Korean arms
   for Russia. The subscriber ``latency`` watches that topic with one webhook channel and
   ``update_interval: 1s``. The story stage may still fold a few generated events together;
   such an article arrives in an ``update`` of the other story instead of an ``alert`` of its
   own, so articles are counted by the ids in ``new_articles``. Latency of an article =
   receiver's arrival time - its ``fetched_at``: min, p50, p90, p99, max (targets: p50 <= 100 ms,
   p99 <= 500 ms), split by the kind of message that carried it; how many arrived of those
   produced and the input rate achieved; the rate at which alerts arrived (first to last);
   and, from the worker's own ``/metrics`` over the same articles, the mean time from fetch to
   match and from match to delivery, and the mean CPU time spent tagging and folding one.
2. ``throughput``: ``--stories`` story events (each ``opened``, one article) produced in one
   burst straight to ``<ns>.stories`` for a subscriber with one webhook channel, then as many
   for another subscriber with two: messages the receiver accepted a second, from its first
   arrival to its last, and the wall time from the first event produced to the last arrival.

Fails, with the tail of the worker's log, when fewer than 99% of the expected alerts arrive
within ``--timeout`` seconds of the end of the input.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _local import kafka_bootstrap

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS, Article, Story, StoryArticle, StoryEvent
from monitor.config import Settings
from monitor.tagging.match import Matcher
from monitor.tagging.stage import tag_message
from tests.metricsread import free_port, scrape

ROOT = Path(__file__).resolve().parents[1]
WATCH_TOPIC = "nk-russia-arms"
#: Watch topics of the two throughput subscribers: story events are produced straight to
#: news.stories, so nothing in the text needs to match them.
BURST_TOPICS = {1: "unsc-sanctions", 2: "korea-extended-deterrence"}
TARGET_P50_MS, TARGET_P99_MS = 100.0, 500.0
MIN_SHARE = 0.99
WARMUP_TIMEOUT = 180.0

SUBSCRIBERS = """\
subscribers:
  - id: latency
    watch: [{watch}]
    update_interval: 1s
    channels:
      - webhook: {{url: "{url}/latency", id: hook}}
  - id: burst-one
    watch: [{one}]
    update_interval: 1s
    channels:
      - webhook: {{url: "{url}/one", id: hook}}
  - id: burst-two
    watch: [{two}]
    update_interval: 1s
    channels:
      - webhook: {{url: "{url}/two-a", id: hook-a}}
      - webhook: {{url: "{url}/two-b", id: hook-b}}
"""

# -- generated events ------------------------------------------------------------------------
# Why not tests/newstext.event_reports: its events are about ports and customs (no watch topic
# matches them), and they share so many sentence templates that the story stage folds over a
# third of them together once a watch-topic sentence is added. Nine sentences out of sixty
# unrelated frames fill the 800 characters the embedding reads, so that any two articles
# share a frame or two at most; measured in-process on 3,000 of them, about 98% open a story
# of their own.
FRAMES = (
    "{P} {P}, the mayor of {T}, resigned on {D} after {n} councillors backed a motion of no "
    "confidence.",
    "A fire at a textile mill in {T} destroyed {n} tonnes of cotton, the fire service said.",
    "The {P} Savings Bank raised its deposit rate to {p} percent, its first increase in {s} "
    "months.",
    "Researchers at {T} University said a malaria vaccine cut infections by {p} percent in a "
    "trial of {n} children.",
    "Heavy snow closed {n} kilometres of the motorway between {T} and {T}.",
    "Farmers in {T} province blocked roads with {n} tractors to protest against lower grain "
    "prices.",
    "A court in {T} jailed {P} {P} for {s} years for laundering {n} million through shell "
    "companies.",
    "{P} Air will cut {n} jobs and retire its oldest jets, its chief executive said on {D}.",
    "An earthquake of magnitude {m} shook {T} before dawn, damaging {n} houses.",
    "Teachers in {T} went on strike over pay, closing {n} schools for the week.",
    "Parliament approved a budget of {n} billion, with more money for hospitals in {T}.",
    "Police in {T} arrested {n} people suspected of running a lottery fraud online.",
    "A ferry carrying {n} passengers ran aground near {T}, but nobody was hurt.",
    "Biologists found a new species of tree frog in the forests around {T}.",
    "Copper rose to {n} dollars a tonne on fears of a strike at the {P} mine.",
    "Drought has cut the {P} reservoir to {p} percent of its capacity, the water board warned.",
    "The {T} city museum reported the theft of {n} gold coins from its vault.",
    "Hackers shut down the computers of a hospital in {T} for {s} hours on {D}.",
    "A new bridge over the {P} river opened to traffic after {s} years of work.",
    "Voters in {T} will elect a new governor on {D}, the electoral board said.",
    "The {P} chemicals group agreed to buy its rival {P} Labs for {n} million.",
    "Wildfires burned {n} hectares of pine forest near {T} overnight.",
    "A rail strike stranded {n} commuters in {T} on {D} morning.",
    "The central statistics office said inflation slowed to {p} percent in {M}.",
    "Doctors in {T} warned of a measles outbreak after {n} cases in {s} weeks.",
    "A landslide buried {s} homes in the hill village of {T}, rescuers said.",
    "The carmaker {P} recalled {n} vehicles over faulty brake sensors.",
    "Archaeologists near {T} uncovered a Bronze Age grave with {s} bronze daggers.",
    "The port of {T} handled a record {n} containers in {M}, its operator said.",
    "Workers at the {P} steel plant in {T} accepted a pay rise of {p} percent.",
    "A blackout left {n} households in {T} without power for {s} hours.",
    "The supreme court struck down a law that let {T} charge drivers a congestion fee.",
    "Lawmakers in {T} passed a bill capping rents at {p} percent a year.",
    "A chemical spill in the {P} river killed {n} fish, the environment agency said.",
    "The pension fund of {T} lost {n} million on bad property loans.",
    "Engineers began draining the flooded {P} coal mine after {s} days.",
    "A satellite built by {P} Space reached orbit on its {s}th attempt.",
    "Bus drivers in {T} will get {s} extra days of leave under a new contract.",
    "Health inspectors closed {n} restaurants in {T} after a salmonella scare.",
    "The {P} family sold their newspaper, the {T} Courier, to a local trust.",
    "The {T} orchestra named {P} {P} its new conductor.",
    "A heatwave pushed temperatures in {T} to {s} degrees, a record for {M}.",
    "The {P} brewery will close its plant in {T}, putting {n} jobs at risk.",
    "Divers recovered a cargo of porcelain from a wreck off {T}.",
    "The {T} zoo welcomed {s} snow leopard cubs born in captivity.",
    "Nurses at {T} General Hospital voted to accept a new rota.",
    "A gas explosion wrecked a block of flats in {T}, injuring {s} people.",
    "The {P} software firm was fined {n} thousand for leaking customer data.",
    "Locusts destroyed {n} hectares of maize in the {P} valley.",
    "A judge in {T} ordered the release of {s} detained journalists.",
    "The {P} telecom group said its profit fell by {p} percent.",
    "Students in {T} protested against a rise in tuition fees of {p} percent.",
    "A storm uprooted {n} trees and closed the airport of {T} for {s} hours.",
    "The {T} council approved a plan to plant {n} trees along its avenues.",
    "The retailer {P} opened its {s}th store, in a former cinema in {T}.",
    "Customs officers in {T} seized {n} counterfeit handbags.",
    "Flooding on the {P} river forced {n} people from their homes.",
    "The {T} water company will raise bills by {p} percent from {M}.",
    "A painting by {P} {P} sold for {n} thousand at auction in {T}.",
    "Scientists in {T} reported a drop of {p} percent in bee colonies.",
)
#: The sentence that makes each article a match of ``nk-russia-arms`` (and of nothing else).
ARMS = (
    "Separately, intelligence officials said North Korea had shipped {n} containers of "
    "artillery shells to Russia.",
    "In other news, Seoul said North Korea had sent another {n} soldiers to fight for Russia.",
    "Officials also said Russia had received {n} more North Korean artillery pieces.",
    "Satellite images showed {n} rail cars of North Korean ammunition bound for Russia.",
    "Analysts said Russia and North Korea had signed a new arms deal worth {n} million.",
)
SENTENCES = 9
_SYLLABLES = ("ka", "lo", "mer", "vin", "tas", "ro", "bel", "dun", "sia", "gor", "fen", "ul",
              "pra", "tiv", "zan", "mo", "ric", "hal", "ne", "sto", "ban", "qui", "dar", "el",
              "wes", "tor")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")
_SLOT = re.compile(r"\{(\w)\}")


def _fill(template: str, rng: random.Random) -> str:
    """A frame with made-up names (``P`` person or firm, ``T`` town) and random numbers."""
    def slot(m: re.Match[str]) -> str:
        kind = m.group(1)
        if kind in "PT":
            return "".join(rng.choice(_SYLLABLES)
                           for _ in range(rng.randint(2, 3))).capitalize()
        return {"D": lambda: rng.choice(_DAYS), "M": lambda: rng.choice(_MONTHS),
                "n": lambda: str(rng.randint(20, 99_999)), "s": lambda: str(rng.randint(2, 40)),
                "p": lambda: f"{rng.uniform(0.5, 30):.1f}",
                "m": lambda: f"{rng.uniform(4, 7.5):.1f}"}[kind]()
    return _SLOT.sub(slot, template)


def generated_articles(count: int, *, prefix: str, seed: int) -> list[Article]:
    """``count`` articles of distinct generated events, ids ``<prefix>-<n>``."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        sentences = [_fill(frame, rng) for frame in rng.sample(FRAMES, SENTENCES)]
        sentences.append(_fill(rng.choice(ARMS), rng))
        out.append(Article(article_id=f"{prefix}-{n}", feed_id="bench-wire",
                           outlet="Bench Wire", url=f"https://wire.example/{prefix}/{n}",
                           title=sentences[0].split(",")[0].rstrip("."),
                           text=" ".join(sentences), language="en", fetched_at=now))
    return out


def check_matches(articles: list[Article]) -> None:
    """Exit unless every article matches ``WATCH_TOPIC`` and no other watch topic."""
    matcher, now = Matcher.from_dir(ROOT / "topics"), datetime.now(UTC)
    for article in articles:
        found = [m.topic_id for m in tag_message(article.to_json(), matcher, now=now).matches]
        if found != [WATCH_TOPIC]:
            raise SystemExit(f"generated article {article.article_id} matches {found}, not "
                             f"[{WATCH_TOPIC}] alone: fix FRAMES or ARMS\n{article.text}")


def story_events(count: int, *, topic_id: str, prefix: str) -> list[tuple[bytes, bytes]]:
    """``count`` ``opened`` events of one-article stories, keyed like the story stage's."""
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        article = StoryArticle(article_id=f"{prefix}-a{n}", outlet="Bench Wire",
                               url=f"https://wire.example/{prefix}/{n}",
                               title=f"Report {n} of the {prefix} burst", language="en",
                               published=now, source=f"{prefix}-a{n}")
        story = Story(story_id=f"{prefix}-{n}", topic_id=topic_id, headline=article.title,
                      first_seen=now, last_updated=now, articles=(article,), outlets=1,
                      sources=1, severity="high")
        out.append((topic_id.encode(), StoryEvent(event="opened", story=story, article=article,
                                                  why="bench").to_json()))
    return out


# -- the receiver ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrival:
    at: float  # time.time() once the body was read
    path: str
    body: dict[str, Any]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the channel's client reuses its connection
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        at = time.time()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.note(Arrival(at, self.path, json.loads(body)))

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1: 200 at once, every request noted."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []

    def note(self, arrival: Arrival) -> None:
        with self._lock:
            self._arrivals.append(arrival)

    def arrivals(self, *paths: str) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if a.path in paths]

    @contextmanager
    def serving(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.serve_forever, name="receiver", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()


def article_ids(arrival: Arrival) -> Iterator[str]:
    for story in arrival.body.get("stories", ()):
        yield from story.get("new_articles", ())


def story_ids(arrival: Arrival) -> Iterator[str]:
    for story in arrival.body.get("stories", ()):
        yield story["story_id"]


# -- the worker ------------------------------------------------------------------------------
@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def metrics(self) -> dict[str, float]:
        return scrape(f"http://127.0.0.1:{self.port}/metrics")

    def wait_until(self, what: str, done: Callable[[], bool], timeout: float) -> bool:
        """Poll ``done`` until it holds or ``timeout`` passes; exit if the worker does."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.process.poll() is not None:
                raise SystemExit(f"the worker exited while waiting for {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)  # the receiver notes arrival times; this only checks on it
        return True


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_worker(settings: Settings, tmp: Path, subscribers: Path) -> Iterator[Worker]:
    """One ``newswatch worker`` as ops run it; SIGTERM at the end."""
    port, log = free_port(), tmp / "worker.log"
    env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace,
           "NEWSWATCH_CACHE": str(tmp / "cache"), "NEWSWATCH_ALERT_TICK_SECONDS": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "worker", "--topics", str(ROOT / "topics"),
             "--subscribers", str(subscribers), "--web-port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        worker = Worker(process, port, log)
        try:
            if not worker.wait_until("/metrics", lambda: _serving(port), WARMUP_TIMEOUT):
                raise SystemExit(f"the worker did not serve /metrics within "
                                 f"{WARMUP_TIMEOUT:.0f} s:\n{worker.tail()}")
            yield worker
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code:
                print(f"the worker exited with {code} after SIGTERM; log: {log}", flush=True)


# -- the two parts ---------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def histogram_mean(before: dict[str, float], after: dict[str, float], name: str,
                   labels: str = "") -> float | None:
    """Mean of a histogram's observations between two scrapes, in ms."""
    count = after.get(f"{name}_count{labels}", 0.0) - before.get(f"{name}_count{labels}", 0.0)
    total = after.get(f"{name}_sum{labels}", 0.0) - before.get(f"{name}_sum{labels}", 0.0)
    return total / count * 1000 if count else None


def warm_up(worker: Worker, receiver: Receiver, producer: bus.Producer, topic: str,
            key: bytes, value: bytes, paths: tuple[str, ...], seen: Callable[[Arrival], bool]
            ) -> None:
    """Send one message through the whole path and wait for each of ``paths`` to get it."""
    bus.wait_all([producer.send(topic, key=key, value=value)])
    if not worker.wait_until("the warm-up alert", lambda: {
            a.path for a in receiver.arrivals(*paths) if seen(a)} == set(paths),
            WARMUP_TIMEOUT):
        raise SystemExit(f"the warm-up alert did not arrive within {WARMUP_TIMEOUT:.0f} s:\n"
                         f"{worker.tail()}")


def latency(worker: Worker, receiver: Receiver, producer: bus.Producer, settings: Settings,
            args: argparse.Namespace) -> dict[str, Any]:
    """Part 1: articles paced onto news.articles, each one's fetch-to-webhook latency."""
    count = max(1, round(args.rate * args.seconds))
    batch = generated_articles(count + 1, prefix="lat", seed=20_240_613)
    check_matches(batch)
    warm, batch = batch[0], batch[1:]
    topic = settings.topic("articles")
    warm_up(worker, receiver, producer, topic, warm.article_id.encode(),
            warm.model_copy(update={"fetched_at": datetime.now(UTC)}).to_json(), ("/latency",),
            lambda a: warm.article_id in set(article_ids(a)))
    before = worker.metrics()
    print(f"latency: {count} articles at {args.rate:g}/s onto {topic}", flush=True)

    fetched: dict[str, float] = {}
    futures = []
    started = time.time()
    for n, article in enumerate(batch):
        pause = started + n / args.rate - time.time()
        if pause > 0:
            time.sleep(pause)
        at = datetime.now(UTC)
        futures.append(producer.send(topic, key=article.article_id.encode(),
                                     value=article.model_copy(update={"fetched_at": at}).to_json()))
        fetched[article.article_id] = at.timestamp()
    produced = list(fetched.values())
    span = produced[-1] - produced[0]
    bus.wait_all(futures, timeout=120)

    def arrived() -> dict[str, tuple[float, str]]:
        first: dict[str, tuple[float, str]] = {}
        for arrival in receiver.arrivals("/latency"):
            for article_id in article_ids(arrival):
                if article_id in fetched and article_id not in first:
                    first[article_id] = (arrival.at, arrival.body["kind"])
        return first

    worker.wait_until("every alert", lambda: len(arrived()) == count, args.timeout)
    got = arrived()
    if len(got) < MIN_SHARE * count:
        raise SystemExit(f"latency: only {len(got)} of {count} articles reached the webhook "
                         f"within {args.timeout:g} s of the end of the input (fewer than "
                         f"{MIN_SHARE:.0%}); worker log: {worker.log}\n{worker.tail()}")
    after = worker.metrics()
    delays = {aid: (at - fetched[aid]) * 1000 for aid, (at, _) in got.items()}
    by_kind: dict[str, list[float]] = {}
    for aid, (_, kind) in got.items():
        by_kind.setdefault(kind, []).append(delays[aid])
    arrivals = sorted(at for at, _ in got.values())
    return {
        "count": count, "got": len(got), "rate": (count - 1) / span if span else math.inf,
        "span": span, "delays": sorted(delays.values()),
        "by_kind": {k: sorted(v) for k, v in by_kind.items()},
        "drain": (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        if len(arrivals) > 1 and arrivals[-1] > arrivals[0] else math.nan,
        "last": arrivals[-1] - produced[-1],
        "to_matched": histogram_mean(before, after, "newswatch_tagger_fetched_to_matched_seconds"),
        "to_delivered": histogram_mean(before, after,
                                       "newswatch_alerts_matched_to_delivered_seconds",
                                       '{channel="webhook"}'),
        "tag_ms": histogram_mean(before, after, "newswatch_tagger_tag_duration_seconds"),
        "fold_ms": histogram_mean(before, after, "newswatch_stories_fold_duration_seconds"),
    }


def throughput(worker: Worker, receiver: Receiver, producer: bus.Producer, settings: Settings,
               channels: int, args: argparse.Namespace) -> dict[str, float]:
    """Part 2: a burst of story events for a subscriber with ``channels`` webhook channels."""
    paths = ("/one",) if channels == 1 else ("/two-a", "/two-b")
    prefix = f"burst{channels}"
    topic_id, topic = BURST_TOPICS[channels], settings.topic("stories")
    [(key, value)] = story_events(1, topic_id=topic_id, prefix=f"{prefix}warm")
    warm_up(worker, receiver, producer, topic, key, value, paths,
            lambda a: f"{prefix}warm-0" in set(story_ids(a)))
    events = story_events(args.stories, topic_id=topic_id, prefix=prefix)
    wanted = {f"{prefix}-{n}" for n in range(args.stories)}
    expected = args.stories * channels
    print(f"throughput: {args.stories} story events onto {topic} for {channels} channel(s)",
          flush=True)

    def mine() -> list[Arrival]:
        return [a for a in receiver.arrivals(*paths) if set(story_ids(a)) & wanted]

    def delivered() -> int:
        return len({(a.path, s) for a in mine() for s in story_ids(a) if s in wanted})

    started = time.time()
    futures = [producer.send(topic, key=k, value=v) for k, v in events]
    producer.flush()
    sent = time.time() - started
    bus.wait_all(futures, timeout=120)
    worker.wait_until(f"the {channels}-channel burst", lambda: delivered() >= expected,
                      args.timeout)
    got = delivered()
    if got < MIN_SHARE * expected:
        raise SystemExit(f"throughput ({channels} channels): only {got} of {expected} messages "
                         f"reached the webhook within {args.timeout:g} s of the burst (fewer "
                         f"than {MIN_SHARE:.0%}); worker log: {worker.log}\n{worker.tail()}")
    times = sorted(a.at for a in mine())
    return {"got": got, "expected": expected, "sent": sent,
            "rate": (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0]
            else math.inf,
            "wall": times[-1] - started, "first": times[0] - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="articles a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of input")
    parser.add_argument("--stories", type=int, default=2000, help="story events per burst")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for the last alerts after the input ends")
    args = parser.parse_args()
    began = time.perf_counter()
    with kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp_name, \
            Receiver().serving() as receiver:
        tmp = Path(tmp_name)
        settings = Settings(kafka_bootstrap=bootstrap, topic_namespace=f"bench{uuid4().hex[:8]}")
        bus.ensure_topics(bootstrap, [
            bus.TopicSpec(settings.topic(name), partitions=ARTICLE_PARTITIONS)
            for name in ("articles", "matches", "stories", "alerts.pending")])
        subscribers = tmp / "subscribers.yaml"
        subscribers.write_text(SUBSCRIBERS.format(watch=WATCH_TOPIC, url=receiver.url,
                                                  one=BURST_TOPICS[1], two=BURST_TOPICS[2]))
        producer = bus.make_producer(bootstrap, client_id="bench")
        try:
            with running_worker(settings, tmp, subscribers) as worker:
                print(f"worker serving after {time.perf_counter() - began:.0f} s; Kafka at "
                      f"{bootstrap}, namespace {settings.topic_namespace}", flush=True)
                lat = latency(worker, receiver, producer, settings, args)
                bursts = [throughput(worker, receiver, producer, settings, channels, args)
                          for channels in (1, 2)]
        finally:
            producer.close()

    delays, kinds = lat["delays"], lat["by_kind"]

    def verdict(value: float, target: float) -> str:
        return f"target <= {target:.0f} ms: {'met' if value <= target else 'MISSED'}"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"

    cost = (lat["tag_ms"] or 0.0) + (lat["fold_ms"] or 0.0)

    alerted, folded = len(kinds.get("alert", [])), lat["got"] - len(kinds.get("alert", []))
    rows = [
        ("latency: articles produced", f"{lat['count']}",
         f"{lat['rate']:.1f}/s achieved of {args.rate:g}/s asked, over {lat['span']:.1f} s"),
        ("latency: articles delivered", f"{lat['got']}",
         f"{lat['got'] / lat['count']:.1%}; {alerted} in an alert of their own story, "
         f"{folded} folded into another story's update"),
        ("latency min, ms", f"{delays[0]:.0f}", "an article with the least queued ahead of it"),
        ("latency p50, ms", f"{percentile(delays, 0.50):.0f}",
         verdict(percentile(delays, 0.50), TARGET_P50_MS)),
        ("latency p90, ms", f"{percentile(delays, 0.90):.0f}", "fetched_at -> webhook arrival"),
        ("latency p99, ms", f"{percentile(delays, 0.99):.0f}",
         verdict(percentile(delays, 0.99), TARGET_P99_MS)),
        ("latency max, ms", f"{delays[-1]:.0f}",
         f"last alert {lat['last']:.1f} s after the last article was produced"),
        *[(f"  by {kind}: p50 / p99, ms",
           f"{percentile(values, 0.5):.0f} / {percentile(values, 0.99):.0f}",
           f"{len(values)} articles")
          for kind, values in sorted(kinds.items())],
        ("latency: alerts arrived a second", f"{lat['drain']:.1f}",
         "first to last arrival: the whole pipeline's pace"),
        ("worker: fetched->matched / ->delivered, ms",
         f"{ms(lat['to_matched'])} / {ms(lat['to_delivered'])}",
         "means of its own histograms, same articles"),
        ("worker: tag + fold CPU per article, ms", f"{ms(lat['tag_ms'])} + {ms(lat['fold_ms'])}",
         "one event loop for every agent" + (
             f": at most ~{1000 / cost:.0f} articles/s before routing and delivery"
             if cost else "")),
        *[(f"throughput, {n} channel{'s' if n > 1 else ''}: messages/s", f"{b['rate']:.0f}",
           f"{b['got']}/{b['expected']:.0f} for {args.stories} stories, first to last arrival "
           f"({b['rate'] / n:.0f} stories/s); produced in {b['sent']:.2f} s")
          for n, b in ((1, bursts[0]), (2, bursts[1]))],
        *[(f"throughput, {n} channel{'s' if n > 1 else ''}: wall, s", f"{b['wall']:.1f}",
           f"first story produced -> last arrival (first arrival after {b['first']:.2f} s)")
          for n, b in ((1, bursts[0]), (2, bursts[1]))],
    ]
    print(f"\n{'figure':<44} {'value':>12}  note")
    for name, value, note in rows:
        print(f"{name:<44} {value:>12}  {note}")
    print(f"\n{os.cpu_count()} CPUs, shared with Kafka and this process; whole run "
          f"{time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
