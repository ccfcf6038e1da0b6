# ruff: noqa: RUF002 - examples in many scripts are the point of this module
"""Normalize article text and watch-topic terms the same way, with a way back to the original.

In: an article field (title or body) or a piece of a term an analyst wrote. Out: a
:class:`Normalized` string that the matcher searches, with a way back to the offsets of the
text as written. No I/O, no knowledge of watch topics. Terms become patterns in
:mod:`monitor.tagging.terms`; text is cut into sentences in :mod:`monitor.tagging.segments`.

Normalized text is lower case, without diacritics, with every run of punctuation or white space
turned into one space, and padded with a space at both ends, so a term is found on word
boundaries by searching for ``" term "``::

    >>> normalize("Kim Jong-un’s ÉLITE troops").text
    ' kim jong un elite troops '

What folds together, for terms and text alike:

- case (``casefold``), NFKC forms (full-width ``ＤＰＲＫ`` is ``dprk``), diacritics of Latin,
  Greek and Cyrillic letters (``Corée`` is ``coree``, ``ё`` is ``е``);
- curly quotes, dashes and hyphens (``Jong-un`` is ``jong un``), possessive ``'s``;
- Arabic letter variants (hamza forms of alef, alef maqsura, taa marbuta) and diacritics;
- a space is put between a Chinese, Japanese or Korean character and a Latin letter or digit,
  so ``ICBM을`` contains the word ``icbm``.

Offsets: building the map from normalized back to original offsets costs more than the
normalization itself, so it is built only when asked for (only for articles that match).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from monitor.tagging.scripts import CJK

# Apostrophe look-alikes; they become "'" first so that the possessive rule sees one character.
_APOSTROPHES = frozenset("'\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\u2032\uff07")
_ARABIC_LETTERS = {
    "\u0622": "\u0627", "\u0623": "\u0627", "\u0625": "\u0627", "\u0671": "\u0627",  # alef forms
    "\u0649": "\u064a", "\u06cc": "\u064a",  # alef maqsura, Persian yeh -> yeh
    "\u0629": "\u0647",  # taa marbuta -> heh
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u0640": "",  # tatweel (stretching)
}


def _strippable_mark(c: str) -> bool:
    o = ord(c)
    return (0x0300 <= o <= 0x036F or 0x064B <= o <= 0x065F or o == 0x0670
            or 0x06D6 <= o <= 0x06ED)


def _fold_char(ch: str) -> str:
    """Fold one character; the result may be empty or longer than one character."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if c in _APOSTROPHES:
            out.append("'")
            continue
        o = ord(c)
        # Latin, Greek, Cyrillic: drop diacritics. Never decompose Hangul syllables.
        if o < 0x0250 or 0x0370 <= o < 0x0530 or 0x1E00 <= o < 0x2000:
            c = "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))
            out.append(c if c.isalnum() else " " if c else "")
            continue
        if c in _ARABIC_LETTERS:
            out.append(_ARABIC_LETTERS[c])
            continue
        category = unicodedata.category(c)
        if category == "Nd":
            out.append(str(unicodedata.digit(c)))
        elif category[0] in "LN":
            out.append(c)
        elif category[0] == "M":
            out.append("" if _strippable_mark(c) else c)
        else:
            out.append(" ")
    folded = "".join(out)
    return " " if folded and not folded.strip(" ") else folded


class _FoldTable(dict[int, str]):
    """``str.translate`` table that folds each character the first time it is seen."""

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key))
        self[key] = value
        if len(value) != 1:
            _UNEVEN.add(chr(key))
        return value


_UNEVEN: set[str] = set()  # characters whose folded form is not exactly one character long
_TABLE = _FoldTable()
for _code in range(128):  # ASCII folds one to one: offset mapping skips ASCII text for that
    if len(_TABLE[_code]) != 1:
        raise AssertionError(f"ASCII {_code} folds unevenly")

# Possessive 's at a word end and any other apostrophe become a space; then every run of
# spaces becomes one. Both patterns start with a literal, which the regex engine finds fast.
_APOSTROPHE = re.compile(r"'(?:s(?!\w))?")
_SPACES = re.compile("  +")
_HAS_CJK = re.compile(f"[{CJK}]")
_CJK_EDGE = re.compile(f"(?<=[{CJK}])(?=[^\\W{CJK}])|(?<=[^\\W{CJK}])(?=[{CJK}])")


class _Edits:
    """Where one string was rewritten into another: sorted, non-overlapping replaced spans."""

    __slots__ = ("dst_end", "dst_start", "src_end", "src_start")

    def __init__(self, spans: list[tuple[int, int, int, int]]) -> None:
        self.src_start = [s[0] for s in spans]
        self.src_end = [s[1] for s in spans]
        self.dst_start = [s[2] for s in spans]
        self.dst_end = [s[3] for s in spans]

    def back(self, pos: int, *, end: bool) -> int:
        """Map a destination offset to the source: a start (or exclusive end) of a span."""
        probe = pos - 1 if end else pos
        i = bisect_right(self.dst_start, probe) - 1
        if i < 0:
            return pos
        if probe < self.dst_end[i] or (self.dst_start[i] == self.dst_end[i] == pos and end):
            return self.src_end[i] if end else self.src_start[i]
        return pos - self.dst_end[i] + self.src_end[i]

    def forward(self, pos: int, *, end: bool) -> int:
        """Map a source offset to the destination."""
        probe = pos - 1 if end else pos
        i = bisect_right(self.src_start, probe) - 1
        if i < 0:
            return pos
        if probe < self.src_end[i]:
            return self.dst_end[i] if end else self.dst_start[i]
        return pos - self.src_end[i] + self.dst_end[i]


    def forward_starts(self, positions: list[int]) -> list[int]:
        """:meth:`forward` for many sorted start offsets, in one walk."""
        out, i, count = [], 0, len(self.src_start)
        src_start, src_end = self.src_start, self.src_end
        for pos in positions:
            while i < count and src_start[i] <= pos:
                i += 1
            j = i - 1
            if j < 0:
                out.append(pos)
            elif pos < src_end[j]:
                out.append(self.dst_start[j])
            else:
                out.append(pos - src_end[j] + self.dst_end[j])
        return out


def _edits_from_matches(matches: list[tuple[int, int]], width: int) -> _Edits:
    """Edits for regex matches in a source that were each replaced by ``width`` characters."""
    spans, delta = [], 0
    for start, end in matches:
        dst = start + delta
        spans.append((start, end, dst, dst + width))
        delta += width - (end - start)
    return _Edits(spans)


class _SpaceRuns:
    """The edits that turned each run of spaces of a padded text into one space.

    The same answers as the :class:`_Edits` of ``_SPACES.finditer``, without a Python step
    per run (a text has hundreds: after every comma and period): mapping forward is a
    prefix count of the characters kept, ``kept[p]``, made with numpy. Of a run, only the
    last space is kept, so every position inside a run maps to the run's one space. Mapping
    back is needed only for the evidence of a match; the runs' spans are made then.
    """

    __slots__ = ("_double", "_edits", "_kept")

    def __init__(self, padded: str) -> None:
        data = padded.encode("ascii") if padded.isascii() else padded.encode("utf-32-le")
        codes = np.frombuffer(data, dtype=np.uint8 if len(data) == len(padded) else np.uint32)
        space = codes == 32
        # A space followed by a space is dropped; every other character is kept.
        self._double = np.empty(len(codes), dtype=np.bool_)
        np.logical_and(space[:-1], space[1:], out=self._double[:-1])
        self._double[-1] = False
        self._kept: npt.NDArray[np.int32] = np.empty(len(codes) + 1, dtype=np.int32)
        self._kept[0] = 0
        np.cumsum(~self._double, dtype=np.int32, out=self._kept[1:])
        self._edits: _Edits | None = None

    def _forward(self, pos: int) -> int:
        size = len(self._double)
        return int(self._kept[pos]) if pos <= size else int(self._kept[size]) + pos - size

    def forward(self, pos: int, *, end: bool) -> int:
        """Map a source offset to the destination (see :meth:`_Edits.forward`)."""
        if pos <= 0:
            return pos
        out = self._forward(pos)
        # An end inside a run, not after its last space, still takes the run's space.
        if end and pos <= len(self._double) and self._double[pos - 1]:
            out += 1
        return out

    def forward_starts(self, positions: list[int]) -> list[int]:
        """:meth:`forward` for many start offsets."""
        size = len(self._double)
        if not positions or max(positions) > size or min(positions) < 0:
            return [self.forward(p, end=False) for p in positions]
        return self._kept[positions].tolist()  # type: ignore[no-any-return]

    def back(self, pos: int, *, end: bool) -> int:
        """Map a destination offset to the source (see :meth:`_Edits.back`)."""
        if self._edits is None:
            # A match's evidence maps dozens of offsets back: the runs as spans, once.
            self._edits = self._runs()
        return self._edits.back(pos, end=end)

    def _runs(self) -> _Edits:
        """The runs of two or more spaces as :class:`_Edits`, each replaced by one space."""
        # The spaces followed by a space: consecutive within a run, with gaps between runs.
        doubled = np.flatnonzero(self._double)
        if not len(doubled):
            return _Edits([])
        gaps = np.flatnonzero(doubled[1:] - doubled[:-1] != 1)
        starts = doubled[np.concatenate(([0], gaps + 1))]
        ends = doubled[np.concatenate((gaps, [len(doubled) - 1]))] + 2
        removed = ends - starts - 1
        dst = (starts - (np.cumsum(removed) - removed)).tolist()
        return _Edits(list(zip(starts.tolist(), ends.tolist(), dst,
                               [d + 1 for d in dst], strict=True)))


class _LeadingPad(_Edits):
    """The space put before the text: the one-insertion :class:`_Edits`, mapping forward
    in one step per offset."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__([(0, 0, 0, 1)])

    def forward_starts(self, positions: list[int]) -> list[int]:
        # An insertion at 0 moves every start from 0 on by one.
        return [pos + 1 if pos >= 0 else pos for pos in positions]


_LEADING_PAD = _LeadingPad()
_uneven_re: tuple[int, re.Pattern[str] | None] = (0, None)


def _uneven_pattern() -> re.Pattern[str] | None:
    global _uneven_re
    if _uneven_re[0] != len(_UNEVEN):
        chars = sorted(_UNEVEN)
        _uneven_re = (len(chars), re.compile("[" + "".join(re.escape(c) for c in chars) + "]")
                      if chars else None)
    return _uneven_re[1]


class Normalized:
    """One field of an article, normalized, with offsets that map back to the original.

    ``text`` starts and ends with a space and never holds two spaces in a row.
    """

    __slots__ = ("_collapsed", "_layers", "_padded", "_translated", "has_cjk", "original",
                 "text")

    def __init__(self, original: str) -> None:
        self.original = original
        translated = _translate(original)
        self._translated = translated
        if "'" in translated:
            translated = _APOSTROPHE.sub(" ", translated)
        padded = collapsed = " " + translated + " "
        while "  " in collapsed:  # faster than a regex: runs are short
            collapsed = collapsed.replace("  ", " ")
        self.has_cjk = not translated.isascii() and _HAS_CJK.search(collapsed) is not None
        self.text = _CJK_EDGE.sub(" ", collapsed) if self.has_cjk else collapsed
        self._padded = padded
        self._collapsed = collapsed
        self._layers: list[_Edits | _SpaceRuns] | None = None

    def _build_layers(self) -> list[_Edits | _SpaceRuns]:
        # Outermost first: final <- collapsed <- padded <- without apostrophes <- translated
        # <- original. Layers that changed nothing are left out.
        layers: list[_Edits | _SpaceRuns] = []
        if self.has_cjk:
            layers.append(_edits_from_matches(
                [(m.start(), m.start()) for m in _CJK_EDGE.finditer(self._collapsed)], 1))
        padded = self._padded
        if padded.strip(" "):
            layers.append(_SpaceRuns(padded))
        else:
            layers.append(_Edits([(0, len(padded), 0, 1)]))
        layers.append(_LEADING_PAD)
        if "'" in self._translated:
            layers.append(_edits_from_matches(
                [m.span() for m in _APOSTROPHE.finditer(self._translated)], 1))
        uneven = None if self.original.isascii() else _uneven_pattern()
        if uneven is not None:
            spans, delta = [], 0
            for m in uneven.finditer(self.original):
                width = len(_TABLE[ord(m.group())])
                dst = m.start() + delta
                spans.append((m.start(), m.end(), dst, dst + width))
                delta += width - 1
            if spans:
                layers.append(_Edits(spans))
        return layers

    def to_original(self, pos: int, *, end: bool = False) -> int:
        """Map an offset in ``text`` to the original string (``end``: an exclusive end)."""
        if self._layers is None:
            self._layers = self._build_layers()
        for layer in self._layers:
            pos = layer.back(pos, end=end)
        return max(0, min(pos, len(self.original)))

    def starts_to_normalized(self, positions: list[int]) -> list[int]:
        """Map sorted start offsets of the original string to ``text``."""
        if self._layers is None:
            self._layers = self._build_layers()
        for layer in reversed(self._layers):
            positions = layer.forward_starts(positions)
        limit = len(self.text)
        return [max(0, min(pos, limit)) for pos in positions]

    def to_normalized(self, pos: int, *, end: bool = False) -> int:
        """Map an offset in the original string to ``text``."""
        if self._layers is None:
            self._layers = self._build_layers()
        for layer in reversed(self._layers):
            pos = layer.forward(pos, end=end)
        return max(0, min(pos, len(self.text)))


def _translate(text: str) -> str:
    """Fold every character with the table; the same result as ``text.translate(_TABLE)``.

    ``str.translate`` is fast only on pure ASCII. Mostly-ASCII text (English with curly quotes
    or an accented name) is translated as ASCII with each other character replaced by "?",
    then the few real characters are folded one by one and put back.
    """
    if text.isascii():
        return text.translate(_TABLE)
    if len(text.encode("utf-8")) - len(text) > len(text) // 16:
        return text.translate(_TABLE)
    masked = text.encode("ascii", "replace").decode("ascii")
    folded = masked.translate(_TABLE)
    pieces, last = [], 0
    at = masked.find("?")
    while at != -1:
        char = text[at]
        if char != "?":
            pieces.append(folded[last:at])
            pieces.append(_TABLE[ord(char)])
            last = at + 1
        at = masked.find("?", at + 1)
    pieces.append(folded[last:])
    return "".join(pieces)


def normalize(text: str) -> Normalized:
    """Normalize one field of an article for matching (see the module docstring)."""
    return Normalized(text)


def fold(text: str) -> str:
    """Return the normalized form of ``text`` without the padding spaces."""
    return Normalized(text).text.strip(" ")


def fold_piece(piece: str) -> str:
    """Normalize part of a term like :func:`normalize`, keeping one space at an edge."""
    # NUL marks the edges: folding never produces it, and it is not a word character.
    folded = _APOSTROPHE.sub(" ", "\0" + piece.translate(_TABLE) + "\0")
    collapsed = _SPACES.sub(" ", folded)
    if not piece.isascii() and _HAS_CJK.search(collapsed):
        collapsed = _CJK_EDGE.sub(" ", collapsed)
    return collapsed[1:-1]
