"""Tag articles with the watch topics they match.

- ``text``: normalization shared by terms and articles, with offsets back to the original;
  ``terms``: a term as written → the literal patterns that find it; ``segments``: sentences and
  paragraphs.
- ``load``: ``topics/*.yaml`` and ``topics/entities/*.yaml`` → validated :class:`WatchTopic`
  (the objects in ``rules``), each file checked by ``parse``.
- ``match``: :class:`Matcher`, the façade: article → :class:`TopicMatch` with evidence, by way
  of ``index`` (compile), ``scan`` (probe hits), ``windows`` (sentences, paragraphs, runs of
  words), ``evaluate`` (candidates, rule semantics) and ``explain``; ``indexcache`` keeps the
  compiled index between starts; ``scripts`` is the one table of Unicode scripts.
- ``commands``: ``newswatch topics check|explain`` and ``newswatch tag``.
- ``stage``: one ``news.articles`` message in, its ``news.matches`` messages out.
"""

from monitor.tagging.load import load_rules
from monitor.tagging.match import Evidence, Matcher, TopicMatch
from monitor.tagging.rules import WatchTopic

__all__ = ["Evidence", "Matcher", "TopicMatch", "WatchTopic", "load_rules"]
