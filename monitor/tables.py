"""Worker tables whose writes are confirmed before their input is acknowledged.

In: table writes made while an agent processes one input message. Out: the futures of their
changelog records, handed to that message (``table_writes``), so that the outbox acknowledges
the input only once Kafka has the table's change. The only module besides ``app.py`` that
knows Faust: it extends Faust's table.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from monitor.article import ARTICLE_PARTITIONS

#: True while the outbox acknowledges an input whose effects are all confirmed.
confirming: contextvars.ContextVar[bool] = contextvars.ContextVar("confirming", default=False)
#: The changelog writes made while one input message is processed; set by the agent.
table_writes: contextvars.ContextVar[list[asyncio.Future[Any]] | None] = (
    contextvars.ContextVar("table_writes", default=None))


class ConfirmedTable(faust.Table):  # type: ignore[type-arg]
    """A Faust table that hands each changelog write's future to the message being processed.

    Faust sends changelog writes in the background and commits the input's offset without
    waiting for them; the outbox waits for these futures instead, so a table entry is never
    lost behind a committed offset.
    """

    # Faust names a service's logger after its module; this one belongs with Faust's own.
    logger = logging.getLogger("faust.tables.confirmed")

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        writes = table_writes.get()
        if writes is not None:
            writes.append(fut)
        return fut

    def put(self, partition: int, key: bytes, value: Any) -> Any:
        """Set ``key`` with its changelog record in ``partition``; return the record's future.

        For writes made outside the processing of a message (a delivery that finished in the
        background), where Faust cannot know the partition: the caller names it.
        """
        fut = self.send_changelog(partition, key, value)
        self.data[key] = value
        return fut

    def drop(self, partition: int, key: bytes) -> Any:
        """Delete ``key`` (see :meth:`put`); return the changelog record's future."""
        fut = self.send_changelog(partition, key, None, value_serializer="raw")
        self.data.pop(key, None)
        return fut


def accept_confirmed_acks_only(consumer: Any,
                               on_skipped: Callable[[str, int, int], None] | None = None, *,
                               again_after: float = 5.0,
                               clock: Callable[[], float] = time.monotonic) -> None:
    """Make ``consumer`` commit only what the outbox acknowledged (``confirming``).

    Three ways Faust commits past a message whose outputs are not confirmed, closed here:

    - Faust acknowledges some messages itself: a message fetched before a rebalance and met
      after it is skipped *and acknowledged*. Its offset is then in Faust's list of
      acknowledged offsets, so when the same offset, fetched again, is still being processed,
      Faust commits past it, and a crash at that moment loses its outputs. Faust keeps that
      list per offset, not per message, so the only sure rule is that nobody but the outbox
      acknowledges.
    - Offsets Faust did not see between two fetched messages count as acknowledged (gaps).
    - The message at the committed offset itself, when it alone is missing from the
      acknowledged ones, is committed past: the next message to read is taken for the last
      one read.

    A partition that so stops committing must be read again from its committed offset, and
    the message Faust dropped is processed then. The outbox acknowledges in input order, so
    a message missing at the committed offset while later ones are acknowledged was dropped,
    not delayed: ``on_skipped(topic, partition, offset)`` is called at once, and again every
    ``again_after`` seconds while the partition stays stuck there. Reading again from an
    offset can itself fail while messages fetched before are still being handed out: Faust
    drops what it reads again below the last offset it handed out. (The stall watch of
    :mod:`monitor.worker` reads a partition stuck for any other reason again, later.)
    """
    if getattr(consumer, "_newswatch_guarded", False):
        return
    faust_ack = consumer.ack

    def ack(message: Any) -> bool:
        if not confirming.get():
            # Done with, as far as Faust's bookkeeping goes, but its offset counts for nothing.
            message.acked = True
            consumer._unacked_messages.discard(message)
            return False
        return bool(faust_ack(message))

    async def no_gap(tp: Any, offset_from: int, offset_to: int) -> None:
        # Meant for transaction markers, which our topics have none of: a jump means
        # messages that were fetched and dropped, and counting them lost them.
        return None

    faust_new_offset = consumer._new_offset
    reported: dict[Any, tuple[int, float]] = {}

    def new_offset(tp: Any) -> int | None:
        # Faust's committed offset is the next one to read, yet it looks for a gap only
        # from the one after: a restarted worker that never handed the first message of a
        # partition to its agent, and acknowledged the next ones, committed past it.
        acked, committed = consumer._acked.get(tp), consumer._committed_offset.get(tp)
        if acked and committed is not None and min(acked) > committed:
            last = reported.get(tp)
            if on_skipped is not None and (
                    last is None or last[0] != committed or clock() - last[1] >= again_after):
                reported[tp] = (committed, clock())
                on_skipped(tp.topic, tp.partition, committed)
            return None
        return faust_new_offset(tp)  # type: ignore[no-any-return]

    consumer.ack = ack
    consumer._add_gap = no_gap
    consumer._new_offset = new_offset
    consumer._newswatch_guarded = True


def changelogged_table(app: faust.App, name: str) -> Any:
    """A table of ``bytes`` keys and JSON values, restored from its changelog on every start.

    Faust derives the changelog's key and value codecs from ``key_type`` / ``value_type``
    alone (a ``schema`` is ignored there): without ``key_type=bytes`` raw keys are written as
    bytes but read back as JSON during recovery, which fails on every record and stalls the
    worker for good. Every table of the worker is made here so none can miss it.
    """
    return app.Table(name, default=None, partitions=ARTICLE_PARTITIONS, key_type=bytes,
                     value_type=None)
