"""Is a stage making progress? The logic behind ``/readyz`` and the exit on a stall.

In: what a stage reports — it finished a unit of work (:meth:`StallWatch.progressed`), how much
input waits for it now (:meth:`StallWatch.waiting`), whether it holds its share of the work
(:meth:`StallWatch.set_ready`) — and a clock. Out: ready or not, with the reason, and the
seconds it has been stalled. No I/O and no threads: the poller and the worker serve the answer
over HTTP and exit when :meth:`StallWatch.stalled` says so, so that their supervisor restarts
them instead of leaving a process that looks alive and does nothing.

A stage is *stalled* when input has waited, without a break, for ``stall_after`` seconds and
nothing was processed in that time. An idle stage (nothing waiting) is never stalled. A stage
that reports its committed position per partition (:meth:`StallWatch.observe`, the worker) is
also stalled when one partition has had input waiting for ``stall_after`` seconds without its
committed position moving, however busy the others are: work that is done but never
committed is lost to the next restart all the same.

::

    watch = StallWatch(stall_after=300)
    watch.set_ready(True, "assigned 3 partitions")
    watch.waiting(120)          # 120 messages wait
    watch.progressed()          # one of them was processed
    watch.status()              # (True, "assigned 3 partitions")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping


class StallWatch:
    """Tracks progress against waiting input; answers ready / stalled."""

    def __init__(self, stall_after: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self._clock = clock
        self._last_progress = clock()
        self._waiting_since: float | None = None
        self._ready = False
        self._reason = "starting"
        self._committed: dict[Hashable, int] = {}
        self._stuck_since: dict[Hashable, float] = {}
        self._named: dict[Hashable, float] = {}

    def progressed(self) -> None:
        """Note that a unit of work (a message, a poll) was finished just now."""
        self._last_progress = self._clock()

    def waiting(self, count: int) -> None:
        """Note how much input waits right now (0: none, the stage is idle)."""
        if count <= 0:
            self._waiting_since = None
        elif self._waiting_since is None:
            self._waiting_since = self._clock()

    def observe(self, positions: Mapping[Hashable, tuple[int, int]]) -> None:
        """Note each partition's (committed position, end): input waits where they differ.

        Partitions left out are no longer this stage's and are forgotten.
        """
        now = self._clock()
        stuck: dict[Hashable, float] = {}
        for key, (committed, end) in positions.items():
            if end <= committed:
                continue
            moved = self._committed.get(key) != committed
            stuck[key] = now if moved else self._stuck_since.get(key, now)
        self._stuck_since = stuck
        self._committed = {key: committed for key, (committed, _) in positions.items()}

    def set_ready(self, ready: bool, reason: str) -> None:
        """Say whether the stage holds its share of the work, and why (shown by /readyz)."""
        self._ready, self._reason = ready, reason

    def stalled_for(self) -> float:
        """Seconds input has waited with nothing processed (0 while idle or progressing)."""
        now = self._clock()
        partition = max((now - since for since in self._stuck_since.values()), default=0.0)
        if self._waiting_since is None:
            return partition
        return max(now - max(self._last_progress, self._waiting_since), partition, 0.0)

    def stalled(self) -> bool:
        return self.stalled_for() >= self.stall_after

    def stuck(self, after: float) -> dict[Hashable, int]:
        """The partitions (with their committed position) stuck for ``after`` seconds or more;
        each is named once per stretch: the next time only after ``after`` seconds more."""
        now = self._clock()
        out = {}
        for key, since in self._stuck_since.items():
            if now - since >= after and now - self._named.get(key, since) >= after:
                out[key] = self._committed[key]
                self._named[key] = now
        self._named = {k: t for k, t in self._named.items() if k in self._stuck_since}
        return out

    def status(self) -> tuple[bool, str]:
        """Return (ready, reason): not ready while starting, unassigned or stalled."""
        stalled = self.stalled_for()
        if stalled >= self.stall_after:
            return False, f"stalled: input waiting and nothing processed for {stalled:.0f} s"
        return self._ready, self._reason
