"""What the console's templates are given: feed text cut into plain pieces, never into markup.

In: rows of :mod:`monitor.console.model`, a request's query string, an editor preview's counts
per day. Out: plain values for Jinja2 templates that autoescape everything: evidence sentences
as ``(text, is_hit)`` segments (the template wraps hits in ``<mark>``), links only for
``http(s)`` URLs, the story list's filters to and from the URL, and the geometry of a small
bar chart as numbers. Must never build an HTML string from feed text or put feed text in an
attribute of the chart: the templates do all the markup, and escape all the text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from monitor.article import SEVERITIES, as_utc
from monitor.console.model import StoryFilter

#: Longest URL linked; a longer one is shown as text only.
MAX_URL_CHARS = 2_000
#: Longest page of stories an URL may ask for.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Segment = tuple[str, bool]
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")


# -- links -----------------------------------------------------------------------------------
def safe_url(url: object) -> str | None:
    """Return ``url`` when it is an absolute ``http``/``https`` URL fit to link, else ``None``.

    - only the schemes ``http`` and ``https`` (so never ``javascript:``, ``data:``, ``file:``);
    - a host is required; control characters and spaces refuse the URL outright (a browser
      would drop some of them and read another scheme);
    - at most ``MAX_URL_CHARS`` characters.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        return None
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def local_path(target: object, default: str = "/") -> str:
    """Return ``target`` when it is a path on this site (for a redirect), else ``default``.

    Refuses ``//host`` and ``/\\host`` (other sites to a browser) and anything with a scheme.
    """
    if (not isinstance(target, str) or not target.startswith("/")
            or target.startswith(("//", "/\\")) or len(target) > MAX_URL_CHARS
            or any(ord(c) < 0x20 or c == "\x7f" for c in target)):
        return default
    return target


def dom_id(value: object) -> str:
    """An element id for an item id: the id itself when it is plain, else a digest of it.

    Ids come from producers; one with spaces or odd characters would break the list of ids
    in ``data-swap`` and the CSS of a selector, never the page's markup (it is escaped).
    """
    text = str(value)
    if _PLAIN_ID.fullmatch(text):
        return text
    return "h" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def lang_code(value: object) -> str | None:
    """``value`` when it is a well-formed language tag for a ``lang`` attribute, else ``None``."""
    return value if isinstance(value, str) and _LANG.fullmatch(value) else None


# -- evidence --------------------------------------------------------------------------------
def highlight(sentence: Mapping[str, Any], evidence: Iterable[Mapping[str, Any]]) -> list[Segment]:
    """Cut one evidence sentence into ``(text, is_hit)`` segments, the matched terms as hits.

    - a hit is an evidence record of the same field whose offsets fall inside the sentence and
      whose quoted text (``matched``) is what the sentence holds there;
    - a record whose offsets do not line up (a cut snippet, a foreign producer) is found by
      its quoted text instead, every occurrence, case-insensitively;
    - overlapping hits merge; the segments, joined, give back the sentence text exactly.
    """
    text = sentence.get("text")
    if not isinstance(text, str) or not text:
        return []
    field_name = sentence.get("field")
    offset = sentence.get("start")
    spans: list[tuple[int, int]] = []
    for record in evidence:
        matched = record.get("matched")
        if not isinstance(matched, str) or not matched.strip():
            continue
        start, end = record.get("start"), record.get("end")
        if (record.get("field") == field_name and isinstance(offset, int)
                and isinstance(start, int) and isinstance(end, int)):
            lo, hi = start - offset, end - offset
            if 0 <= lo < hi <= len(text) and text[lo:hi] == matched:
                spans.append((lo, hi))
                continue
        spans.extend(_occurrences(text, matched))
    return _segments(text, spans)


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    folded, target = text.casefold(), needle.casefold()
    if len(folded) != len(text):  # case folding changed lengths: offsets would not line up
        folded, target = text, needle
    out, at = [], folded.find(target)
    while at >= 0 and target:
        out.append((at, at + len(target)))
        at = folded.find(target, at + len(target))
    return out


def _segments(text: str, spans: list[tuple[int, int]]) -> list[Segment]:
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    out: list[Segment] = []
    at = 0
    for lo, hi in merged:
        if lo > at:
            out.append((text[at:lo], False))
        out.append((text[lo:hi], True))
        at = hi
    if at < len(text):
        out.append((text[at:], False))
    return out


def evidence_terms(evidence: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """The distinct ``(group, term, matched)`` of an article's evidence, in first-seen order."""
    seen: dict[tuple[str, str, str], None] = {}
    for record in evidence:
        key = tuple(str(record.get(k) or "") for k in ("group", "term", "matched"))
        if key[2]:
            seen.setdefault((key[0], key[1], key[2]), None)
    return list(seen)


# -- the story list's filters ----------------------------------------------------------------
def filter_from_query(query: Mapping[str, str]) -> StoryFilter:
    """Read the story list's filters from a query string; values that make no sense are ignored.

    ``topic``, ``severity`` (this or higher), ``ack`` (``yes``/``no``), ``vote``
    (``up``/``down``), ``snoozed=1`` (include snoozed stories), ``before`` (ISO time) and
    ``before_id`` (a story id, with ``before`` only) for paging, ``limit``.
    """
    topic = (query.get("topic") or "").strip()[:200] or None
    severity = query.get("severity") if query.get("severity") in SEVERITIES else None
    ack = {"yes": True, "no": False}.get(query.get("ack") or "")
    vote = query.get("vote")
    before = parse_time(query.get("before"))
    # An id alone would say nothing of where the page starts.
    before_id = (query.get("before_id") or "")[:200] or None
    try:
        limit = max(1, min(MAX_LIMIT, int(query.get("limit") or DEFAULT_LIMIT)))
    except ValueError:
        limit = DEFAULT_LIMIT
    return StoryFilter(topic_id=topic, severity=severity, acknowledged=ack,
                       vote="up" if vote == "up" else "down" if vote == "down" else None,
                       include_snoozed=query.get("snoozed") == "1", limit=limit, before=before,
                       before_id=before_id if before is not None else None)


def filter_query(flt: StoryFilter, **changes: Any) -> str:
    """Write filters as a query string (``?topic=x&ack=no``; empty when none), after ``changes``.

    Only what differs from the defaults is written, so the URL of a view reads as its filters.
    """
    if changes:
        flt = replace(flt, **changes)
    params: list[tuple[str, str]] = []
    if flt.topic_id:
        params.append(("topic", flt.topic_id))
    if flt.severity:
        params.append(("severity", flt.severity))
    if flt.acknowledged is not None:
        params.append(("ack", "yes" if flt.acknowledged else "no"))
    if flt.vote:
        params.append(("vote", flt.vote))
    if flt.include_snoozed:
        params.append(("snoozed", "1"))
    if flt.limit != DEFAULT_LIMIT:
        params.append(("limit", str(flt.limit)))
    if flt.before is not None:
        params.append(("before", as_utc(flt.before).isoformat()))
        if flt.before_id is not None:
            params.append(("before_id", flt.before_id))
    return "?" + urlencode(params) if params else ""


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 time from a query string (naive means UTC), or ``None``."""
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.strip().replace(" ", "+")))
    except ValueError:
        return None


# -- times -----------------------------------------------------------------------------------
def ago(when: datetime | None, now: datetime) -> str:
    """How long ago, as an analyst reads a list: ``just now``, ``5 min``, ``3 h``, ``2 d``."""
    if when is None:
        return ""
    seconds = (now - as_utc(when)).total_seconds()
    if seconds < 60:
        return "just now" if seconds > -60 else "in the future"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def stamp(when: datetime | None) -> str:
    """A UTC time to the minute: ``2025-12-04 11:22 UTC``."""
    return "" if when is None else as_utc(when).strftime("%Y-%m-%d %H:%M UTC")


def until_text(until: datetime | None, now: datetime) -> str:
    """When a snooze ends, as ``in 3 h (2025-12-04 14:22 UTC)``."""
    if until is None:
        return ""
    left = as_utc(until) - now
    hours = max(0, round(left / timedelta(hours=1)))
    return f"in {hours} h ({stamp(until)})" if hours < 48 else f"on {stamp(until)}"


# -- the per-day chart -----------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str        # "before" or "after": a CSS class, from this closed set


@dataclass(frozen=True)
class DayColumn:
    label: str       # the day, e.g. "12-04"
    title: str       # e.g. "2025-12-04: 12 before, 10 after" (an SVG <title>: element text)
    x: float
    bars: tuple[Bar, Bar]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: float
    peak: int
    columns: tuple[DayColumn, ...]


CHART_HEIGHT = 120
_LABEL_ROOM = 18
_TOP_ROOM = 14


def day_chart(per_day: Sequence[Sequence[Any]], *, width: int = 560) -> Chart | None:
    """Lay out ``[(day, before, after), ...]`` as paired bars; ``None`` when there are no days.

    Every value in the result is a number or a fixed class name, except ``label`` and
    ``title``, which the template writes as element text (escaped), never as attributes.
    """
    days: list[tuple[str, int, int]] = []
    for row in per_day:
        if len(row) < 3:
            continue
        day, before, after = row[0], row[1], row[2]
        label = day.isoformat() if isinstance(day, date) else str(day)
        days.append((label[:10], _count(before), _count(after)))
    if not days:
        return None
    peak = max(max(b, a) for _, b, a in days) or 1
    slot = width / len(days)
    bar = max(1.0, min(18.0, (slot - 4) / 2))
    usable = CHART_HEIGHT - _LABEL_ROOM - _TOP_ROOM
    baseline = float(CHART_HEIGHT - _LABEL_ROOM)
    columns = []
    for index, (label, before, after) in enumerate(days):
        centre = slot * index + slot / 2
        bars = []
        for offset, (kind, value) in enumerate((("before", before), ("after", after))):
            height = usable * value / peak
            bars.append(Bar(x=round(centre - bar + offset * bar, 1),
                            y=round(baseline - height, 1), width=round(bar - 1, 1),
                            height=round(height, 1), kind=kind))
        columns.append(DayColumn(label=label[5:] if len(label) == 10 else label,
                                 title=f"{label}: {before} before, {after} after",
                                 x=round(centre, 1), bars=(bars[0], bars[1])))
    return Chart(width=width, height=CHART_HEIGHT, baseline=baseline, peak=peak,
                 columns=tuple(columns))


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def ratio(value: object) -> str:
    """A precision or recall for a table cell: ``0.83``, or ``n/a`` without labels."""
    return f"{value:.2f}" if isinstance(value, int | float) else "n/a"


def delta(before: int, after: int) -> str:
    """``+3``, ``-2`` or ``±0``."""
    change = after - before
    return f"+{change}" if change > 0 else f"{change}" if change < 0 else "\u00b10"
