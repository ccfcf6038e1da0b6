"""Validate one watch-topic or entity file and build its objects, compiling every term.

In: a parsed YAML document (:class:`~monitor.yamlfile.YamlDoc`, which knows each field's
line) and, for a watch topic, the entities it may use. Out: a
:class:`~monitor.tagging.rules.WatchTopic` or :class:`~monitor.tagging.rules.Entity`, or
``None`` with every mistake appended to ``errors`` as a
:class:`~monitor.yamlfile.ConfigError` naming the field and saying what to write instead.
No I/O: reading files is :mod:`monitor.tagging.load`'s.

Beyond the shape of each field, it refuses what can never work: a window of 0 words, a
threshold a title-only rule cannot reach, an entity name that one of its own ``not`` names
always covers, a term that cannot match (:class:`~monitor.tagging.terms.TermError`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from monitor.tagging.rules import (
    DEFAULT_THRESHOLD,
    DEFAULT_TITLE_WEIGHT,
    MAX_WINDOW_WORDS,
    SENTENCE,
    SEVERITIES,
    WINDOW_KINDS,
    Entity,
    Example,
    Group,
    Term,
    WatchTopic,
    Within,
)
from monitor.tagging.terms import TermError, compile_term
from monitor.yamlfile import ID_PATTERN, ConfigError, FieldPath, YamlDoc, format_field

_WORDS = re.compile(r"(\d+)\s*words?\Z")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]+)?\Z")
_TOPIC_FIELDS = ("id", "title", "description", "severity", "match", "title_weight", "threshold",
                 "examples", "corroboration")
_CORROBORATION_FIELDS = ("sources", "trusted_outlets")
_MATCH_FIELDS = ("all", "any", "none", "within")
_GROUP_FIELDS = ("entity", "any", "all", "within", "at_least")
_ENTITY_FIELDS = ("id", "description", "names", "not")


def parse_entity(doc: YamlDoc, errors: list[ConfigError]) -> Entity | None:
    """Validate one entity file; append its errors to ``errors``."""
    before = len(errors)
    data = doc.data
    if not isinstance(data, dict):
        errors.append(doc.error((), "an entity file must be a mapping with id and names"))
        return None
    _unknown_fields(doc, (), data, _ENTITY_FIELDS, errors)
    entity_id = _identifier(doc, data, errors, kind="entity")
    description = _text(doc, data, "description", errors, required=False)
    names = _name_list(doc, data, "names", errors, required=True)
    not_names = _name_list(doc, data, "not", errors, required=False)
    vetoes = [(keys, f"not: {t.written!r}") for t in not_names
              if (keys := [p.key for p in t.patterns if p.rest is None])]
    for name in names:
        for veto in _covering(name, vetoes):
            errors.append(doc.error(name.at, f"{name.written!r} can never match: {veto} "
                                             "removes every occurrence"))
    if len(errors) > before or entity_id is None:
        return None
    return Entity(entity_id, description, tuple(names), tuple(not_names), doc.path,
                  doc.line(("id",)))


def _name_list(doc: YamlDoc, data: dict[str, Any], key: str, errors: list[ConfigError], *,
               required: bool) -> list[Term]:
    value = data.get(key)
    if value is None:
        if required:
            errors.append(doc.error((key,) if key in data else (),
                                    f"missing {key!r}: list the names, per language"))
        return []
    items: list[tuple[FieldPath, Any]] = []
    if isinstance(value, list):
        items = [((key, i), v) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        for lang, names in value.items():
            if not _LANGUAGE.match(lang):
                errors.append(doc.error((key, lang), "expected a language code such as en, ko, "
                                                     "zh, ru, ar"))
            if not isinstance(names, list):
                errors.append(doc.error((key, lang), "expected a list of names"))
                continue
            items += [((key, lang, i), v) for i, v in enumerate(names)]
    else:
        errors.append(doc.error((key,), "expected a list of names, or a mapping from language "
                                        "code to a list of names"))
        return []
    if required and not items:
        errors.append(doc.error((key,), "empty: list at least one name"))
    return [t for t in (_term(doc, at, v, errors) for at, v in items) if t is not None]


# --- watch topics -----------------------------------------------------------------------------


def parse_watch_topic(doc: YamlDoc, entities: Mapping[str, Entity],
                      errors: list[ConfigError]) -> WatchTopic | None:
    """Validate one watch-topic file against the known entities; append its errors."""
    before = len(errors)
    data = doc.data
    if not isinstance(data, dict):
        errors.append(doc.error((), "a watch topic file must be a mapping with id, title, "
                                    "severity and match"))
        return None
    _unknown_fields(doc, (), data, _TOPIC_FIELDS, errors)
    topic_id = _identifier(doc, data, errors, kind="watch topic")
    title = _text(doc, data, "title", errors, required=True)
    description = _text(doc, data, "description", errors, required=False)
    severity = data.get("severity", "medium")
    if severity not in SEVERITIES:
        errors.append(doc.error(("severity",), f"expected one of {', '.join(SEVERITIES)}, "
                                               f"got {severity!r}"))
    title_weight = _number(doc, data, "title_weight", DEFAULT_TITLE_WEIGHT, errors, minimum=0.0)
    threshold = _number(doc, data, "threshold", DEFAULT_THRESHOLD, errors, minimum=None)
    parsed = _match(doc, data.get("match"), entities, errors)
    examples = _examples(doc, data.get("examples"), errors)
    corroboration = _corroboration(doc, data.get("corroboration"), errors)
    if len(errors) > before or parsed is None or topic_id is None:
        return None
    rule, none, within = parsed
    if within.kind == "title" and title_weight < threshold:
        errors.append(doc.error(("threshold",), f"can never be reached: with within: title the "
                                                f"score is at most title_weight "
                                                f"({title_weight:g})"))
        return None
    return WatchTopic(topic_id, title, description, str(severity), rule, none, within,
                      title_weight, threshold, doc.path, examples, doc.line(("id",)),
                      corroboration)


def _corroboration(doc: YamlDoc, value: Any,
                   errors: list[ConfigError]) -> tuple[int, tuple[str, ...]] | None:
    at: FieldPath = ("corroboration",)
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(doc.error(at, "expected a mapping: {sources: 2, trusted_outlets: [...]}"))
        return None
    _unknown_fields(doc, at, value, _CORROBORATION_FIELDS, errors)
    sources = value.get("sources", 1)
    if isinstance(sources, bool) or not isinstance(sources, int) or sources < 1:
        errors.append(doc.error((*at, "sources"), f"expected a whole number of at least 1, "
                                                  f"got {sources!r}"))
        return None
    outlets = value.get("trusted_outlets", [])
    if not isinstance(outlets, list) or not all(isinstance(o, str) and o.strip()
                                                for o in outlets):
        errors.append(doc.error((*at, "trusted_outlets"), "expected a list of outlet names"))
        return None
    return sources, tuple(o.strip() for o in outlets)


def _match(doc: YamlDoc, value: Any, entities: Mapping[str, Entity],
           errors: list[ConfigError]) -> tuple[Group, tuple[Group, ...], Within] | None:
    at: FieldPath = ("match",)
    if value is None:
        errors.append(doc.error(at if "match" in (doc.data or {}) else (),
                                "missing 'match': say which groups must fire (all: / any:)"))
        return None
    if not isinstance(value, dict):
        errors.append(doc.error(at, "expected a mapping with all:, any:, none:, within:"))
        return None
    _unknown_fields(doc, at, value, _MATCH_FIELDS, errors)
    within = _within(doc, (*at, "within"), value.get("within"), errors) or SENTENCE
    if "all" not in value and "any" not in value:
        errors.append(doc.error(at, "needs 'all:' (every group must fire) or 'any:' (at least "
                                    "one must)"))
        return None
    children: list[Group] = []
    if "all" in value:
        children += _group_list(doc, (*at, "all"), value["all"], entities, errors, prefix="all")
    if "any" in value:
        members = _group_list(doc, (*at, "any"), value["any"], entities, errors, prefix="any")
        if members:
            children.append(members[0] if len(members) == 1
                            else Group("any", "any", children=tuple(members)))
    none: list[Group] = []
    if "none" in value:
        none = _group_list(doc, (*at, "none"), value["none"], entities, errors, prefix="none")
    if not children:
        return None
    rule = Group("match", "all", children=tuple(children))
    vetoes = [(keys, f"the veto {t.written!r} ({format_field(t.at)})")
              for g in none for t in _terms(g)
              if (keys := [p.key for p in t.patterns if p.rest is None])]
    for group in rule.walk():
        for term in _terms_here(group):
            for veto in _covering(term, vetoes):
                errors.append(doc.error(term.at, f"{term.written!r} can never count: {veto} "
                                                 "fires wherever it does"))
        if group.entity is not None and all(_covering(n, vetoes) for n in group.entity.names):
            errors.append(doc.error(group.at, f"entity {group.entity.id!r} can never count: the "
                                              "vetoes in none cover every one of its names"))
    return rule, tuple(none), within


def _group_list(doc: YamlDoc, at: FieldPath, value: Any, entities: Mapping[str, Entity],
                errors: list[ConfigError], *, prefix: str) -> list[Group]:
    """Parse a list of groups; plain terms in a row form one ``terms`` group per list."""
    if not isinstance(value, list):
        value = [value] if isinstance(value, (str, int, dict)) else value
    if not isinstance(value, list):
        errors.append(doc.error(at, "expected a list of terms or groups"))
        return []
    if not value:
        errors.append(doc.error(at, "empty group: it can never fire; list terms or remove it"))
        return []
    groups: list[Group] = []
    for i, item in enumerate(value):
        group = _group(doc, (*at, i), item, entities, errors, label=f"{prefix}[{i}]")
        if group is not None:
            groups.append(group)
    return groups


def _group(doc: YamlDoc, at: FieldPath, value: Any, entities: Mapping[str, Entity],
           errors: list[ConfigError], *, label: str) -> Group | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        term = _term(doc, at, value, errors)
        return Group(label, "terms", terms=(term,)) if term else None
    if not isinstance(value, dict):
        errors.append(doc.error(at, "expected a term, or a group such as {entity: name}, "
                                    "{any: [...]}, {all: [...]}"))
        return None
    _unknown_fields(doc, at, value, _GROUP_FIELDS, errors)
    kinds = [k for k in ("entity", "any", "all") if k in value]
    if len(kinds) != 1:
        errors.append(doc.error(at, "a group needs exactly one of entity:, any:, all:"
                                    + (f" (found {', '.join(kinds)})" if kinds else "")))
        return None
    kind = kinds[0]
    within = _within(doc, (*at, "within"), value.get("within"), errors)
    at_least = value.get("at_least", 1)
    if "at_least" in value and (kind != "any" or isinstance(at_least, bool)
                                or not isinstance(at_least, int) or at_least < 1):
        errors.append(doc.error((*at, "at_least"), "at_least goes with any: and must be a "
                                                   "whole number of at least 1"))
        at_least = 1
    if kind == "entity":
        name = value["entity"]
        entity = entities.get(name) if isinstance(name, str) else None
        if entity is None:
            known = difflib.get_close_matches(str(name), list(entities), n=1)
            hint = f" (did you mean {known[0]!r}?)" if known else (
                f" (known: {', '.join(sorted(entities))})" if entities else
                " (no valid entity in entities/)")
            errors.append(doc.error((*at, "entity"), f"unknown entity {name!r}{hint}"))
            return None
        return Group(f"entity:{entity.id}", "entity", entity=entity, within=within,
                     at=(*at, "entity"))
    members = value[kind]
    if kind == "any" and isinstance(members, dict):
        return _language_terms(doc, (*at, "any"), members, errors, label, within, at_least)
    if not isinstance(members, list):
        errors.append(doc.error((*at, kind), "expected a list of terms or groups"))
        return None
    if not members:
        errors.append(doc.error((*at, kind), "empty group: it can never fire; list terms or "
                                             "remove it"))
        return None
    terms: list[Term] = []
    children: list[Group] = []
    for i, item in enumerate(members):
        if kind == "any" and isinstance(item, (str, int)) and not isinstance(item, bool):
            term = _term(doc, (*at, kind, i), item, errors)
            if term is not None:
                terms.append(term)
        else:
            child = _group(doc, (*at, kind, i), item, entities, errors,
                           label=f"{label}.{kind}[{i}]")
            if child is not None:
                children.append(child)
    if kind == "any" and at_least > len(terms) + len(children):
        errors.append(doc.error((*at, "at_least"), f"at_least {at_least} can never be met: "
                                                   f"the group has {len(members)} members"))
    if kind == "all":
        return Group(label, "all", children=tuple(children), within=within)
    if not children:
        return Group(label, "terms", terms=tuple(terms), within=within, at_least=at_least)
    if terms:
        # Each term counts on its own towards at_least; one terms group per term keeps that.
        leaves = [Group(label, "terms", terms=(t,)) for t in terms] if at_least > 1 else [
            Group(label, "terms", terms=tuple(terms))]
        children = leaves + children
    return Group(label, "any", children=tuple(children), within=within, at_least=at_least)


def _language_terms(doc: YamlDoc, at: FieldPath, members: dict[str, Any],
                    errors: list[ConfigError], label: str, within: Within | None,
                    at_least: int) -> Group | None:
    """``any: {en: [...], ru: [...]}``: terms grouped by language for the reader's sake."""
    terms: list[Term] = []
    for lang, items in members.items():
        if not _LANGUAGE.match(lang):
            errors.append(doc.error((*at, lang), "expected a language code such as en, ko, zh"))
        if not isinstance(items, list) or not items:
            errors.append(doc.error((*at, lang), "expected a non-empty list of terms"))
            continue
        terms += [t for t in (_term(doc, (*at, lang, i), v, errors) for i, v in enumerate(items))
                  if t is not None]
    if not terms:
        return None
    return Group(label, "terms", terms=tuple(terms), within=within, at_least=at_least)


# Every watch topic has terms at the same few field paths (match.all[2].any[5]); sharing one
# tuple per path saves a tuple per term, megabytes at 10,000 watch topics. Bounded by the
# number of distinct paths, not of files.
_PATHS: dict[FieldPath, FieldPath] = {}


def _term(doc: YamlDoc, at: FieldPath, value: Any, errors: list[ConfigError]) -> Term | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.append(doc.error(at, f"expected a term (text), got {type(value).__name__}"))
        return None
    written = str(value)
    try:
        return Term(written, compile_term(written), _PATHS.setdefault(at, at))
    except TermError as exc:
        errors.append(doc.error(at, str(exc)))
        return None


def _within(doc: YamlDoc, at: FieldPath, value: Any, errors: list[ConfigError]) -> Within | None:
    if value is None:
        return None
    if isinstance(value, str) and value in WINDOW_KINDS:
        return Within(value)
    m = _WORDS.match(value.strip()) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif m:
        count = int(m.group(1))
    else:
        errors.append(doc.error(at, f"expected {', '.join(WINDOW_KINDS)} or '<N> words', "
                                    f"got {value!r}"))
        return None
    if not 1 <= count <= MAX_WINDOW_WORDS:
        errors.append(doc.error(at, f"a window of {count} words: use 1 to {MAX_WINDOW_WORDS}"))
        return None
    return Within("words", count)


def _examples(doc: YamlDoc, value: Any, errors: list[ConfigError]) -> tuple[Example, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        errors.append(doc.error(("examples",), "expected match: [...] and/or no_match: [...]"))
        return ()
    _unknown_fields(doc, ("examples",), value, ("match", "no_match"), errors)
    out: list[Example] = []
    for key in ("match", "no_match"):
        items = value.get(key, [])
        if not isinstance(items, list):
            errors.append(doc.error(("examples", key), "expected a list of article texts"))
            continue
        for i, text in enumerate(items):
            if not isinstance(text, str) or not text.strip():
                errors.append(doc.error(("examples", key, i), "expected an article text"))
                continue
            out.append(Example(text, key == "match", doc.line(("examples", key, i))))
    return tuple(out)


# --- small validators -------------------------------------------------------------------------


def _unknown_fields(doc: YamlDoc, at: FieldPath, data: dict[str, Any], known: tuple[str, ...],
                    errors: list[ConfigError]) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
            errors.append(doc.error((*at, key), f"unknown field ({hint})"))


def _identifier(doc: YamlDoc, data: dict[str, Any], errors: list[ConfigError], *,
                kind: str) -> str | None:
    value = data.get("id")
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        errors.append(doc.error(("id",) if "id" in data else (),
                                f"missing or bad id: a {kind} id is lower-case letters, digits, "
                                f"'-' and '_' (got {value!r})"))
        return None
    if value != doc.path.stem:
        errors.append(doc.error(("id",), f"id {value!r} must equal the file name "
                                         f"{doc.path.stem!r}"))
        return None
    return value


def _text(doc: YamlDoc, data: dict[str, Any], key: str, errors: list[ConfigError], *,
          required: bool) -> str:
    value = data.get(key)
    if value is None:
        if required:
            errors.append(doc.error((key,) if key in data else (), f"missing {key!r}"))
        return ""
    if not isinstance(value, str):
        errors.append(doc.error((key,), "expected text"))
        return ""
    return value.strip()


def _number(doc: YamlDoc, data: dict[str, Any], key: str, default: float,
            errors: list[ConfigError], *, minimum: float | None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(doc.error((key,), f"expected a number, got {value!r}"))
        return default
    if minimum is not None and value < minimum:
        errors.append(doc.error((key,), f"must be at least {minimum:g}"))
    if minimum is None and value <= 0:
        errors.append(doc.error((key,), "must be greater than 0 (a topic with no threshold "
                                        "would match every article)"))
    return float(value)


def _terms_here(group: Group) -> tuple[Term, ...]:
    return group.terms if group.kind == "terms" else ()


def _terms(group: Group) -> list[Term]:
    out: list[Term] = []
    for g in group.walk():
        out += list(g.terms)
        if g.entity is not None:
            out += list(g.entity.names)
    return out


def _covering(term: Term, vetoes: list[tuple[list[str], str]]) -> list[str]:
    """Describe each veto whose patterns are found inside every pattern of ``term``.

    ``vetoes``: per veto, the keys of its patterns without inner wildcards (vetoes with
    none are left out), and its description.
    """
    found = []
    for keys, description in vetoes:
        # Keys carry their boundary spaces, so a plain substring test respects word
        # boundaries. Written as loops: this runs for every term of every watch topic.
        for pattern in term.patterns:
            if pattern.rest is not None or not any(key in pattern.key for key in keys):
                break
        else:
            found.append(description)
    return found
