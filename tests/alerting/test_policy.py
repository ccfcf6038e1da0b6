"""What a subscriber hears of a story, and when (monitor.alerting.policy), clock in hand."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from monitor.alerting.notice import Console
from monitor.alerting.policy import (
    CORROBORATION_WAIT,
    NOTE_QUIET,
    NOTE_RATE,
    NOTE_UNCORROBORATED,
    Ledger,
    StoryMark,
    on_event,
    on_tick,
)
from monitor.alerting.subscribers import (
    Corroboration,
    Digest,
    QuietHours,
    RateLimit,
    Subscriber,
)
from monitor.article import Story, StoryArticle, StoryEvent

T0 = datetime(2023, 9, 15, 6, 0, tzinfo=UTC)


def desk(**settings: object) -> Subscriber:
    return Subscriber(id="korea-desk", watch=frozenset({"korea-extended-deterrence"}),
                      channels=(Console(id="console"),), **settings)  # type: ignore[arg-type]


def article(n: int, outlet: str, *, source: str | None = None,
            published: datetime = T0) -> StoryArticle:
    return StoryArticle(article_id=f"a{n}", outlet=outlet, url=f"https://{outlet}.example/{n}",
                        title=f"Report {n} on the deterrence group meeting in Seoul",
                        language="en", published=published, source=source or f"a{n}")


def event(story_id: str, *articles: StoryArticle, severity: str = "high",
          topic: str = "korea-extended-deterrence") -> StoryEvent:
    story = Story(story_id=story_id, topic_id=topic, headline=articles[0].title,
                  first_seen=T0, last_updated=T0, articles=articles,
                  outlets=len({a.outlet for a in articles}),
                  sources=len({a.source for a in articles}), severity=severity,
                  updates=len(articles) - 1)
    return StoryEvent(event="opened" if len(articles) == 1 else "updated", story=story,
                      article=articles[-1], why="test", fetched_at=articles[-1].published)


def stored(ledger: Ledger) -> Ledger:
    """The ledger as a restarted worker reads it back from the table."""
    return Ledger.from_stored(ledger.head_to_dict(),
                              [StoryMark.from_dict(m.to_dict()) for m in ledger.marks.values()],
                              ledger.subscriber_id)


def test_two_outlets_give_one_alert_then_one_update_per_interval() -> None:
    sub, ledger = desk(update_interval=timedelta(minutes=30)), Ledger("korea-desk")
    first, second, third = article(1, "yonhap"), article(2, "korea-herald"), article(3, "kbs")

    [alert] = on_event(sub, ledger, event("s1", first), T0)
    assert alert.kind == "alert" and [a.article_id for a in alert.items[0].new_articles] == ["a1"]
    # Within the interval later reports wait, however many come.
    assert on_event(sub, ledger, event("s1", first, second), T0 + timedelta(minutes=5)) == []
    assert on_event(sub, ledger, event("s1", first, second, third),
                    T0 + timedelta(minutes=9)) == []
    assert on_tick(sub, ledger, T0 + timedelta(minutes=20)) == []
    [update] = on_tick(sub, ledger, T0 + timedelta(minutes=31))
    assert update.kind == "update"
    assert [a.article_id for a in update.items[0].new_articles] == ["a2", "a3"]
    assert on_tick(sub, ledger, T0 + timedelta(minutes=90)) == []


def test_an_event_seen_again_after_a_restart_sends_nothing() -> None:
    sub, ledger = desk(), Ledger("korea-desk")
    opened = event("s1", article(1, "yonhap"))
    assert len(on_event(sub, ledger, opened, T0)) == 1
    restarted = stored(ledger)
    assert on_event(sub, restarted, opened, T0 + timedelta(seconds=5)) == []
    assert on_event(sub, ledger, opened, T0 + timedelta(seconds=5)) == []


def test_an_update_after_the_interval_goes_at_once() -> None:
    sub, ledger = desk(update_interval=timedelta(minutes=30)), Ledger("korea-desk")
    on_event(sub, ledger, event("s1", article(1, "yonhap")), T0)
    [update] = on_event(sub, ledger, event("s1", article(1, "yonhap"), article(2, "kbs")),
                        T0 + timedelta(hours=1))
    assert update.kind == "update"
    assert [a.article_id for a in update.items[0].new_articles] == ["a2"]


def test_low_severity_and_old_news_reach_no_one() -> None:
    sub = desk(min_severity="high", max_age=timedelta(hours=48))
    ledger = Ledger("korea-desk")
    assert on_event(sub, ledger, event("s1", article(1, "yonhap"), severity="medium"), T0) == []
    old = article(2, "yonhap", published=T0 - timedelta(days=3))
    assert on_event(sub, ledger, event("s2", old), T0) == []
    assert len(on_event(sub, ledger, event("s3", article(3, "kbs")), T0)) == 1


def test_corroboration_waits_for_a_second_independent_source() -> None:
    sub = desk(corroboration=Corroboration(sources=2))
    ledger = Ledger("korea-desk")
    first = article(1, "yonhap")
    assert on_event(sub, ledger, event("s1", first), T0) == []
    # A wire reprint is not a second source.
    reprint = article(2, "korea-herald", source="a1")
    assert on_event(sub, ledger, event("s1", first, reprint), T0 + timedelta(minutes=1)) == []
    [alert] = on_event(sub, ledger, event("s1", first, reprint, article(3, "kbs")),
                       T0 + timedelta(minutes=2))
    assert alert.kind == "alert"
    assert [a.article_id for a in alert.items[0].new_articles] == ["a1", "a2", "a3"]


def test_a_trusted_outlet_is_corroboration_enough() -> None:
    sub = desk(corroboration=Corroboration(sources=2, trusted_outlets=frozenset({"Yonhap"})))
    [alert] = on_event(sub, Ledger("korea-desk"), event("s1", article(1, "yonhap")), T0)
    assert alert.kind == "alert"


def test_a_story_never_corroborated_goes_to_the_next_digest() -> None:
    sub = desk(corroboration=Corroboration(sources=2))
    ledger = Ledger("korea-desk")
    on_event(sub, ledger, event("s1", article(1, "yonhap")), T0)
    assert on_tick(sub, ledger, T0 + timedelta(minutes=10)) == []
    notices = on_tick(sub, ledger, T0 + CORROBORATION_WAIT)
    notices += on_tick(sub, ledger, T0 + CORROBORATION_WAIT + timedelta(hours=1))
    [digest] = notices
    assert digest.kind == "digest"
    assert [(i.event.story.story_id, i.note) for i in digest.items] == [
        ("s1", NOTE_UNCORROBORATED)]


def test_the_rate_limit_sends_the_overflow_to_the_next_digest() -> None:
    sub = desk(rate_limit=RateLimit(alerts=2, per=timedelta(hours=1)))
    ledger = Ledger("korea-desk")
    sent = [on_event(sub, ledger, event(f"s{n}", article(n, "yonhap")),
                     T0 + timedelta(minutes=n)) for n in range(1, 5)]
    assert [len(s) for s in sent] == [1, 1, 0, 0]
    on_tick(sub, ledger, T0 + timedelta(minutes=5))  # schedules the hourly digest
    [digest] = on_tick(sub, ledger, T0 + timedelta(hours=1))
    assert [(i.event.story.story_id, i.note) for i in digest.items] == [
        ("s3", NOTE_RATE), ("s4", NOTE_RATE)]
    # An hour on, the limit has room again.
    assert len(on_event(sub, ledger, event("s5", article(5, "kbs")),
                        T0 + timedelta(hours=1, minutes=10))) == 1


def test_quiet_hours_hold_alerts_until_they_end() -> None:
    sub = desk(quiet_hours=QuietHours(start=time(22, 0), end=time(7, 0), timezone="Asia/Seoul"))
    ledger = Ledger("korea-desk")
    night = datetime(2023, 9, 15, 15, 0, tzinfo=UTC)  # 00:00 in Seoul
    assert on_event(sub, ledger, event("s1", article(1, "yonhap", published=night)), night) == []
    assert on_tick(sub, ledger, night + timedelta(hours=6)) == []  # 06:00 in Seoul
    [digest] = on_tick(sub, ledger, night + timedelta(hours=7, minutes=1))
    assert [(i.event.story.story_id, i.note) for i in digest.items] == [("s1", NOTE_QUIET)]


def test_a_digest_subscriber_gets_every_story_at_the_digest_time() -> None:
    sub = desk(digest=Digest(every=timedelta(hours=4)))
    ledger = Ledger("korea-desk")
    assert on_tick(sub, ledger, T0) == []  # next digest: 08:00 UTC
    assert on_event(sub, ledger, event("s1", article(1, "yonhap")), T0) == []
    assert on_event(sub, ledger, event("s2", article(2, "kbs")), T0 + timedelta(minutes=3)) == []
    assert on_event(sub, ledger, event("s1", article(1, "yonhap"), article(3, "kbs")),
                    T0 + timedelta(minutes=4)) == []
    assert on_tick(sub, ledger, T0 + timedelta(hours=1, minutes=59)) == []
    [digest] = on_tick(sub, ledger, T0 + timedelta(hours=2))
    assert [(i.event.story.story_id, sorted(a.article_id for a in i.new_articles))
            for i in digest.items] == [("s1", ["a1", "a3"]), ("s2", ["a2"])]
    assert on_tick(sub, ledger, T0 + timedelta(hours=2, minutes=1)) == []


def test_one_article_in_two_watch_topics_alerts_once() -> None:
    sub = Subscriber(id="korea-desk", watch=frozenset({"nk-russia-arms", "unsc-sanctions"}),
                     channels=(Console(id="console"),), update_interval=timedelta(0))
    ledger = Ledger("korea-desk")
    shared = article(1, "yonhap")
    assert len(on_event(sub, ledger, event("arms", shared, topic="nk-russia-arms"), T0)) == 1
    assert on_event(sub, ledger, event("sanctions", shared, topic="unsc-sanctions"), T0) == []
    # A later report in the second watch topic continues the first one's thread.
    [update] = on_event(sub, ledger, event("sanctions", shared, article(2, "kbs"),
                                           topic="unsc-sanctions"), T0 + timedelta(minutes=1))
    assert update.kind == "update"
    assert ledger.marks["sanctions"].follows == "arms"


def test_a_later_report_in_both_watch_topics_updates_once() -> None:
    sub = Subscriber(id="korea-desk", watch=frozenset({"nk-russia-arms", "unsc-sanctions"}),
                     channels=(Console(id="console"),), update_interval=timedelta(0))
    ledger = Ledger("korea-desk")
    shared, later = article(1, "yonhap"), article(2, "kbs")
    on_event(sub, ledger, event("arms", shared, topic="nk-russia-arms"), T0)
    on_event(sub, ledger, event("sanctions", shared, topic="unsc-sanctions"), T0)
    [update] = on_event(sub, ledger, event("sanctions", shared, later, topic="unsc-sanctions"),
                        T0 + timedelta(minutes=1))
    assert [a.article_id for a in update.items[0].new_articles] == ["a2"]
    assert on_event(sub, ledger, event("arms", shared, later, topic="nk-russia-arms"),
                    T0 + timedelta(minutes=2)) == []


def test_a_watch_topics_corroboration_applies_unless_the_subscriber_has_one() -> None:
    def topic_rule(topic_id: str) -> Corroboration | None:
        return Corroboration(sources=2) if topic_id == "korea-extended-deterrence" else None

    first, second = article(1, "yonhap"), article(2, "kbs")
    ledger = Ledger("korea-desk")
    assert on_event(desk(), ledger, event("s1", first), T0, topic_rule) == []
    assert on_tick(desk(), ledger, T0 + timedelta(minutes=30), topic_rule) == []
    [alert] = on_event(desk(), ledger, event("s1", first, second), T0 + timedelta(hours=1),
                       topic_rule)
    assert alert.kind == "alert"
    # A subscriber's own rule wins: one trusted outlet is enough for this one.
    own = desk(corroboration=Corroboration(sources=3, trusted_outlets=frozenset({"yonhap"})))
    assert len(on_event(own, Ledger("korea-desk"), event("s2", article(3, "yonhap")), T0,
                        topic_rule)) == 1
