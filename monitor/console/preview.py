"""What a backtested edit looks like to an analyst: the preview's parts and its one-line whys.

In: the articles two versions of a watch topic match in the window, the feedback labels,
explanations from the matcher. Out: :class:`Change` (an article gained or lost, with why in
one line, :func:`reason`), :class:`Scores` (precision, recall, F1 against the labels),
matches per day, and :class:`Preview`, the whole answer of :meth:`Editor.preview
<monitor.console.editor.Editor.preview>`. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from monitor.console.model import WindowArticle
from monitor.console.topicfile import Problem
from monitor.console.window import Window
from monitor.tagging import backtest
from monitor.tagging.match import Explanation, GroupTrace

#: Gained and lost articles listed (and explained) per preview; counts are always complete.
LIST_CAP = 50


@dataclass(frozen=True)
class Change:
    """An article the edit gains or loses, and why, group by group, in one line."""

    article_id: str
    title: str
    outlet: str
    url: str | None
    day: date
    why: str


@dataclass(frozen=True)
class Scores:
    """One version against the feedback labels of the articles in the window."""

    judged: int
    true_positives: int
    false_positives: int
    misses: int

    @property
    def precision(self) -> float | None:
        return backtest.precision(self.true_positives, self.false_positives)

    @property
    def recall(self) -> float | None:
        return backtest.recall(self.true_positives, self.misses)

    @property
    def f1(self) -> float | None:
        return backtest.f1(self.precision, self.recall)


@dataclass(frozen=True)
class Preview:
    """What an edit would do.

    - the rules do not compile: ``problems`` only (``compiled`` is false);
    - they compile: the backtest, and as ``problems`` the examples that fail, if any;
    - ``before``: ``None`` when the saved file is missing or does not compile;
    - ``scores_*``: ``None`` when no article of the window is labelled for this topic;
    - ``per_day``: every day of the span, oldest first, by the day the console received
      each article (UTC); ``candidates``: articles the word index let through,
      ``evaluated``: of those, the ones matched again (the rest came from caches).
    """

    topic_id: str
    problems: tuple[Problem, ...] = ()
    compiled: bool = False
    explanation: str | None = None
    explained: Explanation | None = None
    before: int | None = None
    after: int | None = None
    gained: tuple[Change, ...] = ()
    lost: tuple[Change, ...] = ()
    gained_count: int = 0
    lost_count: int = 0
    scores_before: Scores | None = None
    scores_after: Scores | None = None
    per_day: tuple[tuple[date, int, int], ...] = ()
    scanned: int = 0
    candidates: int = 0
    evaluated: int = 0
    days: int = 0
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the edit could be saved as it is."""
        return self.compiled and not self.problems


def newest_first(found: dict[str, WindowArticle],
                  other: dict[str, WindowArticle]) -> list[WindowArticle]:
    out = [a for ident, a in found.items() if ident not in other]
    out.sort(key=lambda a: (a.fetched_at, a.article_id), reverse=True)
    return out


def scores(matched: dict[str, WindowArticle], labels: dict[str, dict[str, bool]],
            topic_id: str, window: Window, since: datetime) -> Scores | None:
    """Judge ``matched`` by the labels of the window's articles received since ``since``.

    As the backtest does: precision over judged articles only; ``None`` without any.
    """
    tp = fp = miss = judged = 0
    for article_id, judgements in labels.items():
        relevant = judgements.get(topic_id)
        article = window.find(article_id) if relevant is not None else None
        if article is None or article.fetched_at < since:
            continue
        judged += 1
        if article_id in matched:
            tp, fp = (tp + 1, fp) if relevant else (tp, fp + 1)
        elif relevant:
            miss += 1
    return Scores(judged, tp, fp, miss) if judged else None


def day_of(article: WindowArticle) -> date:
    return article.fetched_at.astimezone(UTC).date()


def per_day(before: dict[str, WindowArticle], after: dict[str, WindowArticle],
             since: datetime, now: datetime) -> tuple[tuple[date, int, int], ...]:
    then = Counter(day_of(a) for a in before.values())
    later = Counter(day_of(a) for a in after.values())
    first, last = since.astimezone(UTC).date(), now.astimezone(UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return tuple((day, then[day], later[day]) for day in days)


@dataclass
class _Node:
    trace: GroupTrace
    children: list[_Node] = field(default_factory=list)


def reason(e: Explanation) -> str:
    """Say in one line, group by group, why an article matches or not.

    ``entity:north_korea 'Pyongyang'; entity:russia 'Moscow'; veto none[0] 'drill'; score
    0 < 1``: the hits of each group of the rule (for an ``any``, of the first member that
    fires; when none does, of the first that found something), a group that found nothing,
    an ``all`` whose members never share a window, each veto that fired, the score.
    """
    roots: list[_Node] = []
    stack: list[_Node] = []
    for trace in e.groups:
        node = _Node(trace)
        while stack and stack[-1].trace.depth >= trace.depth:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    parts: list[str] = []
    for root in roots:
        if root.trace.veto:
            if root.trace.fired_in:
                hits = [h for n in _walk(root) for h in n.trace.hits]
                parts.append(f"veto {root.trace.label}" + (f" {hits[0].matched!r}"
                                                            if hits else ""))
        else:
            parts += _said(root)
    parts.append(f"score {e.score:g} {'>=' if e.matched else '<'} {e.threshold:g}")
    line = "; ".join(dict.fromkeys(parts))
    return line if len(line) <= 300 else line[:297] + "..."


def _walk(node: _Node) -> list[_Node]:
    return [node, *(n for child in node.children for n in _walk(child))]


def _said(node: _Node) -> list[str]:
    trace = node.trace
    if trace.kind in ("terms", "entity"):
        if not trace.hits:
            return [f"{trace.label} nothing"]
        more = f" +{len(trace.hits) - 1}" if len(trace.hits) > 1 else ""
        return [f"{trace.label} {trace.hits[0].matched!r}{more}"]
    if trace.kind == "any":
        fired = [c for c in node.children if c.trace.fired_in]
        if fired:
            return _said(fired[0])
        tried = [c for c in node.children if any(n.trace.hits for n in _walk(c))]
        return [f"{trace.label} fires nowhere", *(_said(tried[0]) if tried else [])]
    parts = [p for child in node.children for p in _said(child)]
    if not trace.fired_in and node.children and all(c.trace.fired_in for c in node.children):
        parts.append(f"{trace.label}: never in one {trace.within}")
    return parts
