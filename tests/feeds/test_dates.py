from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.feeds.dates import parse_date


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("written", "expected"), [
    ("Tue, 05 Mar 2024 09:30:00 +0900", utc(2024, 3, 5, 0, 30)),
    ("2024-03-05T09:30:00+09:00", utc(2024, 3, 5, 0, 30)),
    ("2026-02-17T17:36:36-0500", utc(2026, 2, 17, 22, 36, 36)),
    ("Tue, 05 Apr 2022 06:27 EDT", utc(2022, 4, 5, 10, 27)),
    ("Wed, 5 Nov 2025 13:52:10  EST", utc(2025, 11, 5, 18, 52, 10)),
    ("Thu, 21 July 2005 14:00:00+0900", utc(2005, 7, 21, 5, 0)),
    ("Seg, 24 Set 2018 19:42:40 -0300", utc(2018, 9, 24, 22, 42, 40)),
    ("mer, 16 nov 2022 00:38:15 +0100", utc(2022, 11, 15, 23, 38, 15)),
    ("Sat, Dec 16 2023 02:02:33 PM", utc(2023, 12, 16, 14, 2, 33)),
    ("2020/1/10 14:33:00", utc(2020, 1, 10, 14, 33)),
    ("5. März 2024, 08:15 CET", utc(2024, 3, 5, 7, 15)),
    ("2024-03-05", utc(2024, 3, 5)),
])
def test_dates_are_read_into_utc(written: str, expected: datetime) -> None:
    assert parse_date(written) == expected


@pytest.mark.parametrize("written", ["", "soon", "32 Mar 2024", "yesterday at noon"])
def test_unreadable_dates_are_none(written: str) -> None:
    assert parse_date(written) is None
