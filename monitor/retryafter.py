"""Read an HTTP ``Retry-After`` header: how long a server asks a client to wait.

In: the header's value (``"120"`` or an HTTP-date). Out: seconds, or ``None`` when absent or
unreadable. Used by the feed fetcher and by the alert channels alike.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: Longest wait honoured: a server asking for more is asked again after a day.
MAX_RETRY_AFTER = 86400.0
_DELTA_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for, or None when absent or unreadable.

    - delta-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``);
    - a date in the past gives 0; anything above ``MAX_RETRY_AFTER`` gives ``MAX_RETRY_AFTER``.
    """
    if not value:
        return None
    match = _DELTA_SECONDS.match(value)
    if match:
        seconds = float(match.group(1))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
