"""Who is alerted about what, where and when: the frozen model of a subscribers file.

In: values already validated by :mod:`monitor.alerting.subscribers_file`. Out:
:class:`Subscribers`, :class:`Subscriber` and :class:`Corroboration`, frozen, for the policy
and the alert stage to read. No I/O and no validation here; a secret stays inside its
:class:`~monitor.alerting.notice.Secret`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from monitor.alerting.notice import ChannelConfig
from monitor.alerting.schedule import Digest, QuietHours, RateLimit

DEFAULT_MAX_AGE = timedelta(hours=48)
DEFAULT_UPDATE_INTERVAL = timedelta(minutes=30)


@dataclass(frozen=True)
class Corroboration:
    """Wait until a story has ``sources`` independent sources, or one trusted outlet.

    ``trusted_outlets`` are kept casefolded, so ``satisfied`` ignores case.
    """

    sources: int
    trusted_outlets: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_outlets",
                           frozenset(o.strip().casefold() for o in self.trusted_outlets))

    def satisfied(self, sources: int, outlets: Iterable[str]) -> bool:
        """Tell whether a story with ``sources`` independent sources from ``outlets`` may go."""
        return sources >= self.sources or any(
            o.strip().casefold() in self.trusted_outlets for o in outlets)


@dataclass(frozen=True)
class Subscriber:
    """One subscriber of the file. ``digest`` None means immediate delivery.

    Every channel's ``id`` is set (written or default), unique within the subscriber.
    """

    id: str
    watch: frozenset[str]
    channels: tuple[ChannelConfig, ...]
    min_severity: str = "low"
    digest: Digest | None = None
    rate_limit: RateLimit | None = None
    quiet_hours: QuietHours | None = None
    max_age: timedelta = DEFAULT_MAX_AGE
    update_interval: timedelta = DEFAULT_UPDATE_INTERVAL
    corroboration: Corroboration | None = None

    def channel(self, channel_id: str) -> ChannelConfig | None:
        """Return the channel with this id, or None."""
        return next((c for c in self.channels if c.id == channel_id), None)


@dataclass(frozen=True)
class Subscribers:
    """Every subscriber of one file, in file order."""

    subscribers: tuple[Subscriber, ...]
    path: str

    def watching(self, topic_id: str) -> tuple[Subscriber, ...]:
        """Return the subscribers who watch ``topic_id``, in file order."""
        return tuple(s for s in self.subscribers if topic_id in s.watch)

    def get(self, subscriber_id: str) -> Subscriber | None:
        """Return the subscriber with this id, or None."""
        return next((s for s in self.subscribers if s.id == subscriber_id), None)
