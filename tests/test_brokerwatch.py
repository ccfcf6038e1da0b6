"""A broker outage is three kinds of line, not seventy a second."""

from __future__ import annotations

import logging

from monitor.brokerwatch import BrokerWatch, probe
from tests.metricsread import free_port


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.down: str | None = None

    def clock(self) -> float:
        return self.now

    def check(self, bootstrap: str) -> str | None:
        return self.down


def client_record(message: str, name: str = "aiokafka", level: int = logging.ERROR
                  ) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_an_outage_gives_one_line_a_reminder_a_minute_and_one_line_back() -> None:
    world = World()
    watch = BrokerWatch("kafka:9092", clock=world.clock, check=world.check)
    assert watch.observe() is None
    world.down = "connection refused"
    world.now = 10
    assert watch.observe() == ("Kafka at kafka:9092 is unreachable (connection refused); the "
                               "stages wait and resume on their own")
    held = [watch.filter(client_record("Unable connect to node with id 1")) for _ in range(500)]
    assert not any(held)
    world.now = 40
    assert watch.observe() is None
    world.now = 70
    assert watch.observe() == ("Kafka at kafka:9092 still unreachable after 60 s (500 client "
                               "connection errors held back)")
    world.down, world.now = None, 84
    assert watch.observe() == "Kafka at kafka:9092 is reachable again after 74 s"
    assert watch.observe() is None


def test_only_the_clients_connection_noise_is_held_back() -> None:
    watch = BrokerWatch("kafka:9092", check=lambda _: None)
    assert not watch.filter(client_record("Unable to update metadata from [1]"))
    assert not watch.filter(client_record("Failed fetch messages: NodeNotReadyError",
                                          name="aiokafka.consumer.fetcher"))
    assert watch.filter(client_record("Unable connect to node", name="monitor.app"))
    assert watch.filter(client_record("Unknown codec lz5"))
    assert watch.filter(client_record("Unable connect to node", level=logging.INFO))


def test_clients_that_keep_complaining_while_the_broker_answers_are_reported() -> None:
    world = World()
    watch = BrokerWatch("kafka:9092", clock=world.clock, check=world.check)
    watch.filter(client_record("Heartbeat failed: coordinator not available"))
    world.now = 61
    assert watch.observe() is None            # a hiccup of a start or a rebalance
    for _ in range(12):
        watch.filter(client_record("Unable connect to node with id 2: [Errno 113]"))
    world.now = 122
    line = watch.observe()
    assert line is not None and line.startswith("Kafka clients reported 12 connection problems")
    assert "Unable connect to node with id 2" in line


def test_probe_tells_a_closed_port() -> None:
    assert probe(f"127.0.0.1:{free_port()}") == "connection refused"
