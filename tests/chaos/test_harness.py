"""The crash-test harness's own arithmetic: what counts as lost, duplicated, unexpected.

Pure logic, no processes and no Kafka: these run with ``make test-unit``.
"""

from __future__ import annotations

from tests.chaos.harness import Outcome, Undecodable, condense, count_outputs


def test_outputs_are_compared_as_multisets() -> None:
    expected = [("a1", "nk-russia-arms"), ("a1", "unsc-sanctions"), ("a2", "nk-russia-arms"),
                ("a3", "nk-russia-arms"), ("a3", "nk-russia-arms")]  # a3 expected twice
    got = [("a1", "nk-russia-arms"), ("a1", "nk-russia-arms"), ("a1", "nk-russia-arms"),
           ("a3", "nk-russia-arms"), ("a9", "nk-russia-arms"), Undecodable(2, 17, "not JSON")]

    tally = count_outputs(expected, got)

    assert (tally.expected, tally.got) == (5, 6)
    assert tally.lost == 3  # a1/unsc-sanctions, a2, the second a3
    assert tally.duplicated == 2  # a1/nk-russia-arms came three times
    assert tally.unexpected == 2  # a9 and the record nobody could read
    assert tally.lost_sample == (("a1", "unsc-sanctions"), ("a2", "nk-russia-arms"),
                                 ("a3", "nk-russia-arms"))
    assert str(tally).startswith("lost 3 of 5, duplicated 2, unexpected 2 (6 read); lost e.g.")


def test_a_log_that_repeats_itself_is_shown_once_per_kind_of_line() -> None:
    lines = ["12:00:01 WARNING recovery: no event for partition 3 since 30.1 s",
             "12:00:01 WARNING recovery: no event for partition 4 since 30.1 s",
             "12:00:02 INFO worker: ready",
             "12:00:06 WARNING recovery: no event for partition 3 since 35.2 s"]

    assert condense(lines) == [
        "12:00:01 WARNING recovery: no event for partition 3 since 30.1 s  [3 lines like this]",
        "12:00:02 INFO worker: ready"]


def test_a_scenario_that_fails_midway_still_reports_what_was_lost() -> None:
    outcome = Outcome("kill", count=lambda: count_outputs(["x", "y"], ["x", "x"]))
    outcome.resumed("kill 1", 4.31)
    outcome.resumed("kill 2", None)
    outcome.notes.append("exit code 0 on SIGTERM")

    outcome.finish()

    assert outcome.line() == ("kill: lost 1 of 2, duplicated 1, unexpected 0 (2 read); "
                              "to resume: kill 1 4.3 s, kill 2 never; exit code 0 on SIGTERM")
