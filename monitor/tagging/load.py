"""Read every watch topic and entity of a directory, or say every mistake at once.

In: a directory such as ``topics/`` holding ``<id>.yaml`` watch topics and
``entities/<name>.yaml`` entities. Out: a :class:`~monitor.tagging.rules.RuleSet`, or
:class:`~monitor.yamlfile.ConfigErrors` listing every mistake of every file, one line each,
naming file, line and field::

    topics/nk-russia-arms.yaml:9: match.all[1].entity: unknown entity 'rusia' (did you mean …)

Parsed files are kept by size and modification time, so a reload re-reads only the files that
changed (and the watch topics, when an entity changed). Each file is parsed by
:mod:`monitor.tagging.parse`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from monitor.tagging.parse import parse_entity, parse_watch_topic
from monitor.tagging.rules import Entity, RuleSet, WatchTopic
from monitor.yamlfile import ConfigError, ConfigErrors, YamlDoc, load_yaml

T = TypeVar("T")


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

