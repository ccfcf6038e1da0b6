"""Shared fixtures: one real Kafka broker per test session, fresh Kafka topics per test.

::

    @pytest.mark.kafka
    def test_poller_publishes(kafka_settings: Settings) -> None:
        ...  # kafka_settings.topic("articles") is a topic no other test has touched

The broker is the project's own (:class:`monitor.broker.KafkaBroker`), started only when a
test asks for it, with its jars cached in ``$NEWSWATCH_CACHE`` (default ``~/.cache/newswatch``).
Set ``NEWSWATCH_TEST_KAFKA_BOOTSTRAP=host:port`` to run against a broker you started instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from uuid import uuid4

import pytest

from monitor.broker import KafkaBroker
from monitor.config import Settings
from tests.metricsread import free_port


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas at import time with
    # importlib.resources.read_text (which calls open_text), both deprecated since Python 3.11;
    # with warnings as errors no test could import kafka. Only those two calls are let through.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:read_text is deprecated:DeprecationWarning:kafka.protocol.schemas.load_json")
    config.addinivalue_line(
        "filterwarnings",
        "ignore:open_text is deprecated:DeprecationWarning:importlib.resources._legacy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the broker ``kafka``, so ``-m 'not kafka'`` never starts it."""
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of the session's broker, ``127.0.0.1:<port>``."""
    given = os.environ.get("NEWSWATCH_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    broker = KafkaBroker(Settings.from_env(), port=free_port(),
                         data_dir=tmp_path_factory.mktemp("kafka"))
    with broker:
        yield broker.bootstrap


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> Settings:
    """Settings whose Kafka topics and consumer groups no other test uses."""
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_namespace=f"t{uuid4().hex[:10]}",
                    cache_dir=Settings.from_env().cache_dir)


