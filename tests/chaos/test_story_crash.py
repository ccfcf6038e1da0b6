"""The story agent under crashes: no article is added twice, none is lost.

In: reports of generated events (:func:`tests.newstext.event_reports`) as matches of two watch
topics, produced straight to ``<ns>.matches``, one in ten produced twice (a different message
for the same article, as a tagger that restarted sends it). The worker is killed with -9 three
times while it folds. Out: every event on ``<ns>.stories``. The promise: each article is in
exactly one story; no story lists an article twice or counts it twice; every article is in a
story. Events repeated by a replay after a crash are allowed, and counted.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS, Match, StoryEvent
from monitor.config import Settings
from tests.chaos.harness import (
    Feeder,
    Outcome,
    Outputs,
    Tally,
    resume_after,
    tails,
    wait_committed,
    wait_until,
    worker_stage,
)
from tests.kafkaread import read_topic
from tests.newstext import event_reports

pytestmark = pytest.mark.chaos

SHIPPED_TOPICS = Path(__file__).parents[2] / "topics"
EVENTS = 60
PER_EVENT = 5
#: Matches per second while feeding: the feed lasts through the three kills.
RATE = 15.0
#: Kill -9 once the stories hold these shares of the articles.
KILLS = (0.2, 0.5, 0.8)
RESUME_LIMIT = 120.0
FINISH_LIMIT = 180.0


def story_matches() -> tuple[list[tuple[bytes, bytes]], set[str]]:
    """The input messages (with repeats) and the article ids that must end in stories."""
    reports = event_reports(EVENTS, PER_EVENT, start=datetime.now(UTC) - timedelta(hours=5),
                            id_prefix="crash")
    messages, ids = [], set()
    for n, (event, article) in enumerate(reports):
        topic = ("nk-russia-arms", "unsc-sanctions")[event % 2]
        value = Match(article=article, topic_id=topic, severity="high", score=2.0,
                      matched_at=article.fetched_at).to_json()
        messages.append((topic.encode(), value))
        if n % 10 == 3:
            messages.append((topic.encode(), value))
        ids.add(article.article_id)
    return messages, ids


def history(records: list[Any], story_id: str, missing: set[str],
            killed_at: list[float]) -> str:
    """One story's events in the order produced, shown where the ``missing`` articles it holds
    change, with the kills between them: where those articles were held last."""
    lines = [f"story {story_id} lost {sorted(missing)} from its latest state; its events:"]
    kills = sorted(killed_at)
    events = [(r, StoryEvent.from_json(r.value)) for r in records]
    ours = [(r, e) for r, e in events if e.story.story_id == story_id]
    held: list[str] | None = None
    for n, (record, event) in enumerate(ours):
        while kills and record.timestamp / 1000 > kills[0]:
            lines.append(f"  -- kill -9 at {kills.pop(0):.3f}")
        now = sorted(missing & {a.article_id for a in event.story.articles})
        if now != held or n == len(ours) - 1:
            lines.append(f"  @{record.offset} {record.timestamp / 1000:.3f} updates "
                         f"{event.story.updates} +{event.article.article_id} ({event.event}), "
                         f"holds {len(event.story.articles)}, of the missing: {now}")
        held = now
    return "\n".join(lines)


def story_event(record: Any) -> tuple[str, str, int]:
    event = StoryEvent.from_json(record.value)
    return event.story.story_id, event.article.article_id, event.story.updates


# After some restarts the worker's consumer fetched nothing more for a partition it held, or
# committed past matches it never folded (about half the runs failed). The consumer now
# commits only what the outbox acknowledged, and a partition stuck with input waiting is read
# again (after 20 s).
def test_worker_killed_while_folding_adds_no_article_twice(
        kafka_settings: Settings, tmp_path: Path, outcome: Outcome) -> None:
    settings = kafka_settings
    bus.ensure_topics(settings.kafka_bootstrap, [
        bus.TopicSpec(settings.topic(name), partitions=ARTICLE_PARTITIONS)
        for name in ("articles", "matches", "stories")])
    messages, ids = story_matches()
    feeder = Feeder(settings.kafka_bootstrap, settings.topic("matches"), messages, rate=RATE)
    stage = worker_stage(settings, SHIPPED_TOPICS, tmp_path / "worker")
    stage.env["NEWSWATCH_STALL_AFTER"] = "120"
    killed_at: list[float] = []
    with stage as worker, \
            Outputs(settings.kafka_bootstrap, settings.topic("stories"), story_event) as out:
        worker.start().wait_serving()
        feeder.start()

        def folded() -> set[str]:
            out.poll()
            return {key[1] for key in out.keys if isinstance(key, tuple)}

        def undecodable() -> str:
            bad = [k for k in out.keys if not isinstance(k, tuple)]
            return f"{len(bad)} events unreadable, e.g. {bad[:2]}; missing e.g. " \
                   f"{sorted(ids - folded())[:5]}"

        for n, share in enumerate(KILLS, 1):
            wait_until(lambda s=share: len(folded()) >= s * len(ids),  # type: ignore[misc]
                       timeout=FINISH_LIMIT, what=f"{share:.0%} of the articles in stories "
                       f"({undecodable()})", stages=[worker], interval=0.05)
            killed_at.append(time.time())
            worker.kill9()
            worker.restart()
            out.drain()
            resumed = resume_after(out, worker.started_at, timeout=RESUME_LIMIT,
                                   stages=[worker])
            outcome.resumed(f"kill {n} at {len(folded()) / len(ids):.0%}", resumed)
            assert resumed is not None, f"no story event after restart {n}\n{tails([worker])}"
        feeder.join()
        wait_until(lambda: folded() >= ids, timeout=FINISH_LIMIT,
                   what="every article in a story", stages=[worker])
        # Events from before the last kill may name every article while the last run still
        # has to fold some again (lost with the kill, or dropped after the restart): the
        # stories' final states are those once it has committed every match.
        caught_up = wait_committed(settings, "matches", timeout=FINISH_LIMIT, stages=[worker])
        outcome.notes.append(f"every match committed {caught_up:.1f} s after every article "
                             "was in a story")
        assert worker.terminate() == 0, tails([worker])

    records = read_topic(settings.kafka_bootstrap, settings.topic("stories"))
    events = [StoryEvent.from_json(r.value) for r in records]
    story_of: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, StoryEvent] = {}
    for event in events:
        story_of[event.article.article_id].add(event.story.story_id)
        held = latest.get(event.story.story_id)
        if held is None or event.story.updates > held.story.updates:
            latest[event.story.story_id] = event
    distinct = len({(e.story.story_id, e.article.article_id) for e in events})
    outcome.tally = Tally(expected=len(ids), got=len(events), lost=len(ids - set(story_of)),
                          duplicated=len(events) - distinct,
                          unexpected=len(set(story_of) - ids))

    assert set(story_of) == ids
    in_two = {a: s for a, s in story_of.items() if len(s) > 1}
    assert not in_two, f"articles in more than one story: {list(in_two.items())[:3]}"
    for story_id, event in latest.items():
        listed = [a.article_id for a in event.story.articles]
        assert len(listed) == len(set(listed)), f"story {story_id} lists an article twice"
        assert event.story.updates == len(listed) - 1
        named = {a for a, s in story_of.items() if story_id in s}
        assert set(listed) == named, history(records, story_id, named - set(listed), killed_at)
    assert sum(len(e.story.articles) for e in latest.values()) == len(ids)
