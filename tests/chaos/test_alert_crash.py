"""The alert agents under crashes: every alert and update arrives, and none arrives twice.

In: story events of 40 stories (each opened, then updated twice), produced straight to
``<ns>.stories`` at a steady rate. One subscriber watches both watch topics with two channels:
a JSON webhook and a Slack bot, both a local HTTP server. The worker is killed with -9 twice
while it delivers. Out: what the two receivers got. The promise: each channel gets one alert per
story and every report of it in exactly one message (an update may carry several reports: at
most one update a second); Slack updates are replies in the alert's thread. The one repeat
allowed: a message the channel accepted in the instant the worker was killed, before the
worker recorded it, comes again from the next worker, under the same delivery id (the
webhook's ``delivery``, Slack's message metadata), at most one per kill.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS, Story, StoryArticle, StoryEvent
from monitor.config import Settings
from tests.chaos.harness import Feeder, Outcome, Stage, Tally, stage_env, tails, wait_until
from tests.httpserver import HTTPServer, Reply, Request

pytestmark = pytest.mark.chaos

SHIPPED_TOPICS = Path(__file__).parents[2] / "topics"
STORIES = 40
REPORTS = 3  # the opening article and two more
RATE = 12.0  # story events per second
KILLS = (0.3, 0.65)  # kill -9 once the webhook has this share of the expected messages
FINISH_LIMIT = 180.0

SUBSCRIBERS = """\
subscribers:
  - id: desk
    watch: [nk-russia-arms, unsc-sanctions]
    update_interval: 1s
    channels:
      - webhook: {{url: "{hook}", id: hook}}
      - slack: {{token: "${{CHAOS_SLACK_TOKEN}}", channel: C0123ABCD, id: bot}}
"""


def story_events() -> list[tuple[bytes, bytes]]:
    """Each story opened, then updated by each further report, in an interleaved stream."""
    start = datetime.now(UTC) - timedelta(minutes=30)
    per_story = []
    for n in range(STORIES):
        topic = ("nk-russia-arms", "unsc-sanctions")[n % 2]
        articles = tuple(StoryArticle(
            article_id=f"s{n}-a{k}", outlet=f"Outlet {k}", url=f"https://o{k}.example/{n}",
            title=f"Report {k} of event {n}", language="en",
            published=start + timedelta(minutes=k), source=f"s{n}-a{k}")
            for k in range(REPORTS))
        events = []
        for k in range(REPORTS):
            story = Story(story_id=f"story-{n}", topic_id=topic, headline=f"Event {n}",
                          first_seen=start, last_updated=start + timedelta(minutes=k),
                          articles=articles[:k + 1], outlets=k + 1, sources=k + 1,
                          severity="high", updates=k)
            events.append((topic.encode(), StoryEvent(
                event="opened" if k == 0 else "updated", story=story, article=articles[k],
                why="test").to_json()))
        per_story.append(events)
    # Story n's k-th event comes after story n+k's opening: updates mix with new stories.
    out = []
    for step in range(STORIES + REPORTS):
        for k in range(REPORTS):
            n = step - k
            if 0 <= n < STORIES:
                out.append(per_story[n][k])
    return out


class Receivers:
    """The webhook and the Slack API: what each received, keyed by story and reports."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        server.route("/hook", lambda request: Reply(status=200))
        server.route("/api/chat.postMessage", self._slack)
        self._ts = 0
        self.posts: list[tuple[dict[str, object], str]] = []  # each body, the ts it got

    def _slack(self, request: Request) -> Reply:
        self._ts += 1
        ts = f"1700000000.{self._ts:06d}"
        self.posts.append((orjson.loads(request.body), ts))
        return Reply(status=200, headers={"Content-Type": "application/json"},
                     body=orjson.dumps({"ok": True, "channel": "C0123ABCD", "ts": ts}))

    def quiet(self, seconds: float = 3.0) -> bool:
        """True once nothing has arrived for ``seconds`` (anything sent twice is in)."""
        requests = self.server.requests
        return bool(requests) and time.monotonic() - requests[-1].time >= seconds

    def webhook(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        """(kind, story id, the reports it announces, delivery id) for each message."""
        out = []
        for request in self.server.requests:
            if request.path == "/hook":
                body = orjson.loads(request.body)
                [story] = body["stories"]
                out.append((body["kind"], story["story_id"],
                            tuple(sorted(story["new_articles"])), body["delivery"]))
        return out

    def slack(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        """The same for the Slack messages, from their metadata (Slack's text is for people)."""
        out = []
        for body, _ in self.posts:
            meta = body["metadata"]["event_payload"]  # type: ignore[index]
            [story] = meta["stories"]
            out.append((meta["kind"], story, tuple(sorted(meta["articles"])), meta["delivery"]))
        return out

    @property
    def slack_ts(self) -> list[str]:
        return [ts for _, ts in self.posts]

    def slack_bodies(self) -> list[dict[str, object]]:
        return [body for body, _ in self.posts]


def expected() -> set[tuple[str, str]]:
    """(story, article) for every report of every story."""
    return {(f"story-{n}", f"s{n}-a{k}") for n in range(STORIES) for k in range(REPORTS)}


def announced(messages: list[tuple[str, str, tuple[str, ...], str]]) -> list[tuple[str, str]]:
    return [(story, article) for _, story, articles, _ in messages for article in articles]


def test_worker_killed_while_delivering_loses_and_repeats_nothing(
        kafka_settings: Settings, tmp_path: Path, outcome: Outcome) -> None:
    settings = kafka_settings
    bus.ensure_topics(settings.kafka_bootstrap, [
        bus.TopicSpec(settings.topic(name), partitions=ARTICLE_PARTITIONS)
        for name in ("articles", "matches", "stories", "alerts.pending")])
    messages = story_events()
    with HTTPServer() as server:
        receivers = Receivers(server)
        subscribers = tmp_path / "subscribers.yaml"
        subscribers.write_text(SUBSCRIBERS.format(hook=server.url("/hook")))
        env = {**stage_env(settings, tmp_path / "worker"), "CHAOS_SLACK_TOKEN": "xoxb-chaos",
               "NEWSWATCH_SLACK_API_URL": server.url("/api/"),
               "NEWSWATCH_ALERT_TICK_SECONDS": "1"}
        worker = Stage("worker", [sys.executable, "-m", "monitor", "worker", "--topics",
                                  str(SHIPPED_TOPICS), "--subscribers", str(subscribers)],
                       env=env, workdir=tmp_path / "worker", port_option="--web-port",
                       noise=("STORY [", "    + ", "ALERT", "UPDATE"))
        feeder = Feeder(settings.kafka_bootstrap, settings.topic("stories"), messages,
                        rate=RATE)
        with worker:
            worker.start().wait_serving()
            feeder.start()
            want = expected()
            for n, share in enumerate(KILLS, 1):
                wait_until(lambda s=share: len(announced(receivers.webhook())) >= s * len(want),  # type: ignore[misc]
                           timeout=FINISH_LIMIT, what=f"{share:.0%} of the messages",
                           stages=[worker], interval=0.05)
                worker.kill9()
                killed_at = len(receivers.webhook())
                restarted = time.monotonic()
                worker.restart()
                wait_until(lambda k=killed_at: len(receivers.webhook()) > k,  # type: ignore[misc]
                           timeout=FINISH_LIMIT, what="a message after the restart",
                           stages=[worker], interval=0.05)
                outcome.resumed(f"kill {n} at {killed_at / len(want):.0%}",
                                time.monotonic() - restarted)
            feeder.join()
            wait_until(lambda: set(announced(receivers.webhook())) >= want,
                       timeout=FINISH_LIMIT, what="every report on the webhook",
                       stages=[worker])
            wait_until(receivers.quiet, timeout=FINISH_LIMIT, what="the receivers quiet",
                       stages=[worker])
            assert worker.terminate() == 0, tails([worker])

    hooks, posts = receivers.webhook(), receivers.slack()
    for channel, delivered in (("webhook", hooks), ("slack", posts)):
        # One decision per report: each report under one delivery id, sent once per id ...
        ids_of: dict[tuple[str, str], set[str]] = {}
        for _, story, articles, key in delivered:
            for article in articles:
                ids_of.setdefault((story, article), set()).add(key)
        decided_twice = {k: v for k, v in ids_of.items() if len(v) > 1}
        assert not decided_twice, f"{channel}: reports in two messages: {decided_twice}"
        assert set(ids_of) == want, f"{channel}: missing {sorted(want - set(ids_of))[:5]}"
        # ... except a message whose channel accepted it as the worker was killed, before it
        # was recorded: the next worker sends it again, under the same id.
        again = {k: n for k, n in Counter(key for *_, key in delivered).items() if n > 1}
        assert sum(n - 1 for n in again.values()) <= len(KILLS), f"{channel}: {again}"
        openings = Counter(story for kind, story, _, _ in set(delivered) if kind == "alert")
        assert openings == dict.fromkeys((f"story-{n}" for n in range(STORIES)), 1)
        if channel == "webhook":
            outcome.tally = Tally(expected=len(want), got=len(announced(delivered)),
                                  lost=len(want - set(ids_of)),
                                  duplicated=sum(n - 1 for n in again.values()),
                                  unexpected=len(set(ids_of) - want))
    # Slack: every update is a reply in its story's alert thread.
    threads: dict[str, set[str]] = {}
    for (kind, story, _, _), ts in zip(posts, receivers.slack_ts, strict=True):
        if kind == "alert":
            threads.setdefault(story, set()).add(ts)
    assert len(threads) == STORIES
    for (kind, story, _, _), body in zip(posts, receivers.slack_bodies(), strict=True):
        if kind == "alert":
            assert "thread_ts" not in body or body["thread_ts"] is None
        else:
            assert body.get("thread_ts") in threads[story]
