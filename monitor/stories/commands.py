"""``newswatch stories``: fold a JSON-lines file of articles into stories, offline.

In: one JSON article per line, as ``newswatch tag`` reads them plus ``outlet``: ``id``,
``title``, ``text`` (or ``summary``), and optionally ``url``, ``published`` (ISO 8601; also
``published_at``), ``language`` (detected when absent), ``outlet``. Out:
``{"id": ..., "story_id": ...}`` per line, in the file's order (with ``--explain``, also
``"event"`` and ``"why"``). Bad lines are reported on standard error as ``FILE:LINE: what``
and skipped; the exit code is then 1.

The file is folded as one watch topic, with the same :class:`StoryBook` as the worker, in
order of ``published``; a line without a date keeps its place after the line before it. The
clock is the latest date read so far, so a story closes when the file moves on past its window.

    newswatch stories --input F.jsonl [--output F|-] [--window HOURS] [--explain]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from monitor.article import as_utc
from monitor.feeds.normalize import detect_language
from monitor.jsonlines import open_input, output, read_object
from monitor.stories.book import StoryBook
from monitor.stories.embed import embed
from monitor.stories.fingerprint import fingerprint, lead
from monitor.stories.fold import DEFAULT_WINDOW, Report

#: The watch topic a file is folded as.
OFFLINE_TOPIC = "offline"
#: Reports embedded together (one batch is much faster per text than one at a time).
_BATCH = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def add_commands(subparsers: Any) -> None:
    """Register ``stories`` on an argparse sub-parser set (``func(args)`` → exit code)."""
    stories = subparsers.add_parser(
        "stories", help="fold a JSON-lines file of articles into stories, offline")
    stories.add_argument("--input", required=True, type=Path,
                         help="one JSON article per line: id, title, text, outlet (url, "
                              "published, language optional); - for standard input")
    stories.add_argument("--output", default="-", help="where to write results (default: -)")
    stories.add_argument("--window", type=float, default=DEFAULT_WINDOW.total_seconds() / 3600,
                         help="hours a story stays open after its latest article (default: "
                              "%(default)g)")
    stories.add_argument("--explain", action="store_true",
                         help="add the event (opened/updated) and why to each result")
    stories.set_defaults(func=run_stories)


@dataclass(frozen=True)
class Line:
    """One readable input line: where it was, its id as given, and its report."""

    number: int
    ident: Any
    report: Report


def run_stories(args: argparse.Namespace, settings: object = None) -> int:
    """Fold the input file and write one result per readable line."""
    if args.window <= 0:
        print("newswatch: --window must be a positive number of hours", file=sys.stderr)
        return 1
    try:
        source = open_input(args.input)
    except OSError as exc:
        print(f"newswatch: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 1
    lines, bad = [], 0
    with source:
        for number, raw in enumerate(source, 1):
            if not raw.strip():
                continue
            try:
                lines.append(read_line(number, raw))
            except ValueError as exc:
                bad += 1
                print(f"{args.input}:{number}: {exc}", file=sys.stderr)
    results = fold_lines(lines, window=timedelta(hours=args.window))
    with output(args.output) as sink:
        for line in lines:
            story_id, event, why = results[line.number]
            record: dict[str, Any] = {"id": line.ident, "story_id": story_id}
            if args.explain:
                record.update(event=event, why=why)
            sink.write(orjson.dumps(record) + b"\n")
    if bad:
        print(f"newswatch: {bad} bad line{'s' if bad != 1 else ''} skipped", file=sys.stderr)
    return 1 if bad else 0


def read_line(number: int, raw: bytes) -> Line:
    """Read one input line; raise :class:`ValueError` saying what is wrong with it."""
    data = read_object(raw)
    ident = data["id"]
    fields = {}
    for name in ("title", "text", "summary", "url", "language", "outlet"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string")
        fields[name] = value or ""
    if not (fields["title"] or fields["text"] or fields["summary"]):
        raise ValueError("no 'title', 'text' or 'summary' to compare")
    published = _date(data, "published") or _date(data, "published_at")
    # The cosine of two reports depends on their languages: a line that names none gets the
    # one the poller would have detected, and "pt-BR" is compared as "pt".
    language = (fields["language"].replace("_", "-").split("-")[0].lower()
                or detect_language(fields["title"], fields["text"] or fields["summary"]))
    report = Report(article_id=str(ident), topic_id=OFFLINE_TOPIC, outlet=fields["outlet"],
                    url=fields["url"] or None, title=fields["title"],
                    text=fields["text"] or fields["summary"],
                    language=language, published=published)
    return Line(number, ident, report)


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


def in_time_order(lines: Iterable[Line]) -> list[Line]:
    """Order by ``published``; an undated line keeps its place after the line before it."""
    keyed, last = [], _EPOCH
    for position, line in enumerate(lines):
        last = line.report.published or last
        keyed.append((last, position, line))
    return [line for _, _, line in sorted(keyed, key=lambda k: (k[0], k[1]))]


def fold_lines(lines: Iterable[Line], *, window: timedelta = DEFAULT_WINDOW,
               topic_id: str = OFFLINE_TOPIC) -> dict[int, tuple[str, str, str]]:
    """Fold lines in time order; return ``{line number: (story_id, event, why)}``.

    A line whose article id was already folded is a duplicate: it gets the story of the first.
    """
    book = StoryBook(topic_id, window=window)
    results: dict[int, tuple[str, str, str]] = {}
    story_of: dict[str, str] = {}
    now = _EPOCH
    for line, print_ in _fingerprinted(in_time_order(lines)):
        report = line.report
        now = max(now, report.published or now)
        book.expire(now)
        folded = book.fold(report, print_, now=now)
        if folded.event is None:
            story_id = story_of[report.article_id]
            results[line.number] = (story_id, "duplicate", "the same article again")
            continue
        story_id = folded.event.story.story_id
        story_of[report.article_id] = story_id
        results[line.number] = (story_id, folded.event.event, folded.event.why)
    return results


def _fingerprinted(lines: list[Line]) -> Iterator[tuple[Line, Any]]:
    for start in range(0, len(lines), _BATCH):
        batch = lines[start:start + _BATCH]
        vectors = embed([lead(line.report.title, line.report.text) for line in batch])
        for line, vector in zip(batch, vectors, strict=True):
            yield line, fingerprint(line.report.title, line.report.text, vector)
