"""Say group by group why an article does or does not match one watch topic.

In: an :class:`~monitor.tagging.index.Index`, a watch topic id and an article's title and
text. Out: an :class:`~monitor.tagging.results.Explanation` for ``newswatch topics
explain``: each group's windows and hits, the windows that counted and the vetoed ones,
and whether the watch topic was a candidate at all. It reuses :class:`Evaluation`, so an
explanation can never disagree with :func:`~monitor.tagging.evaluate.match_article`; it is
for people, so it is thorough rather than fast, and it never changes the index.
"""

from __future__ import annotations

from monitor.tagging.evaluate import Evaluation
from monitor.tagging.index import Index
from monitor.tagging.results import Explanation, GroupTrace
from monitor.tagging.rules import Group, Within
from monitor.tagging.scan import Scan
from monitor.tagging.windows import ArticleWindows


def explain_article(index: Index, topic_id: str, title: str, text: str) -> Explanation:
    """Explain one watch topic against one article; raise :class:`KeyError` if unknown."""
    topic = index.watch_topics[index.topic_index[topic_id]]
    scan = Scan(index, title, text)
    evaluation = Evaluation(scan, ArticleWindows(scan.fields), topic)
    good, score = evaluation.counted()
    windows = evaluation.windows(topic.within)
    result = Explanation(topic.id, str(topic.within), topic.threshold, topic.title_weight,
                         score, bool(good) and score >= topic.threshold,
                         candidate=scan.anywhere(topic.rule))
    _trace(evaluation, topic.rule, topic.within, 0, result.groups, veto=False)
    for veto in topic.none:
        _trace(evaluation, veto, topic.within, 0, result.groups, veto=True)
    result.counted = [windows.describe(w) for w in good]
    result.vetoed = [windows.describe(w) for w in sorted(evaluation.vetoed())]
    return result


def _trace(evaluation: Evaluation, group: Group, within: Within, depth: int,
           out: list[GroupTrace], *, veto: bool) -> None:
    """Append the trace of ``group`` and, depth first, of every group below it."""
    own = group.within or within
    windows = evaluation.windows(own)
    fired = evaluation.fired(group, own)
    hits = [evaluation.evidence_of(group, t, h) for t, h in evaluation.hits(group)]
    note = ""
    if group.kind == "entity" and group.entity is not None and not hits:
        note = f"none of the {len(group.entity.names)} names of {group.entity.id!r} found"
    elif group.kind == "terms" and not hits:
        note = f"none of {', '.join(repr(t.written) for t in group.terms[:8])}" + (
            " ..." if len(group.terms) > 8 else "") + " found"
    if group.at_least > 1:
        note = (note + "; " if note else "") + f"needs {group.at_least} distinct members"
    out.append(GroupTrace(group.label, group.kind, depth, str(own),
                          [windows.describe(w) for w in sorted(fired)], hits, veto, note))
    for child in group.children:
        _trace(evaluation, child, own, depth + 1, out, veto=veto)
