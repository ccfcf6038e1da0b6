"""Alerts end to end: articles in on the real broker, alerts out on Slack, email and webhooks.

One ``newswatch worker --subscribers FILE`` process, as ops run it; a local HTTP server stands
in for Slack (webhook and Web API) and a webhook receiver, aiosmtpd for the mail server (down
at first, then up). Two outlets' reports of one event give one alert per channel and one
threaded update; another event gives another alert; what the subscribers do not watch reaches
no one; Slack's 429 is retried after its Retry-After; a 400 is dead-lettered at once; a feed
title written to deceive arrives escaped; the rate limit's overflow comes in the digest.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor import bus
from monitor.article import AlertRecord, Article
from monitor.config import Settings
from tests.alerting.smtpserver import SMTPServer
from tests.httpserver import HTTPServer, Reply, Request
from tests.kafkaread import read_topic
from tests.metricsread import free_port, scrape
from tests.test_app import SHIPPED_TOPICS, produce
from tests.test_app_stories import PLANT, RIVER, WIRE

pytestmark = pytest.mark.kafka

# The wire report, with a title that tries every trick a feed could play on a reader.
HOSTILE = WIRE.model_copy(update={"title": "<!channel> Allies <script>alert(1)</script> reaffirm "
                  "*deterrence* in <http://evil.example|Seoul>"})
# Reports no subscriber watches (a drone strike in Ukraine watched by nobody here).
UNWATCHED = Article(
    article_id="drones-kyiv", feed_id="example-wire", outlet="Example Wire",
    url="https://examplewire.example/drones-kyiv", language="en",
    title="Iranian-made Shahed drones strike Kyiv overnight",
    text="Russia launched dozens of Iranian-designed Shahed drones at Kyiv overnight, "
         "Ukraine's air force said, adding that Iran keeps supplying Moscow with the drones.",
    published_at=WIRE.published_at, fetched_at=WIRE.fetched_at)

SUBSCRIBERS = """\
subscribers:
  - id: desk
    watch: [nk-russia-arms, korea-extended-deterrence]
    update_interval: 3s
    channels:
      - slack: {{webhook_url: "${{T_SLACK_HOOK}}", id: hook}}
      - slack: {{token: "${{T_SLACK_TOKEN}}", channel: C0123ABCD, id: bot}}
      - email: {{to: ["desk@example.org"], id: mail}}
  - id: flaky
    watch: [korea-extended-deterrence]
    channels:
      - slack: {{webhook_url: "${{T_SLACK_FLAKY}}", id: hook}}
  - id: refused
    watch: [korea-extended-deterrence]
    channels:
      - slack: {{webhook_url: "${{T_SLACK_REFUSED}}", id: hook}}
  - id: limited
    watch: [nk-russia-arms]
    rate_limit: {{alerts: 1, per: 20s}}
    channels:
      - webhook: {{url: "{limited}", id: hook}}
  - id: drones
    watch: [iran-russia-drones]
    min_severity: critical
    channels:
      - webhook: {{url: "{drones}", id: hook}}
"""


class Slack:
    """The local Slack: one incoming webhook per subscriber and the Web API."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.posts: list[tuple[dict[str, Any], str]] = []
        self._flaky_calls = 0
        server.route("/hooks/desk", lambda r: Reply(status=200, body=b"ok"))
        server.route("/hooks/flaky", self._flaky)
        server.route("/hooks/refused", lambda r: Reply(status=400, body=b"invalid_blocks"))
        server.route("/api/chat.postMessage", self._post)
        server.route("/limited", lambda r: Reply(status=200))
        server.route("/drones", lambda r: Reply(status=200))

    def _flaky(self, request: Request) -> Reply:
        self._flaky_calls += 1
        if self._flaky_calls == 1:
            return Reply(status=429, headers={"Retry-After": "2"}, body=b"rate_limited")
        return Reply(status=200, body=b"ok")

    def _post(self, request: Request) -> Reply:
        ts = f"1700000000.{len(self.posts) + 1:06d}"
        self.posts.append((orjson.loads(request.body), ts))
        return Reply(status=200, headers={"Content-Type": "application/json"},
                     body=orjson.dumps({"ok": True, "channel": "C0123ABCD", "ts": ts}))

    def requests(self, path: str) -> list[Request]:
        return [r for r in self.server.requests if r.path == path]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [orjson.loads(r.body) for r in self.requests(path)]


def wait_for(what: str, predicate: Callable[[], bool], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def test_one_event_from_two_outlets_gives_one_alert_per_channel_then_a_threaded_update(
        kafka_settings: Settings, tmp_path: Path) -> None:
    topics = tmp_path / "topics"
    shutil.copytree(SHIPPED_TOPICS, topics)
    bus.ensure_topics(kafka_settings.kafka_bootstrap, [
        bus.TopicSpec(kafka_settings.topic("articles"), partitions=6)])
    mail_server = SMTPServer()  # its port is reserved; it answers only once started
    with HTTPServer() as server:
        slack = Slack(server)
        subscribers = tmp_path / "subscribers.yaml"
        subscribers.write_text(SUBSCRIBERS.format(limited=server.url("/limited"),
                                                  drones=server.url("/drones")))
        port, log = free_port(), tmp_path / "worker.out"
        env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": kafka_settings.kafka_bootstrap,
               "NEWSWATCH_TOPIC_NAMESPACE": kafka_settings.topic_namespace,
               "NEWSWATCH_CACHE": str(tmp_path / "cache"), "NEWSWATCH_ALERT_TICK_SECONDS": "1",
               "NEWSWATCH_SLACK_API_URL": server.url("/api/"),
               "NEWSWATCH_SMTP_URL": f"smtp://127.0.0.1:{mail_server.port}",
               "NEWSWATCH_EMAIL_FROM": "newswatch@example.org",
               "T_SLACK_HOOK": server.url("/hooks/desk"), "T_SLACK_TOKEN": "xoxb-test-token",
               "T_SLACK_FLAKY": server.url("/hooks/flaky"),
               "T_SLACK_REFUSED": server.url("/hooks/refused")}
        with log.open("w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "monitor", "worker", "--topics", str(topics),
                 "--subscribers", str(subscribers), "--web-port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_for("the worker serving", lambda: _serving(port), log)
                produce(kafka_settings, [(a.article_id.encode(), a.to_json())
                                         for a in (HOSTILE, UNWATCHED)])
                wait_for("the alert on Slack", lambda: len(slack.posts) == 1
                         and len(slack.requests("/hooks/desk")) == 1, log)
                retried = time.monotonic()
                wait_for("the 429 retried", lambda: len(slack.requests("/hooks/flaky")) == 2,
                         log)
                flaky = slack.requests("/hooks/flaky")
                produce(kafka_settings, [(RIVER.article_id.encode(), RIVER.to_json())])
                wait_for("the update in the alert's thread", lambda: len(slack.posts) == 2, log)
                produce(kafka_settings, [(PLANT.article_id.encode(), PLANT.to_json())])
                wait_for("the second story's alert", lambda: len(slack.posts) == 3, log)
                wait_for("the overflow digest", lambda: len(slack.requests("/limited")) == 2,
                         log, timeout=40)
                mail_server.start()  # the mail server comes back: the mail waiting goes out
                wait_for("three mails", lambda: len(mail_server.messages) == 3, log, timeout=60)
                time.sleep(4)  # anything sent twice, or late, would arrive now
                samples = scrape(f"http://127.0.0.1:{port}/metrics")
            finally:
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(timeout=60)
                mail_server.stop()
        assert code == 0, log.read_text()[-3000:]

    # Slack by bot token: one alert, one reply in its thread, one alert for the other event.
    (alert, alert_ts), (update, _), (other, _) = slack.posts
    assert "thread_ts" not in alert or alert["thread_ts"] is None
    assert update["thread_ts"] == alert_ts
    assert other.get("thread_ts") is None
    # Each channel of the desk: exactly the same three messages.
    assert len(slack.requests("/hooks/desk")) == 3
    mails = [m.message for m in mail_server.messages]
    assert [_subject(m).startswith("Re: ") for m in mails].count(True) == 1
    first = next(m for m in mails if not _subject(m).startswith("Re: "))
    reply = next(m for m in mails if _subject(m).startswith("Re: "))
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in reply["References"]

    # The feed's tricks arrive as text, never as markup.
    # Slack: mrkdwn (and the notification text) escaped; plain_text is never parsed by Slack.
    message = slack.bodies("/hooks/desk")[0]
    marked = [message["text"], *_mrkdwn(message["blocks"])]
    assert any("&lt;!channel&gt;" in text for text in marked)
    for text in marked:
        assert "<!channel>" not in text and "<script>" not in text and "<http://evil" not in text
    html = first.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content() and "&lt;script&gt;" in html.get_content()

    # 429 with Retry-After: 2 → the same message again, two seconds later at the earliest.
    assert flaky[1].time - flaky[0].time >= 1.9
    assert flaky[1].body == flaky[0].body
    # A 400 is refused for good: sent once, then dead-lettered with the reason.
    assert len(slack.requests("/hooks/refused")) == 1
    dead = [AlertRecord.from_json(r.value) for r in read_topic(
        kafka_settings.kafka_bootstrap, kafka_settings.topic("alerts.dead"))]
    assert [(d.subscriber_id, d.outcome) for d in dead] == [("refused", "dead")]
    assert "400" in dead[0].reason and "hooks" not in dead[0].reason

    # The rate limit: the first story at once, the second in the digest with the reason.
    limited = slack.bodies("/limited")
    assert [b["kind"] for b in limited] == ["alert", "digest"]
    assert limited[1]["stories"][0]["note"] == "rate limit"
    assert retried  # the digest came while the rest went on
    # Nobody watches the drones at that severity: no request at all.
    assert slack.requests("/drones") == []

    # Every delivery is on news.alerts for audit; no secret is.
    records = [AlertRecord.from_json(r.value) for r in read_topic(
        kafka_settings.kafka_bootstrap, kafka_settings.topic("alerts"))]
    sent = sorted((r.subscriber_id, r.channel_id, r.kind) for r in records
                  if r.outcome == "sent")
    assert sent == sorted([
        ("desk", "bot", "alert"), ("desk", "bot", "alert"), ("desk", "bot", "update"),
        ("desk", "hook", "alert"), ("desk", "hook", "alert"), ("desk", "hook", "update"),
        ("desk", "mail", "alert"), ("desk", "mail", "alert"), ("desk", "mail", "update"),
        ("flaky", "hook", "alert"), ("limited", "hook", "alert"),
        ("limited", "hook", "digest")])
    everything = b"".join(r.value for r in read_topic(
        kafka_settings.kafka_bootstrap, kafka_settings.topic("alerts")))
    assert b"xoxb-test-token" not in everything and b"/hooks/" not in everything
    assert "xoxb-test-token" not in log.read_text()
    assert samples['newswatch_alerts_deliveries_total{channel="slack",outcome="dead",'
                   'subscriber_id="refused",topic_id="korea-extended-deterrence"}'] == 1
    assert samples['newswatch_alerts_retries_total{channel="slack"}'] >= 1


def _serving(port: int) -> bool:
    try:
        scrape(f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return False
    return True


def _mrkdwn(value: Any) -> list[str]:
    """Every mrkdwn text in a Block Kit structure."""
    if isinstance(value, list):
        return [t for item in value for t in _mrkdwn(item)]
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [str(value.get("text", ""))]
        return [t for item in value.values() for t in _mrkdwn(item)]
    return []


def _subject(message: EmailMessage) -> str:
    return str(message["Subject"])
