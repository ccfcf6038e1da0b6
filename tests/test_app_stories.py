"""The story agent against the real broker: articles in on news.articles, stories out.

One ``newswatch worker`` process, as ops run it. Reports of one event from three outlets,
spelled three ways, become one story; another event on the same watch topic becomes a second
story; a repeated match and an unreadable one change nothing but a dead letter.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor import bus
from monitor.article import Article, Match, StoryEvent
from monitor.config import Settings
from tests.kafkaread import read_topic, wait_for_records
from tests.test_app import produce, running_worker, scrape

pytestmark = pytest.mark.kafka

# Our own text: three outlets report the 15 September 2023 deterrence talks in Seoul, with
# the vice minister spelled "Chang", "Jang" and in French; a fourth report is another event
# of the same day on the same watch topic (Kim Jong Un at a Russian aircraft plant).
_HOURS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)


def _article(article_id: str, outlet: str, language: str, minutes: int, title: str,
             text: str) -> Article:
    return Article(article_id=article_id, feed_id=outlet.lower().replace(" ", "-"),
                   outlet=outlet, url=f"https://{outlet.lower().replace(' ', '')}.example/"
                   f"{article_id}", title=title, text=text, language=language,
                   published_at=_HOURS_AGO + timedelta(minutes=minutes),
                   fetched_at=_HOURS_AGO + timedelta(minutes=minutes + 5))


WIRE = _article(
    "edscg-wire", "Example Wire", "en", 0, "Allies reaffirm extended deterrence in Seoul",
    "Senior officials of South Korea and the United States met in Seoul on Friday for the "
    "Extended Deterrence Strategy and Consultation Group. Vice Foreign Minister Chang Ho-jin "
    "said any arms dealing between North Korea and Russia would violate Security Council "
    "resolutions and that Pyongyang and Moscow would pay a price for their military "
    "cooperation.")
RIVER = _article(
    "edscg-river", "Han River Times", "en", 85,
    "Seoul and Washington warn Pyongyang, Moscow over arms ties",
    "South Korea and the US told North Korea and Russia on Friday that their military "
    "cooperation breaches UN Security Council resolutions and will carry a cost. The warning "
    "came at the fourth session of the Extended Deterrence Strategy Consultative Group, held "
    "for the first time in Seoul, where First Vice Foreign Minister Jang Ho-jin led the Korean "
    "side.")
COURRIER = _article(
    "edscg-courrier", "Le Courrier d'Asie", "fr", 290,
    "Séoul et Washington mettent en garde Pyongyang et Moscou",
    "La Corée du Sud et les États-Unis ont averti vendredi à Séoul que toute coopération "
    "militaire entre la Corée du Nord et la Russie violerait les résolutions du Conseil de "
    "sécurité de l'ONU. Le vice-ministre Chang Ho-jin présidait la quatrième réunion du groupe "
    "consultatif sur la stratégie de dissuasion élargie.")
PLANT = _article(
    "kim-plant", "Example Wire", "en", 140,
    "Kim tours Russian fighter jet plant in Komsomolsk-on-Amur",
    "North Korean leader Kim Jong Un toured an aircraft factory in the Russian Far East city of "
    "Komsomolsk-on-Amur, where Su-35 and Su-57 fighters are assembled, state media said, "
    "adding to fears that North Korea and Russia are deepening their military cooperation.")


def _send(settings: Settings, *articles: Article) -> None:
    produce(settings, [(a.article_id.encode(), a.to_json()) for a in articles])


def _stories(settings: Settings, count: int,
             topic_id: str = "nk-russia-arms") -> list[StoryEvent]:
    """The story events of one watch topic, once there are at least ``count``."""
    deadline = time.monotonic() + 90
    while True:
        events = [StoryEvent.from_json(r.value) for r in
                  read_topic(settings.kafka_bootstrap, settings.topic("stories"))]
        mine = [e for e in events if e.story.topic_id == topic_id]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.25)


def test_reports_of_one_event_from_three_outlets_become_one_story(
        kafka_settings: Settings, tmp_path: Path) -> None:
    with running_worker(kafka_settings, tmp_path) as (_, port, log):
        _send(kafka_settings, WIRE)
        [opened] = _stories(kafka_settings, 1)
        _send(kafka_settings, RIVER)
        _, joined = _stories(kafka_settings, 2)
        _send(kafka_settings, PLANT)
        *_, other = _stories(kafka_settings, 3)
        _send(kafka_settings, COURRIER)
        *_, third = _stories(kafka_settings, 4)

        # A repeat of a match already folded (as a restarted tagger sends), and a match
        # nobody can read: no story event, one dead letter.
        match = Match(article=RIVER, topic_id="nk-russia-arms", score=3.0,
                      matched_at=datetime.now(UTC))
        producer = bus.make_producer(kafka_settings.kafka_bootstrap, client_id="test")
        try:
            bus.wait_all([
                producer.send(kafka_settings.topic("matches"), key=b"nk-russia-arms",
                              value=match.to_json()),
                producer.send(kafka_settings.topic("matches"), key=b"nk-russia-arms",
                              value=b'{"schema": 1, "topic_id": "nk-russia-arms"}')])
        finally:
            producer.close()
        [letter] = wait_for_records(kafka_settings.kafka_bootstrap,
                                    kafka_settings.topic("matches.dead"), 1)
        time.sleep(2)
        events = _stories(kafka_settings, 4)
        deterrence = _stories(kafka_settings, 3, "korea-extended-deterrence")
        samples = scrape(port)
        console = log.read_text()

    assert (opened.event, opened.article.article_id) == ("opened", "edscg-wire")
    story = opened.story
    assert (story.topic_id, story.outlets, story.updates) == ("nk-russia-arms", 1, 0)

    assert (joined.event, joined.story.story_id) == ("updated", story.story_id)
    assert joined.article.outlet == "Han River Times"
    assert (joined.story.outlets, joined.story.sources, joined.story.updates) == (2, 2, 1)
    assert joined.why

    assert other.event == "opened" and other.story.story_id != story.story_id
    assert [a.article_id for a in other.story.articles] == ["kim-plant"]

    assert (third.event, third.story.story_id) == ("updated", story.story_id)
    assert third.story.outlets == 3
    assert set(third.story.languages) == {"en", "fr"}
    assert [a.article_id for a in third.story.articles] == [
        "edscg-wire", "edscg-river", "edscg-courrier"]

    assert len(events) == 4, [(e.event, e.article.article_id) for e in events]
    # The talks are also a story of the deterrence watch topic, the plant visit is not.
    assert [e.event for e in deterrence] == ["opened", "updated", "updated"]
    assert deterrence[-1].story.outlets == 3
    reason: dict[str, Any] = orjson.loads(letter.value)
    assert reason["stage"] == "story" and "article" in reason["reason"]
    assert samples['newswatch_stories_matches_total{outcome="opened"}'] == 3
    assert samples['newswatch_stories_matches_total{outcome="joined"}'] == 4
    assert samples['newswatch_stories_matches_total{outcome="duplicate"}'] == 1
    assert samples['newswatch_stories_matches_total{outcome="dead"}'] == 1
    assert samples['newswatch_stories_open{topic_id="nk-russia-arms"}'] == 2

    # The console tells the analyst one line per story, one indented line per outlet joining.
    assert console.count("STORY [nk-russia-arms]") == 2
    assert console.count("STORY [korea-extended-deterrence]") == 1
    assert "    + Han River Times (en): Seoul and Washington warn" in console
    assert "    + Le Courrier d'Asie (fr)" in console
