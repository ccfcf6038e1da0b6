"""Folding reports into the open stories of one watch topic: idempotence, restarts, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.stories import fold
from monitor.stories.book import OpenStory, StoryBook
from monitor.stories.embed import embed
from monitor.stories.fingerprint import Fingerprint, fingerprint, lead
from monitor.stories.fold import Report

T0 = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)
LAUNCH = ("North Korea fires ballistic missile that flies 600 km",
          "SEOUL -- North Korea fired a short-range ballistic missile off its east coast on "
          "Monday that flew about 600 km before landing in the sea, the Joint Chiefs of Staff "
          "said, the third launch this month.")
LAUNCH_DE = ("Nordkorea feuert ballistische Rakete ab",
             "Nordkorea hat am Montag eine ballistische Kurzstreckenrakete abgefeuert, die nach "
             "Angaben des Generalstabs in Seoul rund 600 Kilometer weit flog.")
VOTE = ("Security Council renews sanctions panel on Mali",
        "The UN Security Council voted 13-0 with two abstentions on Thursday to extend the "
        "mandate of the panel monitoring sanctions on Mali until August.")


def report(article_id: str, words: tuple[str, str], *, outlet: str = "Wire", minutes: int = 0,
           language: str = "en") -> tuple[Report, Fingerprint]:
    title, text = words
    r = Report(article_id=article_id, topic_id="t", outlet=outlet, url=None, title=title,
               text=text, language=language, published=T0 + timedelta(minutes=minutes))
    return r, fingerprint(title, text, embed([lead(title, text)])[0])


def test_reports_of_one_event_make_one_story_and_another_event_a_second() -> None:
    book = StoryBook("t")
    first = book.fold(*report("a", LAUNCH), now=T0, origin=(0, 1))
    second = book.fold(*report("b", LAUNCH_DE, outlet="DW", minutes=30, language="de"),
                       now=T0, origin=(0, 2))
    third = book.fold(*report("c", VOTE, minutes=40), now=T0, origin=(0, 3))
    assert first.event is not None and second.event is not None and third.event is not None
    assert (first.event.event, second.event.event, third.event.event) == (
        "opened", "updated", "opened")
    story = second.event.story
    assert story.story_id == first.event.story.story_id != third.event.story.story_id
    assert (story.outlets, story.sources, story.updates, story.languages) == (
        2, 2, 1, ("en", "de"))
    assert "close to Wire's report" in second.event.why


def test_a_reprinted_wire_text_counts_as_one_source() -> None:
    book = StoryBook("t")
    book.fold(*report("a", LAUNCH), now=T0, origin=(0, 1))
    copy = book.fold(*report("b", ("Missile flies 600 km", LAUNCH[1]), outlet="Herald"),
                     now=T0, origin=(0, 2))
    assert copy.event is not None
    assert (copy.event.story.outlets, copy.event.story.sources) == (2, 1)
    assert copy.event.article.source == "a"
    assert copy.event.why.startswith("reprints Wire's text")


def test_the_same_message_again_after_a_restart_gives_the_same_event_and_changes_nothing(
) -> None:
    book = StoryBook("t")
    book.fold(*report("a", LAUNCH), now=T0, origin=(2, 10))
    joined = book.fold(*report("b", LAUNCH_DE, outlet="DW"), now=T0, origin=(2, 11))
    assert joined.state is not None and joined.event is not None

    restarted = StoryBook("t")
    restarted.load([OpenStory.from_json(s.to_json()) for s in book])
    replay = restarted.fold(*report("b", LAUNCH_DE, outlet="DW"), now=T0, origin=(2, 11))
    assert replay.seen == "replay"
    assert replay.event == joined.event
    again = restarted.fold(*report("b", LAUNCH_DE, outlet="DW"), now=T0, origin=(2, 40))
    assert (again.seen, again.event) == ("duplicate", None)
    [story] = list(restarted)
    assert [a.article_id for a in story.story.articles] == ["a", "b"]


def test_a_restarted_book_decides_as_the_one_before_the_restart() -> None:
    book = StoryBook("t")
    for n, words in enumerate((LAUNCH, VOTE)):
        book.fold(*report(f"s{n}", words), now=T0, origin=(0, n))
    restarted = StoryBook("t")
    restarted.load([OpenStory.from_json(s.to_json()) for s in book])
    probe = report("p", LAUNCH_DE, minutes=5)
    assert restarted.decide(*probe, now=T0) == book.decide(*probe, now=T0)


def test_a_story_no_article_joined_for_the_window_closes() -> None:
    book = StoryBook("t", window=timedelta(hours=72))
    opened = book.fold(*report("a", LAUNCH), now=T0, origin=(0, 1))
    assert opened.event is not None
    assert book.expire(T0 + timedelta(hours=71)) == []
    assert book.expire(T0 + timedelta(hours=73)) == [opened.event.story.story_id]
    later = book.fold(*report("b", LAUNCH, minutes=73 * 60), now=T0 + timedelta(hours=73),
                      origin=(0, 2))
    assert later.event is not None and later.event.event == "opened"


def test_a_report_days_after_a_story_opens_a_new_one_even_if_alike() -> None:
    book = StoryBook("t", window=timedelta(days=30))
    first = book.fold(*report("a", LAUNCH), now=T0, origin=(0, 1))
    week = book.fold(*report("b", LAUNCH_DE, minutes=7 * 24 * 60),
                     now=T0 + timedelta(days=7), origin=(0, 2))
    assert first.event is not None and week.event is not None
    assert week.event.event == "opened"


def test_a_full_story_takes_no_more_articles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold, "STORY_MAX_ARTICLES", 2)
    book = StoryBook("t")
    for n in range(3):
        folded = book.fold(*report(f"a{n}", LAUNCH, outlet=f"o{n}", minutes=n), now=T0,
                           origin=(0, n))
    assert folded.event is not None and folded.event.event == "opened"
    assert sorted(len(s.story.articles) for s in book) == [1, 2]


def test_a_stored_story_that_is_not_one_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="unreadable stored story"):
        OpenStory.from_json({"story": {"story_id": "x"}})
    with pytest.raises(ValueError, match="expected a JSON object"):
        OpenStory.from_json([1, 2])
