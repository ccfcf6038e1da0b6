"""Cut one article into the windows a rule counts in: title, sentences, paragraphs, runs of words.

In: an article's normalized fields (``Normalized`` title and text) and a window kind (a
:class:`~monitor.tagging.rules.Within`). Out: :class:`Windows`, numbered windows with their
spans in normalized and in original offsets, and which windows hold a given hit. Cuts are
made lazily and once per article (:class:`ArticleWindows`). It never looks at watch topics,
terms or probes: which hits to anchor ``words`` windows on is the caller's choice.

Numbering, for every kind: window 0 is the title. ``article``: 1 is the whole article (both
fields). ``sentence`` and ``paragraph``: 1.. are the text's, in order; they tile the text.
``title``: only 0. ``words``: runs of N words, one starting at each word where an anchor hit
starts, in either field, in (field, word) order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from monitor.tagging.rules import Within
from monitor.tagging.scan import TEXT, TITLE, Hit
from monitor.tagging.segments import paragraphs, sentences
from monitor.tagging.text import Normalized

SENTENCE, PARAGRAPH = Within("sentence"), Within("paragraph")
#: How coarse each window kind is, for the groups that set their own ``within``.
RANK = {"sentence": 1, "paragraph": 2, "article": 3}

# (field, or -1 for both; start; end)
Span = tuple[int, int, int]


def overlap(a: Span, b: Span) -> bool:
    """Whether two spans share a character (a span of both fields overlaps everything)."""
    if a[0] == -1 or b[0] == -1:
        return True
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


class ArticleWindows:
    """The windows of every kind of one article, each cut at most once."""

    def __init__(self, fields: tuple[Normalized, Normalized]) -> None:
        self.fields = fields
        self._windows: dict[str, Windows] = {}
        self._paragraphs: list[tuple[int, int]] | None = None

    def paragraphs(self) -> list[tuple[int, int]]:
        """The text's paragraphs, in original offsets."""
        if self._paragraphs is None:
            self._paragraphs = paragraphs(self.fields[TEXT].original)
        return self._paragraphs

    def of_kind(self, within: Within) -> Windows:
        """The ``article``, ``title``, ``sentence`` or ``paragraph`` windows."""
        key = str(within)
        found = self._windows.get(key)
        if found is None:
            found = self._windows[key] = Windows(self, within)
        return found

    def words(self, owner: str, within: Within, anchors: Iterable[Hit]) -> Windows:
        """The ``words`` windows anchored on ``anchors``, cut once per ``owner``."""
        key = f"{owner}/{within}"
        found = self._windows.get(key)
        if found is None:
            found = self._windows[key] = Windows(self, within)
            found.set_anchors(anchors)
        return found

    def starts(self, kind: str) -> list[int]:
        """Where each sentence or paragraph of the text starts, in normalized offsets."""
        return self.of_kind(SENTENCE if kind == "sentence" else PARAGRAPH).starts


class Windows:
    """The windows of one kind in one article (see the module docstring for the numbering).

    ``spans``: per window, (field or -1 for both, start, end) in normalized offsets;
    ``original``: the same in the fields as written; ``starts``: for sentences and
    paragraphs, where each text window starts (normalized).
    """

    def __init__(self, article: ArticleWindows, within: Within) -> None:
        self.fields = article.fields
        self.within = within
        self.kind = within.kind
        title = self.fields[TITLE]
        self.spans: list[Span] = [(TITLE, 0, len(title.text))]
        self.original: list[Span] = [(TITLE, 0, len(title.original))]
        self.starts: list[int] = []
        if self.kind == "article":
            self.spans.append((-1, 0, len(self.fields[TEXT].text)))
            self.original.append((-1, 0, len(self.fields[TEXT].original)))
        elif self.kind in ("sentence", "paragraph"):
            norm = self.fields[TEXT]
            cut = article.paragraphs()
            if self.kind == "sentence":
                cut = sentences(norm.original, cut)
            # Windows tile the text, so each one ends where the next starts: mapping the
            # starts alone halves the cost.
            self.starts = norm.starts_to_normalized([start for start, _ in cut])
            ends = [*self.starts[1:], len(norm.text)] if self.starts else []
            self.spans += [(TEXT, a, b) for a, b in zip(self.starts, ends, strict=True)]
            self.original += [(TEXT, start, end) for start, end in cut]
        self._anchors: list[tuple[int, int]] = []

    def set_anchors(self, hits: Iterable[Hit]) -> None:
        """For ``words`` windows: one window per distinct (field, word) where a hit starts."""
        anchors = sorted({(h[0], self.word(h[0], h[1])) for h in hits})
        self._anchors = anchors
        size = self.within.words
        self.spans, self.original = [], []
        for fld, word in anchors:
            norm = self.fields[fld]
            start = self._word_start(fld, word)
            end = self._word_start(fld, word + size) - 1
            self.spans.append((fld, start, max(start, end)))
            self.original.append((fld, norm.to_original(start),
                                  norm.to_original(max(start, end), end=True)))

    def word(self, fld: int, offset: int) -> int:
        """The number of the word at ``offset`` in a field."""
        return self.fields[fld].text.count(" ", 0, offset)

    def _word_start(self, fld: int, word: int) -> int:
        text = self.fields[fld].text
        pos = 0
        for _ in range(word):
            pos = text.find(" ", pos) + 1
            if pos <= 0:
                return len(text)
        return pos

    def of(self, hit: Hit) -> tuple[int, ...] | range:
        """The ids of the windows holding a hit."""
        fld, start = hit[0], hit[1]
        kind = self.kind
        if fld == TEXT and (kind == "sentence" or kind == "paragraph"):
            i = bisect_right(self.starts, start)
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
        """One line for people: which window, and its text (shortened)."""
        fld, start, end = self.original[window]
        source = self.fields[TITLE if fld == TITLE else TEXT].original
        quote = source[start:end]
        if fld == -1:
            return "article"
        if len(quote) > 120:
            quote = quote[:117] + "..."
        name = "title" if fld == TITLE else (
            f"{self.kind} {window}" if self.kind != "words" else f"{self.within} from "
            f"offset {start}")
        return f"{name}: {quote!r}"
