"""What analysts tell newswatch about its stories: the ``news.feedback`` contract and its labels.

In: an analyst's 👍/👎 on a story or an article, an acknowledgement, a snooze. Out: a
:class:`Feedback` message for the compacted ``news.feedback`` topic, keyed so that the latest
word of one analyst on one item of one kind is what compaction keeps, and :func:`labels`,
which turns the votes into the ``{topic_id: true|false}`` labels ``newswatch backtest`` reads:
every analyst's 👎 becomes a test case. Nothing here does I/O.

Labels, per (article, watch topic):

- a vote on the article itself outweighs a vote on a story that holds it;
- among analysts, the most recent vote wins (two analysts who disagree leave the later word);
- a vote withdrawn (``none``) counts as never given: a story's vote still labels the article;
- a story's vote labels the articles the story held when the vote was given (``articles``),
  so labels never depend on what the story later became.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.article import SCHEMA_VERSION, _decode, as_utc

#: Longest analyst name kept; a proxy header or a file may carry anything.
MAX_ANALYST_CHARS = 200
#: Most article ids a story vote records.
MAX_VOTED_ARTICLES = 500

Item = Literal["story", "article"]
Kind = Literal["vote", "ack", "snooze"]


class Feedback(BaseModel):
    """One analyst's latest word of one kind on one story or article.

    - ``vote``: ``value`` is ``up``, ``down`` or ``none`` (withdrawn);
    - ``ack``: ``value`` is ``yes`` or ``no`` (acknowledgement withdrawn);
    - ``snooze``: ``until`` is when the story comes back (``None``: snooze withdrawn).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    item: Item
    item_id: str = Field(min_length=1, max_length=200)
    topic_id: str = Field(min_length=1, max_length=200)
    analyst: str = Field(min_length=1, max_length=MAX_ANALYST_CHARS)
    kind: Kind
    value: Literal["up", "down", "none", "yes", "no"] | None = None
    until: datetime | None = None
    articles: tuple[str, ...] = Field(default=(), max_length=MAX_VOTED_ARTICLES)
    at: datetime

    @field_validator("until", "at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Feedback:
        allowed: dict[str, set[str | None]] = {
            "vote": {"up", "down", "none"}, "ack": {"yes", "no"}, "snooze": {None}}
        if self.value not in allowed[self.kind]:
            raise ValueError(f"value {self.value!r} does not fit kind {self.kind!r}")
        return self

    def key(self) -> bytes:
        """The compaction key: one analyst, one item, one watch topic, one kind."""
        return "\x1f".join((self.item, self.item_id, self.topic_id, self.analyst,
                            self.kind)).encode()

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> Feedback:
        """Decode a ``news.feedback`` message; raise :class:`MessageError` with the reason."""
        return _decode(cls, data)


def labels(records: Iterable[Feedback]) -> dict[str, dict[str, bool]]:
    """Turn votes into backtest labels: ``{article_id: {topic_id: belongs}}``.

    ``records`` may hold every version of a key (a topic read before compaction): only each
    key's latest record counts.
    """
    latest: dict[bytes, Feedback] = {}
    for record in records:
        if record.kind != "vote":
            continue
        seen = latest.get(record.key())
        if seen is None or record.at >= seen.at:
            latest[record.key()] = record
    # (article, topic) -> (rank, at, belongs): an article's own vote ranks above a story's.
    best: dict[tuple[str, str], tuple[int, datetime, bool]] = {}
    for record in latest.values():
        if record.value == "none":  # withdrawn: as if never given
            continue
        belongs = record.value == "up"
        rank = 1 if record.item == "article" else 0
        targets = (record.item_id,) if record.item == "article" else record.articles
        for article_id in targets:
            pair = (article_id, record.topic_id)
            if pair not in best or (rank, record.at) >= best[pair][:2]:
                best[pair] = (rank, record.at, belongs)
    out: dict[str, dict[str, bool]] = {}
    for (article_id, topic_id), (_, _, belongs) in best.items():
        out.setdefault(article_id, {})[topic_id] = belongs
    return out
