"""The feeds file (``deploy/feeds.yaml``): which feeds to poll, validated at start-up.

In: a YAML file with a top-level ``feeds:`` list. Out: a tuple of :class:`FeedConfig`.
Every mistake is reported with file, line and field, all of them at once, before anything runs::

    feeds:
      - id: yonhap-en            # unique; letters, digits, '-', '_', '.'
        url: https://en.yna.co.kr/RSS/news.xml
        outlet: Yonhap News Agency
        language: en             # optional; detected per article when absent
        interval: 5m             # optional; seconds, or 30s / 5m / 1h (default 5m)
        fulltext: false          # optional; fetch each article page for its main text
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.yamlfile import ConfigError, ConfigErrors, FieldPath, YamlDoc, load_yaml

DEFAULT_INTERVAL = 300.0
MIN_INTERVAL = 1.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_FIELDS = {"id", "url", "outlet", "language", "interval", "fulltext"}


@dataclass(frozen=True)
class FeedConfig:
    """One feed to poll."""

    id: str
    url: str
    outlet: str
    language: str | None = None
    interval: float = DEFAULT_INTERVAL
    fulltext: bool = False


def parse_duration(value: Any) -> float:
    """Return seconds for ``300``, ``"300"``, ``"30s"``, ``"5m"`` or ``"1h"``; raise ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 300, 30s, 5m or 1h")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 300, 30s, 5m or 1h")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"s": 1, "m": 60, "h": 3600}[unit]


def load_feeds(path: str | Path, text: str | None = None) -> tuple[FeedConfig, ...]:
    """Load and validate a feeds file; raise :class:`ConfigErrors` listing every mistake."""
    doc = load_yaml(path, text)
    errors: list[ConfigError] = []
    if not isinstance(doc.data, dict) or "feeds" not in doc.data:
        raise ConfigErrors([doc.error((), "expected a top-level 'feeds:' list")])
    items = doc.data["feeds"]
    if not isinstance(items, list) or not items:
        raise ConfigErrors([doc.error(("feeds",), "expected a non-empty list of feeds")])
    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        feed = _feed(doc, ("feeds", index), item, errors)
        if feed is None:
            continue
        if feed.id in seen:
            first = seen[feed.id]
            errors.append(doc.error(("feeds", index, "id"),
                                    f"duplicate feed id {feed.id!r} (first at feeds[{first}])"))
            continue
        seen[feed.id] = index
        feeds.append(feed)
    if errors:
        raise ConfigErrors(sorted(errors, key=lambda e: e.line or 0))
    return tuple(feeds)


def _feed(doc: YamlDoc, at: FieldPath, item: Any, errors: list[ConfigError]) -> FeedConfig | None:
    if not isinstance(item, dict):
        errors.append(doc.error(at, "expected a mapping with id, url and outlet"))
        return None
    before = len(errors)
    for key in sorted(set(item) - _FIELDS):
        errors.append(doc.error((*at, key), f"unknown field (expected one of {sorted(_FIELDS)})"))
    for key in ("id", "url", "outlet"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            errors.append(doc.error((*at, key) if key in item else at,
                                    f"'{key}' is required and must be text"))
    feed_id, url = item.get("id"), item.get("url")
    if isinstance(feed_id, str) and feed_id and not _ID.match(feed_id):
        errors.append(doc.error((*at, "id"), f"{feed_id!r}: use letters, digits, '.', '_', '-'"))
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(doc.error((*at, "url"), f"{url!r} is not an http(s) URL"))
    language = item.get("language")
    if language is not None and (not isinstance(language, str) or not _LANGUAGE.match(language)):
        errors.append(doc.error((*at, "language"), f"{language!r} is not a language code like en"))
    interval = DEFAULT_INTERVAL
    if "interval" in item:
        try:
            interval = parse_duration(item["interval"])
            if interval < MIN_INTERVAL:
                raise ValueError(f"must be at least {MIN_INTERVAL:g}s")
        except ValueError as exc:
            errors.append(doc.error((*at, "interval"), str(exc)))
    fulltext = item.get("fulltext", False)
    if not isinstance(fulltext, bool):
        errors.append(doc.error((*at, "fulltext"), "expected true or false"))
    if len(errors) > before or not isinstance(feed_id, str) or not isinstance(url, str):
        return None
    return FeedConfig(id=feed_id, url=url, outlet=item["outlet"].strip(), language=language,
                      interval=interval, fulltext=fulltext)
