"""Where a backtest's articles come from: a JSON-lines file, or ``news.articles`` since a time.

In: a path (``-`` for standard input), or a bootstrap address, a Kafka topic and a start time.
Out: a :class:`Source` of undecoded :class:`Item` (each with where it came from, for messages)
and :func:`decode`, which turns one item into a :class:`Record` or raises :class:`ValueError`
saying what is wrong with it. Decoding is separate so that it runs in the matching processes.
Reading Kafka never joins a consumer group and never commits: a live worker is undisturbed.

A file line is what ``newswatch tag`` reads, plus optional labels::

    {"id": "en-001", "title": "...", "text": "...", "language": "en",
     "published": "2024-06-19T08:00:00Z", "outlet": "Example Wire",
     "labels": ["nk-russia-arms"]}

- ``id`` (a string or number) and a non-empty ``title`` or ``text`` (``summary`` stands in
  for a missing ``text``) are required; ``published`` (or ``published_at``, ISO 8601),
  ``language``, ``outlet`` and ``url`` are optional;
- ``labels``: a list of watch topic ids, meaning the article belongs to those and to no other
  loaded watch topic; or ``{topic_id: true|false}``, judging only the watch topics named.

A Kafka message is an :class:`~monitor.article.Article` as the poller publishes it; its day is
``published_at``, else the record's timestamp.

Analysts' votes (:func:`read_feedback`: ``news.feedback`` read whole, turned into labels by
:func:`monitor.feedback.labels`) label articles too, through :func:`with_feedback`; labels
given in the file win over them, watch topic by watch topic (:func:`merge_labels`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from monitor.article import Article, MessageError, as_utc
from monitor.feedback import Feedback, labels
from monitor.jsonlines import open_input, read_object

_AGO = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Item:
    """One article as read, not yet decoded: where it is, its bytes, its Kafka timestamp.

    ``feedback``: the analysts' labels of the article this item holds, as (article id,
    labels); :func:`decode` uses them when the decoded article has that id.
    """

    where: str
    data: bytes | None
    kind: Literal["line", "message"] = "line"
    timestamp_ms: int | None = None
    feedback: tuple[str, Mapping[str, bool]] | None = None


@dataclass(frozen=True)
class Record:
    """One decoded article with its labels as given (checked against watch topics later)."""

    where: str
    ident: str
    title: str
    text: str
    language: str | None = None
    outlet: str = ""
    url: str | None = None
    published: datetime | None = None
    labels: Mapping[str, bool] | tuple[str, ...] | None = None


@dataclass
class Source:
    """Items to backtest, and how far through them the reading is (0..1, None if unknown)."""

    items: Iterator[Item]
    done: Callable[[], float | None]


def read_file(path: Path) -> Source:
    """Read a JSON-lines file (``-``: standard input); ``OSError`` if it cannot be opened."""
    handle = open_input(path)
    size = None
    if str(path) != "-":
        size = path.stat().st_size
    read = 0

    def items() -> Iterator[Item]:
        nonlocal read
        with handle:
            for number, line in enumerate(handle, 1):
                read += len(line)
                if line.strip():
                    yield Item(f"{path}:{number}", line)

    return Source(items(), lambda: read / size if size else None)


def read_kafka(bootstrap: str, topic: str, since: datetime) -> Source:
    """Read ``topic`` from ``since`` to its end now; ``bus.KafkaError`` if unreachable."""
    from monitor import bus  # kafka-python is slow to import; only this path needs it

    total, records = bus.read_since(bootstrap, topic, int(since.timestamp() * 1000))
    read = 0

    def items() -> Iterator[Item]:
        nonlocal read
        for partition, offset, timestamp_ms, value in records:
            read += 1
            yield Item(f"{topic}[{partition}]@{offset}", value, "message", timestamp_ms)

    return Source(items(), lambda: read / total if total else None)


def read_feedback(bootstrap: str, topic: str, *, topic_ids: Collection[str] | None = None,
                  on_bad: Callable[[str, str], None] | None = None
                  ) -> dict[str, dict[str, bool]]:
    """Read ``news.feedback`` whole and return its labels: ``{article_id: {topic_id: bool}}``.

    Only watch topics in ``topic_ids`` are kept (all by default): a vote on a watch topic since
    deleted is no test case. A message that cannot be read is passed to ``on_bad`` (where,
    why) and skipped. A tombstone is skipped too: the console withdraws a vote with ``none``
    and never deletes a key. Raise ``bus.KafkaError`` if Kafka cannot be read.
    """
    from monitor import bus  # kafka-python is slow to import; only this path needs it

    _, records = bus.read_since(bootstrap, topic, 0)
    votes = []
    for partition, offset, _, value in records:
        if value is None:
            continue
        try:
            votes.append(Feedback.from_json(value))
        except MessageError as exc:
            if on_bad is not None:
                on_bad(f"{topic}[{partition}]@{offset}", str(exc))
    found = labels(votes)
    if topic_ids is None:
        return found
    wanted = set(topic_ids)
    kept = {aid: {tid: v for tid, v in judged.items() if tid in wanted}
            for aid, judged in found.items()}
    return {aid: judged for aid, judged in kept.items() if judged}


def with_feedback(source: Source, votes: Mapping[str, Mapping[str, bool]]) -> Source:
    """Label the items of ``source`` with the analysts' votes on their articles.

    Each item is matched to its article by the id at the head of its JSON (found without
    decoding it here: decoding happens in the matching processes); :func:`decode` checks the
    id once decoded, so an item never takes another article's votes.
    """
    if not votes:
        return source

    def items() -> Iterator[Item]:
        for item in source.items:
            ident = _ident_hint(item)
            judged = votes.get(ident) if ident is not None else None
            yield replace(item, feedback=(ident, judged)) if judged and ident else item

    return Source(items(), source.done)


_ARTICLE_ID = re.compile(rb'"article_id"\s*:\s*("(?:[^"\\]|\\.)*")')
_LINE_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)\s*[,}]')


def _ident_hint(item: Item) -> str | None:
    """The article id an item most likely holds, read off its JSON without decoding it."""
    if item.data is None:
        return None
    found = (_ARTICLE_ID if item.kind == "message" else _LINE_ID).search(item.data)
    if found is None:
        return None
    try:
        return str(orjson.loads(found.group(1)))
    except orjson.JSONDecodeError:
        return None


def merge_labels(own: Mapping[str, bool] | tuple[str, ...] | None,
                 votes: Mapping[str, bool]) -> Mapping[str, bool] | tuple[str, ...]:
    """An article's labels from the file (``own``) and from the analysts' votes.

    - no labels in the file: the votes;
    - a list of ids in the file judges every loaded watch topic: the file's alone;
    - ``{id: true|false}`` in the file: the votes, with the file's over them id by id.
    """
    if own is None:
        return dict(votes)
    if isinstance(own, tuple):
        return own
    return {**votes, **own}


def parse_since(text: str, now: datetime) -> datetime:
    """Return the start time ``--since`` names: ``30m``, ``12h``, ``7d``, ``2w`` ago, or a date.

    An ISO date or date-time without a zone is UTC. Raise :class:`ValueError` otherwise.
    """
    ago = _AGO.match(text)
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"--since {text!r}: expected 30m, 12h, 7d, 2w or an ISO date "
                         "such as 2024-06-01") from None


def decode(item: Item) -> Record:
    """Decode one item; raise :class:`ValueError` saying what is wrong with it."""
    record = _decode_message(item) if item.kind == "message" else _decode_line(item)
    if item.feedback is not None and item.feedback[0] == record.ident:
        record = replace(record, labels=merge_labels(record.labels, item.feedback[1]))
    return record


def _decode_line(item: Item) -> Record:
    data = read_object(item.data or b"")
    fields: dict[str, str] = {}
    for name in ("title", "text", "summary", "language", "outlet", "url"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string")
        fields[name] = value or ""
    text = fields["text"] or fields["summary"]
    if not (fields["title"].strip() or text.strip()):
        raise ValueError("no 'title' or 'text'")
    published = _date(data, "published") or _date(data, "published_at")
    return Record(where=item.where, ident=str(data["id"]), title=fields["title"], text=text,
                  language=fields["language"] or None, outlet=fields["outlet"],
                  url=fields["url"] or None, published=published,
                  labels=_labels(data.get("labels")))


def _decode_message(item: Item) -> Record:
    if item.data is None:
        raise ValueError("empty message (tombstone)")
    try:
        article = Article.from_json(item.data)
    except MessageError as exc:
        raise ValueError(str(exc)) from None
    published = article.published_at
    if published is None and item.timestamp_ms is not None and item.timestamp_ms >= 0:
        published = datetime.fromtimestamp(item.timestamp_ms / 1000, UTC)
    return Record(where=item.where, ident=article.article_id, title=article.title,
                  text=article.text or article.summary, language=article.language,
                  outlet=article.outlet or article.feed_id, url=article.url,
                  published=published)


def _date(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name!r} must be an ISO 8601 date string")
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"{name!r}: not an ISO 8601 date: {value[:40]!r}") from None


def _labels(value: Any) -> Mapping[str, bool] | tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    raise ValueError("'labels' must be a list of watch topic ids or {topic_id: true|false}")
