"""The rule editor's backtest: which articles of the window one version of a watch topic matches.

In: a :class:`~monitor.console.window.Window`, a compiled watch topic (:class:`Rule`) and a
date to look back to. Out: per window segment, which articles count (:class:`Outcome`), from
which matches under any ``threshold`` and ``title_weight`` follow. It never writes anything
and never decides a match differently from :class:`~monitor.tagging.match.Matcher`: every
article it does not copy from an earlier result is evaluated by the tagging package's own
:class:`~monitor.tagging.evaluate.Evaluation` (``tests/console/test_editor.py`` holds both
to the same answers).

Three things keep an edit's backtest cheap:

1. only the window's candidates are evaluated (:meth:`Window.candidates
   <monitor.console.window.Window.candidates>`: the articles whose words can make the rule
   fire);
2. what counts is kept per article as (any window counts, the title counts, text windows
   counted), cached per segment and *rule key*: the hash of the ``match`` section and the
   entities. ``threshold`` and ``title_weight`` only weigh those, so editing them, a
   comment or an example costs nothing;
3. an edit that keeps the rule's shape (the tree of groups, their ``within`` and
   ``at_least``, the entities) and only adds or removes terms or vetoes changes nothing in
   an article where none of those terms can occur, and an edit that only adds vetoes
   changes nothing where nothing counted: such articles take the outcome of a version
   evaluated before (:func:`changed_terms`), and only the others are evaluated.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from monitor.console.window import Mask, Positions, Segment, Window
from monitor.tagging.evaluate import Evaluation
from monitor.tagging.index import Index
from monitor.tagging.results import TopicMatch
from monitor.tagging.rules import Group, Term, WatchTopic
from monitor.tagging.scan import Scan
from monitor.tagging.windows import ArticleWindows

#: Outcomes kept, per window segment and rule key (about 5 bytes an article each).
OUTCOME_CACHE = 256

Shape = tuple[object, ...]


@dataclass(frozen=True)
class Rule:
    """One version of a watch topic, compiled alone (``index`` holds only it)."""

    topic: WatchTopic
    index: Index
    key: str
    #: What the entities were compiled from: outcomes are shared only between equal ones.
    entities: object = ()


@dataclass
class Outcome:
    """One rule key over one segment: per position, whether it was evaluated (``done``),
    whether some window counts (``good``), whether the title counts, and how many text
    windows count."""

    done: Mask
    good: Mask
    title: Mask
    text: npt.NDArray[np.int32]

    @classmethod
    def empty(cls, size: int) -> Outcome:
        return cls(np.zeros(size, dtype=np.bool_), np.zeros(size, dtype=np.bool_),
                   np.zeros(size, dtype=np.bool_), np.zeros(size, dtype=np.int32))

    def matched(self, topic: WatchTopic) -> Mask:
        """Positions the topic matches with its ``threshold`` and ``title_weight``."""
        score = self.text + np.where(self.title, topic.title_weight, 0.0)
        mask: Mask = self.good & (score >= topic.threshold)
        return mask


@dataclass
class Matched:
    """A backtest's answer: per segment, the positions matched; and how many articles
    were candidates and how many were evaluated (the rest came from caches)."""

    positions: list[tuple[Segment, Positions]]
    candidates: int = 0
    evaluated: int = 0


def evaluate(index: Index, topic: WatchTopic, title: str, text: str) -> tuple[bool, int] | None:
    """What counts in one article: ``None`` when no window does, else whether the title
    counts and how many text windows count (what :meth:`Evaluation.counted
    <monitor.tagging.evaluate.Evaluation.counted>` says)."""
    evaluation = _evaluation(index, topic, title, text)
    if evaluation is None:
        return None
    good, score = evaluation.counted()
    if not good:
        return None
    cut = evaluation.windows(topic.within)
    title_counts = any(cut.is_title(w) for w in good)
    return title_counts, round(score - (topic.title_weight if title_counts else 0.0))


def match_one(index: Index, topic: WatchTopic, title: str, text: str) -> TopicMatch | None:
    """The match of one watch topic, with its evidence, as ``Matcher.match`` gives it.

    For an index of this topic alone: there, ``Matcher.match`` can fail, because its
    candidate table reads out of bounds when a watch topic needs three groups or more,
    only its last one fired, and fewer groups fired in all than it needs less one.
    """
    evaluation = _evaluation(index, topic, title, text)
    return None if evaluation is None else evaluation.result()


def _evaluation(index: Index, topic: WatchTopic, title: str, text: str) -> Evaluation | None:
    """The evaluation of one article, or ``None`` when a cheap check already rules it out.

    The check is :meth:`Scan.anywhere <monitor.tagging.scan.Scan.anywhere>` (every group
    the rule needs has a hit somewhere), a necessary condition of any window counting;
    what counts is :class:`Evaluation`'s answer alone.
    """
    scan = Scan(index, title, text)
    if not scan.fired or not scan.anywhere(topic.rule):
        return None
    return Evaluation(scan, ArticleWindows(scan.fields), topic)


# --- what an edit changed ----------------------------------------------------------------------


def _shape(group: Group) -> Shape:
    within = str(group.within) if group.within is not None else ""
    if group.kind == "terms":
        return ("terms", within, group.at_least)
    if group.kind == "entity":
        return ("entity", group.entity.id if group.entity else "", within)
    return (group.kind, within, group.at_least, tuple(_shape(c) for c in group.children))


def _content(group: Group) -> Shape:
    """A veto group whole: its shape and every term, in order."""
    return (_shape(group), tuple(tuple(t.written for t in g.terms) for g in group.walk()))


def _all_terms(group: Group) -> list[Term]:
    return [t for g in group.walk()
            for t in (g.terms or (g.entity.names if g.entity is not None else ()))]


@dataclass(frozen=True)
class Change:
    """What an edit changed that matters to matching (see :func:`changed_terms`).

    ``terms``: an article holding none of them counts the same windows under both versions.
    ``narrowing``: the edit only added vetoes, so it can only stop windows from counting:
    an article in which nothing counted before still has nothing.
    """

    terms: tuple[Term, ...]
    narrowing: bool


def changed_terms(before: WatchTopic, after: WatchTopic) -> Change | None:
    """What ``after`` changed from ``before``; ``None`` when the rules differ in shape
    (then any article may differ).

    Rules, for two versions of equal shape (same ``within``, same tree of groups with the
    same ``within``, ``at_least`` and entities; entities themselves compiled alike):

    - a term group's terms: those only one version has; every term of the group when the
      terms both have are in another order (an occurrence two terms find counts for the
      first, so order can matter when ``at_least`` counts distinct terms);
    - vetoes: compared as a set of whole groups; every term of a veto only one version has
      (vetoes only ever remove windows, in any order).

    In an article holding none of these terms, every group finds the same hits under both
    versions, so the same windows count. Adding vetoes only removes windows from those that
    count; the score, a count of windows (non-overlapping ones for runs of words), cannot
    grow.
    """
    if (str(before.within), _shape(before.rule)) != (str(after.within), _shape(after.rule)):
        return None
    out: list[Term] = []
    leaves = zip((g for g in before.rule.walk() if g.kind == "terms"),
                 (g for g in after.rule.walk() if g.kind == "terms"), strict=True)
    for old, new in leaves:
        written_old = [t.written for t in old.terms]
        written_new = [t.written for t in new.terms]
        if written_old == written_new:
            continue
        kept_old = [w for w in written_old if w in set(written_new)]
        kept_new = [w for w in written_new if w in set(written_old)]
        if kept_old != kept_new:
            out += [*old.terms, *new.terms]
            continue
        only_old = Counter(written_old) - Counter(written_new)
        only_new = Counter(written_new) - Counter(written_old)
        out += [t for t in old.terms if t.written in only_old]
        out += [t for t in new.terms if t.written in only_new]
    in_rule = bool(out)
    vetoes_old = {_content(v) for v in before.none}
    vetoes_new = {_content(v) for v in after.none}
    removed = [t for v in before.none if _content(v) not in vetoes_new for t in _all_terms(v)]
    out += removed
    out += [t for v in after.none if _content(v) not in vetoes_old for t in _all_terms(v)]
    return Change(tuple(out), narrowing=not in_rule and not removed)


# --- the backtest ------------------------------------------------------------------------------


class Backtester:
    """Backtest rules over a window, remembering outcomes per segment and rule key."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self._outcomes: OrderedDict[tuple[int, str], Outcome] = OrderedDict()
        self._possible: OrderedDict[tuple[int, str], Mask] = OrderedDict()

    def run(self, rule: Rule, since: datetime, bases: Sequence[Rule] = ()) -> Matched:
        """The articles fetched since ``since`` that ``rule`` matches.

        ``bases``: versions evaluated before, best first; an article ``rule`` would evaluate
        takes a base's outcome when the base knows it and no changed term can occur in it.
        """
        comparable = [(base, change) for base in bases
                      if base.key != rule.key and base.entities == rule.entities
                      and (change := changed_terms(base.topic, rule.topic)) is not None]
        comparable.sort(key=lambda pair: len(pair[1].terms))
        out = Matched([])
        for segment in self.window.segments:
            positions = np.flatnonzero(self.possible(segment, rule)
                                       & self.window.in_window(segment, since)).astype(np.int32)
            out.candidates += len(positions)
            outcome = self.outcome(segment, rule.key)
            todo = positions[~outcome.done[positions]]
            for base, change in comparable:
                if not len(todo):
                    break
                todo = self._copy(segment, outcome, base, change, todo)
            out.evaluated += len(todo)
            self._evaluate(segment, outcome, rule, todo)
            matched = positions[outcome.matched(rule.topic)[positions]]
            out.positions.append((segment, matched))
        return out

    def _copy(self, segment: Segment, outcome: Outcome, base: Rule, change: Change,
              todo: Positions) -> Positions:
        """Take ``base``'s outcome where it is known and cannot differ; return the rest."""
        known = self._outcomes.get((segment.serial, base.key))
        if known is None:
            return todo
        # Not a candidate of the base: its rule fires nowhere there, so nothing counts.
        knows = known.done[todo] | ~self.possible(segment, base)[todo]
        same = ~segment.holding(change.terms)[todo]
        if change.narrowing:
            same |= ~known.good[todo]
        copy = todo[knows & same]
        outcome.good[copy] = known.good[copy]
        outcome.title[copy] = known.title[copy]
        outcome.text[copy] = known.text[copy]
        outcome.done[copy] = True
        return todo[~outcome.done[todo]]

    def _evaluate(self, segment: Segment, outcome: Outcome, rule: Rule,
                  todo: Positions) -> None:
        articles = segment.articles
        index, topic = rule.index, rule.topic
        for position in todo.tolist():
            article = articles[position]
            found = evaluate(index, topic, article.title, article.text)
            if found is not None:
                outcome.good[position] = True
                outcome.title[position], outcome.text[position] = found
        outcome.done[todo] = True

    def possible(self, segment: Segment, rule: Rule) -> Mask:
        """The segment's articles the rule can fire in (kept per rule key)."""
        cache_key = (segment.serial, rule.key)
        found = self._possible.get(cache_key)
        if found is None:
            found = self._possible[cache_key] = segment.possible(rule.topic)
            while len(self._possible) > OUTCOME_CACHE:
                self._possible.popitem(last=False)
        else:
            self._possible.move_to_end(cache_key)
        return found

    def outcome(self, segment: Segment, key: str) -> Outcome:
        """The outcome of ``key`` over ``segment`` so far (created empty)."""
        cache_key = (segment.serial, key)
        found = self._outcomes.get(cache_key)
        if found is None:
            found = self._outcomes[cache_key] = Outcome.empty(len(segment))
            while len(self._outcomes) > OUTCOME_CACHE:
                self._outcomes.popitem(last=False)
        else:
            self._outcomes.move_to_end(cache_key)
        return found
