"""Read watch topics and entities from YAML, validate them, and compile their terms.

In: a directory such as ``topics/`` holding ``<id>.yaml`` watch topics and
``entities/<name>.yaml`` entities. Out: a :class:`RuleSet` of :class:`WatchTopic` objects whose
groups hold compiled :class:`Term` patterns. It never looks at articles (that is ``match.py``).

Every mistake is collected and raised at once as :class:`~monitor.yamlfile.ConfigErrors`, one
line each, naming file, line and field::

    topics/nk-russia-arms.yaml:9: match.all[1].entity: unknown entity 'rusia' (did you mean …)

A watch topic, in full (``topics/README.md`` teaches it by example)::

    id: nk-russia-arms                 # must equal the file name
    title: North Korea–Russia arms cooperation
    severity: high                     # low | medium | high | critical
    match:
      all:                             # every group must fire inside one window ...
        - entity: north_korea
        - entity: russia
        - any: [arms, munition*, "artillery shell*"]
      any: [...]                       # ... and at least one of these, if given
      none: [football, olympic*]       # a window holding a veto does not count
      within: sentence                 # sentence | paragraph | article | title | <N> words
    title_weight: 2                    # what a title satisfying the rule adds to the score
    threshold: 1                       # score needed to match
    corroboration:                     # optional: alert only once a story has 2 independent
      sources: 2                       # sources, or one of these outlets (subscribers may
      trusted_outlets: [Yonhap News Agency]  # set their own, which wins)
    examples:                          # checked by `newswatch topics check`
      match: ["..."]
      no_match: ["..."]

Groups: a term (``"missile*"``), ``{entity: name}``, ``{any: [...]}`` (optionally
``at_least: N`` distinct members), ``{all: [...]}``; any group may set its own ``within``.
Parsed files are cached by modification time, so a reload re-reads only the files that changed.
"""

# ruff: noqa: RUF002 - the docstring shows a real title with an en dash
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from monitor.tagging.terms import Pattern, TermError, compile_term
from monitor.yamlfile import (
    ConfigError,
    ConfigErrors,
    FieldPath,
    YamlDoc,
    format_field,
    load_yaml,
)

T = TypeVar("T")
SEVERITIES = ("low", "medium", "high", "critical")
WINDOW_KINDS = ("sentence", "paragraph", "article", "title")
MAX_WINDOW_WORDS = 500
DEFAULT_TITLE_WEIGHT = 2.0
DEFAULT_THRESHOLD = 1.0

_ID = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_WORDS = re.compile(r"(\d+)\s*words?\Z")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]+)?\Z")
_TOPIC_FIELDS = ("id", "title", "description", "severity", "match", "title_weight", "threshold",
                 "examples", "corroboration")
_CORROBORATION_FIELDS = ("sources", "trusted_outlets")
_MATCH_FIELDS = ("all", "any", "none", "within")
_GROUP_FIELDS = ("entity", "any", "all", "within", "at_least")
_ENTITY_FIELDS = ("id", "description", "names", "not")


@dataclass(frozen=True)
class Within:
    """Where the groups of a rule must fire together: ``kind`` is one of :data:`WINDOW_KINDS`
    or ``"words"`` (then ``words`` is the window's length)."""

    kind: str
    words: int = 0

    def __str__(self) -> str:
        return f"{self.words} words" if self.kind == "words" else self.kind


SENTENCE = Within("sentence")


@dataclass(frozen=True, eq=False, slots=True)
class Term:
    """One term as the analyst wrote it, with the patterns that find it."""

    written: str
    patterns: tuple[Pattern, ...]
    at: FieldPath = ()


@dataclass(frozen=True, eq=False, slots=True)
class Entity:
    """A reusable list of names for one actor; ``not_names`` look alike but are not it."""

    id: str
    description: str
    names: tuple[Term, ...]
    not_names: tuple[Term, ...]
    path: Path
    line: int | None = None  # of the id, for messages


@dataclass(frozen=True, eq=False, slots=True)
class Group:
    """One node of a rule.

    ``kind``: ``terms`` (fires when any of ``terms`` is found, or ``at_least`` distinct ones),
    ``entity``, ``any`` (``at_least`` of ``children``), ``all`` (every child). ``within``
    overrides the watch topic's window for this group and its children.
    """

    label: str
    kind: str
    terms: tuple[Term, ...] = ()
    entity: Entity | None = None
    children: tuple[Group, ...] = ()
    within: Within | None = None
    at_least: int = 1
    at: FieldPath = ()

    def walk(self) -> Iterable[Group]:
        """Yield this group and every group below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Example:
    """An article that must (or must not) match, checked by ``newswatch topics check``."""

    text: str
    should_match: bool
    line: int | None


@dataclass(frozen=True, eq=False, slots=True)
class WatchTopic:
    """A compiled watch topic; see the module docstring for the file it comes from."""

    id: str
    title: str
    description: str
    severity: str
    rule: Group
    none: tuple[Group, ...]
    within: Within
    title_weight: float
    threshold: float
    path: Path
    examples: tuple[Example, ...] = ()
    line: int | None = None  # of the id, for messages
    #: (independent sources, trusted outlets) a story needs before it is alerted, if any.
    corroboration: tuple[int, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class RuleSet:
    """Every watch topic of a directory, ordered by id, and the entities they may use."""

    watch_topics: tuple[WatchTopic, ...]
    entities: Mapping[str, Entity] = field(default_factory=dict)


def load_rules(directory: str | Path) -> RuleSet:
    """Load and validate ``directory/*.yaml`` and ``directory/entities/*.yaml``.

    Raise :class:`ConfigErrors` listing every mistake of every file; nothing is returned
    unless all files are valid. A file whose size and modification time did not change since
    the last load (and, for a watch topic, whose entities did not change either) is not read
    again: its compiled result is reused.
    """
    directory = Path(directory)
    errors: list[ConfigError] = []
    if not directory.is_dir():
        raise ConfigErrors([ConfigError(directory, None, "", "not a directory")])
    entities: dict[str, Entity] = {}
    entity_stamps: list[tuple[str, tuple[int, int]]] = []
    for path, stamp, entity in _load_all(directory / "entities", _entity_cache, (), errors,
                                         lambda doc: parse_entity(doc, errors)):
        entity_stamps.append((str(path), stamp))
        if entity.id in entities:
            errors.append(ConfigError(path, entity.line, "id", f"duplicate entity id "
                                      f"{entity.id!r} (also in {entities[entity.id].path})"))
        else:
            entities[entity.id] = entity
    signature = tuple(entity_stamps)
    topics: dict[str, WatchTopic] = {}
    for path, _, topic in _load_all(directory, _topic_cache, signature, errors,
                                    lambda doc: parse_watch_topic(doc, entities, errors)):
        if topic.id in topics:
            errors.append(ConfigError(path, topic.line, "id", f"duplicate watch topic id "
                                      f"{topic.id!r} (also in {topics[topic.id].path})"))
        else:
            topics[topic.id] = topic
    if errors:
        raise ConfigErrors(sorted(errors, key=lambda e: (e.path, e.line or 0)))
    return RuleSet(tuple(topics[k] for k in sorted(topics)), entities)


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    # Sorted by name: the same order as by path, and much cheaper to compare.
    return sorted((p for p in directory.iterdir()
                   if p.suffix in (".yaml", ".yml") and p.is_file()
                   and not p.name.startswith(".")), key=lambda p: p.name)


# path -> (size and modification time, what the file depended on, what it compiled to)
_entity_cache: dict[Path, tuple[tuple[int, int], object, Entity]] = {}
_topic_cache: dict[Path, tuple[tuple[int, int], object, WatchTopic]] = {}


def _load_all(directory: Path, cache: dict[Path, tuple[tuple[int, int], object, T]],
              depends: object, errors: list[ConfigError],
              parse: Callable[[YamlDoc], T | None]) -> Iterator[tuple[Path, tuple[int, int], T]]:
    """Yield each file's compiled result, from ``cache`` when the file and ``depends`` held."""
    fresh: dict[Path, tuple[tuple[int, int], object, T]] = {}
    for path in _yaml_files(directory):
        try:
            stat = path.stat()
        except OSError as exc:
            errors.append(ConfigError(path, None, "", f"cannot read file: {exc.strerror}"))
            continue
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = cache.get(path)
        if cached is not None and cached[0] == stamp and cached[1] == depends:
            result = cached[2]
        else:
            try:
                doc = load_yaml(path)
            except ConfigError as exc:
                errors.append(exc)
                continue
            parsed = parse(doc)
            if parsed is None:
                continue
            result = parsed
        fresh[path] = (stamp, depends, result)
        yield path, stamp, result
    # Forget files that are gone or broken, so the cache never outgrows the directory.
    for path in [p for p in cache if p.parent == directory and p not in fresh]:
        del cache[path]
    cache.update(fresh)


# --- entities ---------------------------------------------------------------------------------


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
    if not isinstance(value, str) or not _ID.match(value):
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
