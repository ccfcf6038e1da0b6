"""Compile watch topics into one frozen index: the automata, the probes and the candidate tables.

In: validated :class:`~monitor.tagging.rules.WatchTopic` objects and their entities. Out: an
:class:`Index` that nothing changes after :func:`build_index` returns; the scan, the
evaluation and the explanation only read it. No I/O, no article text.

Vocabulary:

- a *probe* is one pattern of one term (``" missile "``, ``" missiles "``), numbered from 0;
  equal patterns of different terms and watch topics share one probe;
- a *leaf* is a ``terms`` or ``entity`` group, numbered by the set of probes that make it
  fire: leaves with the same probes, wherever they are used, share one leaf id;
- a watch topic is a *candidate* for an article when each of its required groups (the
  children of its rule) has a leaf with a probe that fired; the table that answers this
  for every watch topic at once is a :class:`~monitor.tagging.candidates.CandidateTable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import ahocorasick

from monitor.tagging.candidates import CandidateTable
from monitor.tagging.rules import Entity, Group, Term, WatchTopic
from monitor.tagging.scripts import SCRIPT_PATTERNS, script_class, script_of

# An automaton entry that needs checking when its key is found: probe id, the regex for the
# rest of the term (inner wildcards), the number of leading capitals (acronyms).
Check = tuple[int, Any, int]
# Per probe: key length, lead space, trail space, widen (1: to the word's end, 2: its start).
Shape = tuple[int, int, int, int]
EntityProbes = tuple[tuple[tuple[Term, tuple[int, ...]], ...], frozenset[int]]


class Index:
    """Every watch topic compiled; read-only once built (see the module docstring).

    Attributes, per probe (lists indexed by probe id): ``probe_shapes``; ``probe_back``, how
    far a hit's start lies before its key's end (-1: not fixed, the start is widened to the
    word's start).
    Per leaf: ``leaf_sets``, its probes. Per group (keyed by ``id(group)``):
    ``leaf_probes`` and, for ``terms`` groups, ``leaf_terms`` (the probes of each term, in the
    order of ``group.terms``). Per entity id: ``entity_probes``, (name, its probes) pairs and
    the probes of its look-alikes. Per watch topic (lists in ``watch_topics`` order):
    ``rest_one``, ``rest_leaves``, ``rest_groups`` (what a triggered watch topic still needs),
    ``simple`` (leaves alone decide), ``window_leaves`` (the leaves that must share a sentence
    or paragraph, see :func:`_window_shape`). ``triggers`` and ``other_triggers``: leaf ->
    the watch topics it triggers, of the common shape (one more leaf needed) and of others.
    ``automata``: (script, the pattern a text must hold for the automaton to run over it or
    ``None`` for every text that is not ASCII, the automaton); script ``ascii`` comes first
    and runs over every text. A key's value is its probe id, or ``~i`` when its hits need the
    checks ``checks[i]``.
    """

    __slots__ = ("automata", "candidates", "checks", "entities", "entity_probes", "leaf_probes",
                 "leaf_sets", "leaf_terms", "probe_back", "probe_shapes", "simple", "topic_index",
                 "watch_topics", "window_leaves")

    watch_topics: tuple[WatchTopic, ...]
    entities: Mapping[str, Entity]
    topic_index: dict[str, int]
    probe_shapes: list[Shape]
    probe_back: list[int]
    leaf_sets: list[tuple[int, ...]]
    leaf_probes: dict[int, tuple[int, ...]]
    leaf_terms: dict[int, tuple[tuple[int, ...], ...]]
    entity_probes: dict[str, EntityProbes]
    candidates: CandidateTable
    simple: list[bool]
    window_leaves: list[tuple[str, tuple[int, ...]] | None]
    automata: tuple[tuple[str, re.Pattern[str] | None, Any], ...]
    checks: list[tuple[Check, ...]]

    def __init__(self, **fields: Any) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, fields[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an Index is read-only: cannot set {name!r}")

    # Pickling, for the compiled-index cache: the per-group tables are keyed by ``id(group)``,
    # which does not survive a round trip, so they travel as lists in walk order instead.

    def _groups(self) -> list[Group]:
        return [node for topic in self.watch_topics for group in (topic.rule, *topic.none)
                for node in group.walk()]

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__}
        groups = self._groups()
        for name in ("leaf_probes", "leaf_terms"):
            table = state[name]
            state[name] = [table.get(id(group)) for group in groups]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, state[name])
        groups = self._groups()
        for name in ("leaf_probes", "leaf_terms"):
            object.__setattr__(self, name, {id(group): value for group, value in zip(
                groups, state[name], strict=True) if value is not None})


def build_index(watch_topics: Iterable[WatchTopic],
                entities: Mapping[str, Entity] | None = None) -> Index:
    """Compile ``watch_topics`` (in id order) into one :class:`Index`."""
    return _Builder(tuple(sorted(watch_topics, key=lambda t: t.id)), dict(entities or {})).index


class _Builder:
    """The state of one compilation; dropped once the index is built."""

    def __init__(self, topics: tuple[WatchTopic, ...], entities: dict[str, Entity]) -> None:
        self.probe_ids: dict[tuple[str, str | None, int], int] = {}
        self.term_probes: dict[int, tuple[int, ...]] = {}
        self.entries: dict[str, list[Check]] = {}
        # Most probes share one of a few shapes, so equal tuples are stored once.
        self.probe_shapes: list[Shape] = []
        self.shapes: dict[Shape, Shape] = {}
        self.probe_back: list[int] = []
        self.leaf_probes: dict[int, tuple[int, ...]] = {}
        self.leaf_terms: dict[int, tuple[tuple[int, ...], ...]] = {}
        self.entity_probes: dict[str, EntityProbes] = {}
        self.leaf_ids: dict[tuple[int, ...], int] = {}
        self.leaf_sets: list[tuple[int, ...]] = []
        required: list[list[tuple[int, ...]]] = []
        simple: list[bool] = []
        window_leaves: list[tuple[str, tuple[int, ...]] | None] = []
        for topic in topics:
            for group in (topic.rule, *topic.none):
                for node in group.walk():
                    self.compile_leaf(node)
            children = topic.rule.children
            required.append([tuple({p for leaf in self.leaves_below(child)
                                    for p in self.leaf_sets[leaf]}) for child in children])
            # Leaves only, with no distinct-count or look-alike check: the leaves say it all.
            simple.append(all(
                (c.kind == "terms" and c.at_least <= 1)
                or (c.kind == "entity" and c.entity is not None and not c.entity.not_names)
                for c in children))
            window_leaves.append(self.window_shape(topic))
        automata, checks = self.automata()
        self.index = Index(
            watch_topics=topics, entities=entities,
            topic_index={t.id: i for i, t in enumerate(topics)},
            probe_shapes=self.probe_shapes, probe_back=self.probe_back,
            leaf_sets=self.leaf_sets, leaf_probes=self.leaf_probes,
            leaf_terms=self.leaf_terms, entity_probes=self.entity_probes,
            candidates=CandidateTable(required, len(self.probe_shapes)), simple=simple,
            window_leaves=window_leaves, automata=automata, checks=checks)

    def automata(self) -> tuple[tuple[tuple[str, re.Pattern[str] | None, Any], ...],
                                list[tuple[Check, ...]]]:
        """One automaton per script of the keys' first non-ASCII letter.

        Only the automata of scripts present in a text run over it: a key holds a letter of
        its script, so a text without that script cannot contain it. One automaton for all
        languages is slow on every text: after a space, the next letter is looked up among
        the first letters of every word of every script (over 2,000 keys of the shipped
        watch topics start with a space and a non-ASCII letter), which made an English text
        8 times slower to scan. ``other`` (Greek, Hebrew, Thai ...) runs over every text
        that is not ASCII.
        """
        automata: dict[str, Any] = {}
        checks: list[tuple[Check, ...]] = []
        for key, entries in self.entries.items():
            script = "ascii" if key.isascii() else script_of(key)
            automaton = automata.get(script)
            if automaton is None:
                automaton = automata[script] = ahocorasick.Automaton()
            # The common case, one probe without checks, is stored as the probe id; keys
            # whose hits need checking store ~index into ``checks``, a negative number.
            if len(entries) == 1 and entries[0][1] is None and not entries[0][2]:
                automaton.add_word(key, entries[0][0])
            else:
                automaton.add_word(key, ~len(checks))
                checks.append(tuple(entries))
        for automaton in automata.values():
            automaton.make_automaton()
        ascii_first = sorted(automata.items(), key=lambda item: item[0] != "ascii")
        return tuple((name, SCRIPT_PATTERNS.get(name), automaton)
                     for name, automaton in ascii_first), checks

    def probes(self, term: Term) -> tuple[int, ...]:
        # ``compile_term`` returns one tuple of patterns per distinct term, however many
        # watch topics list it, so its identity is the cache key (the terms keep it alive).
        cached = self.term_probes.get(id(term.patterns))
        if cached is not None:
            return cached
        out = []
        for pattern in term.patterns:
            rest = pattern.rest.pattern if pattern.rest is not None else None
            ident = (pattern.key, rest, pattern.caps)
            probe = self.probe_ids.get(ident)
            if probe is None:
                probe = self.probe_ids[ident] = len(self.probe_shapes)
                key = pattern.key
                trail = 1 if pattern.rest is None and key.endswith(" ") else 0
                # Evidence quotes whole words: "munition*" shows "munitions", not "munition".
                widen = (1 if not key.endswith(" ") and script_class(key[-1]) != "cjk" else 0) | (
                    2 if not key.startswith(" ") and script_class(key[0]) != "cjk" else 0)
                shape = (len(key), pattern.lead, trail, widen)
                self.probe_shapes.append(self.shapes.setdefault(shape, shape))
                self.probe_back.append(-1 if widen & 2 else len(key) - 1 - pattern.lead)
                self.entries.setdefault(key, []).append((probe, pattern.rest, pattern.caps))
            out.append(probe)
        probes = tuple(dict.fromkeys(out))
        self.term_probes[id(term.patterns)] = probes
        return probes

    def compile_leaf(self, group: Group) -> None:
        if group.kind == "terms":
            per_term = tuple(self.probes(t) for t in group.terms)
            self.leaf_terms[id(group)] = per_term
            self.leaf_probes[id(group)] = self.leaf_set(p for ps in per_term for p in ps)
        elif group.kind == "entity" and group.entity is not None:
            entity = group.entity
            if entity.id not in self.entity_probes:
                names = tuple((t, self.probes(t)) for t in entity.names)
                vetoes = frozenset(p for t in entity.not_names for p in self.probes(t))
                self.entity_probes[entity.id] = (names, vetoes)
            names = self.entity_probes[entity.id][0]
            self.leaf_probes[id(group)] = self.leaf_set(p for _, ps in names for p in ps)

    def leaf_set(self, probes: Iterable[int]) -> tuple[int, ...]:
        """The one shared tuple of these probes, with a leaf id of its own.

        A tuple, not a frozenset: it is only iterated or passed to ``isdisjoint``, and at
        10,000 watch topics the hash tables of frozensets would take tens of megabytes.
        """
        key = tuple(sorted(set(probes)))
        leaf = self.leaf_ids.setdefault(key, len(self.leaf_sets))
        if leaf == len(self.leaf_sets):
            self.leaf_sets.append(key)
        return self.leaf_sets[leaf]

    def leaf_of(self, group: Group) -> int | None:
        probes = self.leaf_probes.get(id(group))
        return None if probes is None else self.leaf_ids[probes]

    def leaves_below(self, group: Group) -> frozenset[int]:
        return frozenset(leaf for leaf in map(self.leaf_of, group.walk()) if leaf is not None)

    def window_shape(self, topic: WatchTopic) -> tuple[str, tuple[int, ...]] | None:
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
            leaf = self.leaf_of(child)
            if leaf is None or (child.within is not None and child.within != topic.within):
                return None
            leaves.append(leaf)
        return kind, tuple(leaves)
