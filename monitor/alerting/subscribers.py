"""Who is alerted about what, where and when: the subscribers file, validated, and its reloader.

In: a subscribers file such as ``deploy/subscribers.yaml``, the environment for its secrets,
and optionally the ids of the watch topics that exist. Out: :class:`Subscribers`, frozen, with
every secret resolved into a :class:`~monitor.alerting.notice.Secret` and every channel's
``id`` set. It never shows a secret: no error, repr or log line carries an expanded ``${VAR}``,
and a secret written literally in the file is refused without being repeated.

Every mistake of a file is collected and raised at once as :class:`ConfigErrors`, one line
each, like ``newswatch topics check``::

    deploy/subscribers.yaml:4: subscribers[0].watch[1]: unknown watch topic 'unsc-sanction'

A file, in full (defaults in brackets)::

    defaults:                          # any setting below from min_severity on, for everyone
      max_age: 24h
    subscribers:
      - id: korea-desk                 # [a-z0-9][a-z0-9_-]*, unique
        watch: [nk-russia-arms, unsc-sanctions]
        channels:
          - slack: {webhook_url: "${SLACK_WEBHOOK_KOREA}"}
          - slack: {token: "${SLACK_BOT_TOKEN}", channel: "#korea-desk", id: korea-bot}
          - email: {to: ["desk@example.org"]}
          - webhook: {url: "https://hooks.example.org/news", secret: "${HOOK_SECRET}"}
          - console: {}                # or console: true
        min_severity: medium           # low | medium | high | critical          [low]
        delivery: {digest: {at: ["08:00", "17:30"], timezone: Europe/Berlin}}
                                       # or {digest: {every: 4h}}       [immediate]
        rate_limit: {alerts: 10, per: 1h}                     # overflow waits for a digest
        quiet_hours: {from: "22:00", to: "07:00", timezone: Europe/Berlin}
        max_age: 48h                   # older articles are not alerted           [48h]
        update_interval: 30m           # at most one update per story this often  [30m]
        corroboration: {sources: 2, trusted_outlets: [Reuters, Yonhap News Agency]}

Rules:

- durations are ``90s``, ``30m``, ``4h``, ``2d`` or combined (``1h30m``); clock times are
  ``"HH:MM"``, quoted (unquoted, YAML reads ``22:00`` as a number);
- ``webhook_url``, ``token`` and a webhook's ``secret`` are written ``${VAR}`` only; a
  webhook's ``url`` may also be literal;
- a subscriber's own setting replaces the one in ``defaults``; ``null`` removes a default
  ``rate_limit``, ``quiet_hours`` or ``corroboration`` for one subscriber;
- a channel without ``id:`` gets :func:`~monitor.alerting.notice.default_channel_id` of its
  kind and its values as written (``${VAR}`` unexpanded, fields in the order above), so the id
  never derives from a secret and does not change when one is rotated.

The parts: :mod:`~monitor.alerting.schedule` (digests, quiet hours, rate limits),
:mod:`~monitor.alerting.subscriber` (the frozen model), :mod:`~monitor.alerting.subscribers_file`
and :mod:`~monitor.alerting.subscribers_channels` (validation). This module loads and reloads
the file, and re-exports the model and timing names listed in ``__all__``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from monitor.alerting.schedule import EPOCH, Digest, QuietHours, RateLimit, next_digest
from monitor.alerting.subscriber import (
    DEFAULT_MAX_AGE,
    DEFAULT_UPDATE_INTERVAL,
    Corroboration,
    Subscriber,
    Subscribers,
)
from monitor.alerting.subscribers_file import read_subscribers
from monitor.yamlfile import ConfigError, ConfigErrors, load_yaml

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_UPDATE_INTERVAL",
    "EPOCH",
    "Corroboration",
    "Digest",
    "QuietHours",
    "RateLimit",
    "Subscriber",
    "Subscribers",
    "SubscribersReloader",
    "load_subscribers",
    "next_digest",
]

log = logging.getLogger(__name__)


def load_subscribers(path: str | Path, *, environ: Mapping[str, str] | None = None,
                     known_topics: Collection[str] | None = None, text: str | None = None,
                     allow_unset: bool = False) -> Subscribers:
    """Read and validate a subscribers file; raise :class:`ConfigErrors` listing every mistake.

    - ``environ`` (default ``os.environ``) gives the ``${VAR}`` values;
    - ``known_topics``, if given, are the watch topic ids a subscriber may watch;
    - ``text`` is parsed instead of the file (``path`` then only names it in messages);
    - ``allow_unset``: a variable missing from ``environ`` is no error and its secret holds
      the ``${VAR}`` placeholder: for checking a file without its secrets, never for sending.
    """
    try:
        doc = load_yaml(path, text)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from None
    subscribers, errors = read_subscribers(doc, os.environ if environ is None else environ,
                                           known_topics, allow_unset)
    if errors:
        raise ConfigErrors(sorted(errors, key=lambda e: e.line or 0))
    return Subscribers(subscribers, str(path))


class SubscribersReloader:
    """Holds the current subscribers; reads the file again when its mtime or size changes.

    The first load raises :class:`ConfigErrors` (starting with a bad file is fatal). Later, a
    bad edit keeps the previous subscribers: each error is logged and ``on_error`` called
    once, so a typo never stops alerting. ``known_topics`` may be replaced when the watch
    topics change; the next reload checks against it.
    """

    def __init__(self, path: str | Path, *, environ: Mapping[str, str] | None = None,
                 known_topics: Collection[str] | None = None,
                 on_error: Callable[[], None] | None = None) -> None:
        self.path = Path(path)
        self.environ = environ
        self.known_topics = known_topics
        self.on_error = on_error
        self._stamp = _stamp(self.path)
        self.subscribers = self._load()

    async def reload_if_changed(self) -> bool:
        """Re-read the file if it changed; return whether new subscribers are in use."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            subscribers = await asyncio.to_thread(self._load)
        except ConfigErrors as exc:
            for error in exc.errors:
                log.error("subscribers not reloaded, keeping the previous ones: %s", error)
            if self.on_error is not None:
                self.on_error()
            return False
        self.subscribers = subscribers
        log.info("subscribers reloaded: %d subscribers from %s",
                 len(subscribers.subscribers), self.path)
        return True

    def _load(self) -> Subscribers:
        return load_subscribers(self.path, environ=self.environ, known_topics=self.known_topics)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
