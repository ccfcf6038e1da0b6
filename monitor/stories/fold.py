"""Decide whether a report joins an open story of its watch topic, and why.

In: a :class:`Report` (what a match says of its article), its fingerprint, the open stories of
its watch topic that the indexes offer as candidates, and ``now``. Out: a :class:`Decision`,
"joins story S, because ..." or "opens a new story, because ...". Pure: no clock, no Kafka.

Rules, in order:

1. A story is a candidate only while it is open (its latest report is at most ``window`` from
   this one) and not full (``STORY_MAX_ARTICLES``).
2. **A copy joins the story of its original.** When the report's shingle signature agrees with
   one of a story's independent sources on at least ``COPY_JACCARD`` of its shingles, and its
   embedding on ``COPY_COSINE``, it is a reprint of that source (a wire text with a new
   headline or a cut sentence): it joins, and counts as the same source. The most similar
   source wins.
3. **Otherwise the best-scoring story joins when its score reaches** ``JOIN_SCORE``::

       score = cosine + ANCHOR_WEIGHT * shared anchors - DAY_PENALTY * days apart beyond one

   - ``cosine``: the best cosine between the report's embedding and the story's sources',
     each corrected for the pair of languages (``CROSS_LANGUAGE``, ``CROSS_UNTRAINED``), and
     lowered for a language whose reports all look alike to the model (their mean cosine with
     the report above ``BACKGROUND``);
   - ``shared anchors``: the weight of the report's names and numbers that the story also
     has, over the weight of all its names and numbers; a name's weight falls with the number
     of open stories that use it (``korea`` weighs little in a watch topic about Korea, a
     resolution number or an official's name much);
   - ``days apart``: between the report and the story's first report, beyond the first day.
   Ties go to the story that opened first.
4. Otherwise the report opens a new story.

Why these signals, measured on the labelled set in ``tests/stories/testdata`` (242 reports of
61 events in 18 languages; medians of the cosine between two reports):

- the multilingual embedding of headline and body puts one event told twice in one language
  at 0.80 and two unrelated events at 0.38; told in two of the model's languages, at 0.69 and
  0.32; with a language the model was not trained on (Ukrainian, Persian, Hindi), at 0.43 and
  0.19. So the language pair shifts the cosine (``CROSS_LANGUAGE``, ``CROSS_UNTRAINED``).
  Character n-grams do not carry across scripts at all.
- two events on one theme (two briefings of one ministry, two Security Council votes, one
  summit and the next) reach 0.72 in one language. What tells those apart is what an
  embedding smooths over: the names and numbers (a resolution number, a flight distance, an
  official) and the days between them.
- copies are decided on wording, not meaning, because a story counts each wire text once as
  a source, and wording is what a reprint shares: reprints share 60-95% of their shingles,
  independent reports under 10%.

With these rules the set folds at B-cubed precision 0.90, recall 0.95, F1 0.92; scoring
against the story's best source (single link) rather than its centroid is what keeps
translations and follow-ups together, and the time penalty what keeps them from chaining.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from monitor.article import STORY_MAX_ARTICLES, Match, Story, as_utc
from monitor.stories.copies import COPY_JACCARD, jaccard
from monitor.stories.embed import MODEL_LANGUAGES
from monitor.stories.fingerprint import Fingerprint

#: How long a story stays open after its latest report, unless configured otherwise.
DEFAULT_WINDOW = timedelta(hours=72)
JOIN_SCORE = 0.68
#: Least cosine of a copy with its original: two reports that share a footer or a template
#: ("{company} Outperform") share shingles, but not what they say first.
COPY_COSINE = 0.75
ANCHOR_WEIGHT = 0.3
DAY_PENALTY = 0.1
#: Added to the cosine of two reports in different languages: the embedding puts one event
#: told in two of its own languages about 0.11 lower than told twice in one (labelled set:
#: medians 0.69 and 0.80), and unrelated reports lower by as much (0.32 and 0.38) ...
CROSS_LANGUAGE = 0.12
#: ... and when one of the two is a language the model was not trained on, about 0.25 lower
#: still (medians 0.43 for one event, 0.19 for unrelated ones).
CROSS_UNTRAINED = 0.25
#: Highest mean cosine between a report and the open sources of one language that is taken as
#: normal. The model knows some languages too little to tell their reports apart: in the real
#: feed corpus two unrelated Slovak reports have a median cosine of 0.58, Urdu ones 0.69,
#: English, German or Portuguese ones 0.08-0.09. Above it, the excess is taken off.
BACKGROUND = 0.4
#: A report whose date lies further ahead than this is taken at ``now`` (a wrong clock).
_FUTURE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Report:
    """What folding reads of one match."""

    article_id: str
    topic_id: str
    outlet: str
    url: str | None
    title: str
    text: str
    language: str | None
    published: datetime | None
    severity: str = "medium"
    score: float = 0.0
    topic_title: str = ""

    @classmethod
    def from_match(cls, match: Match) -> Report:
        article = match.article
        return cls(article_id=article.article_id, topic_id=match.topic_id,
                   outlet=article.outlet or article.feed_id, url=article.url,
                   title=article.title, text=article.text or article.summary,
                   language=article.language, published=article.published_at,
                   severity=match.severity, score=match.score, topic_title=match.topic_title)

    def time(self, now: datetime) -> datetime:
        """When the report happened: its publication date, or ``now`` without a sane one."""
        if self.published is None or as_utc(self.published) > now + _FUTURE_SLACK:
            return now
        return as_utc(self.published)


@dataclass(frozen=True)
class Source:
    """One independent source of a story: its article and fingerprint."""

    article_id: str
    outlet: str
    fingerprint: Fingerprint
    language: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An open story as the decision sees it."""

    story: Story
    sources: tuple[Source, ...]
    anchors: frozenset[str]
    began: datetime
    latest: datetime


@dataclass(frozen=True)
class Decision:
    """The verdict on one report.

    ``story_id`` is ``None`` when the report opens a new story. ``source`` is the article id
    of the independent source the report reprints, or its own id.
    """

    story_id: str | None
    why: str
    source: str
    score: float = 0.0


def decide(report: Report, fingerprint: Fingerprint, candidates: Iterable[Candidate], *,
           now: datetime, window: timedelta, anchor_weight: Mapping[str, float],
           background: Mapping[str, float] | None = None) -> Decision:
    """Decide where ``report`` belongs among ``candidates`` (rules in the module docstring).

    ``anchor_weight`` gives each anchor's weight (see :meth:`StoryBook.anchor_weight`); an
    anchor missing from it weighs as a rare one.
    """
    at = report.time(now)
    best: tuple[float, datetime, Candidate, str] | None = None
    best_copy: tuple[float, Candidate, Source] | None = None
    for candidate in candidates:
        if abs(at - candidate.latest) > window or len(candidate.story.articles) >= \
                STORY_MAX_ARTICLES:
            continue
        for source in candidate.sources:
            shared = jaccard(fingerprint.copy_sig, source.fingerprint.copy_sig)
            if (shared >= COPY_JACCARD and (best_copy is None or shared > best_copy[0])
                    and float(np.dot(fingerprint.vector, source.fingerprint.vector))
                    >= COPY_COSINE):
                best_copy = (shared, candidate, source)
        score, why = _score(report, fingerprint, candidate, at, anchor_weight,
                            background or {})
        if best is None or score > best[0] or (score == best[0] and
                                                candidate.began < best[1]):
            best = (score, candidate.began, candidate, why)
    if best_copy is not None:
        shared, candidate, source = best_copy
        return Decision(candidate.story.story_id, f"reprints {source.outlet}'s text "
                        f"({shared:.0%} of its wording)", source.article_id, 1.0)
    if best is not None and best[0] >= JOIN_SCORE:
        return Decision(best[2].story.story_id, best[3], report.article_id, best[0])
    if best is None:
        return Decision(None, "no open story of this watch topic is near it",
                        report.article_id)
    return Decision(None, f"no open story is close enough (nearest: \"{best[2].story.headline}"
                          f"\", score {best[0]:.2f} < {JOIN_SCORE})", report.article_id,
                    best[0])


def _score(report: Report, fingerprint: Fingerprint, candidate: Candidate, at: datetime,
           anchor_weight: Mapping[str, float],
           background: Mapping[str, float]) -> tuple[float, str]:
    # The source whose cosine, corrected for the language pair, is the highest.
    similarity, cosine, nearest = -2.0, 0.0, None
    for source in candidate.sources:
        raw = float(np.dot(fingerprint.vector, source.fingerprint.vector))
        value = raw + _language_offset(report.language, source.language, background)
        if value > similarity:
            similarity, cosine, nearest = value, raw, source
    if nearest is None:
        return -1.0, "it has no source to compare with"
    mine = fingerprint.anchors
    # fsum and a total order: the same score and words whatever order the sets iterate in
    # (it changes with the hash seed, so with every process and every restart).
    total = math.fsum(anchor_weight.get(a, _RARE) for a in mine)
    shared = sorted(mine & candidate.anchors, key=lambda a: (-anchor_weight.get(a, _RARE), a))
    overlap = math.fsum(anchor_weight.get(a, _RARE) for a in shared) / total if total else 0.0
    days = abs((at - candidate.began).total_seconds()) / 86400.0
    score = similarity + ANCHOR_WEIGHT * overlap - DAY_PENALTY * max(0.0, days - 1.0)
    why = f"close to {nearest.outlet}'s report (similarity {cosine:.2f})"
    if shared:
        why += ", same " + ", ".join(a.lstrip("#") for a in shared[:4])
    return score, why


def _language_offset(one: str | None, other: str | None,
                     background: Mapping[str, float]) -> float:
    """What the cosine of two reports gains for being told in these two languages."""
    if not one or not other or one == other:
        offset = 0.0
    elif one in MODEL_LANGUAGES and other in MODEL_LANGUAGES:
        offset = CROSS_LANGUAGE
    else:
        offset = CROSS_UNTRAINED
    measured = background.get(other or "")
    if measured is None:
        return offset
    return min(offset, BACKGROUND - measured)


#: The weight of an anchor no open story uses yet.
_RARE = 1.0


def anchor_weights(counts: Mapping[str, int], stories: int,
                   anchors: Iterable[str]) -> dict[str, float]:
    """Weigh each anchor by how few of ``stories`` open stories use it (``counts``).

    ``log(1 + stories / uses) / log(1 + stories)``: 1 for a name no other story has, falling
    towards 0 for one that every story has. With few open stories every name weighs near 1.
    """
    scale = math.log1p(max(stories, 1))
    return {a: math.log1p(max(stories, 1) / max(counts.get(a, 0), 1)) / scale
            if counts.get(a, 0) else _RARE for a in anchors}
