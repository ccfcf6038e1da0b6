"""The worker under crashes: every article's matches come out at least once, whatever happens.

In: ``ARTICLES`` generated articles of our own text (:mod:`tests.newstext`; about one in six
matches a shipped watch topic) produced to ``<ns>.articles``, and the matches they must give,
computed offline with the project's own matcher the way ``newswatch tag`` does. Out: the
``(article id, watch topic id)`` pairs read back from ``<ns>.matches``, tallied against the
expected ones. The promise: after a ``kill -9``, a clean restart, a second worker joining, or
the broker going away for 30 s, no match is lost; duplicates are allowed, and counted. Each
scenario reports one line (see ``conftest.py``): lost, duplicated, seconds to resume.

Every wait has a limit (``RESUME_LIMIT``, ``FINISH_LIMIT``), so a worker that stalls fails its
scenario in about two minutes instead of hanging the suite.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Hashable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS, Match
from monitor.broker import KafkaBroker
from monitor.config import Settings
from monitor.tagging.match import Matcher
from tests.chaos.harness import (
    PROBLEM_LINE,
    Feeder,
    Outcome,
    Outputs,
    Stage,
    condense,
    count_outputs,
    decode_all,
    produce,
    resume_after,
    tails,
    wait_until,
    worker_stage,
)
from tests.kafkaread import read_topic
from tests.metricsread import free_port
from tests.newstext import articles

pytestmark = pytest.mark.chaos

SHIPPED_TOPICS = Path(__file__).parents[2] / "topics"
#: Input of one scenario; the clean-restart and outage scenarios use a third of it per phase.
ARTICLES = 3000
#: Articles per second while feeding: the worker keeps up, so outputs follow the input.
RATE = 150.0
#: Kill -9 the worker when these shares of the expected matches are on the topic.
KILLS = (0.15, 0.50, 0.85)
#: Share of the input released before each kill. The next part is released at the kill and
#: arrives while the worker is down: the restarted worker catches up in a burst (the most
#: sends in flight) in which the next kill lands, and always has input left to give a match.
FED = (0.30, 0.65, 0.95)
#: Longest a restarted worker may take to write its next match.
RESUME_LIMIT = 120.0
#: Longest a running worker may take to reach the next milestone.
FINISH_LIMIT = 120.0
#: How long the broker stays down.
OUTAGE = 30.0
#: NEWSWATCH_STALL_AFTER of the worker that is made to stall.
STALL_AFTER = 6
#: At most this many ERROR / Traceback lines in the worker's log from an outage on.
MAX_OUTAGE_PROBLEMS = 20

Pair = tuple[str, str]
TAGGED = "newswatch_tagger_articles_total{"


@dataclass(frozen=True)
class Corpus:
    """The input articles as Kafka messages, with the matches each must give."""

    messages: list[tuple[bytes, bytes]]
    matches: list[tuple[Pair, ...]]  # per article, in the order of messages

    def expected(self, start: int = 0, stop: int | None = None) -> list[Pair]:
        """The (article id, watch topic id) pairs of the articles ``start:stop``."""
        return [pair for pairs in self.matches[start:stop] for pair in pairs]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    batch = articles(ARTICLES, id_prefix="chaos", size=2000, plain_odds=0.976)
    matcher = Matcher.from_dir(SHIPPED_TOPICS)
    return Corpus(
        messages=[(a.article_id.encode(), a.to_json()) for a in batch],
        matches=[tuple((a.article_id, m.topic_id)
                       for m in matcher.match(a.title, a.text, a.language)) for a in batch])


def create_topics(settings: Settings) -> None:
    bus.ensure_topics(settings.kafka_bootstrap, [
        bus.TopicSpec(settings.topic(name), partitions=ARTICLE_PARTITIONS)
        for name in ("articles", "matches")])


@pytest.fixture
def deployment(kafka_settings: Settings) -> Settings:
    """Fresh Kafka topics on the session's broker, created as the worker would create them."""
    create_topics(kafka_settings)
    return kafka_settings


def match_pair(record: Any) -> Pair:
    match = Match.from_json(record.value)
    return match.article.article_id, match.topic_id


def matches_on(settings: Settings) -> Outputs:
    return Outputs(settings.kafka_bootstrap, settings.topic("matches"), match_pair)


def read_pairs(settings: Settings) -> list[Hashable]:
    """Every match on the topic now, as a pair (or :class:`Undecodable`)."""
    return decode_all(read_topic(settings.kafka_bootstrap, settings.topic("matches")),
                      match_pair)


def tagged_by(worker: Stage) -> str:
    """How many articles the running worker says it has read, from its /metrics."""
    try:
        samples = worker.metrics()
    except OSError as exc:
        return f"? (no /metrics: {exc})"
    return f"{sum(v for k, v in samples.items() if k.startswith(TAGGED)):.0f}"


def resume_and_finish(outcome: Outcome, out: Outputs, worker: Stage, *, since: float,
                      event: str, expected: list[Pair], settings: Settings) -> None:
    """Record how long after ``event`` the worker wrote again, then wait for every match."""
    resumed = resume_after(out, since, timeout=RESUME_LIMIT, stages=[worker])
    outcome.resumed(event, resumed)
    assert resumed is not None, (
        f"no match written within {RESUME_LIMIT:.0f} s of {event}\n{tails([worker])}")
    try:
        wait_until(lambda: out.covers(expected), timeout=FINISH_LIMIT,
                   what=f"every expected match after {event}", stages=[worker])
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{missing_report(settings, out, expected, worker)}") \
            from None


def missing_report(settings: Settings, out: Outputs, expected: list[Pair],
                   worker: Stage) -> str:
    """For a failure: which matches are missing, where their articles sit, what the worker
    says it did with the articles it read (its outcome counters) and what it has left."""
    missing = sorted(set(expected) - set(out.keys))
    places = {record.key.decode(): f"{record.partition}@{record.offset}"
              for record in read_topic(settings.kafka_bootstrap, settings.topic("articles"))
              if record.key is not None}
    try:
        samples = worker.metrics()
    except OSError as exc:
        said = f"no /metrics: {exc}"
    else:
        said = ", ".join(f"{k.split('{', 1)[1].rstrip('}')}={v:.0f}"
                         for k, v in sorted(samples.items())
                         if k.startswith((TAGGED, "newswatch_worker_consumer_lag_messages{")))
    return (f"missing {len(missing)}: " + ", ".join(
                f"{article} {topic} (articles {places.get(article, '?')})"
                for article, topic in missing[:10])
            + f"\nthe worker says: {said}")


def assert_nothing_lost(outcome: Outcome) -> None:
    outcome.finish()
    assert outcome.tally is not None, outcome.line()
    assert outcome.tally.lost == 0, outcome.tally
    assert outcome.tally.unexpected == 0, outcome.tally


def test_worker_killed_three_times_mid_stream_loses_no_match(
        deployment: Settings, corpus: Corpus, tmp_path: Path, outcome: Outcome) -> None:
    settings, expected = deployment, corpus.expected()
    feeder = Feeder(settings.kafka_bootstrap, settings.topic("articles"), corpus.messages,
                    rate=RATE, limit=int(FED[0] * ARTICLES))
    outcome.count = lambda: count_outputs(corpus.expected(0, feeder.sent), read_pairs(settings))
    with worker_stage(settings, SHIPPED_TOPICS, tmp_path / "worker") as worker, \
            matches_on(settings) as out, feeder:
        worker.start().wait_serving()
        for n, (share, fed) in enumerate(zip(KILLS, [*FED[1:], 1.0], strict=True), 1):
            wait_until(partial(out.covers, expected, share), timeout=FINISH_LIMIT,
                       what=f"{share:.0%} of the {len(expected)} expected matches",
                       stages=[worker], interval=0.05)
            worker.kill9()
            feeder.release(int(fed * ARTICLES))
            worker.restart()
            out.drain()  # what the killed worker had written: it can write no more
            killed_at = out.share(expected)
            resumed = resume_after(out, worker.started_at, timeout=RESUME_LIMIT,
                                   stages=[worker])
            outcome.resumed(f"kill {n} at {killed_at:.0%}", resumed)
            assert resumed is not None, (
                f"no match written within {RESUME_LIMIT:.0f} s of restart {n}\n{tails([worker])}")
        wait_until(lambda: out.covers(expected), timeout=FINISH_LIMIT,
                   what="every expected match", stages=[worker])
        feeder.join()
        assert worker.terminate() == 0, tails([worker])
    assert_nothing_lost(outcome)


def test_worker_stopped_cleanly_tags_articles_that_arrive_after_its_restart(
        deployment: Settings, corpus: Corpus, tmp_path: Path, outcome: Outcome) -> None:
    settings, third = deployment, ARTICLES // 3
    before, after = corpus.expected(0, third), corpus.expected(third, 2 * third)
    produced = 0
    outcome.count = lambda: count_outputs(corpus.expected(0, produced), read_pairs(settings))
    with worker_stage(settings, SHIPPED_TOPICS, tmp_path / "worker") as worker, \
            matches_on(settings) as out:
        worker.start().wait_serving()
        produce(settings.kafka_bootstrap, settings.topic("articles"), corpus.messages[:third])
        produced = third
        wait_until(lambda: out.covers(before), timeout=FINISH_LIMIT,
                   what="the matches of the articles sent before the stop", stages=[worker])
        code = worker.terminate()
        outcome.notes.append(f"exit code {code} on SIGTERM")
        assert code == 0, tails([worker])

        worker.restart().wait_serving()
        produce(settings.kafka_bootstrap, settings.topic("articles"),
                corpus.messages[third:2 * third])
        produced = 2 * third
        resume_and_finish(outcome, out, worker, since=worker.started_at, event="restart",
                          settings=settings,
                          expected=before + after)
        assert worker.terminate() == 0, tails([worker])
    assert_nothing_lost(outcome)


def test_a_second_worker_joining_mid_stream_loses_no_match(
        deployment: Settings, corpus: Corpus, tmp_path: Path, outcome: Outcome) -> None:
    settings, expected = deployment, corpus.expected()
    feeder = Feeder(settings.kafka_bootstrap, settings.topic("articles"), corpus.messages,
                    rate=RATE, limit=int(0.4 * ARTICLES))
    outcome.count = lambda: count_outputs(corpus.expected(0, feeder.sent), read_pairs(settings))
    with worker_stage(settings, SHIPPED_TOPICS, tmp_path / "w1", "worker1") as first, \
            worker_stage(settings, SHIPPED_TOPICS, tmp_path / "w2", "worker2") as second, \
            matches_on(settings) as out, feeder:
        workers = [first, second]
        first.start().wait_serving()
        wait_until(lambda: out.covers(expected, 0.3), timeout=FINISH_LIMIT,
                   what="30% of the expected matches from the first worker", stages=[first])
        second.start().wait_serving()
        feeder.release()
        try:
            wait_until(lambda: out.covers(expected), timeout=FINISH_LIMIT,
                       what="every expected match with two workers", stages=workers)
        finally:
            outcome.notes.append(f"the second worker tagged {tagged_by(second)} articles")
        feeder.join()
        # While two workers share the input, a rebalance pauses the output: how long at most.
        joined = sorted(t for t in out.times if t >= second.started_at)
        pause = max((b - a for a, b in pairwise(joined)), default=None)
        outcome.resumed("longest output gap after the join", pause)
        codes = [w.terminate() for w in workers]
        assert codes == [0, 0], tails(workers)
    assert_nothing_lost(outcome)


def test_worker_loses_no_match_when_the_broker_is_down_for_30_seconds(
        corpus: Corpus, tmp_path: Path, outcome: Outcome) -> None:
    # A broker of its own: the session's broker is shared by every other test.
    broker = KafkaBroker(Settings.from_env(), port=free_port(), data_dir=tmp_path / "kafka")
    third = ARTICLES // 3
    with broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap,
                            topic_namespace=f"t{uuid4().hex[:10]}")
        create_topics(settings)
        before, after = corpus.expected(0, third), corpus.expected(third, 2 * third)
        produced = 0
        outcome.count = lambda: count_outputs(corpus.expected(0, produced),
                                              read_pairs(settings))
        with worker_stage(settings, SHIPPED_TOPICS, tmp_path / "worker") as worker:
            worker.start().wait_serving()
            produce(settings.kafka_bootstrap, settings.topic("articles"),
                    corpus.messages[:third])
            produced = third
            # No client of this test is open during the outage: kafka-python leaves the
            # sockets of refused connections unclosed, which would fail the test, not the
            # worker.
            with matches_on(settings) as out:
                wait_until(lambda: out.covers(before, 0.2), timeout=FINISH_LIMIT,
                           what="the first matches before the outage", stages=[worker])
            outage_from = len(worker.log_lines())
            broker.stop()
            time.sleep(OUTAGE)  # the outage itself
            broker.start()
            back = time.time()
            try:
                produce(settings.kafka_bootstrap, settings.topic("articles"),
                        corpus.messages[third:2 * third])
                produced = 2 * third
                with matches_on(settings) as out:
                    resume_and_finish(outcome, out, worker, since=back, event="broker back",
                                      expected=before + after, settings=settings)
            finally:
                problems = [line for line in worker.log_lines()[outage_from:]
                            if PROBLEM_LINE.search(line)]
                outcome.notes.append(f"{len(problems)} ERROR/Traceback lines in the worker's "
                                     "log from the outage on")
            assert worker.terminate() == 0, tails([worker])
        assert_nothing_lost(outcome)
    assert len(problems) < MAX_OUTAGE_PROBLEMS, (
        f"{len(problems)} ERROR/Traceback lines in the worker's log from the outage on:\n"
        + "\n".join(condense(problems)))


def test_a_worker_stuck_in_table_recovery_reports_a_stall_and_exits_to_be_restarted(
        deployment: Settings, corpus: Corpus, tmp_path: Path) -> None:
    # One unreadable record in the table's changelog: Faust's recovery logs it and then waits
    # forever for an offset it never reaches, with the input waiting. The worker must say so
    # on /readyz and exit, not sit there looking alive.
    settings = deployment
    changelog = f"{settings.topic_namespace}.worker-articles-seen-changelog"
    bus.ensure_topics(settings.kafka_bootstrap, [bus.TopicSpec(
        changelog, partitions=ARTICLE_PARTITIONS, config={"cleanup.policy": "compact"})])
    produce(settings.kafka_bootstrap, changelog,
            [(f"junk-{n}".encode(), b"{not json") for n in range(ARTICLE_PARTITIONS)])
    produce(settings.kafka_bootstrap, settings.topic("articles"), corpus.messages[:300])
    worker = worker_stage(settings, SHIPPED_TOPICS, tmp_path / "worker")
    worker.env["NEWSWATCH_STALL_AFTER"] = str(STALL_AFTER)
    with worker:
        worker.start()
        answers: list[tuple[int, str]] = []
        deadline = time.monotonic() + STALL_AFTER + FINISH_LIMIT
        while worker.alive and time.monotonic() < deadline:
            answers.append(readyz(worker))
            time.sleep(0.1)
        assert not worker.alive, f"the stalled worker never gave up\n{tails([worker])}"
        assert worker.returncode == 1, tails([worker])
        stalls = [a for a in answers if a[0] == 503 and a[1].startswith("stalled")]
        assert stalls, f"/readyz never said stalled: {sorted(set(answers))[:5]}"
        log = "\n".join(worker.log_lines())
        assert "worker stalled: stalled: input waiting" in log, tails([worker])


def readyz(stage: Stage) -> tuple[int, str]:
    """``/readyz`` of a running stage: (status, body); (0, why) when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stage.port}/readyz",
                                    timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)
