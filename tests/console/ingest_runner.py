"""Run the console's Kafka reader alone, as its own process: what the crash test kills.

::

    NEWSWATCH_KAFKA_BOOTSTRAP=127.0.0.1:9092 NEWSWATCH_TOPIC_NAMESPACE=t123 \\
        python -m tests.console.ingest_runner STORE.db

Reads until SIGTERM (exit 0) or until the reader fails (exit 1); prints ``caught up`` once.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from monitor.config import Settings
from monitor.console.ingest import Ingest
from monitor.console.store import Store


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    ingest = Ingest(Settings.from_env(), Store(argv[0]))

    def stop(signum: int, frame: FrameType | None) -> None:
        ingest.stop()

    signal.signal(signal.SIGTERM, stop)
    ingest.start()
    said = False
    while ingest.is_alive():
        ingest.join(0.1)
        if ingest.caught_up.is_set() and not said:
            print("caught up", flush=True)
            said = True
    return 1 if ingest.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
