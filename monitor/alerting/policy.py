"""Decide what each subscriber hears of a story, and when: now, later, in a digest, or never.

In: a subscriber's settings (:class:`~monitor.alerting.subscribers.Subscriber`), what has been
decided for them so far (a :class:`Ledger`), one story event or a clock tick, and ``now``.
Out: the :class:`~monitor.alerting.notice.Notice` objects to deliver on every channel of the
subscriber, with the ledger changed to remember them. Pure: no I/O, no clock of its own.

The rules, in order, for a story event:

1. *Once.* An article already announced or held for this subscriber changes nothing: after a
   crash or a rebalance the same event comes again, and the same article can open a story in
   two watch topics the subscriber both watches (the second story then follows the first's
   thread instead of alerting again).
2. *Worth it.* Stories below the subscriber's minimum severity, and articles older than their
   ``max_age`` (by publication, else fetch time), are not announced.
3. *Corroborated.* With ``corroboration`` (the subscriber's, else the watch topic's), a story
   waits until it has enough independent sources or an article from a trusted outlet; one
   that never gets there within :data:`CORROBORATION_WAIT` goes to the next digest, marked as
   such, instead of being lost.
4. *When.* Digest subscribers get it in their next digest; during quiet hours it waits for
   their end (then comes as a digest); past the rate limit it goes to the next digest.
   Otherwise the story's first message goes now (an ``alert``), and later reports become one
   ``update`` per ``update_interval`` at most, carrying every report that came meanwhile.

Subscribers without a digest of their own get what overflows in a digest at the end of each
rate-limit period, or hourly (:func:`digest_schedule`). A tick (:func:`on_tick`) sends what
has waited long enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerting.notice import Notice, NoticeItem, NoticeKind
from monitor.alerting.subscribers import Corroboration, Digest, Subscriber, next_digest
from monitor.article import StoryArticle, StoryEvent, as_utc, severity_rank

#: How long a story may wait for corroboration before it goes to the digest anyway.
CORROBORATION_WAIT = timedelta(hours=6)
#: The digest that takes overflow (rate limit, quiet hours, uncorroborated stories) for
#: subscribers whose delivery is immediate.
OVERFLOW_DIGEST = Digest(every=timedelta(hours=1), at=(), timezone="UTC")
#: A story nobody has heard of for this long is forgotten (its later reports alert anew).
FORGET_AFTER = timedelta(days=7)
#: Most stories in one digest message; a larger digest is sent as several.
DIGEST_MAX_ITEMS = 50
#: What a stored notice keeps of each story's article list (new articles first).
STORED_ARTICLES = 40

NOTE_DIGEST = "digest"
NOTE_RATE = "rate limit"
NOTE_QUIET = "quiet hours"
NOTE_UNCORROBORATED = "not corroborated"


@dataclass
class StoryMark:
    """What one subscriber was told of one story."""

    story_id: str
    announced: set[str] = field(default_factory=set)  # article ids sent (or on their way)
    alerted: bool = False  # the story's first message went out (alert or digest)
    last_sent: datetime | None = None  # when its last alert or update was decided
    held: StoryEvent | None = None  # the latest event not yet announced
    held_since: datetime | None = None
    note: str = ""  # why it is held: "" (update interval, corroboration) or a digest note
    follows: str | None = None  # the story whose thread this one continues
    touched: datetime | None = None  # its latest event

    def to_dict(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id, "announced": sorted(self.announced),
            "alerted": self.alerted, "last_sent": _iso(self.last_sent),
            "held": None if self.held is None else self.held.model_dump(mode="json",
                                                                          by_alias=True),
            "held_since": _iso(self.held_since), "note": self.note, "follows": self.follows,
            "touched": _iso(self.touched)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StoryMark:
        held = raw.get("held")
        return cls(story_id=raw["story_id"], announced=set(raw.get("announced", ())),
                   alerted=bool(raw.get("alerted")), last_sent=_time(raw.get("last_sent")),
                   held=None if held is None else StoryEvent.model_validate(held),
                   held_since=_time(raw.get("held_since")), note=raw.get("note", ""),
                   follows=raw.get("follows"), touched=_time(raw.get("touched")))


@dataclass
class Ledger:
    """Everything decided for one subscriber: story marks, digest, recent sends.

    ``changed`` names the story ids whose marks changed (and ``""`` for the ledger's own
    fields) since the caller last stored them; ``forgotten`` the marks to delete.
    """

    subscriber_id: str
    partition: int = -1  # of news.alerts.pending: where the subscriber's records live
    marks: dict[str, StoryMark] = field(default_factory=dict)
    digest: list[str] = field(default_factory=list)  # story ids, in arrival order
    sent: list[datetime] = field(default_factory=list)  # first alerts, for the rate limit
    next_digest: datetime | None = None
    changed: set[str] = field(default_factory=set)
    forgotten: set[str] = field(default_factory=set)

    def head_to_dict(self) -> dict[str, Any]:
        return {"subscriber_id": self.subscriber_id, "partition": self.partition,
                "digest": self.digest, "sent": [_iso(t) for t in self.sent],
                "next_digest": _iso(self.next_digest)}

    @classmethod
    def from_stored(cls, head: dict[str, Any] | None, marks: Iterable[StoryMark],
                    subscriber_id: str) -> Ledger:
        ledger = cls(subscriber_id, marks={m.story_id: m for m in marks})
        if head is not None:
            raw = head
            ledger.partition = int(raw.get("partition", -1))
            ledger.digest = list(raw.get("digest", ()))
            ledger.sent = [t for t in (_time(s) for s in raw.get("sent", ())) if t]
            ledger.next_digest = _time(raw.get("next_digest"))
        return ledger

    def mark(self, story_id: str) -> StoryMark:
        mark = self.marks.get(story_id)
        if mark is None:
            mark = self.marks[story_id] = StoryMark(story_id)
        self.changed.add(story_id)
        return mark

    def story_of(self, article_id: str) -> str | None:
        """The story under which ``article_id`` was announced or held, if any."""
        for mark in self.marks.values():
            if article_id in mark.announced or (
                    mark.held is not None and any(a.article_id == article_id
                                                  for a in mark.held.story.articles)):
                return mark.story_id
        return None


#: A watch topic's own corroboration rule, if it has one (subscribers' own rules win).
TopicCorroboration = Callable[[str], Corroboration | None]


def _none(topic_id: str) -> Corroboration | None:
    return None


def on_event(subscriber: Subscriber, ledger: Ledger, event: StoryEvent, now: datetime,
             topic_corroboration: TopicCorroboration = _none) -> list[Notice]:
    """Take one story event for ``subscriber``; return what to send now."""
    story = event.story
    mark = ledger.marks.get(story.story_id)
    article_id = event.article.article_id
    if mark is not None and (article_id in mark.announced or _holds(mark, article_id)):
        return []  # rule 1: seen before (a replay)
    earlier = ledger.story_of(article_id)
    if earlier is not None and earlier != story.story_id:
        # The same article is in a story of another watch topic the subscriber watches:
        # announced there, not here; a story it opens follows that one's thread.
        follower = ledger.mark(story.story_id)
        if mark is None and event.event == "opened":
            follower.follows = earlier
        follower.announced.add(article_id)
        follower.touched = now
        return []
    mark = ledger.mark(story.story_id)
    mark.touched = now
    if severity_rank(story.severity) < severity_rank(subscriber.min_severity):
        mark.announced.add(article_id)  # rule 2: never announced, never again considered
        return []
    fresh = [a for a in _unannounced(event, mark) if _young(a, event, subscriber, now)]
    if not fresh:
        mark.announced.update(a.article_id for a in story.articles)
        return []
    mark.held = event
    mark.held_since = mark.held_since or now
    return _release(subscriber, ledger, mark, now, topic_corroboration)


def on_tick(subscriber: Subscriber, ledger: Ledger, now: datetime,
            topic_corroboration: TopicCorroboration = _none) -> list[Notice]:
    """Send what has waited long enough: held updates, digests, the end of quiet hours."""
    notices: list[Notice] = []
    for mark in list(ledger.marks.values()):
        if mark.held is not None and mark.story_id not in ledger.digest:
            notices += _release(subscriber, ledger, mark, now, topic_corroboration)
        if mark.touched is not None and now - mark.touched > FORGET_AFTER and (
                mark.held is None):
            del ledger.marks[mark.story_id]
            ledger.changed.discard(mark.story_id)
            ledger.forgotten.add(mark.story_id)
    schedule = digest_schedule(subscriber)
    if ledger.next_digest is None:
        ledger.next_digest = next_digest(schedule, now)
        ledger.changed.add("")
    if subscriber.quiet_hours is not None and subscriber.quiet_hours.contains(now):
        return notices  # a digest that falls due now waits for the end of quiet hours
    due = now >= ledger.next_digest
    if due or any(ledger.marks[s].note == NOTE_QUIET for s in ledger.digest
                  if s in ledger.marks):
        notices += _digest(ledger, now)
    if due:
        ledger.next_digest = next_digest(schedule, now)
        ledger.changed.add("")
    return notices


def digest_schedule(subscriber: Subscriber) -> Digest:
    """When the subscriber's digest goes: their own; for immediate delivery, at the end of
    each rate-limit period (the overflow then arrives as soon as the limit allows), else
    :data:`OVERFLOW_DIGEST`."""
    if subscriber.digest is not None:
        return subscriber.digest
    if subscriber.rate_limit is not None:
        return Digest(every=subscriber.rate_limit.per, at=(), timezone="UTC")
    return OVERFLOW_DIGEST


# -- the rules -------------------------------------------------------------------------------
def _release(subscriber: Subscriber, ledger: Ledger, mark: StoryMark, now: datetime,
             topic_corroboration: TopicCorroboration) -> list[Notice]:
    """Send, hold or digest the held event of ``mark`` (rules 3 and 4)."""
    event = mark.held
    assert event is not None
    story = event.story
    if mark.follows is not None and mark.follows in ledger.marks:
        leader = ledger.marks[mark.follows]
        if leader.alerted and not mark.alerted:
            mark.alerted, mark.last_sent = True, leader.last_sent
    corroboration = subscriber.corroboration or topic_corroboration(story.topic_id)
    if not mark.alerted and corroboration is not None and not corroboration.satisfied(
            story.sources, (a.outlet for a in story.articles)):
        if mark.held_since is not None and now - mark.held_since >= CORROBORATION_WAIT:
            _to_digest(ledger, mark, NOTE_UNCORROBORATED)
        return []  # rule 3: wait for another source
    if subscriber.digest is not None:
        _to_digest(ledger, mark, NOTE_DIGEST)
        return []
    if subscriber.quiet_hours is not None and subscriber.quiet_hours.contains(now):
        _to_digest(ledger, mark, NOTE_QUIET)
        return []
    if not mark.alerted:
        if _over_rate(subscriber, ledger, now):
            _to_digest(ledger, mark, NOTE_RATE)
            return []
        ledger.sent.append(now)
        ledger.changed.add("")
        return [_announce(ledger, mark, "alert", now)]
    if mark.last_sent is not None and now - mark.last_sent < subscriber.update_interval:
        return []  # at most one update per interval: the tick sends it later
    return [_announce(ledger, mark, "update", now)]


def _announce(ledger: Ledger, mark: StoryMark, kind: NoticeKind, now: datetime,
              note: str = "") -> Notice:
    event = mark.held
    assert event is not None
    new = tuple(_unannounced(event, mark))
    mark.announced.update(a.article_id for a in event.story.articles)
    mark.alerted, mark.last_sent = True, now
    mark.held, mark.held_since, mark.note = None, None, ""
    ledger.changed.add(mark.story_id)
    return Notice(kind, ledger.subscriber_id, (NoticeItem(_stored(event, new), new, note),), now)


def _digest(ledger: Ledger, now: datetime) -> list[Notice]:
    items: list[NoticeItem] = []
    for story_id in ledger.digest:
        mark = ledger.marks.get(story_id)
        if mark is None or mark.held is None:
            continue
        note = mark.note
        notice = _announce(ledger, mark, "update", now, note)
        items.append(notice.items[0])
    ledger.digest.clear()
    ledger.changed.add("")
    return [Notice("digest", ledger.subscriber_id, tuple(items[i:i + DIGEST_MAX_ITEMS]), now)
            for i in range(0, len(items), DIGEST_MAX_ITEMS)]


def _to_digest(ledger: Ledger, mark: StoryMark, note: str) -> None:
    if mark.story_id not in ledger.digest:
        ledger.digest.append(mark.story_id)
        ledger.changed.add("")
    mark.note = note
    ledger.changed.add(mark.story_id)


def _over_rate(subscriber: Subscriber, ledger: Ledger, now: datetime) -> bool:
    limit = subscriber.rate_limit
    if limit is None:
        ledger.sent.clear()
        return False
    ledger.sent[:] = [t for t in ledger.sent if now - t < limit.per]
    return len(ledger.sent) >= limit.alerts


def _holds(mark: StoryMark, article_id: str) -> bool:
    return mark.held is not None and any(a.article_id == article_id
                                         for a in mark.held.story.articles)


def _unannounced(event: StoryEvent, mark: StoryMark) -> list[StoryArticle]:
    return [a for a in event.story.articles if a.article_id not in mark.announced]


def _young(article: StoryArticle, event: StoryEvent, subscriber: Subscriber,
           now: datetime) -> bool:
    when = article.published
    if when is None and article.article_id == event.article.article_id:
        when = event.fetched_at
    return when is None or now - as_utc(when) <= subscriber.max_age


def _stored(event: StoryEvent, new: tuple[StoryArticle, ...]) -> StoryEvent:
    """``event`` with at most :data:`STORED_ARTICLES` articles, new ones first, so a stored
    notice always fits one Kafka message."""
    articles = event.story.articles
    if len(articles) <= STORED_ARTICLES:
        return event
    new_ids = {a.article_id for a in new}
    kept = [a for a in articles if a.article_id in new_ids][:STORED_ARTICLES]
    kept += [a for a in articles if a.article_id not in new_ids][:STORED_ARTICLES - len(kept)]
    story = event.story.model_copy(update={"articles": tuple(kept)})
    return event.model_copy(update={"story": story})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any) -> datetime | None:
    return None if not value else as_utc(datetime.fromisoformat(value)).astimezone(UTC)
