"""Edits the rule editor proposes from a story's 👎: a ``none:`` term, a tighter ``within:``.

In: the YAML text of a watch topic, the sentences that made the 👎 articles match, and what
the window says about other words (how many of the topic's other matches and of its 👍
articles hold each). Out: candidate veto words, best first, and the edited YAML texts. The
editor backtests each edit before showing it (:meth:`Editor.suggest
<monitor.console.editor.Editor.suggest>`). Pure text work: no I/O.

YAML is edited as text, so comments and layout stay; every edit is read back and compared
with the intended data, and an edit that does not read back as intended is not proposed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from monitor.tagging.rules import WatchTopic
from monitor.tagging.text import fold
from monitor.yamlfile import ConfigError, load_yaml

#: Shortest veto word proposed, in letters (scripts without spaces: any length).
MIN_VETO_LETTERS = 3
#: Most of the topic's other matches a veto word may be in (a share; at least one match).
MAX_OTHERS_SHARE = 0.25


def veto_words(topic: WatchTopic, sentences: Sequence[Iterable[str]],
               spread: Callable[[str], tuple[int, int]], others: int, limit: int) -> list[str]:
    """Words to try as a ``none:`` term, best first.

    ``sentences``: per 👎 article, the sentences that made it match. ``spread(word)``: how
    many of the topic's ``others`` other matches, and how many of its 👍 articles, hold it.

    - candidates: the words of those sentences (normalized as the matcher reads them), not
      numbers, at least :data:`MIN_VETO_LETTERS` letters in spaced scripts, and never a
      word of the topic's own terms or entity names (a veto on them is refused anyway);
    - a word some 👍 article holds is never proposed, nor one held by more than
      :data:`MAX_OTHERS_SHARE` of the other matches (a common word: it would cost more than
      it saves);
    - best first: the share of 👎 articles holding it less the share of other matches
      holding it (frequent in the 👎, rare elsewhere), then longer words.
    """
    own = {word for group in (topic.rule, *topic.none) for node in group.walk()
           for term in (node.terms or (node.entity.names if node.entity else ()))
           for word in fold(term.written.replace("*", " ")).split()}
    held: Counter[str] = Counter()
    for article in sentences:
        held.update({w for s in article for w in fold(s).split()})
    ranked = []
    for word, count in held.items():
        if word in own or word.isdigit() or (word.isascii() and len(word) < MIN_VETO_LETTERS):
            continue
        in_others, liked = spread(word)
        if not liked and in_others <= max(1.0, MAX_OTHERS_SHARE * others):
            share = count / len(sentences) - in_others / max(1, others)
            ranked.append((-share, -len(word), word))
    ranked.sort()
    return [word for *_, word in ranked[:limit]]


def tighter_within(kind: str, words: int) -> str | None:
    """The next tighter window: sentence for paragraph, paragraph for article, half the
    words; ``None`` when there is none (sentence, title, one word)."""
    if kind == "paragraph":
        return "sentence"
    if kind == "article":
        return "paragraph"
    if kind == "words" and words > 1:
        return f"{words // 2} words"
    return None


_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]+):(?P<rest>.*)$")
_PLAIN = re.compile(r"[^\W\d_][\w-]*")


def set_within(text: str, within: str) -> str | None:
    """``text`` with the rule's ``within:`` set to ``within``; ``None`` when the layout is
    not one this edits (a ``within:`` line of its own, or none yet under a block ``match:``)."""
    doc = _read(text)
    if doc is None:
        return None
    lines = text.split("\n")
    at = doc.lines.get(("match", "within"))
    if at is not None:
        found = _KEY_LINE.match(lines[at - 1])
        if found is None or found["key"] != "within":
            return None
        comment = found["rest"].split(" #", 1)
        tail = f"  #{comment[1]}" if len(comment) > 1 else ""
        lines[at - 1] = f"{found['indent']}within: {within}{tail}"
    else:
        inserted = _insert_in_match(doc, lines, f"within: {within}")
        if inserted is None:
            return None
        lines = inserted
    return _checked("\n".join(lines), dict(doc.data["match"], within=within))


def add_veto(text: str, word: str) -> str | None:
    """``text`` with ``word`` added to the rule's ``none:``; ``None`` when the layout is not
    one this edits.

    Layouts edited: no ``none:`` yet (one is added as the first key under ``match:``), a
    flow list on one line (``none: [a, b]``: the word goes last), a block list (the word
    becomes its first item).
    """
    doc = _read(text)
    if doc is None:
        return None
    written = word if _PLAIN.fullmatch(word) and word.isascii() else orjson.dumps(word).decode()
    lines = text.split("\n")
    match = doc.data["match"]
    vetoes = match.get("none")
    at = doc.lines.get(("match", "none"))
    if vetoes is None or at is None:
        inserted = _insert_in_match(doc, lines, f"none: [{written}]")
        if inserted is None:
            return None
        lines, expected = inserted, [word]
    elif not isinstance(vetoes, list):
        return None
    elif flow := re.match(r"^(\s*none:\s*\[)(.*)\]\s*(#.*)?$", lines[at - 1]):
        inner = flow[2].strip()
        lines[at - 1] = f"{flow[1]}{inner}{', ' if inner else ''}{written}]" + (
            f"  {flow[3]}" if flow[3] else "")
        expected = [*vetoes, word]
    elif re.match(r"^\s*none:\s*(#.*)?$", lines[at - 1]) and ("match", "none", 0) in doc.lines:
        item = re.match(r"^(\s*)- ", lines[doc.lines[("match", "none", 0)] - 1])
        if item is None:
            return None
        lines.insert(at, f"{item[1]}- {written}")
        expected = [word, *vetoes]
    else:
        return None
    return _checked("\n".join(lines), dict(match, none=expected))


@dataclass(frozen=True)
class _Doc:
    data: dict[str, Any]
    lines: dict[tuple[str | int, ...], int]


def _read(text: str) -> _Doc | None:
    try:
        doc = load_yaml("edit.yaml", text)
    except ConfigError:
        return None
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("match"), dict):
        return None
    return _Doc(doc.data, doc.lines)


def _checked(edited: str, match: dict[str, Any]) -> str | None:
    """``edited`` if its ``match`` reads back as ``match``, else ``None``."""
    doc = _read(edited)
    return edited if doc is not None and doc.data["match"] == match else None


def _insert_in_match(doc: _Doc, lines: list[str], entry: str) -> list[str] | None:
    """Insert ``entry`` as the first key of the block mapping under ``match:``."""
    keys = [k for k in doc.data["match"] if ("match", k) in doc.lines]
    if not keys:
        return None
    first = doc.lines[("match", keys[0])]
    found = _KEY_LINE.match(lines[first - 1])
    if found is None or found["key"] != keys[0] or first == doc.lines.get(("match",)):
        return None
    return [*lines[:first - 1], f"{found['indent']}{entry}", *lines[first - 1:]]
