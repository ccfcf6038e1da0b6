"""Read analyst-written YAML and report mistakes by file, line and field.

``load_yaml(path)`` returns a :class:`YamlDoc`: the plain Python data (dicts, lists, strings,
numbers) plus the line of every value, addressed by its field path. Validation code anywhere in
the project raises :class:`ConfigError` through ``doc.error(field_path, message)``, so every
error reads the same way::

    topics/nk-russia-arms.yaml:12: match.all[1].entity: unknown entity 'north_koera'

It never executes YAML tags (safe loading only) and never guesses a line it does not know: a
field without a line falls back to its nearest parent's line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]
#: The id of a watch topic, entity, subscriber or channel: also a file name and a URL path
#: segment, so lower-case letters, digits, ``_`` and ``-`` only.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


class ConfigError(ValueError):
    """A configuration file is wrong; fix the file at ``path:line`` and field ``field``."""

    def __init__(self, path: str | Path, line: int | None, field: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ConfigErrors(ValueError):
    """Several :class:`ConfigError`; ``str()`` lists one per line."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def format_field(path: FieldPath) -> str:
    """Render ``("match", "all", 1, "entity")`` as ``match.all[1].entity``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML with the 1-based line of every value, keyed by field path."""

    path: Path
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line(self, path: FieldPath) -> int | None:
        """Return the line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, path: FieldPath, message: str) -> ConfigError:
        """Build the error for the value at ``path`` (raise it, or collect it)."""
        return ConfigError(self.path, self.line(path), format_field(path), message)


def load_yaml(path: str | Path, text: str | None = None) -> YamlDoc:
    """Parse one YAML file safely; raise :class:`ConfigError` for syntax errors.

    ``text`` may be passed to parse content that is not on disk (tests, stdin); ``path`` then
    only names it in messages.
    """
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(path, None, "", f"cannot read file: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(path, None, "", f"not UTF-8 text: {exc.reason}") from None
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(path, line, "", f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, "", f"invalid YAML: {exc}") from None
    lines: dict[FieldPath, int] = {}
    if node is None:
        return YamlDoc(path, None, lines)
    try:
        data = _construct(node, (), lines, path)
    finally:
        # The constructor remembers every node it built (to resolve YAML aliases); across
        # thousands of files that kept every parsed node alive. Nothing outlives one file.
        _scalar_loader.constructed_objects.clear()
    return YamlDoc(path, data, lines)


# libyaml parses about ten times faster than the pure-Python parser, which matters with
# thousands of watch-topic files. Both build the same nodes (same tags, same marks); libyaml
# words some syntax errors differently, so a file it rejects is parsed again by the
# pure-Python parser, whose message and line are the ones reported.
_FastLoader: Any = getattr(yaml, "CSafeLoader", None)


def _compose(text: str) -> yaml.Node | None:
    """Parse ``text`` into a node tree, raising the pure-Python parser's error if invalid."""
    if _FastLoader is not None:
        try:
            return yaml.compose(text, Loader=_FastLoader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


_scalar_loader = yaml.SafeLoader("")
_STR = "tag:yaml.org,2002:str"


def _construct(node: yaml.Node, at: FieldPath, lines: dict[FieldPath, int], path: Path) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(path, key_node.start_mark.line + 1, format_field(at),
                                  "mapping keys must be plain words")
            # A plain key is a string: read it as the value of a string below is read.
            key = key_node.value if key_node.tag == _STR else _scalar_loader.construct_object(
                key_node)
            if key == "<<":
                raise ConfigError(path, key_node.start_mark.line + 1, format_field(at),
                                  "YAML merge keys (<<) are not supported")
            key = str(key)
            if key in out:
                raise ConfigError(path, key_node.start_mark.line + 1,
                                  format_field((*at, key)), "duplicate key")
            out[key] = _construct(value_node, (*at, key), lines, path)
            lines[(*at, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*at, i), lines, path) for i, item in enumerate(node.value)]
    if node.tag == _STR:
        return node.value  # what the constructor does for a string, minus its bookkeeping
    return _scalar_loader.construct_object(node)
