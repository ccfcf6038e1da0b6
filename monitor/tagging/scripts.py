"""The one table of Unicode scripts the tagging package knows, and questions about a character.

In: a character or a string. Out: the name of its script, or a compiled character class.
Normalization (``text.py``: where CJK text gets spaces), terms (``terms.py``: how Korean
terms end) and the index (``index.py``: which automaton runs over which text) all read this
table, so they can never disagree about what counts as, say, Hangul. No I/O, no state.

    >>> script_of("Пхеньян"), script_of("kim 김정은"), script_of("kim")
    ('cyrillic', 'hangul', 'ascii')
    >>> script_class("北"), script_class("북"), script_class("b")
    ('cjk', 'hangul', 'spaced')
"""

from __future__ import annotations

import re

#: Character ranges of each script the package treats specially, as regex class contents.
#: ``kana`` and ``han`` are written without spaces between words; ``hangul`` is written with
#: spaces but takes particles (``북한은``); the others are spaced scripts with diacritics or
#: letter forms of their own.
SCRIPTS: dict[str, str] = {
    "latin": "\u0080-\u024f\u1e00-\u1eff",
    "cyrillic": "\u0400-\u052f",
    "arabic": "\u0600-\u06ff\u0750-\u077f\ufb50-\ufeff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "kana": "\u3040-\u30ff\u31f0-\u31ff",
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff",
}

#: Scripts of Chinese, Japanese and Korean: where a Latin letter next to one gets a space.
CJK = SCRIPTS["hangul"] + SCRIPTS["kana"] + SCRIPTS["han"]
#: Chinese and Japanese: terms match anywhere, not on word boundaries.
UNSPACED = SCRIPTS["kana"] + SCRIPTS["han"]

#: One compiled class per script, for :func:`script_of` and for finding a script in a text.
SCRIPT_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(f"[{chars}]") for name, chars in SCRIPTS.items()}
_HANGUL = SCRIPT_PATTERNS["hangul"]
_UNSPACED = re.compile(f"[{UNSPACED}]")


def script_of(text: str) -> str:
    """Return ``"ascii"``, or the script of the first non-ASCII character (``"other"``)."""
    for ch in text:
        if not ch.isascii():
            for name, pattern in SCRIPT_PATTERNS.items():
                if pattern.match(ch):
                    return name
            return "other"
    return "ascii"


def script_class(ch: str) -> str:
    """Return ``"cjk"`` (Chinese, Japanese), ``"hangul"`` or ``"spaced"`` (everything else)."""
    if _HANGUL.match(ch):
        return "hangul"
    if _UNSPACED.match(ch):
        return "cjk"
    return "spaced"
