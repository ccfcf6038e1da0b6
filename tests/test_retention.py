"""What the worker's tables remember: a replay is not a duplicate, and old entries go."""

from __future__ import annotations

from monitor.retention import Origin, Sweeper, sighting


def test_a_message_read_again_after_a_crash_is_a_replay_not_a_duplicate() -> None:
    entry = Origin(partition=3, offset=41, at=1000.0)
    assert sighting(None, 3, 41) == "new"
    assert sighting(entry, 3, 41) == "replay"
    assert sighting(entry, 3, 90) == "duplicate"
    assert sighting(entry, 4, 41) == "duplicate"


def test_entries_round_trip_and_junk_reads_as_absent() -> None:
    entry = Origin(2, 7, 1234.5)
    assert Origin.from_json(entry.to_json()) == entry
    assert Origin.from_json(1234.5) is None          # what an older worker stored
    assert Origin.from_json({"p": "x"}) is None
    assert Origin.from_json(None) is None


def test_a_partition_is_swept_at_most_once_per_interval() -> None:
    sweeper = Sweeper(retention=100.0, interval=10.0)
    assert sweeper.due(0, now=1000.0)
    assert not sweeper.due(0, now=1009.0)
    assert sweeper.due(1, now=1009.0)
    assert sweeper.due(0, now=1010.0)


def test_only_old_entries_of_the_swept_partition_expire() -> None:
    sweeper = Sweeper(retention=100.0, interval=10.0)
    items = [
        (b"old-p0", Origin(0, 1, 800.0).to_json()),
        (b"new-p0", Origin(0, 2, 950.0).to_json()),
        (b"old-p1", Origin(1, 1, 800.0).to_json()),
        (b"junk", "not an entry"),
    ]
    assert sweeper.expired(items, partition=0, now=1000.0) == [b"old-p0"]
    assert sweeper.expired(items, partition=1, now=1000.0) == [b"old-p1"]
    assert sweeper.expired(items, partition=0, now=1051.0) == [b"old-p0", b"new-p0"]
