"""The message contracts every stage shares: what goes on ``news.articles``.

An :class:`Article` is decided once, in the poller, and read unchanged by every later stage.
Messages are JSON (encoded with orjson) and carry ``"schema": 1``; a reader that meets another
version or a malformed message raises :class:`MessageError`, which a stage turns into a
dead-letter record with the reason. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION: Literal[1] = 1
#: Partitions of news.articles, whichever of poller and worker creates it first: the most
#: workers that can share the tagging.
ARTICLE_PARTITIONS = 6
#: Longest ``text`` an article carries. A whole book pasted into a feed must still fit one Kafka
#: message (about 1 MB); the start of a report is what tagging needs.
MAX_TEXT_CHARS = 200_000
#: Longest ``title``: a real headline is a line; a feed that puts a document in the title must
#: not make every message built from the article unsendable.
MAX_TITLE_CHARS = 1_000
#: What a :class:`Match` keeps of its article and evidence. A match must always fit one Kafka
#: message, whatever the article holds: at most 4 bytes a character, these bounds keep it
#: under 200 KB (Kafka refuses about 1 MB).
MATCH_TEXT_CHARS = 20_000
MATCH_SUMMARY_CHARS = 2_000
MATCH_EVIDENCE = 50
MATCH_SENTENCES = 10
MATCH_SNIPPET_CHARS = 500
#: What a dead letter keeps of the message it records; its coordinates lead to the rest.
DEAD_LETTER_VALUE_CHARS = 100_000


class MessageError(ValueError):
    """A Kafka message that this version cannot read; the text says why."""


def make_article_id(*, canonical_url: str | None, feed_id: str, guid: str | None,
                    title: str, published_at: datetime | None) -> str:
    """Return the article's stable identity: 32 hex characters of a SHA-256.

    Order, first that applies:
    - the canonical URL (tracking parameters already removed), so the same page reached from
      two feeds, or with different ``utm_*`` tails, is one article;
    - the feed and the entry's guid, for entries without a usable link;
    - the feed, title and publication date, for entries with neither.
    """
    if canonical_url:
        basis = "url\0" + canonical_url
    elif guid:
        basis = f"guid\0{feed_id}\0{guid}"
    else:
        when = published_at.isoformat() if published_at else ""
        basis = f"title\0{feed_id}\0{title}\0{when}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


class Article(BaseModel):
    """One item of one feed, normalized. Key on Kafka: ``article_id``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    article_id: str = Field(min_length=1)
    url: str | None = None
    canonical_url: str | None = None
    feed_id: str = Field(min_length=1)
    outlet: str = ""
    title: str = ""
    summary: str = ""
    text: str = ""
    language: str | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published_at: datetime | None = None
    fetched_at: datetime

    @field_validator("text", "summary")
    @classmethod
    def _capped(cls, value: str) -> str:
        return value[:MAX_TEXT_CHARS]

    @field_validator("title")
    @classmethod
    def _title_capped(cls, value: str) -> str:
        return value[:MAX_TITLE_CHARS]

    @field_validator("published_at", "fetched_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    def to_json(self) -> bytes:
        """Encode as the wire format: JSON with ``"schema": 1`` and UTC ISO-8601 dates."""
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> Article:
        """Decode a ``news.articles`` message; raise :class:`MessageError` with the reason."""
        return _decode(cls, data)


_M = TypeVar("_M", bound=BaseModel)


def _decode(model: type[_M], data: bytes | str) -> _M:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MessageError(f"expected a JSON object, got {type(raw).__name__}")
    version = raw.get("schema")
    if version != SCHEMA_VERSION:
        raise MessageError(f"unsupported schema version {version!r} (this reader knows 1)")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise MessageError(f"{where}: {first['msg']}") from None


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Match(BaseModel):
    """An article that satisfied one watch topic, with the evidence. Key: the watch topic id.

    Every field is bounded (``MATCH_*``), so a match always fits one Kafka message: the
    article's text and summary are cut, and so are the evidence, the sentences and each
    quoted string in them. The full article stays on ``news.articles`` under its id.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    article: Article
    topic_id: str
    topic_title: str = ""
    severity: str = "medium"
    score: float
    evidence: tuple[dict[str, Any], ...] = ()
    sentences: tuple[dict[str, Any], ...] = ()
    matched_at: datetime

    @field_validator("article")
    @classmethod
    def _article_bounded(cls, article: Article) -> Article:
        if (len(article.text) <= MATCH_TEXT_CHARS
                and len(article.summary) <= MATCH_SUMMARY_CHARS):
            return article
        return article.model_copy(update={"text": article.text[:MATCH_TEXT_CHARS],
                                          "summary": article.summary[:MATCH_SUMMARY_CHARS]})

    @field_validator("evidence")
    @classmethod
    def _evidence_bounded(cls, evidence: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        return tuple(_snipped(e) for e in evidence[:MATCH_EVIDENCE])

    @field_validator("sentences")
    @classmethod
    def _sentences_bounded(
            cls, sentences: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        return tuple(_snipped(s) for s in sentences[:MATCH_SENTENCES])

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> Match:
        """Decode a ``news.matches`` message; raise :class:`MessageError` with the reason."""
        return _decode(cls, data)


def _snipped(item: dict[str, Any]) -> dict[str, Any]:
    """Cut every string value of an evidence or sentence record to ``MATCH_SNIPPET_CHARS``."""
    if all(not isinstance(v, str) or len(v) <= MATCH_SNIPPET_CHARS for v in item.values()):
        return item
    return {k: v[:MATCH_SNIPPET_CHARS] if isinstance(v, str) else v for k, v in item.items()}


def dead_letter(*, stage: str, reason: str, topic: str, partition: int | None,
                offset: int | None, key: bytes | None, value: bytes | None,
                failed_at: datetime | None = None) -> bytes:
    """Encode the record a stage writes to ``news.<stage>.dead`` for a message it cannot read.

    The original bytes are kept (as text when they decode, else backslash-escaped) so that an
    operator can fix and replay them; a value longer than ``DEAD_LETTER_VALUE_CHARS`` is cut
    (``"truncated": true``) so that the letter itself always fits a Kafka message, and the
    source coordinates lead to the whole message.
    """
    def text(raw: bytes | None) -> str | None:
        return None if raw is None else raw.decode("utf-8", "backslashreplace")

    kept = text(value)
    truncated = kept is not None and len(kept) > DEAD_LETTER_VALUE_CHARS
    return orjson.dumps({
        "schema": SCHEMA_VERSION, "stage": stage, "reason": reason[:2000],
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "key": (text(key) or "")[:1000] if key is not None else None,
        "value": kept[:DEAD_LETTER_VALUE_CHARS] if kept is not None else None,
        "truncated": truncated,
        "failed_at": (failed_at or utcnow()).isoformat(),
    })


# -- stories: what goes on news.stories ------------------------------------------------------
#: How many articles one story lists. A story that reaches it takes no more: the next report
#: of the event opens a new story, so a story event always fits one Kafka message.
STORY_MAX_ARTICLES = 400
#: What a story keeps of each article's title.
STORY_TITLE_CHARS = 300
SEVERITIES = ("low", "medium", "high", "critical")


def make_story_id(topic_id: str, article_id: str) -> str:
    """Return a story's identity, decided once when it opens: 24 hex characters of a SHA-256.

    Derived from the watch topic and the article that opened it, so a worker that processes
    that match again after a crash opens the very same story, never a second one.
    """
    basis = f"story\0{topic_id}\0{article_id}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


def severity_rank(severity: str) -> int:
    """Order of a severity name (unknown names rank as ``medium``)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


class StoryArticle(BaseModel):
    """One article of a story, as an alert shows it.

    ``source`` is the ``article_id`` of the first article of the story whose text this one
    reprints (a wire copy); an article with its own text is its own source.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    article_id: str
    outlet: str = ""
    url: str | None = None
    title: str = ""
    language: str | None = None
    published: datetime | None = None
    source: str

    @field_validator("title")
    @classmethod
    def _title_capped(cls, value: str) -> str:
        return value[:STORY_TITLE_CHARS]

    @field_validator("published")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


class Story(BaseModel):
    """The articles, from any outlets, that report one event for one watch topic.

    - ``outlets``: distinct outlets among the articles;
    - ``sources``: independent sources, where outlets that reprint one wire text count once;
    - ``updates``: how many articles joined after the one that opened it (0 when it opens).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    story_id: str = Field(min_length=1)
    topic_id: str = Field(min_length=1)
    topic_title: str = ""
    headline: str
    first_seen: datetime
    last_updated: datetime
    articles: tuple[StoryArticle, ...]
    outlets: int
    sources: int
    languages: tuple[str, ...] = ()
    severity: str = "medium"
    score: float = 0.0
    updates: int = 0

    @field_validator("first_seen", "last_updated")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> Story:
        return _decode(cls, data)


class StoryEvent(BaseModel):
    """A message on ``news.stories`` (key: the watch topic id).

    ``opened`` once per story, then ``updated`` once per article that joins it, each with the
    story as it stands after the event, the article that caused it and why it joined.
    Consumers deduplicate on (``story.story_id``, ``article.article_id``): after a crash the
    same event may come again.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    event: Literal["opened", "updated"]
    story: Story
    article: StoryArticle
    why: str
    #: Why ``article`` matched the watch topic: its match's evidence (each term as written)
    #: and sentences, bounded as in :class:`Match`; when it was fetched and matched.
    evidence: tuple[dict[str, Any], ...] = ()
    sentences: tuple[dict[str, Any], ...] = ()
    fetched_at: datetime | None = None
    matched_at: datetime | None = None

    @field_validator("evidence", "sentences")
    @classmethod
    def _bounded(cls, items: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        return tuple(_snipped(i) for i in items[:MATCH_EVIDENCE])

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> StoryEvent:
        """Decode a ``news.stories`` message; raise :class:`MessageError` with the reason."""
        return _decode(cls, data)


# -- alerts: what goes on news.alerts.pending and news.alerts ---------------------------------
class AlertRequest(BaseModel):
    """A message on ``news.alerts.pending`` (key: the subscriber id).

    ``story``: a story event for one subscriber who watches its watch topic. ``tick``: the
    clock, sent to every partition so that what waits (digests, held updates, deliveries a
    crashed worker left) moves on without new input.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    kind: Literal["story", "tick"]
    subscriber_id: str = ""
    event: StoryEvent | None = None
    at: datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> AlertRequest:
        request = _decode(cls, data)
        if request.kind == "story" and (request.event is None or not request.subscriber_id):
            raise MessageError("a story alert request needs subscriber_id and event")
        return request


class AlertRecord(BaseModel):
    """A message on ``news.alerts`` (key: the subscriber id): one delivery, for audit.

    ``outcome`` is ``sent`` once the channel accepted the message, ``dead`` when it refused it
    for good or kept failing (then also on ``news.alerts.dead``). Never carries a secret:
    channels are named by their id and kind, not their address.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    delivery: str
    subscriber_id: str
    channel_id: str
    channel: str
    kind: Literal["alert", "update", "digest"]
    outcome: Literal["sent", "dead"]
    reason: str = ""
    stories: tuple[str, ...]
    topics: tuple[str, ...]
    articles: tuple[str, ...]
    headline: str = ""
    thread: str | None = None
    attempts: int
    decided_at: datetime
    finished_at: datetime

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> AlertRecord:
        return _decode(cls, data)
