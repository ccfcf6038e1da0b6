"""What the console's store hands its pages and its rule editor: plain, frozen rows.

In: nothing; these are the result types of :mod:`monitor.console.store`. Out: rows the
templates render and the editor backtests. Every text field is feed text or analyst text, so
untrusted: the templates escape it, and nothing here marks it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Vote = Literal["up", "down"]
#: Where a story's alerts stand: none routed yet, all sent, some dead (refused for good).
AlertState = Literal["none", "sent", "failed"]


@dataclass(frozen=True)
class TopicSummary:
    """One watch topic on the overview: how many stories, how many still to triage."""

    topic_id: str
    title: str
    severity: str
    stories: int
    unacknowledged: int
    last_updated: datetime | None


@dataclass(frozen=True)
class StoryFilter:
    """The story list's filters, as they stand in the page's URL."""

    topic_id: str | None = None
    severity: str | None = None            # this severity or higher
    acknowledged: bool | None = None
    vote: Vote | None = None               # stories with at least one such vote
    include_snoozed: bool = False
    limit: int = 50
    before: datetime | None = None         # paging: stories last updated before this,
    before_id: str | None = None           # or then, with a story id sorting before this


@dataclass(frozen=True)
class StoryRow:
    """One story in a list: what an analyst needs to decide whether to open it."""

    story_id: str
    topic_id: str
    topic_title: str
    headline: str
    severity: str
    first_seen: datetime
    last_updated: datetime
    articles: int
    outlets: int
    sources: int
    languages: tuple[str, ...]
    outlet_names: tuple[str, ...]
    alert_state: AlertState
    alerts_sent: int
    alerts_dead: int
    acknowledged_by: str | None
    snoozed_until: datetime | None
    votes_up: int
    votes_down: int
    my_vote: Vote | None = None


@dataclass(frozen=True)
class ArticleView:
    """One article of a story, with why it matched: evidence and sentences as in the Match."""

    article_id: str
    title: str
    url: str | None
    outlet: str
    language: str | None
    published_at: datetime | None
    fetched_at: datetime | None
    summary: str
    text: str
    source: str                            # the independent source it counts as
    evidence: tuple[dict[str, Any], ...] = ()
    sentences: tuple[dict[str, Any], ...] = ()
    votes_up: int = 0
    votes_down: int = 0
    my_vote: Vote | None = None


@dataclass(frozen=True)
class AlertView:
    """One delivery of the story (or a digest holding it), from ``news.alerts``."""

    subscriber_id: str
    channel_id: str
    channel: str
    kind: str                              # alert, update, digest
    outcome: str                           # sent, dead
    reason: str
    finished_at: datetime


@dataclass(frozen=True)
class FeedbackView:
    """One analyst's word on the story or one of its articles."""

    item: str
    item_id: str
    analyst: str
    kind: str
    value: str | None
    until: datetime | None
    at: datetime


@dataclass(frozen=True)
class StoryDetail:
    story: StoryRow
    articles: tuple[ArticleView, ...]
    alerts: tuple[AlertView, ...]
    feedback: tuple[FeedbackView, ...] = field(default=())


@dataclass(frozen=True)
class WindowArticle:
    """One article of the rolling window, as the rule editor's backtest reads it."""

    article_id: str
    title: str
    text: str
    language: str | None
    outlet: str
    url: str | None
    published_at: datetime | None
    fetched_at: datetime
