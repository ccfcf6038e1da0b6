"""One watch-topic file as the rule editor handles it: checked, versioned, written whole.

In: the topics directory and the text of one watch-topic file as an analyst edits it. Out:
:class:`Compiled` (the problems ``newswatch topics check`` reports for that file and, when
its rules compile, the watch topic compiled alone as a :class:`~monitor.console.backtest.Rule`),
a file's version (the SHA-256 of its bytes), and the file written atomically. It never
writes a watch topic that was not asked for, and never lets a reader see half a file.

Checking happens in a staging directory (:class:`Checker`) holding a copy of ``entities/``
(refreshed when a file changes) and the edited file alone: no other watch topic is affected
by the edit, and checking them would report their problems as this one's. Each version
written there gets a modification time of its own, so that the rules' reload cache never
mistakes one for another.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import orjson

from monitor.console.backtest import Rule
from monitor.tagging.commands import check_examples
from monitor.tagging.load import load_rules
from monitor.tagging.match import Matcher
from monitor.yamlfile import ConfigError, ConfigErrors, load_yaml

#: Compiled versions kept (by text).
COMPILE_CACHE = 64


@dataclass(frozen=True)
class Problem:
    """One thing ``topics check`` refuses: the file (relative to the topics directory),
    its line, the field and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else \
            f"{where}: {self.message}"


@dataclass(frozen=True)
class Compiled:
    """A checked version: its problems; its rule and matcher when the rules compile (failing
    examples are problems, but the rules still compile)."""

    problems: tuple[Problem, ...]
    rule: Rule | None = None
    matcher: Matcher | None = None


class Checker:
    """``topics check`` of one edited file in the staging directory ``stage`` (see the
    module docstring); compiled versions are kept by (topic id, text, entities)."""

    def __init__(self, topics_dir: Path, stage: Path) -> None:
        self.topics_dir = topics_dir
        self.stage = stage
        self._stamp = 0
        self._compiled: OrderedDict[tuple[str, str, tuple[object, ...]], Compiled] = \
            OrderedDict()

    def compile(self, topic_id: str, text: str) -> Compiled:
        """Check and compile ``text`` as ``<topic_id>.yaml``."""
        entities = self._sync_entities()
        key = (topic_id, version_of(text.encode("utf-8")), entities)
        found = self._compiled.get(key)
        if found is not None:
            self._compiled.move_to_end(key)
            return found
        found = self._compiled[key] = self._compile(topic_id, text, entities)
        while len(self._compiled) > COMPILE_CACHE:
            self._compiled.popitem(last=False)
        return found

    def _compile(self, topic_id: str, text: str, entities: tuple[object, ...]) -> Compiled:
        target = self.stage / f"{topic_id}.yaml"
        for stale in self.stage.glob("*.y*ml"):
            if stale != target:
                stale.unlink()
        target.write_text(text, encoding="utf-8")
        self._stamp = max(time.time_ns(), self._stamp + 1)
        os.utime(target, ns=(self._stamp, self._stamp))
        try:
            rules = load_rules(self.stage)
        except (ConfigError, ConfigErrors) as exc:
            errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
            return Compiled(tuple(self._problem(e) for e in errors))
        topic = next((t for t in rules.watch_topics if t.id == topic_id), None)
        if topic is None:
            return Compiled((Problem(target.name, None, "", "no watch topic in the file"),))
        matcher = Matcher([topic], rules.entities)
        problems = tuple(self._problem(e) for e in check_examples(matcher))
        rule = Rule(topic, matcher.index, rule_key(text, entities), entities)
        return Compiled(problems, rule, matcher)

    def _problem(self, error: ConfigError) -> Problem:
        path = Path(error.path)
        try:
            name = str(path.relative_to(self.stage))
        except ValueError:
            name = str(path)
        return Problem(name, error.line, error.field, error.message)

    def _sync_entities(self) -> tuple[object, ...]:
        """Copy changed entity files to the staging directory; return their stamps."""
        source, target = self.topics_dir / "entities", self.stage / "entities"
        target.mkdir(parents=True, exist_ok=True)
        stamps = []
        for path in sorted(source.iterdir()) if source.is_dir() else []:
            if path.name.startswith(".") or path.suffix not in (".yaml", ".yml"):
                continue
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            try:
                copied = (target / path.name).stat()
                same = (copied.st_mtime_ns, copied.st_size) == stamp
            except FileNotFoundError:
                same = False
            if not same:
                shutil.copy2(path, target / path.name)
            stamps.append((path.name, stamp))
        names = {name for name, _ in stamps}
        for copy in target.iterdir():
            if copy.name not in names:
                copy.unlink()
        return tuple(stamps)


def rule_key(text: str, entities: tuple[object, ...]) -> str:
    """A hash of what decides which windows count: the ``match`` section and the entities.

    Not ``threshold`` or ``title_weight`` (they only weigh what counts), comments, titles
    or examples.
    """
    try:
        data = load_yaml("rule.yaml", text).data
    except ConfigError:
        data = None
    decisive = data.get("match") if isinstance(data, dict) else text
    payload = orjson.dumps([decisive, entities], default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def clean(text: str) -> str:
    """Line ends as in the repository (a browser sends CRLF), one final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_version(path: Path) -> str:
    try:
        return version_of(path.read_bytes())
    except FileNotFoundError:
        return ""


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file renamed over it.

    Readers see the old file or the new one, never a part of either (the rules loader skips
    names starting with a dot, so the temporary file is never read as a watch topic).
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
