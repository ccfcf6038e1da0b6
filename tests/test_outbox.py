"""The outbox acknowledges an input only once every output it caused is confirmed, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.outbox import ConfirmationLost, Outbox, Output


class TooLarge(Exception):
    pass


class Producer:
    """Hands out one future per record; the test settles them in any order it likes."""

    def __init__(self, refuse: set[bytes] = frozenset()) -> None:  # type: ignore[assignment]
        self.sent: list[tuple[Output, asyncio.Future[Any]]] = []
        self.refuse = refuse

    async def send(self, output: Output) -> asyncio.Future[Any]:
        if output.value in self.refuse:
            raise TooLarge(f"{len(output.value)} bytes")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((output, fut))
        return fut

    def futures(self, value: bytes) -> list[asyncio.Future[Any]]:
        return [f for o, f in self.sent if o.value == value]


def make_outbox(producer: Producer, acked: list[str],
                max_pending: int = 100) -> Outbox[str]:
    async def ack(token: str) -> None:
        acked.append(token)

    def letter(token: str, reason: str) -> Output:
        return Output("dead", None, f"{token}: {reason}".encode())

    return Outbox(send=producer.send, ack=ack, max_pending=max_pending, dead_letter=letter,
                  is_permanent=lambda exc: isinstance(exc, TooLarge))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_inputs_are_acknowledged_in_order_once_their_outputs_are_confirmed() -> None:
    producer, acked = Producer(), []
    outbox = make_outbox(producer, acked)
    runner = asyncio.create_task(outbox.run())
    await outbox.put("a", 0, [Output("matches", b"k", b"a1"), Output("matches", b"k", b"a2")])
    await outbox.put("b", 0, [Output("matches", b"k", b"b1")])
    await outbox.put("c", 1, [])
    await settle()
    assert acked == ["c"]                       # nothing to wait for, other partition
    producer.futures(b"b1")[0].set_result(None)  # b is confirmed before a ...
    producer.futures(b"a1")[0].set_result(None)
    await settle()
    assert acked == ["c"]                       # ... but a still waits for a2, and b after a
    producer.futures(b"a2")[0].set_result(None)
    await settle()
    assert acked == ["c", "a", "b"]
    assert await outbox.drain(timeout=1)
    runner.cancel()


async def test_table_writes_are_waited_for_like_outputs() -> None:
    producer, acked = Producer(), []
    outbox = make_outbox(producer, acked)
    runner = asyncio.create_task(outbox.run())
    write: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await outbox.put("a", 0, [], [write])
    await settle()
    assert acked == []
    write.set_result(None)
    await settle()
    assert acked == ["a"]
    runner.cancel()


async def test_an_output_refused_when_sent_becomes_a_dead_letter() -> None:
    producer, acked = Producer(refuse={b"huge"}), []
    outbox = make_outbox(producer, acked)
    runner = asyncio.create_task(outbox.run())
    await outbox.put("a", 0, [Output("matches", b"k", b"huge")])
    [(letter, fut)] = producer.sent
    assert letter.topic == "dead"
    assert letter.value == b"a: output to matches refused: TooLarge: 4 bytes"
    await settle()
    assert acked == []                          # the dead letter must be confirmed too
    fut.set_result(None)
    await settle()
    assert acked == ["a"]
    runner.cancel()


async def test_an_output_the_broker_refuses_for_good_becomes_a_dead_letter() -> None:
    producer, acked = Producer(), []
    outbox = make_outbox(producer, acked)
    runner = asyncio.create_task(outbox.run())
    await outbox.put("a", 0, [Output("matches", b"k", b"a1")])
    producer.futures(b"a1")[0].set_exception(TooLarge("broker says 2 MB"))
    await settle()
    [letter] = [o for o, _ in producer.sent if o.topic == "dead"]
    assert b"TooLarge: broker says 2 MB" in letter.value
    assert acked == []
    producer.sent[-1][1].set_result(None)
    await settle()
    assert acked == ["a"]
    runner.cancel()


async def test_an_output_that_failed_for_now_is_sent_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.outbox.RETRY_DELAYS", (0.0,))
    producer, acked = Producer(), []
    outbox = make_outbox(producer, acked)
    runner = asyncio.create_task(outbox.run())
    await outbox.put("a", 0, [Output("matches", b"k", b"a1")])
    producer.futures(b"a1")[0].set_exception(ConnectionError("broker away"))
    await settle()
    _, again = producer.futures(b"a1")
    assert acked == [] and not again.done()
    again.set_result(None)
    await settle()
    assert acked == ["a"]
    runner.cancel()


async def test_a_lost_table_write_stops_the_outbox_so_the_input_is_read_again() -> None:
    producer, acked = Producer(), []
    outbox = make_outbox(producer, acked)
    runner = asyncio.create_task(outbox.run())
    write: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await outbox.put("a", 0, [], [write])
    write.set_exception(ConnectionError("gone"))
    with pytest.raises(ConfirmationLost, match="processed again"):
        await asyncio.wait_for(runner, timeout=1)
    assert acked == []


async def test_put_waits_while_too_many_inputs_are_unconfirmed() -> None:
    producer, acked = Producer(), []
    outbox = make_outbox(producer, acked, max_pending=1)
    runner = asyncio.create_task(outbox.run())
    await outbox.put("a", 0, [Output("matches", b"k", b"a1")])
    second = asyncio.create_task(outbox.put("b", 0, [Output("matches", b"k", b"b1")]))
    await settle()
    assert not second.done() and outbox.pending == 1
    producer.futures(b"a1")[0].set_result(None)
    await asyncio.wait_for(second, timeout=1)
    assert acked == ["a"] and outbox.pending == 1
    runner.cancel()
