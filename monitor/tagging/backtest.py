"""Backtest watch topics on past articles: what they match, miss, and what an edit changes.

In: :class:`~monitor.tagging.backtest_source.Item` (read from a file or Kafka), the compiled
watch topics under test and, optionally, a second version to compare with. Out: a
:class:`Result`, per watch topic:

- matches, matches per day (the article's ``published`` date, UTC; ``undated`` without one),
  and the stories they fold into (the folding of ``newswatch stories``, one watch topic at a
  time, over its matches only);
- with labels: true and false positives, misses, precision, recall and F1, and the false
  positives and misses, each with the matcher's group-by-group :class:`Explanation`;
- with a second version: the articles gained (matched under the version under test, not the
  other) and lost (the reverse), each explained under the version that matches it.

Rules:

1. Labels judge the version under test only. A list of ids judges every one of its watch
   topics (listed: belongs; not listed: does not); ``{id: true|false}`` judges the ids named.
   An id no loaded version knows is reported once and otherwise ignored.
2. Precision is over the judged articles only: a match on an article with no judgement for
   that watch topic is neither a true nor a false positive. Undefined ratios (nothing
   matched, nothing relevant) are ``None``, not 0.
3. Lists keep the first ``cap`` articles per watch topic and kind in input order, and only
   those are explained (an explanation costs about a match); counts are always complete.
4. Articles are matched in a pool of processes when there are more than
   :data:`POOL_THRESHOLD`; results come back in input order, so a run is deterministic.

Pure: no printing, no clock, no file or Kafka access; the caller passes callbacks for bad
items and progress.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import chain, islice

from monitor.feeds.normalize import detect_language
from monitor.stories.commands import Line, fold_lines
from monitor.stories.fold import DEFAULT_WINDOW, Report
from monitor.tagging.backtest_source import Item, Record, decode
from monitor.tagging.match import Explanation, Matcher

#: More articles than this are matched in a pool of processes (fewer: not worth the start).
POOL_THRESHOLD = 5_000
#: Articles sent to a matching process at a time.
CHUNK = 250
#: Progress is reported after every this many articles.
PROGRESS_EVERY = 10_000
#: Matches of one watch topic above which its stories are folded in the pool.
FOLD_POOL_THRESHOLD = 200
UNDATED = "undated"


@dataclass(frozen=True)
class Version:
    """One version of the watch topics: the directory it came from, compiled."""

    directory: str
    matcher: Matcher


@dataclass(frozen=True)
class Bad:
    """An item that could not be read: where, and what is wrong with it."""

    where: str
    reason: str


@dataclass(frozen=True)
class Tagged:
    """A record and the watch topic ids it matches under each version, in version order.

    The text of an article no version matches and no label claims is dropped: it is never
    explained nor folded, and 100,000 texts would not fit in memory comfortably.
    """

    record: Record
    matched: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Listed:
    """An article listed as a false positive, miss, gain or loss, with why."""

    ident: str
    where: str
    title: str
    published: datetime | None
    explanation: Explanation


@dataclass(frozen=True)
class StorySummary:
    """One story the matches of a watch topic fold into."""

    story_id: str
    articles: int
    outlets: int
    headline: str
    first: datetime | None
    last: datetime | None


@dataclass
class TopicResult:
    """Everything a backtest says about one watch topic."""

    topic_id: str
    title: str
    in_versions: tuple[str, ...]
    matches: int = 0
    per_day: Counter[str] = field(default_factory=Counter)
    story_count: int | None = None
    stories: list[StorySummary] = field(default_factory=list)
    true_positives: int = 0
    false_positive_count: int = 0
    miss_count: int = 0
    true_negatives: int = 0
    false_positives: list[Listed] = field(default_factory=list)
    misses: list[Listed] = field(default_factory=list)
    against_matches: int | None = None
    gained_count: int = 0
    lost_count: int = 0
    gained: list[Listed] = field(default_factory=list)
    lost: list[Listed] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return (self.true_positives + self.false_positive_count + self.miss_count
                + self.true_negatives)

    @property
    def precision(self) -> float | None:
        return precision(self.true_positives, self.false_positive_count)

    @property
    def recall(self) -> float | None:
        return recall(self.true_positives, self.miss_count)

    @property
    def f1(self) -> float | None:
        return f1(self.precision, self.recall)


def precision(true_positives: int, false_positives: int) -> float | None:
    """Of what matched, the share that belongs; ``None`` when nothing judged matched."""
    found = true_positives + false_positives
    return true_positives / found if found else None


def recall(true_positives: int, misses: int) -> float | None:
    """Of what belongs, the share that matched; ``None`` when nothing judged belongs."""
    relevant = true_positives + misses
    return true_positives / relevant if relevant else None


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None or precision + recall == 0:
        return None
    return 2 * precision * recall / (precision + recall)


@dataclass
class Result:
    """A whole backtest: what was read, and one :class:`TopicResult` per watch topic, by id."""

    topics_dir: str
    against_dir: str | None
    articles: int = 0
    bad: int = 0
    labelled: int = 0
    unknown_labels: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    cap: int = 0
    topics: list[TopicResult] = field(default_factory=list)


def backtest(items: Iterable[Item], current: Version, against: Version | None = None, *,
             topics: Collection[str] = (), limit: int | None = None, cap: int = 50,
             stories: bool = True, window: timedelta = DEFAULT_WINDOW, processes: int = 1,
             on_bad: Callable[[Bad], None] | None = None,
             on_progress: Callable[[int], None] | None = None) -> Result:
    """Run ``current`` (and ``against``) over ``items``; see the module docstring for rules.

    ``topics`` restricts the report to those ids (every id of either version by default);
    ``limit`` reads only the first articles; ``processes`` above 1 allows a matching pool.
    """
    versions = [current] + ([against] if against is not None else [])
    by_id = {t.id: t for v in reversed(versions) for t in v.matcher.watch_topics}
    current_ids = [t.id for t in current.matcher.watch_topics]
    selected = sorted(topics) if topics else sorted(by_id)
    result = Result(topics_dir=current.directory,
                    against_dir=against.directory if against else None, cap=cap)
    per_topic = {
        tid: TopicResult(tid, by_id[tid].title, tuple(
            v.directory for v in versions if tid in {t.id for t in v.matcher.watch_topics}),
            against_matches=0 if against else None)
        for tid in selected}
    unknown: set[str] = set()
    matched_records: dict[str, list[Record]] = {tid: [] for tid in selected}
    # (watch topic, kind) → the first ``cap`` records and the matcher that explains them;
    # explained once reading is over, so that a matching pool is not held up.
    to_list: dict[tuple[str, str], list[tuple[Record, Matcher]]] = {}

    def listed(tid: str, kind: str, record: Record, version: Version) -> None:
        into = to_list.setdefault((tid, kind), [])
        if len(into) < cap:
            into.append((record, version.matcher))

    stream = tag_items(islice(items, limit) if limit is not None else items,
                       [v.matcher for v in versions], processes=processes)
    seen = 0
    for tagged in stream:
        seen += 1
        if on_progress is not None and seen % PROGRESS_EVERY == 0:
            on_progress(seen)
        if isinstance(tagged, Bad):
            result.bad += 1
            if on_bad is not None:
                on_bad(tagged)
            continue
        record = tagged.record
        result.articles += 1
        if record.published is not None:
            result.first = min(result.first or record.published, record.published)
            result.last = max(result.last or record.published, record.published)
        day = record.published.date().isoformat() if record.published else UNDATED
        now_matched = set(tagged.matched[0])
        for tid in tagged.matched[0]:
            topic = per_topic.get(tid)
            if topic is not None:
                topic.matches += 1
                topic.per_day[day] += 1
                matched_records[tid].append(record)
        judged = judgements(record.labels, current_ids, known=by_id, unknown=unknown)
        if judged:
            result.labelled += 1
        for tid, relevant in judged.items():
            topic = per_topic.get(tid)
            if topic is None:
                continue
            if tid in now_matched and relevant:
                topic.true_positives += 1
            elif tid in now_matched:
                topic.false_positive_count += 1
                listed(tid, "false_positives", record, current)
            elif relevant:
                topic.miss_count += 1
                listed(tid, "misses", record, current)
            else:
                topic.true_negatives += 1
        if against is not None:
            then_matched = set(tagged.matched[1])
            for tid in then_matched:
                if tid in per_topic:
                    per_topic[tid].against_matches = (per_topic[tid].against_matches or 0) + 1
            for tid in now_matched ^ then_matched:
                topic = per_topic.get(tid)
                if topic is None:
                    continue
                if tid in now_matched:
                    topic.gained_count += 1
                    listed(tid, "gained", record, current)
                else:
                    topic.lost_count += 1
                    listed(tid, "lost", record, against)

    for (tid, kind), records in to_list.items():
        setattr(per_topic[tid], kind, [
            Listed(r.ident, r.where, r.title, r.published,
                   matcher.explain(tid, r.title, r.text, r.language))
            for r, matcher in records])
    if stories:
        folded = fold_stories({tid: recs for tid, recs in matched_records.items() if recs},
                              window=window, processes=processes)
        for tid, summaries in folded.items():
            per_topic[tid].story_count = len(summaries)
            per_topic[tid].stories = summaries[:cap]
    result.unknown_labels = sorted(unknown)
    result.topics = [per_topic[tid] for tid in selected]
    return result


def judgements(labels: object, topic_ids: Sequence[str], *, known: Collection[str],
               unknown: set[str]) -> dict[str, bool]:
    """Return ``{topic id: relevant}`` for the watch topics these labels judge.

    Ids in the labels that ``known`` lacks are added to ``unknown`` and ignored.
    """
    if labels is None:
        return {}
    if isinstance(labels, tuple):
        unknown.update(tid for tid in labels if tid not in known)
        listed = set(labels)
        return {tid: tid in listed for tid in topic_ids}
    assert isinstance(labels, dict)
    unknown.update(tid for tid in labels if tid not in known)
    wanted = set(topic_ids)
    return {tid: bool(value) for tid, value in labels.items() if tid in wanted}


# --- matching, in a pool when large -----------------------------------------------------------


def tag_items(items: Iterable[Item], matchers: Sequence[Matcher], *, processes: int = 1,
              threshold: int = POOL_THRESHOLD) -> Iterator[Tagged | Bad]:
    """Decode and match every item under every matcher; yield results in input order.

    With ``processes`` above 1 and more than ``threshold`` items, ``processes`` forked
    workers match chunks of :data:`CHUNK` items; they inherit the compiled matchers (nothing
    is compiled or copied again), and at most four chunks per worker are in flight, so memory
    stays flat however long the input.
    """
    items = iter(items)
    head = list(islice(items, threshold + 1))
    if processes < 2 or len(head) <= threshold:
        for item in chain(head, items):
            yield _tag_one(item, matchers)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_start_worker, initargs=(tuple(matchers),)) as pool:
        in_flight: deque[multiprocessing.pool.AsyncResult[list[Tagged | Bad]]] = deque()
        for chunk in _chunks(chain(head, items), CHUNK):
            in_flight.append(pool.apply_async(_tag_chunk, (chunk,)))
            if len(in_flight) >= 4 * processes:
                yield from in_flight.popleft().get()
        while in_flight:
            yield from in_flight.popleft().get()


def usable_processes() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


_worker_matchers: tuple[Matcher, ...] = ()


def _start_worker(matchers: tuple[Matcher, ...]) -> None:
    global _worker_matchers
    _worker_matchers = matchers


def _tag_chunk(chunk: list[Item]) -> list[Tagged | Bad]:
    return [_tag_one(item, _worker_matchers) for item in chunk]


def _tag_one(item: Item, matchers: Sequence[Matcher]) -> Tagged | Bad:
    try:
        record = decode(item)
    except ValueError as exc:
        return Bad(item.where, str(exc))
    matched = tuple(tuple(m.topic_id for m in matcher.match(record.title, record.text,
                                                            record.language))
                    for matcher in matchers)
    if not any(matched) and not _claims(record.labels):
        record = replace(record, text="")
    return Tagged(record, matched)


def _claims(labels: object) -> bool:
    if isinstance(labels, tuple):
        return bool(labels)
    return isinstance(labels, dict) and any(labels.values())


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk


# --- stories ----------------------------------------------------------------------------------


def fold_stories(matched: dict[str, list[Record]], *, window: timedelta = DEFAULT_WINDOW,
                 processes: int = 1) -> dict[str, list[StorySummary]]:
    """Fold each watch topic's matched records into stories, as ``newswatch stories`` does.

    Return the stories of each watch topic, largest first (then earliest). Folding embeds
    every report (about 100 a second on one core), so with several processes and enough
    matches the watch topics are folded in parallel, largest first.
    """
    jobs = sorted(((tid, records, window) for tid, records in matched.items()),
                  key=lambda job: -len(job[1]))
    if processes > 1 and len(jobs) > 1 and len(jobs[1][1]) >= FOLD_POOL_THRESHOLD:
        context = multiprocessing.get_context("fork")
        with context.Pool(min(processes, len(jobs))) as pool:
            done = pool.map(_fold_topic, jobs, chunksize=1)
    else:
        done = [_fold_topic(job) for job in jobs]
    return {job[0]: summaries for job, summaries in zip(jobs, done, strict=True)}


def _fold_topic(job: tuple[str, list[Record], timedelta]) -> list[StorySummary]:
    topic_id, records, window = job
    lines = [Line(number, record.ident, _report(topic_id, record))
             for number, record in enumerate(records)]
    results = fold_lines(lines, window=window, topic_id=topic_id)
    members: dict[str, list[tuple[Line, str]]] = {}
    for line in lines:
        story_id, event, _ = results[line.number]
        if event != "duplicate":
            members.setdefault(story_id, []).append((line, event))
    out = []
    for story_id, group in members.items():
        dates = [line.report.published for line, _ in group if line.report.published]
        opener = next((line for line, event in group if event == "opened"), group[0][0])
        out.append(StorySummary(story_id, len(group),
                                len({line.report.outlet for line, _ in group}),
                                opener.report.title, min(dates, default=None),
                                max(dates, default=None)))
    out.sort(key=lambda s: (-s.articles, s.first is None, s.first or datetime.min, s.story_id))
    return out


def _report(topic_id: str, record: Record) -> Report:
    # As ``newswatch stories`` reads a line: "pt-BR" compares as "pt", none is detected.
    language = ((record.language or "").replace("_", "-").split("-")[0].lower()
                or detect_language(record.title, record.text))
    return Report(article_id=record.ident, topic_id=topic_id, outlet=record.outlet,
                  url=record.url, title=record.title, text=record.text, language=language,
                  published=record.published)
