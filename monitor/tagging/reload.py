"""Hot reload of the watch topics: the current matcher, recompiled when ``topics/`` changes.

In: a watch-topic directory, looked at when asked. Out: the matcher to use now. A directory
with errors keeps the previous matcher: every error is logged and the failure counted, so a
typo in one file never stops tagging.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from monitor.metrics import TaggerMetrics
from monitor.tagging.match import Matcher
from monitor.yamlfile import ConfigError, ConfigErrors

log = logging.getLogger(__name__)


class WatchTopicsReloader:
    """Holds the current matcher; recompiles it when ``topics/`` changes."""

    def __init__(self, directory: Path, metrics: TaggerMetrics,
                 cache_dir: Path | None = None) -> None:
        self.directory = directory
        self.metrics = metrics
        # The compiled index is kept there between starts (see ``indexcache``).
        self.cache_dir = cache_dir
        self.matcher = Matcher.from_dir(directory, cache_dir=cache_dir)
        self._fingerprint = _fingerprint(directory)
        self._export(self.matcher)
        for outcome in ("ok", "error"):
            metrics.reloads.labels(outcome)

    def _export(self, matcher: Matcher) -> None:
        """Count the watch topics, and give each a zero of matches (a zero, not no series)."""
        self.metrics.watch_topics.set(len(matcher.watch_topics))
        for topic in matcher.watch_topics:
            self.metrics.matches.labels(topic.id)

    async def reload_if_changed(self) -> bool:
        fingerprint = _fingerprint(self.directory)
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            matcher = await asyncio.to_thread(Matcher.from_dir, self.directory,
                                              cache_dir=self.cache_dir)
        except (ConfigError, ConfigErrors) as exc:
            self.metrics.reloads.labels("error").inc()
            log.error("watch topics in %s not reloaded, keeping the previous ones:\n%s",
                      self.directory, exc)
            return False
        self.matcher = matcher
        self.metrics.reloads.labels("ok").inc()
        self._export(matcher)
        log.info("reloaded %d watch topics from %s", len(matcher.watch_topics), self.directory)
        return True


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(directory.rglob("*.yaml")) + sorted(directory.rglob("*.yml"))
    out = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)
