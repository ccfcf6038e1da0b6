"""Acknowledge an input message only once Kafka has confirmed every output it caused.

In: for each input message, an opaque *token* (the stream event), its *lane* (its partition),
the :class:`Output` records it caused, and any other confirmations it waits on (the futures of
its table's changelog writes). Out: each token acknowledged, in input order within its lane,
once all of that is confirmed; an output Kafka refuses for good replaced by a dead letter for
the input. It must never acknowledge an input whose outputs are unconfirmed: the consumer
commits what is acknowledged, so an early acknowledgement is a message lost in a crash.

Why this exists: a producer's ``flush()`` waits only for records not yet handed to a broker,
not for those in flight, so a framework that flushes and then commits can commit an offset
whose outputs a ``kill -9`` a moment later destroys. Waiting for each record's own future and
acknowledging in order keeps the promise and still lets thousands of sends be in flight at
once (the acknowledgement is batched, not a round trip per message).

Errors, as the caller classifies them with ``is_permanent``:

- a *permanent* send error (the record is too large, the topic refuses it) replaces the
  input's outputs by one dead letter, built by ``dead_letter(token, reason)``;
- any other error is retried, with a growing pause, until it goes through; a stage that cannot
  get its outputs out for long is caught by its stall watch, not by this module;
- a failed confirmation that cannot be sent again (a changelog write) raises
  :class:`ConfirmationLost` from :meth:`Outbox.run`: the process must exit, so that the input
  is read again from its last committed offset and the state written anew.

::

    outbox = Outbox(send=send, ack=stream.ack, dead_letter=letter, is_permanent=permanent)
    runner = asyncio.create_task(outbox.run())
    await outbox.put(event, event.message.partition, [Output("matches", key, value)])
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pauses between attempts to send an output again, in seconds; the last one repeats.
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Output:
    """One record to produce: the caller's name for the Kafka topic, key and value."""

    topic: str
    key: bytes | None
    value: bytes


class ConfirmationLost(RuntimeError):
    """Kafka refused a write that cannot be sent again from here: exit and reprocess."""


@dataclass
class _Entry(Generic[T]):
    token: T
    sends: list[tuple[Output | None, asyncio.Future[Any]]]
    attempts: int = 0

    def settled(self) -> bool:
        return all(fut.done() for _, fut in self.sends)


@dataclass
class Outbox(Generic[T]):
    """Tracks inputs whose outputs are in flight; acknowledges each when they are confirmed."""

    send: Callable[[Output], Awaitable[asyncio.Future[Any]]]
    ack: Callable[[T], Awaitable[Any]]
    dead_letter: Callable[[T, str], Output]
    is_permanent: Callable[[BaseException], bool]
    max_pending: int = 20_000
    on_dead_letter: Callable[[T, str], None] = lambda token, reason: None
    _lanes: dict[Hashable, deque[_Entry[T]]] = field(default_factory=dict)
    _count: int = 0
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _space: asyncio.Event = field(default_factory=asyncio.Event)
    _empty: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pending(self) -> int:
        """Inputs handed in and not acknowledged yet."""
        return self._count

    async def put(self, token: T, lane: Hashable, outputs: Sequence[Output],
                  confirmations: Sequence[asyncio.Future[Any]] = ()) -> None:
        """Send ``outputs`` for ``token``; it is acknowledged once all of them are confirmed.

        Waits while ``max_pending`` inputs are unacknowledged, so a slow broker slows the
        stream instead of filling memory.
        """
        while self._count >= self.max_pending:
            self._space.clear()
            await self._space.wait()
        entry: _Entry[T] = _Entry(token, [])
        for output in outputs:
            sent = await self._send(output)
            if isinstance(sent, BaseException):
                # Refused for good: one dead letter stands for the input's outputs.
                reason = self._reason(output, sent)
                self.on_dead_letter(token, reason)
                entry.sends.append((None, await self._send_letter(self.dead_letter(token, reason))))
                break
            entry.sends.append((output, sent))
        entry.sends.extend((None, fut) for fut in confirmations)
        for _, fut in entry.sends:
            fut.add_done_callback(self._wake)
        self._lanes.setdefault(lane, deque()).append(entry)
        self._count += 1
        self._empty.clear()
        self._wakeup.set()

    async def run(self) -> None:
        """Acknowledge settled inputs in order, forever; raises :class:`ConfirmationLost`."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            for queue in list(self._lanes.values()):
                while queue and queue[0].settled():
                    if not await self._settle_failures(queue[0]):
                        break
                    entry = queue.popleft()
                    self._count -= 1
                    await self.ack(entry.token)
                    self._space.set()
            if self._count == 0:
                self._empty.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until every input is acknowledged; False if ``timeout`` ran out first."""
        if self._count == 0:
            return True
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- internals ---------------------------------------------------------------------------
    def _wake(self, _: asyncio.Future[Any]) -> None:
        self._wakeup.set()

    @staticmethod
    def _reason(output: Output, exc: BaseException) -> str:
        return f"output to {output.topic} refused: {type(exc).__name__}: {exc}"

    async def _send(self, output: Output) -> asyncio.Future[Any] | BaseException:
        """Hand ``output`` to the producer; return its future, or the error that refused it."""
        attempt = 0
        while True:
            try:
                return await self.send(output)
            except Exception as exc:
                if self.is_permanent(exc):
                    return exc
                if attempt == 0:
                    log.warning("could not hand a record for %s to Kafka (%s: %s); retrying",
                                output.topic, type(exc).__name__, exc)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1

    async def _send_letter(self, letter: Output) -> asyncio.Future[Any]:
        sent = await self._send(letter)
        if isinstance(sent, BaseException):
            raise ConfirmationLost(f"dead letter for {letter.topic} refused: {sent}")
        return sent

    async def _settle_failures(self, entry: _Entry[T]) -> bool:
        """True if every send of ``entry`` succeeded; otherwise send again what failed.

        Outputs refused for good are replaced by one dead letter for the input, whatever
        their number; other failures are sent again after a pause.
        """
        failed = [(i, output, error) for i, (output, fut) in enumerate(entry.sends)
                  if (error := _error(fut)) is not None]
        if not failed:
            return True
        refused: dict[int, str] = {}
        for i, output, exc in failed:
            if output is None:
                raise ConfirmationLost(
                    f"Kafka did not confirm a write that cannot be repeated from here "
                    f"({type(exc).__name__}: {exc}); the input must be processed again")
            if self.is_permanent(exc):
                refused[i] = self._reason(output, exc)
                continue
            if entry.attempts == 0:
                log.warning("Kafka did not confirm a record for %s (%s: %s); sending again",
                            output.topic, type(exc).__name__, exc)
            await asyncio.sleep(RETRY_DELAYS[min(entry.attempts, len(RETRY_DELAYS) - 1)])
            entry.attempts += 1
            sent = await self._send(output)
            if isinstance(sent, BaseException):
                refused[i] = self._reason(output, sent)
                continue
            entry.sends[i] = (output, sent)
            sent.add_done_callback(self._wake)
        if refused:
            reason = "; ".join(dict.fromkeys(refused.values()))
            self.on_dead_letter(entry.token, reason)
            letter = await self._send_letter(self.dead_letter(entry.token, reason))
            letter.add_done_callback(self._wake)
            entry.sends = [s for i, s in enumerate(entry.sends) if i not in refused]
            entry.sends.append((None, letter))
        return False


def _error(fut: asyncio.Future[Any]) -> BaseException | None:
    if fut.cancelled():
        return asyncio.CancelledError("send cancelled")
    return fut.exception()
