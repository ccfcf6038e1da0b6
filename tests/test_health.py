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


def test_one_partition_that_never_commits_stalls_a_busy_worker() -> None:
    clock = Clock()
    watch = StallWatch(stall_after=60, clock=clock)
    for step in range(8):
        clock.now += 10
        # Partition 0 keeps committing; partition 1 has input waiting, its position stuck.
        watch.observe({("matches", 0): (100 * step, 100 * step + 50), ("matches", 1): (67, 162)})
    assert watch.stalled()
    assert "stalled" in watch.status()[1]


def test_a_partition_that_commits_or_has_nothing_waiting_is_not_stalled() -> None:
    clock = Clock()
    watch = StallWatch(stall_after=60, clock=clock)
    for step in range(8):
        clock.now += 10
        watch.observe({("matches", 0): (10 * step, 10 * step + 5), ("matches", 1): (162, 162)})
    assert not watch.stalled()
    # Partitions taken away are forgotten.
    watch.observe({("matches", 1): (5, 9)})
    clock.now += 59
    watch.observe({("matches", 1): (5, 9)})
    assert not watch.stalled()
    clock.now += 2
    assert watch.stalled()


def test_a_stuck_partition_is_named_once_per_stretch_with_its_committed_position() -> None:
    clock = Clock()
    watch = StallWatch(stall_after=300, clock=clock)
    watch.observe({("matches", 1): (83, 168), ("matches", 5): (10, 20)})
    for _ in range(6):
        clock.now += 10
        watch.observe({("matches", 1): (83, 168), ("matches", 5): (10 + int(clock.now), 9999)})
    assert watch.stuck(after=60) == {("matches", 1): 83}
    clock.now += 10
    watch.observe({("matches", 1): (83, 168), ("matches", 5): (2000, 9999)})
    assert watch.stuck(after=60) == {}  # named already: again only 60 s later
    clock.now += 50
    watch.observe({("matches", 1): (83, 168), ("matches", 5): (2100, 9999)})
    assert watch.stuck(after=60) == {("matches", 1): 83}
    clock.now += 10
    watch.observe({("matches", 1): (90, 168), ("matches", 5): (2200, 9999)})
    assert watch.stuck(after=60) == {}  # it moved: a new stretch begins
