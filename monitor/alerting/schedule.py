"""When a subscriber's alerts may go out: digest times, quiet hours and rate limits.

In: the timing settings of a subscriber, already validated, and aware instants. Out: frozen
:class:`Digest`, :class:`QuietHours` and :class:`RateLimit`, the next digest time
(:func:`next_digest`) and the end of quiet hours, always in UTC. Pure: no I/O, no reading of
the clock (``now`` is passed in), and a naive datetime is refused rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Digest:
    """When held alerts go out together; exactly one of ``every`` and ``at`` is set.

    ``every``: on multiples of the interval since the Unix epoch (UTC), so a restart never
    shifts them; ``at``: at each of these clock times in ``timezone``.
    """

    every: timedelta | None = None
    at: tuple[time, ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.every is None) == (not self.at):
            raise ValueError("a digest needs exactly one of every and at")


@dataclass(frozen=True)
class RateLimit:
    """At most ``alerts`` alerts per ``per``; what is over waits for the next digest."""

    alerts: int
    per: timedelta


@dataclass(frozen=True)
class QuietHours:
    """Local clock times ``start`` (inclusive) to ``end`` (exclusive), over midnight if
    ``start`` is later than ``end``."""

    start: time
    end: time
    timezone: str = "UTC"

    def contains(self, when: datetime) -> bool:
        """Tell whether the aware instant ``when`` falls in the quiet hours."""
        now = _aware(when).astimezone(ZoneInfo(self.timezone)).time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def ends_after(self, when: datetime) -> datetime:
        """Return the UTC instant the quiet hours containing ``when`` end (``when`` if none do).

        - the end is the first instant after ``when`` at which the local clock shows ``end``;
        - an ``end`` repeated by a fall-back change ends the second stretch too;
        - an ``end`` skipped by a spring-forward change counts as that time after the jump.
        """
        if not self.contains(when):
            return when.astimezone(UTC)
        zone = ZoneInfo(self.timezone)
        day = when.astimezone(zone).date()
        return min(t for d in (day, day + timedelta(days=1))
                   for t in _occurrences(d, self.end, zone) if t > when)


def next_digest(digest: Digest, after: datetime) -> datetime:
    """Return the first digest time strictly after the aware instant ``after``, in UTC.

    - ``every``: the next multiple of the interval since 1970-01-01 00:00 UTC;
    - ``at``: the next listed local time in the digest's time zone; a time repeated by a
      fall-back change runs once (the first time), a time skipped by a spring-forward change
      runs that long after the jump (02:30 runs at 03:30).
    """
    if digest.every is not None:
        return EPOCH + ((_aware(after) - EPOCH) // digest.every + 1) * digest.every
    zone = ZoneInfo(digest.timezone)
    day = _aware(after).astimezone(zone).date()
    return min(t for d in (day - timedelta(days=1), day, day + timedelta(days=1))
               for clock in digest.at for t in _occurrences(d, clock, zone)[:1] if t > after)


def _aware(when: datetime) -> datetime:
    if when.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {when!r}")
    return when


def _occurrences(day: date, clock: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the clock in ``zone`` shows ``clock`` on ``day``, earliest
    first: two in a fall-back hour; in a skipped hour, the instant that long after the jump."""
    local = datetime.combine(day, clock)
    found = sorted({local.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)})
    real = [t for t in found if t.astimezone(zone).replace(tzinfo=None) == local]
    return real or [local.replace(tzinfo=zone).astimezone(UTC)]

