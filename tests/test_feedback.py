"""Analysts' feedback as the backtest reads it: every 👎 is a test case, the latest word wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.article import MessageError
from monitor.feedback import Feedback, labels

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def vote(item: str, item_id: str, value: str, *, analyst: str = "mina", minutes: int = 0,
         topic: str = "nk-russia-arms", articles: tuple[str, ...] = ()) -> Feedback:
    return Feedback(item=item, item_id=item_id, topic_id=topic, analyst=analyst, kind="vote",
                    value=value, articles=articles, at=T0 + timedelta(minutes=minutes))


def test_a_story_vote_labels_the_articles_it_held_when_given() -> None:
    story = vote("story", "s1", "down", articles=("a1", "a2"))
    assert labels([story]) == {"a1": {"nk-russia-arms": False},
                               "a2": {"nk-russia-arms": False}}


def test_an_articles_own_vote_outweighs_its_storys_even_when_older() -> None:
    own = vote("article", "a1", "up", minutes=0)
    story = vote("story", "s1", "down", analyst="jon", minutes=5, articles=("a1", "a2"))
    assert labels([own, story]) == {"a1": {"nk-russia-arms": True},
                                    "a2": {"nk-russia-arms": False}}


def test_between_analysts_the_later_vote_wins_and_a_withdrawn_vote_counts_as_never_given(
        ) -> None:
    first = vote("article", "a1", "down", analyst="mina", minutes=0)
    later = vote("article", "a1", "up", analyst="jon", minutes=3)
    assert labels([later, first]) == {"a1": {"nk-russia-arms": True}}
    withdrawn = vote("article", "a1", "none", analyst="jon", minutes=4)
    assert labels([first, later, withdrawn]) == {"a1": {"nk-russia-arms": False}}
    assert labels([vote("article", "a1", "none", analyst="mina", minutes=5), later,
                   withdrawn]) == {}


def test_only_the_latest_record_of_a_key_counts_as_compaction_would_keep() -> None:
    old = vote("article", "a1", "down", minutes=0)
    new = vote("article", "a1", "up", minutes=1)
    assert old.key() == new.key()
    assert labels([new, old]) == {"a1": {"nk-russia-arms": True}}


def test_acknowledgements_and_snoozes_are_not_labels() -> None:
    ack = Feedback(item="story", item_id="s1", topic_id="t", analyst="mina", kind="ack",
                   value="yes", at=T0)
    snooze = Feedback(item="story", item_id="s1", topic_id="t", analyst="mina", kind="snooze",
                      until=T0 + timedelta(hours=4), at=T0)
    assert ack.key() != snooze.key()
    assert labels([ack, snooze]) == {}


def test_a_message_round_trips_and_a_bad_one_says_what_is_wrong() -> None:
    record = vote("story", "s1", "down", articles=("a1",))
    assert Feedback.from_json(record.to_json()) == record
    with pytest.raises(MessageError, match="does not fit kind"):
        Feedback.from_json(record.to_json().replace(b'"down"', b'"yes"'))
    with pytest.raises(MessageError, match="analyst"):
        Feedback.from_json(record.to_json().replace(b'"mina"', b'""'))


def test_withdrawing_an_article_vote_leaves_the_storys_vote_standing() -> None:
    story = vote("story", "s1", "down", articles=("a1",), minutes=0)
    own = vote("article", "a1", "up", analyst="jon", minutes=1)
    withdrawn = vote("article", "a1", "none", analyst="jon", minutes=2)
    assert labels([story, own]) == {"a1": {"nk-russia-arms": True}}
    assert labels([story, own, withdrawn]) == {"a1": {"nk-russia-arms": False}}
