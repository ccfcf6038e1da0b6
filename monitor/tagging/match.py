"""Match one article against every watch topic at once, with the evidence for each match.

In: an article's title and text (and its language, if known). Out: a list of
:class:`TopicMatch`, best first, each with the terms that fired as written in the article and
the sentences that satisfied the rule. Pure computation: no I/O (but :meth:`Matcher.from_dir`),
no clock, no logging of text.

:class:`Matcher` is the one entry point; the work is done by one module per stage:

- ``index``: watch topics → one frozen :class:`~monitor.tagging.index.Index` (automata,
  probes, candidate tables), built once per set of files;
- ``scan``: article → which probes fired, where: every pattern of every term of every watch
  topic sits in one Aho-Corasick automaton per script, run once over each normalized field,
  so the cost grows with the article, not with the number of watch topics;
- ``windows``: sentences, paragraphs, runs of words, cut lazily, once per article;
- ``evaluate``: candidates only (watch topics each of whose required groups fired), a cheap
  "do the leaves share a paragraph, then a sentence" check, then the exact rule semantics,
  listed in :mod:`monitor.tagging.evaluate`, for score and evidence;
- ``explain``: the same evaluation, told group by group;
- ``indexcache``: the compiled index kept on disk between starts, keyed by the files' bytes;
- ``results``: :class:`Evidence`, :class:`TopicMatch`, :class:`Explanation`,
  :class:`GroupTrace`, re-exported here.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from monitor.tagging.evaluate import MAX_EVIDENCE, MAX_SENTENCES, match_article
from monitor.tagging.explain import explain_article
from monitor.tagging.index import Index, build_index
from monitor.tagging.indexcache import load_or_build
from monitor.tagging.load import load_rules
from monitor.tagging.results import Evidence, Explanation, GroupTrace, TopicMatch
from monitor.tagging.rules import Entity, WatchTopic
from monitor.tagging.scan import FIELD_SHIFT, FIELDS, TEXT, TITLE
from monitor.tagging.windows import PARAGRAPH, SENTENCE

__all__ = ["FIELDS", "FIELD_SHIFT", "MAX_EVIDENCE", "MAX_SENTENCES", "PARAGRAPH", "SENTENCE",
           "TEXT", "TITLE", "Evidence", "Explanation", "GroupTrace", "Matcher", "TopicMatch"]


class Matcher:
    """Every watch topic compiled into one index; :meth:`match` tags one article.

    >>> matcher = Matcher.from_dir("topics")                      # doctest: +SKIP
    >>> [m.topic_id for m in matcher.match("Title", "Text ...")]   # doctest: +SKIP
    """

    def __init__(self, watch_topics: Iterable[WatchTopic] = (),
                 entities: Mapping[str, Entity] | None = None, *,
                 index: Index | None = None) -> None:
        """Compile ``watch_topics``, or use an ``index`` compiled before."""
        self.index: Index = index if index is not None else build_index(watch_topics, entities)
        self.watch_topics: tuple[WatchTopic, ...] = self.index.watch_topics
        self.entities: Mapping[str, Entity] = self.index.entities

    @classmethod
    def from_dir(cls, directory: str | Path, *, cache_dir: Path | None = None) -> Matcher:
        """Load, validate and compile ``directory``; raise ``ConfigErrors`` on any mistake.

        With ``cache_dir``, an index compiled from the same files before is read from there
        instead (see :mod:`monitor.tagging.indexcache`).
        """

        def build() -> Index:
            rules = load_rules(directory)
            return build_index(rules.watch_topics, rules.entities)

        with _collector_paused():
            if cache_dir is None:
                return cls(index=build())
            return cls(index=load_or_build(directory, cache_dir, build))

    def match(self, title: str, text: str, language: str | None = None) -> list[TopicMatch]:
        """Return the watch topics this article matches, best first (score, then id).

        ``language`` is accepted for callers that know it; terms of every language apply to
        every article, because names cross languages (``Pyongyang`` in a German text).
        """
        return match_article(self.index, title, text)

    def explain(self, topic_id: str, title: str, text: str,
                language: str | None = None) -> Explanation:
        """Say group by group why the article does or does not match ``topic_id``.

        Raise :class:`KeyError` for an unknown watch topic.
        """
        return explain_article(self.index, topic_id, title, text)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects, then freeze them.

    Building 10,000 watch topics allocates millions of objects; every allocation burst would
    trigger a full collection that walks them all again, which more than doubles build time.
    Reference counting still frees what is dropped. What was built then lives until the next
    reload, so it is moved out of the collector's sight (``gc.freeze``): otherwise every full
    collection while tagging walks the whole index again, a 0.4 s pause at 10,000 watch
    topics. The index holds no reference cycles, so a replaced one is still freed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
        _release_free_memory()


def _release_free_memory() -> None:
    """Give the memory a build freed back to the system, where the C library can say so.

    A build frees about as much as it keeps (parsed YAML, the builder's tables); the C
    allocator keeps those pages for later, so a service that built 10,000 watch topics
    holds about 15 MB more than it uses, until the next reload reuses them. glibc's
    ``malloc_trim`` returns them; elsewhere (no such function) nothing happens.
    """
    with suppress(AttributeError, OSError):
        ctypes.CDLL(None).malloc_trim(0)
