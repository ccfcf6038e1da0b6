"""What a watch topic is once read: its rule, groups, terms and entities, as frozen objects.

In: nothing but their fields, filled by :mod:`monitor.tagging.parse` from the files that
:mod:`monitor.tagging.load` reads. Out: :class:`WatchTopic`, :class:`Entity`, :class:`Group`,
:class:`Term` (with its compiled patterns), :class:`Within`, :class:`RuleSet`, read by the
index, the evaluation and the console. No I/O, no validation, no knowledge of articles.

A watch topic, in full (``topics/README.md`` teaches it by example)::

    id: nk-russia-arms                 # must equal the file name
    title: North Korea–Russia arms cooperation
    severity: high                     # low | medium | high | critical
    match:
      all:                             # every group must fire inside one window ...
        - entity: north_korea
        - entity: russia
        - any: [arms, munition*, "artillery shell*"]
      any: [...]                       # ... and at least one of these, if given
      none: [football, olympic*]       # a window holding a veto does not count
      within: sentence                 # sentence | paragraph | article | title | <N> words
    title_weight: 2                    # what a title satisfying the rule adds to the score
    threshold: 1                       # score needed to match
    corroboration:                     # optional: alert only once a story has 2 independent
      sources: 2                       # sources, or one of these outlets (subscribers may
      trusted_outlets: [Yonhap News Agency]  # set their own, which wins)
    examples:                          # checked by `newswatch topics check`
      match: ["..."]
      no_match: ["..."]

Groups: a term (``"missile*"``), ``{entity: name}``, ``{any: [...]}`` (optionally
``at_least: N`` distinct members), ``{all: [...]}``; any group may set its own ``within``.
"""

# ruff: noqa: RUF002 - the docstring shows a real title with an en dash
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.tagging.terms import Pattern
from monitor.yamlfile import FieldPath

SEVERITIES = ("low", "medium", "high", "critical")
WINDOW_KINDS = ("sentence", "paragraph", "article", "title")
MAX_WINDOW_WORDS = 500
DEFAULT_TITLE_WEIGHT = 2.0
DEFAULT_THRESHOLD = 1.0



@dataclass(frozen=True)
class Within:
    """Where the groups of a rule must fire together: ``kind`` is one of :data:`WINDOW_KINDS`
    or ``"words"`` (then ``words`` is the window's length)."""

    kind: str
    words: int = 0

    def __str__(self) -> str:
        return f"{self.words} words" if self.kind == "words" else self.kind


SENTENCE = Within("sentence")


@dataclass(frozen=True, eq=False, slots=True)
class Term:
    """One term as the analyst wrote it, with the patterns that find it."""

    written: str
    patterns: tuple[Pattern, ...]
    at: FieldPath = ()


@dataclass(frozen=True, eq=False, slots=True)
class Entity:
    """A reusable list of names for one actor; ``not_names`` look alike but are not it."""

    id: str
    description: str
    names: tuple[Term, ...]
    not_names: tuple[Term, ...]
    path: Path
    line: int | None = None  # of the id, for messages


@dataclass(frozen=True, eq=False, slots=True)
class Group:
    """One node of a rule.

    ``kind``: ``terms`` (fires when any of ``terms`` is found, or ``at_least`` distinct ones),
    ``entity``, ``any`` (``at_least`` of ``children``), ``all`` (every child). ``within``
    overrides the watch topic's window for this group and its children.
    """

    label: str
    kind: str
    terms: tuple[Term, ...] = ()
    entity: Entity | None = None
    children: tuple[Group, ...] = ()
    within: Within | None = None
    at_least: int = 1
    at: FieldPath = ()

    def walk(self) -> Iterable[Group]:
        """Yield this group and every group below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Example:
    """An article that must (or must not) match, checked by ``newswatch topics check``."""

    text: str
    should_match: bool
    line: int | None


@dataclass(frozen=True, eq=False, slots=True)
class WatchTopic:
    """A compiled watch topic; see the module docstring for the file it comes from."""

    id: str
    title: str
    description: str
    severity: str
    rule: Group
    none: tuple[Group, ...]
    within: Within
    title_weight: float
    threshold: float
    path: Path
    examples: tuple[Example, ...] = ()
    line: int | None = None  # of the id, for messages
    #: (independent sources, trusted outlets) a story needs before it is alerted, if any.
    corroboration: tuple[int, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class RuleSet:
    """Every watch topic of a directory, ordered by id, and the entities they may use."""

    watch_topics: tuple[WatchTopic, ...]
    entities: Mapping[str, Entity] = field(default_factory=dict)
