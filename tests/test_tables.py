"""The guard on Faust's commits: nothing is committed past an offset the outbox did not confirm.

Faust's own bookkeeping, on a real (unstarted) Faust consumer guarded by
:func:`accept_confirmed_acks_only`: what it would commit for the acknowledged offsets it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
import pytest
from faust.types import TP

from monitor.tables import accept_confirmed_acks_only

ARTICLES = TP("articles", 0)


def acknowledged(consumer: Any, committed: int, offsets: list[int]) -> None:
    """Faust's state after a commit at ``committed`` and acknowledgements of ``offsets``."""
    consumer._committed_offset[ARTICLES] = committed
    consumer._acked[ARTICLES] = list(offsets)
    consumer._acked_index[ARTICLES] = set(offsets)


@pytest.fixture
async def consumer() -> AsyncIterator[Any]:
    """Faust's Kafka consumer, never started; its fetching thread's loop closed after."""
    app = faust.App("guard", broker="kafka://127.0.0.1:9", loop=asyncio.get_running_loop())
    made = app.consumer
    yield made
    made._thread.thread_loop.close()


async def test_a_message_missing_at_the_committed_offset_is_never_committed_past(
        consumer: Any) -> None:
    skipped: list[tuple[str, int, int]] = []
    now = [0.0]
    accept_confirmed_acks_only(consumer, on_skipped=lambda *where: skipped.append(where),
                               again_after=5.0, clock=lambda: now[0])
    # Offset 10 is the next to read; it was dropped, and 11 and 12 were confirmed. Faust
    # alone commits 13 here: the article at 10 would never be read again.
    acknowledged(consumer, 10, [11, 12])
    assert consumer._new_offset(ARTICLES) is None
    # The partition is to be read again from 10 at once; the commits that come while it is
    # being read again ask nothing more ...
    assert skipped == [("articles", 0, 10)]
    now[0] = 3.0
    acknowledged(consumer, 10, [11, 12, 13])
    assert consumer._new_offset(ARTICLES) is None
    assert skipped == [("articles", 0, 10)]
    # ... until that has had time to work and has not.
    now[0] = 5.5
    assert consumer._new_offset(ARTICLES) is None
    assert skipped == [("articles", 0, 10)] * 2
    # Once 10 is read again and confirmed, the commit goes on past all of them.
    acknowledged(consumer, 10, [10, 11, 12, 13])
    assert consumer._new_offset(ARTICLES) == 14
    assert len(skipped) == 2


async def test_a_message_still_in_flight_at_the_committed_offset_is_no_skip(
        consumer: Any) -> None:
    skipped: list[tuple[str, int, int]] = []
    accept_confirmed_acks_only(consumer, on_skipped=lambda *where: skipped.append(where))
    # Nothing confirmed after the committed offset yet: nothing to commit, nothing dropped.
    acknowledged(consumer, 10, [])
    assert consumer._new_offset(ARTICLES) is None
    acknowledged(consumer, 10, [10])
    assert consumer._new_offset(ARTICLES) == 11
    assert skipped == []
