"""What a worker table remembers of each key, and when it forgets it. Pure logic, no Kafka.

In: the entry a table holds for a key (an :class:`Origin`: the input partition and offset that
first wrote it, and when), the coordinates of the message being processed, the clock. Out: a
verdict on the message (new, a replay of the very same message, or a duplicate of an earlier
one) and the keys whose retention has run out. It never decides on the wall clock by itself:
the caller passes ``now``.

Why the origin is kept: Kafka delivers at least once. After a crash the worker reads again
messages whose outputs may never have reached Kafka, while the table already remembers them
(table writes and outputs are confirmed independently). A message at the same partition and
offset as the entry is that same message read again and must be processed again; only a
*different* message with the same key is a duplicate.

Why expiry is partition by partition: a table entry lives in the changelog partition of the
input message that wrote it, and Faust lets a table change only while one of that partition's
messages is being processed. So each partition's old entries are swept while one of its own
messages is in hand, at most once per ``interval``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Sighting = Literal["new", "replay", "duplicate"]


@dataclass(frozen=True)
class Origin:
    """Where and when a key was first written: input partition, offset, Unix time."""

    partition: int
    offset: int
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"p": self.partition, "o": self.offset, "t": self.at}

    @classmethod
    def from_json(cls, raw: Any) -> Origin | None:
        """Read an entry back; ``None`` for anything that is not one (treated as absent)."""
        if not isinstance(raw, dict):
            return None
        try:
            return cls(int(raw["p"]), int(raw["o"]), float(raw["t"]))
        except (KeyError, TypeError, ValueError):
            return None


def sighting(entry: Origin | None, partition: int, offset: int) -> Sighting:
    """Classify a message against what the table holds for its key.

    - no entry: ``new``;
    - an entry written by this very message (same partition and offset): ``replay``, to be
      processed again because its outputs may have been lost in a crash;
    - an entry written by another message: ``duplicate``.
    """
    if entry is None:
        return "new"
    if entry.partition == partition and entry.offset == offset:
        return "replay"
    return "duplicate"


class Sweeper:
    """Decides when a partition's old entries are swept, and which they are."""

    def __init__(self, *, retention: float, interval: float) -> None:
        self.retention = retention
        self.interval = interval
        self._last: dict[int, float] = {}

    def due(self, partition: int, now: float) -> bool:
        """True at most once per ``interval`` for each partition (the first call is due)."""
        last = self._last.get(partition)
        if last is not None and now - last < self.interval:
            return False
        self._last[partition] = now
        return True

    def expired(self, items: Iterable[tuple[Any, Any]], partition: int,
                now: float) -> list[Any]:
        """Keys of ``partition`` first written more than ``retention`` seconds before ``now``.

        ``items`` are ``(key, raw entry)`` pairs as the table holds them; entries that are not
        an :class:`Origin` are left alone.
        """
        cutoff = now - self.retention
        out = []
        for key, raw in items:
            entry = Origin.from_json(raw)
            if entry is not None and entry.partition == partition and entry.at < cutoff:
                out.append(key)
        return out
