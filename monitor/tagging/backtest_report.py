"""Show a backtest: a terminal table, JSON, or one self-contained HTML page.

In: a :class:`~monitor.tagging.backtest.Result`. Out: text. Explanations are rendered as
``newswatch topics explain`` renders them (:func:`~monitor.tagging.commands.render_explanation`).
The HTML page loads nothing: inline CSS, charts as inline SVG, no script, and every text from
an article or a watch topic escaped.

JSON (``--json``), one object::

    {"topics_dir": "topics", "against_dir": "old-topics" | null,
     "articles": 452, "bad": 2, "labelled": 300, "unknown_labels": ["nk-rusia-arms"],
     "first": "2024-05-01T06:00:00+00:00" | null, "last": ... | null, "cap": 500,
     "topics": [{
       "id": "nk-russia-arms", "title": "...", "in_versions": ["topics", "old-topics"],
       "matches": 31, "per_day": {"2024-06-19": 4, ..., "undated": 1},
       "stories": {"count": 12, "largest": [{"story_id", "articles", "outlets", "headline",
                                             "first", "last"}]} | null,
       "labels": {"judged": 300, "true_positives": 25, "false_positives": 3, "misses": 6,
                  "true_negatives": 266, "precision": 0.893, "recall": 0.806, "f1": 0.847},
       "false_positives": {"count": 3, "listed": [ARTICLE, ...]},
       "misses": {"count": 6, "listed": [...]},
       "against": {"matches": 30, "gained": {"count": 2, "listed": [...]},
                   "lost": {"count": 1, "listed": [...]}} | null}]}

    ARTICLE = {"id", "where" (file:line or topic[partition]@offset), "title", "published",
               "score", "threshold", "matched", "why" (the explanation as text)}

``precision``, ``recall`` and ``f1`` are null when undefined; ``listed`` holds the first
``cap`` articles of each kind (``count`` is complete).
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any

import orjson

from monitor.tagging.backtest import UNDATED, Listed, Result, StorySummary, TopicResult
from monitor.tagging.commands import render_explanation

#: Articles of each kind shown with their explanation in the terminal, per watch topic.
TABLE_CAP = 50
#: Articles of each kind listed with their explanation in JSON and HTML, per watch topic.
REPORT_CAP = 500
#: Longest span of days drawn one bar a day; longer spans are drawn a bar a week.
DAILY_SPAN = 120
_KINDS = (("false_positives", "false positives", "matched, labelled not relevant"),
          ("misses", "misses", "labelled relevant, not matched"),
          ("gained", "gained", "matched now, not by the other version"),
          ("lost", "lost", "matched by the other version, not now"))


# --- terminal ---------------------------------------------------------------------------------


def render_table(result: Result) -> str:
    """The summary table, then each watch topic's listed articles with their explanation."""
    out = [_headline(result), ""]
    labelled = result.labelled > 0
    against = result.against_dir is not None
    header = ["watch topic", "matches", "stories", "busiest day"]
    if labelled:
        header += ["judged", "TP", "FP", "miss", "precision", "recall", "F1"]
    if against:
        header += ["before", "gained", "lost"]
    rows = [header]
    for topic in result.topics:
        row = [topic.topic_id, str(topic.matches),
               "-" if topic.story_count is None else str(topic.story_count), _busiest(topic)]
        if labelled:
            row += [str(topic.labelled), str(topic.true_positives),
                    str(topic.false_positive_count), str(topic.miss_count),
                    _ratio(topic.precision), _ratio(topic.recall), _ratio(topic.f1)]
        if against:
            row += [str(topic.against_matches), f"+{topic.gained_count}",
                    f"-{topic.lost_count}"]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                   .rstrip())
    for topic in result.topics:
        for kind, name, meaning in _KINDS:
            items: list[Listed] = getattr(topic, kind)
            count = _count(topic, kind)
            if not count:
                continue
            out += ["", f"== {topic.topic_id}: {count} {name} ({meaning})"]
            for item in items[:TABLE_CAP]:
                when = item.published.date().isoformat() if item.published else UNDATED
                out.append(f"-- {item.ident}  {item.where}  {when}")
                out += ["   " + line if line else ""
                        for line in render_explanation(item.explanation, item.title)
                        .rstrip("\n").split("\n")]
            shown = min(len(items), TABLE_CAP)
            if count > shown:
                out.append(f"   ... and {count - shown} more"
                           + (f" (--json or --html list up to {result.cap})"
                              if result.cap > shown else ""))
    return "\n".join(out) + "\n"


def _headline(result: Result) -> str:
    line = f"backtest of {result.topics_dir}"
    if result.against_dir is not None:
        line += f" against {result.against_dir}"
    line += f": {result.articles} article{'s' if result.articles != 1 else ''}"
    if result.bad:
        line += f" ({result.bad} unreadable skipped)"
    if result.labelled:
        line += f", {result.labelled} labelled"
    if result.first and result.last:
        line += f", {result.first.date().isoformat()} to {result.last.date().isoformat()}"
    return line


def _busiest(topic: TopicResult) -> str:
    dated = [(count, day) for day, count in topic.per_day.items() if day != UNDATED]
    if not dated:
        return "-"
    # The earliest of equally busy days.
    count, day = max(dated, key=lambda cd: (cd[0], -date.fromisoformat(cd[1]).toordinal()))
    return f"{day} ({count})"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _count(topic: TopicResult, kind: str) -> int:
    counts = {"false_positives": topic.false_positive_count, "misses": topic.miss_count,
              "gained": topic.gained_count, "lost": topic.lost_count}
    return counts[kind]


# --- JSON -------------------------------------------------------------------------------------


def to_json(result: Result) -> bytes:
    """The whole result as one JSON object (shape in the module docstring)."""
    return orjson.dumps({
        "topics_dir": result.topics_dir, "against_dir": result.against_dir,
        "articles": result.articles, "bad": result.bad, "labelled": result.labelled,
        "unknown_labels": result.unknown_labels,
        "first": result.first.isoformat() if result.first else None,
        "last": result.last.isoformat() if result.last else None,
        "cap": result.cap,
        "topics": [_topic_json(topic, result) for topic in result.topics],
    }, option=orjson.OPT_INDENT_2)


def _topic_json(topic: TopicResult, result: Result) -> dict[str, Any]:
    def kind(name: str) -> dict[str, Any]:
        items: list[Listed] = getattr(topic, name)
        return {"count": _count(topic, name), "listed": [_article_json(i) for i in items]}

    return {
        "id": topic.topic_id, "title": topic.title, "in_versions": list(topic.in_versions),
        "matches": topic.matches, "per_day": dict(sorted(topic.per_day.items())),
        "stories": None if topic.story_count is None else {
            "count": topic.story_count, "largest": [_story_json(s) for s in topic.stories]},
        "labels": {"judged": topic.labelled, "true_positives": topic.true_positives,
                   "false_positives": topic.false_positive_count,
                   "misses": topic.miss_count, "true_negatives": topic.true_negatives,
                   "precision": topic.precision, "recall": topic.recall, "f1": topic.f1},
        "false_positives": kind("false_positives"), "misses": kind("misses"),
        "against": None if result.against_dir is None else {
            "matches": topic.against_matches, "gained": kind("gained"), "lost": kind("lost")},
    }


def _article_json(item: Listed) -> dict[str, Any]:
    e = item.explanation
    return {"id": item.ident, "where": item.where, "title": item.title,
            "published": item.published.isoformat() if item.published else None,
            "score": e.score, "threshold": e.threshold, "matched": e.matched,
            "why": render_explanation(e, item.title)}


def _story_json(story: StorySummary) -> dict[str, Any]:
    return {"story_id": story.story_id, "articles": story.articles, "outlets": story.outlets,
            "headline": story.headline,
            "first": story.first.isoformat() if story.first else None,
            "last": story.last.isoformat() if story.last else None}


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .6em;border-bottom:1px solid #eee}
th{text-align:left;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:12px}
details{margin:.2em 0}summary{cursor:pointer}.where{color:#777;font-size:12px}
svg .bar{fill:#3b6ea5}svg text{font-size:10px;fill:#555}.muted{color:#777}
"""


def render_html(result: Result) -> str:
    """One self-contained HTML page: summary, then per watch topic a chart and the lists."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(_headline(result))}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>{e(_headline(result))}</h1>"]
    if result.unknown_labels:
        parts.append(f"<p>Labels name unknown watch topics: "
                     f"{e(', '.join(result.unknown_labels))}</p>")
    labelled, against = result.labelled > 0, result.against_dir is not None
    head = ["watch topic", "matches", "stories"]
    head += ["judged", "TP", "FP", "miss", "precision", "recall", "F1"] if labelled else []
    head += ["before", "gained", "lost"] if against else []
    parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
    for topic in result.topics:
        cells = [str(topic.matches), "-" if topic.story_count is None else str(topic.story_count)]
        if labelled:
            cells += [str(topic.labelled), str(topic.true_positives),
                      str(topic.false_positive_count), str(topic.miss_count),
                      _ratio(topic.precision), _ratio(topic.recall), _ratio(topic.f1)]
        if against:
            cells += [str(topic.against_matches), f"+{topic.gained_count}",
                      f"-{topic.lost_count}"]
        parts.append(f'<tr><td><a href="#{e(topic.topic_id)}">{e(topic.topic_id)}</a></td>'
                     + "".join(f'<td class="n">{e(c)}</td>' for c in cells) + "</tr>")
    parts.append("</table>")
    for topic in result.topics:
        parts += _topic_html(topic, result)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _topic_html(topic: TopicResult, result: Result) -> list[str]:
    e = html.escape
    out = [f'<h2 id="{e(topic.topic_id)}">{e(topic.topic_id)}: {e(topic.title)}</h2>',
           f"<p>{topic.matches} matches"
           + (f" in {topic.story_count} stories" if topic.story_count is not None else "")
           + (f"; {topic.per_day[UNDATED]} undated" if topic.per_day.get(UNDATED) else "")
           + "</p>", _chart(topic, result)]
    if topic.stories:
        out.append(f"<h3>Largest stories (of {topic.story_count})</h3><table><tr><th>articles"
                   "</th><th>outlets</th><th>first</th><th>headline</th></tr>")
        for story in topic.stories[:20]:
            first = story.first.date().isoformat() if story.first else UNDATED
            out.append(f'<tr><td class="n">{story.articles}</td><td class="n">{story.outlets}'
                       f"</td><td>{e(first)}</td><td>{e(story.headline)}</td></tr>")
        out.append("</table>")
    for kind, name, meaning in _KINDS:
        items: list[Listed] = getattr(topic, kind)
        count = _count(topic, kind)
        if not count:
            continue
        shown = f", first {len(items)} shown" if count > len(items) else ""
        out.append(f"<h3>{count} {e(name)} <span class=muted>({e(meaning)}{shown})</span></h3>")
        for item in items:
            when = item.published.date().isoformat() if item.published else UNDATED
            out.append(f"<details><summary>{e(item.ident)}: {e(item.title)} "
                       f'<span class="where">{e(item.where)}, {e(when)}</span></summary>'
                       f"<pre>{e(render_explanation(item.explanation, item.title))}</pre>"
                       "</details>")
    return out


def _chart(topic: TopicResult, result: Result, width: int = 640, height: int = 120) -> str:
    """Matches per day (per week beyond :data:`DAILY_SPAN` days) as an inline SVG bar chart."""
    if result.first is None or result.last is None:
        return '<p class="muted">No dated articles: no chart.</p>'
    start, end = result.first.date(), result.last.date()
    step = 1 if (end - start).days < DAILY_SPAN else 7
    buckets: list[tuple[date, int]] = []
    day = start
    while day <= end:
        buckets.append((day, 0))
        day += timedelta(days=step)
    counts = [0] * len(buckets)
    for key, count in topic.per_day.items():
        if key != UNDATED:
            counts[min((date.fromisoformat(key) - start).days // step, len(counts) - 1)] += count
    top = max(max(counts), 1)
    plot_h, left = height - 30, 30
    bar_w = (width - left - 10) / len(counts)
    unit = "day" if step == 1 else "week from"
    parts = [f'<svg width="{width}" height="{height}" role="img" '
             f'aria-label="matches per {unit}">',
             f'<text x="2" y="12">{top}</text><text x="2" y="{plot_h}">0</text>']
    for i, ((first, _), count) in enumerate(zip(buckets, counts, strict=True)):
        h = plot_h * count / top
        x = left + i * bar_w
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{plot_h - h + 4:.1f}" '
                     f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}"><title>'
                     f"{unit} {first.isoformat()}: {count}</title></rect>")
    parts.append(f'<text x="{left}" y="{height - 6}">{start.isoformat()}</text>'
                 f'<text x="{width - 10}" y="{height - 6}" text-anchor="end">'
                 f"{end.isoformat()}</text></svg>")
    return "".join(parts)
