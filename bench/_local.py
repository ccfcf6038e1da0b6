"""What the benchmarks share: a Kafka broker to run against."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.broker import KafkaBroker
from monitor.config import Settings
from tests.metricsread import free_port


@contextmanager
def kafka_bootstrap() -> Iterator[str]:
    """Yield ``NEWSWATCH_KAFKA_BOOTSTRAP`` if set, else the address of a broker run for us."""
    given = os.environ.get("NEWSWATCH_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory() as data, KafkaBroker(
            Settings.from_env(), port=free_port(), data_dir=Path(data)) as broker:
        yield broker.bootstrap
