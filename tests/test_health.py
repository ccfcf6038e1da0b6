"""The stall rule behind /readyz: waiting input plus no progress for ``stall_after`` seconds."""

from __future__ import annotations

from monitor.health import StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_stage_is_never_stalled() -> None:
    clock = Clock()
    watch = StallWatch(300, clock=clock)
    watch.set_ready(True, "assigned")
    clock.now += 3600
    watch.waiting(0)
    assert not watch.stalled()
    assert watch.status() == (True, "assigned")


def test_waiting_input_without_progress_stalls_after_the_limit() -> None:
    clock = Clock()
    watch = StallWatch(300, clock=clock)
    watch.set_ready(True, "assigned")
    clock.now += 1000          # idle for a long time first: that does not count
    watch.waiting(5)
    clock.now += 299
    assert not watch.stalled()
    clock.now += 1
    assert watch.stalled()
    ready, reason = watch.status()
    assert not ready and reason.startswith("stalled: input waiting")


def test_progress_resets_the_stall_clock() -> None:
    clock = Clock()
    watch = StallWatch(300, clock=clock)
    watch.waiting(5)
    clock.now += 250
    watch.progressed()
    watch.waiting(5)
    clock.now += 250
    assert watch.stalled_for() == 250
    assert not watch.stalled()


def test_not_ready_until_the_stage_says_so() -> None:
    watch = StallWatch(300, clock=Clock())
    assert watch.status() == (False, "starting")
