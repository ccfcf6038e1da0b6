"""The rule editor: open a watch topic, backtest an edit as it is typed, save it, suggest one.

In: the watch-topic directory, the console's store (the window's articles, the feedback
labels, stories) and the YAML text an analyst is editing. Out: :class:`Opened`,
:class:`Preview` (what ``newswatch topics check`` says of the edited file, the explanation of
a chosen article, and a backtest of the edit over the window against the saved version),
:class:`Saved` and :class:`Suggestion`. It writes one file only, ``<topics>/<id>.yaml``:
atomically (a temporary file renamed over it, so a worker that hot-reloads never reads half
a file), only a version that validates, and only over the version the analyst opened.

Where the time goes (``bench/bench_console.py`` measures it over 100,000 articles):

- problems: the edited file is checked alone beside a copy of the entities, in a staging
  directory (:mod:`monitor.console.topicfile`): ``topics check`` of that directory, the
  same messages, lines and fields; compiled versions are kept by text;
- the backtest (:mod:`monitor.console.backtest`) evaluates only the articles the rule can
  fire in (:mod:`monitor.console.window`'s word index), remembers what counts per article
  and rule key, and for an edit that only adds or removes terms or vetoes, evaluates only
  the articles holding those terms, taking the rest from the saved version or a recent
  preview;
- :meth:`Editor.warm` reads the window and backtests every saved watch topic ahead of the
  first preview (the console runs it in a thread at start).

Thread safety: one lock serializes previews, saves and suggestions: the window and the
caches are shared, and two cores gain nothing from two previews at once.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from monitor.console import suggest as suggesting
from monitor.console.backtest import Backtester, Rule, match_one
from monitor.console.model import ArticleView, StoryDetail, WindowArticle
from monitor.console.preview import (
    LIST_CAP,
    Change,
    Preview,
    Scores,
    day_of,
    newest_first,
    per_day,
    reason,
    scores,
)
from monitor.console.topicfile import (
    Checker,
    Compiled,
    Problem,
    clean,
    file_version,
    version_of,
    write_atomically,
)
from monitor.console.window import Window, WindowSource
from monitor.tagging.commands import render_explanation
from monitor.tagging.match import Explanation
from monitor.yamlfile import ID_PATTERN

__all__ = ["Change", "Editor", "EditorStore", "Opened", "Preview", "Problem", "Saved",
           "Scores", "Suggestion", "reason"]

logger = logging.getLogger(__name__)

#: Recent previews of a watch topic whose outcomes an edit may reuse.
RECENT = 8
#: ``none:`` terms tried per suggestion request.
VETO_TRIES = 4


class EditorStore(WindowSource, Protocol):
    """What the editor reads from the console's store."""

    def labels(self) -> dict[str, dict[str, bool]]: ...

    def story(self, story_id: str, *, analyst: str | None = None) -> StoryDetail | None: ...

    def article(self, article_id: str) -> ArticleView | None: ...


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """A watch topic file as it is on disk; ``version`` is the SHA-256 of its bytes."""

    topic_id: str
    text: str
    version: str
    path: Path


@dataclass(frozen=True)
class Saved:
    """What became of a save: ``ok`` (``version`` is the new one), ``invalid`` (nothing
    written; see ``problems``), ``conflict`` (the file changed since it was opened;
    ``version`` is the one on disk now, ``""`` if it is gone) or ``unwritable`` (the
    directory refused the file, e.g. a read-only mount: ``reason`` says why)."""

    status: Literal["ok", "invalid", "conflict", "unwritable"]
    version: str
    problems: tuple[Problem, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Suggestion:
    """An edit proposed from a story's 👎, with its backtest. ``change``: the term or the
    window proposed; ``fixes``: the 👎 articles it stops matching; ``text``: the whole
    edited YAML, ready for the editor."""

    kind: Literal["none", "within"]
    summary: str
    change: str
    text: str
    fixes: tuple[str, ...]
    preview: Preview


# --- the editor --------------------------------------------------------------------------------


@dataclass
class _Matches:
    articles: dict[str, WindowArticle] = field(default_factory=dict)
    candidates: int = 0
    evaluated: int = 0


class Editor:
    """Open, preview, save and suggest edits of the watch topics in ``topics_dir``.

    ``days``: the span previews look back over, and the most one may ask for; ``cache_dir``:
    where the staging directory for checks lives (else a temporary directory, removed by
    :meth:`close`); ``now``: the clock, for tests.
    """

    def __init__(self, topics_dir: Path, store: EditorStore, *, days: int = 7,
                 cache_dir: Path | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.topics_dir = Path(topics_dir)
        self.store = store
        self.days = days
        self.now = now or (lambda: datetime.now(UTC))
        self.window = Window(store, span=timedelta(days=days), now=self.now)
        self.backtester = Backtester(self.window)
        self._lock = threading.RLock()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if cache_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="newswatch-editor-")
            stage = Path(self._temporary.name)
        else:
            stage = Path(cache_dir) / "editor-check"
        self._checker = Checker(self.topics_dir, stage)
        self._recent: dict[str, deque[Rule]] = {}

    def close(self) -> None:
        """Remove the staging directory if the editor made a temporary one."""
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def warm(self) -> None:
        """Read the window and backtest every saved watch topic, ahead of the first preview."""
        for topic_id in self.topic_ids():
            with self._lock:
                self.window.refresh()
                saved = self._saved(topic_id)
                if saved is not None:
                    self._matches(saved, self.now() - timedelta(days=self.days), ())

    def topic_ids(self) -> list[str]:
        """The ids of the watch topics in the directory, sorted."""
        return sorted(p.stem for p in self.topics_dir.glob("*.yaml")
                      if not p.name.startswith(".") and ID_PATTERN.match(p.stem))

    def open(self, topic_id: str) -> Opened:
        """Read ``<topics>/<topic_id>.yaml``; raise :class:`KeyError` if there is none."""
        path = self._path(topic_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(topic_id) from None
        return Opened(topic_id, data.decode("utf-8", errors="replace"), version_of(data), path)

    # --- preview -------------------------------------------------------------------------------

    def preview(self, topic_id: str, text: str, *, article_id: str | None = None,
                days: int | None = None) -> Preview:
        """Check ``text`` as ``<topic_id>.yaml`` and backtest it against the saved version.

        - problems: what ``topics check`` reports for this file (rules, then examples);
          when the rules do not compile, nothing else is computed;
        - the backtest covers the articles received in the last ``days`` (at most the
          editor's ``days``): matches before (the file on disk) and after (``text``), the
          articles gained and lost (newest first, :data:`LIST_CAP` of each, each with why
          under the edited version: why it now matches, or why it no longer does), scores
          against the analysts' labels, matches per day;
        - with ``article_id``: that article explained under the edited version.
        """
        started = time.perf_counter()
        self._path(topic_id)
        text = clean(text)
        with self._lock:
            after = self._checker.compile(topic_id, text)
            if after.rule is None:
                return Preview(topic_id, after.problems,
                               elapsed_ms=(time.perf_counter() - started) * 1000)
            self.window.refresh()
            span = max(1, min(days or self.days, self.days))
            now = self.now()
            since = now - timedelta(days=span)
            before = self._saved(topic_id)
            recent = self._recent.setdefault(topic_id, deque(maxlen=RECENT))
            then = self._matches(before, since, recent) if before is not None else None
            bases = ([before] if before is not None else []) + list(reversed(recent))
            found = self._matches(after.rule, since, bases)
            if all(r.key != after.rule.key for r in recent):
                recent.append(after.rule)
            old = then.articles if then is not None else {}
            gained = newest_first(found.articles, old)
            lost = newest_first(old, found.articles)
            labels = self.store.labels()
            explanation, explained = self._explain(after, topic_id, article_id)
            return Preview(
                topic_id, after.problems, compiled=True,
                explanation=explanation, explained=explained,
                before=len(old) if then is not None else None, after=len(found.articles),
                gained=self._changes(after, topic_id, gained[:LIST_CAP]),
                lost=self._changes(after, topic_id, lost[:LIST_CAP]),
                gained_count=len(gained), lost_count=len(lost),
                scores_before=(scores(old, labels, topic_id, self.window, since)
                               if then is not None else None),
                scores_after=scores(found.articles, labels, topic_id, self.window, since),
                per_day=per_day(old, found.articles, since, now),
                scanned=self.window.count(since), candidates=found.candidates,
                evaluated=found.evaluated + (then.evaluated if then is not None else 0),
                days=span, elapsed_ms=(time.perf_counter() - started) * 1000)

    def _saved(self, topic_id: str) -> Rule | None:
        """The version on disk, compiled; ``None`` when it is missing or does not compile."""
        try:
            text = self._path(topic_id).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return self._checker.compile(topic_id, clean(text)).rule

    def _matches(self, rule: Rule, since: datetime, bases: Iterable[Rule]) -> _Matches:
        found = self.backtester.run(rule, since, list(bases))
        out = _Matches(candidates=found.candidates, evaluated=found.evaluated)
        for segment, positions in found.positions:
            for position in positions.tolist():
                article = segment.articles[position]
                out.articles[article.article_id] = article
        return out

    def _explain(self, compiled: Compiled, topic_id: str,
                 article_id: str | None) -> tuple[str | None, Explanation | None]:
        if not article_id:
            return None, None
        assert compiled.matcher is not None
        found = self._article(article_id)
        if found is None:
            return f"The article {article_id!r} is not in the window.\n", None
        title, text = found
        explained = compiled.matcher.explain(topic_id, title, text)
        return render_explanation(explained, title), explained

    def _article(self, article_id: str) -> tuple[str, str] | None:
        in_window = self.window.find(article_id)
        if in_window is not None:
            return in_window.title, in_window.text
        view = self.store.article(article_id)
        return None if view is None else (view.title, view.text)

    def _changes(self, compiled: Compiled, topic_id: str,
                 articles: list[WindowArticle]) -> tuple[Change, ...]:
        assert compiled.matcher is not None
        return tuple(
            Change(a.article_id, a.title, a.outlet, a.url, day_of(a),
                   reason(compiled.matcher.explain(topic_id, a.title, a.text)))
            for a in articles)

    # --- save ----------------------------------------------------------------------------------

    def save(self, topic_id: str, text: str, version: str) -> Saved:
        """Write ``text`` as ``<topics>/<topic_id>.yaml`` if it validates and the file is
        still the ``version`` the analyst opened (``""``: the file must not exist yet).

        - any problem (failing examples included): ``invalid``, nothing written;
        - the file's SHA-256 is not ``version``: ``conflict``, nothing written;
        - else the text goes to a hidden temporary file beside it, is flushed to disk and
          renamed over it, with the old file's permissions; a directory that refuses it
          (read-only, as the ConfigMaps of Kubernetes are): ``unwritable``.
        """
        path = self._path(topic_id)
        text = clean(text)
        with self._lock:
            compiled = self._checker.compile(topic_id, text)
            current = file_version(path)
            if compiled.rule is None or compiled.problems:
                return Saved("invalid", current, compiled.problems)
            if current != version:
                return Saved("conflict", current)
            data = text.encode("utf-8")
            try:
                write_atomically(path, data)
            except OSError as exc:
                logger.warning("watch topic not saved: %s", exc.strerror or exc,
                               extra={"topic_id": topic_id})
                return Saved("unwritable", current, reason=exc.strerror or str(exc))
            logger.info("watch topic saved", extra={"topic_id": topic_id,
                                                    "version": version_of(data)})
            return Saved("ok", version_of(data))

    # --- suggest -------------------------------------------------------------------------------

    def suggest(self, story_id: str) -> list[Suggestion]:
        """Propose edits that stop the 👎 articles of a story from matching its watch topic.

        - the 👎 articles: the story's articles the feedback labels say do not belong to its
          watch topic (an article's own vote wins over the story's); none, or none that the
          saved version still matches: no suggestion;
        - ``none:`` terms: words of the sentences that made them match, in as many of them
          and as few of the topic's other matches as possible, none in a 👍 article
          (:func:`monitor.console.suggest.veto_words`); a tighter ``within:``;
        - each is backtested; kept when it validates and stops at least one 👎 article;
          best first: most 👎 stopped, then fewest other matches lost.

        Raise :class:`KeyError` for an unknown story or a watch topic without a file.
        """
        detail = self.store.story(story_id)
        if detail is None:
            raise KeyError(story_id)
        topic_id = detail.story.topic_id
        labels = self.store.labels()
        unwanted = [a for a in detail.articles
                    if labels.get(a.article_id, {}).get(topic_id) is False]
        if not unwanted:
            return []
        opened = self.open(topic_id)
        with self._lock:
            self.window.refresh()
            saved = self._checker.compile(topic_id, clean(opened.text))
            if saved.rule is None or saved.matcher is None:
                return []
            evidence = {}
            for article in unwanted:
                found = match_one(saved.rule.index, saved.rule.topic, article.title,
                                  article.text)
                if found is not None:
                    evidence[article.article_id] = [s[3] for s in found.sentences]
            if not evidence:
                return []
            spread, others = self._spread(saved.rule, set(evidence), labels)
            edits = [("none", f"Add {word!r} to none:", word, edited) for word in
                     suggesting.veto_words(saved.rule.topic, list(evidence.values()), spread,
                                           others, VETO_TRIES)
                     if (edited := suggesting.add_veto(opened.text, word)) is not None]
            within = saved.rule.topic.within
            tighter = suggesting.tighter_within(within.kind, within.words)
            if tighter is not None and (
                    edited := suggesting.set_within(opened.text, tighter)) is not None:
                edits.append(("within", f"Count only within {tighter}, not {within}",
                              tighter, edited))
            out = []
            for kind, summary, change, edited in edits:
                preview = self.preview(topic_id, edited)
                rule = self._checker.compile(topic_id, clean(edited)).rule
                if not preview.ok or rule is None:
                    continue
                fixes = tuple(a.article_id for a in unwanted if a.article_id in evidence
                              and match_one(rule.index, rule.topic, a.title, a.text) is None)
                if fixes:
                    out.append(Suggestion("none" if kind == "none" else "within", summary,
                                          change, edited, fixes, preview))
            out.sort(key=lambda s: (-len(s.fixes), s.preview.lost_count - len(s.fixes)))
            return out

    def _spread(self, rule: Rule, unwanted: set[str], labels: dict[str, dict[str, bool]],
                ) -> tuple[Callable[[str], tuple[int, int]], int]:
        """How many of the topic's other matches, and of its 👍 articles, hold a word; and
        how many other matches there are."""
        matched = self._matches(rule, self.now() - timedelta(days=self.days), ()).articles
        others = set(matched) - unwanted
        liked = {a for a, judged in labels.items() if judged.get(rule.topic.id) is True}
        masks = []
        for segment in self.window.segments:
            ids = [a.article_id for a in segment.articles]
            masks.append((segment, np.fromiter((i in others for i in ids), np.bool_, len(ids)),
                          np.fromiter((i in liked for i in ids), np.bool_, len(ids))))

        def spread(word: str) -> tuple[int, int]:
            held_by_others = held_by_liked = 0
            for segment, other, like in masks:
                positions = segment.positions([("word", word)])[("word", word)]
                held_by_others += int(other[positions].sum())
                held_by_liked += int(like[positions].sum())
            return held_by_others, held_by_liked

        return spread, len(others)

    def _path(self, topic_id: str) -> Path:
        if not ID_PATTERN.match(topic_id):
            raise KeyError(topic_id)
        return self.topics_dir / f"{topic_id}.yaml"


