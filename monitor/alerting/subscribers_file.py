"""Validation of a subscribers file: each subscriber, what it watches and its settings.

In: one parsed subscribers file (:class:`~monitor.yamlfile.YamlDoc`), the environment for its
secrets and optionally the ids of the watch topics that exist. Out: the file's
:class:`~monitor.alerting.subscriber.Subscriber` values in file order, and every mistake as a
:class:`~monitor.yamlfile.ConfigError`, collected rather than raised at the first. It never
shows a secret (channels and secrets are read by
:class:`~monitor.alerting.subscribers_channels.ChannelReader`). The file format and its rules
are in :mod:`monitor.alerting.subscribers`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from monitor.alerting.schedule import Digest, QuietHours, RateLimit
from monitor.alerting.subscriber import Corroboration, Subscriber
from monitor.alerting.subscribers_channels import ChannelReader
from monitor.article import SEVERITIES
from monitor.yamlfile import ID_PATTERN, ConfigError, FieldPath, YamlDoc

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)\Z")

_SETTINGS = ("min_severity", "delivery", "rate_limit", "quiet_hours", "max_age",
             "update_interval", "corroboration")
_REMOVABLE = ("rate_limit", "quiet_hours", "corroboration")
_SUBSCRIBER_FIELDS = ("id", "watch", "channels", *_SETTINGS)
_DURATION_HINT = "a duration such as 90s, 30m, 4h, 2d or 1h30m"
_DIGEST_HINT = 'immediate, {digest: {every: 4h}} or {digest: {at: ["08:00"]}}'


def read_subscribers(doc: YamlDoc, environ: Mapping[str, str],
                     known_topics: Collection[str] | None,
                     allow_unset: bool) -> tuple[tuple[Subscriber, ...], list[ConfigError]]:
    """Read the subscribers of ``doc``; return them with every mistake found, in the order found.

    The subscribers are meaningful only when there are no mistakes.
    """
    reader = _Reader(doc, environ, known_topics, allow_unset)
    subscribers = reader.read_file()
    return subscribers, reader.errors


class _Reader(ChannelReader):
    """Validates one parsed file, its channels through :class:`ChannelReader`; every method
    appends its mistakes to ``errors`` and returns None (or an empty value) for what it could
    not read."""

    def __init__(self, doc: YamlDoc, environ: Mapping[str, str],
                 known_topics: Collection[str] | None, allow_unset: bool) -> None:
        super().__init__(doc, environ, allow_unset)
        self.known_topics = known_topics

    def read_file(self) -> tuple[Subscriber, ...]:
        data = self.doc.data
        if not isinstance(data, dict):
            self.fail((), "expected a mapping with subscribers: [...] (and optionally defaults:)")
            return ()
        self.unknown((), data, ("defaults", "subscribers"))
        defaults: dict[str, Any] = {}
        if "defaults" in data:
            given = self.mapping(("defaults",), data["defaults"], _SETTINGS,
                                 "settings shared by every subscriber, such as max_age: 24h")
            defaults = self.settings(("defaults",), given or {})
        items = data.get("subscribers")
        if not isinstance(items, list):
            self.fail(("subscribers",) if "subscribers" in data else (),
                      "expected subscribers: a list of subscribers with id, watch and channels")
            return ()
        subscribers: list[Subscriber] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            subscriber = self.subscriber(("subscribers", i), item, defaults)
            if subscriber is None:
                continue
            if subscriber.id in seen:
                self.fail(("subscribers", i, "id"), f"duplicate subscriber id {subscriber.id!r} "
                                                    f"(also subscribers[{seen[subscriber.id]}])")
            else:
                seen[subscriber.id] = i
                subscribers.append(subscriber)
        return tuple(subscribers)

    def subscriber(self, at: FieldPath, item: Any, defaults: dict[str, Any]) -> Subscriber | None:
        if not isinstance(item, dict):
            self.fail(at, "expected a mapping with id, watch and channels")
            return None
        before = len(self.errors)
        self.unknown(at, item, _SUBSCRIBER_FIELDS)
        subscriber_id = item.get("id")
        if not isinstance(subscriber_id, str) or not ID_PATTERN.match(subscriber_id):
            self.fail((*at, "id") if "id" in item else at,
                      f"missing or bad id: lower-case letters, digits, '-' and '_' "
                      f"(got {subscriber_id!r})")
        watch = self.watch((*at, "watch"), item) if self.required(at, item, "watch") else None
        channels = self.channels((*at, "channels"), item["channels"]) if self.required(
            at, item, "channels") else ()
        settings = {**defaults, **self.settings(at, item)}
        if len(self.errors) > before or not isinstance(subscriber_id, str) or watch is None:
            return None
        return Subscriber(subscriber_id, watch, channels, **settings)

    def settings(self, at: FieldPath, data: dict[str, Any]) -> dict[str, Any]:
        """The settings ``data`` gives, as :class:`Subscriber` keyword arguments."""
        readers: dict[str, tuple[str, Callable[[FieldPath, Any], Any]]] = {
            "min_severity": ("min_severity", self.severity),
            "delivery": ("digest", self.delivery),
            "rate_limit": ("rate_limit", self.rate_limit),
            "quiet_hours": ("quiet_hours", self.quiet_hours),
            "max_age": ("max_age", self.duration),
            "update_interval": ("update_interval", self.duration),
            "corroboration": ("corroboration", self.corroboration),
        }
        out: dict[str, Any] = {}
        for key, (name, read) in readers.items():
            if key in data:
                removed = data[key] is None and key in _REMOVABLE
                out[name] = None if removed else read((*at, key), data[key])
        return out

    # -- what to watch ----------------------------------------------------------------------

    def watch(self, at: FieldPath, item: dict[str, Any]) -> frozenset[str] | None:
        value = item["watch"]
        if not isinstance(value, list) or not value:
            self.fail(at, "expected a non-empty list of watch topic ids, such as "
                          "[nk-russia-arms]")
            return None
        for i, topic in enumerate(value):
            if not isinstance(topic, str) or not ID_PATTERN.match(topic):
                self.fail((*at, i), f"expected a watch topic id, got {topic!r}")
            elif self.known_topics is not None and topic not in self.known_topics:
                known = sorted(self.known_topics)
                close = difflib.get_close_matches(topic, known, n=1)
                hint = (f" (did you mean {close[0]!r}?)" if close else
                        f" (known: {', '.join(known)})" if 0 < len(known) <= 10 else "")
                self.fail((*at, i), f"unknown watch topic {topic!r}{hint}")
        return frozenset(t for t in value if isinstance(t, str))

    # -- settings ----------------------------------------------------------------------------

    def severity(self, at: FieldPath, value: Any) -> str | None:
        if isinstance(value, str) and value in SEVERITIES:
            return value
        self.fail(at, f"expected one of {', '.join(SEVERITIES)}, got {value!r}")
        return None

    def delivery(self, at: FieldPath, value: Any) -> Digest | None:
        if value == "immediate":
            return None
        spec = self.mapping(at, value, ("digest",), _DIGEST_HINT)
        if spec is None:
            return None
        if "digest" not in spec:
            self.fail(at, f"expected {_DIGEST_HINT}")
            return None
        at = (*at, "digest")
        digest = self.mapping(at, spec["digest"], ("every", "at", "timezone"),
                              '{every: 4h} or {at: ["08:00", "17:30"], timezone: Europe/Berlin}')
        if digest is None:
            return None
        if ("every" in digest) == ("at" in digest):
            self.fail(at, "give exactly one of every: (an interval) or at: (clock times)")
            return None
        if "every" in digest:
            if "timezone" in digest:
                self.fail((*at, "timezone"), "goes with at:; every: digests fall on multiples "
                                             "of the interval since 1970-01-01 UTC")
            every = self.duration((*at, "every"), digest["every"])
            return Digest(every=every) if every else None
        times = digest["at"]
        if not isinstance(times, list) or not times:
            self.fail((*at, "at"), 'expected a non-empty list of times, such as ["08:00"]')
            return None
        clocks = [self.clock((*at, "at", i), t) for i, t in enumerate(times)]
        zone = self.timezone((*at, "timezone"), digest.get("timezone", "UTC"))
        if zone is None or None in clocks:
            return None
        return Digest(at=tuple(sorted({c for c in clocks if c is not None})), timezone=zone)

    def rate_limit(self, at: FieldPath, value: Any) -> RateLimit | None:
        spec = self.mapping(at, value, ("alerts", "per"), "{alerts: 10, per: 1h}")
        if spec is None:
            return None
        alerts = self.count((*at, "alerts"), spec["alerts"]) if self.required(
            at, spec, "alerts") else None
        per = self.duration((*at, "per"), spec["per"]) if self.required(at, spec, "per") else None
        return RateLimit(alerts, per) if alerts and per else None

    def quiet_hours(self, at: FieldPath, value: Any) -> QuietHours | None:
        spec = self.mapping(at, value, ("from", "to", "timezone"),
                            '{from: "22:00", to: "07:00", timezone: Europe/Berlin}')
        if spec is None:
            return None
        start = self.clock((*at, "from"), spec["from"]) if self.required(
            at, spec, "from") else None
        end = self.clock((*at, "to"), spec["to"]) if self.required(at, spec, "to") else None
        zone = self.timezone((*at, "timezone"), spec.get("timezone", "UTC"))
        if start is None or end is None or zone is None:
            return None
        if start == end:
            self.fail((*at, "to"), "equals from: quiet hours need different start and end")
            return None
        return QuietHours(start, end, zone)

    def corroboration(self, at: FieldPath, value: Any) -> Corroboration | None:
        spec = self.mapping(at, value, ("sources", "trusted_outlets"),
                            "{sources: 2, trusted_outlets: [Reuters]}")
        if spec is None:
            return None
        sources = self.count((*at, "sources"), spec["sources"]) if self.required(
            at, spec, "sources") else None
        outlets = spec.get("trusted_outlets", [])
        if not isinstance(outlets, list):
            self.fail((*at, "trusted_outlets"), "expected a list of outlet names, such as "
                                                "[Reuters, Yonhap News Agency]")
            outlets = []
        for i, outlet in enumerate(outlets):
            if not isinstance(outlet, str) or not outlet.strip():
                self.fail((*at, "trusted_outlets", i), f"expected an outlet name, got {outlet!r}")
        if sources is None:
            return None
        return Corroboration(sources, frozenset(o for o in outlets if isinstance(o, str)))

    # -- small values ------------------------------------------------------------------------

    def duration(self, at: FieldPath, value: Any) -> timedelta | None:
        match = _DURATION.match(value.replace(" ", "")) if isinstance(value, str) else None
        if match is None or not any(match.groups()):
            self.fail(at, f"expected {_DURATION_HINT}, got {value!r}")
            return None
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        result = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if not result:
            self.fail(at, f"must be longer than 0: {_DURATION_HINT}")
            return None
        return result

    def clock(self, at: FieldPath, value: Any) -> time | None:
        if isinstance(value, int) and not isinstance(value, bool):
            self.fail(at, 'write the time in quotes, such as "22:00" (unquoted, YAML reads it '
                          "as a number)")
            return None
        match = _CLOCK.match(value) if isinstance(value, str) else None
        if match is None:
            self.fail(at, f"expected a time HH:MM (24-hour clock), got {value!r}")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def timezone(self, at: FieldPath, value: Any) -> str | None:
        if isinstance(value, str):
            try:
                ZoneInfo(value)
                return value
            except (KeyError, ValueError, OSError):
                pass
        close = difflib.get_close_matches(str(value), sorted(available_timezones()), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "such as Europe/Berlin or UTC"
        self.fail(at, f"unknown time zone {value!r} ({hint})")
        return None

    def count(self, at: FieldPath, value: Any) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.fail(at, f"expected a whole number of at least 1, got {value!r}")
        return None

    def mapping(self, at: FieldPath, value: Any, fields: tuple[str, ...],
                example: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(at, f"expected {example}")
            return None
        self.unknown(at, value, fields)
        return value
