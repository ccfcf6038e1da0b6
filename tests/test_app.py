"""The worker against the real broker: articles in on news.articles, matches out on news.matches.

One ``newswatch worker`` process per test, run as ops run it; articles are produced with a plain
kafka-python producer and everything is read back with a plain consumer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from monitor import bus
from monitor.article import Article
from monitor.config import Settings
from tests import metricsread
from tests.kafkaread import read_topic, wait_for_records
from tests.metricsread import free_port

pytestmark = pytest.mark.kafka

SHIPPED_TOPICS = Path(__file__).parents[1] / "topics"

# Our own text: one report of the September 2023 deterrence talks in Seoul that also raises
# the North Korea-Russia arms dealings.
SEOUL = Article(
    article_id="seoul-edscg-1", feed_id="wire", outlet="Example Wire",
    url="https://example.org/edscg", title="Allies reaffirm extended deterrence in Seoul",
    text=("Senior officials of South Korea and the United States met in Seoul on Friday for the "
          "Extended Deterrence Strategy and Consultation Group. Vice Foreign Minister Chang "
          "Ho-jin said any arms dealing between North Korea and Russia would violate Security "
          "Council resolutions and that Pyongyang and Moscow would pay a price for their "
          "military cooperation."),
    language="en", published_at=datetime(2023, 9, 15, 3, 0, tzinfo=UTC),
    fetched_at=datetime(2023, 9, 15, 3, 5, tzinfo=UTC))
WEATHER = Article(
    article_id="seoul-rain-1", feed_id="wire", outlet="Example Wire",
    title="Monsoon rains flood roads in Seoul", text="Heavy monsoon rain closed roads in Seoul.",
    language="en", fetched_at=datetime(2023, 7, 1, tzinfo=UTC))


@pytest.fixture
def worker(kafka_settings: Settings, tmp_path: Path) -> Iterator[tuple[Path, int, Path]]:
    """A running worker on a copy of the shipped watch topics: (topics dir, web port, log)."""
    with running_worker(kafka_settings, tmp_path) as running:
        yield running


@contextlib.contextmanager
def running_worker(kafka_settings: Settings,
                   tmp_path: Path) -> Iterator[tuple[Path, int, Path]]:
    topics = tmp_path / "topics"
    shutil.copytree(SHIPPED_TOPICS, topics)
    bus.ensure_topics(kafka_settings.kafka_bootstrap, [
        bus.TopicSpec(kafka_settings.topic("articles"), partitions=6)])
    port = free_port()
    log = tmp_path / "worker.out"
    env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": kafka_settings.kafka_bootstrap,
           "NEWSWATCH_TOPIC_NAMESPACE": kafka_settings.topic_namespace,
           "NEWSWATCH_CACHE": str(tmp_path / "cache")}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "worker", "--topics", str(topics),
             "--web-port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for_metrics(port, process, log)
            yield topics, port, log
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]


def _wait_for_metrics(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{log.read_text()[-3000:]}")
        try:
            scrape(port)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"worker never served /metrics:\n{log.read_text()[-3000:]}")


def scrape(port: int) -> dict[str, float]:
    return metricsread.scrape(f"http://127.0.0.1:{port}/metrics")


def produce(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    producer = bus.make_producer(settings.kafka_bootstrap, client_id="test")
    try:
        bus.wait_all([producer.send(settings.topic("articles"), key=key, value=value)
                      for key, value in messages])
    finally:
        producer.close()


def test_worker_tags_articles_drops_duplicates_and_dead_letters_the_unreadable(
        kafka_settings: Settings, worker: tuple[Path, int, Path]) -> None:
    _, port, log = worker
    seoul = SEOUL.to_json()
    produce(kafka_settings, [(b"seoul-edscg-1", seoul), (b"seoul-edscg-1", seoul),
                             (b"junk", b"{not json"), (b"seoul-rain-1", WEATHER.to_json())])

    matches = wait_for_records(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"), 2)
    dead = wait_for_records(kafka_settings.kafka_bootstrap,
                            kafka_settings.topic("articles.dead"), 1)
    by_topic = {r.key.decode(): orjson.loads(r.value) for r in matches}
    assert sorted(by_topic) == ["korea-extended-deterrence", "nk-russia-arms"]
    arms = by_topic["nk-russia-arms"]
    assert arms["article"]["article_id"] == "seoul-edscg-1"
    fired = {e["matched"] for e in arms["evidence"]}
    assert {"North Korea", "Russia"} <= fired
    assert any("military cooperation" in s["text"] for s in arms["sentences"])
    [letter] = [orjson.loads(r.value) for r in dead]
    assert letter["stage"] == "tag"
    assert letter["value"] == "{not json"
    assert letter["reason"].startswith("not JSON")

    # Nothing more arrives: the duplicate and the weather report gave no match.
    time.sleep(2)
    assert len(read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"))) == 2
    samples = scrape(port)
    assert samples['newswatch_tagger_articles_total{outcome="tagged"}'] == 2
    assert samples['newswatch_tagger_articles_total{outcome="duplicate"}'] == 1
    assert samples['newswatch_tagger_articles_total{outcome="dead"}'] == 1
    assert samples['newswatch_tagger_matches_total{topic_id="nk-russia-arms"}'] == 1
    assert any(name.startswith("newswatch_worker_faust_") for name in samples)
    assert "STORY [nk-russia-arms] high" in log.read_text()


def test_a_new_watch_topic_takes_effect_without_a_restart(
        kafka_settings: Settings, worker: tuple[Path, int, Path]) -> None:
    topics, port, _ = worker
    (topics / "seoul-weather.yaml").write_text(
        "id: seoul-weather\ntitle: Weather in Seoul\nseverity: low\n"
        "match:\n  all:\n    - any: [monsoon, typhoon*]\n    - any: [Seoul]\n")
    deadline = time.monotonic() + 30
    while scrape(port).get('newswatch_tagger_reloads_total{outcome="ok"}', 0) < 1:
        assert time.monotonic() < deadline, "the new watch topic was never loaded"
        time.sleep(0.5)
    produce(kafka_settings, [(b"seoul-rain-1", WEATHER.to_json())])
    [match] = wait_for_records(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"), 1)
    assert match.key == b"seoul-weather"
    assert scrape(port)["newswatch_tagger_watch_topics"] == 6


def test_worker_answers_healthz_and_readyz_once_it_holds_partitions(
        kafka_settings: Settings, worker: tuple[Path, int, Path]) -> None:
    _, port, _ = worker
    assert get(port, "/healthz") == (200, "ok\n")
    deadline = time.monotonic() + 60
    status, reason = get(port, "/readyz")
    while status != 200:
        assert time.monotonic() < deadline, f"never ready: {reason}"
        time.sleep(0.5)
        status, reason = get(port, "/readyz")
    assert f"of {kafka_settings.topic('articles')}" in reason
    assert scrape(port)["newswatch_worker_stalled"] == 0


def test_an_output_the_broker_refuses_is_dead_lettered_with_its_coordinates(
        kafka_settings: Settings, tmp_path: Path) -> None:
    # A matches topic that refuses anything over 1,500 bytes: every match is refused for good.
    bus.ensure_topics(kafka_settings.kafka_bootstrap, [bus.TopicSpec(
        kafka_settings.topic("matches"), partitions=6, config={"max.message.bytes": "1500"})])
    hostile = SEOUL.model_copy(update={"article_id": "huge-title",
                                       "title": "Seoul talks " + "x" * 900_000})
    with running_worker(kafka_settings, tmp_path) as (_, port, _):
        produce(kafka_settings, [(b"seoul-edscg-1", SEOUL.to_json()),
                                 (b"huge-title", hostile.to_json()),
                                 (b"seoul-rain-1", WEATHER.to_json())])
        dead = wait_for_records(kafka_settings.kafka_bootstrap,
                                kafka_settings.topic("articles.dead"), 2)
        letters = sorted((orjson.loads(r.value) for r in dead), key=lambda d: d["key"])
        assert [d["key"] for d in letters] == ["huge-title", "seoul-edscg-1"]
        for letter in letters:
            assert letter["stage"] == "tag"
            assert "output to matches refused" in letter["reason"]
            assert letter["source"]["topic"] == kafka_settings.topic("articles")
            assert letter["source"]["offset"] >= 0
        assert orjson.loads(letters[1]["value"])["article_id"] == "seoul-edscg-1"
        samples = scrape(port)
        assert samples['newswatch_worker_dead_letters_total{stage="tag"}'] == 2
        assert samples['newswatch_tagger_articles_total{outcome="tagged"}'] == 3
    assert read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches")) == []


def test_a_match_of_an_article_with_a_900_kb_title_reaches_news_matches(
        kafka_settings: Settings, worker: tuple[Path, int, Path]) -> None:
    hostile = SEOUL.model_copy(update={"article_id": "huge-title",
                                       "title": "Allies meet in Seoul " + "x" * 900_000})
    produce(kafka_settings, [(b"huge-title", hostile.to_json())])
    matches = wait_for_records(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"),
                               2)
    assert {orjson.loads(r.value)["article"]["article_id"] for r in matches} == {"huge-title"}
    assert all(len(r.value) < 100_000 for r in matches)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
