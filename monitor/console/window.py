"""The rule editor's window: the last days' articles in memory, with a word index over them.

In: :class:`~monitor.console.model.WindowArticle` rows from the console's store, all of them
once and then the new ones by insertion sequence (``store.window_since``). Out: for a
compiled :class:`~monitor.tagging.rules.WatchTopic`, the articles it *can* match
(:meth:`Window.candidates`): a superset of the articles it does match, so that only those
need the real matcher. It never decides a match, never changes the store, and never drops
an article that could match.

Why it is exact. Each article is normalized once, exactly as the matcher normalizes it
(:func:`monitor.tagging.text.normalize`), and split at the spaces of the normalized text into
its set of *words*. A pattern key (``" artillery shell"``) can only occur in a normalized
text if its pieces between spaces occur in the words: a piece with a space on both sides is a
whole word, one with a space before it starts a word, one with a space after it ends a word,
one with neither (Chinese, ``*rakete``) lies inside a word. So each pattern is tested by
one such piece (:func:`piece_of`), looked up in a vocabulary of the window's words instead of
in the texts. A watch topic's rule is then tested as :meth:`Scan.anywhere
<monitor.tagging.scan.Scan.anywhere>` tests it, with "some pattern's piece is among the
article's words" in place of "some pattern fired": a necessary condition of every match
(vetoes, windows, wildcard rests, capitals and thresholds can only remove matches).

Storage: articles are held in :class:`Segment` objects of up to :data:`SEGMENT_SIZE`
articles, each with its own vocabulary and, per word, the positions of the articles holding
it (a compressed sparse row of ``numpy`` arrays). New articles form new
segments; small neighbours are merged without normalizing again; a segment whose newest
article left the window is dropped. Look-ups of a piece are cached per segment.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any, Literal, Protocol

import ahocorasick
import numpy as np
import numpy.typing as npt

from monitor.console.model import WindowArticle
from monitor.tagging.rules import Group, Term, WatchTopic
from monitor.tagging.text import normalize

logger = logging.getLogger(__name__)

#: Most articles in one segment; bigger ones are never merged further.
SEGMENT_SIZE = 20_000
#: Cached piece look-ups per segment before the cache starts over.
CACHE_LIMIT = 50_000

Relation = Literal["word", "prefix", "suffix", "inside"]
#: How a pattern is looked up: a piece of its key and how the piece sits in a word.
Piece = tuple[Relation, str]
Positions = npt.NDArray[np.int32]
Mask = npt.NDArray[np.bool_]


class WindowSource(Protocol):
    """What the window reads from the console's store."""

    def window_since(self, after_seq: int) -> tuple[list[WindowArticle], int]: ...


def piece_of(key: str) -> Piece | None:
    """The piece of a pattern key to look up, and how it must sit in a word.

    - a piece with a space on both sides in the key is a whole ``word``; with a space only
      before it, the ``prefix`` of a word; only after it, the ``suffix``; with none, ``inside``
      a word;
    - the most selective piece is chosen: a whole word first, then a prefix or suffix, then a
      piece inside a word; among those, the longest (then the first).

    ``None`` for a key of spaces only (no valid term compiles to one): it may fire anywhere.
    """
    parts = key.split(" ")
    best: tuple[tuple[int, int], Piece] | None = None
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if not part:
            continue
        before, after = i > 0, i < last
        relation: Relation = ("word" if after else "prefix") if before else (
            "suffix" if after else "inside")
        rank = (2 if before and after else 1 if before or after else 0, len(part))
        if best is None or rank > best[0]:
            best = (rank, (relation, part))
    return None if best is None else best[1]


def words_of(article: WindowArticle) -> set[str]:
    """The words of an article's normalized title and text (see the module docstring)."""
    words = set(normalize(article.title).text.split(" "))
    words.update(normalize(article.text).text.split(" "))
    words.discard("")
    return words


_SERIALS = count()
_NOTHING = np.zeros(0, dtype=np.int32)


class Segment:
    """Up to :data:`SEGMENT_SIZE` articles and their word index; immutable once built.

    ``articles`` in insertion order (a position is an index into it); ``alive``: positions
    not replaced by a newer row of the same article id; ``fetched``: each article's
    ``fetched_at`` as POSIX seconds; ``serial``: unique in the process, for caches. Per
    word id (``vocabulary`` order): ``offsets`` cut ``postings``, the ascending positions
    of the articles holding the word.
    """

    def __init__(self, articles: Sequence[WindowArticle], vocabulary: dict[str, int],
                 offsets: npt.NDArray[np.int64], postings: Positions) -> None:
        self.articles = list(articles)
        self.vocabulary = vocabulary
        self.offsets = offsets
        self.postings = postings
        self.fetched = np.fromiter((a.fetched_at.timestamp() for a in self.articles),
                                   dtype=np.float64, count=len(self.articles))
        self.newest = float(self.fetched.max()) if len(self.fetched) else 0.0
        self.alive: Mask = np.ones(len(self.articles), dtype=np.bool_)
        self.serial = next(_SERIALS)
        self._cache: dict[Piece, Positions] = {}
        self._blob: tuple[str, npt.NDArray[np.int64]] | None = None

    def __len__(self) -> int:
        return len(self.articles)

    @classmethod
    def build(cls, articles: Sequence[WindowArticle]) -> Segment:
        """Normalize ``articles`` and index their words."""
        vocabulary: defaultdict[str, int] = defaultdict(count().__next__)
        word_id = vocabulary.__getitem__
        per_article = []
        for article in articles:
            words = words_of(article)
            per_article.append(np.fromiter(map(word_id, words), dtype=np.int64,
                                           count=len(words)))
        lengths = np.fromiter(map(len, per_article), dtype=np.int64, count=len(per_article))
        owners = np.repeat(np.arange(len(per_article), dtype=np.int64), lengths)
        return cls._from_pairs(articles, dict(vocabulary), _joined(per_article, np.int64),
                               owners)

    @classmethod
    def merge(cls, segments: Sequence[Segment]) -> Segment:
        """One segment holding the live articles of ``segments``, in order, without
        normalizing any text again: their vocabularies and postings are combined."""
        vocabulary: defaultdict[str, int] = defaultdict(count().__next__)
        word_id = vocabulary.__getitem__
        articles: list[WindowArticle] = []
        word_parts, owner_parts = [], []
        for segment in segments:
            keep = np.flatnonzero(segment.alive)
            # Old position -> new one, -1 for the replaced articles left out.
            renumber = np.full(len(segment), -1, dtype=np.int64)
            renumber[keep] = np.arange(len(keep), dtype=np.int64) + len(articles)
            articles += [segment.articles[i] for i in keep.tolist()]
            new_ids = np.fromiter(map(word_id, segment.vocabulary), dtype=np.int64,
                                  count=len(segment.vocabulary))
            words = np.repeat(new_ids, np.diff(segment.offsets))
            owners = renumber[segment.postings]
            kept = owners >= 0
            word_parts.append(words[kept])
            owner_parts.append(owners[kept])
        return cls._from_pairs(articles, dict(vocabulary), _joined(word_parts, np.int64),
                               _joined(owner_parts, np.int64))

    @classmethod
    def _from_pairs(cls, articles: Sequence[WindowArticle], vocabulary: dict[str, int],
                    words: npt.NDArray[np.int64], owners: npt.NDArray[np.int64]) -> Segment:
        """Index (word, article) pairs, each once, articles ascending in each word's list."""
        # A stable sort by word keeps each word's positions in the order they came: ascending.
        order = np.argsort(words, kind="stable")
        offsets = np.searchsorted(words[order], np.arange(len(vocabulary) + 1, dtype=np.int64))
        return cls(articles, vocabulary, offsets.astype(np.int64),
                   owners[order].astype(np.int32))

    # --- look-ups --------------------------------------------------------------------------

    def positions(self, pieces: Iterable[Piece]) -> dict[Piece, Positions]:
        """Per piece, the ascending positions of the articles holding it as it must sit."""
        cache = self._cache
        pieces = list(dict.fromkeys(pieces))
        wanted = [p for p in pieces if p not in cache]
        if wanted:
            if len(cache) + len(wanted) > CACHE_LIMIT:
                cache.clear()
            self._look_up(wanted)
        return {p: cache[p] for p in pieces}

    def _look_up(self, pieces: list[Piece]) -> None:
        cache = self._cache
        scanned: list[Piece] = []
        for piece in pieces:
            relation, text = piece
            if relation == "word":
                word = self.vocabulary.get(text)
                cache[piece] = self._postings([word]) if word is not None else _NOTHING
            else:
                scanned.append(piece)
        if not scanned:
            return
        # Prefixes, suffixes and pieces inside words: one pass of one automaton over all the
        # words, each between newlines (no word holds one: normalization makes it a space).
        blob, starts = self._words_blob()
        automaton: Any = ahocorasick.Automaton()
        for number, (relation, text) in enumerate(scanned):
            key = ("\n" + text if relation == "prefix" else text + "\n"
                   if relation == "suffix" else text)
            automaton.add_word(key, (number, len(key)))
        automaton.make_automaton()
        found: list[list[int]] = [[] for _ in scanned]
        for end, (number, length) in automaton.iter(blob):
            found[number].append(end - length + 1)
        for piece, at in zip(scanned, found, strict=True):
            if not at:
                cache[piece] = _NOTHING
                continue
            # The word holding a hit's first letter (a prefix key starts at the newline).
            words = np.searchsorted(starts, np.asarray(at, dtype=np.int64) + (
                piece[0] == "prefix"), side="right") - 1
            cache[piece] = self._postings(np.unique(words).tolist())

    def _postings(self, words: Sequence[int]) -> Positions:
        offsets = self.offsets
        if len(words) == 1:
            return self.postings[offsets[words[0]]:offsets[words[0] + 1]]
        return np.unique(np.concatenate([self.postings[offsets[w]:offsets[w + 1]]
                                         for w in words]))

    def _words_blob(self) -> tuple[str, npt.NDArray[np.int64]]:
        if self._blob is None:
            words = list(self.vocabulary)  # in id order: a dict keeps insertion order
            lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            starts = np.cumsum(lengths + 1) - lengths  # after each word's leading newline
            self._blob = ("\n" + "\n".join(words) + "\n", starts)
        return self._blob

    # --- rules -----------------------------------------------------------------------------

    def possible(self, topic: WatchTopic) -> Mask:
        """Which articles the topic's rule can fire in (see the module docstring)."""
        rule = topic.rule
        return self._possible(t for node in rule.walk() for t in _terms(node)).anywhere(rule)

    def holding(self, terms: Iterable[Term]) -> Mask:
        """Which articles one of ``terms`` can occur in."""
        terms = list(terms)
        return self._possible(terms).terms(terms)

    def _possible(self, terms: Iterable[Term]) -> _Possible:
        pieces = {pattern.key: piece_of(pattern.key) for term in terms
                  for pattern in term.patterns}
        found = self.positions(p for p in pieces.values() if p is not None)
        return _Possible(len(self), pieces, found)


def _joined(parts: list[Any], dtype: Any) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class _Possible:
    """Evaluate a rule over one segment's articles at once, as boolean masks."""

    def __init__(self, size: int, pieces: dict[str, Piece | None],
                 found: dict[Piece, Positions]) -> None:
        self.size = size
        self.pieces = pieces
        self.found = found

    def terms(self, terms: Iterable[Term]) -> Mask:
        mask = np.zeros(self.size, dtype=np.bool_)
        for term in terms:
            for pattern in term.patterns:
                piece = self.pieces[pattern.key]
                if piece is None:
                    return np.ones(self.size, dtype=np.bool_)
                mask[self.found[piece]] = True
        return mask

    def anywhere(self, group: Group) -> Mask:
        """Where ``group`` can fire, as :meth:`Scan.anywhere` decides it from the words."""
        kind = group.kind
        if kind == "terms":
            if group.at_least <= 1:
                return self.terms(group.terms)
            return self._count((self.terms([t]) for t in group.terms), group.at_least)
        if kind == "entity":
            assert group.entity is not None
            # Look-alikes (``not``) only remove occurrences: ignored, for a superset.
            return self.terms(group.entity.names)
        if kind == "all":
            mask = np.ones(self.size, dtype=np.bool_)
            for child in group.children:
                mask &= self.anywhere(child)
            return mask
        return self._count((self.anywhere(c) for c in group.children), group.at_least)

    def _count(self, masks: Iterable[Mask], at_least: int) -> Mask:
        total = np.zeros(self.size, dtype=np.int32)
        for mask in masks:
            total += mask
        found: Mask = total >= at_least
        return found


def _terms(group: Group) -> tuple[Term, ...]:
    if group.kind == "terms":
        return group.terms
    if group.kind == "entity" and group.entity is not None:
        return group.entity.names
    return ()


class Window:
    """Every article the store holds for the last ``span``, kept in segments.

    :meth:`refresh` reads what the store added since the last call; the first call reads
    everything (about 0.1 ms an article of 4 KB: normalizing and splitting it). Not
    thread-safe: the editor calls it under its own lock.
    """

    def __init__(self, source: WindowSource, *, span: timedelta = timedelta(days=7),
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.source = source
        self.span = span
        self.now = now
        self.segments: list[Segment] = []
        self.sequence = 0
        self.generation = 0
        self._where: dict[str, tuple[Segment, int]] = {}

    def refresh(self) -> int:
        """Read the store's new articles and drop segments that left the window.

        Return how many articles were added.
        """
        added = 0
        pending: list[WindowArticle] = []
        while True:
            rows, sequence = self.source.window_since(self.sequence)
            if not rows:
                break
            self.sequence = max(self.sequence, sequence)
            pending += rows
            while len(pending) >= SEGMENT_SIZE:
                self._append(pending[:SEGMENT_SIZE])
                added += SEGMENT_SIZE
                pending = pending[SEGMENT_SIZE:]
        if pending:
            self._append(pending)
            added += len(pending)
        dropped = self._expire()
        if added or dropped:
            self.generation += 1
        return added

    def _append(self, rows: list[WindowArticle]) -> None:
        segment = Segment.build(rows)
        for position, article in enumerate(rows):
            old = self._where.get(article.article_id)
            if old is not None:
                old[0].alive[old[1]] = False
            self._where[article.article_id] = (segment, position)
        self.segments.append(segment)
        self._compact()

    def _compact(self) -> None:
        """Merge the newest segments while the newer is at least half the older's size.

        Like a binary counter: an article is merged about log2(SEGMENT_SIZE / batch) times,
        and there are about that many small segments at any time.
        """
        segments = self.segments
        while len(segments) >= 2:
            older, newer = segments[-2], segments[-1]
            if len(older) + len(newer) > SEGMENT_SIZE or 2 * len(newer) < len(older):
                break
            merged = Segment.merge([older, newer])
            segments[-2:] = [merged]
            for position, article in enumerate(merged.articles):
                self._where[article.article_id] = (merged, position)

    def _expire(self) -> int:
        cutoff = (self.now() - self.span).timestamp()
        gone = [s for s in self.segments if s.newest < cutoff]
        if not gone:
            return 0
        self.segments = [s for s in self.segments if s.newest >= cutoff]
        for segment in gone:
            for position, article in enumerate(segment.articles):
                if self._where.get(article.article_id) == (segment, position):
                    del self._where[article.article_id]
        return len(gone)

    def find(self, article_id: str) -> WindowArticle | None:
        """The article with this id, if the window holds it."""
        found = self._where.get(article_id)
        return None if found is None else found[0].articles[found[1]]

    def in_window(self, segment: Segment, since: datetime) -> Mask:
        """The segment's live articles fetched at ``since`` or later."""
        mask: Mask = segment.alive & (segment.fetched >= since.timestamp())
        return mask

    def candidates(self, topic: WatchTopic, since: datetime) -> Iterator[
            tuple[Segment, Positions]]:
        """Per segment, the positions of the articles since ``since`` the topic can match."""
        for segment in self.segments:
            mask = segment.possible(topic) & self.in_window(segment, since)
            yield segment, np.flatnonzero(mask).astype(np.int32)

    def count(self, since: datetime) -> int:
        """How many live articles were fetched at ``since`` or later."""
        return sum(int(self.in_window(s, since).sum()) for s in self.segments)
