"""Match one article against every watch topic at once, with the evidence for each match.

In: an article's title and text (and its language, if known). Out: a list of
:class:`TopicMatch`, best first, each with the terms that fired as written in the article and
the sentences that satisfied the rule. Pure computation: no I/O, no clock, no logging of text.

How, and why it is fast: every pattern of every term of every watch topic sits in one
Aho-Corasick automaton, run once over each normalized field, so the cost grows with the
article, not with the number of watch topics. Only watch topics each of whose required groups
has a term that fired somewhere are candidates (:meth:`Matcher._candidates`, C-level set work,
no Python loop per hit or per probe). For the common rule shape (every required group a term
list or an entity, sentence or paragraph windows) a candidate is then kept only if one
paragraph, then one sentence, holds a hit of each group (:meth:`_Article.together`: bisection
of hit offsets, window sets as int bits), which rejects nearly all of them before the full,
exact evaluation; other shapes go straight to it. Both steps are necessary conditions only:
what matches, its score and evidence come from :class:`_Evaluation` alone.

Rule semantics, in order:

- the title is its own window (sentence, paragraph, run of words) and never combines with the
  text; an ``article`` window is the title and the text together;
- a group with its own ``within`` fires in a window when it fires in an overlapping window of
  its own kind (``article`` and ``title``: anywhere in that scope);
- a window counts when the rule fires in it and no veto (``none``) does; a veto with
  ``within: article`` or ``title`` rejects the whole article;
- score = ``title_weight`` if the title counts, plus 1 for each text window that counts
  (runs of N words: non-overlapping ones; windows that hold the rule only through a group
  with a coarser ``within``: once per paragraph); a watch topic matches when
  score >= ``threshold``;
- results are ordered by score, highest first, then by watch topic id.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, compress
from operator import itemgetter
from pathlib import Path
from typing import Any

import ahocorasick

from monitor.tagging.rules import Entity, Group, Term, WatchTopic, Within, load_rules
from monitor.tagging.text import Normalized, normalize, paragraphs, script_class, sentences

FIELDS = ("title", "text")
TITLE, TEXT = 0, 1
MAX_EVIDENCE = 50
MAX_SENTENCES = 10

# An automaton entry that needs checking when its key is found: probe id, the regex for the
# rest of the term (inner wildcards), the number of leading capitals (acronyms).
_Entry = tuple[int, Any, int]
# One occurrence in normalized text: field, start, end (boundary spaces excluded).
_Hit = tuple[int, int, int]
# The scan records where each probe's key ended as one int, the field included: the end in
# the text, or the end in the title less FIELD_SHIFT (a negative number). Positions are
# worked out only for the probes a candidate watch topic looks at.
FIELD_SHIFT = 1 << 40

# The automaton is split by the script of each key's first non-ASCII letter, and only the
# automata of scripts present in a text run over it. A key holds a letter of its script, so a
# text without that script cannot contain it. This matters because one automaton for all
# languages is slow on every text: after a space, the next letter is looked up among the first
# letters of every word of every script (over 2,000 keys of the shipped watch topics start
# with a space and a non-ASCII letter), which made an English text 8 times slower to scan.
# "other" (Greek, Hebrew, Thai ...) runs over every non-ASCII text.
_SCRIPT_PATTERNS: dict[str, re.Pattern[str]] = {
    "latin": re.compile("[\u0080-\u024f\u1e00-\u1eff]"),
    "cyrillic": re.compile("[\u0400-\u052f]"),
    "arabic": re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufeff]"),
    "hangul": re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"),
    "cjk": re.compile("[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]"),
}


def _script_of(key: str) -> str:
    """``"ascii"``, or the name of the script of the first non-ASCII letter of ``key``."""
    for ch in key:
        if not ch.isascii():
            for name, pattern in _SCRIPT_PATTERNS.items():
                if pattern.match(ch):
                    return name
            return "other"
    return "ascii"
_VALUE = itemgetter(1)
_VALUE_THEN_END = itemgetter(1, 0)
SENTENCE, PARAGRAPH = Within("sentence"), Within("paragraph")
# A leaf id that is always in the set of leaves that fired: "nothing else needed".
_ALWAYS = -1


@dataclass(frozen=True)
class Evidence:
    """One term found in the article: which group and term, and the text as written."""

    group: str
    term: str
    matched: str
    field: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "term": self.term, "matched": self.matched,
                "field": self.field, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class TopicMatch:
    """An article that satisfied one watch topic."""

    topic_id: str
    title: str
    severity: str
    score: float
    evidence: tuple[Evidence, ...]
    sentences: tuple[tuple[str, int, int, str], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-able data."""
        return {"topic_id": self.topic_id, "title": self.title, "severity": self.severity,
                "score": self.score, "evidence": [e.to_dict() for e in self.evidence],
                "sentences": [{"field": f, "start": s, "end": e, "text": t}
                              for f, s, e, t in self.sentences]}


@dataclass
class GroupTrace:
    """Why one group did or did not fire, for ``newswatch topics explain``."""

    label: str
    kind: str
    depth: int
    within: str
    fired_in: list[str]
    hits: list[Evidence]
    veto: bool = False
    note: str = ""


@dataclass
class Explanation:
    """The whole reasoning for one watch topic and one article."""

    topic_id: str
    within: str
    threshold: float
    title_weight: float
    score: float
    matched: bool
    groups: list[GroupTrace] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)
    vetoed: list[str] = field(default_factory=list)
    candidate: bool = True


class Matcher:
    """Every watch topic compiled into one automaton; :meth:`match` tags one article.

    >>> matcher = Matcher.from_dir("topics")                      # doctest: +SKIP
    >>> [m.topic_id for m in matcher.match("Title", "Text ...")]   # doctest: +SKIP
    """

    def __init__(self, watch_topics: Iterable[WatchTopic],
                 entities: Mapping[str, Entity] | None = None) -> None:
        self.watch_topics: tuple[WatchTopic, ...] = tuple(sorted(watch_topics,
                                                                 key=lambda t: t.id))
        self.entities: Mapping[str, Entity] = dict(entities or {})
        self._by_id = {t.id: i for i, t in enumerate(self.watch_topics)}
        self._probe_ids: dict[tuple[str, str | None, int], int] = {}
        self._term_probes: dict[int, tuple[int, ...]] = {}
        self._entries: dict[str, list[_Entry]] = {}
        # per probe: key length, lead space, trail space, widen (1: to word end, 2: start);
        # most probes share one of a few shapes, so equal tuples are stored once.
        self._probe_shape: list[tuple[int, int, int, int]] = []
        self._shapes: dict[tuple[int, int, int, int], tuple[int, int, int, int]] = {}
        # per probe: how far a hit's start lies before its key's end (-1: not fixed, the
        # start is widened to the word's start), for the window pre-check
        self._probe_back: list[int] = []
        self._leaf_probes: dict[int, tuple[int, ...]] = {}
        # per terms group: the probes of each of its terms, in the order of ``group.terms``
        self._leaf_terms: dict[int, tuple[tuple[int, ...], ...]] = {}
        self._entity_probes: dict[str, tuple[tuple[tuple[Term, tuple[int, ...]], ...],
                                             frozenset[int]]] = {}
        # Leaves with the same probes fire alike, wherever they are used: one leaf id each.
        self._leaf_ids: dict[tuple[int, ...], int] = {}
        self._leaf_sets: list[tuple[int, ...]] = []
        # Candidates, see :meth:`_candidates`. Each required group of a rule fires only if
        # one of the leaves below it has a hit. One of those groups, the one with the fewest
        # probes (the least likely to fire), triggers the watch topic from its leaves; the
        # others are then looked up in the set of leaves that fired.
        triggers: dict[int, list[int]] = {}
        others: dict[int, list[int]] = {}
        self._rest_one: list[int] = []
        self._rest_leaves: list[frozenset[int]] = []
        self._rest_groups: list[tuple[frozenset[int], ...]] = []
        shared_rest: dict[frozenset[int], frozenset[int]] = {}
        self._simple: list[bool] = []
        self._window_leaves: list[tuple[str, tuple[int, ...]] | None] = []
        for index, topic in enumerate(self.watch_topics):
            for group in (topic.rule, *topic.none):
                for node in group.walk():
                    self._compile_leaf(node)
            children = topic.rule.children
            required = [self._leaves_below(child) for child in children]
            trigger = min(required, key=lambda leaves: sum(
                len(self._leaf_sets[leaf]) for leaf in leaves))
            rest = [leaves for leaves in required if leaves is not trigger]
            if len(rest) <= 1 and all(len(leaves) == 1 for leaves in rest):
                # The common shape (an entity and a list of terms): one leaf to look up.
                self._rest_one.append(min(rest[0]) if rest else _ALWAYS)
                for leaf in trigger:
                    triggers.setdefault(leaf, []).append(index)
            else:
                self._rest_one.append(_ALWAYS)
                for leaf in trigger:
                    others.setdefault(leaf, []).append(index)
            single = frozenset(leaf for leaves in rest if len(leaves) == 1 for leaf in leaves)
            self._rest_leaves.append(shared_rest.setdefault(single, single))
            self._rest_groups.append(tuple(leaves for leaves in rest if len(leaves) != 1))
            # Leaves only, with no distinct-count or look-alike check: the leaves say it all.
            self._simple.append(all(
                (c.kind == "terms" and c.at_least <= 1)
                or (c.kind == "entity" and c.entity is not None and not c.entity.not_names)
                for c in children))
            self._window_leaves.append(self._window_shape(topic))
        self._triggers: dict[int, tuple[int, ...]] = {
            leaf: tuple(topics) for leaf, topics in triggers.items()}
        self._other_triggers: dict[int, tuple[int, ...]] = {
            leaf: tuple(topics) for leaf, topics in others.items()}
        positive = {leaf for leaves in self._rest_leaves for leaf in leaves}
        positive |= {leaf for groups in self._rest_groups for leaves in groups
                     for leaf in leaves}
        positive |= set(triggers) | set(others)
        by_probe: dict[int, list[int]] = {}
        for leaf, probes in enumerate(self._leaf_sets):
            if leaf in positive:
                for probe in probes:
                    by_probe.setdefault(probe, []).append(leaf)
        shared: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._probe_leaves: list[tuple[int, ...]] = [
            shared.setdefault(key, key) for key in (
                tuple(by_probe.get(probe, ())) for probe in range(len(self._probe_shape)))]
        # One automaton per script: see ``_SCRIPTS``.
        automata: dict[str, Any] = {}
        self._checks: list[tuple[_Entry, ...]] = []
        for key, entries in self._entries.items():
            automaton = automata.get(_script_of(key))
            if automaton is None:
                automaton = automata[_script_of(key)] = ahocorasick.Automaton()
            # The common case, one probe without checks, is stored as the probe id; keys
            # whose hits need checking store ~index into ``_checks``, a negative number.
            if len(entries) == 1 and entries[0][1] is None and not entries[0][2]:
                automaton.add_word(key, entries[0][0])
            else:
                automaton.add_word(key, ~len(self._checks))
                self._checks.append(tuple(entries))
        for automaton in automata.values():
            automaton.make_automaton()
        self._ascii_automaton: Any = automata.pop("ascii", None)
        self._script_automata: tuple[tuple[re.Pattern[str] | None, Any], ...] = tuple(
            (_SCRIPT_PATTERNS.get(name), automaton) for name, automaton in automata.items())
        self._has_keys = self._ascii_automaton is not None or bool(self._script_automata)
        # Only needed while compiling.
        self._entries.clear()
        self._probe_ids.clear()
        self._term_probes.clear()
        self._shapes.clear()
        self._leaf_ids.clear()

    @classmethod
    def from_dir(cls, directory: str | Path) -> Matcher:
        """Load, validate and compile ``directory``; raise ``ConfigErrors`` on any mistake."""
        with _collector_paused():
            rules = load_rules(directory)
            return cls(rules.watch_topics, rules.entities)

    # --- compilation ------------------------------------------------------------------------

    def _probes(self, term: Term) -> tuple[int, ...]:
        # ``compile_term`` returns one tuple of patterns per distinct term, however many
        # watch topics list it, so its identity is the cache key (the terms keep it alive).
        cached = self._term_probes.get(id(term.patterns))
        if cached is not None:
            return cached
        out = []
        for pattern in term.patterns:
            rest = pattern.rest.pattern if pattern.rest is not None else None
            ident = (pattern.key, rest, pattern.caps)
            probe = self._probe_ids.get(ident)
            if probe is None:
                probe = self._probe_ids[ident] = len(self._probe_shape)
                key = pattern.key
                trail = 1 if pattern.rest is None and key.endswith(" ") else 0
                # Evidence quotes whole words: "munition*" shows "munitions", not "munition".
                widen = (1 if not key.endswith(" ") and script_class(key[-1]) != "cjk" else 0) | (
                    2 if not key.startswith(" ") and script_class(key[0]) != "cjk" else 0)
                shape = (len(key), pattern.lead, trail, widen)
                self._probe_shape.append(self._shapes.setdefault(shape, shape))
                self._probe_back.append(-1 if widen & 2 else len(key) - 1 - pattern.lead)
                self._entries.setdefault(key, []).append((probe, pattern.rest, pattern.caps))
            out.append(probe)
        probes = tuple(dict.fromkeys(out))
        self._term_probes[id(term.patterns)] = probes
        return probes

    def _compile_leaf(self, group: Group) -> None:
        if group.kind == "terms":
            per_term = tuple(self._probes(t) for t in group.terms)
            self._leaf_terms[id(group)] = per_term
            self._leaf_probes[id(group)] = self._leaf_set(p for ps in per_term for p in ps)
        elif group.kind == "entity" and group.entity is not None:
            entity = group.entity
            if entity.id not in self._entity_probes:
                names = tuple((t, self._probes(t)) for t in entity.names)
                vetoes = frozenset(p for t in entity.not_names for p in self._probes(t))
                self._entity_probes[entity.id] = (names, vetoes)
            names = self._entity_probes[entity.id][0]
            self._leaf_probes[id(group)] = self._leaf_set(p for _, ps in names for p in ps)

    def _leaf_set(self, probes: Iterable[int]) -> tuple[int, ...]:
        """The one shared tuple of these probes, with a leaf id of its own.

        A tuple, not a frozenset: it is only iterated or passed to ``isdisjoint``, and at
        10,000 watch topics the hash tables of frozensets would take tens of megabytes.
        """
        key = tuple(sorted(set(probes)))
        leaf = self._leaf_ids.setdefault(key, len(self._leaf_sets))
        if leaf == len(self._leaf_sets):
            self._leaf_sets.append(key)
        return self._leaf_sets[leaf]

    def _leaf_of(self, group: Group) -> int | None:
        probes = self._leaf_probes.get(id(group))
        return None if probes is None else self._leaf_ids[probes]

    def _leaves_below(self, group: Group) -> frozenset[int]:
        return frozenset(leaf for leaf in map(self._leaf_of, group.walk()) if leaf is not None)

    def _window_shape(self, topic: WatchTopic) -> tuple[str, tuple[int, ...]] | None:
        """The leaves that must all fire in one window, for the common shape of rule.

        That shape: sentence or paragraph windows, and every required group a term list or
        an entity without a window of its own. Then a window can count only if each leaf has
        a hit in it, whatever its ``at_least`` or look-alikes say, so a watch topic with no
        such window is rejected before it is evaluated. Other shapes return ``None``.
        """
        kind = topic.within.kind
        if kind not in ("sentence", "paragraph"):
            return None
        leaves = []
        for child in topic.rule.children:
            leaf = self._leaf_of(child)
            if leaf is None or (child.within is not None and child.within != topic.within):
                return None
            leaves.append(leaf)
        return kind, tuple(leaves)

    # --- matching ---------------------------------------------------------------------------

    def match(self, title: str, text: str, language: str | None = None) -> list[TopicMatch]:
        """Return the watch topics this article matches, best first (score, then id).

        ``language`` is accepted for callers that know it; terms of every language apply to
        every article, because names cross languages (``Pyongyang`` in a German text).
        """
        article = _Article(self, title, text)
        if not article.hits:
            return []
        simple, shapes = self._simple, self._window_leaves
        out = []
        for index in self._candidates(article.hits):
            topic = self.watch_topics[index]
            shape = shapes[index]
            if shape is not None:
                kind, leaves = shape
                # Sentences never cross paragraphs, and paragraphs are much cheaper to cut:
                # most sentence-window candidates are rejected before sentences are cut.
                if not article.together(leaves, "paragraph") or (
                        kind == "sentence" and not article.together(leaves, kind)):
                    continue
            elif not simple[index] and not article.anywhere(topic.rule):
                continue
            found = _Evaluation(article, topic).result()
            if found is not None:
                out.append(found)
        out.sort(key=lambda m: (-m.score, m.topic_id))
        return out

    def _candidates(self, fired: Iterable[int]) -> list[int]:
        """The watch topics each of whose required groups has a leaf with a probe that fired.

        Everything per probe, per leaf and per watch topic of the common shape runs in C
        (set union, ``chain``, ``compress`` over bound methods): an article fires hundreds
        of probes and, at 10,000 watch topics, triggers hundreds of them. Each triggered
        watch topic of the common shape needs one more leaf; other shapes are tested here.
        """
        leaves = set().union(*map(self._probe_leaves.__getitem__, fired))
        # Far fewer leaves trigger than fire; the intersection walks the smaller set.
        triggered = list(chain.from_iterable(map(self._triggers.__getitem__,
                                                 leaves.intersection(self._triggers))))
        leaves.add(_ALWAYS)
        out = list(compress(triggered, map(leaves.__contains__,
                                           map(self._rest_one.__getitem__, triggered))))
        if self._other_triggers:
            rest_leaves, rest_groups = self._rest_leaves, self._rest_groups
            out += [index for leaf in leaves.intersection(self._other_triggers)
                    for index in self._other_triggers[leaf]
                    if rest_leaves[index] <= leaves
                    and all(not group.isdisjoint(leaves) for group in rest_groups[index])]
        # A watch topic whose triggering group has several leaves may come more than once.
        return list(dict.fromkeys(out)) if len(out) > 1 else out

    def explain(self, topic_id: str, title: str, text: str,
                language: str | None = None) -> Explanation:
        """Say group by group why the article does or does not match ``topic_id``.

        Raise :class:`KeyError` for an unknown watch topic.
        """
        topic = self.watch_topics[self._by_id[topic_id]]
        article = _Article(self, title, text)
        evaluation = _Evaluation(article, topic)
        return evaluation.explain(candidate=article.anywhere(topic.rule))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Building 10,000 watch topics allocates millions of objects; every allocation burst would
    trigger a full collection that walks them all again, which more than doubles build time.
    Reference counting still frees what is dropped; cycles are collected afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Article:
    """One article being matched: its normalized fields, hits, and lazily cut windows."""

    def __init__(self, matcher: Matcher, title: str, text: str) -> None:
        self.matcher = matcher
        self.fields = (normalize(title), normalize(text))
        # probe -> index of its last hit in ``_values`` (sorted) and ``_raws`` (its ends)
        self.hits: dict[int, int] = {}
        self._raws: tuple[int, ...] = ()
        self._values: tuple[int, ...] = ()
        self._stops: dict[tuple[int, int], int] = {}
        self._positions: dict[int, list[_Hit]] = {}
        self._entity_hits: dict[str, list[tuple[Term, _Hit]]] = {}
        self._windows: dict[str, _Windows] = {}
        self._paragraphs: list[tuple[int, int]] | None = None
        self._leaf_windows: dict[tuple[int, str], int] = {}
        if matcher._has_keys:
            self._scan()

    def _scan(self) -> None:
        """Run the automaton over both fields and index the hits by probe.

        An article has hundreds of hits, so no Python code runs per hit: the hits are sorted
        by probe (a stable sort keeps each probe's hits in text order), and a dict built
        from the sorted probe ids keeps, for each, the index of its last hit; its first is
        found by bisection. Only keys whose hits need a check (inner wildcards, capitals)
        are looked at one by one; their ids are negative, so they sort first.
        """
        title, text = self.fields
        found = [(end - FIELD_SHIFT, value) for end, value in self._iter(title.text)]
        found += self._iter(text.text)
        if not found:
            return
        found.sort(key=_VALUE)
        if found[0][1] < 0:
            found = self._checked(found)
            if not found:
                return
        raws, values = zip(*found, strict=True)
        self._raws, self._values = raws, values
        self.hits = dict(zip(values, range(len(values)), strict=True))

    def _iter(self, text: str) -> list[tuple[int, int]]:
        """(end, value) of every key in ``text``, from the automata of the scripts it has."""
        matcher = self.matcher
        out = list(matcher._ascii_automaton.iter(text)) if matcher._ascii_automaton else []
        if not text.isascii():
            for pattern, automaton in matcher._script_automata:
                if pattern is None or pattern.search(text):
                    out += automaton.iter(text)
        return out

    def _checked(self, found: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``found`` with each hit that needs a check replaced by the probes that pass it."""
        out = []
        for raw, value in found:
            if value >= 0:
                out.append((raw, value))
                continue
            norm = self.fields[TITLE if raw < 0 else TEXT]
            end = raw + FIELD_SHIFT if raw < 0 else raw
            for probe, rest, caps in self.matcher._checks[~value]:
                length, lead, trail, _ = self.matcher._probe_shape[probe]
                start = end - length + 1
                stop = end + 1 - trail
                if rest is not None:
                    matched = rest.match(norm.text, start)
                    if matched is None:
                        continue
                    stop = matched.end()
                    self._stops[(probe, raw)] = stop
                if caps and not _capitals(norm, start + lead, stop, caps):
                    continue
                out.append((raw, probe))
        out.sort(key=_VALUE_THEN_END)
        return out

    def raws(self, probe: int) -> tuple[int, ...]:
        """Where a probe's key ended, field included (see ``FIELD_SHIFT``), in text order."""
        last = self.hits.get(probe)
        if last is None:
            return ()
        values = self._values
        if not last or values[last - 1] != probe:
            return self._raws[last:last + 1]
        return self._raws[bisect_left(values, probe, 0, last):last + 1]

    def together(self, leaves: Iterable[int], kind: str) -> bool:
        """Whether one sentence or paragraph (or the title) holds a hit of every leaf."""
        mask = -1
        for leaf in leaves:
            mask &= self.leaf_windows(leaf, kind)
            if not mask:
                return False
        return True

    def leaf_windows(self, leaf: int, kind: str) -> int:
        """The sentences or paragraphs holding a hit of ``leaf``, as bits (bit 0: the title).

        The bits are those :meth:`_Windows.of` gives the leaf's hits; -1 (every window) for
        a leaf whose hits start where only :meth:`positions` can tell.
        """
        key = (leaf, kind)
        mask = self._leaf_windows.get(key)
        if mask is not None:
            return mask
        starts = self.windows(SENTENCE if kind == "sentence" else PARAGRAPH)._starts
        back = self.matcher._probe_back
        hits = self.hits
        mask = 0
        for probe in self.matcher._leaf_sets[leaf]:
            if probe not in hits:
                continue
            offset = back[probe]
            if offset < 0:
                mask = -1
                break
            for raw in self.raws(probe):
                if raw < 0:
                    mask |= 1
                else:
                    window = bisect_right(starts, raw - offset)
                    if window:
                        mask |= 1 << window
        self._leaf_windows[key] = mask
        return mask

    def positions(self, probe: int) -> list[_Hit]:
        """Where a probe fired: (field, start, end) in normalized offsets, in text order."""
        found = self._positions.get(probe)
        if found is not None:
            return found
        length, lead, trail, widen = self.matcher._probe_shape[probe]
        out = []
        for raw in self.raws(probe):
            index, end = (TITLE, raw + FIELD_SHIFT) if raw < 0 else (TEXT, raw)
            start = end - length + 1 + lead
            stop = self._stops.get((probe, raw), end + 1 - trail)
            if widen:
                text = self.fields[index].text
                if widen & 1:
                    stop = text.find(" ", stop)
                if widen & 2:
                    start = text.rfind(" ", 0, start) + 1
            out.append((index, start, stop))
        self._positions[probe] = out
        return out

    def entity_hits(self, entity: Entity) -> list[tuple[Term, _Hit]]:
        """The entity's names found in the article, less those inside one of its ``not``."""
        found = self._entity_hits.get(entity.id)
        if found is not None:
            return found
        names, vetoes = self.matcher._entity_probes[entity.id]
        hits = self.hits
        out = [(term, hit) for term, probes in names for p in probes if p in hits
               for hit in self.positions(p)]
        if out and vetoes:
            blocked = [h for p in vetoes if p in hits for h in self.positions(p)]
            out = [(t, h) for t, h in out
                   if not any(b[0] == h[0] and b[1] < h[2] and h[1] < b[2] for b in blocked)]
        self._entity_hits[entity.id] = out
        return out

    def anywhere(self, group: Group) -> bool:
        """Whether ``group`` could fire in some window: a cheap necessary condition."""
        kind = group.kind
        if kind == "terms":
            probes = self.matcher._leaf_probes[id(group)]
            if self.hits.keys().isdisjoint(probes):
                return False
            if group.at_least <= 1:
                return True
            per_term = self.matcher._leaf_terms[id(group)]
            return sum(1 for ps in per_term if any(p in self.hits for p in ps)) >= group.at_least
        if kind == "entity":
            assert group.entity is not None
            if self.hits.keys().isdisjoint(self.matcher._leaf_probes[id(group)]):
                return False
            return bool(self.entity_hits(group.entity))
        if kind == "all":
            return all(self.anywhere(child) for child in group.children)
        return sum(1 for child in group.children if self.anywhere(child)) >= group.at_least

    def leaf_hits(self, group: Group) -> list[tuple[Term, _Hit]]:
        """Every occurrence of a ``terms`` or ``entity`` group, in text order."""
        if group.kind == "entity":
            assert group.entity is not None
            found = self.entity_hits(group.entity)
        else:
            hits = self.hits
            found = [(term, hit) for term, probes in zip(
                         group.terms, self.matcher._leaf_terms[id(group)], strict=True)
                     for p in probes if p in hits for hit in self.positions(p)]
        # One occurrence found by two terms (the same word listed for two languages) counts
        # once, for the first term.
        unique = dict(reversed([(hit, term) for term, hit in found]))
        return sorted(((term, hit) for hit, term in unique.items()), key=lambda th: th[1])

    def paragraphs(self) -> list[tuple[int, int]]:
        if self._paragraphs is None:
            self._paragraphs = paragraphs(self.fields[TEXT].original)
        return self._paragraphs

    def windows(self, within: Within) -> _Windows:
        key = str(within)
        found = self._windows.get(key)
        if found is None:
            found = self._windows[key] = _Windows(self, within)
        return found

    def original(self, hit: _Hit) -> tuple[int, int]:
        norm = self.fields[hit[0]]
        return norm.to_original(hit[1]), norm.to_original(hit[2], end=True)


def _capitals(norm: Normalized, start: int, stop: int, caps: int) -> bool:
    """Whether the first ``caps`` letters of the match are capitals in the original text."""
    begin, end = norm.to_original(start), norm.to_original(stop, end=True)
    letters = [c for c in norm.original[begin:end] if c.isalpha()][:caps]
    return len(letters) == caps and all(c.isupper() for c in letters)


class _Windows:
    """The windows of one kind in one article, in normalized offsets.

    ``article``: window 0 is the title, 1 the whole article (both fields). ``sentence`` and
    ``paragraph``: 0 is the title, 1.. the text's. ``title``: only 0. ``words``: runs of N
    words, one starting at each word where a term of the watch topic fired, in either field.
    """

    def __init__(self, article: _Article, within: Within) -> None:
        self.article = article
        self.within = within
        self.kind = within.kind
        # (field or -1 for both, start, end) in normalized offsets, for each window id
        title = article.fields[TITLE]
        self.spans: list[tuple[int, int, int]] = [(TITLE, 0, len(title.text))]
        self.original: list[tuple[int, int, int]] = [(TITLE, 0, len(title.original))]
        self._starts: list[int] = []
        if self.kind == "article":
            self.spans.append((-1, 0, len(article.fields[TEXT].text)))
            self.original.append((-1, 0, len(article.fields[TEXT].original)))
        elif self.kind in ("sentence", "paragraph"):
            norm = article.fields[TEXT]
            cut = article.paragraphs()
            if self.kind == "sentence":
                cut = sentences(norm.original, cut)
            # Windows tile the text, so each one ends where the next starts: mapping the
            # starts alone halves the cost.
            self._starts = norm.starts_to_normalized([start for start, _ in cut])
            ends = [*self._starts[1:], len(norm.text)] if self._starts else []
            self.spans += [(TEXT, a, b) for a, b in zip(self._starts, ends, strict=True)]
            self.original += [(TEXT, start, end) for start, end in cut]
        self._anchors: list[tuple[int, int]] = []

    def set_anchors(self, hits: Iterable[_Hit]) -> None:
        """For ``words`` windows: one window per distinct (field, word) where a hit starts."""
        anchors = sorted({(h[0], self.word(h[0], h[1])) for h in hits})
        self._anchors = anchors
        size = self.within.words
        self.spans, self.original = [], []
        for fld, word in anchors:
            norm = self.article.fields[fld]
            start = self._word_start(fld, word)
            end = self._word_start(fld, word + size) - 1
            self.spans.append((fld, start, max(start, end)))
            self.original.append((fld, norm.to_original(start),
                                  norm.to_original(max(start, end), end=True)))

    def word(self, fld: int, offset: int) -> int:
        return self.article.fields[fld].text.count(" ", 0, offset)

    def _word_start(self, fld: int, word: int) -> int:
        text = self.article.fields[fld].text
        pos = 0
        for _ in range(word):
            pos = text.find(" ", pos) + 1
            if pos <= 0:
                return len(text)
        return pos

    def of(self, hit: _Hit) -> tuple[int, ...] | range:
        """The ids of the windows holding a hit."""
        fld, start = hit[0], hit[1]
        kind = self.kind
        if fld == TEXT and (kind == "sentence" or kind == "paragraph"):
            i = bisect_right(self._starts, start)
            return (i,) if i else ()
        if kind == "words":
            word = self.word(fld, start)
            lo = bisect_left(self._anchors, (fld, word - self.within.words + 1))
            return range(lo, bisect_right(self._anchors, (fld, word)))
        if fld == TITLE:
            return (0, 1) if kind == "article" else (0,)
        return (1,) if kind == "article" else ()

    def is_title(self, window: int) -> bool:
        return self.spans[window][0] == TITLE

    def describe(self, window: int) -> str:
        fld, start, end = self.original[window]
        source = self.article.fields[TITLE if fld == TITLE else TEXT].original
        quote = source[start:end]
        if fld == -1:
            return "article"
        if len(quote) > 120:
            quote = quote[:117] + "..."
        name = "title" if fld == TITLE else (
            f"{self.kind} {window}" if self.kind != "words" else f"{self.within} from "
            f"offset {start}")
        return f"{name}: {quote!r}"


#: How coarse each window kind is, for the groups that set their own ``within``.
_RANK = {"sentence": 1, "paragraph": 2, "article": 3}


def _coarser_inside(group: Group, within: Within) -> bool:
    """Whether a group under ``group`` sets a coarser ``within`` than ``within``."""
    return any(node.within is not None
               and _RANK.get(node.within.kind, 0) > _RANK.get(within.kind, 0)
               for node in group.walk())


def _overlap(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    if a[0] == -1 or b[0] == -1:
        return True
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


class _Evaluation:
    """One watch topic against one article: window sets, score, evidence."""

    def __init__(self, article: _Article, topic: WatchTopic) -> None:
        self.article = article
        self.topic = topic
        self.leaf_hits: dict[int, list[tuple[Term, _Hit]]] = {}
        self.sets: dict[tuple[int, str, bool], set[int]] = {}
        self._local = False
        self._universe: dict[str, set[int]] = {}
        self._leaves: list[tuple[Group, Within]] = []
        self._collect(topic.rule, topic.within, self._leaves)
        self._positive_hits: list[_Hit] | None = None

    @property
    def _positive(self) -> list[_Hit]:
        """Every hit of the rule's terms and entities (not of its vetoes)."""
        if self._positive_hits is None:
            self._positive_hits = [h for g, _ in self._leaves for _, h in self._hits(g)]
        return self._positive_hits

    def _collect(self, group: Group, within: Within, out: list[tuple[Group, Within]]) -> None:
        within = group.within or within
        if group.kind in ("terms", "entity"):
            out.append((group, within))
        for child in group.children:
            self._collect(child, within, out)

    def _hits(self, group: Group) -> list[tuple[Term, _Hit]]:
        found = self.leaf_hits.get(id(group))
        if found is None:
            found = self.leaf_hits[id(group)] = self.article.leaf_hits(group)
        return found

    def windows(self, within: Within) -> _Windows:
        if within.kind != "words":
            return self.article.windows(within)
        key = f"{self.topic.id}/{within}"
        found = self.article._windows.get(key)
        if found is None:
            found = self.article._windows[key] = _Windows(self.article, within)
            found.set_anchors(self._positive)
        return found

    def universe(self, within: Within) -> set[int]:
        """Windows of a kind that hold at least one hit of the watch topic's rule."""
        key = str(within)
        found = self._universe.get(key)
        if found is None:
            windows = self.windows(within)
            found = self._universe[key] = {w for h in self._positive for w in windows.of(h)}
        return found

    def fired(self, group: Group, within: Within) -> set[int]:
        """Windows (of ``within``'s kind) in which ``group`` fires."""
        own = group.within or within
        if self._local and _RANK.get(own.kind, 0) > _RANK.get(within.kind, 0):
            own = within  # see ``counted``: a coarser group must fire in the window itself
        if own != within:
            return self._convert(self.fired(group, own), own, within)
        key = (id(group), str(within), self._local)
        found = self.sets.get(key)
        if found is not None:
            return found
        kind = group.kind
        if kind in ("terms", "entity"):
            windows = self.windows(within)
            hits = self._hits(group)
            if group.at_least <= 1:
                found = {w for _, h in hits for w in windows.of(h)}
            else:
                seen: dict[int, set[int]] = {}
                for term, hit in hits:
                    for w in windows.of(hit):
                        seen.setdefault(w, set()).add(id(term))
                found = {w for w, terms in seen.items() if len(terms) >= group.at_least}
        elif kind == "all":
            found = set()
            for i, child in enumerate(group.children):
                sub = self.fired(child, within)
                found = set(sub) if i == 0 else found & sub
                if not found:
                    break
        else:
            counts: dict[int, int] = {}
            for child in group.children:
                for w in self.fired(child, within):
                    counts[w] = counts.get(w, 0) + 1
            found = {w for w, n in counts.items() if n >= group.at_least}
        self.sets[key] = found
        return found

    def _convert(self, fired: set[int], source: Within, target: Within) -> set[int]:
        if not fired:
            return set()
        if source.kind == "article" or (source.kind == "title" and 0 in fired):
            return set(self.universe(target))
        src, dst = self.windows(source), self.windows(target)
        return {w for w in self.universe(target)
                if any(_overlap(dst.spans[w], src.spans[x]) for x in fired)}

    def vetoed(self) -> set[int]:
        within = self.topic.within
        out: set[int] = set()
        fired = self.article.hits.keys()
        for veto in self.topic.none:
            if veto.kind in ("terms", "entity") and fired.isdisjoint(
                    self.article.matcher._leaf_probes[id(veto)]):
                continue  # nothing of it in the article: skip the windows
            out |= self.fired(veto, within)
        return out

    def counted(self) -> tuple[list[int], float]:
        """The windows that count, and the score."""
        within = self.topic.within
        windows = self.windows(within)
        good = sorted(self.fired(self.topic.rule, within) - self.vetoed())
        score = 0.0
        if any(windows.is_title(w) for w in good):
            score += self.topic.title_weight
        text = [w for w in good if not windows.is_title(w)]
        if within.kind == "words":
            kept, last_end = [], (-1, -1)
            for w in text:
                fld, start, end = windows.spans[w]
                if (fld, start) >= last_end:
                    kept.append(w)
                    last_end = (fld, end)
            good = [w for w in good if windows.is_title(w)][:1] + kept
            text = kept
        elif within.kind in ("sentence", "paragraph") and len(text) > 1 and _coarser_inside(
                self.topic.rule, within):
            text = self._distinct(text, within)
            good = [w for w in good if windows.is_title(w)] + text
        score += len(text)
        return good, score

    def _distinct(self, text: list[int], within: Within) -> list[int]:
        """Count once the windows that hold the rule only through one coarser window.

        A group with a coarser ``within`` than the rule's (``paragraph`` in a sentence rule)
        fires in every sentence of its paragraph; without this, one paragraph that satisfies
        it would score once per sentence that happens to hold any of the rule's terms. A window
        in which the whole rule holds with every group confined to the window itself counts
        on its own; the others count once per paragraph (or per article, for a paragraph
        rule) that has no such window, for the first of them.
        """
        self._local = True
        try:
            alone = self.fired(self.topic.rule, within) - self.vetoed()
        finally:
            self._local = False
        windows = self.windows(within)
        outer = self.windows(Within("paragraph")) if within.kind == "sentence" else None

        def container(w: int) -> int:
            if outer is None:
                return -1
            return next((p for p in range(len(outer.spans)) if not outer.is_title(p)
                         and _overlap(outer.spans[p], windows.spans[w])), -1)

        seen = {container(w) for w in text if w in alone}
        kept = []
        for w in text:
            if w in alone:
                kept.append(w)
            elif (where := container(w)) not in seen:
                seen.add(where)
                kept.append(w)
        return kept

    def result(self) -> TopicMatch | None:
        good, score = self.counted()
        if not good or score < self.topic.threshold:
            return None
        return TopicMatch(self.topic.id, self.topic.title, self.topic.severity, score,
                          self._evidence(good)[:MAX_EVIDENCE],
                          self._sentences(good)[:MAX_SENTENCES])

    def _evidence(self, good: list[int]) -> tuple[Evidence, ...]:
        within = self.topic.within
        target = self.windows(within)
        spans = [target.spans[w] for w in good]
        seen: dict[tuple[int, int, int, str], Evidence] = {}
        for group, own in self._leaves:
            windows = self.windows(own)
            fired = self.fired(group, own)
            support = fired if own.kind in ("article", "title") else {
                x for x in fired if any(_overlap(windows.spans[x], s) for s in spans)}
            for term, hit in self._hits(group):
                if any(w in support for w in windows.of(hit)):
                    key = (hit[0], hit[1], hit[2], group.label)
                    if key not in seen:
                        seen[key] = self._evidence_of(group, term, hit)
        return tuple(seen[k] for k in sorted(seen))

    def _evidence_of(self, group: Group, term: Term, hit: _Hit) -> Evidence:
        start, end = self.article.original(hit)
        source = self.article.fields[hit[0]].original
        return Evidence(group.label, term.written, source[start:end], FIELDS[hit[0]], start, end)

    def _sentences(self, good: list[int]) -> tuple[tuple[str, int, int, str], ...]:
        within = self.topic.within
        windows = self.windows(within)
        if within.kind in ("sentence", "paragraph"):
            spans = [windows.original[w] for w in good]
        else:
            cut = self.article.windows(Within("sentence"))
            hits = {(e.field, e.start) for e in self._evidence(good)}
            spans = [cut.original[w] for w in range(len(cut.original))
                     if any(f == FIELDS[cut.original[w][0]] and cut.original[w][1] <= s
                            < cut.original[w][2] for f, s in hits)]
        out = []
        for fld, start, end in spans:
            source = self.article.fields[fld].original
            out.append((FIELDS[fld], start, end, source[start:end]))
        return tuple(out)

    # --- explain --------------------------------------------------------------------------

    def explain(self, *, candidate: bool) -> Explanation:
        topic = self.topic
        good, score = self.counted()
        windows = self.windows(topic.within)
        result = Explanation(topic.id, str(topic.within), topic.threshold, topic.title_weight,
                             score, bool(good) and score >= topic.threshold,
                             candidate=candidate)
        self._trace(topic.rule, topic.within, 0, result.groups, veto=False)
        for veto in topic.none:
            self._trace(veto, topic.within, 0, result.groups, veto=True)
        result.counted = [windows.describe(w) for w in good]
        result.vetoed = [windows.describe(w) for w in sorted(self.vetoed())]
        return result

    def _trace(self, group: Group, within: Within, depth: int, out: list[GroupTrace], *,
               veto: bool) -> None:
        own = group.within or within
        windows = self.windows(own)
        fired = self.fired(group, own)
        hits = [self._evidence_of(group, t, h) for t, h in self._hits(group)] if group.kind in (
            "terms", "entity") else []
        note = ""
        if group.kind == "entity" and group.entity is not None and not hits:
            note = f"none of the {len(group.entity.names)} names of {group.entity.id!r} found"
        elif group.kind == "terms" and not hits:
            note = f"none of {', '.join(repr(t.written) for t in group.terms[:8])}" + (
                " ..." if len(group.terms) > 8 else "") + " found"
        if group.at_least > 1:
            note = (note + "; " if note else "") + f"needs {group.at_least} distinct members"
        out.append(GroupTrace(group.label, group.kind, depth, str(own),
                              [windows.describe(w) for w in sorted(fired)], hits, veto, note))
        for child in group.children:
            self._trace(child, own, depth + 1, out, veto=veto)
