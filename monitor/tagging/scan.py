"""Find where the probes of an :class:`~monitor.tagging.index.Index` fire in one article.

In: the index and an article's title and text. Out: a :class:`Scan`: the normalized fields,
which probes fired and where, and, asked for one group at a time, the occurrences of its
terms or entity names. It never decides whether a watch topic matches, never cuts windows,
and never changes the index.

Offsets are those of the normalized text (``Normalized.text``): a hit is ``(field, start,
end)`` with ``field`` 0 for the title and 1 for the text, boundary spaces excluded.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.tagging.index import Index
from monitor.tagging.rules import Entity, Group, Term
from monitor.tagging.text import Normalized, normalize

FIELDS = ("title", "text")
TITLE, TEXT = 0, 1
# The scan records where each probe's key ended as one int, the field included: the end in
# the text, or the end in the title less FIELD_SHIFT (a negative number). Positions are
# worked out only for the probes a candidate watch topic looks at.
FIELD_SHIFT = 1 << 40

# One occurrence in normalized text: field, start, end (boundary spaces excluded).
Hit = tuple[int, int, int]
_NONE: tuple[int, ...] = ()


class Scan:
    """One article scanned: its normalized ``fields`` and the probes that fired in them.

    ``fired`` maps each probe that fired to where its key ended (see :meth:`raws`); test
    membership with ``probe in scan.fired`` and iterate it for the probes.
    """

    def __init__(self, index: Index, title: str, text: str) -> None:
        self.index = index
        self.fields = (normalize(title), normalize(text))
        self.fired: dict[int, list[int]] = {}
        self._stops: dict[tuple[int, int], int] = {}
        self._positions: dict[int, list[Hit]] = {}
        self._entity_hits: dict[str, list[tuple[Term, Hit]]] = {}
        if index.automata:
            self._scan()

    def _scan(self) -> None:
        """Run the automata over both fields and group the hits by probe, in text order.

        An article has hundreds of hits, so the loop over them does as little as it can:
        one dict look-up and one append each (sorting all hits by probe instead costs twice
        as much). Only keys whose hits need a check (inner wildcards, capitals) are looked
        at one by one; their ids are negative.
        """
        fired = self.fired
        get = fired.get
        title, text = self.fields
        # The title first: its ends, less FIELD_SHIFT, are negative, so each probe's list
        # is in text order, the title's hits first.
        for shift, norm in ((FIELD_SHIFT, title), (0, text)):
            for end, value in self._iter(norm.text):
                found = get(value)
                if found is None:
                    fired[value] = [end - shift]
                else:
                    found.append(end - shift)
        checked = [value for value in fired if value < 0]
        if checked:
            self._checked({value: fired.pop(value) for value in checked})

    def _iter(self, text: str) -> list[tuple[int, int]]:
        """(end, value) of every key in ``text``, from the automata of the scripts it has."""
        out: list[tuple[int, int]] = []
        ascii_only = text.isascii()
        for script, pattern, automaton in self.index.automata:
            if script == "ascii" or (not ascii_only and (pattern is None or pattern.search(text))):
                out += automaton.iter(text)
        return out

    def _checked(self, found: dict[int, list[int]]) -> None:
        """Add to ``fired`` the probes whose checks the hits of keys in ``found`` pass."""
        fired = self.fired
        checks, shapes = self.index.checks, self.index.probe_shapes
        touched = set()
        for value, raws in found.items():
            for raw in raws:
                norm = self.fields[TITLE if raw < 0 else TEXT]
                end = raw + FIELD_SHIFT if raw < 0 else raw
                for probe, rest, caps in checks[~value]:
                    length, lead, trail, _ = shapes[probe]
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
                    fired.setdefault(probe, []).append(raw)
                    touched.add(probe)
        for probe in touched:
            fired[probe].sort()

    def raws(self, probe: int) -> Sequence[int]:
        """Where a probe's key ended, field included (see ``FIELD_SHIFT``), in text order."""
        return self.fired.get(probe, _NONE)

    def positions(self, probe: int) -> list[Hit]:
        """Where a probe fired: (field, start, end) in normalized offsets, in text order."""
        found = self._positions.get(probe)
        if found is not None:
            return found
        length, lead, trail, widen = self.index.probe_shapes[probe]
        out = []
        for raw in self.raws(probe):
            field, end = (TITLE, raw + FIELD_SHIFT) if raw < 0 else (TEXT, raw)
            start = end - length + 1 + lead
            stop = self._stops.get((probe, raw), end + 1 - trail)
            if widen:
                text = self.fields[field].text
                if widen & 1:
                    stop = text.find(" ", stop)
                if widen & 2:
                    start = text.rfind(" ", 0, start) + 1
            out.append((field, start, stop))
        self._positions[probe] = out
        return out

    def entity_hits(self, entity: Entity) -> list[tuple[Term, Hit]]:
        """The entity's names found in the article, less those inside one of its ``not``."""
        found = self._entity_hits.get(entity.id)
        if found is not None:
            return found
        names, vetoes = self.index.entity_probes[entity.id]
        fired = self.fired
        out = [(term, hit) for term, probes in names for p in probes if p in fired
               for hit in self.positions(p)]
        if out and vetoes:
            blocked = [h for p in vetoes if p in fired for h in self.positions(p)]
            out = [(t, h) for t, h in out
                   if not any(b[0] == h[0] and b[1] < h[2] and h[1] < b[2] for b in blocked)]
        self._entity_hits[entity.id] = out
        return out

    def leaf_hits(self, group: Group) -> list[tuple[Term, Hit]]:
        """Every occurrence of a ``terms`` or ``entity`` group, in text order."""
        if group.kind == "entity":
            assert group.entity is not None
            found = self.entity_hits(group.entity)
        else:
            fired = self.fired
            found = [(term, hit) for term, probes in zip(
                         group.terms, self.index.leaf_terms[id(group)], strict=True)
                     for p in probes if p in fired for hit in self.positions(p)]
        # One occurrence found by two terms (the same word listed for two languages) counts
        # once, for the first term.
        unique = dict(reversed([(hit, term) for term, hit in found]))
        return sorted(((term, hit) for hit, term in unique.items()), key=lambda th: th[1])

    def any_fired(self, group: Group) -> bool:
        """Whether a probe of a ``terms`` or ``entity`` group fired (look-alikes ignored)."""
        return not self.fired.keys().isdisjoint(self.index.leaf_probes[id(group)])

    def anywhere(self, group: Group) -> bool:
        """Whether ``group`` could fire in some window: a cheap necessary condition."""
        kind = group.kind
        if kind == "terms":
            if not self.any_fired(group):
                return False
            if group.at_least <= 1:
                return True
            fired = self.fired
            per_term = self.index.leaf_terms[id(group)]
            return sum(1 for ps in per_term if any(p in fired for p in ps)) >= group.at_least
        if kind == "entity":
            assert group.entity is not None
            if not self.any_fired(group):
                return False
            return bool(self.entity_hits(group.entity))
        if kind == "all":
            return all(self.anywhere(child) for child in group.children)
        return sum(1 for child in group.children if self.anywhere(child)) >= group.at_least

    def original(self, hit: Hit) -> tuple[int, int]:
        """A hit's start and end in the field as written."""
        norm = self.fields[hit[0]]
        return norm.to_original(hit[1]), norm.to_original(hit[2], end=True)


def _capitals(norm: Normalized, start: int, stop: int, caps: int) -> bool:
    """Whether the first ``caps`` letters of the match are capitals in the original text."""
    begin, end = norm.to_original(start), norm.to_original(stop, end=True)
    letters = [c for c in norm.original[begin:end] if c.isalpha()][:caps]
    return len(letters) == caps and all(c.isupper() for c in letters)
