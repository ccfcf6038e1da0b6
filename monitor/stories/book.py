"""The open stories of one watch topic, the indexes over them, and folding a report in.

In: reports with their fingerprints (:func:`StoryBook.fold`), stored stories after a restart
(:meth:`StoryBook.load`), the clock as an argument. Out: story events and the state to store
for each changed story (:class:`OpenStory` ``to_json``). No Kafka and no Faust: the agent and
``newswatch stories`` both drive this class.

- Idempotent: every article a story holds is remembered with the input coordinates that added
  it. The same match read again at the same coordinates (a replay after a crash) gives the
  same event again and changes nothing; another match of an article already in a story (a
  duplicate) gives nothing.
- Candidates come from two indexes, never from a scan of every open story: the stories whose
  sources have the nearest embeddings (:class:`VectorIndex`), and those whose sources may
  share their wording (:class:`CopyIndex`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from monitor.article import (
    Story,
    StoryArticle,
    StoryEvent,
    make_story_id,
    severity_rank,
)
from monitor.stories.copies import CopyIndex
from monitor.stories.fingerprint import Fingerprint
from monitor.stories.fold import (
    DEFAULT_WINDOW,
    Candidate,
    Decision,
    Report,
    Source,
    anchor_weights,
    decide,
)
from monitor.stories.index import VectorIndex

#: Independent sources whose fingerprints a story keeps for comparison: the first ones define
#: the event; later ones add its other languages.
MAX_SOURCES_KEPT = 12
#: Nearest source vectors looked at for each report.
NEIGHBOURS = 32
#: Most stories the copy index may add to them (the most recently held).
MAX_COPY_CANDIDATES = 32
#: Sources of one language from which their mean cosine with a report is trusted as the
#: background of that language pair (see :func:`monitor.stories.fold.decide`).
MIN_BACKGROUND = 8

Seen = Literal["new", "replay", "duplicate"]


@dataclass
class OpenStory:
    """A story and what folding keeps of it; stored as one table value."""

    story: Story
    sources: list[Source]
    origins: dict[str, tuple[int, int, str]]
    began: datetime
    latest: datetime
    anchors: Counter[str] = field(default_factory=Counter)

    def candidate(self) -> Candidate:
        return Candidate(self.story, tuple(self.sources), frozenset(self.anchors),
                         self.began, self.latest)

    def to_json(self) -> dict[str, Any]:
        return {"story": self.story.model_dump(mode="json", by_alias=True),
                "sources": [{"id": s.article_id, "outlet": s.outlet, "language": s.language,
                             **s.fingerprint.to_json()} for s in self.sources],
                "origins": {k: list(v) for k, v in self.origins.items()},
                "began": self.began.isoformat(), "latest": self.latest.isoformat()}

    @classmethod
    def from_json(cls, raw: Any) -> OpenStory:
        """Read a stored value back; raise ``ValueError`` naming what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
        try:
            story = Story.model_validate(raw["story"])
            sources = [Source(s["id"], s["outlet"], Fingerprint.from_json(s), s.get("language"))
                       for s in raw["sources"]]
            origins = {str(k): (int(v[0]), int(v[1]), str(v[2]))
                       for k, v in raw["origins"].items()}
            began = datetime.fromisoformat(raw["began"])
            latest = datetime.fromisoformat(raw["latest"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"unreadable stored story: {type(exc).__name__}: {exc}") from None
        anchors: Counter[str] = Counter()
        for source in sources:
            anchors.update(source.fingerprint.anchors)
        return cls(story, sources, origins, began, latest, anchors)


@dataclass(frozen=True)
class Folded:
    """What folding one report did: ``event`` is ``None`` for a duplicate."""

    seen: Seen
    event: StoryEvent | None
    state: OpenStory | None


class StoryBook:
    """The open stories of one watch topic."""

    def __init__(self, topic_id: str, *, window: timedelta = DEFAULT_WINDOW) -> None:
        self.topic_id = topic_id
        self.window = window
        self._stories: dict[str, OpenStory] = {}
        self._story_of_article: dict[str, str] = {}
        self._vectors = VectorIndex()
        self._copies = CopyIndex()
        self._keys: dict[int, str] = {}
        self._keys_of: dict[str, list[int]] = {}
        self._next_key = 0
        self._anchor_uses: Counter[str] = Counter()
        # Per language of the sources held: the sum of their vectors and how many they are,
        # so that a report's mean cosine with one language's sources is one dot product.
        self._language_sums: dict[str, np.ndarray] = {}
        self._language_counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._stories)

    def __iter__(self) -> Iterator[OpenStory]:
        return iter(self._stories.values())

    def get(self, story_id: str) -> OpenStory | None:
        return self._stories.get(story_id)

    # -- folding -------------------------------------------------------------------------

    def fold(self, report: Report, fingerprint: Fingerprint, *, now: datetime,
             origin: tuple[int, int] = (-1, -1)) -> Folded:
        """Fold one report in; ``origin`` is the (partition, offset) of its input message."""
        again = self.recall(report.article_id, origin)
        if again is not None:
            return again
        decision = self.decide(report, fingerprint, now=now)
        state = self._apply(report, fingerprint, decision, now=now, origin=origin)
        return Folded("new", _event_for(state, report.article_id, decision.why), state)

    def recall(self, article_id: str, origin: tuple[int, int]) -> Folded | None:
        """What folding an article already in a story gives again, or ``None`` for a new one.

        - the same input message again (same ``origin``): a ``replay``, with the very event
          it gave the first time, since that event may have been lost in a crash;
        - any other message of an article a story holds: a ``duplicate``, with no event.
        """
        held = self._story_of_article.get(article_id)
        if held is None:
            return None
        state = self._stories[held]
        partition, offset, why = state.origins[article_id]
        if (partition, offset) == origin and origin != (-1, -1):
            return Folded("replay", _event_for(state, article_id, why), state)
        return Folded("duplicate", None, None)

    def decide(self, report: Report, fingerprint: Fingerprint, *, now: datetime) -> Decision:
        """Where the report belongs among the candidates the indexes offer."""
        story_ids = dict.fromkeys(self._keys[k] for k, _ in
                                  self._vectors.nearest(fingerprint.vector, NEIGHBOURS)
                                  if k in self._keys)
        # The copy index finds whatever shares wording, a common footer included: a bounded
        # number of them, so that a boilerplate sentence cannot make a report meet every story.
        for key in sorted(int(str(k)) for k in self._copies.query(fingerprint.copy_sig))[
                -MAX_COPY_CANDIDATES:]:
            story_ids.setdefault(self._keys[key])
        candidates = [self._stories[s].candidate() for s in story_ids]
        weights = anchor_weights(self._anchor_uses, len(self._stories), fingerprint.anchors)
        background = {language: float(np.dot(fingerprint.vector, total))
                      / self._language_counts[language]
                      for language, total in self._language_sums.items()
                      if self._language_counts[language] >= MIN_BACKGROUND}
        return decide(report, fingerprint, candidates, now=now, window=self.window,
                      anchor_weight=weights, background=background)

    def _apply(self, report: Report, fingerprint: Fingerprint, decision: Decision, *,
               now: datetime, origin: tuple[int, int]) -> OpenStory:
        at = report.time(now)
        article = StoryArticle(article_id=report.article_id, outlet=report.outlet,
                               url=report.url, title=report.title, language=report.language,
                               published=report.published, source=decision.source)
        if decision.story_id is None:
            story = Story(story_id=make_story_id(report.topic_id, report.article_id),
                          topic_id=report.topic_id, topic_title=report.topic_title,
                          headline=article.title, first_seen=now, last_updated=now,
                          articles=(article,), outlets=1, sources=1,
                          languages=(report.language,) if report.language else (),
                          severity=report.severity, score=report.score, updates=0)
            state = OpenStory(story, [], {}, at, at)
        else:
            state = self._stories[decision.story_id]
            self._forget(state)
            old = state.story
            articles = (*old.articles, article)
            languages = old.languages
            if report.language and report.language not in languages:
                languages = (*languages, report.language)
            severity = max(old.severity, report.severity, key=severity_rank)
            story = replace_story(old, articles=articles, last_updated=max(now, old.last_updated),
                                  languages=languages, severity=severity,
                                  score=max(old.score, report.score), updates=old.updates + 1)
            state = OpenStory(story, list(state.sources), dict(state.origins),
                              min(state.began, at), max(state.latest, at), Counter(state.anchors))
        if decision.source == report.article_id and len(state.sources) < MAX_SOURCES_KEPT:
            state.sources.append(Source(report.article_id, report.outlet, fingerprint,
                                        report.language))
            state.anchors.update(fingerprint.anchors)
        state.origins[report.article_id] = (*origin, decision.why)
        self.add(state)
        return state

    # -- the set of open stories -----------------------------------------------------------

    def add(self, state: OpenStory) -> None:
        """Hold ``state`` (a new or changed story)."""
        for key, vector in self._hold(state):
            self._vectors.add(key, vector)

    def load(self, states: list[OpenStory]) -> None:
        """Hold many stored stories at once (a restart): one batched index build."""
        keys, vectors = [], []
        for state in states:
            for key, vector in self._hold(state):
                keys.append(key)
                vectors.append(vector)
        if keys:
            self._vectors.add_many(keys, np.vstack(vectors))

    def _hold(self, state: OpenStory) -> list[tuple[int, np.ndarray]]:
        """Hold ``state`` in every structure but the vector index; return what it needs."""
        story_id = state.story.story_id
        if story_id in self._stories:
            self._forget(self._stories[story_id])
        self._stories[story_id] = state
        for article in state.story.articles:
            self._story_of_article[article.article_id] = story_id
        vectors = []
        for source in state.sources:
            key = self._next_key
            self._next_key += 1
            self._keys[key] = story_id
            self._copies.add(key, source.fingerprint.copy_sig)
            vectors.append((key, source.fingerprint.vector))
            self._count_language(source, +1)
        self._keys_of[story_id] = [key for key, _ in vectors]
        self._anchor_uses.update(set(state.anchors))
        return vectors

    def _forget(self, state: OpenStory) -> None:
        story_id = state.story.story_id
        for key in self._keys_of.pop(story_id, []):
            self._keys.pop(key, None)
            self._vectors.remove(key)
            self._copies.remove(key)
        for source in state.sources:
            self._count_language(source, -1)
        uses = self._anchor_uses
        for anchor in state.anchors:
            if uses[anchor] <= 1:
                del uses[anchor]
            else:
                uses[anchor] -= 1
        self._stories.pop(story_id, None)

    def _count_language(self, source: Source, sign: int) -> None:
        language = source.language or ""
        total = self._language_sums.get(language)
        if total is None:
            total = self._language_sums[language] = np.zeros_like(source.fingerprint.vector)
        total += sign * source.fingerprint.vector
        self._language_counts[language] += sign

    def expire(self, now: datetime) -> list[str]:
        """Close the stories no article joined for ``window``; return their ids.

        Measured on the clock that folds (``Story.last_updated``), not on publication dates,
        so a backlog of old articles still folds into stories that stay open while it flows.
        """
        closed = [s for s in self._stories.values() if now - s.story.last_updated > self.window]
        for state in closed:
            self._forget(state)
            for article in state.story.articles:
                self._story_of_article.pop(article.article_id, None)
        return [s.story.story_id for s in closed]


def replace_story(story: Story, **changes: Any) -> Story:
    """A copy of ``story`` with ``changes`` and its outlet and source counts recomputed."""
    updated = story.model_copy(update=changes)
    articles = updated.articles
    return updated.model_copy(update={
        "outlets": len({a.outlet for a in articles}),
        "sources": len({a.source for a in articles})})


def _event_for(state: OpenStory, article_id: str, why: str) -> StoryEvent:
    """The event that ``article_id`` caused in ``state`` (for a replay: rebuilt, same story)."""
    story = state.story
    position = next(i for i, a in enumerate(story.articles) if a.article_id == article_id)
    article = story.articles[position]
    return StoryEvent(event="opened" if position == 0 else "updated", story=story,
                      article=article, why=why)


