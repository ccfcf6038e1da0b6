"""Crash-test harness: run stages as real processes, break them, count what came out.

In: a stage's command line and environment (Kafka bootstrap, topic namespace, a cache directory
of its own), the input messages, and the outputs expected of them. Out: a :class:`Stage` handle
to start, ``kill -9``, stop and restart one process; :func:`wait_until`, which fails with the
tail of every stage's log; :class:`Outputs`, a Kafka topic read back while it fills; and a
:class:`Tally` of lost, duplicated and unexpected outputs. It looks only at what a user sees
(messages on Kafka topics, a consumer group's lag, ``/metrics``, exit codes, log lines), never
at a stage's internals, and it never mocks Kafka.

::

    worker = worker_stage(settings, topics_dir, tmp_path / "worker").start()
    with Outputs(settings.kafka_bootstrap, settings.topic("matches"), decode) as out, \\
            Feeder(settings.kafka_bootstrap, settings.topic("articles"), messages, rate=150):
        wait_until(lambda: out.covers(expected, 0.5), timeout=120, what="half the matches",
                   stages=[worker])
        worker.kill9()
        worker.restart()
        resumed = resume_after(out, worker.started_at, timeout=120, stages=[worker])
        wait_until(lambda: out.covers(expected), timeout=120, what="every match",
                   stages=[worker])
    tally = count_outputs(expected, out.keys)
    assert tally.lost == 0, tally

Time is wall-clock (``time.time()``) wherever it is compared with Kafka record timestamps,
which the producing stage stamps when it sends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from monitor import bus
from monitor.article import ARTICLE_PARTITIONS
from monitor.catalogue import worker_app_id
from monitor.config import Settings
from tests.kafkaread import TopicTail
from tests.metricsread import free_port, scrape

#: Lines of a stage's log shown when a wait fails.
TAIL_LINES = 40
#: A log line that reports a problem: an ERROR or CRITICAL record, or a traceback.
PROBLEM_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback \(most recent call last\)")


class Stage:
    """One newswatch stage run as its own process: start, kill -9, stop, restart.

    - Every start picks a fresh port for ``/metrics`` (``port_option`` names the flag), so a
      restart never waits for the killed process's socket to be released.
    - Each run writes stdout and stderr to its own log, ``<workdir>/<name>.<run>.log``; lines
      that contain one of ``noise`` (one line per story event, such as ``STORY [...]``) are left
      out of :meth:`log_tail`.
    - A process that exits without :meth:`kill9` or :meth:`terminate` having been asked is
      *died*; :func:`wait_until` fails as soon as it sees that.
    """

    def __init__(self, name: str, command: Sequence[str], *, env: Mapping[str, str],
                 workdir: Path, port_option: str, noise: Sequence[str] = ()) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.workdir = workdir
        self.port_option = port_option
        self.noise = tuple(noise)
        self.port = 0
        self.runs = 0
        self.started_at = 0.0  # time.time() of the latest start
        self.exit_codes: list[int] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> Stage:
        """Start a new run; the previous one, if any, must have ended."""
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.runs += 1
        self.port = free_port()
        self._stopping = False
        with self.log_path.open("wb") as log:
            self.started_at = time.time()
            self._process = subprocess.Popen(
                [*self.command, self.port_option, str(self.port)], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return self

    def restart(self) -> Stage:
        """Start the stage again after :meth:`kill9` or :meth:`terminate`."""
        return self.start()

    def kill9(self) -> None:
        """``kill -9`` the running process and reap it."""
        process = self._running()
        self._stopping = True
        os.kill(process.pid, signal.SIGKILL)
        self.exit_codes.append(process.wait(timeout=30))

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM the process and return its exit code; fail if it is not gone in time."""
        process = self._running()
        self._stopping = True
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            raise AssertionError(f"{self.name} did not stop within {timeout:.0f} s of SIGTERM "
                                 f"(killed it):\n{self.log_tail()}") from None
        self.exit_codes.append(code)
        return code

    def close(self) -> None:
        """Kill the process if it still runs (clean-up after a test, passed or failed)."""
        if self.alive:
            self.kill9()

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- state -----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def died(self) -> bool:
        """True when the process ended although nobody stopped it."""
        return (self._process is not None and not self._stopping
                and self._process.poll() is not None)

    @property
    def returncode(self) -> int | None:
        """The latest run's exit code; None while it runs (or before the first start)."""
        return None if self._process is None else self._process.poll()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def metrics(self) -> dict[str, float]:
        """Scrape the running process's ``/metrics``; raise OSError while it serves none."""
        return scrape(self.metrics_url)

    def wait_serving(self, timeout: float = 120.0) -> float:
        """Wait until the process serves ``/metrics``; return the seconds since it started."""
        def serving() -> bool:
            try:
                self.metrics()
            except OSError:
                return False
            return True

        wait_until(serving, timeout=timeout, what=f"{self.name} serving {self.metrics_url}",
                   stages=[self])
        return time.time() - self.started_at

    # -- logs ------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        """The log of the latest run."""
        return self.log_of(self.runs)

    def log_of(self, run: int) -> Path:
        return self.workdir / f"{self.name}.{run}.log"

    def log_lines(self, run: int | None = None) -> list[str]:
        """Every line of one run's log (the latest by default), noise included."""
        path = self.log_of(run or self.runs)
        if not path.exists():
            return []
        return path.read_text(errors="replace").splitlines()

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` distinct lines of the latest run's log, without the noise.

        Lines that differ only in their digits (timestamps, partitions, seconds) are shown
        once, where they first appeared, with how many there were: a stalled stage repeats
        one warning for minutes, and the line before the repeats is the one that explains.
        """
        kept = [line for line in self.log_lines()
                if not any(noise in line for noise in self.noise)]
        head = f"--- {self.name} run {self.runs} (pid {self.pid}), {self.log_path} ---"
        return "\n".join([head, *condense(kept)[-lines:]])

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process


def condense(lines: Iterable[str]) -> list[str]:
    """Keep the first of each group of lines that differ only in digits, with the group size."""
    first: dict[str, int] = {}
    out: list[str] = []
    counts: list[int] = []
    for line in lines:
        shape = re.sub(r"\d+", "#", line)
        if shape in first:
            counts[first[shape]] += 1
            continue
        first[shape] = len(out)
        out.append(line)
        counts.append(1)
    return [line if n == 1 else f"{line}  [{n} lines like this]"
            for line, n in zip(out, counts, strict=True)]


def stage_env(settings: Settings, workdir: Path) -> dict[str, str]:
    """The environment of a stage: this deployment's Kafka and namespace, its own cache."""
    return {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace,
            "NEWSWATCH_CACHE": str(workdir / "cache")}


def worker_stage(settings: Settings, topics: Path, workdir: Path,
                 name: str = "worker") -> Stage:
    """``python -m monitor worker --topics DIR --web-port N``, not started yet."""
    return Stage(name, [sys.executable, "-m", "monitor", "worker", "--topics", str(topics)],
                 env=stage_env(settings, workdir), workdir=workdir, port_option="--web-port",
                 noise=("STORY [", "    + "))


def poller_stage(settings: Settings, feeds: Path, workdir: Path,
                 name: str = "poller") -> Stage:
    """``python -m monitor poll --feeds FILE --metrics-port N``, not started yet."""
    return Stage(name, [sys.executable, "-m", "monitor", "poll", "--feeds", str(feeds)],
                 env=stage_env(settings, workdir), workdir=workdir,
                 port_option="--metrics-port", noise=("monitor.feeds.poller: published ",))


def tails(stages: Iterable[Stage]) -> str:
    """The log tail of each stage, with how each run ended so far."""
    return "\n".join(f"{s.log_tail()}\n(exit codes so far: {s.exit_codes or 'none'})"
                     for s in stages)


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str,
               stages: Sequence[Stage] = (), interval: float = 0.25) -> float:
    """Wait until ``predicate()`` holds; return the seconds waited.

    Fails (AssertionError) after ``timeout`` seconds, or as soon as one of ``stages`` died,
    with ``what`` and the tail of every stage's log.
    """
    began = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - began
        for stage in stages:
            if stage.died:
                raise AssertionError(f"{stage.name} exited with code {stage.returncode} "
                                     f"while waiting for {what}\n{tails(stages)}")
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails(stages)}")
        time.sleep(interval)


def wait_committed(settings: Settings, topic: str, *, timeout: float,
                   stages: Sequence[Stage] = ()) -> float:
    """Wait until the worker's consumer group has committed every message of ``topic`` (its
    lag, as ``kafka-consumer-groups --describe`` shows it, is 0); return the seconds waited.

    A worker has caught up only then: outputs seen for every input may still come from an
    earlier run, while this run has input left to process (a message Faust dropped after the
    restart, read again later).
    """
    probe = bus.LagProbe(settings.kafka_bootstrap, group_id=worker_app_id(settings),
                         topics=(settings.topic(topic),))
    try:
        return wait_until(lambda: not any(probe.lag(range(ARTICLE_PARTITIONS)).values()),
                          timeout=timeout, what=f"the worker to commit all of {topic}",
                          stages=stages)
    finally:
        probe.close()


# -- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Undecodable:
    """An output record its decoder could not read; always counted as unexpected."""

    partition: int
    offset: int
    error: str


def decode_all(records: Iterable[Any], decode: Callable[[Any], Hashable]) -> list[Hashable]:
    """Decode each Kafka record to its key; one that fails becomes :class:`Undecodable`."""
    keys: list[Hashable] = []
    for record in records:
        try:
            keys.append(decode(record))
        except Exception as exc:  # whatever the decoder raises, the record is counted
            keys.append(Undecodable(record.partition, record.offset, str(exc)[:200]))
    return keys


class Outputs:
    """A Kafka topic read back while a stage writes it, each record decoded to a comparable key.

    ``keys[i]`` is the i-th record read and ``times[i]`` the time its producer stamped on it
    (``time.time()`` seconds). A record ``decode`` cannot read becomes :class:`Undecodable`.
    """

    def __init__(self, bootstrap: str, topic: str, decode: Callable[[Any], Hashable]) -> None:
        self.topic = topic
        self.keys: list[Hashable] = []
        self.times: list[float] = []
        self._decode = decode
        self._tail = TopicTail(bootstrap, topic)

    def poll(self, timeout: float = 0.2) -> int:
        """Read what arrived since the last call; return how many records that was."""
        new = self._tail.poll(timeout)
        self.keys += decode_all(new, self._decode)
        self.times += [record.timestamp / 1000 for record in new]
        return len(new)

    def drain(self) -> int:
        """Poll until a poll brings nothing new; return how many records that was."""
        total = 0
        while new := self.poll():
            total += new
        return total

    def share(self, expected: Iterable[Hashable]) -> float:
        """Poll, then return the share of the distinct ``expected`` keys read so far."""
        self.poll()
        wanted = set(expected)
        return len(wanted & set(self.keys)) / len(wanted) if wanted else 1.0

    def covers(self, expected: Iterable[Hashable], fraction: float = 1.0) -> bool:
        """Poll, then say whether at least ``fraction`` of the distinct ``expected`` are in."""
        return self.share(expected) >= fraction

    def first_after(self, since: float) -> float | None:
        """Seconds from ``since`` to the first record stamped at or after it (None: none yet)."""
        later = [t for t in self.times if t >= since]
        return min(later) - since if later else None

    def close(self) -> None:
        self._tail.close()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def resume_after(outputs: Outputs, since: float, *, timeout: float,
                 stages: Sequence[Stage] = ()) -> float | None:
    """Seconds from ``since`` to the next output; None if none came within ``timeout``.

    Also None as soon as one of ``stages`` died: the caller records "never" and fails with
    :func:`tails`.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(s.died for s in stages):
        outputs.poll()
        resumed = outputs.first_after(since)
        if resumed is not None:
            return resumed
    return None


@dataclass(frozen=True)
class Tally:
    """Outputs read back against outputs expected, both as multisets."""

    expected: int  # outputs expected, repeats included
    got: int  # outputs read
    lost: int  # expected, never read (or read fewer times than expected)
    duplicated: int  # extra copies of expected outputs
    unexpected: int  # outputs nobody expected
    lost_sample: tuple[Hashable, ...] = ()
    unexpected_sample: tuple[Hashable, ...] = ()

    def summary(self) -> str:
        return (f"lost {self.lost} of {self.expected}, duplicated {self.duplicated}, "
                f"unexpected {self.unexpected} ({self.got} read)")

    def __str__(self) -> str:
        text = self.summary()
        if self.lost_sample:
            text += f"; lost e.g. {list(self.lost_sample)}"
        if self.unexpected_sample:
            text += f"; unexpected e.g. {list(self.unexpected_sample)}"
        return text


def count_outputs(expected: Iterable[Hashable], got: Iterable[Hashable],
                  sample: int = 5) -> Tally:
    """Compare what came out with what should have, as multisets.

    - lost: for each expected key, how many fewer times it was read than expected;
    - duplicated: for each expected key, how many more times it was read than expected;
    - unexpected: every read of a key that was not expected at all.
    """
    want, have = Counter(expected), Counter(got)
    lost = {k: n - have[k] for k, n in want.items() if have[k] < n}
    return Tally(
        expected=sum(want.values()), got=sum(have.values()), lost=sum(lost.values()),
        duplicated=sum(have[k] - n for k, n in want.items() if have[k] > n),
        unexpected=sum(n for k, n in have.items() if k not in want),
        lost_sample=tuple(sorted(lost, key=repr)[:sample]),
        unexpected_sample=tuple(sorted((k for k in have if k not in want), key=repr)[:sample]))


# -- input ---------------------------------------------------------------------------------


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]], *,
            timeout: float = 120.0) -> None:
    """Send ``(key, value)`` messages and wait until Kafka acknowledged every one."""
    producer = bus.make_producer(bootstrap, client_id="chaos-input")
    try:
        bus.wait_all([producer.send(topic, key=key, value=value) for key, value in messages],
                     timeout=timeout)
    finally:
        producer.close()


class Feeder:
    """Produce messages from a background thread at a steady rate; a context manager.

    - Messages go out in small batches, each acknowledged before the next, so ``sent`` is what
      Kafka holds.
    - ``limit`` holds the feed at that many messages until :meth:`release` raises it, so a
      scenario can keep input for after a restart.
    - A failed send ends the thread; :meth:`join` raises it.
    """

    def __init__(self, bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]], *,
                 rate: float, batch: int = 10, limit: int | None = None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.messages = messages
        self.rate = rate
        self.batch = batch
        self.sent = 0
        self.error: BaseException | None = None
        self._limit = len(messages) if limit is None else min(limit, len(messages))
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="chaos-feeder", daemon=True)

    @property
    def done(self) -> bool:
        return self.sent == len(self.messages)

    def release(self, upto: int | None = None) -> None:
        """Let the feed go on to ``upto`` messages (None: all of them)."""
        with self._wake:
            self._limit = len(self.messages) if upto is None else min(upto, len(self.messages))
            self._wake.notify_all()

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def join(self, timeout: float = 300.0) -> None:
        """Wait until every message is sent; raise the send error, if there was one."""
        self._thread.join(timeout)
        if self.error is not None:
            raise AssertionError(f"producing to {self.topic} failed after {self.sent} "
                                 f"messages: {self.error!r}") from self.error
        if self._thread.is_alive():
            raise AssertionError(f"{self.sent} of {len(self.messages)} messages sent to "
                                 f"{self.topic} after {timeout:.0f} s")

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        self._thread.join(30)

    def __enter__(self) -> Feeder:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        producer = bus.make_producer(self.bootstrap, client_id="chaos-feeder")
        try:
            began, base = time.monotonic(), 0
            while self.sent < len(self.messages):
                with self._wake:
                    if self._stop:
                        return
                    if self.sent >= self._limit:
                        self._wake.wait()
                        began, base = time.monotonic(), self.sent  # pace anew after a hold
                        continue
                    chunk = self.messages[self.sent:min(self.sent + self.batch, self._limit)]
                bus.wait_all([producer.send(self.topic, key=key, value=value)
                              for key, value in chunk])
                self.sent += len(chunk)
                ahead = began + (self.sent - base) / self.rate - time.monotonic()
                if ahead > 0:
                    with self._wake:
                        self._wake.wait_for(lambda: self._stop, timeout=ahead)
        except BaseException as exc:
            self.error = exc
        finally:
            producer.close()


# -- what a scenario measured --------------------------------------------------------------


@dataclass
class Outcome:
    """What one scenario measured, as one line: lost, duplicated, seconds to resume, notes.

    ``count`` (set by the scenario) reads the outputs back and tallies them; :meth:`finish`
    calls it when the scenario did not set ``tally`` itself, so a scenario that fails midway
    still reports how much was lost at that point.
    """

    scenario: str
    tally: Tally | None = None
    resumes: list[tuple[str, float | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    count: Callable[[], Tally] | None = None

    def resumed(self, label: str, seconds: float | None) -> None:
        """Note how long ``label`` took to give its next output (None: it never did)."""
        self.resumes.append((label, seconds))

    def finish(self) -> None:
        if self.tally is None and self.count is not None:
            try:
                self.tally = self.count()
            except Exception as exc:  # the report must come out even when counting fails
                self.notes.append(f"outputs not counted: {exc!r}")

    def line(self) -> str:
        parts = [self.tally.summary() if self.tally else "outputs not counted"]
        if self.resumes:
            parts.append("to resume: " + ", ".join(
                f"{label} {'never' if s is None else f'{s:.1f} s'}" for label, s in self.resumes))
        parts += self.notes
        return f"{self.scenario}: " + "; ".join(parts)
