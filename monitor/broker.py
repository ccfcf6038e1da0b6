"""A real single-node Apache Kafka broker on this machine, without Docker.

In: :class:`~monitor.config.Settings` (``cache_dir`` holds the jars and, by default, the broker's
data), a port, and ``java`` (17+) plus, the first time only, ``mvn`` on ``PATH``. Out: a Kafka
4.1.1 broker in KRaft mode (broker and controller in one JVM) listening on
``127.0.0.1:<port>``, run as a child process whose log is ``<data_dir>/broker.log``::

    with KafkaBroker(settings, port=9092) as broker:
        produce_to(broker.bootstrap)          # "127.0.0.1:9092"

The jars come from Maven Central once (:func:`ensure_jars`) into
``<cache_dir>/kafka-4.1.1/lib``. Storage is formatted on first start; later starts reuse it,
topics and offsets included. Everything a user must act on (no Java, no Maven, port taken,
broker died) is a :class:`BrokerError` with a plain message.

It must never bind anything but 127.0.0.1, never put jars or broker data inside the repository,
never leave its JVM running after :meth:`KafkaBroker.stop`, and never read the environment
beyond looking programs up on ``PATH``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType

from monitor.config import Settings

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
READY_LINE = "Kafka Server started"

_MARKER = ".complete"
_LOG_TAIL = 30

# Kafka's published POM leaves the logging backend to the application: without log4j-core the
# broker logs nothing (so "Kafka Server started" never appears). Kafka 4.1 is built on
# slf4j-api 1.7, hence the slf4j 1.x binding log4j-slf4j-impl, not log4j-slf4j2-impl.
_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.newswatch</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

# Kafka stops itself on SIGTERM; log4j's own shutdown hook would only race it and complain.
_LOG4J2 = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
"""


class BrokerError(Exception):
    """The local broker cannot be fetched, started or kept running; the message says why."""


def ensure_jars(cache_dir: Path) -> Path:
    """Return the directory of Kafka's runtime jars, fetching them with Maven the first time.

    - A directory holding the marker file is complete and used as is, without Maven.
    - Otherwise one process at a time (a lock file in ``cache_dir``) fetches into a temporary
      directory and renames it into place, so a crash or Ctrl-C never leaves half a classpath.
    """
    lib = cache_dir / f"kafka-{KAFKA_VERSION}" / "lib"
    if (lib / _MARKER).is_file():
        return lib
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f".kafka-{KAFKA_VERSION}.lock"):
        if (lib / _MARKER).is_file():  # another process fetched them while we waited
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                f"fetching the Kafka {KAFKA_VERSION} jars needs Maven (mvn not found on PATH): "
                "install it (e.g. apt-get install maven) or set NEWSWATCH_KAFKA_BOOTSTRAP "
                "to use a running broker")
        log.info("fetching Kafka %s jars from Maven Central (once, ~50 MB) into %s",
                 KAFKA_VERSION, lib)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".kafka-fetch-") as tmp:
            work = Path(tmp)
            (work / "pom.xml").write_text(_POM)
            fetched = work / "lib"
            command = [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
                       f"-DoutputDirectory={fetched}"]
            try:
                done = subprocess.run(command, cwd=work, stdin=subprocess.DEVNULL,
                                      capture_output=True, text=True, timeout=900)
            except subprocess.TimeoutExpired as exc:
                raise BrokerError("mvn did not finish fetching the Kafka jars in 15 min") from exc
            if done.returncode != 0 or not (fetched / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
                # Maven prints colour resets even in batch mode.
                output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
                raise BrokerError(f"mvn could not fetch the Kafka {KAFKA_VERSION} jars "
                                  f"(exit {done.returncode}):\n{_tail(output, 20)}")
            (fetched / _MARKER).write_text(f"kafka_2.13 {KAFKA_VERSION}\n")
            lib.parent.mkdir(parents=True, exist_ok=True)
            if lib.exists():  # left by a fetch that died between rename and marker: redo it
                shutil.rmtree(lib)
            os.replace(fetched, lib)
    return lib


class KafkaBroker:
    """One Kafka broker+controller JVM, started by :meth:`start` and ended by :meth:`stop`.

    ``controller_port=None`` picks a free port at each start: with a static quorum
    (``controller.quorum.voters``) the controller's address is read from ``server.properties``
    on every start, not from the metadata log, so a data directory survives a new port.
    """

    def __init__(self, settings: Settings, *, port: int = 9092, data_dir: Path | None = None,
                 controller_port: int | None = None, heap: str = "512m") -> None:
        self.settings = settings
        self.port = port
        self.data_dir = (data_dir or settings.cache_dir / "kafka-data").expanduser().resolve()
        self.controller_port = controller_port
        self.heap = heap
        self._fixed_controller_port = controller_port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The address clients connect to: ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's own log of its latest run (the one before is ``broker.log.1``)."""
        return self.data_dir / "broker.log"

    @property
    def running(self) -> bool:
        """True while the JVM started by :meth:`start` is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 120.0) -> None:
        """Start the broker and return once it accepts clients; no-op if already running.

        Raises :class:`BrokerError` if java (or, for the first fetch, mvn) is missing, a port
        is taken, or the broker exits or is not ready within ``timeout`` seconds.
        """
        if self.running:
            return
        java = shutil.which("java")
        if java is None:
            raise BrokerError(
                "the local Kafka broker needs Java 17+ (java not found on PATH): install a JDK "
                "(e.g. apt-get install openjdk-17-jre-headless) or set "
                "NEWSWATCH_KAFKA_BOOTSTRAP to use a running broker")
        _require_free(self.port, f"port {self.port} is in use: is a broker already running? "
                      "set NEWSWATCH_KAFKA_BOOTSTRAP to use it")
        if self._fixed_controller_port is None:
            self.controller_port = _free_port()
        else:
            _require_free(self._fixed_controller_port,
                          f"controller port {self._fixed_controller_port} is in use")
        lib = ensure_jars(self.settings.cache_dir)
        classpath = f"{lib}/*"  # the JVM expands the wildcard, no shell involved

        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(self._server_properties())
        logging_config = self.data_dir / "log4j2.properties"
        logging_config.write_text(_LOG4J2)
        self._format_storage(java, classpath, config)

        if self.log_path.exists():
            os.replace(self.log_path, self.log_path.with_name("broker.log.1"))
        command = [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-Djava.awt.headless=true",
                   f"-Dlog4j2.configurationFile={logging_config}", "-cp", classpath,
                   "kafka.Kafka", str(config)]
        log.info("starting Kafka %s on %s (data in %s)", KAFKA_VERSION, self.bootstrap,
                 self.data_dir)
        began = time.monotonic()
        with self.log_path.open("wb") as out:
            # A session of its own: Ctrl-C in a terminal reaches us, and we stop Kafka cleanly.
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, cwd=self.data_dir,
                                             start_new_session=True)
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("Kafka ready on %s after %.1f s", self.bootstrap, time.monotonic() - began)

    def wait(self, timeout: float | None = None) -> int:
        """Block until the broker exits and return its exit code."""
        if self._process is None:
            raise BrokerError("the broker was never started")
        return self._process.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` s."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Kafka did not stop within %.0f s; killing it", timeout)
                process.kill()
                process.wait()
        log.info("Kafka on %s stopped (exit %s)", self.bootstrap, process.returncode)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            # One node: every internal topic must fit on it, and small is fast to create.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            # A lone consumer need not wait 3 s for company before it gets its partitions.
            "group.initial.rebalance.delay.ms": "0",
        }
        # Java reads a backslash in a .properties value as an escape.
        return "".join(key + "=" + value.replace("\\", "\\\\") + "\n"
                       for key, value in settings.items())

    def _format_storage(self, java: str, classpath: str, config: Path) -> None:
        # Formatting again with a new cluster id fails even with --ignore-formatted (the id in
        # meta.properties must match), so a formatted directory is simply left alone.
        if (self.data_dir / "logs" / "meta.properties").is_file():
            return
        command = [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                   "-t", _cluster_id(), "-c", str(config), "--ignore-formatted"]
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise BrokerError(f"could not format Kafka storage in {self.data_dir / 'logs'}:\n"
                              f"{_tail(done.stdout + done.stderr, _LOG_TAIL)}")

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        seen = b""
        with self.log_path.open("rb") as logfile:
            while True:
                seen = seen[-len(READY_LINE):] + logfile.read()
                if READY_LINE.encode() in seen:
                    return
                code = self._process.poll()
                if code is not None:
                    raise BrokerError(f"Kafka exited with code {code} while starting; "
                                      f"last lines of {self.log_path}:\n{self._log_tail()}")
                if time.monotonic() > deadline:
                    raise BrokerError(f"Kafka was not ready on {self.bootstrap} within "
                                      f"{timeout:.0f} s; last lines of {self.log_path}:\n"
                                      f"{self._log_tail()}")
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), _LOG_TAIL)
        except OSError:
            return "(no log)"


def run_foreground(settings: Settings, *, port: int = 9092, data_dir: Path | None = None) -> int:
    """Run a broker until SIGINT/SIGTERM (exit 0) or until it dies (exit 1); 2 if it can't start.

    This is ``newswatch kafka``.
    """
    broker = KafkaBroker(settings, port=port, data_dir=data_dir)
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    interrupted = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        # Only the first signal unwinds; a second Ctrl-C must not cut the clean shutdown
        # short (stop() bounds it with SIGKILL anyway).
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise _Interrupted(signum)

    for sig in signals:
        signal.signal(sig, interrupt)
    try:
        broker.start()
        print(f"Kafka {KAFKA_VERSION} ready on {broker.bootstrap} (data in {broker.data_dir})",
              flush=True)
        code = broker.wait()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        print(f"newswatch kafka: the broker {how}; see {broker.log_path}", file=sys.stderr)
        return 1
    except _Interrupted:
        return 0
    except BrokerError as exc:
        print(f"newswatch kafka: {exc}", file=sys.stderr)
        return 2
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived while ``newswatch kafka`` was running."""


def _cluster_id() -> str:
    """A random cluster id the way ``StorageTool random-uuid`` makes one, without a JVM."""
    while True:
        # Kafka's Uuid prints as unpadded URL-safe base64 and never starts with "-" (it
        # would read as a command-line flag).
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _require_free(port: int, message: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the JVM does: a port left in TIME_WAIT by the previous run is free to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerError(message) from None
            raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lockfile:
        try:
            fcntl.flock(lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish fetching the Kafka jars (%s)", path)
            fcntl.flock(lockfile, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lockfile, fcntl.LOCK_UN)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
