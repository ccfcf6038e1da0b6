"""What every crash scenario reports: one line of lost, duplicated and seconds to resume.

A scenario takes the ``outcome`` fixture and fills it in as it goes (see
:class:`tests.chaos.harness.Outcome`); when the test ends, passed or failed, the line is printed
(``pytest -s``), kept as the test's ``chaos`` property (``--junitxml``), and listed again in a
"chaos scenarios" section at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.chaos.harness import Outcome


@pytest.fixture
def outcome(request: pytest.FixtureRequest,
            record_property: Callable[[str, object], None]) -> Iterator[Outcome]:
    # Imported here: ``pytest tests/chaos`` imports this file before tests/conftest.py has
    # let through the deprecation warnings kafka-python (used by the harness) raises on import.
    from tests.chaos.harness import Outcome

    measured = Outcome(request.node.name.removeprefix("test_"))
    yield measured
    measured.finish()
    print(measured.line())
    record_property("chaos", measured.line())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "chaos":
                    lines[report.nodeid] = value
    if lines:
        terminalreporter.write_sep("=", "chaos scenarios")
        for line in lines.values():
            terminalreporter.write_line(line)
