"""Cut an article's text as written into paragraphs and sentences.

In: the original text of a field. Out: ``(start, end)`` offsets into it, in order, each
window trimmed of white space. No I/O, no normalization: the matcher maps these offsets into
normalized text itself (:meth:`monitor.tagging.text.Normalized.starts_to_normalized`).

Paragraphs end at blank lines (at line breaks in a text without any); sentences never cross
a paragraph, and the rules of :func:`sentences` say where they end.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from operator import methodcaller

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_ABBREVIATIONS = (
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "cmdr", "adm", "sgt",
    "sen", "rep", "gov", "pres", "st", "no", "nos", "vs", "etc", "jr", "sr", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "dept", "est",
    "fig", "inc", "ltd", "co", "corp", "univ", "mt", "ft", "rev", "hon", "amb")
_CLOSING = "[\"'\u201d\u2019\u00bb)\\]\u300d\u300f\uff09]*"
# After the mark: white space, then a character that is not a lower-case letter.
_NEXT_STARTS_SENTENCE = "(\\s+)(?=[^\\sa-z\u00df-\u00ff\u0430-\u044f])"


def _not_after(words: tuple[str, ...]) -> str:
    """One look-behind per word length: "not after any of these words and a period".

    A look-behind must have a fixed width, so the words go in by length; one alternation
    per length is checked at each period far faster than a look-behind per word.
    """
    out = []
    for size in sorted({len(w) for w in words}):
        alternatives = "|".join("".join(f"[{c.upper()}{c}]" for c in w)
                                for w in words if len(w) == size)
        out.append(f"(?<!\\b(?:{alternatives})\\.)")
    return "".join(out)


# Every pattern starts with its literal mark, which the regex engine finds fast. A period
# does not end a sentence after an abbreviation, an initial ("J. Smith") or inside a dotted
# abbreviation ("U.S.").
_SENTENCE_ENDS = {
    ".": re.compile("\\.(?<!\\b[^\\W\\d_]\\.)(?<!\\.[^\\W\\d_]\\.)"
                    + _not_after(_ABBREVIATIONS)
                    + "[.!?]*" + _CLOSING + _NEXT_STARTS_SENTENCE),
    **{mark: re.compile(re.escape(mark) + "[.!?\u2026]*" + _CLOSING + _NEXT_STARTS_SENTENCE)
       for mark in "!?\u2026\u061f\u0964"},
    **{mark: re.compile(re.escape(mark) + "[\u3002\uff01\uff1f]*" + _CLOSING + "(\\s*)")
       for mark in "\u3002\uff01\uff1f"},
}


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Return the paragraphs of ``text`` as ``(start, end)`` offsets, white space trimmed.

    Paragraphs are separated by blank lines; a text without blank lines is split at line breaks
    (feeds extracted from HTML often put one paragraph per line).
    """
    splitter = _BLANK_LINE if _BLANK_LINE.search(text) else _LINE_BREAK
    out, start = [], 0
    for m in splitter.finditer(text):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [span for span in (_trim(text, s, e) for s, e in out) if span[0] < span[1]]


def sentences(text: str, within: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Return the sentences of ``text`` (inside each paragraph) as ``(start, end)`` offsets.

    Rules, in order: a sentence never crosses a paragraph; it ends after ``. ! ? …`` (and any
    closing quote or bracket) followed by white space and a word that does not start with a
    lower-case letter, or after a CJK full stop; a period does not end a sentence after a known
    abbreviation (``Mr.``, ``Sept.``), an initial or a dotted abbreviation (``U.S.``).
    """
    ends = _sentence_ends(text)
    keys = [end for end, _ in ends]
    out = []
    for pstart, pend in within if within is not None else paragraphs(text):
        start = pstart
        for end, following in ends[bisect_right(keys, pstart):bisect_right(keys, pend)]:
            out.append((start, end))
            start = following
        out.append((start, pend))
    return [span for span in out if span[0] < span[1]]


_GROUP_1_SPAN = methodcaller("span", 1)


def _sentence_ends(text: str) -> list[tuple[int, int]]:
    """Each sentence end: where it ends, and where the next one starts (after white space)."""
    found: dict[int, int] = {}
    for mark, pattern in _SENTENCE_ENDS.items():
        if mark in text:
            # Every pattern ends with the white-space group: its span is (end, next start).
            found.update(map(_GROUP_1_SPAN, pattern.finditer(text)))
    return sorted(found.items())


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    if start < end and (text[start].isspace() or text[end - 1].isspace()):
        part = text[start:end]
        left = len(part) - len(part.lstrip())
        return start + left, start + len(part.rstrip())
    return start, end
