# ruff: noqa: RUF002 - examples in many scripts are the point of this module
"""Turn a term an analyst wrote into the literal patterns that find it in normalized text.

In: one term (``missile*``, ``Kim Jong Un``, ``UN``, ``북한``). Out: :class:`Pattern` objects,
each a key searched literally in text normalized by :mod:`monitor.tagging.text`, with what a
hit must also satisfy; or a :class:`TermError` that says, for the analyst, why the term can
never match. No I/O, no knowledge of watch topics or articles.

:func:`compile_term` adds the variants an analyst should not have to list: plurals
(``missile`` also finds ``missiles``), joined syllables of romanized names (``Kim Jong Un``
also finds ``Kim Jongun``), Arabic prefixes (``روسيا`` also finds ``وروسيا``). It never
guesses beyond those rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

from monitor.tagging.scripts import script_class
from monitor.tagging.text import fold, fold_piece


class TermError(ValueError):
    """A term that cannot be used; the message says why, for the analyst."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One way to find a term in normalized text.

    ``key`` is searched literally; it starts with a space when the term must start a word and
    ends with one when it must end a word. ``rest`` (terms with ``*`` inside) must then match
    at the key's start. ``caps`` leading letters of the match must be capitals in the original
    (acronyms: ``UN`` does not fire on French ``un``).
    """

    key: str
    rest: re.Pattern[str] | None = None
    caps: int = 0

    @property
    def lead(self) -> int:
        return 1 if self.key.startswith(" ") else 0


_ACRONYM = re.compile(r"[^\W\d_]{2,5}\Z")
_LATIN_WORD = re.compile(r"[a-z]+\Z")
_HYPHENATED = re.compile(r"[^\W\d_]+-[^\W\d_]+")
_ARABIC_WORD = re.compile("[\u0621-\u064a]+\\Z")
# wa-, fa-, bi-, li-, ka-, wa-bi-, wa-li- (and, so, with/in, for, like)
_ARABIC_PREFIXES = ("", "\u0648", "\u0641", "\u0628", "\u0644", "\u0643",
                    "\u0648\u0628", "\u0648\u0644")
_AL = "\u0627\u0644"
MIN_WILDCARD_STEM = 3
# Terms that are lower-case ASCII words separated by single spaces, or one such word and
# "*": what compile_term makes of them needs none of its general rules.
_PLAIN_PHRASE = re.compile(r"[a-z]+(?: [a-z]+)*\Z")
_PLAIN_STEM = re.compile(r"[a-z]+\*\Z")


@lru_cache(maxsize=200_000)
def compile_term(term: str) -> tuple[Pattern, ...]:
    """Return the patterns that find ``term``; raise :class:`TermError` if it can never match.

    - ``*`` at the end of a word: any ending (``munition*``); at the start: any beginning
      (``*rakete``); inside: any letters (``Северн* Коре*``). At least three letters (two in
      Chinese, Japanese, Korean) must precede the first ``*``.
    - Words in Latin, Cyrillic, Arabic... script match whole words; Korean terms must start a
      word but may take particles (``북한`` finds ``북한은``); Chinese and Japanese terms match
      anywhere.
    - Variants added: ``s``/``es``/``ies`` plurals of the last Latin word of three letters or
      more; short romanized syllables joined (``Jong Un`` → ``Jongun``); Arabic conjunction,
      preposition and article prefixes on the first word.
    - A term of two to five capitals (``UN``, ``DPRK``) matches only in capitals.
    """
    written = term.strip()
    if written.isascii():
        # Most terms are lower-case English words, phrases or word stems: the rules below
        # then reduce to the words with the plurals of the last one, or to the stem at a
        # word's start. Watch topic files hold tens of thousands of them.
        if _PLAIN_PHRASE.match(written):
            return tuple(Pattern(f" {' '.join(variant)} ") for variant in _plurals(
                written.split(" "), acronym=False))
        if _PLAIN_STEM.match(written) and len(written) > MIN_WILDCARD_STEM:
            return (Pattern(" " + written[:-1]),)
    return _compile_term(written)


def _compile_term(written: str) -> tuple[Pattern, ...]:
    """:func:`compile_term` for any term, without its shortcuts."""
    if not written:
        raise TermError("empty term")
    if not written.replace("*", "").strip():
        raise TermError("a term of only '*' would match every word")
    folded = re.sub(r"\*+", "*", "*".join(fold_piece(p) for p in written.split("*")))
    words = folded.split()
    if not "".join(words).replace("*", ""):
        raise TermError(f"{written!r} has no letters or digits (only punctuation?)")
    if "*" in words:
        raise TermError(f"{written!r}: a '*' must be attached to a word, e.g. missile*")
    caps = 0
    if _ACRONYM.match(written) and written.isupper():
        caps = len(written)
    variants = _joined(words, written)
    # Plurals only for common nouns (the last word written in lower case) and acronyms.
    if caps or written.split()[-1].islower():
        variants = [v for base in variants for v in _plurals(base, acronym=caps > 0)]
    variants = [v for base in variants for v in _arabic_prefixed(base)]
    out: dict[tuple[str, str | None, int], Pattern] = {}
    for variant in variants:
        pattern = _pattern(" ".join(variant), written, caps)
        out.setdefault((pattern.key, pattern.rest.pattern if pattern.rest else None, caps),
                       pattern)
    return tuple(out.values())


def _pattern(text: str, written: str, caps: int) -> Pattern:
    lead_open = text.startswith("*")
    trail_open = text.endswith("*")
    core = text.strip("*")
    first, last = core[0], core[-1]
    lead = not lead_open and script_class(first) != "cjk"
    trail = not trail_open and script_class(last) == "spaced"
    stem = core.split("*", 1)[0]
    if "*" in text and len(stem.replace(" ", "")) < (
            2 if script_class(stem[:1] or "a") != "spaced" else MIN_WILDCARD_STEM):
        raise TermError(f"{written!r}: write at least {MIN_WILDCARD_STEM} letters before '*' "
                        "(2 in Chinese, Japanese, Korean); a shorter stem matches too much")
    key = (" " if lead else "") + stem
    if "*" not in core:
        return Pattern(key + (" " if trail else ""), None, caps)
    parts = core.split("*")
    regex = (" " if lead else "") + "[^ ]*".join(re.escape(p) for p in parts)
    regex += "(?= )" if trail else ""
    return Pattern(key, re.compile(regex), caps)


def _joined(words: list[str], written: str) -> list[list[str]]:
    """Variants with romanized syllables joined: ``Ho-jin`` → ``Hojin``, ``Jong Un`` → ``Jongun``.

    Joined: pairs the analyst wrote with a hyphen, and the last two words of a three-word name
    of short capitalized syllables (``Kim Jong Un``, ``Choe Son Hui``).
    """
    pairs = {tuple(fold(m.group()).split()) for m in _HYPHENATED.finditer(written)}
    names = written.split()
    if len(names) == 3 and all(len(n) <= 4 and n[:1].isupper() and n.isalpha() for n in names):
        pairs.add(tuple(fold(" ".join(names[1:])).split()))
    joinable = [i for i in range(len(words) - 1) if (words[i], words[i + 1]) in pairs]
    if not joinable:
        return [words]
    out = []
    for choice in product((False, True), repeat=min(len(joinable), 3)):
        joins = {i for i, join in zip(joinable, choice, strict=False) if join}
        merged: list[str] = []
        for i, word in enumerate(words):
            if i - 1 in joins:
                merged[-1] += word
            else:
                merged.append(word)
        out.append(merged)
    return out


def _plurals(words: list[str], *, acronym: bool) -> list[list[str]]:
    last = words[-1]
    if not _LATIN_WORD.match(last) or len(last) < (2 if acronym else 3):
        return [words]
    if acronym:
        endings = ["s"]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        endings = ["es"]
    elif last.endswith("y") and last[-2] not in "aeiou":
        return [words, [*words[:-1], last[:-1] + "ies"]]
    elif last.endswith("e"):
        endings = ["s"]
    else:
        endings = ["s", "es"]
    return [words] + [[*words[:-1], last + e] for e in endings]


def _arabic_prefixed(words: list[str]) -> list[list[str]]:
    first = words[0]
    if not _ARABIC_WORD.match(first):
        return [words]
    out = []
    bases = [first] if first.startswith(_AL) else [first, _AL + first]
    for base in bases:
        for prefix in _ARABIC_PREFIXES:
            # li- + al- is written with one alef: لل
            word = prefix + (base[1:] if prefix.endswith("\u0644") and base.startswith(_AL)
                             else base)
            out.append([word, *words[1:]])
    return out
