"""One log line when Kafka goes away, one when it is back, a reminder in between.

In: the bootstrap address, the clock, and every log record of the Kafka client libraries
(aiokafka, kafka-python). Out: a few lines of our own on the ``monitor.brokerwatch`` logger;
the clients' own connection errors — about seventy a second while a broker is down, each
stage's clients retrying on their own — are held back and counted instead. It never changes
what a client does: the clients retry by themselves, and a stage that cannot make progress for
long is caught by its stall watch.

::

    watch = BrokerWatch("kafka:9092")
    watch.install()          # filter the clients' connection noise on every root handler
    watch.start()            # a daemon thread that probes the broker every 2 s

Lines, in order, over an outage::

    Kafka at kafka:9092 is unreachable (connection refused); the stages wait and resume on their own
    Kafka at kafka:9092 still unreachable after 60 s (4127 client connection errors held back)
    Kafka at kafka:9092 is reachable again after 74 s
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Loggers of the Kafka clients whose connection trouble is summarised here.
CLIENT_LOGGERS = ("aiokafka", "kafka")
#: Words that mark a client's record as being about reaching the broker.
CONNECTION_WORDS = (
    "connect", "metadata", "not ready", "notready", "node", "coordinator", "heartbeat",
    "bootstrap", "socket", "econnrefused", "timed out", "timeout", "notleader", "leader",
    "disconnected", "connection",
)
PROBE_INTERVAL = 2.0
REMINDER_INTERVAL = 60.0
#: Held-back records a minute, while the broker answers, worth a line of their own: fewer are
#: the passing hiccups of a start or a rebalance.
CHATTER_THRESHOLD = 10


def probe(bootstrap: str, timeout: float = 1.0) -> str | None:
    """Try a TCP connection to each bootstrap server; None if one answered, else why not."""
    reason = "no bootstrap server"
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)),
                                          timeout=timeout):
                return None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return reason.lower()


class BrokerWatch(logging.Filter):
    """Tracks whether the broker is reachable and holds back the clients' connection noise."""

    def __init__(self, bootstrap: str, *, clock: Callable[[], float] = time.monotonic,
                 check: Callable[[str], str | None] = probe) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self._clock = clock
        self._check = check
        self._down_since: float | None = None
        self._reminded_at = 0.0
        self._held_back = 0
        self._first_held: str | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    # -- the filter ---------------------------------------------------------------------------
    def filter(self, record: logging.LogRecord) -> bool:
        """Drop a Kafka client's record about reaching the broker; keep everything else."""
        if not record.name.startswith(CLIENT_LOGGERS) or record.levelno < logging.WARNING:
            return True
        text = record.getMessage().lower()
        if not self.down and not any(word in text for word in CONNECTION_WORDS):
            return True
        with self._lock:
            self._held_back += 1
            if self._first_held is None:
                self._first_held = f"{record.name}: {record.getMessage()}"[:300]
        return False

    def install(self) -> None:
        """Filter every handler of the root logger (records of child loggers reach those)."""
        for handler in logging.getLogger().handlers:
            handler.addFilter(self)

    # -- the probe ----------------------------------------------------------------------------
    def observe(self) -> str | None:
        """Probe once; return the line to log now, if any."""
        reason = self._check(self.bootstrap)
        now = self._clock()
        with self._lock:
            held, first = self._held_back, self._first_held
        if reason is not None:
            if self._down_since is None:
                self._down_since = self._reminded_at = now
                return (f"Kafka at {self.bootstrap} is unreachable ({reason}); the stages wait "
                        "and resume on their own")
            if now - self._reminded_at >= REMINDER_INTERVAL:
                self._reminded_at = now
                self._reset_held()
                return (f"Kafka at {self.bootstrap} still unreachable after "
                        f"{now - self._down_since:.0f} s ({held} client connection errors "
                        "held back)")
            return None
        if self._down_since is not None:
            down_for = now - self._down_since
            self._down_since = None
            self._reminded_at = now
            self._reset_held()
            return f"Kafka at {self.bootstrap} is reachable again after {down_for:.0f} s"
        if now - self._reminded_at >= REMINDER_INTERVAL:
            self._reminded_at = now
            self._reset_held()
            if held < CHATTER_THRESHOLD:
                return None
            # Reachable, yet the clients keep complaining: say so once a minute, with an example.
            return (f"Kafka clients reported {held} connection problems in the last minute "
                    f"while {self.bootstrap} answers; first: {first}")
        return None

    def _reset_held(self) -> None:
        with self._lock:
            self._held_back, self._first_held = 0, None

    def start(self) -> threading.Thread:
        """Probe every ``PROBE_INTERVAL`` seconds in a daemon thread, logging what changes."""
        thread = threading.Thread(target=self._run, name="broker-watch", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            while True:
                line = self.observe()
                if line is not None:
                    (log.error if self.down else log.warning)(line)
                time.sleep(PROBE_INTERVAL)
        except Exception:
            log.exception("the broker watch failed; exiting so that the process is restarted")
            logging.shutdown()
            os._exit(1)
