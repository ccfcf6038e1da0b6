from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.admin import KafkaAdminClient

from monitor import bus
from monitor.article import Article
from monitor.config import Settings
from monitor.tagging.backtest import Tagged, Version, backtest, tag_items
from monitor.tagging.backtest_source import Item, parse_since, read_file
from monitor.tagging.commands import add_commands
from monitor.tagging.match import Matcher

ROOT = Path(__file__).parents[2]

HARBOUR = """\
id: harbour-strike
title: Dock workers' strikes
severity: medium
match:
  all:
    - any: [dock*, port, harbour]
    - any: [strike*, walkout]
  within: sentence
"""
# The edit under test: stevedores count as dock workers; a walkout no longer counts.
HARBOUR_EDITED = HARBOUR.replace("[dock*, port, harbour]", "[dock*, port, harbour, stevedore*]"
                                 ).replace("[strike*, walkout]", "[strike*]")
FLOOD = """\
id: flood-warning
title: Flood warnings
match:
  all: [flood*, warning*]
  within: sentence
"""

DAY = datetime(2024, 3, 4, 8, tzinfo=UTC)


def article(ident: str, title: str, text: str, labels: Any = None, day: int = 0) -> bytes:
    data: dict[str, Any] = {"id": ident, "title": title, "text": text,
                            "published": (DAY + timedelta(days=day)).isoformat()}
    if labels is not None:
        data["labels"] = labels
    return orjson.dumps(data)


ARTICLES = [
    article("a1", "Dock workers begin strike at northern port",
            "Crane operators joined the action on Monday.", ["harbour-strike"]),
    article("a2", "Harbour quiet again", "The walkout at the harbour ended after talks.",
            ["harbour-strike"], day=1),
    article("a3", "Cup final report", "The striker scored twice at the port city stadium.",
            [], day=1),
    article("a4", "Ships wait offshore",
            "Stevedores went on strike on Monday, refusing to load ships.", ["harbour-strike"],
            day=2),
    article("a5", "Flood warning for the river valley",
            "A flood warning was issued for three villages.", ["flood-warning"], day=2),
    article("a6", "Markets calm", "Shares ended the day flat.", [], day=2),
    article("a7", "Port strike spreads", "More docks stopped work.",
            {"harbour-strike": True, "no-such-topic": False}, day=3),
    article("a8", "Quiet day", "Nothing of note.", {"no-such-topic": True}, day=3),
    article("a9", "Cargo piles up", "Longshoremen downed tools for a second day.",
            ["harbour-strike"], day=4),
]


@pytest.fixture
def topics(tmp_path: Path) -> Path:
    directory = tmp_path / "topics"
    directory.mkdir()
    (directory / "harbour-strike.yaml").write_text(HARBOUR, encoding="utf-8")
    (directory / "flood-warning.yaml").write_text(FLOOD, encoding="utf-8")
    return directory


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    directory = tmp_path / "edited"
    directory.mkdir()
    (directory / "harbour-strike.yaml").write_text(HARBOUR_EDITED, encoding="utf-8")
    (directory / "flood-warning.yaml").write_text(FLOOD, encoding="utf-8")
    return directory


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    path.write_bytes(b"\n".join(ARTICLES) + b"\n")
    return path


def version(directory: Path) -> Version:
    return Version(str(directory), Matcher.from_dir(directory))


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newswatch")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_labels_give_exact_precision_recall_and_f1_with_explained_mistakes(
        topics: Path, labelled: Path) -> None:
    result = backtest(read_file(labelled).items, version(topics), stories=False)

    assert (result.articles, result.bad, result.labelled) == (9, 0, 8)
    assert result.unknown_labels == ["no-such-topic"]
    flood, harbour = result.topics
    assert (harbour.true_positives, harbour.false_positive_count, harbour.miss_count,
            harbour.true_negatives) == (3, 1, 2, 2)
    assert harbour.precision == pytest.approx(0.75)
    assert harbour.recall == pytest.approx(0.6)
    assert harbour.f1 == pytest.approx(2 / 3)
    assert (flood.true_positives, flood.false_positive_count, flood.miss_count,
            flood.true_negatives, flood.precision, flood.recall) == (1, 0, 0, 6, 1.0, 1.0)
    assert harbour.per_day == {"2024-03-04": 1, "2024-03-05": 2, "2024-03-07": 1}

    [wrong] = harbour.false_positives
    assert (wrong.ident, wrong.where) == ("a3", f"{labelled}:3")
    assert wrong.explanation.matched
    fired = {hit.matched for group in wrong.explanation.groups for hit in group.hits}
    assert {"striker", "port"} <= fired
    assert [m.ident for m in harbour.misses] == ["a4", "a9"]
    assert not any(m.explanation.matched for m in harbour.misses)
    assert harbour.misses[0].explanation.counted == []


def test_an_edit_lists_the_articles_it_gains_and_loses_with_why(
        topics: Path, edited: Path, labelled: Path) -> None:
    result = backtest(read_file(labelled).items, version(edited), version(topics),
                      topics=["harbour-strike"], stories=False)

    [harbour] = result.topics
    assert (harbour.matches, harbour.against_matches) == (4, 4)
    assert [(g.ident, g.explanation.matched) for g in harbour.gained] == [("a4", True)]
    assert {hit.matched for group in harbour.gained[0].explanation.groups
            for hit in group.hits} >= {"Stevedores", "strike"}
    # A loss is explained under the version that still matches it: the walkout.
    [lost] = harbour.lost
    assert (lost.ident, lost.explanation.matched) == ("a2", True)
    assert "walkout" in {hit.matched for group in lost.explanation.groups for hit in group.hits}


def test_stories_fold_the_matches_of_each_watch_topic(topics: Path, labelled: Path) -> None:
    result = backtest(read_file(labelled).items, version(topics), topics=["harbour-strike"])

    [harbour] = result.topics
    assert harbour.story_count is not None
    assert sum(s.articles for s in harbour.stories) == harbour.matches == 4


def test_the_command_prints_json_of_the_documented_shape(
        topics: Path, edited: Path, labelled: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "backtest", "--topics", str(edited), "--against",
         str(topics), "--input", str(labelled), "--json", "--no-stories"],
        cwd=ROOT, capture_output=True, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stderr.decode() == "newswatch: labels name unknown watch topics: no-such-topic\n"
    report = orjson.loads(done.stdout)
    assert set(report) == {"topics_dir", "against_dir", "articles", "bad", "labelled",
                           "unknown_labels", "first", "last", "cap", "topics"}
    assert (report["articles"], report["against_dir"]) == (9, str(topics))
    harbour = next(t for t in report["topics"] if t["id"] == "harbour-strike")
    assert set(harbour) == {"id", "title", "in_versions", "matches", "per_day", "stories",
                            "labels", "false_positives", "misses", "against"}
    assert harbour["labels"]["precision"] == pytest.approx(0.75)
    assert harbour["labels"]["misses"] == 2  # a2 (the walkout, now lost) and a9
    [gained] = harbour["against"]["gained"]["listed"]
    assert set(gained) == {"id", "where", "title", "published", "score", "threshold",
                           "matched", "why"}
    assert gained["id"] == "a4"
    assert "'stevedore*' found as 'Stevedores'" in gained["why"]
    assert harbour["against"]["lost"]["listed"][0]["id"] == "a2"


def test_the_table_lists_mistakes_with_the_explain_rendering(
        topics: Path, labelled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["backtest", "--topics", str(topics), "--input", str(labelled),
                "--no-stories"]) == 0

    out = capsys.readouterr().out
    header, _flood, harbour_row = out.splitlines()[2:5]
    assert header.split() == ["watch", "topic", "matches", "stories", "busiest", "day",
                              "judged", "TP", "FP", "miss", "precision", "recall", "F1"]
    assert harbour_row.split() == ["harbour-strike", "4", "-", "2024-03-05", "(2)", "8", "3",
                                   "1", "2", "0.75", "0.60", "0.67"]
    assert "== harbour-strike: 1 false positives (matched, labelled not relevant)" in out
    assert f"-- a3  {labelled}:3  2024-03-05" in out
    assert "   score 1 >= threshold 1: MATCH" in out


def test_the_html_report_is_self_contained_and_escapes_article_text(
        topics: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(b"\n".join([*ARTICLES, article(
        "x1", "<script>alert(1)</script> dock strike",
        "The dock strike <b>continues</b>.", [])]) + b"\n")
    page = tmp_path / "report.html"

    assert run(["backtest", "--topics", str(topics), "--input", str(source), "--html",
                str(page), "--no-stories"]) == 0

    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "<rect" in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; dock strike" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<link" not in html


def test_bad_lines_are_reported_with_file_and_line_and_skipped(
        topics: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"\n".join([
        ARTICLES[0], b"{not json", b"", orjson.dumps({"id": "t1", "title": "", "text": ""}),
        orjson.dumps({"id": "t2", "title": "x", "labels": "harbour-strike"}), ARTICLES[1],
    ]) + b"\n")

    assert run(["backtest", "--topics", str(topics), "--input", str(source),
                "--no-stories"]) == 0

    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0].startswith(f"{source}:2: not JSON")
    assert err[1] == f"{source}:4: no 'title' or 'text'"
    assert err[2].startswith(f"{source}:5: 'labels' must be")
    assert err[3] == "newswatch: 3 unreadable articles skipped"
    assert captured.out.startswith(f"backtest of {topics}: 2 articles (3 unreadable skipped)")


def test_unusable_input_and_invalid_topics_have_their_exit_codes(
        topics: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"{broken\n")
    assert run(["backtest", "--topics", str(topics), "--input", str(empty)]) == 1
    assert run(["backtest", "--topics", str(topics), "--input", str(tmp_path / "none")]) == 1
    invalid = tmp_path / "invalid"
    invalid.mkdir()
    (invalid / "bad.yaml").write_text("id: other\n", encoding="utf-8")
    assert run(["backtest", "--topics", str(invalid), "--input", str(empty)]) == 2
    assert run(["backtest", "--topics", str(topics), "--against", str(invalid),
                "--input", str(empty)]) == 2


def test_a_pool_matches_like_one_process_in_the_same_order(topics: Path) -> None:
    items = [Item(f"f:{n}", article(f"p{n}", ("Dock strike " if n % 3 == 0 else "Calm ")
                                                + str(n), "Nothing else.", []))
             for n in range(120)]
    items.insert(7, Item("f:bad", b"nope"))
    matchers = [Matcher.from_dir(topics)]

    alone = list(tag_items(items, matchers, processes=1))
    pooled = list(tag_items(items, matchers, processes=2, threshold=10))

    assert pooled == alone
    assert [t.record.ident for t in alone if isinstance(t, Tagged) and t.matched[0]] == [
        f"p{n}" for n in range(0, 120, 3)]


def test_since_takes_durations_and_dates() -> None:
    now = datetime(2024, 6, 10, 12, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2024-06-01", now) == datetime(2024, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since 'yesterday'"):
        parse_since("yesterday", now)


@pytest.mark.kafka
def test_from_kafka_reads_only_articles_since_and_commits_nothing(
        kafka_settings: Settings, topics: Path, edited: Path) -> None:
    topic = kafka_settings.topic("articles")
    bootstrap = kafka_settings.kafka_bootstrap
    bus.ensure_topics(bootstrap, [bus.TopicSpec(topic, partitions=2)])
    now = datetime.now(UTC)
    old, new = now - timedelta(days=2), now - timedelta(minutes=5)

    def message(ident: str, title: str, when: datetime) -> Article:
        return Article(article_id=ident, feed_id="test", outlet="Test Wire", title=title,
                       text="Crane operators joined the action.", language="en",
                       published_at=when, fetched_at=when)

    producer = bus.make_producer(bootstrap, client_id="test")
    try:
        bus.wait_all([producer.send(topic, key=a.article_id.encode(), value=a.to_json(),
                                    timestamp_ms=int(when.timestamp() * 1000))
                      for a, when in [
                          (message("old-1", "Dock strike at the port", old), old),
                          (message("old-2", "Calm seas", old), old),
                          (message("new-1", "Dock strike spreads", new), new),
                          (message("new-2", "Harbour walkout", new), new),
                          (message("new-3", "Calm again", new), new)]])
        producer.send(topic, key=b"junk", value=b"{junk", timestamp_ms=int(
            new.timestamp() * 1000)).get(timeout=30)
    finally:
        producer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        groups_before = {g["group_id"] for g in admin.list_groups()}
        env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": bootstrap,
               "NEWSWATCH_TOPIC_NAMESPACE": kafka_settings.topic_namespace}
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "backtest", "--topics", str(topics),
             "--from-kafka", "--since", "1d", "--json", "--no-stories"],
            cwd=ROOT, env=env, capture_output=True, check=False, timeout=120)

        assert done.returncode == 0, done.stderr
        assert re.search(rf"{re.escape(topic)}\[\d\]@\d+: not JSON", done.stderr.decode())
        report = orjson.loads(done.stdout)
        assert (report["articles"], report["bad"]) == (3, 1)
        harbour = next(t for t in report["topics"] if t["id"] == "harbour-strike")
        assert harbour["matches"] == 2
        assert harbour["per_day"] == {new.date().isoformat(): 2}

        # The same history, an edit that drops "walkout": the harbour walkout is lost.
        diff = subprocess.run(
            [sys.executable, "-m", "monitor", "backtest", "--topics", str(edited), "--against",
             str(topics), "--from-kafka", "--since", "1d", "--json", "--no-stories"],
            cwd=ROOT, env=env, capture_output=True, check=False, timeout=120)
        assert diff.returncode == 0, diff.stderr
        harbour = next(t for t in orjson.loads(diff.stdout)["topics"]
                       if t["id"] == "harbour-strike")
        assert [a["id"] for a in harbour["against"]["lost"]["listed"]] == ["new-2"]
        assert "walkout" in harbour["against"]["lost"]["listed"][0]["why"]

        groups_after = {g["group_id"] for g in admin.list_groups()}
        assert groups_after <= groups_before
        for offsets in admin.list_group_offsets(dict.fromkeys(groups_after)).values():
            assert all(tp.topic != topic for tp in offsets)
    finally:
        admin.close()
