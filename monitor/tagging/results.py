"""What tagging tells its callers: matches with evidence, and explanations for people.

In: nothing; these are the result types of :mod:`monitor.tagging.match`. Out: frozen
:class:`Evidence` and :class:`TopicMatch` (one JSON shape each, :meth:`to_dict`), and the
:class:`Explanation` of one (article, watch topic) pair with a :class:`GroupTrace` per group.
No logic beyond turning them into plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
