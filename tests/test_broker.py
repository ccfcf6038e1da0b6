"""The local Kafka broker: the session fixture's broker works, ``newswatch kafka`` starts, stops
on SIGTERM and restarts on its own data, and missing tools or a taken port are said plainly."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from monitor import broker
from monitor.broker import BrokerError, KafkaBroker
from monitor.config import Settings
from tests.kafkaread import read_topic


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, value).get(timeout=30)
    finally:
        producer.close()


@pytest.mark.kafka
def test_session_broker_hands_a_message_from_producer_to_consumer_group(
        kafka_settings: Settings) -> None:
    topic = kafka_settings.topic("broker-check")
    produce(kafka_settings.kafka_bootstrap, topic, b"hello")

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_settings.kafka_bootstrap,
                             group_id=kafka_settings.topic("group"),
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    try:
        received: list[bytes] = []
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                received.extend(record.value for record in batch)
        consumer.commit()  # the group coordinator (offsets topic) works too
    finally:
        consumer.close()
    assert received == [b"hello"]


class Foreground:
    """``newswatch kafka`` as ops run it: a process of its own, stdout kept in a file."""

    def __init__(self, tmp_path: Path, port: int, data_dir: Path, run: int) -> None:
        self.out = tmp_path / f"kafka-{run}.out"
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "kafka", "--port", str(port),
                 "--data-dir", str(data_dir)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 300.0) -> None:
        # Generous: a first run on a fresh cache fetches the jars before starting.
        deadline = time.monotonic() + timeout
        while "ready on 127.0.0.1" not in self.out.read_text():
            assert self.process.poll() is None, self.out.read_text()
            assert time.monotonic() < deadline, self.out.read_text()
            time.sleep(0.1)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def foregrounds() -> Iterator[list[Foreground]]:
    started: list[Foreground] = []
    yield started
    for run in started:
        run.close()


@pytest.mark.kafka
def test_newswatch_kafka_stops_on_sigterm_and_restarts_on_the_same_data(
        tmp_path: Path, foregrounds: list[Foreground]) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    bootstrap = f"127.0.0.1:{port}"

    first = Foreground(tmp_path, port, data_dir, run=1)
    foregrounds.append(first)
    first.wait_ready()
    produce(bootstrap, "kept", b"before restart")
    assert first.terminate() == 0

    second = Foreground(tmp_path, port, data_dir, run=2)
    foregrounds.append(second)
    second.wait_ready()
    assert [r.value for r in read_topic(bootstrap, "kept")] == [b"before restart"]
    assert second.terminate() == 0


def without(program: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``program`` look absent from PATH."""
    real = shutil.which

    def which(name: str) -> str | None:
        return None if name == program else real(name)

    monkeypatch.setattr(shutil, "which", which)


def test_missing_java_is_reported_plainly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without("java", monkeypatch)
    settings = Settings(cache_dir=tmp_path / "cache")

    with pytest.raises(BrokerError, match="needs Java 17\\+ \\(java not found on PATH\\)"):
        KafkaBroker(settings, port=free_port()).start()
    assert broker.run_foreground(settings, port=free_port(), data_dir=tmp_path / "d") == 2
    assert "newswatch kafka: " in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # nothing fetched, nothing written


def test_missing_maven_is_reported_when_the_jars_are_not_cached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without("mvn", monkeypatch)

    with pytest.raises(BrokerError, match="mvn not found on PATH"):
        broker.ensure_jars(tmp_path)


def test_taken_port_is_reported_before_anything_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(BrokerError, match=f"port {port} is in use: is a broker already"):
            KafkaBroker(Settings(cache_dir=tmp_path), port=port).start()
